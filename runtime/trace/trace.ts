// The trace engine: page-access notifications for any process, through the
// tracepoint program (codegen/trace-bpf.ts) loaded by native/src/bpf_loader.c.
//
// Filters:
//  - ranges (`--range START:LEN`) and a policy's fixed regions are filtered in
//    the kernel: only faults inside them reach the ring buffer;
//  - `--vma [heap]`, `--vma [stack]` and `--vma /a/file` are placed in the
//    kernel too, as /proc/PID/maps names them: [heap] by the mm's brk area,
//    [stack] by its VMA's end (found once per process), files by the faulting
//    VMA's device and inode (bpf_find_vma), so a mapping made after tracing
//    began is seen from its first page, even in a process that exits at once;
//    with only [heap] and [stack], no other fault leaves the kernel;
//  - other VMA names (`[anon:NAME]`; a file the kernel names differently, as
//    overlayfs does) are placed in user space:
//    the kernel reports every fault of the traced processes and each event is
//    placed by /proc/PID/maps of its process, re-read when an address is not
//    in the last snapshot. A mapping created after tracing began is seen from
//    its first page as long as its process still exists when the batch is
//    read (within pollMs); events of a process already gone are counted as
//    unmatched. File faults the kernel could not place (mmap lock contended)
//    take this path too.
//  - no filter: the whole user address space is one region, `all`.
// A spawned command is started stopped: `sh` waits on a pipe while the
// program is loaded and attached and its pid is in the target map as "traced from its
// next exec", then execs the command: its first instruction is traced and the
// launcher's own faults are not (sched_process_exec turns tracing on).
// Children it forks are added to the targets by the program itself
// (sched_process_fork), before they run. Every event carries the name of its
// process (the program sends a name record at each exec and fork) and the
// mode the fault was taken in.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import { RuntimeError } from '../../base/errors.js';
import { ABI_LAYOUTS, ACTION_CODES, ERROR_CODES, type ActionName } from '../../abi/abi.js';
import { TRACE_EVENT_BITS, TRACE_FLAGS, TRACE_LIMITS, TRACE_MODES, TRACE_NAME_RECORD, TRACE_TARGET } from '../../abi/trace.js';
import { tracksWrites } from '../../compiler/region-traits.js';
import { bpfNative, decodeEvents, type NativeRange, type NativeTraceSession, type RawEvent } from '../bpf/native.js';
import { genericTraceObject, policyTraceProgram, sourceSizes } from './program.js';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { readMaps, vmaOffset, type Vma } from '../proc/maps.js';
import { debug } from '../api/debug.js';

const PAGE = 4096n;
/** Top of the user address space with 5-level paging: `all` covers every user page. */
const USER_END = 1n << 56n;

export interface TraceRangeFilter {
  start: bigint;
  length: bigint;
  /** Region name in events; default `START:LEN`. */
  name?: string;
}

export interface TraceOptions {
  /** Trace a running process (its threads; not children it already has). */
  pid?: number;
  /** Or spawn this command (argv), traced from its first instruction. */
  command?: string[];
  /** stdio of a spawned command: 'inherit' (CLI) or 'pipe' (read child.stdout yourself). */
  stdio?: 'inherit' | 'pipe';
  /** A `.pfp` file or a compiled `.policy.json`: its fixed regions are traced. */
  policy?: string;
  /** Which policy of a multi-policy .pfp. */
  policyName?: string;
  /** Place policy regions without `at`: region name -> start address. */
  place?: Record<string, bigint>;
  /** Only faults the policy marks `notify` (policy only). */
  notifyOnly?: boolean;
  ranges?: TraceRangeFilter[];
  vmas?: string[];
  /** Follow children (default true). */
  followForks?: boolean;
  /** Include faults the kernel takes on user memory, e.g. read(2) into a fresh page (default true). */
  kernelFaults?: boolean;
  /** Include protection faults: the first write to a present page (default: only with a policy that has `on write`). */
  writeFaults?: boolean;
  /** Ring buffer bytes, a power of two >= 4096 (default 1 MiB). */
  ringBytes?: number;
  /** Wake the reader once this many bytes wait (default ringBytes / 8). */
  wakeupBytes?: number;
  /** The reader polls at least this often (default 50 ms). */
  pollMs?: number;
}

