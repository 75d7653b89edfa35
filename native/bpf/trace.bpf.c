// SPDX-License-Identifier: GPL-2.0
/*
 * The trace engine's program for stock kernels: observes page faults (it can
 * never resolve them on a stock kernel) and reports them through a BPF ring
 * buffer.
 *
 * Compiled on its own, this is the policy-free program behind `faultc trace`:
 * every fault in a traced range is an event. A policy's <policy>.trace.bpf.c
 * (codegen/trace-bpf.ts) includes the policy's abi.h and decide.h, defines
 * FAULTC_TRACE_DECIDE as its decision function and then includes this file:
 * each fault is then reported with the action the policy would take, and in
 * notify mode only the faults the policy marks `notify` are.
 *
 * Why tp_btf (BTF-typed raw tracepoints) and not SEC("tracepoint/..."):
 * tp_btf programs need no tracefs mount, skip the perf record copy (they are
 * cheaper per fault) and read the tracepoint's typed arguments directly; the
 * running kernel's BTF (/sys/kernel/btf/vmlinux) resolves them at load time.
 * No generated vmlinux.h is needed: the few kernel structs read are declared
 * below with preserve_access_index so libbpf relocates their fields (CO-RE).
 *
 * Configuration (native/include/faultc_trace.h):
 *   faultc_cfg      .rodata.config: mode, flags, wake-up threshold, source
 *                   sizes, [heap]/[stack] filters; set by the loader before
 *                   load, so the verifier prunes what a run does not use
 *   faultc_live     .data.live: live entries of faultc_ranges and
 *                   faultc_files, rewritten by the loader while attached
 * Maps (user space fills them; the program trusts none of their contents):
 *   faultc_targets  hash   tgid -> u8      processes traced (1), or traced
 *                          from their next exec (2: a command's launcher)
 *   faultc_ranges   array  [FAULTC_MAX_RANGES] struct faultc_range
 *   faultc_files    array  [FAULTC_MAX_FILES] struct faultc_file: --vma PATH
 *   faultc_stack_top lru hash tgid -> u64: the end of its stack VMA (the
 *                   program's own cache for --vma [stack])
 *   faultc_events   ringbuf of struct faultc_event
 *   faultc_counts   percpu array [FAULTC_MAX_REGIONS] u64: faults per region
 *   faultc_lost     percpu array [1] u64: events dropped (ring buffer full)
 * Wake-ups are batched: an event only wakes the reader when at least
 * faultc_cfg.wakeup_bytes are waiting; the reader also polls with a timeout.
 *
 * Events: one per fault of a traced process in a range (or in the [heap] /
 * [stack] VMA, faultc_cfg.heap_region / stack_region). Not-present faults are
 * the missing handler's; with FAULTC_TF_PROT, write faults on present pages
 * are the write handler's. With FAULTC_TF_KERNEL, faults the kernel takes on
 * user memory (copy_to_user into a fresh page) count as the process's own:
 * the access kind comes from the error code either way. pages is 1 plus the
 * prefetch the policy asks for (what it would resolve). write holds the access
 * (bit 0) and whether the fault was taken in kernel mode (bit 1). A record
 * with handler FAULTC_NAME_RECORD is no fault: it names a process (its comm
 * in address and offset), sent when a traced process execs or forks.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "faultc_abi.h"
#include "faultc_trace.h"

_Static_assert(FAULTC_TRACE_MAX_SOURCES == FAULTC_MAX_SOURCES, "source_size holds every source");

/* x86 page fault error code bits. */
#define FAULTC_PF_PROT 0x1UL
#define FAULTC_PF_WRITE 0x2UL

#define FAULTC_RLIMIT_STACK 3

#define FAULTC_READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))

/* Only the fields read here; CO-RE relocates them against the kernel's BTF. */
struct mm_struct {
	unsigned long start_brk;
	unsigned long brk;
	unsigned long start_stack;
} __attribute__((preserve_access_index));

struct rlimit {
	unsigned long rlim_cur;
	unsigned long rlim_max;
} __attribute__((preserve_access_index));

struct signal_struct {
	struct rlimit rlim[16];
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;
	int tgid;
	struct mm_struct *mm;
	struct signal_struct *signal;
} __attribute__((preserve_access_index));

struct super_block {
	__u32 s_dev;
} __attribute__((preserve_access_index));

struct inode {
	unsigned long i_ino;
	struct super_block *i_sb;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
} __attribute__((preserve_access_index));

struct vm_area_struct {
	unsigned long vm_start;
	unsigned long vm_end;
	unsigned long vm_pgoff;
	struct file *vm_file;
} __attribute__((preserve_access_index));

