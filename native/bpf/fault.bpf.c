// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel engine's program: runs at the fault hook of the patched kernel
 * (BPF_PROG_TYPE_PAGE_FAULT, kernel/patches/) in the faulting thread, for
 * each missing page of an attached region, and answers with the policy's
 * decision; the kernel carries it out (zero-fill, fill, copy from the source
 * file, SIGBUS, or defer to a userfaultfd). In the hook's done phase it
 * writes the notify and error events to a ring buffer.
 *
 * A policy's <policy>.fault.bpf.c (codegen/fault-bpf.ts) includes its abi.h
 * and decide.h, defines FAULTC_FAULT_DECIDE (its decision function) and
 * FAULTC_FAULT_REGIONS (its number of regions), then includes this file.
 *
 * The hook's context, struct bpf_page_fault (native/include/
 * fault_policy_uapi.h, the copy of the patch's uapi), starts with the layouts
 * of struct faultc_fault and struct faultc_decision (the ABI header), so no
 * field is translated: the fault is copied in and the decision out whole.
 *
 * SEC("page_fault"): the loader (native/src/bpf_loader.c) registers the
 * section with libbpf_register_prog_handler(); a loader that does not gets a
 * program of no type from libbpf and sets the type itself (hook_test.c does).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "faultc_abi.h"
#include "fault_policy_uapi.h"

#ifndef FAULTC_FAULT_DECIDE
#error "fault.bpf.c is included by a policy's <policy>.fault.bpf.c, which names its decision function"
#endif
#ifndef FAULTC_FAULT_REGIONS
#define FAULTC_FAULT_REGIONS 1
#endif

_Static_assert(sizeof(struct faultc_fault) == __builtin_offsetof(struct bpf_page_fault, action),
	       "the hook's context starts with struct faultc_fault");
_Static_assert(__builtin_offsetof(struct bpf_page_fault, phase) == __builtin_offsetof(struct faultc_fault, pad),
	       "the phase is in faultc_fault's pad");
_Static_assert(sizeof(struct faultc_fault) + sizeof(struct faultc_decision) ==
		       __builtin_offsetof(struct bpf_page_fault, result_action),
	       "struct faultc_decision follows it");
_Static_assert(sizeof(struct bpf_page_fault) == 152, "hook context layout");
_Static_assert(FAULTC_F_NOTIFY == BPF_PAGE_FAULT_F_DONE, "the hook's done-phase bit is FAULTC_F_NOTIFY");

char LICENSE[] SEC("license") = "GPL";

/* Notify and error events, struct faultc_event; the runtime sizes it before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} faultc_events SEC(".maps");

/* Counters per region, struct faultc_counts (faultc_abi.h): one lookup per fault. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FAULTC_FAULT_REGIONS);
	__type(key, __u32);
	__type(value, struct faultc_counts);
} faultc_counts SEC(".maps");

/*
 * Sources whose bytes are not in a file the kernel can read (http): bit i for
 * source i, set by the runtime before the program is attached. A copy from
 * such a source becomes a defer to the range's userfaultfd, whose handlers
 * fetch the page (and its prefetch run) and report it themselves.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} faultc_remote SEC(".maps");

/* Events that did not fit in the ring buffer. */
__u64 faultc_lost = 0;

static __always_inline int faultc_copies_remote(const struct faultc_decision *out)
{
	__u32 key = 0;
	__u32 *remote;

	if (out->action != FAULTC_ACT_COPY || out->source >= 32)
		return 0;
	remote = bpf_map_lookup_elem(&faultc_remote, &key);
	return remote && (*remote >> out->source) & 1;
}

static __always_inline void faultc_emit(const struct bpf_page_fault *ctx)
{
	struct faultc_event *e;
	__u64 id;

	e = bpf_ringbuf_reserve(&faultc_events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&faultc_lost, 1);
		return;
	}
	id = bpf_get_current_pid_tgid();
	e->time_ns = bpf_ktime_get_ns();
	e->address = ctx->address;
	e->offset = ctx->offset;
	e->region = ctx->region;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->handler = FAULTC_ON_MISSING;
	e->write = ctx->write;
	e->action = ctx->result_action;
	e->pages = ctx->result_pages;
	e->error = ctx->result_error;
	bpf_ringbuf_submit(e, 0);
}

/* Counts a decision: a fault's, or a prefetch neighbour's. */
static __always_inline void faultc_count(__u32 region, __u32 phase, const struct faultc_decision *out,
					 int remote)
{
	struct faultc_counts *counts = bpf_map_lookup_elem(&faultc_counts, &region);

	if (!counts)
		return;
	if (phase == BPF_PAGE_FAULT_NEIGHBOUR) {
		if (out->action == FAULTC_ACT_ZERO || out->action == FAULTC_ACT_FILL ||
		    out->action == FAULTC_ACT_COPY)
			counts->prefetch++;
		return;
	}
	counts->faults++;
	if (out->flags & FAULTC_F_ERROR)
		counts->errors++;
	/* A copy from a remote source is counted by the handler that makes it. */
	if (remote)
		return;
	switch (out->action) {
	case FAULTC_ACT_ZERO:
		counts->zero++;
		break;
	case FAULTC_ACT_FILL:
		counts->fill++;
		break;
	case FAULTC_ACT_COPY:
		counts->copy++;
		break;
	case FAULTC_ACT_SIGBUS:
		counts->sigbus++;
		break;
	case FAULTC_ACT_DEFER:
		counts->defer++;
		break;
	}
}

SEC("page_fault")
int faultc_fault(struct bpf_page_fault *ctx)
{
	struct faultc_fault in;
	struct faultc_decision out;
	__u32 phase = ctx->phase;
	__u32 region = ctx->region;
	int remote;

	if (phase == BPF_PAGE_FAULT_DONE) {
		if ((ctx->flags & FAULTC_F_NOTIFY) || ctx->result_error)
			faultc_emit(ctx);
		return 0;
	}

	__builtin_memcpy(&in, ctx, sizeof(in));
	in.handler = FAULTC_ON_MISSING;
	in.pad = 0;
	if (FAULTC_FAULT_DECIDE(&in, &out) != 0) {
		/* A region the policy does not have: never guess, refuse the page. */
		__builtin_memset(&out, 0, sizeof(out));
		out.action = FAULTC_ACT_SIGBUS;
	}
	remote = faultc_copies_remote(&out);
	if (remote) {
		/* User space installs, counts and reports this one (and its run). */
		out.action = FAULTC_ACT_DEFER;
		out.flags &= ~FAULTC_F_NOTIFY;
		out.prefetch_pages = 0;
	}
	if (phase == BPF_PAGE_FAULT_NEIGHBOUR) {
		/* A prefetched page raises no event and prefetches nothing. */
		out.flags &= ~FAULTC_F_NOTIFY;
		out.prefetch_pages = 0;
	}
	faultc_count(region, phase, &out, remote);
	__builtin_memcpy(&ctx->action, &out, sizeof(out));
	return 0;
}
