// SPDX-License-Identifier: GPL-2.0
/*
 * The userfaultfd engine (see native/include/uffd_engine.h and
 * docs/uffd-engine.md).
 *
 * Threads: nr_threads handler threads (default: one per online CPU) all read
 * the engine's single userfaultfd. A fault wakes one idle handler (each
 * sleeps in its own epoll set holding the uffd with EPOLLEXCLUSIVE), which
 * resolves it with its own buffers, so faults from several threads are
 * resolved in parallel and never queue behind one busy handler. A handler
 * moves to the CPU of the thread it serves, so a fault's two hand-offs stay
 * on one CPU.
 *
 * Every fault address is checked against the engine's regions before
 * anything else; a message outside them is counted and dropped.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/userfaultfd.h>

#include "cpu_latency.h"
#include "uffd_engine.h"

/* Debian 12's uapi header is from 6.1: what later kernels added. */
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1ULL << 14)
#endif
#ifndef _UFFDIO_POISON
#define _UFFDIO_POISON (0x08)
struct uffdio_poison {
	struct uffdio_range range;
	__u64 mode;
	__s64 updated;
};
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PAGE FAULTC_PAGE_SIZE
/* install_batch(): set in its result when the source could not be read
 * (or mapped): the rest of the batch goes through the copy path. */
#define FC_INSTALL_EFAULT 0x80000000u
/* Source page cache is mapped into the engine in chunks this big. */
#define FC_POPULATE_CHUNK (1024 * 1024ull)
#define EVENT_QUEUE_CAP 65536
#define MSG_BATCH 8

typedef int (*fc_decide_fn)(const struct faultc_fault *, struct faultc_decision *);
typedef unsigned (*fc_abi_fn)(void);

struct fc_region {
	uint64_t start;
	uint64_t end;
	uint64_t size;
	uint32_t policy_region;
	bool wp;
	bool owned;		/* mapped by this engine, unmapped by it */
	/*
	 * [start, minor_end) is a private mapping of source zc_source (tmpfs)
	 * registered for minor faults: its pages are mapped from the page
	 * cache with UFFDIO_CONTINUE (zero-copy). minor_end == start: none.
	 */
	uint64_t minor_end;
	uint32_t zc_source;
	/* Serialises dirty-bit + unprotect against resetDirty's clear + protect. */
	pthread_mutex_t dirty_lock;
	_Atomic uint64_t *dirty;	/* one bit per page */
	size_t dirty_words;
	struct {
		_Atomic uint64_t faults, zero, fill, copy, prefetch, sigbus,
			deferred, errors, write_faults, raced;
	} st;
};

/* One planned page of a resolution batch. */
struct fc_plan {
	uint32_t action;	/* zero, fill or copy */
	uint32_t fill_byte;
	uint32_t source;
	uint64_t source_offset;
};

struct fc_worker {
	struct fc_engine *e;
	pthread_t thread;
	int epfd;		/* the uffd (EPOLLEXCLUSIVE) and the stop eventfd */
	int cpu;		/* the CPU this handler is pinned to, or -1 */
	uint32_t last_tid;	/* the thread of the last fault handled */
	uint64_t handled;	/* fault messages handled */
	uint64_t seen_switches;	/* e->tid_switches at the last follow check */
	struct fc_region *last_region;	/* where the last fault was */
	uint8_t *buf;		/* FC_BATCH_PAGES page-aligned pages */
	struct fc_plan plan[FC_BATCH_PAGES];
};

struct fc_engine {
	int uffd;
	int stopfd;		/* eventfd: readable once close() has begun */
	uint64_t features;
	bool poison;		/* UFFDIO_POISON usable */
	bool zero_copy;		/* map tmpfs sources' pages (UFFDIO_CONTINUE) */
	pid_t pid;
	void *dl;
	fc_decide_fn decide;
	unsigned nr_sources;
	int source_fd[FAULTC_MAX_SOURCES];
	uint64_t source_size[FAULTC_MAX_SOURCES];
	uint8_t *source_map[FAULTC_MAX_SOURCES];	/* read-only page cache, or NULL */
	bool source_shmem[FAULTC_MAX_SOURCES];	/* on tmpfs: zero-copy possible */
	_Atomic uint64_t *source_populated[FAULTC_MAX_SOURCES];	/* bit per chunk mapped */

	struct fc_region regions[FC_MAX_REGIONS];
	_Atomic int nr_regions;	/* published after a region is complete */
	pthread_mutex_t region_lock;

	unsigned nr_threads;
	unsigned started;
	struct fc_worker *workers;
	_Atomic bool stopping;
	bool stopped;		/* fc_engine_stop() done: regions unmapped */
	_Atomic bool paused;
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	_Atomic uint64_t stray;	/* messages outside every region */
	_Atomic int busy;	/* handlers between reading a message and finishing it */
	bool follow;		/* handlers move to the CPU of the threads they serve */
	_Atomic uint32_t last_tid;	/* the thread of the last fault, any handler */
	_Atomic uint64_t tid_switches;	/* faults from another thread than the one before */
	cpu_set_t cpus;		/* where handlers may run when they follow no one */
	struct fc_cpu_latency latency;	/* held while faults stream */

	pthread_mutex_t ev_lock;
	struct faultc_event *ev;
	size_t ev_head, ev_len;
	bool ev_signalled;
	uint64_t ev_lost;
	void (*on_events)(void *ctx);
	void *ctx;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- events ------------------------------------------------------------ */

static void push_event(struct fc_engine *e, const struct fc_region *r,
		       uint64_t addr, uint32_t tid, uint32_t handler,
		       uint32_t write, uint32_t action, uint32_t pages,
		       uint32_t error)
{
	struct faultc_event ev = {
		.time_ns = now_ns(),
		.address = addr,
		.offset = addr - r->start,
		.region = r->policy_region,
		.pid = (uint32_t)e->pid,
		.tid = tid,
		.handler = handler,
		.write = write,
		.action = action,
		.pages = pages,
		.error = error,
	};
	bool call = false;

	pthread_mutex_lock(&e->ev_lock);
	if (e->ev_len == EVENT_QUEUE_CAP) {
		e->ev_lost++;
	} else {
		e->ev[(e->ev_head + e->ev_len) % EVENT_QUEUE_CAP] = ev;
		e->ev_len++;
		if (!e->ev_signalled) {
			e->ev_signalled = true;
			call = true;
		}
	}
	pthread_mutex_unlock(&e->ev_lock);
	if (call && e->on_events)
		e->on_events(e->ctx);
}

size_t fc_engine_drain_events(struct fc_engine *e, struct faultc_event *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&e->ev_lock);
	while (n < max && e->ev_len) {
		out[n++] = e->ev[e->ev_head];
		e->ev_head = (e->ev_head + 1) % EVENT_QUEUE_CAP;
		e->ev_len--;
	}
	/* Only an empty queue re-arms the callback. */
	if (!e->ev_len)
		e->ev_signalled = false;
	pthread_mutex_unlock(&e->ev_lock);
	return n;
}

uint64_t fc_engine_lost_events(struct fc_engine *e)
{
	uint64_t n;

	pthread_mutex_lock(&e->ev_lock);
	n = e->ev_lost;
	pthread_mutex_unlock(&e->ev_lock);
	return n;
}

/* ---- decisions --------------------------------------------------------- */