export interface TraceRegion {
  index: number;
  name: string;
  /** Where it lies, when known up front (ranges, fixed policy regions). */
  start?: bigint;
  size?: bigint;
}

export type Access = 'read' | 'write';

export interface TraceEvent {
  /** Nanoseconds since the trace began (CLOCK_MONOTONIC). */
  time: number;
  /** Page address. */
  address: bigint;
  /** Byte offset of the page in its region. */
  offset: bigint;
  region: number;
  regionName: string;
  pid: number;
  tid: number;
  /** The process's name (its comm) when the fault was taken. */
  comm: string;
  access: Access;
  /** 'user': the process's own instruction faulted; 'kernel': the kernel, touching user memory for it (read(2) into a fresh page). */
  mode: 'user' | 'kernel';
  /** 'missing' for a first touch, 'write' for a write to a present page. */
  handler: 'missing' | 'write';
  /** With a policy: what it would do with this fault, and pages it would resolve. */
  action?: ActionName;
  pages?: number;
  error?: string;
}

export interface TraceStats {
  /** Faults per region (kernel counters; user-space counts for --vma regions). */
  counts: bigint[];
  /** Events the ring buffer had no room for. */
  lost: bigint;
  /** Events delivered. */
  events: number;
  /** Events of the traced processes outside every --vma filter (dropped). */
  unmatched: number;
  elapsedNs: number;
}

export interface TraceSummary extends TraceStats {
  regions: TraceRegion[];
  exit?: { code: number | null; signal: NodeJS.Signals | null };
}

const ACTION_NAMES = Object.fromEntries(Object.entries(ACTION_CODES).map(([k, v]) => [v, k])) as Record<number, ActionName>;
const ERROR_NAMES = Object.fromEntries(Object.entries(ERROR_CODES).map(([k, v]) => [v, k])) as Record<number, string>;

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

export interface Tracer {
  on(event: 'event', fn: (e: TraceEvent) => void): this;
  on(event: 'batch', fn: (events: TraceEvent[]) => void): this;
  on(event: 'exit', fn: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'error', fn: (err: Error) => void): this;
}

