// `faultc trace [--policy file] (--pid P | -- command args)`: page-access
// notifications through the tracepoint program (see runtime/trace/trace.ts).
import { constants as fsConstants, createWriteStream, type WriteStream } from 'node:fs';
import { fileErrorReason } from '../../compiler/files.js';
import { access, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { constants } from 'node:os';
import type { Command } from 'commander';
import { renderHeatmap, type HeatmapPoint } from '../trace/heatmap.js';
import { parseRangeArg, parseSize } from '../trace/args.js';
import { WorkingSetRecorder } from '../trace/record.js';
import { trace, type TraceEvent, type TraceOptions, type TraceSummary, type Tracer } from '../trace/trace.js';
import { EXIT, exitStatusFor, RuntimeError } from '../../base/errors.js';
import type { NativeError } from '../bpf/native.js';
import { hasBpfPrivilege } from '../bpf/privilege.js';

interface TraceFlags {
  pid?: string;
  policy?: string;
  policyName?: string;
  notifyOnly?: boolean;
  range?: string[];
  vma?: string[];
  json?: boolean;
  output?: string;
  record?: string;
  heatmap?: string;
  follow: boolean;
  kernelFaults: boolean;
  writeFaults?: boolean;
  ringSize?: string;
  duration?: string;
  quiet?: boolean;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function fail(code: number, message: string): never {
  process.stderr.write(`faultc trace: ${message}\n`);
  process.exit(code);
}

/** Why `path` cannot be written (created or replaced), in words, or undefined when it can. */
async function unwritable(path: string): Promise<string | undefined> {
  try {
    const st = await stat(path);
    if (st.isDirectory()) return fileErrorReason('EISDIR');
    await access(path, fsConstants.W_OK);
    return undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return fileErrorReason(e);
  }
  try {
    const dir = await stat(dirname(resolve(path)));
    if (!dir.isDirectory()) return fileErrorReason('ENOTDIR');
    await access(dirname(resolve(path)), fsConstants.W_OK);
    return undefined;
  } catch (e) {
    return fileErrorReason(e);
  }
}

/** EPERM from the kernel without a verifier log: the caller lacks CAP_BPF/CAP_PERFMON. */
export function isPrivilegeError(e: unknown): boolean {
  const err = e as NativeError;
  return err.errno === 1 && !/processed \d+ insns|^\d+: /m.test(err.log ?? '');
}

export const PRIVILEGE_MESSAGE =
  'loading BPF programs needs root (CAP_BPF and CAP_PERFMON); run as root, e.g. with sudo';

export function eventJson(e: TraceEvent): string {
  const o: Record<string, unknown> = {
    time: e.time,
    address: '0x' + e.address.toString(16),
    offset: Number(e.offset),
    region: e.regionName,
    regionIndex: e.region,
    pid: e.pid,
    tid: e.tid,
    comm: e.comm,
    access: e.access,
    mode: e.mode,
    handler: e.handler,
  };
  if (e.action !== undefined) o.action = e.action;
  if (e.pages !== undefined) o.pages = e.pages;
  if (e.error !== undefined) o.error = e.error;
  return JSON.stringify(o);
}

function summaryLines(s: TraceSummary): string {
  const secs = s.elapsedNs / 1e9;
  const total = s.counts.reduce((a, b) => a + b, 0n);
  const lines = [`faultc trace: ${total} faults in ${secs.toFixed(2)} s (${Math.round(Number(total) / Math.max(secs, 1e-9))}/s), ${s.events} events`];
  for (const r of s.regions) lines.push(`  ${r.name}: ${s.counts[r.index] ?? 0n} faults`);
  if (s.lost > 0n) lines.push(`  LOST ${s.lost} events: the ring buffer was full (raise --ring-size)`);
  else lines.push('  lost events: 0');
  if (s.unmatched > 0) lines.push(`  ${s.unmatched} faults outside the --vma filters`);
  if (s.exit) lines.push(`  command exited with ${s.exit.signal ? `signal ${s.exit.signal}` : `status ${s.exit.code}`}`);
  return lines.join('\n') + '\n';
}

/** The traced command's status, as a shell gives it (128+N for signal N); 0 for --pid. */
export function exitStatus(s: TraceSummary): number {
  if (!s.exit) return 0;
  if (s.exit.signal) return 128 + (constants.signals[s.exit.signal] ?? 0);
  return s.exit.code ?? 0;
}

function live(t: Tracer, last: { faults: bigint; at: number }): string {
  const s = t.stats();
  const total = s.counts.reduce((a, b) => a + b, 0n);
  const now = s.elapsedNs;
  const rate = Number(total - last.faults) / Math.max((now - last.at) / 1e9, 1e-9);
  last.faults = total;
  last.at = now;
  const per = t.regions
    .slice(0, 4)
    .map((r) => `${r.name} ${s.counts[r.index] ?? 0n}`)
    .join(', ');
  return `${total} faults (${per}${t.regions.length > 4 ? ', ...' : ''}) ${Math.round(rate)}/s lost ${s.lost}`;
}

export function registerTrace(program: Command): void {
  program
    .command('trace')
    .description('report the pages a process touches: which, in what order, by which thread')
    .argument('[command...]', 'command to run and trace (after --)')
    .option('--pid <pid>', 'trace a running process')
    .option('--policy <file>', 'a .pfp file or compiled .policy.json: trace its regions and show what it would do')
    .option('--policy-name <name>', 'which policy of a multi-policy file')
    .option('--notify-only', "with --policy: only faults the policy marks 'notify'")
    .option('--range <spec>', 'START:LEN (e.g. 0x7f0000000000:64MiB); with --policy, REGION=START places a region (repeatable)', collect)
    .option('--vma <name>', 'a mapping as /proc/PID/maps names it: [heap], [stack], a file path, [anon:NAME] (repeatable)', collect)
    .option('--json', 'one JSON event per line on stdout: time (ns since the trace began), address, offset, region, regionIndex, pid, tid, comm, access, mode (user or kernel), handler, and with --policy action, pages, error')
    .option('-o, --output <file>', "write the JSON events to this file instead of stdout (the traced command keeps stdout for itself)")
    .option('--record <file>', 'write the first-touch order of pages per region (working set) as JSON')
    .option('--heatmap <file>', 'write a page offset x time heatmap as SVG')
    .option('--no-follow', 'do not trace children of the traced process')
    .option('--no-kernel-faults', 'leave out faults the kernel takes on user memory (read(2) into a fresh page)')
    .option('--write-faults', "also report first writes to present pages (on with a policy that has 'on write')")
    .option('--ring-size <bytes>', 'ring buffer size, a power of two (default 1MiB)')
    .option('--duration <seconds>', 'with --pid: stop after this long')
    .option('-q, --quiet', 'no summary on stderr')
    .addHelpText(
      'after',
      `
Without --range, --vma or --policy, every page of the process is traced.
--range, policy regions and --vma [heap], [stack] or the path of an existing
file are placed in the kernel. Other --vma names (or a file made later) are
placed in user space by /proc/PID/maps of the faulting process: with such a
--vma (or a file), every fault crosses the ring buffer, and a process that has
exited before its events are read cannot be placed (counted as outside).
A command is started only once tracing is in place, and its children are
followed. Events lost because the ring buffer was full are counted and shown.
A command is traced from its exec on: the launcher that waits for tracing to
be in place is not. Every event names its process and whether the fault was
taken in user or kernel mode (the kernel touching user memory for a system
call: leave those out with --no-kernel-faults).
Needs root (CAP_BPF, CAP_PERFMON).
Exit status: with a command, the command's own status (127 when it cannot be
started, 128+N when signal N ended it), as perf and strace do; with --pid, 0.
Before anything is traced: 1 the policy has errors, 2 usage error, 3 missing
privilege or kernel feature, 4 internal or I/O failure.`,
    )
    .action(async (command: string[], flags: TraceFlags) => {
      const opts: TraceOptions = {
        followForks: flags.follow,
        kernelFaults: flags.kernelFaults,
      };
      if (flags.writeFaults) opts.writeFaults = true;
      if (flags.pid !== undefined) {
        if (!/^[1-9]\d*$/.test(flags.pid)) fail(EXIT.usage, `--pid needs a process id (a positive integer), got ${flags.pid}`);
        if (command.length) fail(EXIT.usage, 'give either --pid or a command, not both');
        opts.pid = Number(flags.pid);
      } else if (command.length) {
        opts.command = command;
      } else {
        fail(EXIT.usage, 'give --pid PID or a command after --');
      }
      if (flags.policy !== undefined) opts.policy = flags.policy;
      if (flags.policyName !== undefined) opts.policyName = flags.policyName;
      if (flags.notifyOnly) {
        if (flags.policy === undefined) fail(EXIT.usage, '--notify-only needs --policy');
        opts.notifyOnly = true;
      }
      const ranges: NonNullable<TraceOptions['ranges']> = [];
      const place: Record<string, bigint> = {};
      for (const spec of flags.range ?? []) {
        const r = parseRangeArg(spec);
        if (typeof r === 'string') fail(EXIT.usage, r);
        if (r.kind === 'place') {
          if (flags.policy === undefined) fail(EXIT.usage, `${spec}: REGION=START needs --policy`);
          place[r.region] = r.start;
        } else {
          if (flags.policy !== undefined) fail(EXIT.usage, `${spec}: with --policy, place its regions with REGION=START`);
          ranges.push({ start: r.start, length: r.length });
        }
      }
      if (ranges.length) opts.ranges = ranges;
      if (Object.keys(place).length) opts.place = place;
      if (flags.vma?.length) {
        if (flags.policy !== undefined) fail(EXIT.usage, '--vma cannot be combined with --policy');
        opts.vmas = flags.vma;
      }
      if (flags.ringSize !== undefined) {
        const n = parseSize(flags.ringSize);
        if (n === undefined || n < 4096n || (n & (n - 1n)) !== 0n || n > 1n << 30n) {
          fail(EXIT.usage, '--ring-size must be a power of two between 4KiB and 1GiB');
        }
        opts.ringBytes = Number(n);
      }
      let durationMs: number | undefined;
      if (flags.duration !== undefined && command.length) {
        fail(EXIT.usage, '--duration is for --pid: a command is traced until it exits (interrupt with Ctrl-C to stop early)');
      }
      if (flags.output !== undefined && !flags.json) fail(EXIT.usage, '--output writes the JSON events: add --json');
      if (flags.duration !== undefined) {
        const d = Number(flags.duration);
        if (!(d > 0)) fail(EXIT.usage, '--duration needs a positive number of seconds');
        durationMs = d * 1000;
      }

      // The events file is opened before tracing starts: batches that arrive
      // while nothing listens are only counted.
      let out: NodeJS.WritableStream = process.stdout;
      let file: WriteStream | undefined;
      if (flags.output !== undefined) {
        file = createWriteStream(flags.output);
        const opened = await new Promise<Error | undefined>((resolve) => {
          file!.once('open', () => resolve(undefined));
          file!.once('error', resolve);
        });
        if (opened) fail(EXIT.internal, `cannot write ${flags.output}: ${fileErrorReason(opened)}`);
        out = file;
      }
      // Files written at the end are checked now: a trace is not run for nothing.
      for (const target of [flags.record, flags.heatmap]) {
        if (target === undefined) continue;
        const why = await unwritable(target);
        if (why) fail(EXIT.internal, `cannot write ${target}: ${why}`);
      }
      if (!hasBpfPrivilege()) fail(exitStatusFor('FAULTC_BPF_PRIVILEGE'), PRIVILEGE_MESSAGE);
      let tracer: Tracer;
      try {
        tracer = await trace(opts);
      } catch (e) {
        if (isPrivilegeError(e)) fail(exitStatusFor('FAULTC_BPF_PRIVILEGE'), PRIVILEGE_MESSAGE);
        if (e instanceof RuntimeError) fail(e.exitStatus, e.message);
        const err = e as NativeError & { path?: string };
        // A file faultc could not read or write (its cache...): not the kernel's doing.
        if (typeof err.path === 'string') fail(EXIT.internal, err.message);
        if (err.errno !== undefined) {
          const log = err.log ? `\n${err.log.trim()}` : '';
          fail(exitStatusFor('FAULTC_BPF_UNSUPPORTED'), `${err.message} (kernel without BPF tracepoint support?)${log}`);
        }
        fail(EXIT.internal, err.message);
      }

      const points: HeatmapPoint[] = [];
      const recorder = flags.record ? new WorkingSetRecorder(tracer.regions) : undefined;
      // A reader that goes away (| head) ends the JSON output, not the trace.
      let stdoutOpen = true;
      process.stdout.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code !== 'EPIPE') throw e;
        stdoutOpen = false;
      });
      tracer.on('batch', (events) => {
        if (flags.json && stdoutOpen) out.write(events.map(eventJson).join('\n') + '\n');
        if (recorder) for (const e of events) recorder.add(e);
        if (flags.heatmap) for (const e of events) points.push({ time: e.time, offset: e.offset, region: e.region });
      });

      const showLive = !flags.quiet && process.stderr.isTTY === true;
      const last = { faults: 0n, at: 0 };
      const ticker = showLive
        ? setInterval(() => process.stderr.write(`\r\x1b[K${live(tracer, last)}`), 1000)
        : undefined;

      let forwarded: NodeJS.Signals | undefined;
      await new Promise<void>((resolve) => {
        const done = () => resolve();
        // A signal for faultc alone ends the command it started too, as the
        // terminal's Ctrl-C (sent to the whole process group) would.
        const stop = (signal: NodeJS.Signals) => {
          const child = tracer.child;
          if (child && child.exitCode === null && child.signalCode === null) {
            forwarded = signal;
            child.kill(signal);
          }
          done();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        if (tracer.exited) void tracer.exited.then(done);
        if (durationMs !== undefined) setTimeout(done, durationMs).unref();
        if (opts.pid !== undefined) {
          const pid = opts.pid;
          const check = setInterval(() => {
            try {
              process.kill(pid, 0);
            } catch (e) {
              // EPERM: still there, another user's.
              if ((e as NodeJS.ErrnoException).code === 'EPERM') return;
              clearInterval(check);
              done();
            }
          }, 250);
          check.unref();
        }
      });
      if (ticker) {
        clearInterval(ticker);
        process.stderr.write('\r\x1b[K');
      }
      // The command got the signal: its exit is in the summary when it ends
      // within a second; one that ignores it is left running.
      if (forwarded && tracer.exited) {
        await Promise.race([tracer.exited, new Promise((r) => setTimeout(r, 1000).unref())]);
        tracer.child?.unref();
      }
      const summary = await tracer.stop();
      try {
        if (recorder && flags.record) {
          const ws = recorder.result(summary.lost, tracer.policyName);
          await writeFile(flags.record, JSON.stringify(ws) + '\n');
        }
        if (flags.heatmap) {
          await writeFile(flags.heatmap, renderHeatmap(points, tracer.regions, { title: `faultc trace: ${command.join(' ') || `pid ${tracer.pid}`}` }));
        }
      } catch (e) {
        fail(EXIT.internal, `cannot write ${(e as { path?: string }).path ?? 'the output'}: ${fileErrorReason(e)}`);
      }
      if (file) await new Promise<void>((resolve) => file!.end(resolve));
      if (!flags.quiet) process.stderr.write(summaryLines(summary));
      process.exitCode = exitStatus(summary);
    });
}