static void decide(struct fc_engine *e, const struct fc_region *r,
		   uint64_t addr, uint32_t handler, uint32_t write,
		   struct faultc_decision *d)
{
	struct faultc_fault in = {
		.offset = addr - r->start,
		.address = addr,
		.region = r->policy_region,
		.handler = handler,
		.write = write,
	};

	memcpy(in.source_size, e->source_size, sizeof(in.source_size));
	memset(d, 0, sizeof(*d));
	if (e->decide(&in, d) != 0) {
		/* The library does not know the region: never guess. */
		d->action = FAULTC_ACT_SIGBUS;
		d->flags = FAULTC_F_ERROR;
		d->error = FAULTC_ERR_NONE;
		return;
	}
	if (d->flags & FAULTC_F_ERROR)
		d->action = FAULTC_ACT_SIGBUS;
	if (d->action == FAULTC_ACT_COPY && d->source >= e->nr_sources) {
		d->action = FAULTC_ACT_SIGBUS;
		d->flags |= FAULTC_F_ERROR;
		d->error = FAULTC_ERR_SOURCE_READ;
	}
	if (d->action == FAULTC_ACT_COPY && (d->source_offset & (PAGE - 1))) {
		d->action = FAULTC_ACT_SIGBUS;
		d->flags |= FAULTC_F_ERROR;
		d->error = FAULTC_ERR_UNALIGNED_OFFSET;
	}
	if (d->action == FAULTC_ACT_COPY &&
	    d->source_offset >= e->source_size[d->source]) {
		/* Wholly past the end of the source: as with mmap of a file. */
		d->action = FAULTC_ACT_SIGBUS;
		d->flags |= FAULTC_F_ERROR;
		d->error = FAULTC_ERR_PAST_END;
	}
}

/* ---- resolving --------------------------------------------------------- */

/* The region holding addr, or NULL: nothing outside the regions is touched. */
static struct fc_region *find_region(struct fc_engine *e, struct fc_worker *w, uint64_t addr)
{
	int n = atomic_load_explicit(&e->nr_regions, memory_order_acquire);
	struct fc_region *r = w->last_region;

	/* Faults come in runs on one region: try the last one first. */
	if (r && addr >= r->start && addr < r->end)
		return r;
	for (int i = 0; i < n; i++) {
		r = &e->regions[i];
		if (addr >= r->start && addr < r->end) {
			w->last_region = r;
			return r;
		}
	}
	return NULL;
}

static void wake_page(struct fc_engine *e, uint64_t addr)
{
	struct uffdio_range range = { .start = addr, .len = PAGE };

	ioctl(e->uffd, UFFDIO_WAKE, &range);
}

/*
 * The faulting thread gets SIGBUS. A missing page is poisoned where the
 * kernel can (6.6+): the retried fault raises SIGBUS in that thread, and a
 * system call touching the page gets EFAULT. Otherwise, and always for a
 * present page (on write), the thread is signalled with tgkill(): its wait
 * in the fault is interruptible, so the signal ends it and is delivered on
 * the way back to user space. The page stays unresolved either way.
 */
static void deliver_sigbus(struct fc_engine *e, uint64_t addr, uint32_t tid, bool missing)
{
	if (missing && e->poison) {
		struct uffdio_poison p = { .range = { .start = addr, .len = PAGE } };

		if (ioctl(e->uffd, UFFDIO_POISON, &p) == 0 || errno == EEXIST) {
			if (errno == EEXIST)
				wake_page(e, addr);
			return;
		}
	}
	if (tid)
		syscall(SYS_tgkill, e->pid, tid, SIGBUS);
	wake_page(e, addr);
}