const volatile struct faultc_trace_config faultc_cfg SEC(".rodata.config") = {};
struct faultc_trace_live faultc_live SEC(".data.live") = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FAULTC_MAX_TARGETS);
	__type(key, __u32);
	__type(value, __u8);
} faultc_targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FAULTC_MAX_RANGES);
	__type(key, __u32);
	__type(value, struct faultc_range);
} faultc_ranges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FAULTC_MAX_FILES);
	__type(key, __u32);
	__type(value, struct faultc_file);
} faultc_files SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FAULTC_MAX_TARGETS);
	__type(key, __u32);
	__type(value, __u64);
} faultc_stack_top SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, FAULTC_TRACE_RING_BYTES);
} faultc_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FAULTC_MAX_REGIONS);
	__type(key, __u32);
	__type(value, __u64);
} faultc_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} faultc_lost SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

struct faultc_lookup {
	__u64 address;
	__u64 offset;
	__u32 region;
	__u32 found;
};

/* bpf_loop callback over ranges 1..nr-1 (range 0 is tried inline first). */
static long faultc_match_range(__u64 index, void *data)
{
	struct faultc_lookup *lk = data;
	__u32 key = (__u32)index + 1;
	struct faultc_range *r;

	r = bpf_map_lookup_elem(&faultc_ranges, &key);
	if (!r)
		return 1;
	if (lk->address >= r->start && lk->address < r->end) {
		lk->region = r->region;
		lk->offset = lk->address - r->start + r->base;
		lk->found = 1;
		return 1;
	}
	return 0;
}

/*
 * [heap], [stack] and file filters are placed here, in the faulting process,
 * as /proc/PID/maps names them, so a mapping made after tracing began is seen
 * from its first page, even in a process that exits at once. Cheap first:
 *  - [heap] is the brk area, [start_brk, brk) rounded to pages, read from the
 *    mm without its lock or a VMA walk;
 *  - [stack] is the VMA holding mm->start_stack: its end (the top, where
 *    offsets count from) is found once per process with bpf_find_vma and
 *    kept in faultc_stack_top (forgotten at exec). A stack fault may lie
 *    below the VMA (the kernel grows it in this very fault), so stack pages
 *    are those from the top down to the stack rlimit (at most 128 MiB: the
 *    kernel keeps at least that much free below the stack);
 *  - files need the faulting VMA (bpf_find_vma) on every fault, and only
 *    when --vma names a file.
 * bpf_find_vma fails (-EBUSY) when the mmap lock is contended: such a fault
 * falls through to the ranges, where user space places it when a catch-all
 * range is there (file filters).
 */
#define FAULTC_STACK_LIMIT_MAX (128ULL << 20)

struct faultc_vma_info {
	__u64 start;
	__u64 end;
	__u64 pgoff;
	__u64 dev;
	__u64 ino; /* 0 for anonymous memory */
};

static long faultc_vma_found(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct faultc_vma_info *v = data;
	struct file *f = vma->vm_file;

	v->start = vma->vm_start;
	v->end = vma->vm_end;
	v->pgoff = vma->vm_pgoff;
	if (f) {
		v->ino = f->f_inode->i_ino;
		v->dev = f->f_inode->i_sb->s_dev;
	}
	return 0;
}

/* The end of the process's stack VMA, 0 when it cannot be found now. */
static __always_inline __u64 faultc_stack_end(struct task_struct *task, struct mm_struct *mm, __u32 tgid)
{
	__u64 *known = bpf_map_lookup_elem(&faultc_stack_top, &tgid);
	struct faultc_vma_info st = {};

	if (known)
		return *known;
	if (bpf_find_vma(task, mm->start_stack, faultc_vma_found, &st, 0) || !st.end)
		return 0;
	bpf_map_update_elem(&faultc_stack_top, &tgid, &st.end, BPF_ANY);
	return st.end;
}

/* The page's region + 1 and offset when the brk area holds it, else 0. */
static __always_inline __u32 faultc_heap_region(struct mm_struct *mm, __u64 page, __u64 *offset)
{
	__u64 start = mm->start_brk & ~(FAULTC_PAGE_SIZE - 1);
	__u64 end = (mm->brk + FAULTC_PAGE_SIZE - 1) & ~(FAULTC_PAGE_SIZE - 1);

	if (page < start || page >= end)
		return 0;
	*offset = page - start;
	return faultc_cfg.heap_region;
}

/* The page's region + 1 and offset when the stack holds it, else 0. */
static __always_inline __u32 faultc_stack_region(struct task_struct *task, struct mm_struct *mm,
						 __u32 tgid, __u64 page, __u64 *offset)
{
	__u64 top = faultc_stack_end(task, mm, tgid);
	__u64 limit = task->signal->rlim[FAULTC_RLIMIT_STACK].rlim_cur;

	if (limit > FAULTC_STACK_LIMIT_MAX)
		limit = FAULTC_STACK_LIMIT_MAX;
	if (!top || page >= top || top - page > limit)
		return 0;
	/* The stack grows down: its offsets count from the top. */
	*offset = top - FAULTC_PAGE_SIZE - page;
	return faultc_cfg.stack_region;
}

