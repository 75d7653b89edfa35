// `faultc guard [--policy p.pfp] [--underflow] [--continue] [--align N] [--frames N] -- cmd args`:
// runs a program on the guard-page allocator (native/guard/, docs/guard.md).
// Exit status: the program's own (128 + the signal when one ended it, 139
// after a reported bug); 1 the policy has errors; 2 usage; 3 no userfaultfd;
// 4 internal or I/O failure.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants } from 'node:os';
import type { Command } from 'commander';
import { compileProgram } from '../../codegen/build.js';
import { evaluate } from '../../compiler/evaluate.js';
import { formatDiagnostics, useColor } from '../../base/format.js';
import { checkFile } from '../../compiler/index.js';
import type { PolicyIR } from '../../compiler/ir.js';
import { packageRoot } from '../engines/native.js';
import { EXIT } from '../../base/errors.js';

export const GUARD_LIBRARY = join(packageRoot, 'native', 'build', 'Release', 'faultc_guard.so');
export const DEFAULT_GUARD_POLICY = join(packageRoot, 'native', 'guard', 'guard.pfp');

interface GuardFlags {
  policy: string;
  underflow?: boolean;
  continue?: boolean;
  align: string;
  frames: string;
}

export type Prepared = { ok: true; base: string; zeroed: boolean } | { ok: false; status: number; message: string };

/** What the allocator needs of a policy: region `heap` and set `guards`. */
function guardShape(p: PolicyIR): string | undefined {
  if (!p.regions.some((r) => r.id === 'heap')) return `policy ${p.name} has no region \`heap\``;
  if (!(p.sets ?? []).some((s) => s.id === 'guards')) return `policy ${p.name} has no \`set guards\``;
  return undefined;
}

/** Whether the policy gives zeros to a heap page outside `guards` (calloc then need not clear). */
function zeroesFreshPages(p: PolicyIR): boolean {
  const heap = p.regions.find((r) => r.id === 'heap')!;
  const d = evaluate(p, { region: heap.index, handler: 'missing', offset: 0n, address: 0n, write: true, sourceSizes: p.sources.map(() => 0n), inSet: () => false });
  return d.action === 'zero' && !d.error;
}

