/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The user-space interface of the faultc kernel hook (kernel/patches/): the
 * BPF_PROG_TYPE_PAGE_FAULT program type, its context, and the prctl that
 * attaches a program to a range.  A copy of what the patch series adds to
 * include/uapi/linux/{bpf,prctl}.h, because the host's headers predate it.
 */
#ifndef FAULTC_FAULT_POLICY_UAPI_H
#define FAULTC_FAULT_POLICY_UAPI_H

#include <linux/types.h>

/* enum bpf_prog_type: appended after BPF_PROG_TYPE_NETFILTER (32). */
#define FAULTC_BPF_PROG_TYPE_PAGE_FAULT 33

enum bpf_page_fault_action {
	BPF_PAGE_FAULT_DEFAULT	= 0,
	BPF_PAGE_FAULT_ZERO	= 1,
	BPF_PAGE_FAULT_FILL	= 2,
	BPF_PAGE_FAULT_COPY	= 3,
	BPF_PAGE_FAULT_SIGBUS	= 4,
	BPF_PAGE_FAULT_DEFER	= 5,
};

enum bpf_page_fault_phase {
	BPF_PAGE_FAULT_DECIDE		= 0,
	BPF_PAGE_FAULT_NEIGHBOUR	= 1,
	BPF_PAGE_FAULT_DONE		= 2,
};

enum bpf_page_fault_prefetch {
	BPF_PAGE_FAULT_AHEAD	= 0,
	BPF_PAGE_FAULT_BEHIND	= 1,
	BPF_PAGE_FAULT_AROUND	= 2,
	BPF_PAGE_FAULT_BLOCK	= 3,	/* the aligned block holding the page */
};

enum bpf_page_fault_error {
	BPF_PAGE_FAULT_ERR_NONE		= 0,
	BPF_PAGE_FAULT_ERR_READ		= 3,
	BPF_PAGE_FAULT_ERR_PAST_END	= 4,
	BPF_PAGE_FAULT_ERR_INVALID	= 5,
};

#define BPF_PAGE_FAULT_F_DONE		(1U << 0)
#define BPF_PAGE_FAULT_MAX_SOURCES	8
#define BPF_PAGE_FAULT_MAX_PREFETCH	64

struct bpf_page_fault {
	__u64 offset;
	__u64 address;
	__u32 region;
	__u32 handler;
	__u32 write;
	__u32 phase;
	__u64 source_size[BPF_PAGE_FAULT_MAX_SOURCES];
	__u32 action;
	__u32 flags;
	__u32 fill_byte;
	__u32 source;
	__u64 source_offset;
	__u32 prefetch_pages;
	__u32 prefetch_dir;
	__u32 error;
	__u32 pad;
	__u32 result_action;
	__u32 result_pages;
	__u32 result_error;
	__u32 result_pad;
};

#define PR_FAULT_POLICY			0x46500000
#define PR_FAULT_POLICY_VERSION		0
#define PR_FAULT_POLICY_ATTACH		1
#define PR_FAULT_POLICY_DETACH		2
/* flags: the range is in the address space of the process of pidfd */
#define PR_FAULT_POLICY_F_PIDFD		1

struct prctl_fault_policy {
	__u32 prog_fd;
	__u32 region;
	__u32 nr_sources;
	__u32 flags;
	__s32 source_fd[8];
	/* read by the kernel only with PR_FAULT_POLICY_F_PIDFD */
	__s32 pidfd;	/* a process the caller may ptrace */
	__u32 pad;
};

#endif /* FAULTC_FAULT_POLICY_UAPI_H */