/* The page's region + 1 and offset when a --vma PATH filter holds it, else 0. */
static __always_inline __u32 faultc_file_region(struct task_struct *task, __u64 page, __u64 *offset)
{
	__u32 i, nr_files = FAULTC_READ_ONCE(faultc_live.nr_files);
	struct faultc_vma_info v = {};

	if (!nr_files || bpf_find_vma(task, page, faultc_vma_found, &v, 0) || !v.ino)
		return 0;
	for (i = 0; i < FAULTC_MAX_FILES && i < nr_files; i++) {
		__u32 key = i;
		struct faultc_file *f = bpf_map_lookup_elem(&faultc_files, &key);

		if (f && f->dev == v.dev && f->ino == v.ino && f->region < FAULTC_MAX_REGIONS) {
			*offset = page - v.start + (v.pgoff << 12);
			return f->region + 1;
		}
	}
	return 0;
}

/* Region + 1 and offset of a page in a [heap], [stack] or file filter, or 0. */
static __always_inline __u32 faultc_vma_region(__u32 tgid, __u64 page, __u64 *offset)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct mm_struct *mm = task->mm;
	__u32 placed;

	if (!mm)
		return 0;
	if (faultc_cfg.heap_region) {
		placed = faultc_heap_region(mm, page, offset);
		if (placed)
			return placed;
	}
	if (faultc_cfg.stack_region) {
		placed = faultc_stack_region(task, mm, tgid, page, offset);
		if (placed)
			return placed;
	}
	return faultc_file_region(task, page, offset);
}

/* Region of a page in the live ranges, or FAULTC_MAX_REGIONS. */
static __always_inline __u32 faultc_range_region(__u64 page, __u64 *offset)
{
	__u32 nr = FAULTC_READ_ONCE(faultc_live.nr_ranges), key = 0;
	struct faultc_lookup lk = {};
	struct faultc_range *r;

	if (nr > FAULTC_MAX_RANGES)
		nr = FAULTC_MAX_RANGES;
	/* The common case, one range, without a loop. */
	r = nr ? bpf_map_lookup_elem(&faultc_ranges, &key) : NULL;
	if (r && page >= r->start && page < r->end) {
		*offset = page - r->start + r->base;
		return r->region;
	}
	if (nr <= 1)
		return FAULTC_MAX_REGIONS;
	lk.address = page;
	/* bpf_loop: the verifier checks the callback once, whatever nr is. */
	bpf_loop(nr - 1, faultc_match_range, &lk, 0);
	if (!lk.found)
		return FAULTC_MAX_REGIONS;
	*offset = lk.offset;
	return lk.region;
}

static __always_inline void faultc_count_lost(void)
{
	__u32 zero = 0;
	__u64 *lost = bpf_map_lookup_elem(&faultc_lost, &zero);

	if (lost)
		*lost += 1;
}

