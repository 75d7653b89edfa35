// `faultc lazy-pages -D <dir>`: a drop-in for `criu lazy-pages -D <dir>`.
// `criu restore -D <dir> --lazy-pages` talks to it unchanged; it exits when
// every restored task has all its pages (or has exited) and prints per task
// what it served. See docs/criu.md.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { codeOf, EXIT, exitStatusFor, isRuntimeCode, RuntimeError } from '../../base/errors.js';
import { checkFile, type PolicyIR } from '../../compiler/index.js';
import { formatDiagnostics } from '../../base/format.js';
import { readInputText } from '../../compiler/files.js';
import { exitDaemon, LazyPagesDaemon, readWorkingSet, type LazyReport } from '../criu/lazy-pages.js';
import { imagePolicy } from '../criu/plan.js';

interface LazyFlags {
  imagesDir: string;
  workDir?: string;
  policy?: string;
  record?: string;
  recordFor?: string;
  replay?: string;
  json?: boolean;
  prefetch?: string;
  batch?: string;
  threads?: string;
  background: boolean;
}

function fail(code: number, message: string): never {
  process.stderr.write(`faultc lazy-pages: ${message}\n`);
  process.exit(code);
}

function count(name: string, text: string | undefined, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > max) fail(EXIT.usage, `--${name} wants an integer from 0 to ${max} (got ${text})`);
  return n;
}

function text(r: LazyReport): string {
  const lines = [`faultc lazy-pages: ${r.tasks.length} task(s) in ${(r.elapsedMs / 1000).toFixed(2)} s`];
  for (const t of r.tasks) {
    const who = t.pid > 0 ? `pid ${t.pid}` : `child of ${t.parentPid > 0 ? `pid ${t.parentPid}` : 'a fork'}`;
    lines.push(
      `  ${who}: ${t.totalPages} lazy pages; demand faults ${t.demandFaults}; ` +
        `pages on demand ${t.pagesDemand}, by prefetch ${t.pagesPrefetch}, in background ${t.pagesBackground} (${t.pagesEarly} before the restore finished), ` +
        `zero ${t.pagesZero}, dropped ${t.pagesDropped}; errors ${t.errors}` +
        (t.doneMs !== null ? `; every page in place at ${t.doneMs} ms` : t.gone ? '; exited before every page was in place' : ''),
    );
  }
  for (const e of r.errors) lines.push(`  error ${e.code}: pid ${e.pid} ${e.address}: ${e.message}`);
  return lines.join('\n') + '\n';
}

/** The policy of --policy: checked like `faultc check`, its diagnostics printed; one over an image. */
async function loadPolicy(file: string): Promise<PolicyIR> {
  const r = await checkFile(file);
  if (r.diagnostics.length > 0) {
    const text = await readInputText(file);
    process.stderr.write(formatDiagnostics(r.diagnostics, text, { color: false }) + '\n');
  }
  if (!r.ok) fail(exitStatusFor('FAULTC_CRIU_POLICY'), `FAULTC_CRIU_POLICY: ${file} has errors`);
  const p = imagePolicy(r.value.policies);
  if (typeof p === 'string') fail(exitStatusFor('FAULTC_CRIU_POLICY'), `FAULTC_CRIU_POLICY: ${file}: ${p}`);
  return p;
}

async function lazyPages(flags: LazyFlags): Promise<void> {
  if (flags.record && flags.replay) fail(EXIT.usage, '--record and --replay exclude each other (record without replay first)');
  if (flags.recordFor !== undefined && !flags.record) fail(EXIT.usage, '--record-for needs --record');
  const recordMs = count('record-for', flags.recordFor, 3_600_000);
  if (recordMs === 0) fail(EXIT.usage, '--record-for wants at least 1 ms');
  const policy = flags.policy ? await loadPolicy(flags.policy) : undefined;
  let daemon: LazyPagesDaemon;
  try {
    daemon = new LazyPagesDaemon({
      dir: flags.imagesDir,
      ...(flags.workDir ? { socketDir: flags.workDir } : {}),
      prefetch: count('prefetch', flags.prefetch, 1024) ?? 15,
      batch: Math.max(1, count('batch', flags.batch, 65536) ?? 512),
      threads: count('threads', flags.threads, 1024) ?? 0,
      background: flags.background,
      record: flags.record !== undefined,
      ...(recordMs !== undefined ? { recordMs } : {}),
      ...(flags.replay ? { first: readWorkingSet(flags.replay) } : {}),
      ...(policy ? { policy } : {}),
    });
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (isRuntimeCode(code)) fail(exitStatusFor(code), `${code}: ${(e as Error).message}`);
    throw e;
  }
  const stop = (): void => daemon.stop();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // The working set is complete: record no more, serve the rest as usual.
  if (flags.record) process.on('SIGUSR2', () => daemon.stopRecording());
  if (!flags.json) process.stderr.write(`faultc lazy-pages: listening on ${daemon.socketPath}\n`);
  let failure: RuntimeError | undefined;
  let report: LazyReport;
  try {
    report = await daemon.run();
  } catch (e) {
    failure = new RuntimeError(codeOf(e, 'FAULTC_CRIU_EIO'), (e as Error).message);
    report = daemon.report();
  }
  if (flags.record) writeFileSync(flags.record, JSON.stringify(daemon.workingSet()) + '\n');
  daemon.close();
  if (flags.json) process.stdout.write(JSON.stringify({ ...report, ...(failure ? { failure: { code: failure.code, message: failure.message } } : {}) }) + '\n');
  else process.stdout.write(text(report));
  if (failure) fail(failure.exitStatus, `${failure.code}: ${failure.message}`);
  // The restore's pages are all in place: end now, not after Node's teardown.
  exitDaemon(report.errors.length > 0 || report.tasks.some((t) => t.errors > 0) ? EXIT.internal : EXIT.ok);
}

export function registerLazyPages(program: Command): void {
  program
    .command('lazy-pages')
    .description('serve the memory of a process that `criu restore --lazy-pages` restores from <dir> (drop-in for `criu lazy-pages`)')
    .requiredOption('-D, --images-dir <dir>', 'the CRIU images directory')
    .option('-W, --work-dir <dir>', 'where lazy-pages.socket goes (default: the images directory, as for criu)')
    .option('--policy <file.pfp>', 'a policy whose regions are taken from a `criu` source (region <id> in <image> ...); -D names the images')
    .option(
      '--record <ws.json>',
      'write each task\'s first-touch order (no prefetch, no background copy while recording; until SIGUSR2, --record-for or the tasks\' exit)',
    )
    .option('--record-for <ms>', 'with --record: record for so long after the first touch, then serve as without --record')
    .option('--replay <ws.json>', 'install a recorded working set first, in its order, then the rest')
    .option('--prefetch <pages>', 'pages after a faulting page copied with it (default 15)')
    .option('--batch <pages>', 'pages per background UFFDIO_COPY while no fault comes (default 512; at most 64 while faults come)')
    .option('--threads <n>', 'handler threads: each serves faults and copies the background between them (default: one per online CPU)')
    .option('--no-background', 'copy only what faults (and --replay) ask for; the daemon then ends when the tasks exit')
    .option('--json', 'print the report as one JSON object')
    .action(async (flags: LazyFlags) => {
      await lazyPages(flags);
    });
}
