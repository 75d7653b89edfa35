// `faultc run <policy> --region R [--policy P] [--source id=path]
//   [--touch seq|random|N] [--write] [--threads N] [--verify] [--engine E] [--json]
//   [--no-zero-copy]`
// Maps one region, first-touches its pages from native threads, checks the
// bytes against the policy, prints the engine's counters. Pages whose rule is
// sigbus are never touched (the SIGBUS would end this process): they are
// counted and reported instead.
// Exit status: 0 ok, 1 the policy has errors, 2 usage, 3 userfaultfd or the
// kernel hook not permitted/available, 4 verification failed or I/O failure.
import { type Command, InvalidArgumentError } from 'commander';
import { EXIT, exitStatusOf } from '../../base/errors.js';
import { runRegion, type RunReport, type TouchOrder } from '../run/region.js';
import { Progress } from './progress.js';

interface RunFlags {
  region?: string;
  policy?: string;
  source: string[];
  touch: TouchOrder;
  write?: boolean;
  threads: number;
  verify?: boolean;
  engine: string;
  json?: boolean;
  seed: number;
  userModeOnly?: boolean;
  zeroCopy: boolean;
}

function parseTouch(v: string): TouchOrder {
  if (v === 'seq' || v === 'random') return v;
  if (/^[1-9][0-9]*$/.test(v)) return Number(v);
  throw new InvalidArgumentError('expected seq, random or a page count');
}

function parsePositive(v: string): number {
  if (!/^[1-9][0-9]*$/.test(v)) throw new InvalidArgumentError('expected a positive integer');
  return Number(v);
}

/** The native toucher runs 1 to 64 threads. */
function parseThreads(v: string): number {
  const n = parsePositive(v);
  if (n > 64) throw new InvalidArgumentError('expected 1 to 64');
  return n;
}

function collect(v: string, prev: string[]): string[] {
  if (!/^[A-Za-z_][A-Za-z0-9_]*=.+/.test(v)) throw new InvalidArgumentError('expected id=path');
  return [...prev, v];
}

function human(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && n % 1024 === 0 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n} ${units[i]}`;
}

function print(r: RunReport): void {
  const out: string[] = [];
  out.push(`policy ${r.policy}, region ${r.region}: ${human(r.size)} at 0x${r.address.toString(16)} (${r.pages} page${r.pages === 1 ? "" : "s"}), engine ${r.engine}`);
  const perPage = r.touch.pages ? (r.touch.ns / r.touch.pages / 1000).toFixed(2) : '0';
  if (r.mappedFrom) out.push(`zero-copy: the region's pages inside ${r.mappedFrom} are its page-cache pages (a write copies the page)`);
  out.push(
    `touched ${r.touch.pages} pages (${r.touch.order}, ${r.touch.write ? 'write' : 'read'}, ${r.touch.threads} thread${r.touch.threads === 1 ? '' : 's'}) in ${(r.touch.ns / 1e6).toFixed(1)} ms: ${perPage} µs/page`,
  );
  if (r.sigbusPages.count) {
    out.push(
      `not touched: ${r.sigbusPages.count} page${r.sigbusPages.count === 1 ? '' : 's'} whose first touch raises SIGBUS (${r.sigbusPages.reasons.join('; ')}), e.g. page ${r.sigbusPages.first.join(', ')}`,
    );
    const p = r.sigbusPages.probe;
    if (p) {
      out.push(
        p.note
          ? `SIGBUS ${p.note}`
          : p.ok
            ? `checked in a child process: touching page ${p.page} raised SIGBUS, as the policy says`
            : `FAILED: a child process touching page ${p.page} ended with ${p.signal ?? 'no signal'}, not SIGBUS`,
      );
    }
  }
  if (r.verify) {
    if (r.verify.mismatches.length === 0) {
      out.push(`verified ${r.verify.pages} pages byte for byte against the policy and its sources: ok`);
    } else {
      out.push(`verification FAILED: ${r.verify.mismatches.length} of ${r.verify.pages} pages differ`);
      for (const m of r.verify.mismatches.slice(0, 5)) {
        out.push(`  page ${m.page} byte ${m.at}: 0x${m.actual.toString(16)}, expected 0x${m.expected.toString(16)}`);
      }
    }
  }
  const s = r.stats;
  out.push(
    `faults ${s.faults}  zero ${s.resolved.zero}  fill ${s.resolved.fill}  copy ${s.resolved.copy}  prefetch ${s.resolved.prefetch}  sigbus ${s.sigbus}  deferred ${s.deferred}  errors ${s.errors}  write faults ${s.writeFaults}`,
  );
  if (r.dirtyPages) out.push(`dirty pages (track dirty): ${r.dirtyPages}`);
  const acts = Object.entries(r.events.byAction).map(([a, n]) => `${a} ${n}`).join(', ');
  out.push(`events ${r.events.count}${acts ? ` (${acts})` : ''}${r.events.errors ? `, ${r.events.errors} with errors` : ''}`);
  process.stdout.write(out.join('\n') + '\n');
}

