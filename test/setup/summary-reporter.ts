// Prints one closing line, "tests: N passed, N failed, N skipped", that any
// CI log reader understands, after vitest's own summary.
import type { Reporter, File, Task } from 'vitest';

function count(tasks: Task[], totals: { passed: number; failed: number; skipped: number }): void {
  for (const t of tasks) {
    if (t.type === 'suite') {
      count(t.tasks, totals);
      continue;
    }
    if (t.mode === 'skip' || t.mode === 'todo' || t.result?.state === 'skip') totals.skipped++;
    else if (t.result?.state === 'pass') totals.passed++;
    else totals.failed++;
  }
}

export default class SummaryReporter implements Reporter {
  onFinished(files: File[] = [], errors: unknown[] = []): void {
    const totals = { passed: 0, failed: 0, skipped: 0 };
    count(files, totals);
    // A file that failed to load has no tasks: count it as a failure.
    for (const f of files) if (f.result?.state === 'fail' && f.tasks.length === 0) totals.failed++;
    totals.failed += errors.length;
    process.stdout.write(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
  }
}
