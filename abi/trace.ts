// The trace program's interface: what codegen/trace-bpf.ts writes into the C
// and what the runtime (runtime/trace/) and native/src/bpf_loader.c read back.
// Values here are shared with C; changing one changes the program's contract.

/** Limits shared with native/src/bpf_loader.c (keep in step with faultc_trace.h there). */
export const TRACE_LIMITS = {
  maxRanges: 1024,
  /** File VMA filters placed in the kernel (by device and inode). */
  maxFiles: 16,
  maxRegions: 1024,
  maxTargets: 8192,
  defaultRingBytes: 1 << 20,
} as const;

/** faultc_trace_config.mode values. */
export const TRACE_MODES = {
  /** Every fault in a range is an event. */
  trace: 0,
  /** Only faults the policy's decision function marks `notify` are events. */
  notify: 1,
} as const;

/** faultc_targets values: traced now, or from the process's next exec. */
export const TRACE_TARGET = { traced: 1, atExec: 2 } as const;

/** Bits of faultc_event.write from the trace program: bit 0 the access, bit 1 the mode. */
export const TRACE_EVENT_BITS = { write: 1, kernelMode: 2 } as const;

/**
 * faultc_event.handler of a name record: a process (tgid `pid`) is now named
 * by the 16 bytes in address and offset (its comm, NUL-padded); sent at exec
 * and at fork, before any fault event of that name.
 */
export const TRACE_NAME_RECORD = 0xff;

/** faultc_trace_config.flags bits. */
export const TRACE_FLAGS = {
  /** Also report protection faults (a write to a present page: `on write`). */
  protFaults: 1 << 0,
  /** Add the children a traced process forks to the targets. */
  followForks: 1 << 1,
  /** Also report faults taken in the kernel on user memory (read(2) into an untouched page). */
  kernelFaults: 1 << 2,
} as const;
