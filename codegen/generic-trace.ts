// The policy-free trace program as an object file: native/bpf/trace.bpf.c
// compiled on its own (a policy's trace program includes the same file),
// once into the caller's cache folder.
//
// An object is named by the hash of what it is made of: the project's sources
// (trace.bpf.c and the headers it shares with the addon), the compiler command
// line, and the compiler itself (its resolved path, size and modification
// time: an upgraded clang is another compiler). Beside it, a list of every
// header the compile read (clang -MD) with its size and modification time: an
// object whose system headers (libbpf's, the kernel's uapi) changed since is
// built again. So a start-up costs a few stat calls, and a stale object is
// never loaded.
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { bpfCompileArgs, clangCommand, compileBpf, projectBpfDir, projectIncludeDir } from './clang.js';
import { TRACE_PROGRAM_FILE } from './trace-bpf.js';

/** The C compiler is not installed: the machine's lack, not faultc's bug. */
export class MissingCompilerError extends Error {
  constructor(readonly command: string) {
    super(`the C compiler \`${command}\` is not installed`);
  }
}

/** A file the compile read, as it was then. */
export interface DepStamp {
  path: string;
  size: number;
  mtimeMs: number;
}

/** Where `command` runs from: its resolved path on PATH, or undefined when it is not there. */
export function resolveCommand(command: string): string | undefined {
  const candidates = command.includes('/') ? [command] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, command));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (statSync(c).isFile()) return realpathSync(c);
    } catch {
      /* not here */
    }
  }
  return undefined;
}

function stamp(path: string): DepStamp | undefined {
  try {
    const st = statSync(path);
    return { path, size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    return undefined;
  }
}

/** The files a make-style dependency list (clang -MD) names after its target. */
export function parseDepFile(text: string): string[] {
  const body = text.replace(/\\\n/g, ' ');
  const colon = body.indexOf(': ');
  if (colon < 0) return [];
  // Paths are separated by spaces; a space inside a path is written `\ `.
  return body
    .slice(colon + 2)
    .split(/(?<!\\)\s+/)
    .filter(Boolean)
    .map((p) => p.replace(/\\ /g, ' '));
}

/** Whether every file listed still has the size and modification time it had. */
function depsUnchanged(deps: DepStamp[]): boolean {
  return deps.every((d) => {
    const now = stamp(d.path);
    return now !== undefined && now.size === d.size && now.mtimeMs === d.mtimeMs;
  });
}

async function readDeps(path: string): Promise<DepStamp[] | undefined> {
  try {
    const v = JSON.parse(await readFile(path, 'utf8')) as unknown;
    if (!Array.isArray(v)) return undefined;
    const ok = v.every((d) => typeof d === 'object' && d !== null && typeof d.path === 'string' && typeof d.size === 'number' && typeof d.mtimeMs === 'number');
    return ok ? (v as DepStamp[]) : undefined;
  } catch {
    return undefined;
  }
}

/** Path of the compiled generic trace program in `cacheDir`, built on first use. */
export async function genericTraceObject(cacheDir: string): Promise<string> {
  const bpfDir = projectBpfDir();
  const includeDir = projectIncludeDir();
  if (!bpfDir || !includeDir) throw new Error('faultc: native/bpf or native/include is missing from this installation');
  const source = join(bpfDir, TRACE_PROGRAM_FILE);
  const command = clangCommand();
  const compiler = resolveCommand(command);
  if (compiler === undefined) throw new MissingCompilerError(command);
  const hash = createHash('sha256');
  for (const file of [source, join(includeDir, 'faultc_abi.h'), join(includeDir, 'faultc_trace.h')]) hash.update(readFileSync(file)).update('\0');
  const tool = stamp(compiler);
  hash.update(JSON.stringify({ command, compiler, size: tool?.size, mtimeMs: tool?.mtimeMs, args: bpfCompileArgs({ source, output: '', includeDirs: [] }) }));
  const name = `generic-${hash.digest('hex').slice(0, 16)}`;
  const object = join(cacheDir, `${name}.trace.bpf.o`);
  const depsFile = join(cacheDir, `${name}.deps.json`);
  if (existsSync(object)) {
    const deps = await readDeps(depsFile);
    if (deps && depsUnchanged(deps)) return object;
  }
  // Build in a private folder and rename, so concurrent runs never see half a
  // file; the list of headers first: an object is never newer than its list.
  const work = await mkdtemp(join(cacheDir, 'build-'));
  try {
    const o = join(work, 'generic.trace.bpf.o');
    const d = join(work, 'generic.d');
    const r = await compileBpf({ source, output: o, includeDirs: [], depFile: d });
    if (!r.ok && r.failure.missing) throw new MissingCompilerError(r.failure.command[0] ?? command);
    if (!r.ok) throw new Error(`compiling the trace program failed:\n${r.failure.output}`);
    const deps = parseDepFile(await readFile(d, 'utf8')).map((p) => stamp(p));
    if (deps.some((s) => s === undefined)) throw new Error('compiling the trace program: a header it read is gone');
    await writeFile(join(work, 'deps.json'), JSON.stringify(deps) + '\n');
    await rename(join(work, 'deps.json'), depsFile);
    await rename(o, object);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return object;
}