/* Reads len bytes at off; returns bytes read, or -errno. */
static ssize_t read_full(int fd, uint8_t *dst, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, dst + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static bool plannable(const struct faultc_decision *d)
{
	return !(d->flags & FAULTC_F_ERROR) &&
	       (d->action == FAULTC_ACT_ZERO || d->action == FAULTC_ACT_FILL ||
		d->action == FAULTC_ACT_COPY);
}

static void plan_from(struct fc_plan *p, const struct faultc_decision *d)
{
	p->action = d->action;
	p->fill_byte = d->fill_byte & 0xff;
	p->source = d->source;
	p->source_offset = d->source_offset;
}

/*
 * Fills buf for pages [0, n) of the plan. Contiguous copy pages of one source
 * at consecutive offsets are read with one pread. Returns 0, or -1 with the
 * index of the first page whose read failed in *bad and the error in *error.
 */
static int fill_batch(struct fc_engine *e, struct fc_worker *w, unsigned n,
		      unsigned *bad, uint32_t *error)
{
	unsigned i = 0;

	while (i < n) {
		const struct fc_plan *p = &w->plan[i];
		uint8_t *dst = w->buf + (size_t)i * PAGE;

		if (p->action != FAULTC_ACT_COPY) {
			memset(dst, p->action == FAULTC_ACT_FILL ? (int)p->fill_byte : 0, PAGE);
			i++;
			continue;
		}
		unsigned j = i + 1;

		while (j < n && w->plan[j].action == FAULTC_ACT_COPY &&
		       w->plan[j].source == p->source &&
		       w->plan[j].source_offset == p->source_offset + (uint64_t)(j - i) * PAGE)
			j++;
		uint64_t size = e->source_size[p->source];
		uint64_t want = (uint64_t)(j - i) * PAGE;

		if (p->source_offset + want > size)
			want = size - p->source_offset;	/* > 0: checked by decide() */
		ssize_t got = read_full(e->source_fd[p->source], dst, want, p->source_offset);

		if (got < 0 || (uint64_t)got < want) {
			/* The source shrank or failed: never hand out zeros instead. */
			*bad = i + (got > 0 ? (unsigned)((uint64_t)got / PAGE) : 0);
			*error = FAULTC_ERR_SOURCE_READ;
			return -1;
		}
		memset(dst + want, 0, (uint64_t)(j - i) * PAGE - want);
		i = j;
	}
	return 0;
}

/*
 * One UFFDIO_COPY of len bytes from src to dst, or with src NULL one
 * UFFDIO_CONTINUE (map the page-cache pages of a minor-fault range). Returns
 * 0 or an errno; *done is the number of bytes installed either way.
 */
static int fill_range(struct fc_engine *e, const struct fc_region *r, uint64_t dst,
		      const uint8_t *src, uint64_t len, bool dontwake, uint64_t *done)
{
	if (!src) {
		struct uffdio_continue c = {
			.range = { .start = dst, .len = len },
			.mode = dontwake ? UFFDIO_CONTINUE_MODE_DONTWAKE : 0,
		};

		if (ioctl(e->uffd, UFFDIO_CONTINUE, &c) == 0) {
			*done = len;
			return 0;
		}
		*done = c.mapped > 0 ? (uint64_t)c.mapped : 0;
		return errno;
	}
	struct uffdio_copy c = {
		.dst = dst,
		.src = (uint64_t)(uintptr_t)src,
		.len = len,
		.mode = (r->wp ? UFFDIO_COPY_MODE_WP : 0) |
			(dontwake ? UFFDIO_COPY_MODE_DONTWAKE : 0),
	};

	if (ioctl(e->uffd, UFFDIO_COPY, &c) == 0) {
		*done = len;
		return 0;
	}
	*done = c.copy > 0 ? (uint64_t)c.copy : 0;
	return errno;
}

/*
 * Installs pages [0, n) of the batch at addr with as few UFFDIO_COPY calls as
 * possible (src NULL: UFFDIO_CONTINUE of the page cache's own pages): one,
 * unless some pages are already present (EEXIST: another thread or a
 * prefetch got there first), which are skipped. Returns how many pages this
 * call installed; *fault_installed says whether the page at fault_idx is one
 * of them. A faulting page found present is woken here, since no ioctl of
 * ours woke it; with dontwake nothing is woken.
 */
static unsigned install_batch(struct fc_engine *e, const struct fc_region *r,
			      uint64_t addr, const uint8_t *src, unsigned *start,
			      unsigned n, unsigned fault_idx, bool dontwake,
			      bool *fault_installed)
{
	unsigned i = *start, installed = 0;
	bool fault_existed = false;
	int err = 0;

	while (i < n) {
		uint64_t bytes;

		err = fill_range(e, r, addr + (uint64_t)i * PAGE,
				 src ? src + (size_t)i * PAGE : NULL,
				 (uint64_t)(n - i) * PAGE, dontwake, &bytes);
		if (!err) {
			if (fault_idx >= i)
				*fault_installed = true;
			installed += n - i;
			i = n;
			break;
		}
		if (bytes > 0) {
			unsigned done = (unsigned)(bytes / PAGE);

			if (fault_idx >= i && fault_idx < i + done)
				*fault_installed = true;
			installed += done;
			i += done;
			continue;
		}
		if (err == EEXIST) {
			if (i == fault_idx)
				fault_existed = true;
			atomic_fetch_add(&((struct fc_region *)r)->st.raced, 1);
			i++;
			continue;
		}
		if (err == EAGAIN || err == EINTR)
			continue;	/* the mm changed under us: retry */
		/* EFAULT: the source could not be read, or for CONTINUE the page
		 * is not in its page cache (the caller retries from *start);
		 * ENOENT, EINVAL...: the range went away. */
		break;
	}
	*start = i;
	if (fault_existed && !dontwake)
		wake_page(e, addr + (uint64_t)fault_idx * PAGE);
	/* CONTINUE fails with EINVAL past a shrunk end of file: copy decides. */
	return i < n && (err == EFAULT || !src) ? installed | FC_INSTALL_EFAULT : installed;
}

/*
 * A batch that is one run of whole pages of one source, at consecutive
 * offsets, can be copied into place straight from the source's page cache
 * (mapped read-only at load): one copy instead of pread + copy. Returns the
 * source address of page 0, or NULL for the buffer path.
 */
static const uint8_t *direct_source(struct fc_engine *e, const struct fc_worker *w, unsigned n)
{
	const struct fc_plan *p = &w->plan[0];

	if (p->action != FAULTC_ACT_COPY || !e->source_map[p->source])
		return NULL;
	for (unsigned k = 1; k < n; k++) {
		const struct fc_plan *q = &w->plan[k];

		if (q->action != FAULTC_ACT_COPY || q->source != p->source ||
		    q->source_offset != p->source_offset + (uint64_t)k * PAGE)
			return NULL;
	}
	/* The page holding the end of the file goes through pread, which
	 * zero-fills its tail explicitly. */
	if (p->source_offset + (uint64_t)n * PAGE > e->source_size[p->source])
		return NULL;
	const uint8_t *src = e->source_map[p->source] + p->source_offset;

	/*
	 * Map the page-cache pages before the copy (reading them in if
	 * needed), so it does not fault on them one by one; a chunk of
	 * FC_POPULATE_CHUNK at a time, remembered, so sequential faults pay
	 * for it once per chunk. EFAULT: the file shrank.
	 */
	uint64_t first = p->source_offset / FC_POPULATE_CHUNK;
	uint64_t last = (p->source_offset + (uint64_t)n * PAGE - 1) / FC_POPULATE_CHUNK;
	_Atomic uint64_t *done = e->source_populated[p->source];

	for (uint64_t c = first; c <= last; c++) {
		uint64_t bit = 1ull << (c % 64);

		if (done && (atomic_load_explicit(&done[c / 64], memory_order_relaxed) & bit))
			continue;
		uint64_t off = c * FC_POPULATE_CHUNK;
		uint64_t len = FC_POPULATE_CHUNK;

		if (off + len > e->source_size[p->source])
			len = e->source_size[p->source] - off;
		if (madvise(e->source_map[p->source] + off, (size_t)len, MADV_POPULATE_READ) < 0) {
			if (errno != EINVAL)
				return NULL;
			break;	/* no MADV_POPULATE_READ (before 5.14): the copy faults them in */
		}
		if (done)
			atomic_fetch_or(&done[c / 64], bit);
	}
	return src;
}

/*
 * Whether pages [0, n) of the plan, at base, can be mapped from the page
 * cache with UFFDIO_CONTINUE: all inside the region's private mapping of its
 * zero-copy source, each that source's page at its own offset.
 */
static bool zero_copy_run(const struct fc_region *r, const struct fc_worker *w,
			  uint64_t base, unsigned n)
{
	if (base + (uint64_t)n * PAGE > r->minor_end)
		return false;
	for (unsigned k = 0; k < n; k++) {
		const struct fc_plan *p = &w->plan[k];

		if (p->action != FAULTC_ACT_COPY || p->source != r->zc_source ||
		    p->source_offset != base - r->start + (uint64_t)k * PAGE)
			return false;
	}
	return true;
}

static void count_action(struct fc_region *r, uint32_t action)
{
	switch (action) {
	case FAULTC_ACT_ZERO:
		atomic_fetch_add(&r->st.zero, 1);
		break;
	case FAULTC_ACT_FILL:
		atomic_fetch_add(&r->st.fill, 1);
		break;
	case FAULTC_ACT_COPY:
		atomic_fetch_add(&r->st.copy, 1);
		break;
	case FAULTC_ACT_DEFER:
		atomic_fetch_add(&r->st.deferred, 1);
		break;
	default:
		break;
	}
}

/* Whether SIGBUS is still pending for a thread of this process. */
static bool sigbus_pending(uint32_t tid)
{
	char path[64], buf[2048];
	unsigned long long mask;
	ssize_t n;
	char *p;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%u/status", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strstr(buf, "\nSigPnd:");
	if (!p || sscanf(p + 8, "%llx", &mask) != 1)
		return false;
	return mask & (1ull << (SIGBUS - 1));
}

/*
 * A write to a present page whose on write rule is sigbus. The thread gets
 * SIGBUS with tgkill(). If the same write comes back while that signal is
 * still pending, the thread never returned to user space: it is retrying
 * the write inside a system call, and a pending signal does not end that
 * (SIGBUS is not turned into a kill: it dumps core). Then the page is
 * discarded and poisoned, so the system call fails with EFAULT and the
 * signal is taken on the way out: the write never lands.
 */
static void forbid_write(struct fc_engine *e, uint64_t addr, uint32_t tid)
{
	if (tid && e->poison && sigbus_pending(tid) &&
	    madvise((void *)(uintptr_t)addr, PAGE, MADV_DONTNEED) == 0) {
		struct uffdio_poison p = { .range = { .start = addr, .len = PAGE } };

		if (ioctl(e->uffd, UFFDIO_POISON, &p) == 0 || errno == EEXIST)
			return;	/* UFFDIO_POISON wakes the thread */
	}
	deliver_sigbus(e, addr, tid, false);
}

static void handle_write(struct fc_worker *w, struct fc_region *r,
			 uint64_t addr, uint32_t tid)
{
	struct fc_engine *e = w->e;
	struct faultc_decision d;

	atomic_fetch_add(&r->st.write_faults, 1);
	decide(e, r, addr, FAULTC_ON_WRITE, 1, &d);
	if (d.action == FAULTC_ACT_SIGBUS) {
		atomic_fetch_add(&r->st.sigbus, 1);
		if (d.flags & FAULTC_F_ERROR)
			atomic_fetch_add(&r->st.errors, 1);
		forbid_write(e, addr, tid);
	} else {
		struct uffdio_writeprotect wp = {
			.range = { .start = addr, .len = PAGE },
			.mode = 0,	/* unprotect and wake */
		};

		if (d.flags & FAULTC_F_TRACK_DIRTY) {
			uint64_t page = (addr - r->start) / PAGE;

			pthread_mutex_lock(&r->dirty_lock);
			atomic_fetch_or(&r->dirty[page / 64], 1ull << (page % 64));
			ioctl(e->uffd, UFFDIO_WRITEPROTECT, &wp);
			pthread_mutex_unlock(&r->dirty_lock);
		} else {
			ioctl(e->uffd, UFFDIO_WRITEPROTECT, &wp);
		}
	}
	if (d.flags & (FAULTC_F_NOTIFY | FAULTC_F_ERROR))
		push_event(e, r, addr, tid, FAULTC_ON_WRITE, 1,
			   d.action == FAULTC_ACT_SIGBUS ? FAULTC_ACT_SIGBUS : FAULTC_ACT_NONE,
			   0, (d.flags & FAULTC_F_ERROR) ? d.error : 0);
}

static void handle_missing(struct fc_worker *w, struct fc_region *r,
			   uint64_t addr, uint32_t write, uint32_t tid)
{
	struct fc_engine *e = w->e;
	struct faultc_decision d;
	uint32_t action_taken;

	decide(e, r, addr, FAULTC_ON_MISSING, write, &d);
	action_taken = d.action;

	if (d.action == FAULTC_ACT_DEFER || d.action == FAULTC_ACT_NONE) {
		/*
		 * defer hands the fault to a user-space handler; this engine is
		 * that handler and has nothing further to ask, so the page
		 * starts as zeros (counted as deferred, reported as defer).
		 */
		d.action = FAULTC_ACT_ZERO;
	}

	if (d.action == FAULTC_ACT_SIGBUS) {
		atomic_fetch_add(&r->st.sigbus, 1);
		if (d.flags & FAULTC_F_ERROR)
			atomic_fetch_add(&r->st.errors, 1);
		deliver_sigbus(e, addr, tid, true);
		if (d.flags & (FAULTC_F_NOTIFY | FAULTC_F_ERROR))
			push_event(e, r, addr, tid, FAULTC_ON_MISSING, write,
				   FAULTC_ACT_SIGBUS, 0,
				   (d.flags & FAULTC_F_ERROR) ? d.error : 0);
		return;
	}

	/* The common single zero page: no buffer, no copy. */
	if (d.action == FAULTC_ACT_ZERO && !d.prefetch_pages && !r->wp && !write) {
		struct uffdio_zeropage z = { .range = { .start = addr, .len = PAGE } };
		unsigned pages = 0;

		if (ioctl(e->uffd, UFFDIO_ZEROPAGE, &z) == 0) {
			pages = 1;
		} else if (errno == EEXIST) {
			atomic_fetch_add(&r->st.raced, 1);
			wake_page(e, addr);
		}
		if (pages)
			count_action(r, action_taken);
		if (d.flags & FAULTC_F_NOTIFY)
			push_event(e, r, addr, tid, FAULTC_ON_MISSING, write, action_taken, pages, 0);
		return;
	}

	/* Plan the faulting page and the neighbours prefetch may resolve. */
	uint64_t page = (addr - r->start) / PAGE;
	uint64_t nr_pages = r->size / PAGE;
	uint64_t ahead = 0, behind = 0;

	if (d.prefetch_pages) {
		uint64_t n = d.prefetch_pages;

		switch (d.prefetch_dir) {
		case FAULTC_PREFETCH_BEHIND:
			behind = n;
			break;
		case FAULTC_PREFETCH_AROUND:
			/* n in all: the larger half ahead, where readers go. */
			ahead = n - n / 2;
			behind = n / 2;
			break;
		default:
			ahead = n;
			break;
		}
		/* A batch stays in one of the region's mappings: one ioctl
		 * fills one VMA. */
		uint64_t lo = 0, hi = nr_pages;
		uint64_t minor_pages = (r->minor_end - r->start) / PAGE;

		if (page < minor_pages)
			hi = minor_pages;
		else
			lo = minor_pages;
		if (ahead > hi - 1 - page)
			ahead = hi - 1 - page;
		if (behind > page - lo)
			behind = page - lo;
		if (ahead > FC_BATCH_PAGES - 1)
			ahead = FC_BATCH_PAGES - 1;
		if (behind > FC_BATCH_PAGES - 1 - ahead)
			behind = FC_BATCH_PAGES - 1 - ahead;
	}

	/* Neighbours whose rule is not zero/fill/copy end the run there. */
	struct faultc_decision nd;
	uint64_t nb = 0, na = 0;

	for (uint64_t k = 1; k <= behind; k++) {
		decide(e, r, addr - k * PAGE, FAULTC_ON_MISSING, 0, &nd);
		if (!plannable(&nd))
			break;
		nb = k;
	}
	/* behind pages fill plan[0..nb-1] in address order */
	for (uint64_t k = 1; k <= nb; k++) {
		decide(e, r, addr - k * PAGE, FAULTC_ON_MISSING, 0, &nd);
		plan_from(&w->plan[nb - k], &nd);
	}
	plan_from(&w->plan[nb], &d);
	for (uint64_t k = 1; k <= ahead; k++) {
		decide(e, r, addr + k * PAGE, FAULTC_ON_MISSING, 0, &nd);
		if (!plannable(&nd))
			break;
		plan_from(&w->plan[nb + k], &nd);
		na = k;
	}

	unsigned n = (unsigned)(nb + 1 + na), fault_idx = (unsigned)nb, bad = 0;
	uint64_t base = addr - nb * PAGE;
	uint32_t error = 0;

	/* write_now: see below. */
	bool write_now = write && r->wp;
	bool fault_installed = false;
	unsigned start = 0, installed = 0, got;
	const uint8_t *src;

	if (zero_copy_run(r, w, base, n)) {
		/* Pages not in the page cache (a hole, a shrunk file) are copied. */
		got = install_batch(e, r, base, NULL, &start, n, fault_idx, write_now, &fault_installed);
		installed += got & ~FC_INSTALL_EFAULT;
		if (!(got & FC_INSTALL_EFAULT))
			goto installed;
	}
	src = direct_source(e, w, n);
	if (src) {
		got = install_batch(e, r, base, src, &start, n, fault_idx, write_now, &fault_installed);
		installed += got & ~FC_INSTALL_EFAULT;
		if (!(got & FC_INSTALL_EFAULT))
			goto installed;
		/* The file shrank under the mapping: pread says how. */
	}
	if (fill_batch(e, w, n, &bad, &error) < 0 && n > 1 && start <= fault_idx) {
		/* A read failed: forget prefetch, try the faulting page alone. */
		w->plan[0] = w->plan[fault_idx];
		n = 1;
		fault_idx = 0;
		start = 0;
		base = addr;
		if (fill_batch(e, w, n, &bad, &error) == 0) {
			bad = UINT32_MAX;
			atomic_fetch_add(&r->st.errors, 1);
		}
	}
	if (bad != UINT32_MAX && error && !fault_installed) {
		/* The faulting page cannot be read: SIGBUS, never zeros. */
		atomic_fetch_add(&r->st.sigbus, 1);
		atomic_fetch_add(&r->st.errors, 1);
		deliver_sigbus(e, addr, tid, true);
		push_event(e, r, addr, tid, FAULTC_ON_MISSING, write,
			   FAULTC_ACT_SIGBUS, 0, error);
		return;
	}
	if (bad != UINT32_MAX && error) {
		/* Only pages after the faulting one failed: keep what is in. */
		atomic_fetch_add(&r->st.errors, 1);
		n = bad > start ? bad : start;
	}
	installed += install_batch(e, r, base, w->buf, &start, n, fault_idx, write_now,
				   &fault_installed) & ~FC_INSTALL_EFAULT;
installed:
	/*
	 * A write to a missing page of a write-tracked region: run the on
	 * write rule now rather than let the thread come back with a
	 * write-protect fault, so the page is installed protected without
	 * waking anyone and handle_write() unprotects and wakes.
	 */
	if (write_now) {
		if (fault_installed)
			handle_write(w, r, addr, tid);
		else
			wake_page(e, addr);	/* present already: its write faults again if protected */
	}

	/* A page another thread resolved first is that thread's to count. */
	if (fault_installed)
		count_action(r, action_taken);
	if (installed > (unsigned)fault_installed)
		atomic_fetch_add(&r->st.prefetch, installed - (unsigned)fault_installed);
	if (d.flags & FAULTC_F_NOTIFY)
		push_event(e, r, addr, tid, FAULTC_ON_MISSING, write, action_taken, installed, 0);
}

static void handle_msg(struct fc_worker *w, const struct uffd_msg *m)
{
	struct fc_engine *e = w->e;

	if (m->event != UFFD_EVENT_PAGEFAULT)
		return;

	uint64_t addr = m->arg.pagefault.address & ~(PAGE - 1);
	uint64_t flags = m->arg.pagefault.flags;
	uint32_t tid = m->arg.pagefault.feat.ptid;
	struct fc_region *r = find_region(e, w, addr);

	if (!r) {
		atomic_fetch_add(&e->stray, 1);
		return;
	}
	atomic_fetch_add(&r->st.faults, 1);
	w->last_tid = tid;
	if (atomic_exchange_explicit(&e->last_tid, tid, memory_order_relaxed) != tid)
		atomic_fetch_add_explicit(&e->tid_switches, 1, memory_order_relaxed);
	if (flags & UFFD_PAGEFAULT_FLAG_WP)
		handle_write(w, r, addr, tid);
	else
		handle_missing(w, r, addr, (flags & UFFD_PAGEFAULT_FLAG_WRITE) ? 1 : 0, tid);
}

/* The CPU a thread of this process last ran on (field 39 of its stat), or -1. */
static int thread_cpu(uint32_t tid)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd, field = 2;
	char *p;

	snprintf(path, sizeof(path), "/proc/self/task/%u/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* the end of the command name, field 2 */
	if (!p)
		return -1;
	for (; *p && field < 39; p++)
		if (*p == ' ')
			field++;
	return *p ? atoi(p) : -1;
}

/*
 * A fault is two hand-offs between the faulting thread and a handler. On the
 * same CPU they are two context switches; across CPUs each is a wake-up of
 * another CPU, which costs several times more (an IPI, and in a VM an exit).
 * The scheduler leaves a woken handler on its own idle CPU, so while the
 * faults come from one thread, a handler moves itself next to it, checking
 * every FC_FOLLOW_EVERY faults. Faults from several threads take turns on the
 * handlers (a wake-up goes to whichever handler sleeps), so a handler pinned
 * to one faulting thread's CPU would wait there behind that thread while
 * serving another: then handlers go wherever the scheduler puts them.
 */
#define FC_FOLLOW_EVERY 64

static void follow_faulting_thread(struct fc_worker *w)
{
	struct fc_engine *e = w->e;
	uint64_t switches = atomic_load_explicit(&e->tid_switches, memory_order_relaxed);
	bool one_thread = switches - w->seen_switches <= 1;
	int cpu = one_thread ? thread_cpu(w->last_tid) : -1;
	cpu_set_t set;

	w->seen_switches = switches;
	if (cpu == w->cpu || cpu >= CPU_SETSIZE)
		return;
	if (cpu < 0) {
		if (sched_setaffinity(0, sizeof(e->cpus), &e->cpus) == 0)
			w->cpu = -1;
		return;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == 0)
		w->cpu = cpu;
}

static void wait_while_paused(struct fc_engine *e)
{
	pthread_mutex_lock(&e->pause_lock);
	while (atomic_load(&e->paused) && !atomic_load(&e->stopping))
		pthread_cond_wait(&e->pause_cond, &e->pause_lock);
	pthread_mutex_unlock(&e->pause_lock);
}

/* How long the CPU-latency request outlives the last fault. */
#define FC_LATENCY_LINGER_MS 5

static void *handler_main(void *arg)
{
	struct fc_worker *w = arg;
	struct fc_engine *e = w->e;
	struct uffd_msg msgs[MSG_BATCH];
	struct epoll_event ev;

	for (;;) {
		if (atomic_load_explicit(&e->paused, memory_order_relaxed))
			wait_while_paused(e);

		ssize_t n = read(e->uffd, msgs, sizeof(msgs));

		if (n > 0) {
			/* Raised before any fault is resolved, so whoever sees a
			 * resolved page and then busy == 0 sees its stats too. */
			atomic_fetch_add(&e->busy, 1);
			for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++)
				handle_msg(w, &msgs[i]);
			atomic_fetch_sub(&e->busy, 1);
			fc_cpu_latency_hold(&e->latency, now_ns());
			if (e->follow && w->handled++ % FC_FOLLOW_EVERY == 0)
				follow_faulting_thread(w);
			/* A short read emptied the queue: sleep without asking again
			 * (the epoll set is level-triggered: more comes back at once). */
			if ((size_t)n == sizeof(msgs))
				continue;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			break;
		} else if (atomic_load(&e->stopping)) {
			/* Queue empty: leave once close() has begun. */
			break;
		}
		int woken = epoll_wait(w->epfd, &ev, 1,
				       atomic_load(&e->latency.held) ? FC_LATENCY_LINGER_MS : -1);

		if (woken < 0 && errno != EINTR)
			break;
		if (woken == 0)
			fc_cpu_latency_release_idle(&e->latency, now_ns(),
						    FC_LATENCY_LINGER_MS * 1000000ull);
	}
	return NULL;
}

