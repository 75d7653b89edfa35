// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel engine's native side: load a policy's fault-hook program, map
 * its regions, attach the program to each with prctl(PR_FAULT_POLICY), read
 * its ring buffer and counters. Missing pages never come here: the faulting
 * thread runs the program in the kernel and the kernel fills the page.
 *
 * What the hook hands to user space -- first writes to pages of a region with
 * `on write` rules (the hook installs their pages write-protected) and
 * deferred pages -- goes to a userfaultfd engine (native/src/uffd/) watching
 * those regions, whose handlers run the same rules on the host.
 *
 * An http source has no file the kernel could read: the kernel gets a sparse
 * memfd of the source's size in its place (so the program sees the right
 * size), and the program turns every copy from it into a defer (the
 * faultc_remote map), which the uffd engine serves as it would on its own:
 * one range GET per run of pages, its events and its counters.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpf_loader.h"
#include "common/compat.h"
#include "common/error.h"
#include "common/source_file.h"
#include "fault_policy_uapi.h"
#include "kernel_engine.h"
#include "kernel_sets.h"
#include "uffd_engine.h"
#include "uffd/source_http.h"
/* Generated at the addon's build from fault_base.bpf.c (native/bpf/subskel.sh). */
#include "fault.subskel.h"

/*
 * The fault program hands the hook faultc's decision as it is
 * (codegen/fault-bpf.ts): faultc's action and prefetch codes are the hook's.
 */
#define FK_SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(FK_SAME(FAULTC_ACT_NONE, BPF_PAGE_FAULT_DEFAULT) && FK_SAME(FAULTC_ACT_ZERO, BPF_PAGE_FAULT_ZERO) &&
		       FK_SAME(FAULTC_ACT_FILL, BPF_PAGE_FAULT_FILL) && FK_SAME(FAULTC_ACT_COPY, BPF_PAGE_FAULT_COPY) &&
		       FK_SAME(FAULTC_ACT_SIGBUS, BPF_PAGE_FAULT_SIGBUS) && FK_SAME(FAULTC_ACT_DEFER, BPF_PAGE_FAULT_DEFER),
	       "faultc actions are the hook's");
_Static_assert(FK_SAME(FAULTC_PREFETCH_AHEAD, BPF_PAGE_FAULT_AHEAD) && FK_SAME(FAULTC_PREFETCH_BEHIND, BPF_PAGE_FAULT_BEHIND) &&
		       FK_SAME(FAULTC_PREFETCH_AROUND, BPF_PAGE_FAULT_AROUND) && FK_SAME(FAULTC_PREFETCH_BLOCK, BPF_PAGE_FAULT_BLOCK),
	       "faultc prefetch directions are the hook's");

struct fk_region {
	void *addr;
	uint64_t size;
	uint32_t index;
	int watch; /* slot in the engine's uffd engine, or -1 */
	struct fc_set_bits host_sets; /* the watcher's copy of the region's sets */
};

struct fk_engine {
	struct bpf_object *obj;
	/* fault.bpf.c's program, maps and globals in obj, by field. */
	struct faultc_fault_bpf *skel;
	__u32 ringbuf_bytes; /* set before load */
	int prog_fd;
	int counts_fd;
	struct ring_buffer *rb;
	int source_fd[FAULTC_MAX_SOURCES];
	unsigned nr_sources;
	uint32_t nr_regions;
	int ncpus;
	struct fk_region region[FK_MAX_REGIONS];
	int nr_slots;
	/* the poll in progress */
	fk_event_fn fn;
	void *fn_ctx;
	int seen;
	/* first writes and deferred pages: a uffd engine, opened on demand */
	struct fc_engine *watcher;
	char *decide_path;
	char *source_path[FAULTC_MAX_SOURCES];
	uint32_t remote; /* bit i: source i is an http source */
	/* the `defer` handler, handed to the watcher when it opens */
	fc_defer_notify_fn defer_notify;
	void *defer_ctx;
	unsigned defer_deadline_ms;
	unsigned http_deadline_ms;
	unsigned nr_threads;
	/* run-time sets: the program's maps (mapped here), and the watcher's bitmaps */
	struct fk_sets sets;
	struct fc_set_table host_sets;
};

