// SPDX-License-Identifier: GPL-2.0
/*
 * One fault message: find its region, then a write-protect fault runs the
 * region's on write rule and a missing fault its on missing rule: SIGBUS,
 * the zero page, or a planned batch installed from a source, a fill or
 * zeros. Every fault address is checked against the engine's regions before
 * anything else; a message outside them is counted and dropped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

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
				fc_wake_page(e, addr);
			return;
		}
	}
	if (tid)
		syscall(SYS_tgkill, e->pid, tid, SIGBUS);
	fc_wake_page(e, addr);
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
			return; /* UFFDIO_POISON wakes the thread */
	}
	deliver_sigbus(e, addr, tid, false);
}

static void handle_write(struct fc_worker *w, struct fc_region *r,
			 uint64_t addr, uint32_t tid)
{
	struct fc_engine *e = w->e;
	struct faultc_decision d;

	atomic_fetch_add(&r->st.write_faults, 1);
	fc_decide(e, r, addr, FAULTC_ON_WRITE, 1, &d);
	if (d.action == FAULTC_ACT_SIGBUS) {
		atomic_fetch_add(&r->st.sigbus, 1);
		if (d.flags & FAULTC_F_ERROR)
			atomic_fetch_add(&r->st.errors, 1);
		forbid_write(e, addr, tid);
	} else {
		struct uffdio_writeprotect wp = {
			.range = { .start = addr, .len = PAGE },
			.mode = 0, /* unprotect and wake */
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
		fc_push_event(e, r, addr, tid, FAULTC_ON_WRITE, 1,
			      d.action == FAULTC_ACT_SIGBUS ? FAULTC_ACT_SIGBUS : FAULTC_ACT_NONE,
			      0, (d.flags & FAULTC_F_ERROR) ? d.error : 0);
}

/* A missing page whose rule is SIGBUS (or whose decision failed). */
static void missing_sigbus(struct fc_engine *e, struct fc_region *r, uint64_t addr,
			   uint32_t write, uint32_t tid, const struct faultc_decision *d)
{
	atomic_fetch_add(&r->st.sigbus, 1);
	if (d->flags & FAULTC_F_ERROR)
		atomic_fetch_add(&r->st.errors, 1);
	deliver_sigbus(e, addr, tid, true);
	if (d->flags & (FAULTC_F_NOTIFY | FAULTC_F_ERROR))
		fc_push_event(e, r, addr, tid, FAULTC_ON_MISSING, write,
			      FAULTC_ACT_SIGBUS, 0,
			      (d->flags & FAULTC_F_ERROR) ? d->error : 0);
}

/* The common single zero page: no buffer, no copy. */
static void missing_zero_page(struct fc_engine *e, struct fc_region *r, uint64_t addr,
			      uint32_t write, uint32_t tid, const struct faultc_decision *d,
			      uint32_t action_taken)
{
	struct uffdio_zeropage z = { .range = { .start = addr, .len = PAGE } };
	unsigned pages = 0;

	if (ioctl(e->uffd, UFFDIO_ZEROPAGE, &z) == 0) {
		pages = 1;
	} else if (errno == EEXIST) {
		atomic_fetch_add(&r->st.raced, 1);
		fc_wake_page(e, addr);
	}
	if (pages)
		count_action(r, action_taken);
	if (d->flags & FAULTC_F_NOTIFY)
		fc_push_event(e, r, addr, tid, FAULTC_ON_MISSING, write, action_taken, pages, 0);
}

/* A planned batch on its way in: pages [start, n) at base are still to go. */
struct fc_batch {
	uint64_t base;
	unsigned n;
	unsigned fault_idx; /* the faulting page's place in the plan */
	unsigned start;
	unsigned installed; /* pages installed by this handler */
	bool fault_installed; /* the faulting page is one of them */
	bool write_now; /* see finish_missing() */
};

/* fc_install_batch() from src; whether every page went in. */
static bool batch_install(struct fc_engine *e, struct fc_region *r,
			  struct fc_batch *b, const uint8_t *src)
{
	unsigned got = fc_install_batch(e, r, b->base, src, &b->start, b->n, b->fault_idx,
					b->write_now, &b->fault_installed);

	b->installed += got & ~FC_INSTALL_EFAULT;
	return !(got & FC_INSTALL_EFAULT);
}

/*
 * The batch straight from the page cache: mapped (zero-copy) or copied
 * from the source's mapping. Whether every page went in; if not, the rest
 * goes through the buffer.
 */
static bool install_direct(struct fc_worker *w, struct fc_region *r, struct fc_batch *b)
{
	const uint8_t *src;

	/* Pages not in the page cache (a hole, a shrunk file) are copied. */
	if (fc_zero_copy_run(r, w, b->base, b->n) && batch_install(w->e, r, b, NULL))
		return true;
	src = fc_direct_source(w->e, w, b->n);
	/* The file shrank under the mapping: pread says how. */
	return src && batch_install(w->e, r, b, src);
}

/*
 * The batch read into the handler's buffer and copied. Returns 0, or the
 * error when the faulting page itself cannot be read (nothing installed
 * for it then).
 */
static uint32_t install_buffered(struct fc_worker *w, struct fc_region *r,
				 struct fc_batch *b, uint64_t addr)
{
	unsigned bad = 0;
	uint32_t error = 0;

	if (fc_fill_batch(w->e, w, b->n, &bad, &error) < 0 && b->n > 1 &&
	    b->start <= b->fault_idx && error == FAULTC_ERR_SOURCE_READ) {
		/* A file read failed: forget prefetch, try the faulting page alone
		 * (an http read has spent its deadline and knows its cause). */
		w->plan[0] = w->plan[b->fault_idx];
		b->n = 1;
		b->fault_idx = 0;
		b->start = 0;
		b->base = addr;
		if (fc_fill_batch(w->e, w, b->n, &bad, &error) == 0) {
			bad = UINT32_MAX;
			atomic_fetch_add(&r->st.errors, 1);
		}
	}
	if (bad != UINT32_MAX && error && !b->fault_installed)
		return error; /* SIGBUS, never zeros */
	if (bad != UINT32_MAX && error) {
		/* Only pages after the faulting one failed: keep what is in. */
		atomic_fetch_add(&r->st.errors, 1);
		b->n = bad > b->start ? bad : b->start;
	}
	batch_install(w->e, r, b, w->buf);
	return 0;
}

/* The faulting page cannot be read: SIGBUS, never zeros. */
static void missing_unreadable(struct fc_engine *e, struct fc_region *r, uint64_t addr,
			       uint32_t write, uint32_t tid, uint32_t error)
{
	atomic_fetch_add(&r->st.sigbus, 1);
	atomic_fetch_add(&r->st.errors, 1);
	deliver_sigbus(e, addr, tid, true);
	fc_push_event(e, r, addr, tid, FAULTC_ON_MISSING, write, FAULTC_ACT_SIGBUS, 0, error);
}

static void finish_missing(struct fc_worker *w, struct fc_region *r, uint64_t addr,
			   uint32_t write, uint32_t tid, const struct faultc_decision *d,
			   uint32_t action_taken, const struct fc_batch *b)
{
	/*
	 * A write to a missing page of a write-tracked region: run the on
	 * write rule now rather than let the thread come back with a
	 * write-protect fault, so the page is installed protected without
	 * waking anyone and handle_write() unprotects and wakes.
	 */
	if (b->write_now) {
		if (b->fault_installed)
			handle_write(w, r, addr, tid);
		else
			fc_wake_page(w->e, addr); /* present already: its write faults again if protected */
	}

	/* A page another thread resolved first is that thread's to count. */
	if (b->fault_installed)
		count_action(r, action_taken);
	if (b->installed > (unsigned)b->fault_installed)
		atomic_fetch_add(&r->st.prefetch, b->installed - (unsigned)b->fault_installed);
	if (d->flags & FAULTC_F_NOTIFY)
		fc_push_event(w->e, r, addr, tid, FAULTC_ON_MISSING, write, action_taken,
			      b->installed, 0);
}

/*
 * A deferred fault with a user-space handler: its answer is the page's
 * bytes, zeros, or SIGBUS; no answer in time (or a failed handler) is
 * SIGBUS with an error. Counted as deferred, reported as defer.
 */
static void missing_deferred(struct fc_worker *w, struct fc_region *r, uint64_t addr,
			     uint32_t write, uint32_t tid, struct faultc_decision *d)
{
	struct fc_batch b = { .base = addr, .n = 1, .write_now = write && r->wp };
	uint32_t kind = 0;
	uint32_t error = fc_defer_ask(w->e, r, addr, write, tid, w->buf, &kind);

	if (error) {
		missing_unreadable(w->e, r, addr, write, tid, error);
		return;
	}
	if (kind == FC_DEFER_SIGBUS) {
		d->action = FAULTC_ACT_SIGBUS;
		missing_sigbus(w->e, r, addr, write, tid, d);
		return;
	}
	if (kind == FC_DEFER_ZERO)
		memset(w->buf, 0, PAGE);
	batch_install(w->e, r, &b, w->buf);
	finish_missing(w, r, addr, write, tid, d, FAULTC_ACT_DEFER, &b);
}

static void handle_missing(struct fc_worker *w, struct fc_region *r,
			   uint64_t addr, uint32_t write, uint32_t tid)
{
	struct fc_engine *e = w->e;
	struct faultc_decision d;
	struct fc_batch b = { .write_now = write && r->wp };
	uint32_t action_taken, error;

	fc_decide(e, r, addr, FAULTC_ON_MISSING, write, &d);
	action_taken = d.action;
	if (d.action == FAULTC_ACT_DEFER && fc_defer_enabled(e)) {
		missing_deferred(w, r, addr, write, tid, &d);
		return;
	}
	if (d.action == FAULTC_ACT_DEFER || d.action == FAULTC_ACT_NONE) {
		/*
		 * defer hands the fault to a user-space handler; this engine is
		 * that handler and has nothing further to ask, so the page
		 * starts as zeros (counted as deferred, reported as defer).
		 */
		d.action = FAULTC_ACT_ZERO;
	}
	if (d.action == FAULTC_ACT_SIGBUS) {
		missing_sigbus(e, r, addr, write, tid, &d);
		return;
	}
	if (d.action == FAULTC_ACT_ZERO && !d.prefetch_pages && !r->wp && !write) {
		missing_zero_page(e, r, addr, write, tid, &d, action_taken);
		return;
	}
	b.n = fc_plan_batch(w, r, addr, &d, &b.fault_idx);
	b.base = addr - (uint64_t)b.fault_idx * PAGE;
	if (!install_direct(w, r, &b)) {
		error = install_buffered(w, r, &b, addr);
		if (error) {
			missing_unreadable(e, r, addr, write, tid, error);
			return;
		}
	}
	finish_missing(w, r, addr, write, tid, &d, action_taken, &b);
}

void fc_handle_msg(struct fc_worker *w, const struct uffd_msg *m)
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
	atomic_fetch_add_explicit(&w->resolved, 1, memory_order_relaxed);
	w->last_tid = tid;
	if (atomic_exchange_explicit(&e->last_tid, tid, memory_order_relaxed) != tid)
		atomic_fetch_add_explicit(&e->tid_switches, 1, memory_order_relaxed);
	if (flags & UFFD_PAGEFAULT_FLAG_WP)
		handle_write(w, r, addr, tid);
	else
		handle_missing(w, r, addr, (flags & UFFD_PAGEFAULT_FLAG_WRITE) ? 1 : 0, tid);
}