/**
 * A running trace: events arrive as 'event' and 'batch'; stop() ends it. The
 * reader thread keeps Node's event loop alive until stop() is called.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface above only types this class's events
export class Tracer extends EventEmitter {
  readonly regions: TraceRegion[];
  /** Name of the policy whose program is loaded, if any. */
  readonly policyName?: string;
  /** The traced process (the spawned command's pid for a command). */
  readonly pid: number;
  readonly child?: ChildProcess;
  /** Resolves when a spawned command exits. */
  readonly exited?: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private session: NativeTraceSession;
  private readonly t0: bigint;
  private events = 0;
  private unmatched = 0;
  private readonly vmaNames: string[];
  private readonly vmaBase: number;
  /** Region index of the catch-all range whose events user space places, or -1. */
  private readonly catchAll: number;
  private readonly userCounts: bigint[];
  private readonly maps = new Map<number, Vma[]>();
  /** Process names by tgid, from the program's name records (and /proc for --pid). */
  private readonly names = new Map<number, string>();
  private stopped?: Promise<TraceSummary>;
  private cleanup: () => Promise<void>;
  private exitInfo?: { code: number | null; signal: NodeJS.Signals | null };

  /** @internal use trace() */
  constructor(init: {
    session: NativeTraceSession;
    regions: TraceRegion[];
    pid: number;
    child?: ChildProcess;
    t0: bigint;
    vmaNames: string[];
    vmaBase: number;
    catchAll: number;
    cleanup: () => Promise<void>;
    policyName?: string;
  }) {
    super();
    if (init.policyName !== undefined) this.policyName = init.policyName;
    this.session = init.session;
    this.regions = init.regions;
    this.pid = init.pid;
    this.t0 = init.t0;
    this.vmaNames = init.vmaNames;
    this.vmaBase = init.vmaBase;
    this.catchAll = init.catchAll;
    this.userCounts = init.regions.map(() => 0n);
    this.cleanup = init.cleanup;
    if (init.child) {
      this.child = init.child;
      const child = init.child;
      this.exited = new Promise((resolve) => {
        child.on('exit', (code, signal) => {
          this.exitInfo = { code, signal };
          this.emit('exit', code, signal);
          resolve({ code, signal });
        });
      });
    }
  }

  /** @internal names a process that is not yet named (--pid: from /proc) */
  nameProcess(pid: number): void {
    try {
      this.names.set(pid, readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
    } catch {
      /* gone: its events say `?` */
    }
  }

  /** @internal the native poll thread's batches */
  onBatch(buf: Buffer): void {
    const EV = ABI_LAYOUTS.faultc_event;
    if (this.catchAll < 0 && this.listenerCount('batch') + this.listenerCount('event') === 0) {
      // Nobody reads events (a summary-only trace): count them, decode nothing.
      for (let o = 0; o + EV.size <= buf.length; o += EV.size) {
        if (buf.readUInt32LE(o + EV.fields.handler) !== TRACE_NAME_RECORD) this.events++;
      }
      return;
    }
    const raw = decodeEvents(buf);
    const out: TraceEvent[] = [];
    for (const r of raw) {
      if (r.handler === TRACE_NAME_RECORD) {
        this.names.set(r.pid, commOf(r));
        continue;
      }
      const e = r.region === this.catchAll ? this.placeInVma(r) : this.toEvent(r, r.region, r.offset);
      if (e) out.push(e);
    }
    if (out.length === 0) return;
    this.events += out.length;
    this.emit('batch', out);
    if (this.listenerCount('event') > 0) for (const e of out) this.emit('event', e);
  }

  private toEvent(r: RawEvent, region: number, offset: bigint): TraceEvent {
    const e: TraceEvent = {
      time: Number(r.timeNs - this.t0),
      address: r.address,
      offset,
      region,
      regionName: this.regions[region]?.name ?? `region${region}`,
      pid: r.pid,
      tid: r.tid,
      comm: this.names.get(r.pid) ?? '?',
      access: r.write & TRACE_EVENT_BITS.write ? 'write' : 'read',
      mode: r.write & TRACE_EVENT_BITS.kernelMode ? 'kernel' : 'user',
      handler: r.handler === 1 ? 'write' : 'missing',
    };
    if (r.action !== ACTION_CODES.none || r.pages > 1) {
      e.action = ACTION_NAMES[r.action] ?? 'none';
      e.pages = r.pages;
    }
    if (r.error) e.error = ERROR_NAMES[r.error] ?? `error${r.error}`;
    return e;
  }

  private placeInVma(r: RawEvent): TraceEvent | undefined {
    for (let pass = 0; pass < 2; pass++) {
      const maps = this.maps.get(r.pid) ?? [];
      for (let i = 0; i < this.vmaNames.length; i++) {
        const off = vmaOffset(maps, this.vmaNames[i]!, r.address);
        if (off !== undefined) {
          const region = this.vmaBase + i;
          this.userCounts[region] = (this.userCounts[region] ?? 0n) + 1n;
          return this.toEvent(r, region, off);
        }
      }
      // Not in the last snapshot of its process: the mapping may be new. Re-read once.
      if (pass === 0) {
        const fresh = readMaps(r.pid);
        if (fresh.length === 0) break;
        this.maps.set(r.pid, fresh);
      }
    }
    this.unmatched++;
    return undefined;
  }

  /** @internal reads /proc/PID/maps of the traced process for --vma placement */
  refreshMaps(): void {
    this.maps.set(this.pid, readMaps(this.pid));
  }

  stats(): TraceStats {
    const n = this.regions.length;
    let counts: bigint[];
    try {
      counts = this.session.counts(n);
    } catch {
      counts = this.regions.map(() => 0n);
    }
    // VMA regions placed in user space: add what was placed there.
    for (let i = this.vmaBase; i < n; i++) counts[i] = (counts[i] ?? 0n) + (this.userCounts[i] ?? 0n);
    let lost = 0n;
    try {
      lost = this.session.lost();
    } catch {
      /* closed */
    }
    return { counts, lost, events: this.events, unmatched: this.unmatched, elapsedNs: Number(process.hrtime.bigint() - this.t0) };
  }

  /** Detaches, delivers every event still in the ring buffer, and summarises. */
  stop(): Promise<TraceSummary> {
    this.stopped ??= (async () => {
      await this.session.stop();
      const stats = this.stats();
      this.session.close();
      await this.cleanup();
      const summary: TraceSummary = { ...stats, regions: this.regions };
      if (this.exitInfo) summary.exit = this.exitInfo;
      return summary;
    })();
    return this.stopped;
  }
}

