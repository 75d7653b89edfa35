/* SPDX-License-Identifier: GPL-2.0 */
/* faultc ABI v1: shared by generated BPF C, host decision libraries and native/. */
#ifndef FAULTC_ABI_H
#define FAULTC_ABI_H

#ifdef __BPF__
/* BPF programs get the __uN types from vmlinux.h or linux/types.h. */
#else
#include <linux/types.h>
#endif

#define FAULTC_ABI_VERSION 1
#define FAULTC_PAGE_SIZE 4096ULL
#define FAULTC_MAX_SOURCES 8

enum faultc_action {
	FAULTC_ACT_NONE = 0,
	FAULTC_ACT_ZERO = 1,
	FAULTC_ACT_FILL = 2,
	FAULTC_ACT_COPY = 3,
	FAULTC_ACT_SIGBUS = 4,
	FAULTC_ACT_DEFER = 5,
};

enum faultc_handler {
	FAULTC_ON_MISSING = 0,
	FAULTC_ON_WRITE = 1,
};

enum faultc_prefetch_dir {
	FAULTC_PREFETCH_AHEAD = 0,
	FAULTC_PREFETCH_BEHIND = 1,
	FAULTC_PREFETCH_AROUND = 2,
	FAULTC_PREFETCH_BLOCK = 3,	/* the aligned block of prefetch_pages pages */
};

#define FAULTC_F_NOTIFY 1U
#define FAULTC_F_TRACK_DIRTY 2U
#define FAULTC_F_ERROR 4U

enum faultc_error {
	FAULTC_ERR_NONE = 0,
	FAULTC_ERR_DIVIDE_BY_ZERO = 1,
	FAULTC_ERR_UNALIGNED_OFFSET = 2,
	FAULTC_ERR_SOURCE_READ = 3,
	FAULTC_ERR_PAST_END = 4,
	FAULTC_ERR_SOURCE_NOT_FOUND = 5,	/* 404, 410 */
	FAULTC_ERR_SOURCE_UNREACHABLE = 6,	/* no connection until the deadline */
	FAULTC_ERR_SOURCE_HTTP_STATUS = 7,	/* another error status until the deadline */
	FAULTC_ERR_SOURCE_CHANGED = 8,	/* not the version pinned at load */
	FAULTC_ERR_SOURCE_SHORT_BODY = 9,
	FAULTC_ERR_SOURCE_TIMEOUT = 10,
	FAULTC_ERR_DEFER_TIMEOUT = 11,
	FAULTC_ERR_DEFER_FAILED = 12,
};

/* What the decision function is asked: one fault in one region. */
struct faultc_fault {
	__u64 offset;		/* byte offset of the faulting page in its region */
	__u64 address;		/* faulting page address */
	__u32 region;		/* region index in the policy */
	__u32 handler;		/* enum faultc_handler */
	__u32 write;		/* 1 for a write access, 0 for a read */
	__u32 pad;
	__u64 source_size[FAULTC_MAX_SOURCES];	/* bytes, known at load time */
};

/* What it answers. */
struct faultc_decision {
	__u32 action;		/* enum faultc_action */
	__u32 flags;		/* FAULTC_F_* */
	__u32 fill_byte;
	__u32 source;		/* source index, for FAULTC_ACT_COPY */
	__u64 source_offset;	/* byte offset in the source, page-aligned */
	__u32 prefetch_pages;
	__u32 prefetch_dir;	/* enum faultc_prefetch_dir */
	__u32 error;		/* enum faultc_error, with FAULTC_F_ERROR */
	__u32 pad;
};

/* One notify (or trace) event, as the ring buffer carries it. */
struct faultc_event {
	__u64 time_ns;		/* CLOCK_MONOTONIC */
	__u64 address;		/* faulting page address */
	__u64 offset;		/* byte offset in the region */
	__u32 region;
	__u32 pid;		/* tgid */
	__u32 tid;
	__u32 handler;		/* enum faultc_handler */
	__u32 write;		/* access: 1 write, 0 read */
	__u32 action;		/* enum faultc_action taken */
	__u32 pages;		/* pages resolved by this fault, prefetch included */
	__u32 error;		/* enum faultc_error */
};

/* The kernel engine's counters of one region (per CPU in its faultc_counts map). */
struct faultc_counts {
	__u64 faults;		/* faults decided (prefetch neighbours not included) */
	__u64 zero;		/* decisions per action */
	__u64 fill;
	__u64 copy;
	__u64 sigbus;
	__u64 defer;
	__u64 prefetch;		/* prefetch neighbours decided resolvable */
	__u64 errors;		/* decisions with an error */
};

#endif /* FAULTC_ABI_H */
