// `faultc verify <compiled>`: loads each trace program into the running
// kernel's verifier (nothing is attached) and, on rejection, prints the
// verifier's words with the .pfp line they point at.
import { existsSync, readdirSync, readFileSync, type Stats, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { readManifestResult } from '../../codegen/manifest.js';
import { hasBpfPrivilege } from '../bpf/privilege.js';
import { detectKernelEngine } from '../engines/detect.js';
import { formatVerdict, verifyObject, type ObjectVerdict } from '../bpf/verify.js';
import { EXIT, exitStatusFor } from '../../base/errors.js';

interface VerifyFlags {
  json?: boolean;
  policy?: string;
}

export const VERIFY_PRIVILEGE_MESSAGE =
  'loading BPF programs into the kernel needs root (CAP_BPF, and CAP_PERFMON for tracing programs): run faultc verify as root, e.g. with sudo';

interface Target {
  object: string;
  /** Folders where the .pfp named by the log's line info is looked for. */
  searchDirs: string[];
}

function fail(code: number, message: string): never {
  process.stderr.write(`faultc verify: ${message}\n`);
  process.exit(code);
}

async function fromManifest(path: string): Promise<Target> {
  const r = await readManifestResult(path);
  if (!r.ok) fail(exitStatusFor(r.error.code), r.error.message);
  const m = r.value;
  const name = m.artifacts.traceBpfO;
  if (!name) fail(EXIT.internal, `${path}: compiled without its .trace.bpf.o (compile with --emit obj,json)`);
  return { object: join(m.dir, name), searchDirs: [dirname(m.file)] };
}

async function targetsOf(input: string, policy: string | undefined, cleanups: (() => Promise<void>)[]): Promise<Target[]> {
  const abs = resolve(input);
  let st: Stats;
  try {
    st = statSync(abs);
  } catch {
    fail(EXIT.usage, `${input}: no such file or folder`);
  }
  if (st.isDirectory()) {
    const manifests = readdirSync(abs)
      .filter((f) => f.endsWith('.policy.json'))
      .sort();
    if (manifests.length === 0) fail(EXIT.usage, `${input}: no .policy.json in this folder`);
    const out: Target[] = [];
    for (const m of manifests) out.push(await fromManifest(join(abs, m)));
    return out;
  }
  if (abs.endsWith('.policy.json') || abs.endsWith('.json')) return [await fromManifest(abs)];
  if (abs.endsWith('.o')) {
    if (isFaultProgram(abs) && !(await detectKernelEngine())) fail(3, needsFaultcKernel(input));
    return [{ object: abs, searchDirs: [dirname(abs)] }];
  }
  if (abs.endsWith('.pfp')) {
    const { compileFile } = await import('../../codegen/build.js');
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const outDir = await mkdtemp(join(tmpdir(), 'faultc-verify-'));
    cleanups.push(() => rm(outDir, { recursive: true, force: true }));
    const res = await compileFile(abs, { outDir, emit: ['c', 'obj', 'json'], ...(policy !== undefined ? { policy } : {}) });
    if (!res.ok) fail(exitStatusFor('FAULTC_POLICY_INVALID'), `${input} does not compile; run: faultc check ${input}`);
    const out: Target[] = [];
    for (const p of res.value) if (p.manifest) out.push(await fromManifest(p.manifest));
    return out;
  }
  fail(EXIT.usage, `${input}: expected a .policy.json manifest, a folder of them, a .pfp file or a .bpf.o object`);
}

/**
 * A kernel-engine object (`P.fault.bpf.o`): its program runs at the faultc
 * kernel's fault hook, whose context type (struct faultc_page_fault, named in
 * the object's BTF) no stock kernel knows.
 */
function isFaultProgram(object: string): boolean {
  try {
    return readFileSync(object).includes('faultc_page_fault');
  } catch {
    return false;
  }
}

function needsFaultcKernel(input: string): string {
  const trace = input.replace(/\.fault\.bpf\.o$/, '.trace.bpf.o');
  const sibling = trace !== input && existsSync(trace) ? `; its trace program verifies on this kernel: faultc verify ${trace}` : '';
  return `${input} is a kernel-engine program: it runs at the faultc kernel's fault hook, which this kernel does not have, so only the faultc kernel can verify it (boot the kernel built from kernel/)${sibling}`;
}

/**
 * EPERM with no verifier log, from a caller that has CAP_BPF: the kernel
 * refused the program type or attach point itself (lockdown, trampolines
 * disabled) before verifying anything: a missing kernel feature, not a verdict.
 */
function refusedByKernel(v: ObjectVerdict): boolean {
  return !v.outcome.ok && v.outcome.errno === 1 && !/processed \d+ insns|^\d+: /m.test(v.outcome.log);
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description("load a compiled policy's trace program into the running kernel's verifier (nothing is attached)")
    .argument('<compiled>', 'a .policy.json manifest, a folder of them (faultc compile -o), a .pfp file, or a .bpf.o')
    .option('--policy <name>', 'with a .pfp holding several policies: only this one')
    .option('--json', 'print the verdicts as JSON on stdout')
    .addHelpText(
      'after',
      `
On rejection the verifier's last words are printed with the .pfp line they
point at (BTF line info from the #line directives in the generated C).
Needs root (CAP_BPF, CAP_PERFMON).
Exit status: 0 every program accepted, 1 a program was rejected (or the .pfp
has errors), 2 usage error, 3 missing privilege or kernel feature (a
.fault.bpf.o needs the faultc kernel), 4 I/O or internal failure.`,
    )
    .action(async (input: string, flags: VerifyFlags) => {
      const cleanups: (() => Promise<void>)[] = [];
      if (!hasBpfPrivilege()) fail(exitStatusFor('FAULTC_BPF_PRIVILEGE'), VERIFY_PRIVILEGE_MESSAGE);
      try {
        const targets = await targetsOf(input, flags.policy, cleanups);
        const verdicts: ObjectVerdict[] = [];
        for (const t of targets) {
          let v: ObjectVerdict;
          try {
            v = verifyObject(t.object, t.searchDirs);
          } catch (e) {
            fail(EXIT.internal, (e as Error).message);
          }
          if (refusedByKernel(v)) {
            const log = v.outcome.log.trim();
            fail(EXIT.privilege, `the kernel refused to load ${v.object} (EPERM) before verifying it: this program type or attach point is not allowed on this kernel${log ? `\n${log}` : ''}`);
          }
          verdicts.push(v);
        }
        if (flags.json) {
          const out = verdicts.map((v) => ({
            object: v.object,
            ok: v.outcome.ok,
            errno: v.outcome.errno,
            programs: v.outcome.programs,
            log: v.outcome.ok ? undefined : v.outcome.log,
            place: v.place ? { file: v.place.path ?? v.place.file, line: v.place.line, text: v.place.text ?? v.place.logText } : undefined,
          }));
          process.stdout.write(JSON.stringify(out, null, 2) + '\n');
        } else {
          for (const v of verdicts) (v.outcome.ok ? process.stdout : process.stderr).write(formatVerdict(v));
        }
        process.exitCode = verdicts.every((v) => v.outcome.ok) ? 0 : 1;
      } finally {
        for (const c of cleanups) await c();
      }
    });
}