/* A name record: tgid is now called by the current task's comm. */
static __always_inline void faultc_send_name(__u32 tgid)
{
	struct faultc_event *ev = bpf_ringbuf_reserve(&faultc_events, sizeof(*ev), 0);

	if (!ev) {
		faultc_count_lost();
		return;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->time_ns = bpf_ktime_get_ns();
	ev->pid = tgid;
	ev->tid = (__u32)bpf_get_current_pid_tgid();
	ev->handler = FAULTC_NAME_RECORD;
	/* address and offset are adjacent: 16 bytes, the size of a comm. */
	bpf_get_current_comm(&ev->address, 16);
	bpf_ringbuf_submit(ev, 0);
}

/* What a fault is reported with: the policy's view of it, or the bare fault. */
struct faultc_report {
	__u32 action;
	__u32 pages;
	__u32 error;
};

#ifdef FAULTC_TRACE_DECIDE
/* Asks the policy; 0 to report the fault, -1 to drop it. */
static __always_inline int faultc_ask_policy(__u64 page, __u64 offset, __u32 region, __u32 handler,
					     __u64 error_code, struct faultc_report *rep)
{
	struct faultc_fault in = {};
	struct faultc_decision out = {};
	int i;

	in.offset = offset;
	in.address = page;
	in.region = region;
	in.handler = handler;
	in.write = (error_code & FAULTC_PF_WRITE) ? 1 : 0;
	for (i = 0; i < FAULTC_MAX_SOURCES; i++)
		in.source_size[i] = faultc_cfg.source_size[i];
	if (FAULTC_TRACE_DECIDE(&in, &out) != 0)
		return -1;
	if (faultc_cfg.mode == FAULTC_MODE_NOTIFY && !(out.flags & FAULTC_F_NOTIFY))
		return -1;
	/* What the policy would do: the trace engine itself resolves nothing. */
	rep->action = out.action;
	if (out.prefetch_pages < 4096)
		rep->pages = 1 + out.prefetch_pages;
	if (out.flags & FAULTC_F_ERROR)
		rep->error = out.error;
	return 0;
}
#endif

static __always_inline void faultc_on_fault(__u64 address, __u64 error_code, __u32 kernel_mode)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct faultc_report rep = { FAULTC_ACT_NONE, 1, FAULTC_ERR_NONE };
	__u32 region = FAULTC_MAX_REGIONS, handler;
	__u64 page, offset = 0, *count;
	struct faultc_event *ev;
	long wake;
	__u8 *target = bpf_map_lookup_elem(&faultc_targets, &tgid);

	if (!target || *target != FAULTC_TARGET_TRACED)
		return;
	if ((error_code & FAULTC_PF_PROT) && !(faultc_cfg.flags & FAULTC_TF_PROT))
		return;
	page = address & ~(FAULTC_PAGE_SIZE - 1);
	if (faultc_cfg.heap_region || faultc_cfg.stack_region || FAULTC_READ_ONCE(faultc_live.nr_files)) {
		__u32 placed = faultc_vma_region(tgid, page, &offset);

		if (placed)
			region = placed - 1;
	}
	if (region == FAULTC_MAX_REGIONS)
		region = faultc_range_region(page, &offset);
	if (region >= FAULTC_MAX_REGIONS)
		return;
	handler = (error_code & FAULTC_PF_PROT) ? FAULTC_ON_WRITE : FAULTC_ON_MISSING;

	count = bpf_map_lookup_elem(&faultc_counts, &region);
	if (count)
		*count += 1;

#ifdef FAULTC_TRACE_DECIDE
	if (faultc_ask_policy(page, offset, region, handler, error_code, &rep))
		return;
#endif

	ev = bpf_ringbuf_reserve(&faultc_events, sizeof(*ev), 0);
	if (!ev) {
		faultc_count_lost();
		return;
	}
	ev->time_ns = bpf_ktime_get_ns();
	ev->address = page;
	ev->offset = offset;
	ev->region = region;
	ev->pid = tgid;
	ev->tid = (__u32)pid_tgid;
	ev->handler = handler;
	ev->write = ((error_code & FAULTC_PF_WRITE) ? FAULTC_EV_WRITE : 0) |
		    (kernel_mode ? FAULTC_EV_KERNEL_MODE : 0);
	ev->action = rep.action;
	ev->pages = rep.pages;
	ev->error = rep.error;
	wake = bpf_ringbuf_query(&faultc_events, BPF_RB_AVAIL_DATA) >= faultc_cfg.wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(ev, wake);
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(faultc_fault_user, unsigned long address, void *regs, unsigned long error_code)
{
	faultc_on_fault(address, error_code, 0);
	return 0;
}

/* Faults the kernel takes on user memory (copy_to_user into an untouched page). */
SEC("tp_btf/page_fault_kernel")
int BPF_PROG(faultc_fault_kernel, unsigned long address, void *regs, unsigned long error_code)
{
	if (faultc_cfg.flags & FAULTC_TF_KERNEL)
		faultc_on_fault(address, error_code, 1);
	return 0;
}

/* Children of a traced process are traced from their first instruction. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(faultc_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, child_tgid;
	__u8 one = FAULTC_TARGET_TRACED;
	__u8 *target;

	if (!(faultc_cfg.flags & FAULTC_TF_FOLLOW))
		return 0;
	target = bpf_map_lookup_elem(&faultc_targets, &tgid);
	if (!target || *target != FAULTC_TARGET_TRACED)
		return 0;
	child_tgid = child->tgid;
	if (child_tgid != tgid && !bpf_map_update_elem(&faultc_targets, &child_tgid, &one, BPF_NOEXIST))
		faultc_send_name(child_tgid);
	return 0;
}

/*
 * A command is traced from its exec on: its launcher (which waits for tracing
 * to be in place, then execs it) is a target "at exec" whose own faults are
 * not reported. Every exec of a traced process names it anew.
 */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(faultc_exec, struct task_struct *p, int old_pid, void *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u8 traced = FAULTC_TARGET_TRACED;
	__u8 *target = bpf_map_lookup_elem(&faultc_targets, &tgid);

	if (!target)
		return 0;
	if (*target == FAULTC_TARGET_AT_EXEC)
		bpf_map_update_elem(&faultc_targets, &tgid, &traced, BPF_EXIST);
	/* A new program, a new stack. */
	bpf_map_delete_elem(&faultc_stack_top, &tgid);
	faultc_send_name(tgid);
	return 0;
}