/** Checks and compiles the policy once into a folder named by its hash. */
export async function prepareGuardPolicy(file: string): Promise<Prepared> {
  const text = await readFile(file).catch(() => undefined);
  if (text === undefined) return { ok: false, status: 4, message: `cannot read ${file}` };
  const checked = await checkFile(file);
  if (!checked.ok) {
    const errors = formatDiagnostics(checked.diagnostics, text.toString('utf8'), { color: useColor(process.stderr) });
    return { ok: false, status: 1, message: errors };
  }
  if (checked.value.policies.length !== 1) return { ok: false, status: 2, message: `${file}: a guard policy file holds one policy` };
  const policy = checked.value.policies[0]!;
  const shape = guardShape(policy);
  if (shape) return { ok: false, status: 1, message: `${file}: ${shape} (the allocator places allocations in \`heap\` and their guard pages in \`guards\`)` };
  const key = createHash('sha256').update(text).update(file).digest('hex').slice(0, 16);
  const dir = join(process.env.FAULTC_CACHE ?? join(tmpdir(), 'faultc-cache'), 'guard', key);
  const base = join(dir, policy.name);
  if (!existsSync(`${base}.policy.json`)) {
    const tmp = `${dir}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    const built = await compileProgram(checked.value, { outDir: tmp, emit: ['obj', 'json'] }, checked.diagnostics);
    if (!built.ok) {
      return { ok: false, status: 4, message: formatDiagnostics(built.diagnostics, text.toString('utf8'), { color: useColor(process.stderr) }) };
    }
    await mkdir(join(dir, '..'), { recursive: true });
    await rename(tmp, dir).catch(async () => rm(tmp, { recursive: true, force: true })); // another run won
  }
  return { ok: true, base, zeroed: zeroesFreshPages(policy) };
}

export interface GuardOptions {
  underflow: boolean;
  keepGoing: boolean;
  align: number;
  frames: number;
}

/** The environment a program runs the allocator with (native/guard/guard.c reads it). */
export function guardEnv(prepared: Extract<Prepared, { ok: true }>, o: GuardOptions): NodeJS.ProcessEnv {
  return {
    ...process.env,
    LD_PRELOAD: [GUARD_LIBRARY, process.env.LD_PRELOAD].filter((x) => x).join(':'),
    FAULTC_GUARD_POLICY: prepared.base,
    FAULTC_GUARD_UNDERFLOW: o.underflow ? '1' : '0',
    FAULTC_GUARD_CONTINUE: o.keepGoing ? '1' : '0',
    FAULTC_GUARD_ZEROED: prepared.zeroed ? '1' : '0',
    FAULTC_GUARD_ALIGN: String(o.align),
    FAULTC_GUARD_FRAMES: String(o.frames),
  };
}

function positiveInt(text: string, what: string, max: number): number | string {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > max) return `${what} must be an integer from 0 to ${max}, not '${text}'`;
  return n;
}

export function registerGuard(program: Command): void {
  program
    .command('guard')
    .description('run a program with every heap allocation ending at a guard page; report overflows, use after free and bad frees')
    .argument('<cmd...>', 'the program and its arguments (after --)')
    .option('--policy <file>', 'the guard policy (needs region `heap` and `set guards`)', DEFAULT_GUARD_POLICY)
    .option('--underflow', 'put the guard page before each allocation instead of after it')
    .option('--continue', 'report each bad touch or free and go on (the touched page then reads zeros)')
    .option('--align <n>', 'alignment of allocations (1 catches overflows by one byte of any size)', '16')
    .option('--frames <n>', 'frames of the allocation and free backtraces kept (0: none, fastest)', '8')
    .addHelpText('after', '\nExit status: the program\'s (139 after a reported bug: it ends as with SIGSEGV), 1 the policy has errors, 2 usage, 3 no userfaultfd, 4 internal error.')
    .action(async (cmd: string[], flags: GuardFlags) => {
      const align = positiveInt(flags.align, '--align', 4096);
      const frames = positiveInt(flags.frames, '--frames', 10);
      const usage = typeof align === 'string' ? align : typeof frames === 'string' ? frames : align === 0 || (align & (align - 1)) !== 0 ? '--align must be a power of two' : undefined;
      if (usage || typeof align !== 'number' || typeof frames !== 'number') {
        process.stderr.write(`faultc guard: ${usage}\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      if (!existsSync(GUARD_LIBRARY)) {
        process.stderr.write(`faultc guard: ${GUARD_LIBRARY} is not built; run: npx node-gyp rebuild -C native\n`);
        process.exitCode = EXIT.internal;
        return;
      }
      const prepared = await prepareGuardPolicy(flags.policy);
      if (!prepared.ok) {
        process.stderr.write(prepared.message.endsWith('\n') ? prepared.message : `faultc guard: ${prepared.message}\n`);
        process.exitCode = prepared.status;
        return;
      }
      const env = guardEnv(prepared, { underflow: flags.underflow === true, keepGoing: flags.continue === true, align, frames });
      const child = spawn(cmd[0]!, cmd.slice(1), { stdio: 'inherit', env });
      // The terminal's signals go to the child too; faultc waits for it.
      const ignore = (): void => {};
      process.on('SIGINT', ignore);
      process.on('SIGTERM', ignore);
      const status = await new Promise<number>((resolve) => {
        child.on('error', (err) => {
          process.stderr.write(`faultc guard: cannot run ${cmd[0]}: ${err.message}\n`);
          resolve(err.message.includes('ENOENT') ? 127 : 126);
        });
        child.on('exit', (code, signal) => resolve(signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? 0)));
      });
      process.off('SIGINT', ignore);
      process.off('SIGTERM', ignore);
      process.exitCode = status;
    });
}
