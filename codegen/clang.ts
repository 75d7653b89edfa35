// The C compiler driver: BPF objects with clang -target bpf (with -g, so BTF line
// info names the .pfp lines from the #line directives) and the host build of the
// decision function as a shared object. Checked input always compiles; a
// failure here is faultc's own bug and is reported as an internal error,
// except a compiler that is not installed, which the machine lacks.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** What a missing compiler is needed for, how to install it and how to name another. */
export interface CompilerNeed {
  what: string;
  install: string;
  variable: string;
}

export const CLANG_NEED: CompilerNeed = {
  what: 'the BPF objects (*.bpf.o)',
  install: 'install it (Debian: apt-get install clang llvm libbpf-dev)',
  variable: 'FAULTC_CLANG',
};
export const CC_NEED: CompilerNeed = {
  what: 'the host decision library (*.decide.so)',
  install: 'install it (Debian: apt-get install gcc)',
  variable: 'FAULTC_CC',
};

/** Compiler commands; FAULTC_CLANG / FAULTC_CC override them (e.g. clang-19). */
export function clangCommand(): string {
  return process.env.FAULTC_CLANG || 'clang';
}
export function hostCcCommand(): string {
  return process.env.FAULTC_CC || 'cc';
}

const ARCH: Record<string, { target: string; multiarch: string }> = {
  x64: { target: 'x86', multiarch: 'x86_64-linux-gnu' },
  arm64: { target: 'arm64', multiarch: 'aarch64-linux-gnu' },
  riscv64: { target: 'riscv', multiarch: 'riscv64-linux-gnu' },
  s390x: { target: 's390', multiarch: 's390x-linux-gnu' },
  ppc64: { target: 'powerpc', multiarch: 'powerpc64le-linux-gnu' },
};

/**
 * Flags every BPF compile needs: the target arch macro (for libbpf's tracing
 * macros) and Debian's multiarch include folder, where <asm/types.h> lives and
 * which clang does not search for -target bpf.
 */
export function bpfIncludeFlags(): string[] {
  const arch = ARCH[process.arch];
  const flags: string[] = [];
  if (arch) {
    flags.push(`-D__TARGET_ARCH_${arch.target}`);
    const dir = `/usr/include/${arch.multiarch}`;
    if (existsSync(dir)) flags.push('-I', dir);
  }
  return flags;
}

/**
 * native/include of this checkout (from codegen/ or dist/codegen/): headers the
 * BPF programs share with the addon (ABI, trace maps, the kernel hook's uapi).
 * Searched after the generated headers, as native/bpf is.
 */
export function projectIncludeDir(): string | null {
  return projectDir(join('native', 'include'), 'faultc_abi.h');
}

/** native/bpf of this checkout: the fixed BPF programs the emitted ones include. */
export function projectBpfDir(): string | null {
  return projectDir(join('native', 'bpf'), 'trace.bpf.c');
}

function projectDir(sub: string, marker: string): string | null {
  for (let d = import.meta.dirname; dirname(d) !== d; d = dirname(d)) {
    const dir = join(d, sub);
    if (existsSync(join(dir, marker))) return dir;
  }
  return null;
}

export interface CcFailure {
  command: string[];
  /** The compiler's own words (stderr), trimmed to a readable length. */
  output: string;
  /** The compiler command does not exist on this machine (ENOENT): not a faultc bug. */
  missing?: true;
}

export type CcResult = { ok: true; warnings: string } | { ok: false; failure: CcFailure };

const MAX_OUTPUT = 16 * 1024;

function run(cmd: string, args: string[], cwd?: string): Promise<CcResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, _stdout, stderr) => {
      const output = (stderr ?? '').slice(0, MAX_OUTPUT);
      if (err) {
        if ('code' in err && err.code === 'ENOENT') {
          resolve({ ok: false, failure: { command: [cmd, ...args], output: `${cmd}: not found`, missing: true } });
        } else {
          resolve({ ok: false, failure: { command: [cmd, ...args], output: output || err.message } });
        }
      } else {
        resolve({ ok: true, warnings: output });
      }
    });
  });
}

export interface BpfCompile {
  source: string;
  output: string;
  /** Folders holding the generated headers. */
  includeDirs: string[];
  /**
   * Folder the .pfp file is in: recorded as the compilation folder, so the
   * .pfp names in #line directives resolve and BTF line info carries the
   * policy's own source lines.
   */
  pfpDir?: string;
  /** Debug info names files under `from` as under `to` (the temp folder as the output folder). */
  prefixMap?: { from: string; to: string };
  /** Write the files the compile read here (clang -MD -MF), as a make rule. */
  depFile?: string;
}

/** The arguments of clang for `job`: -O2 -g -target bpf ... -c source -o output */
export function bpfCompileArgs(job: BpfCompile): string[] {
  const args = ['-O2', '-g', '-target', 'bpf', ...bpfIncludeFlags()];
  for (const dir of job.includeDirs) args.push('-I', dir);
  for (const project of [projectIncludeDir(), projectBpfDir()]) if (project) args.push('-idirafter', project);
  if (job.pfpDir) args.push(`-fdebug-compilation-dir=${job.pfpDir}`);
  if (job.prefixMap) args.push(`-fdebug-prefix-map=${job.prefixMap.from}=${job.prefixMap.to}`);
  args.push('-c', job.source, '-o', job.output);
  return args;
}

/** clang -O2 -g -target bpf ... -c source -o output */
export function compileBpf(job: BpfCompile): Promise<CcResult> {
  const args = bpfCompileArgs(job);
  if (job.depFile) args.push('-MD', '-MF', job.depFile);
  return run(clangCommand(), args);
}

export interface HostCompile {
  source: string;
  output: string;
  includeDirs: string[];
}

/** cc -O2 -shared -fPIC -o output source: the host decision library. */
export function compileHostSo(job: HostCompile): Promise<CcResult> {
  const args = ['-O2', '-g', '-shared', '-fPIC', '-fvisibility=hidden', '-Wall'];
  for (const dir of job.includeDirs) args.push('-I', dir);
  args.push('-o', job.output, job.source);
  return run(hostCcCommand(), args);
}
