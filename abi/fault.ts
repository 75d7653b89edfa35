// The kernel fault hook's interface: the program type the kernel patch adds,
// the names of the program and its maps and the size of the hook's context.
// native/bpf/fault.bpf.c defines them in C; the kernel engine's loader
// (native/src/kernel_engine.c) binds them through the subskeleton built from
// it (native/bpf/subskel.sh). The counters are struct faultc_counts
// (FAULT_COUNTERS in abi.ts).

/** enum bpf_prog_type value the kernel patch appends (after BPF_PROG_TYPE_NETFILTER = 32). */
export const PAGE_FAULT_PROG_TYPE = 33;
/** Name of the program in the object, and of its maps. */
export const FAULT_PROGRAM_NAME = 'faultc_fault';
export const FAULT_EVENTS_MAP = 'faultc_events';
export const FAULT_COUNTS_MAP = 'faultc_counts';
/** One __u32: bit i set when source i is remote (http): its copies go to user space. */
export const FAULT_REMOTE_MAP = 'faultc_remote';
/** Size of the hook's context: faultc_fault, faultc_decision, then the outcome. */
export const PAGE_FAULT_CTX_SIZE = 152;