/** The 16 bytes of a name record's address and offset: a comm, NUL-padded. */
function commOf(r: RawEvent): string {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(r.address, 0);
  b.writeBigUInt64LE(r.offset, 8);
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? 16 : end).toString('utf8');
}

/** Refuses a pid that is not one process this user may trace. */
function checkTracedPid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new RuntimeError('FAULTC_TRACE_OPTION', `trace: pid must be a positive process id, got ${pid}`);
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists, but belongs to another user.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw new RuntimeError('FAULTC_TRACE_OPTION', `no process ${pid}`);
  }
  // Reading its maps takes the same right as ptrace-reading it.
  try {
    closeSync(openSync(`/proc/${pid}/maps`, 'r'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new RuntimeError('FAULTC_TRACE_OPTION', `no process ${pid}`);
    throw new RuntimeError('FAULTC_TRACE_PERMISSION', `process ${pid} belongs to another user: tracing it needs the right to ptrace it (root, or CAP_SYS_PTRACE) (${code})`);
  }
}

/** A file's device number as the kernel's super_block has it (MAJOR << 20 | MINOR). */
export function kernelDev(userDev: bigint): bigint {
  const major = ((userDev >> 8n) & 0xfffn) | ((userDev >> 32n) & ~0xfffn);
  const minor = (userDev & 0xffn) | ((userDev >> 12n) & ~0xffn);
  return (major << 20n) | minor;
}

/** --vma paths the kernel can match by device and inode (files that exist now). */
function fileFilters(vmaNames: string[], vmaBase: number): { dev: bigint; ino: bigint; region: number }[] {
  const out: { dev: bigint; ino: bigint; region: number }[] = [];
  vmaNames.forEach((name, i) => {
    if (!name.startsWith('/') || out.length >= TRACE_LIMITS.maxFiles) return;
    try {
      const st = statSync(name, { bigint: true });
      out.push({ dev: kernelDev(st.dev), ino: st.ino, region: vmaBase + i });
    } catch {
      /* not there (yet): user space places it if it appears */
    }
  });
  return out;
}

/** `faultc -v`: where start-up time goes, in ms since the process started. */
function phase(what: string): void {
  debug(() => `trace: ${what} at ${performance.now().toFixed(1)} ms`);
}

function parseRangeName(r: TraceRangeFilter): string {
  return r.name ?? `0x${r.start.toString(16)}:${r.length}`;
}

/**
 * Starts tracing. Needs root (CAP_BPF + CAP_PERFMON). With `command`, the
 * command starts only once tracing is in place.
 */
export async function trace(opts: TraceOptions): Promise<Tracer> {
  const t0 = process.hrtime.bigint();
  phase('starting');
  if ((opts.pid === undefined) === (opts.command === undefined || opts.command.length === 0)) {
    throw new RuntimeError('FAULTC_TRACE_OPTION', 'trace: give exactly one of pid or command');
  }
  const ringBytes = opts.ringBytes ?? TRACE_LIMITS.defaultRingBytes;
  if (!isPowerOfTwo(ringBytes) || ringBytes < 4096) throw new RuntimeError('FAULTC_TRACE_OPTION', 'trace: ringBytes must be a power of two >= 4096');
  const wakeupBytes = opts.wakeupBytes ?? Math.max(56, ringBytes / 8);
  const pollMs = opts.pollMs ?? 50;

  const regions: TraceRegion[] = [];
  const ranges: NativeRange[] = [];
  let mode: number = TRACE_MODES.trace;
  let sizes: bigint[] = [];
  let objectPath: string;
  let cleanup = async (): Promise<void> => {};
  let policyName: string | undefined;
  let policyHasOnWrite = false;

  if (opts.policy !== undefined) {
    const prog = await policyTraceProgram(opts.policy, opts.policyName);
    objectPath = prog.objectPath;
    cleanup = prog.cleanup;
    const m = prog.manifest!;
    policyName = m.policy;
    policyHasOnWrite = m.ir.regions.some(tracksWrites);
    sizes = sourceSizes(m);
    if (opts.notifyOnly) mode = TRACE_MODES.notify;
    const place = opts.place ?? {};
    for (const name of Object.keys(place)) {
      if (!m.regions.some((r) => r.id === name)) {
        await cleanup();
        throw new RuntimeError('FAULTC_TRACE_OPTION', `policy ${m.policy} has no region ${name}`);
      }
    }
    for (const r of m.regions) {
      const start = place[r.id] ?? r.at;
      regions.push({ index: r.index, name: r.id, size: r.size, ...(start !== undefined ? { start } : {}) });
      if (start !== undefined) ranges.push({ start, end: start + r.size, base: 0n, region: r.index });
    }
    if (opts.ranges?.length || opts.vmas?.length) {
      await cleanup();
      throw new RuntimeError('FAULTC_TRACE_OPTION', 'with a policy, its regions are the filter: place regions without `at` with place (--range REGION=START)');
    }
    if (ranges.length === 0) {
      await cleanup();
      throw new RuntimeError('FAULTC_TRACE_OPTION', `policy ${m.policy} has no fixed region: place one with --range REGION=START`);
    }
  } else {
    if (opts.notifyOnly) throw new RuntimeError('FAULTC_TRACE_OPTION', 'notifyOnly needs a policy');
    objectPath = await genericTraceObject();
    for (const r of opts.ranges ?? []) {
      if (r.length <= 0n) throw new RuntimeError('FAULTC_TRACE_OPTION', `range ${parseRangeName(r)} is empty`);
      // Whole pages: a range starting or ending inside a page covers all of it.
      const start = r.start & ~(PAGE - 1n);
      const end = (r.start + r.length + PAGE - 1n) & ~(PAGE - 1n);
      const index = regions.length;
      regions.push({ index, name: parseRangeName(r), start, size: end - start });
      ranges.push({ start, end, base: 0n, region: index });
    }
  }
  const vmaNames = [...new Set(opts.vmas ?? [])];
  const vmaBase = regions.length;
  for (const name of vmaNames) regions.push({ index: regions.length, name });
  let catchAll = -1;
  let heapRegion = 0;
  let stackRegion = 0;
  const files = vmaNames.length ? fileFilters(vmaNames, vmaBase) : [];
  if (vmaNames.length) {
    // [heap], [stack] and files that exist are placed by the program. Other
    // names (and file faults it could not place: the mmap lock contended)
    // cross the ring buffer as a hidden region user space places; with only
    // [heap] and [stack], no other fault leaves the kernel.
    // The program takes region + 1, 0 meaning "not traced".
    const inKernel = (name: string) => (vmaNames.includes(name) ? vmaBase + vmaNames.indexOf(name) + 1 : 0);
    heapRegion = inKernel('[heap]');
    stackRegion = inKernel('[stack]');
    const byProgram = new Set(['[heap]', '[stack]', ...files.map((f) => vmaNames[f.region - vmaBase]!)]);
    if (files.length > 0 || vmaNames.some((n) => !byProgram.has(n))) {
      catchAll = regions.length;
      ranges.push({ start: 0n, end: USER_END, base: 0n, region: catchAll });
    }
  } else if (regions.length === 0) {
    regions.push({ index: 0, name: 'all', start: 0n, size: USER_END });
    ranges.push({ start: 0n, end: USER_END, base: 0n, region: 0 });
  }
  if (ranges.length > TRACE_LIMITS.maxRanges || regions.length + 1 > TRACE_LIMITS.maxRegions) {
    await cleanup();
    throw new RuntimeError('FAULTC_TRACE_OPTION', `at most ${TRACE_LIMITS.maxRanges} ranges`);
  }

  phase('program chosen');
  debug(() => `trace: program ${objectPath}, ${ranges.length} range(s) in the kernel: ${ranges.map((r) => `0x${r.start.toString(16)}-0x${r.end.toString(16)}→${r.region}`).join(' ')}${vmaNames.length ? `, --vma ${vmaNames.join(' ')}` : ''}`);
  let flags = 0;
  if (opts.followForks ?? true) flags |= TRACE_FLAGS.followForks;
  if (opts.kernelFaults ?? true) flags |= TRACE_FLAGS.kernelFaults;
  // A policy with `on write` handlers is asked about writes to present pages too.
  if (opts.writeFaults ?? policyHasOnWrite) flags |= TRACE_FLAGS.protFaults;
  // A command's launcher starts first, so its own start-up (fork, exec of
  // sh) runs while the program loads: sh waits for a line on fd 3, then
  // becomes the command (same pid). Should faultc die before the line, sh
  // reads end-of-file and exits: the command never runs untraced.
  let child: ChildProcess | undefined;
  let gate: Writable | undefined;
  if (opts.command) {
    const stdio = opts.stdio ?? 'inherit';
    child = spawn('/bin/sh', ['-c', 'read -r _ <&3 || exit 127; exec 3<&-; exec "$@"', 'faultc-trace', ...opts.command], {
      stdio: [stdio, stdio, stdio, 'pipe'],
    });
    if (child.pid === undefined) {
      const launcher = child;
      const err = await new Promise<Error>((resolve) => launcher.once('error', resolve));
      await cleanup();
      throw err;
    }
    gate = child.stdio[3] as Writable;
    phase('launcher started');
  }
  const dropLauncher = () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  };

  let session: NativeTraceSession;
  try {
    const { TraceSession } = bpfNative();
    session = new TraceSession(objectPath, ringBytes, { mode, flags, wakeupBytes, sourceSizes: sizes, heapRegion, stackRegion });
    phase('program loaded');
  } catch (e) {
    dropLauncher();
    await cleanup();
    throw e;
  }

  let pid: number;
  try {
    session.setRanges(ranges);
    if (files.length) session.setFiles(files);
    if (child) {
      pid = child.pid!;
    } else {
      pid = opts.pid!;
      checkTracedPid(pid);
    }
    // A command's launcher is traced from its exec of the command on.
    session.addTarget(pid, child ? TRACE_TARGET.atExec : TRACE_TARGET.traced);
    session.attach();
    phase('attached');
  } catch (e) {
    session.close();
    dropLauncher();
    await cleanup();
    throw e;
  }

  const tracer = new Tracer({
    session,
    regions,
    pid,
    ...(child ? { child } : {}),
    t0,
    vmaNames,
    vmaBase,
    catchAll,
    cleanup,
    ...(policyName !== undefined ? { policyName } : {}),
  });
  if (catchAll >= 0) tracer.refreshMaps();
  if (!child) tracer.nameProcess(pid);
  session.start((buf) => tracer.onBatch(buf), pollMs);
  if (gate) {
    gate.on('error', () => {
      /* the command may exit before reading the line */
    });
    gate.end('\n');
    phase('command released');
  }
  return tracer;
}