int fk_hook_version(void)
{
	int v = prctl(PR_FAULT_POLICY, PR_FAULT_POLICY_VERSION, 0, 0, 0);

	return v < 0 ? -errno : v;
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct fk_engine *e = ctx;

	const struct faultc_event *ev = data;

	if (size < sizeof(struct faultc_event))
		return 0;
	/*
	 * A page the program deferred to the watcher (a `defer` rule, a copy
	 * from an http source): the watcher reports it once resolved, with the
	 * pages it installed or its failure, as the uffd engine does.
	 */
	if (e->watcher && ev->handler == FAULTC_ON_MISSING && ev->action == FAULTC_ACT_DEFER)
		return 0;
	e->seen++;
	if (e->fn)
		e->fn(e->fn_ctx, data);
	return 0;
}

static struct fc_engine *watcher(struct fk_engine *e, char *err, size_t errlen, int *rc);

/*
 * The http sources: the uffd engine opens them (size and version pinned by
 * one range GET), the kernel gets a sparse memfd of that size for each, and
 * the program learns which sources are remote. 0 or a negative errno.
 */
static int open_remote(struct fk_engine *e, char *err, size_t errlen)
{
	uint32_t key = 0;
	int rc = 0;

	if (!watcher(e, err, errlen, &rc))
		return rc ? rc : -EIO;
	for (unsigned i = 0; i < e->nr_sources; i++) {
		if (!(e->remote & (1u << i)))
			continue;
		e->source_fd[i] = memfd_create("faultc-http-source", MFD_CLOEXEC);
		if (e->source_fd[i] < 0 ||
		    ftruncate(e->source_fd[i], (off_t)fc_engine_source_size(e->watcher, i)) < 0) {
			rc = -errno;
			set_err(err, errlen, "cannot stand in for http source %u: %s", i, strerror(-rc));
			return rc;
		}
	}
	if (bpf_map_update_elem(bpf_map__fd(e->skel->maps.faultc_remote), &key, &e->remote, BPF_ANY) < 0) {
		rc = -errno;
		set_err(err, errlen, "cannot tell the program its http sources: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

/*
 * Binds fault.bpf.c's subskeleton in the object just opened (a policy's
 * object holds it, and the policy's own maps) and sizes the ring buffer.
 */
static int fault_before_load(struct bpf_object *obj, void *ctx, char *log, size_t log_sz)
{
	struct fk_engine *e = ctx;

	e->skel = faultc_fault_bpf__open(obj);
	if (!e->skel) {
		snprintf(log, log_sz, "not a faultc fault-hook object, or one compiled by another faultc: compile the policy again\n");
		return -EINVAL;
	}
	if (e->ringbuf_bytes)
		return bpf_map__set_max_entries(e->skel->maps.faultc_events, e->ringbuf_bytes);
	return 0;
}

struct fk_engine *fk_engine_open(const struct fk_engine_opts *opts, char *err,
				 size_t errlen, int *err_no)
{
	struct faultc_bpf_load_opts lo = {
		.prog_type = FAULTC_BPF_PROG_TYPE_PAGE_FAULT,
		.before_load = fault_before_load,
	};
	struct fk_engine *e;
	char log[16384];
	int rc;

	*err_no = 0;
	rc = fk_hook_version();
	if (rc < 0) {
		*err_no = rc == -EINVAL ? ENOTSUP : -rc;
		set_err(err, errlen, "this kernel has no faultc fault hook (prctl PR_FAULT_POLICY: %s)%s",
			strerror(-rc), rc == -EINVAL ? "; boot the kernel built from kernel/" : "");
		return NULL;
	}
	if (opts->nr_sources > FAULTC_MAX_SOURCES || opts->nr_regions > FK_MAX_REGIONS) {
		*err_no = EINVAL;
		set_err(err, errlen, "too many sources or regions");
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		*err_no = ENOMEM;
		return NULL;
	}
	for (unsigned i = 0; i < FAULTC_MAX_SOURCES; i++)
		e->source_fd[i] = -1;
	if (opts->decide_path) {
		e->decide_path = strdup(opts->decide_path);
		if (!e->decide_path) {
			*err_no = ENOMEM;
			goto fail;
		}
	}
	e->nr_regions = opts->nr_regions;
	e->ncpus = libbpf_num_possible_cpus();
	e->ringbuf_bytes = opts->ringbuf_bytes;
	lo.ctx = e;

	rc = faultc_bpf_load_opts(opts->object_path, &lo, log, sizeof(log), &e->obj);
	if (rc < 0) {
		*err_no = -rc;
		if (-rc == EPERM || -rc == EACCES)
			set_err(err, errlen, "loading %s needs CAP_BPF: %s", opts->object_path, log);
		else if (!e->skel)
			set_err(err, errlen, "%s: %s", opts->object_path, log);
		else
			set_err(err, errlen, "the verifier refused %s:\n%s", opts->object_path, log);
		goto fail;
	}
	rc = faultc_bpf_map_globals(e->obj);
	if (rc < 0) {
		*err_no = -rc;
		set_err(err, errlen, "cannot map the globals of %s: %s", opts->object_path, strerror(-rc));
		goto fail;
	}
	e->prog_fd = bpf_program__fd(e->skel->progs.faultc_fault);
	/* The policy's run-time sets vary per policy: found by name (kernel_sets.c). */
	rc = fk_sets_open(&e->sets, e->obj, e->nr_regions, err, errlen);
	if (rc < 0) {
		*err_no = -rc;
		goto fail;
	}
	e->counts_fd = bpf_map__fd(e->skel->maps.faultc_counts);
	e->rb = ring_buffer__new(bpf_map__fd(e->skel->maps.faultc_events), on_sample, e, NULL);
	if (!e->rb) {
		*err_no = errno ? errno : ENOMEM;
		set_err(err, errlen, "cannot open the ring buffer of %s", opts->object_path);
		goto fail;
	}
	e->http_deadline_ms = opts->http_deadline_ms;
	e->nr_threads = opts->nr_threads;
	for (unsigned i = 0; i < opts->nr_sources; i++) {
		e->source_path[i] = strdup(opts->source_paths[i]);
		if (!e->source_path[i]) {
			*err_no = ENOMEM;
			goto fail;
		}
		e->nr_sources = i + 1;
		if (fc_http_is_url(opts->source_paths[i])) {
			e->remote |= 1u << i;
			continue;
		}
		struct stat st;

		e->source_fd[i] = open_source_file(opts->source_paths[i], &st, err, errlen);
		if (e->source_fd[i] < 0) {
			*err_no = -e->source_fd[i];
			goto fail;
		}
	}
	if (e->remote) {
		rc = open_remote(e, err, errlen);
		if (rc < 0) {
			*err_no = -rc;
			goto fail;
		}
	}
	return e;
fail:
	fk_engine_close(e);
	return NULL;
}

/*
 * The uffd engine that takes what the hook hands to user space, opened at the
 * first region that needs it: its handlers run the policy's host decision
 * library, so a first write or a deferred page is resolved exactly as on the
 * uffd engine (a deferred page starts as zeros).
 */
static struct fc_engine *watcher(struct fk_engine *e, char *err, size_t errlen, int *rc)
{
	struct fc_engine_opts o = {
		.decide_path = e->decide_path,
		.nr_sources = e->nr_sources,
		.nr_threads = e->nr_threads,
		.http_deadline_ms = e->http_deadline_ms,
	};
	int err_no = 0;

	if (e->watcher)
		return e->watcher;
	if (!e->decide_path) {
		set_err(err, errlen, "`on write` rules, defer and http sources need the policy's decision library");
		*rc = -EINVAL;
		return NULL;
	}
	for (unsigned i = 0; i < e->nr_sources; i++)
		o.source_paths[i] = e->source_path[i];
	e->watcher = fc_engine_open(&o, err, errlen, &err_no);
	if (!e->watcher) {
		*rc = -err_no;
		return NULL;
	}
	if (e->defer_notify)
		fc_engine_set_defer(e->watcher, e->defer_notify, e->defer_ctx, e->defer_deadline_ms);
	/* Its handlers run the host decision library: the sets go there too. */
	*rc = fc_set_table_bind(&e->host_sets, e->decide_path, e->sets.nr_sets,
				e->nr_regions, err, errlen);
	if (*rc < 0) {
		fc_engine_close(e->watcher);
		e->watcher = NULL;
	}
	return e->watcher;
}

void fk_engine_set_defer(struct fk_engine *e, fc_defer_notify_fn notify, void *ctx,
			 unsigned deadline_ms)
{
	e->defer_notify = notify;
	e->defer_ctx = ctx;
	e->defer_deadline_ms = deadline_ms;
	if (e->watcher)
		fc_engine_set_defer(e->watcher, notify, ctx, deadline_ms);
}

size_t fk_engine_defer_take(struct fk_engine *e, struct fc_defer_request *out, size_t max)
{
	return e->watcher ? fc_engine_defer_take(e->watcher, out, max) : 0;
}

int fk_engine_defer_reply(struct fk_engine *e, uint64_t id, uint32_t kind,
			  const uint8_t *bytes, size_t len)
{
	return e->watcher ? fc_engine_defer_reply(e->watcher, id, kind, bytes, len) : -ENOENT;
}

int fk_engine_http_stats(struct fk_engine *e, unsigned source, struct fc_http_stats *out)
{
	return e->watcher ? fc_engine_http_stats(e->watcher, source, out) : -ENOENT;
}

/*
 * prctl(PR_FAULT_POLICY_ATTACH) of the program and the sources to
 * [addr, addr + size): in this process, or in pidfd's when pidfd >= 0.
 */
static int attach(struct fk_engine *e, uint32_t policy_region, uint64_t addr,
		  uint64_t size, int pidfd, char *err, size_t errlen)
{
	struct prctl_fault_policy a = {
		.prog_fd = (__u32)e->prog_fd,
		.region = policy_region,
		.nr_sources = e->nr_sources,
		.flags = pidfd >= 0 ? PR_FAULT_POLICY_F_PIDFD : 0,
		.pidfd = pidfd,
	};
	int rc;

	for (unsigned i = 0; i < e->nr_sources; i++)
		a.source_fd[i] = e->source_fd[i];
	if (prctl(PR_FAULT_POLICY, PR_FAULT_POLICY_ATTACH, (unsigned long)addr, size,
		  (unsigned long)&a) == 0)
		return 0;
	rc = -errno;
	if (rc == -EPERM)
		set_err(err, errlen, "attaching a fault program needs CAP_BPF%s (run as root or grant cap_bpf)",
			pidfd >= 0 ? " and the right to ptrace the process" : "");
	else
		set_err(err, errlen, "cannot attach the fault program: %s", strerror(-rc));
	return rc;
}

#define FK_HUGE_SIZE (2ull << 20)

/* Anonymous memory at a 2 MiB boundary: a larger mapping, trimmed. */
static void *map_huge_aligned(uint64_t size, int mflags)
{
	char *p = mmap(NULL, size + FK_HUGE_SIZE, PROT_READ | PROT_WRITE, mflags, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		return p;
	a = (char *)(((uintptr_t)p + FK_HUGE_SIZE - 1) & ~(uintptr_t)(FK_HUGE_SIZE - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	munmap(a + size, (size_t)(p + FK_HUGE_SIZE - a));
	/* Without THP in the kernel this fails: pages are installed one by one. */
	madvise(a, size, MADV_HUGEPAGE);
	return a;
}

int fk_engine_add_region(struct fk_engine *e, uint32_t policy_region, uint64_t size,
			 uint64_t at, uint32_t flags, char *err, size_t errlen)
{
	int mflags = MAP_PRIVATE | MAP_NORESERVE;
	int fd = -1;
	void *addr;
	int rc;

	if (e->nr_slots >= FK_MAX_REGIONS) {
		set_err(err, errlen, "too many regions");
		return -ENOSPC;
	}
	if (!size || size % FAULTC_PAGE_SIZE || at % FAULTC_PAGE_SIZE) {
		set_err(err, errlen, "region size and address must be whole pages");
		return -EINVAL;
	}
	if (FK_REGION_MAPS_SOURCE(flags)) {
		if (FK_REGION_SOURCE(flags) >= e->nr_sources ||
		    (flags & (FK_REGION_DEFER | FK_REGION_WRITES))) {
			set_err(err, errlen, "a region mapped from a source has no defer or `on write` rules");
			return -EINVAL;
		}
		if (e->remote & (1u << FK_REGION_SOURCE(flags))) {
			set_err(err, errlen, "a region cannot be mapped from an http source");
			return -EINVAL;
		}
		fd = e->source_fd[FK_REGION_SOURCE(flags)];
	} else {
		mflags |= MAP_ANONYMOUS;
	}
	if (at)
		mflags |= MAP_FIXED_NOREPLACE;
	if ((flags & FK_REGION_HUGE) && !FK_REGION_MAPS_SOURCE(flags) && !at)
		addr = map_huge_aligned(size, mflags);
	else
		addr = mmap((void *)(uintptr_t)at, size, PROT_READ | PROT_WRITE, mflags, fd, 0);
	if (addr != MAP_FAILED && (flags & FK_REGION_HUGE) && at)
		madvise(addr, size, MADV_HUGEPAGE);
	if (addr == MAP_FAILED) {
		rc = -errno;
		set_err(err, errlen, "cannot map the region: %s%s", strerror(-rc),
			rc == -EEXIST ? " (its fixed address is taken)" : "");
		return rc;
	}
	if (at && addr != (void *)(uintptr_t)at) {
		/* Kernels before 4.17 ignore MAP_FIXED_NOREPLACE. */
		munmap(addr, size);
		set_err(err, errlen, "the region's fixed address is taken");
		return -EEXIST;
	}
	int watch = -1;
	struct fc_set_bits host_sets = { 0 };

	/* Any region may copy from an http source: those copies are defers. */
	if (e->remote)
		flags |= FK_REGION_DEFER;
	if (flags & (FK_REGION_DEFER | FK_REGION_WRITES)) {
		struct fc_engine *w = watcher(e, err, errlen, &rc);
		unsigned mode = ((flags & FK_REGION_DEFER) ? FC_WATCH_MISSING : 0) |
				((flags & FK_REGION_WRITES) ? FC_WATCH_WRITES : 0);

		if (w) {
			rc = fc_set_bits_publish(&host_sets, &e->host_sets, policy_region,
						 size / FAULTC_PAGE_SIZE);
			if (rc < 0)
				set_err(err, errlen, "cannot publish the region's run-time sets: %s%s",
					strerror(-rc), rc == -EBUSY ? " (another open instance of the policy holds them)" : "");
		}
		/* Registered before the attach: no page is ever installed unprotected. */
		watch = w && rc >= 0 ? fc_engine_watch_region(w, policy_region, addr, size, mode, err, errlen) : rc;
		if (watch < 0) {
			if (w)
				fc_set_bits_withdraw(&e->host_sets, policy_region);
			fc_set_bits_unmap(&host_sets);
			munmap(addr, size);
			return watch;
		}
	}
	rc = attach(e, policy_region, (uintptr_t)addr, size, -1, err, errlen);
	if (rc < 0) {
		if (host_sets.nr_sets)
			fc_set_bits_withdraw(&e->host_sets, policy_region);
		fc_set_bits_unmap(&host_sets);
		munmap(addr, size);
		return rc;
	}
	e->region[e->nr_slots] = (struct fk_region){ addr, size, policy_region, watch, host_sets };
	return e->nr_slots++;
}

int fk_engine_attach_process(struct fk_engine *e, uint32_t policy_region, int pid,
			     uint64_t addr, uint64_t size, char *err, size_t errlen)
{
	int pidfd, rc;

	if (policy_region >= e->nr_regions) {
		set_err(err, errlen, "no region %u in this policy", policy_region);
		return -EINVAL;
	}
	if (e->remote) {
		set_err(err, errlen, "http sources are fetched by this process's handlers: they cannot serve another process's memory");
		return -EINVAL;
	}
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		rc = -errno;
		set_err(err, errlen, "cannot open process %d: %s", pid, strerror(-rc));
		return rc;
	}
	rc = attach(e, policy_region, addr, size, pidfd, err, errlen);
	close(pidfd);
	return rc;
}

void *fk_region_addr(struct fk_engine *e, int slot)
{
	return slot >= 0 && slot < e->nr_slots ? e->region[slot].addr : NULL;
}

uint64_t fk_region_size(struct fk_engine *e, int slot)
{
	return slot >= 0 && slot < e->nr_slots ? e->region[slot].size : 0;
}

uint32_t fk_region_index(struct fk_engine *e, int slot)
{
	return slot >= 0 && slot < e->nr_slots ? e->region[slot].index : 0;
}

/* Region policy_region's pages in the set maps; false for a bad set or region. */
static bool set_view(struct fk_engine *e, uint32_t policy_region, int set, struct fc_set_bits *view)
{
	if (set < 0 || (unsigned)set >= e->sets.nr_sets || !e->sets.words[set] ||
	    policy_region >= e->nr_regions)
		return false;
	fk_sets_view(&e->sets, policy_region, view);
	return true;
}

int fk_engine_set_change(struct fk_engine *e, uint32_t policy_region, int set, uint64_t first,
			 uint64_t n, bool on, char *err, size_t errlen)
{
	struct fc_set_bits view;
	int rc;

	if (!set_view(e, policy_region, set, &view)) {
		set_err(err, errlen, "no set %d or region %u in this policy", set, policy_region);
		return -EINVAL;
	}
	for (int i = 0; i < e->nr_slots; i++) {
		if (e->region[i].index == policy_region &&
		    (first > e->region[i].size / FAULTC_PAGE_SIZE ||
		     n > e->region[i].size / FAULTC_PAGE_SIZE - first)) {
			set_err(err, errlen, "pages past the region's end");
			return -ERANGE;
		}
	}
	rc = fc_set_bits_change(&view, set, first, n, on);
	if (rc < 0) {
		set_err(err, errlen, "pages past the %llu pages a region has in the set's map",
			(unsigned long long)view.pages);
		return rc;
	}
	for (int i = 0; i < e->nr_slots; i++)
		if (e->region[i].index == policy_region && e->region[i].host_sets.nr_sets)
			fc_set_bits_change(&e->region[i].host_sets, set, first, n, on);
	return 0;
}

int fk_engine_set_test(struct fk_engine *e, uint32_t policy_region, int set, uint64_t page)
{
	struct fc_set_bits view;

	if (!set_view(e, policy_region, set, &view))
		return -EINVAL;
	return fc_set_bits_test(&view, set, page);
}

int fk_engine_counts(struct fk_engine *e, uint32_t policy_region, struct faultc_counts *out)
{
	struct faultc_counts *percpu;

	memset(out, 0, sizeof(*out));
	if (policy_region >= e->nr_regions || e->ncpus <= 0)
		return -EINVAL;
	percpu = calloc((size_t)e->ncpus, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(e->counts_fd, &policy_region, percpu) == 0) {
		for (int c = 0; c < e->ncpus; c++) {
			out->faults += percpu[c].faults;
			out->zero += percpu[c].zero;
			out->fill += percpu[c].fill;
			out->copy += percpu[c].copy;
			out->sigbus += percpu[c].sigbus;
			out->defer += percpu[c].defer;
			out->prefetch += percpu[c].prefetch;
			out->errors += percpu[c].errors;
		}
	}
	free(percpu);
	return 0;
}

static struct fk_region *watched(struct fk_engine *e, int slot)
{
	if (slot < 0 || slot >= e->nr_slots || e->region[slot].watch < 0 || !e->watcher)
		return NULL;
	return &e->region[slot];
}

int fk_region_writes(struct fk_engine *e, int slot, struct fk_write_stats *out)
{
	struct fk_region *r = watched(e, slot);
	struct fc_region_stats st;

	memset(out, 0, sizeof(*out));
	if (!r || fc_region_stats(e->watcher, r->watch, &st) < 0)
		return 0;
	out->write_faults = st.write_faults;
	out->sigbus = st.sigbus;
	out->errors = st.errors;
	/* The program defers no other copies than those from http sources. */
	out->copy = st.copy;
	out->prefetch = st.prefetch;
	return 0;
}

size_t fk_region_dirty(struct fk_engine *e, int slot, uint64_t *pages, size_t max)
{
	struct fk_region *r = watched(e, slot);

	if (!r)
		return 0;
	/* A write being handled has its bit set before its thread goes on. */
	fc_engine_settle(e->watcher, 20);
	return fc_region_dirty(e->watcher, r->watch, pages, max);
}

int fk_region_reset_dirty(struct fk_engine *e, int slot)
{
	struct fk_region *r = watched(e, slot);

	return r ? fc_region_reset_dirty(e->watcher, r->watch) : 0;
}

uint64_t fk_engine_lost(struct fk_engine *e)
{
	return __atomic_load_n(e->skel->bss.faultc_lost, __ATOMIC_RELAXED);
}

int fk_engine_poll(struct fk_engine *e, int timeout_ms, fk_event_fn fn, void *ctx)
{
	int rc;

	e->fn = fn;
	e->fn_ctx = ctx;
	e->seen = 0;
	rc = ring_buffer__poll(e->rb, timeout_ms);
	e->fn = NULL;
	if (rc < 0 && rc != -EINTR)
		return rc;
	if (e->watcher) {
		struct faultc_event ev[64];
		size_t n;

		do {
			n = fc_engine_drain_events(e->watcher, ev, 64);
			/* Missing pages here are the ones the program deferred (on_sample). */
			for (size_t i = 0; i < n; i++) {
				e->seen++;
				if (fn)
					fn(ctx, &ev[i]);
			}
		} while (n == 64);
	}
	return e->seen;
}

void fk_engine_close(struct fk_engine *e)
{
	if (!e)
		return;
	/* Resolves what its handlers hold, unregisters (waking any fault left). */
	for (int i = 0; i < e->nr_slots; i++)
		if (e->region[i].host_sets.nr_sets)
			fc_set_bits_withdraw(&e->host_sets, e->region[i].index);
	if (e->watcher)
		fc_engine_close(e->watcher);
	for (int i = 0; i < e->nr_slots; i++)
		fc_set_bits_unmap(&e->region[i].host_sets);
	/* munmap drops each VMA's reference to the program and the sources. */
	for (int i = 0; i < e->nr_slots; i++)
		munmap(e->region[i].addr, e->region[i].size);
	fk_sets_close(&e->sets);
	if (e->rb)
		ring_buffer__free(e->rb);
	for (unsigned i = 0; i < FAULTC_MAX_SOURCES; i++) {
		if (e->source_fd[i] >= 0)
			close(e->source_fd[i]);
		free(e->source_path[i]);
	}
	free(e->decide_path);
	faultc_fault_bpf__destroy(e->skel);
	if (e->obj)
		bpf_object__close(e->obj);
	free(e);
}