/* ---- opening ----------------------------------------------------------- */

static int open_uffd(unsigned flags, char *err, size_t errlen)
{
	int oflags = O_CLOEXEC | O_NONBLOCK;
	int fd;

	if (flags & FC_OPEN_USER_MODE_ONLY)
		oflags |= UFFD_USER_MODE_ONLY;
	fd = (int)syscall(SYS_userfaultfd, oflags);
	if (fd >= 0)
		return fd;
	int sys_err = errno;

	/*
	 * /dev/userfaultfd is the other door: access by file mode, and no
	 * userfaultfd(2) for a seccomp filter to refuse. Why both are shut is
	 * runtime/uffd-access.ts's to say (it probes before an engine opens).
	 */
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	int dev_err = errno;

	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, oflags);
		dev_err = errno;
		close(dev);
		if (fd >= 0)
			return fd;
	}
	set_err(err, errlen, "userfaultfd is refused: userfaultfd(2) fails with %s, /dev/userfaultfd with %s",
		strerror(sys_err), strerror(dev_err));
	return -sys_err;
}

static uint64_t probe_features(unsigned flags)
{
	char err[8];
	int fd = open_uffd(flags, err, sizeof(err));
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	uint64_t f = 0;

	if (fd < 0)
		return 0;
	if (ioctl(fd, UFFDIO_API, &api) == 0)
		f = api.features;
	close(fd);
	return f;
}

