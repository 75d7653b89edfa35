// The binary interface between generated C (BPF and host) and native/.
// It is fixed per ABI version, not per policy, so the addon is compiled once;
// every policy's <policy>.abi.h carries this text, and native/include/faultc_abi.h
// is this text too (a test checks that the two never drift).

export const ABI_VERSION = 1;

/** Numeric codes shared with C. Order matters: these values are the ABI. */
export const ACTION_CODES = {
  none: 0,
  zero: 1,
  fill: 2,
  copy: 3,
  sigbus: 4,
  defer: 5,
} as const;
export type ActionName = keyof typeof ACTION_CODES;

export const HANDLER_CODES = { missing: 0, write: 1 } as const;
export const PREFETCH_DIR_CODES = { ahead: 0, behind: 1, around: 2, block: 3 } as const;

export const DECISION_FLAGS = {
  notify: 1 << 0,
  trackDirty: 1 << 1,
  error: 1 << 2,
} as const;

/** Run-time errors a decision can carry (action is then sigbus). */
export const ERROR_CODES = {
  none: 0,
  divideByZero: 1,
  unalignedOffset: 2,
  /** The engine's own failures, reported in events. */
  sourceRead: 3,
  pastEndOfSource: 4,
  /** Remote sources (docs/http-sources.md): why a page could not be fetched. */
  sourceNotFound: 5,
  sourceUnreachable: 6,
  sourceHttpStatus: 7,
  sourceChanged: 8,
  sourceShortBody: 9,
  sourceTimeout: 10,
  /** The user-space `defer` handler did not answer in time, or failed. */
  deferTimeout: 11,
  deferFailed: 12,
} as const;

/**
 * The kernel engine's counters per region, in this order: struct faultc_counts
 * in the ABI header (one value per CPU in the fault program's faultc_counts
 * map), written by native/bpf/fault.bpf.c and read by native/src/kernel_engine.c.
 */
export const FAULT_COUNTERS = [
  ['faults', 'faults decided (prefetch neighbours not included)'],
  ['zero', 'decisions per action'],
  ['fill', ''],
  ['copy', ''],
  ['sigbus', ''],
  ['defer', ''],
  ['prefetch', 'prefetch neighbours decided resolvable'],
  ['errors', 'decisions with an error'],
] as const;
export type FaultCounter = (typeof FAULT_COUNTERS)[number][0];

const countsFields = FAULT_COUNTERS.map(([name, doc]) => `\t__u64 ${name};${doc ? `\t\t/* ${doc} */` : ''}`).join('\n');

export const ABI_HEADER = `/* SPDX-License-Identifier: GPL-2.0 */
/* faultc ABI v${ABI_VERSION}: shared by generated BPF C, host decision libraries and native/. */
#ifndef FAULTC_ABI_H
#define FAULTC_ABI_H

#ifdef __BPF__
/* BPF programs get the __uN types from vmlinux.h or linux/types.h. */
#else
#include <linux/types.h>
#endif

#define FAULTC_ABI_VERSION ${ABI_VERSION}
#define FAULTC_PAGE_SIZE 4096ULL
#define FAULTC_MAX_SOURCES 8

enum faultc_action {
	FAULTC_ACT_NONE = ${ACTION_CODES.none},
	FAULTC_ACT_ZERO = ${ACTION_CODES.zero},
	FAULTC_ACT_FILL = ${ACTION_CODES.fill},
	FAULTC_ACT_COPY = ${ACTION_CODES.copy},
	FAULTC_ACT_SIGBUS = ${ACTION_CODES.sigbus},
	FAULTC_ACT_DEFER = ${ACTION_CODES.defer},
};

enum faultc_handler {
	FAULTC_ON_MISSING = ${HANDLER_CODES.missing},
	FAULTC_ON_WRITE = ${HANDLER_CODES.write},
};

enum faultc_prefetch_dir {
	FAULTC_PREFETCH_AHEAD = ${PREFETCH_DIR_CODES.ahead},
	FAULTC_PREFETCH_BEHIND = ${PREFETCH_DIR_CODES.behind},
	FAULTC_PREFETCH_AROUND = ${PREFETCH_DIR_CODES.around},
	FAULTC_PREFETCH_BLOCK = ${PREFETCH_DIR_CODES.block},	/* the aligned block of prefetch_pages pages */
};

#define FAULTC_F_NOTIFY ${DECISION_FLAGS.notify}U
#define FAULTC_F_TRACK_DIRTY ${DECISION_FLAGS.trackDirty}U
#define FAULTC_F_ERROR ${DECISION_FLAGS.error}U

enum faultc_error {
	FAULTC_ERR_NONE = ${ERROR_CODES.none},
	FAULTC_ERR_DIVIDE_BY_ZERO = ${ERROR_CODES.divideByZero},
	FAULTC_ERR_UNALIGNED_OFFSET = ${ERROR_CODES.unalignedOffset},
	FAULTC_ERR_SOURCE_READ = ${ERROR_CODES.sourceRead},
	FAULTC_ERR_PAST_END = ${ERROR_CODES.pastEndOfSource},
	FAULTC_ERR_SOURCE_NOT_FOUND = ${ERROR_CODES.sourceNotFound},	/* 404, 410 */
	FAULTC_ERR_SOURCE_UNREACHABLE = ${ERROR_CODES.sourceUnreachable},	/* no connection until the deadline */
	FAULTC_ERR_SOURCE_HTTP_STATUS = ${ERROR_CODES.sourceHttpStatus},	/* another error status until the deadline */
	FAULTC_ERR_SOURCE_CHANGED = ${ERROR_CODES.sourceChanged},	/* not the version pinned at load */
	FAULTC_ERR_SOURCE_SHORT_BODY = ${ERROR_CODES.sourceShortBody},
	FAULTC_ERR_SOURCE_TIMEOUT = ${ERROR_CODES.sourceTimeout},
	FAULTC_ERR_DEFER_TIMEOUT = ${ERROR_CODES.deferTimeout},
	FAULTC_ERR_DEFER_FAILED = ${ERROR_CODES.deferFailed},
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
${countsFields}
};

#endif /* FAULTC_ABI_H */
`;

/** Byte sizes and field offsets, recorded in the manifest so a loader can refuse a mismatch. */
export const ABI_LAYOUTS = {
  faultc_fault: { size: 96, fields: { offset: 0, address: 8, region: 16, handler: 20, write: 24, source_size: 32 } },
  faultc_decision: {
    size: 40,
    fields: { action: 0, flags: 4, fill_byte: 8, source: 12, source_offset: 16, prefetch_pages: 24, prefetch_dir: 28, error: 32 },
  },
  faultc_event: {
    size: 56,
    fields: { time_ns: 0, address: 8, offset: 16, region: 24, pid: 28, tid: 32, handler: 36, write: 40, action: 44, pages: 48, error: 52 },
  },
  faultc_counts: {
    size: 64,
    fields: { faults: 0, zero: 8, fill: 16, copy: 24, sigbus: 32, defer: 40, prefetch: 48, errors: 56 },
  },
} as const;
