/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The trace program's interface (native/bpf/trace.bpf.c): its limits, flags
 * and map value layouts, shared by the program and its loader
 * (native/src/bpf_loader.c). abi/trace.ts holds the same numbers for the
 * runtime; test/trace/trace-unit.test.ts checks the two agree.
 */
#ifndef FAULTC_TRACE_H
#define FAULTC_TRACE_H

#include <linux/types.h>

#define FAULTC_MAX_RANGES 1024
#define FAULTC_MAX_FILES 16
#define FAULTC_MAX_REGIONS 1024
#define FAULTC_MAX_TARGETS 8192
#define FAULTC_TRACE_MAX_SOURCES 8
/* Size of the events ring buffer in the object; the loader resizes it. */
#define FAULTC_TRACE_RING_BYTES (1U << 20)

/* faultc_trace_config.mode */
#define FAULTC_MODE_TRACE 0
#define FAULTC_MODE_NOTIFY 1

/* faultc_trace_config.flags */
#define FAULTC_TF_PROT 1U /* also protection faults (writes to present pages) */
#define FAULTC_TF_FOLLOW 2U /* trace the children a target forks */
#define FAULTC_TF_KERNEL 4U /* also faults the kernel takes on user memory */

/* faultc_targets values */
#define FAULTC_TARGET_TRACED 1
#define FAULTC_TARGET_AT_EXEC 2

/* Bits of faultc_event.write */
#define FAULTC_EV_WRITE 1U
#define FAULTC_EV_KERNEL_MODE 2U

/* faultc_event.handler of a name record (a comm in address and offset) */
#define FAULTC_NAME_RECORD 0xff

struct faultc_range {
	__u64 start; /* first byte (page-aligned) */
	__u64 end; /* one past the last byte */
	__u64 base; /* offset of start within its region */
	__u32 region; /* region index */
	__u32 flags; /* reserved, 0 */
};

/* Load-time configuration: the program's read-only data, set before load. */
struct faultc_trace_config {
	__u32 mode; /* FAULTC_MODE_* */
	__u32 flags; /* FAULTC_TF_* */
	__u64 wakeup_bytes;
	__u64 source_size[FAULTC_TRACE_MAX_SOURCES];
	__u32 heap_region; /* region + 1 of the [heap] VMA filter, 0 if none */
	__u32 stack_region; /* region + 1 of the [stack] VMA filter, 0 if none */
};

/*
 * Live counts: how many leading entries of faultc_ranges and faultc_files
 * the program reads. The loader rewrites the program's .data.live section
 * (one array element) while the program runs.
 */
struct faultc_trace_live {
	__u32 nr_ranges;
	__u32 nr_files;
};

/* A mapped file, as the kernel names it: offsets are file offsets. */
struct faultc_file {
	__u64 dev; /* super_block s_dev (kernel encoding) */
	__u64 ino;
	__u32 region; /* region index */
	__u32 pad;
};

#endif /* FAULTC_TRACE_H */