static void free_engine(struct fc_engine *e)
{
	for (unsigned i = 0; i < e->nr_sources; i++) {
		if (e->source_map[i])
			munmap(e->source_map[i], (size_t)e->source_size[i]);
		free(e->source_populated[i]);
		if (e->source_fd[i] >= 0)
			close(e->source_fd[i]);
	}
	if (e->uffd >= 0)
		close(e->uffd);
	fc_cpu_latency_close(&e->latency);
	if (e->stopfd >= 0)
		close(e->stopfd);
	if (e->dl)
		dlclose(e->dl);
	free(e->ev);
	free(e->workers);
	pthread_mutex_destroy(&e->region_lock);
	pthread_mutex_destroy(&e->ev_lock);
	pthread_mutex_destroy(&e->pause_lock);
	pthread_cond_destroy(&e->pause_cond);
	free(e);
}

static void stop_threads(struct fc_engine *e)
{
	uint64_t one = 1;

	atomic_store(&e->stopping, true);
	pthread_mutex_lock(&e->pause_lock);
	atomic_store(&e->paused, false);
	pthread_cond_broadcast(&e->pause_cond);
	pthread_mutex_unlock(&e->pause_lock);
	if (write(e->stopfd, &one, sizeof(one)) < 0) {
		/* an eventfd write only fails on overflow, which cannot happen */
	}
	for (unsigned i = 0; i < e->started; i++) {
		pthread_join(e->workers[i].thread, NULL);
		close(e->workers[i].epfd);
		munmap(e->workers[i].buf, (size_t)FC_BATCH_PAGES * PAGE);
	}
	e->started = 0;
}

