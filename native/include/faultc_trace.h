/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Map value layouts of the trace program (codegen/trace-bpf.ts emits the same
 * structs into every <policy>.trace.bpf.c; a test checks the two agree).
 */
#ifndef FAULTC_TRACE_H
#define FAULTC_TRACE_H

#include <linux/types.h>

#define FAULTC_MAX_RANGES 1024
#define FAULTC_MAX_FILES 16
#define FAULTC_MAX_REGIONS 1024
#define FAULTC_TRACE_MAX_SOURCES 8

#define FAULTC_MODE_TRACE 0
#define FAULTC_MODE_NOTIFY 1
#define FAULTC_TF_PROT 1U
#define FAULTC_TF_FOLLOW 2U
#define FAULTC_TF_KERNEL 4U

struct faultc_range {
	__u64 start;		/* first byte (page-aligned) */
	__u64 end;		/* one past the last byte */
	__u64 base;		/* offset of start within its region */
	__u32 region;		/* region index */
	__u32 flags;		/* reserved, 0 */
};

struct faultc_trace_config {
	__u32 nr_ranges;
	__u32 mode;		/* FAULTC_MODE_* */
	__u32 flags;		/* FAULTC_TF_* */
	__u32 pad;
	__u64 wakeup_bytes;
	__u64 source_size[FAULTC_TRACE_MAX_SOURCES];
	__u32 heap_region;	/* region + 1 of the [heap] VMA filter, 0 if none */
	__u32 stack_region;	/* region + 1 of the [stack] VMA filter, 0 if none */
	__u32 nr_files;		/* live entries of faultc_files */
	__u32 pad2;
};

/* A mapped file, as the kernel names it: offsets are file offsets. */
struct faultc_file {
	__u64 dev;		/* super_block s_dev (kernel encoding) */
	__u64 ino;
	__u32 region;		/* region index */
	__u32 pad;
};

#endif /* FAULTC_TRACE_H */
