// Where `faultc check` spends its time on a generated 1,000-region policy:
// CPU per phase (lex, parse with AST building, checking), first run (what the
// command pays, code not yet optimised by V8) and later runs, in one process.
//   node [--single-threaded] dist/bench/check-phases.js [--regions N] [--runs N]
// With --single-threaded, CPU time is the main thread's alone (no GC or JIT helpers).
import type { Diagnostic } from '../base/diagnostic.js';
import { largePolicy } from './check-large.js';

type Phase = 'lex' | 'parse' | 'check';

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const c0 = cpuMs();
  const { getParser } = await import('../grammar/parser.js');
  const { lex } = await import('../grammar/lex.js');
  const { AstBuilder } = await import('../grammar/to-ast.js');
  const { SourceText } = await import('../base/source-text.js');
  const { checkAst } = await import('../compiler/check.js');
  const loaded = cpuMs();
  const parser = getParser();
  const ready = cpuMs();

  const text = largePolicy(arg('--regions', 1000));
  const runs = arg('--runs', 3);
  const rows: Record<Phase, number>[] = [];
  for (let i = 0; i < runs; i++) {
    const src = new SourceText(text, 'large.pfp');
    const a = cpuMs();
    const tokens = lex(src).tokens;
    const b = cpuMs();
    parser.b = new AstBuilder(src);
    parser.input = tokens;
    const ast = parser.file();
    if (parser.errors.length > 0 || ast === undefined) throw new Error('the generated policy does not parse');
    const c = cpuMs();
    const out: Diagnostic[] = [];
    checkAst(ast, out);
    if (out.length > 0) throw new Error('the generated policy does not check');
    const d = cpuMs();
    rows.push({ lex: b - a, parse: c - b, check: d - c });
  }
  const fmt = (r: Record<Phase, number>): string => `lex ${r.lex.toFixed(0)}, parse ${r.parse.toFixed(0)}, check ${r.check.toFixed(0)} ms`;
  process.stdout.write(
    `modules ${(loaded - c0).toFixed(0)} ms, parser set-up ${(ready - loaded).toFixed(0)} ms (CPU, ${(text.length / 1024).toFixed(0)} KiB policy)\n` +
      rows.map((r, i) => `run ${i + 1}: ${fmt(r)}`).join('\n') +
      '\n',
  );
}

await main();