struct fc_engine *fc_engine_open(const struct fc_engine_opts *o, char *err,
				 size_t errlen, int *err_no)
{
	struct fc_engine *e = calloc(1, sizeof(*e));
	fc_abi_fn abi;
	int rc;

	*err_no = 0;
	if (!e) {
		*err_no = ENOMEM;
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	e->uffd = -1;
	e->latency.fd = -1;
	e->stopfd = -1;
	e->pid = getpid();
	for (unsigned i = 0; i < FAULTC_MAX_SOURCES; i++)
		e->source_fd[i] = -1;
	pthread_mutex_init(&e->region_lock, NULL);
	pthread_mutex_init(&e->ev_lock, NULL);
	pthread_mutex_init(&e->pause_lock, NULL);
	pthread_cond_init(&e->pause_cond, NULL);
	e->on_events = o->on_events;
	e->ctx = o->ctx;

	if (o->nr_sources > FAULTC_MAX_SOURCES) {
		*err_no = EINVAL;
		set_err(err, errlen, "a policy has at most %d sources", FAULTC_MAX_SOURCES);
		goto fail;
	}

	e->dl = dlopen(o->decide_path, RTLD_NOW | RTLD_LOCAL);
	if (!e->dl) {
		*err_no = ENOENT;
		set_err(err, errlen, "cannot load the decision library %s: %s", o->decide_path, dlerror());
		goto fail;
	}
	abi = (fc_abi_fn)dlsym(e->dl, "faultc_abi_version");
	e->decide = (fc_decide_fn)dlsym(e->dl, "faultc_decide");
	if (!abi || !e->decide) {
		*err_no = EINVAL;
		set_err(err, errlen, "%s is not a faultc decision library (faultc_decide/faultc_abi_version missing)",
			o->decide_path);
		goto fail;
	}
	if (abi() != FAULTC_ABI_VERSION) {
		*err_no = EINVAL;
		set_err(err, errlen, "%s was built for ABI v%u, this engine speaks v%d: recompile the policy",
			o->decide_path, abi(), FAULTC_ABI_VERSION);
		goto fail;
	}

	e->nr_sources = o->nr_sources;
	for (unsigned i = 0; i < o->nr_sources; i++) {
		struct stat st;

		e->source_fd[i] = open(o->source_paths[i], O_RDONLY | O_CLOEXEC);
		if (e->source_fd[i] < 0 || fstat(e->source_fd[i], &st) < 0) {
			*err_no = errno;
			set_err(err, errlen, "cannot open source %s: %s", o->source_paths[i], strerror(errno));
			goto fail;
		}
		e->source_size[i] = (uint64_t)st.st_size;
		struct statfs fs;

		/* Minor faults (page-cache pages mapped as they are) exist for shmem. */
		e->source_shmem[i] = S_ISREG(st.st_mode) && fstatfs(e->source_fd[i], &fs) == 0 &&
				     fs.f_type == TMPFS_MAGIC;
		if (st.st_size > 0) {
			void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, e->source_fd[i], 0);

			/* Without the mapping, pread serves every copy. */
			e->source_map[i] = m == MAP_FAILED ? NULL : m;
			uint64_t chunks = ((uint64_t)st.st_size + FC_POPULATE_CHUNK - 1) / FC_POPULATE_CHUNK;

			e->source_populated[i] = calloc((chunks + 63) / 64, sizeof(uint64_t));
		}
	}

	uint64_t avail = probe_features(o->flags);
	uint64_t want = UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_PAGEFAULT_FLAG_WP;

	if ((avail & UFFD_FEATURE_POISON) && !(o->flags & FC_OPEN_FORCE_SIGBUS_FALLBACK))
		want |= UFFD_FEATURE_POISON;
	if (!(o->flags & FC_OPEN_NO_ZERO_COPY))
		want |= UFFD_FEATURE_MINOR_SHMEM;
	rc = open_uffd(o->flags, err, errlen);
	if (rc < 0) {
		*err_no = -rc;
		goto fail;
	}
	e->uffd = rc;
	struct uffdio_api api = { .api = UFFD_API, .features = want & avail };

	if (ioctl(e->uffd, UFFDIO_API, &api) < 0) {
		*err_no = errno;
		set_err(err, errlen, "UFFDIO_API failed: %s", strerror(errno));
		goto fail;
	}
	e->features = api.features;
	if (!(e->features & UFFD_FEATURE_THREAD_ID)) {
		*err_no = ENOTSUP;
		set_err(err, errlen, "this kernel's userfaultfd lacks UFFD_FEATURE_THREAD_ID (Linux 4.14+)");
		goto fail;
	}
	/* UFFDIO_API reports every feature the kernel has, asked for or not. */
	e->poison = (want & avail & UFFD_FEATURE_POISON) != 0;
	e->zero_copy = (want & avail & UFFD_FEATURE_MINOR_SHMEM) != 0;
	e->follow = !(o->flags & FC_OPEN_NO_FOLLOW);
	if (!(o->flags & FC_OPEN_NO_CPU_LATENCY))
		fc_cpu_latency_open(&e->latency);
	if (sched_getaffinity(0, sizeof(e->cpus), &e->cpus) < 0)
		e->follow = false;

	e->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->ev = calloc(EVENT_QUEUE_CAP, sizeof(*e->ev));
	if (e->stopfd < 0 || !e->ev) {
		*err_no = ENOMEM;
		set_err(err, errlen, "cannot allocate the engine's buffers");
		goto fail;
	}

	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	e->nr_threads = o->nr_threads ? o->nr_threads : (cpus > 0 ? (unsigned)cpus : 1);
	if (e->nr_threads > 64)
		e->nr_threads = 64;
	e->workers = calloc(e->nr_threads, sizeof(*e->workers));
	if (!e->workers) {
		*err_no = ENOMEM;
		set_err(err, errlen, "out of memory");
		goto fail;
	}
	/* Handlers take no signals: the process's handlers run on its own threads. */
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < e->nr_threads; i++) {
		struct fc_worker *w = &e->workers[i];

		w->e = e;
		w->epfd = -1;
		w->cpu = -1;
		w->buf = mmap(NULL, (size_t)FC_BATCH_PAGES * PAGE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (w->buf == MAP_FAILED) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			*err_no = ENOMEM;
			set_err(err, errlen, "cannot allocate handler buffers");
			goto fail_threads;
		}
		/*
		 * Each handler sleeps in its own epoll set holding the uffd with
		 * EPOLLEXCLUSIVE: a fault wakes one idle handler, not all of them
		 * (a poll() on the uffd itself would wake every handler).
		 */
		struct epoll_event uev = { .events = EPOLLIN | EPOLLEXCLUSIVE };
		struct epoll_event sev = { .events = EPOLLIN };

		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (w->epfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, e->uffd, &uev) < 0 ||
		    epoll_ctl(w->epfd, EPOLL_CTL_ADD, e->stopfd, &sev) < 0) {
			rc = errno;
			if (w->epfd >= 0)
				close(w->epfd);
			munmap(w->buf, (size_t)FC_BATCH_PAGES * PAGE);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			*err_no = rc;
			set_err(err, errlen, "cannot set up handler threads: %s", strerror(rc));
			goto fail_threads;
		}
		rc = pthread_create(&w->thread, NULL, handler_main, w);
		if (rc) {
			close(w->epfd);
			munmap(w->buf, (size_t)FC_BATCH_PAGES * PAGE);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			*err_no = rc;
			set_err(err, errlen, "cannot start handler threads: %s", strerror(rc));
			goto fail_threads;
		}
		pthread_setname_np(w->thread, "faultc-uffd");
		e->started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return e;
