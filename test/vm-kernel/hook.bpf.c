// SPDX-License-Identifier: GPL-2.0
/*
 * A hand-written BPF_PROG_TYPE_PAGE_FAULT program for hook_test.c: it tests
 * the kernel hook without the compiler, one region per behaviour.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "fault_policy_uapi.h"

char LICENSE[] SEC("license") = "GPL";

#define PAGE 4096ULL

struct hook_event {
	__u64 offset;
	__u64 address;
	__u32 region;
	__u32 write;
	__u32 action;
	__u32 pages;
	__u32 error;
	__u32 tid;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

/* key 0: prefetch pages, key 1: prefetch direction, for region 1 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} cfg SEC(".maps");

/* runs per phase */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} runs SEC(".maps");

static __u32 cfg_get(__u32 key)
{
	__u32 *v = bpf_map_lookup_elem(&cfg, &key);

	return v ? *v : 0;
}

static void table(struct bpf_page_fault *ctx, __u64 page)
{
	ctx->flags = BPF_PAGE_FAULT_F_DONE;
	switch (page) {
	case 0:
		ctx->action = BPF_PAGE_FAULT_ZERO;
		break;
	case 1:
		ctx->action = BPF_PAGE_FAULT_FILL;
		ctx->fill_byte = 0x5a;
		break;
	case 2: case 3: case 4: case 5:
		ctx->action = BPF_PAGE_FAULT_COPY;
		ctx->source = 0;
		ctx->source_offset = (page - 2) * PAGE;
		break;
	case 6:
		ctx->action = BPF_PAGE_FAULT_SIGBUS;
		break;
	case 7:
		ctx->action = BPF_PAGE_FAULT_DEFAULT;
		break;
	case 8:
		ctx->action = BPF_PAGE_FAULT_COPY;
		ctx->source_offset = 16 * PAGE;
		break;
	case 9:
		ctx->action = BPF_PAGE_FAULT_FILL;
		ctx->fill_byte = 300;
		break;
	case 10:
		ctx->action = BPF_PAGE_FAULT_DEFER;
		break;
	case 11:
		ctx->action = BPF_PAGE_FAULT_COPY;
		ctx->source_offset = 100;
		break;
	case 12:
		ctx->action = BPF_PAGE_FAULT_COPY;
		ctx->source = 3;
		break;
	case 13:
		/* what generated code does on a division by zero */
		ctx->action = BPF_PAGE_FAULT_SIGBUS;
		ctx->error = 1;
		break;
	default:
		ctx->action = BPF_PAGE_FAULT_ZERO;
		break;
	}
}

/*
 * Region 4: 2 MiB blocks (prefetch block 512 pages), pages zeroed, filled
 * and copied in turn; page 700 is SIGBUS, so its block goes page by page.
 */
static void huge(struct bpf_page_fault *ctx, __u64 page, __u32 phase)
{
	if (phase == BPF_PAGE_FAULT_DECIDE) {
		ctx->flags = BPF_PAGE_FAULT_F_DONE;
		ctx->prefetch_pages = 512;
		ctx->prefetch_dir = BPF_PAGE_FAULT_BLOCK;
	}
	if (page == 700) {
		ctx->action = BPF_PAGE_FAULT_SIGBUS;
		return;
	}
	switch (page % 3) {
	case 0:
		ctx->action = BPF_PAGE_FAULT_ZERO;
		break;
	case 1:
		ctx->action = BPF_PAGE_FAULT_FILL;
		ctx->fill_byte = 0xa5;
		break;
	default:
		ctx->action = BPF_PAGE_FAULT_COPY;
		ctx->source = 0;
		ctx->source_offset = ctx->offset;
		break;
	}
}

SEC("socket")
int hook(struct bpf_page_fault *ctx)
{
	__u32 phase = ctx->phase;
	__u64 page = ctx->offset / PAGE;
	__u64 *n;

	if (phase < 3) {
		n = bpf_map_lookup_elem(&runs, &phase);
		if (n)
			__sync_fetch_and_add(n, 1);
	}

	if (phase == BPF_PAGE_FAULT_DONE) {
		struct hook_event e = {
			.offset = ctx->offset,
			.address = ctx->address,
			.region = ctx->region,
			.write = ctx->write,
			.action = ctx->result_action,
			.pages = ctx->result_pages,
			.error = ctx->result_error,
			.tid = (__u32)bpf_get_current_pid_tgid(),
		};

		bpf_ringbuf_output(&events, &e, sizeof(e), 0);
		return 0;
	}

	switch (ctx->region) {
	case 0:
		table(ctx, page);
		break;
	case 1:
		ctx->action = BPF_PAGE_FAULT_COPY;
		ctx->source = 0;
		ctx->source_offset = ctx->offset;
		if (phase == BPF_PAGE_FAULT_DECIDE) {
			ctx->flags = BPF_PAGE_FAULT_F_DONE;
			ctx->prefetch_pages = cfg_get(0);
			ctx->prefetch_dir = cfg_get(1);
		}
		break;
	case 2:
		if (page & 1) {
			ctx->action = BPF_PAGE_FAULT_DEFER;
		} else {
			ctx->action = BPF_PAGE_FAULT_FILL;
			ctx->fill_byte = 0x11;
		}
		break;
	case 4:
		huge(ctx, page, phase);
		break;
	default:
		ctx->action = BPF_PAGE_FAULT_ZERO;
		break;
	}
	return 0;
}