function toJson(r: RunReport): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2);
}

/** `: regions of P: a, b` for a .pfp that checks, '' otherwise (the error then comes when it is run). */
async function regionNames(file: string): Promise<string> {
  if (!file.endsWith('.pfp')) return '';
  const { checkFile } = await import('../../compiler/index.js');
  const r = await checkFile(file).catch(() => undefined);
  if (!r?.ok) return '';
  return ' (' + r.value.policies.map((p) => `${r.value.policies.length > 1 ? `${p.name}: ` : 'regions: '}${p.regions.map((g) => g.id).join(', ')}`).join('; ') + ')';
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('map a region of a policy, touch its pages, verify their contents, print the counters')
    .argument('<policy>', '.pfp file or compiled .policy.json')
    // Checked in the action, not by the parser: a misspelt option is then
    // reported as such, with its likely meaning, before a missing --region.
    .option('--region <id>', 'region to map (required)')
    .option('--policy <name>', 'policy, when the file holds several')
    .option('--source <id=path>', 'use this file for a source (repeatable)', collect, [])
    .option('--touch <order>', 'seq, random, or N random pages', parseTouch, 'seq')
    .option('--write', 'touch with writes (a byte per page) instead of reads')
    .option('--threads <n>', 'native threads touching the pages (1 to 64)', parseThreads, 1)
    .option('--seed <n>', 'seed of the random order', parsePositive, 1)
    .option('--verify', 'check every touched page byte for byte against the policy and its sources')
    .option('--engine <engine>', 'kernel, uffd or auto', 'auto')
    .option('--json', 'print the report as JSON')
    .option('--user-mode-only', 'uffd: user-mode faults only (works without privilege where the kernel allows it)')
    .option('--no-zero-copy', 'copy every page, even where the region could be mapped from its source')
    .addHelpText('after', '\nExit status: 0 ok, 1 the policy has errors, 2 usage, 3 userfaultfd or the kernel hook not permitted/available,\n4 verification failed or an I/O failure.')
    .action(async (file: string, flags: RunFlags) => {
      if (flags.engine === 'trace') {
        process.stderr.write(
          "faultc run: the trace engine only watches faults, it does not resolve them, so it cannot back a region: use --engine kernel, uffd or auto here, and faultc trace --policy FILE -- COMMAND to watch a program's faults against the policy\n",
        );
        process.exit(EXIT.usage);
      }
      if (!['kernel', 'uffd', 'auto'].includes(flags.engine)) {
        process.stderr.write(`faultc run: unknown engine '${flags.engine}' (kernel, uffd or auto)\n`);
        process.exit(EXIT.usage);
      }
      if (flags.region === undefined) {
        process.stderr.write(`faultc run: name the region to map with --region <id>${await regionNames(file)}\n`);
        process.exit(EXIT.usage);
      }
      const sources: Record<string, string> = {};
      for (const s of flags.source) {
        const eq = s.indexOf('=');
        sources[s.slice(0, eq)] = s.slice(eq + 1);
      }
      // On a terminal, how far evaluating, touching and verifying have come.
      const progress = new Progress(process.stderr, 'faultc run', process.stderr.isTTY === true && !flags.json);
      try {
        const report = await runRegion(file, {
          onProgress: (phase, done, total) => progress.update(phase, done, total),
          region: flags.region,
          touch: flags.touch,
          write: flags.write ?? false,
          verify: flags.verify ?? false,
          threads: flags.threads,
          seed: flags.seed,
          engine: flags.engine as 'kernel' | 'uffd' | 'auto',
          sources,
          ...(flags.userModeOnly ? { userModeOnly: true } : {}),
          ...(flags.zeroCopy ? {} : { zeroCopy: false }),
          ...(flags.policy !== undefined ? { policy: flags.policy } : {}),
        });
        progress.clear();
        if (flags.json) process.stdout.write(toJson(report) + '\n');
        else print(report);
        const bad = (report.verify?.mismatches.length ?? 0) > 0 || (report.sigbusPages.probe !== undefined && !report.sigbusPages.probe.ok && !report.sigbusPages.probe.note);
        process.exitCode = bad ? EXIT.internal : EXIT.ok;
      } catch (e) {
        progress.clear();
        process.stderr.write(`faultc run: ${(e as Error).message}\n`);
        process.exitCode = exitStatusOf(e);
      }
    });
}