fail_threads:
	stop_threads(e);
fail:
	free_engine(e);
	return NULL;
}

/*
 * Registers [addr, addr + size) with the engine's userfaultfd in reg_mode,
 * its first minor_len bytes (a private mapping of zero-copy source zc) for
 * minor faults too, and publishes it as region slot; region_lock held.
 * Returns slot or -errno.
 */
static int register_region(struct fc_engine *e, int slot, uint32_t policy_region,
			   void *addr, uint64_t size, uint64_t reg_mode,
			   uint64_t minor_len, uint32_t zc, char *err, size_t errlen)
{
	struct uffdio_register minor = {
		.range = { .start = (uint64_t)(uintptr_t)addr, .len = minor_len },
		.mode = reg_mode | UFFDIO_REGISTER_MODE_MINOR,
	};
	struct uffdio_register reg = {
		.range = { .start = (uint64_t)(uintptr_t)addr + minor_len, .len = size - minor_len },
		.mode = reg_mode,
	};
	struct fc_region *r = &e->regions[slot];

	if ((minor_len && ioctl(e->uffd, UFFDIO_REGISTER, &minor) < 0) ||
	    (reg.range.len && ioctl(e->uffd, UFFDIO_REGISTER, &reg) < 0)) {
		int rc = -errno;

		if (minor_len)
			ioctl(e->uffd, UFFDIO_UNREGISTER, &minor.range);
		set_err(err, errlen, "UFFDIO_REGISTER failed: %s", strerror(-rc));
		return rc;
	}
	memset(r, 0, sizeof(*r));
	r->start = (uint64_t)(uintptr_t)addr;
	r->size = size;
	r->end = r->start + size;
	r->minor_end = r->start + minor_len;
	r->zc_source = zc;
	r->policy_region = policy_region;
	r->wp = (reg_mode & UFFDIO_REGISTER_MODE_WP) != 0;
	r->dirty_words = (size / PAGE + 63) / 64;
	r->dirty = calloc(r->dirty_words, sizeof(uint64_t));
	pthread_mutex_init(&r->dirty_lock, NULL);
	if (!r->dirty) {
		struct uffdio_range range = { .start = r->start, .len = size };

		ioctl(e->uffd, UFFDIO_UNREGISTER, &range);
		pthread_mutex_destroy(&r->dirty_lock);
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* Handlers only look at regions [0, nr_regions): publish it complete. */
	atomic_store_explicit(&e->nr_regions, slot + 1, memory_order_release);
	return slot;
}

/*
 * How much of a region to map from its zero-copy source zc (-1: none): the
 * source's pages from offset 0, when the source is on tmpfs (minor faults
 * exist for shmem only) and the region has no `on write` rules.
 */
static uint64_t zero_copy_len(const struct fc_engine *e, uint64_t size, int wp, int zc)
{
	if (zc < 0 || (unsigned)zc >= e->nr_sources || wp || !e->source_shmem[zc] ||
	    !e->zero_copy)
		return 0;
	uint64_t len = (e->source_size[zc] + PAGE - 1) & ~(PAGE - 1);

	return len < size ? len : size;
}

int fc_engine_add_region(struct fc_engine *e, uint32_t policy_region,
			 uint64_t size, uint64_t at, int wp, int zc,
			 char *err, size_t errlen)
{
	uint64_t minor_len;
	void *addr;
	int slot, rc;

	if (!size || (size & (PAGE - 1)) || (at & (PAGE - 1))) {
		set_err(err, errlen, "a region is a non-zero whole number of pages at a page-aligned address");
		return -EINVAL;
	}
	pthread_mutex_lock(&e->region_lock);
	slot = atomic_load(&e->nr_regions);
	if (slot >= FC_MAX_REGIONS || atomic_load(&e->stopping)) {
		pthread_mutex_unlock(&e->region_lock);
		set_err(err, errlen, "too many regions (at most %d per policy)", FC_MAX_REGIONS);
		return -ENOSPC;
	}
	addr = mmap((void *)(uintptr_t)at, size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (at ? MAP_FIXED_NOREPLACE : 0), -1, 0);
	if (addr == MAP_FAILED) {
		rc = -errno;
		pthread_mutex_unlock(&e->region_lock);
		if (rc == -EEXIST)
			set_err(err, errlen, "the range 0x%llx-0x%llx is already mapped in this process",
				(unsigned long long)at, (unsigned long long)(at + size));
		else
			set_err(err, errlen, "mmap of %llu bytes failed: %s",
				(unsigned long long)size, strerror(-rc));
		return rc;
	}
	if (at && (uint64_t)(uintptr_t)addr != at) {
		/* Kernels before 4.17 ignore MAP_FIXED_NOREPLACE and pick another place. */
		munmap(addr, size);
		pthread_mutex_unlock(&e->region_lock);
		set_err(err, errlen, "the range at 0x%llx is not available", (unsigned long long)at);
		return -EEXIST;
	}
	/*
	 * Zero-copy: the part of the region inside its source becomes a
	 * private mapping of the source (in the same place), so a page is the
	 * page-cache page itself until written. Its missing pages still fault
	 * to the handlers (minor faults), which map them with UFFDIO_CONTINUE.
	 * The rest stays anonymous; past the end of the file a page is SIGBUS.
	 */
	minor_len = zero_copy_len(e, size, wp, zc);
	if (minor_len && mmap(addr, minor_len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE,
			      e->source_fd[zc], 0) == MAP_FAILED) {
		/* Anonymous memory again, whatever the failed mmap left: copies. */
		if (mmap(addr, minor_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
			rc = -errno;
		else
			rc = 0;
		minor_len = 0;
		if (rc < 0) {
			munmap(addr, size);
			pthread_mutex_unlock(&e->region_lock);
			set_err(err, errlen, "mmap of %llu bytes failed: %s",
				(unsigned long long)size, strerror(-rc));
			return rc;
		}
	}
	rc = register_region(e, slot, policy_region, addr, size,
			     UFFDIO_REGISTER_MODE_MISSING | (wp ? UFFDIO_REGISTER_MODE_WP : 0),
			     minor_len, zc < 0 ? 0 : (uint32_t)zc, err, errlen);
	if (rc < 0)
		munmap(addr, size);
	else
		e->regions[slot].owned = true;
	pthread_mutex_unlock(&e->region_lock);
	return rc;
}

int fc_engine_watch_region(struct fc_engine *e, uint32_t policy_region, void *addr,
			   uint64_t size, unsigned mode, char *err, size_t errlen)
{
	uint64_t reg_mode = ((mode & FC_WATCH_MISSING) ? UFFDIO_REGISTER_MODE_MISSING : 0) |
			    ((mode & FC_WATCH_WRITES) ? UFFDIO_REGISTER_MODE_WP : 0);
	int slot, rc;

	if (!size || (size & (PAGE - 1)) || ((uintptr_t)addr & (PAGE - 1)) || !reg_mode) {
		set_err(err, errlen, "a watched region is a non-zero whole number of pages, watched for something");
		return -EINVAL;
	}
	pthread_mutex_lock(&e->region_lock);
	slot = atomic_load(&e->nr_regions);
	if (slot >= FC_MAX_REGIONS || atomic_load(&e->stopping)) {
		pthread_mutex_unlock(&e->region_lock);
		set_err(err, errlen, "too many regions (at most %d per policy)", FC_MAX_REGIONS);
		return -ENOSPC;
	}
	rc = register_region(e, slot, policy_region, addr, size, reg_mode, 0, 0, err, errlen);
	pthread_mutex_unlock(&e->region_lock);
	return rc;
}

static struct fc_region *slot_region(struct fc_engine *e, int slot)
{
	if (e->stopped || slot < 0 || slot >= atomic_load(&e->nr_regions))
		return NULL;
	return &e->regions[slot];
}

void *fc_region_addr(struct fc_engine *e, int slot)
{
	struct fc_region *r = slot_region(e, slot);

	return r ? (void *)(uintptr_t)r->start : NULL;
}

uint64_t fc_region_size(struct fc_engine *e, int slot)
{
	struct fc_region *r = slot_region(e, slot);

	return r ? r->size : 0;
}

int fc_region_stats(struct fc_engine *e, int slot, struct fc_region_stats *out)
{
	struct fc_region *r = slot_region(e, slot);

	if (!r)
		return -EINVAL;
	out->faults = atomic_load(&r->st.faults);
	out->zero = atomic_load(&r->st.zero);
	out->fill = atomic_load(&r->st.fill);
	out->copy = atomic_load(&r->st.copy);
	out->prefetch = atomic_load(&r->st.prefetch);
	out->sigbus = atomic_load(&r->st.sigbus);
	out->deferred = atomic_load(&r->st.deferred);
	out->errors = atomic_load(&r->st.errors);
	out->write_faults = atomic_load(&r->st.write_faults);
	out->raced = atomic_load(&r->st.raced);
	return 0;
}

size_t fc_region_dirty(struct fc_engine *e, int slot, uint64_t *pages, size_t max)
{
	struct fc_region *r = slot_region(e, slot);
	size_t n = 0;

	if (!r)
		return 0;
	for (size_t wi = 0; wi < r->dirty_words; wi++) {
		uint64_t word = atomic_load(&r->dirty[wi]);

		while (word) {
			unsigned bit = (unsigned)__builtin_ctzll(word);

			if (n < max)
				pages[n] = wi * 64 + bit;
			n++;
			word &= word - 1;
		}
	}
	return n;
}

int fc_region_reset_dirty(struct fc_engine *e, int slot)
{
	struct fc_region *r = slot_region(e, slot);
	int rc = 0;

	if (!r)
		return -EINVAL;
	if (!r->wp)
		return 0;
	pthread_mutex_lock(&r->dirty_lock);
	for (size_t wi = 0; wi < r->dirty_words; wi++) {
		uint64_t word = atomic_exchange(&r->dirty[wi], 0);

		while (word) {
			unsigned bit = (unsigned)__builtin_ctzll(word);
			unsigned run = 0;

			/* protect runs of consecutive dirty pages with one ioctl */
			while (bit + run < 64 && (word >> (bit + run) & 1))
				run++;
			struct uffdio_writeprotect wp = {
				.range = {
					.start = r->start + (wi * 64 + bit) * PAGE,
					.len = (uint64_t)run * PAGE,
				},
				.mode = UFFDIO_WRITEPROTECT_MODE_WP,
			};

			if (ioctl(e->uffd, UFFDIO_WRITEPROTECT, &wp) < 0 && !rc)
				rc = -errno;
			word &= ~(run == 64 ? ~0ull : ((1ull << run) - 1) << bit);
		}
	}
	pthread_mutex_unlock(&r->dirty_lock);
	return rc;
}

uint64_t fc_engine_features(struct fc_engine *e)
{
	return e->features;
}

int fc_engine_has_poison(struct fc_engine *e)
{
	return e->poison;
}

unsigned fc_engine_nr_threads(struct fc_engine *e)
{
	return e->nr_threads;
}

int fc_engine_settle(struct fc_engine *e, unsigned timeout_ms)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (atomic_load(&e->busy)) {
		if (now_ns() >= end)
			return -ETIMEDOUT;
		sched_yield();
	}
	return 0;
}

void fc_engine_pause(struct fc_engine *e, int paused)
{
	pthread_mutex_lock(&e->pause_lock);
	atomic_store(&e->paused, paused != 0);
	pthread_cond_broadcast(&e->pause_cond);
	pthread_mutex_unlock(&e->pause_lock);
}

void fc_engine_stop(struct fc_engine *e)
{
	int n;

	if (!e || e->stopped)
		return;
	e->stopped = true;
	/* Handlers resolve everything queued, then leave. */
	stop_threads(e);
	n = atomic_load(&e->nr_regions);
	for (int i = 0; i < n; i++) {
		struct fc_region *r = &e->regions[i];
		struct uffdio_range range = { .start = r->start, .len = r->size };

		/* Wakes any fault that came after the handlers left. */
		ioctl(e->uffd, UFFDIO_UNREGISTER, &range);
		if (r->owned)
			munmap((void *)(uintptr_t)r->start, r->size);
	}
}

void fc_engine_close(struct fc_engine *e)
{
	int n;

	if (!e)
		return;
	fc_engine_stop(e);
	n = atomic_load(&e->nr_regions);
	for (int i = 0; i < n; i++) {
		free(e->regions[i].dirty);
		pthread_mutex_destroy(&e->regions[i].dirty_lock);
	}
	atomic_store(&e->nr_regions, 0);
	free_engine(e);
}
