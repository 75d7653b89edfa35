// SPDX-License-Identifier: GPL-2.0
/*
 * faultc's lazy-pages daemon (see lazy_pages.h and docs/criu.md).
 *
 * Each adopted task has its lazy pages numbered 0..nr_pages-1 in image
 * order, one state byte each:
 *
 *   PENDING -> INFLIGHT (claimed by one copier) -> DONE
 *                     \-> PENDING (the copy got EAGAIN: an mm event is pending)
 *   PENDING -> DROPPED (unmapped or removed first) ; PENDING -> BAD (unreadable)
 *
 * and a table of maps from current addresses to image pages, which remap
 * events split and move. Copiers (faults and background) hold the task's
 * read lock from claim to state update; the non-cooperative events take
 * the write lock, so an event never sees a copy half done and a copy never
 * lands in a range an event has just dropped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "lazy_pages.h"
#include "lp_holder.h"
#include "lp_socket.h"

#define PAGE 4096ull
#define MAX_TASKS 1024
#define MAX_ERRORS 256
#define LP_MSG_BATCH 16
#define IDLE_POLL_MS 50
#define LP_PENDING 1024
#define LP_SIGBUS_GRACE_NS 1000000000ull
/* While faults come (one in the last LP_FAULTING_NS), a background copy is
 * at most LP_BATCH_FAULTING pages, so that a fault waits little behind it. */
#define LP_FAULTING_NS 10000000ull
#define LP_BATCH_FAULTING 64
/* So too for so long after the restore has finished: the tasks resume then,
 * and their first touches (stack, libraries' data) fault one after another. */
#define LP_STARTING_NS 50000000ull
#define LP_BLOCK_SHIFT 21 /* the mapped image is released in 2 MiB blocks */
/* While the restore runs, a task whose areas are not registered yet is tried
 * again this much later. */
#define LP_EARLY_RETRY_NS 1000000ull
#define LP_EARLY_POLL_MS 1

enum {
	PENDING,
	INFLIGHT,
	DONE,
	DROPPED,
	BAD,
};
enum how {
	BY_DEMAND,
	BY_BACKGROUND,
};

struct lp_map {
	uint64_t cur; /* where the pages are now */
	uint64_t img; /* where the image has them */
	uint64_t nr;
	uint64_t base; /* index of the first page */
	int64_t off; /* pages-image offset of the first page */
};

struct lp_task {
	struct lp_daemon *d;
	struct lp_task *parent;
	_Atomic int32_t pid; /* 0: forked after the restore, not found yet */
	uint32_t slot; /* index in the daemon's tasks */
	int uffd;
	int pages_fd;
	const uint8_t *pages_map; /* the pages image, mapped read-only */
	uint64_t pages_map_len;
	_Atomic int64_t *pages_left; /* its blocks' lazy pages not copied yet */
	const struct lp_task_image *img;
	pthread_rwlock_t lock;
	struct lp_map *maps;
	size_t nr_maps, cap_maps;
	_Atomic uint8_t *state;
	uint64_t nr_pages;
	_Atomic uint64_t remaining;
	_Atomic uint64_t seq_cursor; /* background: next page index to look at */
	_Atomic uint64_t first_cursor; /* background: next replay entry */
	_Atomic uint64_t early_retry; /* before the restore finished: not tried again before then */
	_Atomic int gone;
	_Atomic uint64_t sigbus_at; /* first SIGBUS sent, 0: none */
	_Atomic uint64_t last_bad; /* last address reported (the first page is never lazy) */
	struct {
		_Atomic uint64_t faults, demand, prefetch, background, early, zero, dropped, raced, errors;
		_Atomic uint64_t t_first_fault, t_done;
	} st;
	uint64_t t_adopt;
	pthread_mutex_t rec_lock; /* first-touch order */
	uint64_t *rec;
	size_t nr_rec, cap_rec;
};

struct lp_worker {
	struct lp_daemon *d;
	pthread_t thread;
	int epfd;
	uint8_t *buf;
	uint64_t pending[LP_PENDING]; /* faults to retry after an event (EAGAIN) */
	struct lp_task *pending_task[LP_PENDING];
	unsigned nr_pending;
};

struct lp_daemon {
	struct lp_opts o;
	const struct lp_task_image *images;
	size_t nr_images;
	char *sock_path;
	int listen_fd;
	bool sock_made; /* the socket file is ours to unlink */
	int stop_fd; /* eventfd: handlers and lp_run() return */
	int done_fd; /* eventfd: a task finished (wakes lp_run()) */
	uint64_t t0;
	pthread_mutex_t tasks_lock;
	struct lp_task *tasks[MAX_TASKS];
	_Atomic size_t nr_tasks;
	_Atomic unsigned bg_next; /* round-robin over tasks */
	_Atomic int restored; /* the restore sent its finish message */
	_Atomic uint64_t t_restored; /* when (0: not yet) */
	bool early; /* copy while the restore runs (more than one CPU online) */
	_Atomic int recording; /* first touches are kept; no prefetch, no background */
	_Atomic uint64_t rec_until; /* recording ends at this time (0: no window yet) */
	_Atomic uint64_t last_fault; /* time of the last fault read, 0: none */
	int wake_fd; /* eventfd, edge-triggered in every handler's epoll set */
	struct lp_worker *workers;
	unsigned nr_workers;
	struct lp_holder holder; /* keeps the uffds should the daemon die */
	struct lp_mapped {
		const uint8_t *p; /* NULL: not mapped (every read a pread) */
		uint64_t len;
		_Atomic int64_t *left; /* per 2 MiB block: lazy pages not copied yet */
	} * mapped; /* per image: its pages image, mapped at open */
	pthread_mutex_t err_lock;
	struct lp_error errors[MAX_ERRORS];
	size_t nr_errors;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t since(const struct lp_daemon *d)
{
	return now_ns() - d->t0 + 1; /* never 0: 0 means "not reached" */
}

static void push_error(struct lp_daemon *d, int32_t pid, uint64_t addr, int err, const char *what)
{
	pthread_mutex_lock(&d->err_lock);
	if (d->nr_errors < MAX_ERRORS) {
		struct lp_error *e = &d->errors[d->nr_errors++];

		e->pid = pid;
		e->addr = addr;
		e->err = err;
		snprintf(e->what, sizeof(e->what), "%s", what);
	}
	pthread_mutex_unlock(&d->err_lock);
}

static void kick(int efd)
{
	uint64_t one = 1;

	if (write(efd, &one, sizeof(one)) < 0)
		return;
}

/* ---- task state ---- */

static void note_final(struct lp_task *t, uint64_t n)
{
	if (n && atomic_fetch_sub(&t->remaining, n) == n) {
		atomic_store(&t->st.t_done, since(t->d));
		kick(t->d->done_fd);
	}
}

static void mark_gone(struct lp_task *t)
{
	if (!atomic_exchange(&t->gone, 1))
		kick(t->d->done_fd);
}

static bool task_finished(struct lp_task *t)
{
	return atomic_load(&t->gone) || atomic_load(&t->remaining) == 0;
}

/* The map holding current address addr; NULL for a hole. Lock held. */
static struct lp_map *map_at(struct lp_task *t, uint64_t addr)
{
	for (size_t i = 0; i < t->nr_maps; i++) {
		struct lp_map *m = &t->maps[i];

		if (addr >= m->cur && addr < m->cur + m->nr * PAGE)
			return m;
	}
	return NULL;
}

/* The map holding page index idx; NULL once unmapped. Lock held. */
static struct lp_map *map_of(struct lp_task *t, uint64_t idx)
{
	for (size_t i = 0; i < t->nr_maps; i++) {
		struct lp_map *m = &t->maps[i];

		if (idx >= m->base && idx < m->base + m->nr)
			return m;
	}
	return NULL;
}

static void record_touch(struct lp_task *t, uint64_t img_addr)
{
	pthread_mutex_lock(&t->rec_lock);
	if (t->nr_rec == t->cap_rec) {
		size_t cap = t->cap_rec ? t->cap_rec * 2 : 4096;
		uint64_t *r = realloc(t->rec, cap * sizeof(*r));

		if (!r) {
			pthread_mutex_unlock(&t->rec_lock);
			return;
		}
		t->rec = r;
		t->cap_rec = cap;
	}
	t->rec[t->nr_rec++] = img_addr;
	pthread_mutex_unlock(&t->rec_lock);
}

/*
 * Whether first touches are still recorded. A window (o.record_ms) starts
 * at the first recorded touch; past it, or after lp_stop_recording(), the
 * daemon serves as without --record: prefetch and the background copy.
 */
static bool recording_on(struct lp_daemon *d, bool touch)
{
	uint64_t until = atomic_load(&d->rec_until), now;

	if (!atomic_load(&d->recording))
		return false;
	if (!d->o.record_ms)
		return true;
	now = since(d);
	if (!until) {
		if (!touch)
			return true;
		atomic_compare_exchange_strong(&d->rec_until, &until, now + d->o.record_ms * 1000000ull);
		return true;
	}
	if (now < until)
		return true;
	lp_stop_recording(d);
	return false;
}

void lp_stop_recording(struct lp_daemon *d)
{
	if (atomic_exchange(&d->recording, 0))
		kick(d->wake_fd);
}

/* ---- installing pages ---- */

static bool claim(struct lp_task *t, uint64_t idx)
{
	uint8_t want = PENDING;

	return atomic_compare_exchange_strong(&t->state[idx], &want, INFLIGHT);
}

/* A cursor goes back to idx (never forward). */
static void rewind_to(_Atomic uint64_t *cursor, uint64_t idx)
{
	uint64_t cur = atomic_load(cursor);

	while (idx < cur && !atomic_compare_exchange_weak(cursor, &cur, idx))
		;
}

/* The background cursor goes back to idx (a page there is PENDING again). */
static void rewind_cursor(struct lp_task *t, uint64_t idx)
{
	rewind_to(&t->seq_cursor, idx);
}

/*
 * Claimed pages leave INFLIGHT. DONE and DROPPED are final; BAD is not: a
 * task with an unreadable page keeps the daemon (and its uffd) until it
 * exits, so that page never turns into a silent zero.
 */
static void settle(struct lp_task *t, uint64_t idx, uint64_t n, uint8_t to)
{
	uint64_t finals = 0;

	for (uint64_t i = idx; i < idx + n; i++) {
		uint8_t want = INFLIGHT;

		if (atomic_compare_exchange_strong(&t->state[i], &want, to) && (to == DONE || to == DROPPED))
			finals++;
	}
	if (to == PENDING && n)
		rewind_cursor(t, idx);
	note_final(t, finals);
}

/* Claimed pages back to PENDING, the background cursor left where it is. */
static void unclaim(struct lp_task *t, uint64_t idx, uint64_t n)
{
	for (uint64_t i = idx; i < idx + n; i++) {
		uint8_t want = INFLIGHT;

		atomic_compare_exchange_strong(&t->state[i], &want, PENDING);
	}
}

/*
 * UFFDIO_COPY of n pages from buf to dst; pages that exist already are
 * skipped (counted as raced). 0, or -errno (EAGAIN: an event is pending;
 * ESRCH/ENOENT: the task or its mapping is gone) with *done pages copied.
 */
static int copy_pages(struct lp_task *t, uint64_t dst, const uint8_t *buf, uint64_t n,
		      uint64_t *done, bool wake)
{
	*done = 0;
	while (*done < n) {
		struct uffdio_copy c = {
			.dst = dst + *done * PAGE,
			.src = (uint64_t)(uintptr_t)(buf + *done * PAGE),
			.len = (n - *done) * PAGE,
			.mode = wake ? 0 : UFFDIO_COPY_MODE_DONTWAKE,
		};

		if (!ioctl(t->uffd, UFFDIO_COPY, &c)) {
			*done = n;
			return 0;
		}
		if (c.copy > 0) {
			*done += c.copy / PAGE;
			/* A short copy answers EAGAIN (the next page exists, or an
			 * event came): go on; a pending event fails the next one. */
			if (errno == EAGAIN)
				continue;
		}
		if (errno == EEXIST) {
			*done += 1; /* that page is in place: step over it */
			atomic_fetch_add(&t->st.raced, 1);
			continue;
		}
		if (errno == EINTR)
			continue;
		return -errno;
	}
	return 0;
}

static void wake_range(struct lp_task *t, uint64_t addr, uint64_t len)
{
	struct uffdio_range r = { .start = addr, .len = len };

	ioctl(t->uffd, UFFDIO_WAKE, &r);
}

/*
 * SIGBUS to the task whose page cannot be served, then let it run into it.
 * The signal is queued with the page's address in si_addr (si_code is
 * SI_QUEUE: only the kernel may send BUS_ADRERR). Until the task takes it,
 * its faults keep coming back here; one that still faults a second later
 * (its SIGBUS cannot be delivered, e.g. the signal frame would land on an
 * unreadable stack page) gets SIGKILL.
 */
static void resolve_pid(struct lp_task *t);

static void fail_page(struct lp_task *t, uint64_t addr, int err, const char *what)
{
	uint64_t first = 0, now = since(t->d);

	if (t->pid == 0)
		resolve_pid(t);

	atomic_fetch_add(&t->st.errors, 1);
	atomic_compare_exchange_strong(&t->sigbus_at, &first, now);
	if (atomic_exchange(&t->last_bad, addr) != addr)
		push_error(t->d, t->pid, addr, err, what);
	if (t->pid > 0) {
		siginfo_t si = { .si_signo = SIGBUS };

		si.si_addr = (void *)(uintptr_t)addr;
		si.si_code = SI_QUEUE;
		if (first && now - first > LP_SIGBUS_GRACE_NS)
			kill(t->pid, SIGKILL);
		else if (syscall(SYS_rt_sigqueueinfo, t->pid, SIGBUS, &si))
			kill(t->pid, SIGBUS);
	}
	wake_range(t, addr, PAGE);
}

/* Reads n pages of map m from index idx into buf. 0, or -errno (EIO: short). */
static int read_pages(struct lp_task *t, const struct lp_map *m, uint64_t idx, uint64_t n, uint8_t *buf)
{
	uint64_t len = n * PAGE, got = 0;
	int64_t off = m->off + (int64_t)((idx - m->base) * PAGE);

	while (got < len) {
		ssize_t r = pread(t->pages_fd, buf + got, len - got, off + got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		got += r;
	}
	return 0;
}

/*
 * The claimed pages' bytes straight from the mapped pages image (one copy:
 * page cache to the task), or NULL when they lie past the mapping.
 */
static const uint8_t *mapped_source(const struct lp_task *t, const struct lp_map *m, uint64_t idx, uint64_t n)
{
	uint64_t off = (uint64_t)m->off + (idx - m->base) * PAGE;

	if (!t->pages_map || off + n * PAGE > t->pages_map_len)
		return NULL;
	return t->pages_map + off;
}

/*
 * n pages copied from the mapped image at src. Once every lazy page of a
 * 2 MiB block of it is copied, the block leaves the daemon's page tables
 * (MADV_DONTNEED; the page cache keeps the bytes, a later read faults
 * them back), so the daemon ends without a populated 1 GiB mapping to tear
 * down in one thread. By block, not by copy: each madvise flushes the
 * daemon's TLB, which thousands of single-page replay copies would pay.
 * A page counted twice (a race, a fork) releases its block early: a later
 * read of it refaults, no more.
 */
static void release_source(const struct lp_task *t, const uint8_t *src, uint64_t n)
{
	uint64_t off = (uint64_t)(src - t->pages_map), end = off + n * PAGE;

	while (t->pages_left && off < end) {
		uint64_t b = off >> LP_BLOCK_SHIFT, bend = (b + 1) << LP_BLOCK_SHIFT;
		uint64_t stop = end < bend ? end : bend, k = (stop - off) / PAGE;
		int64_t was = atomic_fetch_sub(&t->pages_left[b], (int64_t)k);

		if (was > 0 && was <= (int64_t)k) {
			uint64_t start = b << LP_BLOCK_SHIFT, len = t->pages_map_len - start;

			madvise((void *)(t->pages_map + start), len < bend - start ? len : bend - start, MADV_DONTNEED);
		}
		off = stop;
	}
}

/* The first done pages of a claimed run are in place: DONE, and counted. */
static void installed(struct lp_task *t, uint64_t idx, uint64_t done, enum how how)
{
	settle(t, idx, done, DONE);
	if (how == BY_BACKGROUND) {
		atomic_fetch_add(&t->st.background, done);
		if (!atomic_load(&t->d->restored))
			atomic_fetch_add(&t->st.early, done);
	} else if (done) {
		atomic_fetch_add(&t->st.demand, 1);
		atomic_fetch_add(&t->st.prefetch, done - 1);
	}
}

/*
 * Installs the claimed pages [idx, idx+n) of map m. Read lock held. Returns
 * 0, -EAGAIN (the unfinished pages are PENDING again) or -ENOENT (the range
 * is not registered: the pages left are PENDING again). The mapped image is
 * tried first; a page it cannot give (EFAULT: the file shrank) is read with
 * pread, and one that cannot be read at all turns BAD.
 */
static int install(struct lp_worker *w, struct lp_task *t, struct lp_map *m, uint64_t idx,
		   uint64_t n, enum how how)
{
	uint64_t dst = m->cur + (idx - m->base) * PAGE, done = 0, more = 0;
	const uint8_t *src = mapped_source(t, m, idx, n);
	int r = 0;

	if (src) {
		r = copy_pages(t, dst, src, n, &done, true);
		release_source(t, src, done);
		if (r == -EFAULT)
			r = 0;
		else
			more = n - done; /* nothing left to read */
	}
	if (done + more < n) {
		r = read_pages(t, m, idx + done, n - done, w->buf);
		if (r) {
			/* A faulting page gets SIGBUS now; the others when they are touched. */
			if (how == BY_DEMAND && done == 0)
				fail_page(t, dst, -r, "cannot read the page from the pages image");
			else
				push_error(t->d, t->pid, dst + done * PAGE, -r, "cannot read pages from the pages image");
			installed(t, idx, done, how);
			settle(t, idx + done, n - done, BAD);
			return 0;
		}
		r = copy_pages(t, dst + done * PAGE, w->buf, n - done, &more, true);
		done += more;
	}
	installed(t, idx, done, how);
	if (r == -EAGAIN) {
		settle(t, idx + done, n - done, PENDING);
		return r;
	}
	if (r == -ESRCH) {
		/* The task is gone: nothing is waiting on these pages. */
		mark_gone(t);
		settle(t, idx + done, n - done, DROPPED);
		atomic_fetch_add(&t->st.dropped, n - done);
	} else if (r == -ENOENT) {
		/*
		 * Not registered with this uffd (now): never dropped, as a fault
		 * there later must still get the image's bytes. Once the restore
		 * has finished the background cursor does not come back for them
		 * (a fault does); before, copy_runs() tries them again.
		 */
		unclaim(t, idx + done, n - done);
		return r;
	} else if (r) {
		if (how == BY_DEMAND && done == 0)
			fail_page(t, dst, -r, "UFFDIO_COPY failed");
		else
			push_error(t->d, t->pid, dst + done * PAGE, -r, "UFFDIO_COPY failed");
		settle(t, idx + done, n - done, BAD);
	}
	return 0;
}

/* ---- a policy's plan ---- */

static int64_t own_off(const struct lp_map *m, uint64_t idx)
{
	return m->off + (int64_t)((idx - m->base) * PAGE);
}

/* Whether page idx is copied from its own image page (no plan: always). */
static bool is_own(const struct lp_task *t, const struct lp_map *m, uint64_t idx)
{
	return !t->img->plan || t->img->plan[idx] == own_off(m, idx);
}

/* Pages to copy after a faulting page: the policy's, else the daemon's. */
static uint64_t ahead_of(const struct lp_task *t, uint64_t idx)
{
	return t->img->ahead ? t->img->ahead[idx] : t->d->o.prefetch;
}

/*
 * One claimed page the plan resolves otherwise than from its own image
 * page: another image page, zeros or a byte. Read lock held. 0, or -EAGAIN
 * (the page is PENDING again).
 */
static int install_planned(struct lp_worker *w, struct lp_task *t, struct lp_map *m, uint64_t idx, enum how how)
{
	uint64_t dst = m->cur + (idx - m->base) * PAGE, done = 0;
	int64_t v = t->img->plan[idx];
	const uint8_t *src = w->buf;
	int r;

	if (v == LP_PLAN_ZERO) {
		struct uffdio_zeropage z = { .range = { .start = dst, .len = PAGE } };

		r = ioctl(t->uffd, UFFDIO_ZEROPAGE, &z) ? -errno : 0;
		if (r == -EEXIST)
			r = 0;
		done = r == 0;
		if (done)
			atomic_fetch_add(&t->st.zero, 1);
	} else {
		if (LP_PLAN_IS_FILL(v))
			memset(w->buf, (int)(-v - 0x100), PAGE);
		else if (t->pages_map && (uint64_t)v + PAGE <= t->pages_map_len)
			src = t->pages_map + v;
		else if (pread(t->pages_fd, w->buf, PAGE, v) != (ssize_t)PAGE) {
			if (how == BY_DEMAND)
				fail_page(t, dst, EIO, "cannot read the page the policy copies from the pages image");
			else
				push_error(t->d, t->pid, dst, EIO, "cannot read the page the policy copies from the pages image");
			settle(t, idx, 1, BAD);
			return 0;
		}
		r = copy_pages(t, dst, src, 1, &done, true);
	}
	installed(t, idx, done, how);
	if (done)
		return 0;
	if (r == -EAGAIN) {
		settle(t, idx, 1, PENDING);
		return r;
	}
	if (r == -ESRCH) {
		mark_gone(t);
		settle(t, idx, 1, DROPPED);
		atomic_fetch_add(&t->st.dropped, 1);
	} else if (r == -ENOENT) {
		unclaim(t, idx, 1);
		return r;
	} else {
		push_error(t->d, t->pid, dst, -r, "cannot install the page the policy gives");
		settle(t, idx, 1, BAD);
	}
	return 0;
}

/* ---- faults ---- */

static int zero_page(struct lp_task *t, uint64_t addr)
{
	struct uffdio_zeropage z = { .range = { .start = addr, .len = PAGE } };

	if (!ioctl(t->uffd, UFFDIO_ZEROPAGE, &z)) {
		atomic_fetch_add(&t->st.zero, 1);
		return 0;
	}
	if (errno == EAGAIN)
		return -EAGAIN;
	wake_range(t, addr, PAGE); /* exists already, or the range is gone */
	return 0;
}

/* One missing fault at addr. 0, or -EAGAIN: retry after the pending event. */
static int serve_fault(struct lp_worker *w, struct lp_task *t, uint64_t addr)
{
	struct lp_map *m;
	uint64_t idx, n = 1, done;
	int r = 0;

	pthread_rwlock_rdlock(&t->lock);
	m = map_at(t, addr);
	if (!m) {
		r = zero_page(t, addr);
		goto out;
	}
	idx = m->base + (addr - m->cur) / PAGE;
	if (atomic_load(&w->d->recording) && atomic_load(&t->state[idx]) == PENDING && recording_on(w->d, true))
		record_touch(t, m->img + (idx - m->base) * PAGE);
	if (claim(t, idx)) {
		uint64_t ahead = atomic_load(&w->d->recording) ? 0 : ahead_of(t, idx);

		if (!is_own(t, m, idx)) {
			r = install_planned(w, t, m, idx, BY_DEMAND);
			goto out;
		}
		while (n <= ahead && idx + n < m->base + m->nr && is_own(t, m, idx + n) && claim(t, idx + n))
			n++;
		r = install(w, t, m, idx, n, BY_DEMAND);
		goto out;
	}
	switch (atomic_load(&t->state[idx])) {
	case INFLIGHT:
		/* Another copier has it: copy the same bytes; whoever is second gets EEXIST. */
		if (read_pages(t, m, idx, 1, w->buf) == 0) {
			r = copy_pages(t, addr, w->buf, 1, &done, true);
			break;
		}
		/* fall through */
	case BAD:
		if (t->img->plan && t->img->plan[idx] == LP_PLAN_SIGBUS)
			fail_page(t, addr, ECANCELED, "the policy answers this page with sigbus");
		else
			fail_page(t, addr, EIO, "cannot read the page from the pages image");
		break;
	case DROPPED:
		/*
		 * Mapped here and missing, yet dropped: a copy gave up on it while
		 * the kernel still calls it ours. Its bytes, never a wake into the
		 * same fault again.
		 */
		if (read_pages(t, m, idx, 1, w->buf) == 0)
			r = copy_pages(t, addr, w->buf, 1, &done, true);
		else
			fail_page(t, addr, EIO, "cannot read the page from the pages image");
		break;
	default: /* DONE: the fault raced with its resolution */
		wake_range(t, addr, PAGE);
	}
out:
	pthread_rwlock_unlock(&t->lock);
	return r == -EAGAIN ? r : 0;
}

/* ---- non-cooperative events (write lock) ---- */

static int ensure_maps(struct lp_task *t, size_t n)
{
	struct lp_map *m;

	if (n <= t->cap_maps)
		return 0;
	m = realloc(t->maps, n * 2 * sizeof(*m));
	if (!m)
		return -ENOMEM;
	t->maps = m;
	t->cap_maps = n * 2;
	return 0;
}

/* Splits the map holding current address addr so that one starts there. */
static int split_at(struct lp_task *t, uint64_t addr)
{
	struct lp_map *m = map_at(t, addr);
	uint64_t k;

	if (!m || m->cur == addr)
		return 0;
	k = (addr - m->cur) / PAGE;
	if (ensure_maps(t, t->nr_maps + 1))
		return -ENOMEM;
	m = map_at(t, addr); /* realloc may have moved it */
	t->maps[t->nr_maps] = (struct lp_map){
		.cur = addr,
		.img = m->img + k * PAGE,
		.nr = m->nr - k,
		.base = m->base + k,
		.off = m->off + (int64_t)(k * PAGE),
	};
	t->nr_maps++;
	m->nr = k;
	return 0;
}

/* Pages in [start, end) are no longer the image's to fill. */
static void drop_range(struct lp_task *t, uint64_t start, uint64_t end)
{
	size_t i = 0;

	if (split_at(t, start) || split_at(t, end))
		return;
	while (i < t->nr_maps) {
		struct lp_map *m = &t->maps[i];
		uint64_t dropped = 0;

		if (m->cur < start || m->cur >= end) {
			i++;
			continue;
		}
		for (uint64_t p = m->base; p < m->base + m->nr; p++) {
			uint8_t want = PENDING;

			if (atomic_compare_exchange_strong(&t->state[p], &want, DROPPED))
				dropped++;
		}
		atomic_fetch_add(&t->st.dropped, dropped);
		note_final(t, dropped);
		t->maps[i] = t->maps[--t->nr_maps];
	}
}

static void remap_range(struct lp_task *t, uint64_t from, uint64_t to, uint64_t len)
{
	uint64_t end = from + len;

	/* Pages already at the destination are gone (mremap replaced them). */
	drop_range(t, to, to + len);
	if (split_at(t, from) || split_at(t, end))
		return;
	for (size_t i = 0; i < t->nr_maps; i++) {
		struct lp_map *m = &t->maps[i];

		if (m->cur >= from && m->cur < end)
			m->cur = m->cur - from + to;
	}
}

static struct lp_task *new_task(struct lp_daemon *d, const struct lp_task_image *img,
				struct lp_task *parent, int32_t pid, int uffd);
static int adopt(struct lp_daemon *d, struct lp_task *t);

static void on_fork(struct lp_task *parent, int uffd)
{
	struct lp_daemon *d = parent->d;
	struct lp_task *c = new_task(d, parent->img, parent, 0, uffd);

	if (!c || adopt(d, c)) {
		push_error(d, parent->pid, 0, ENOMEM, "cannot follow a fork");
		close(uffd);
	}
}

static void on_event(struct lp_task *t, const struct uffd_msg *msg)
{
	pthread_rwlock_wrlock(&t->lock);
	switch (msg->event) {
	case UFFD_EVENT_FORK:
		on_fork(t, (int)msg->arg.fork.ufd);
		break;
	case UFFD_EVENT_REMAP:
		remap_range(t, msg->arg.remap.from, msg->arg.remap.to, msg->arg.remap.len);
		break;
	case UFFD_EVENT_REMOVE: {
		/* The range stays mapped: unregister it, so its next touch is the kernel's. */
		struct uffdio_range r = { msg->arg.remove.start, msg->arg.remove.end - msg->arg.remove.start };

		if (ioctl(t->uffd, UFFDIO_UNREGISTER, &r) && errno == ENOMEM)
			mark_gone(t);
		drop_range(t, msg->arg.remove.start, msg->arg.remove.end);
		break;
	}
	case UFFD_EVENT_UNMAP:
		drop_range(t, msg->arg.remove.start, msg->arg.remove.end);
		break;
	default:
		push_error(t->d, t->pid, 0, EPROTO, "unexpected userfaultfd event");
	}
	pthread_rwlock_unlock(&t->lock);
}

/* ---- handler threads ---- */

static void retry_pending(struct lp_worker *w);

/* A fault to retry once the pending event is read; a fault is never dropped. */
static void defer_fault(struct lp_worker *w, struct lp_task *t, uint64_t addr)
{
	while (w->nr_pending == LP_PENDING) {
		sched_yield();
		retry_pending(w);
	}
	w->pending[w->nr_pending] = addr;
	w->pending_task[w->nr_pending++] = t;
}

/* Reads and handles t's messages until its queue is empty. */
static void drain(struct lp_worker *w, struct lp_task *t)
{
	struct uffd_msg msgs[LP_MSG_BATCH];

	for (;;) {
		ssize_t n = read(t->uffd, msgs, sizeof(msgs));

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return;
		}
		for (ssize_t i = 0; i < n / (ssize_t)sizeof(msgs[0]); i++) {
			const struct uffd_msg *m = &msgs[i];

			if (m->event != UFFD_EVENT_PAGEFAULT) {
				on_event(t, m);
				continue;
			}
			uint64_t addr = m->arg.pagefault.address & ~(PAGE - 1);

			atomic_fetch_add(&t->st.faults, 1);
			atomic_store(&t->d->last_fault, since(t->d));
			if (!atomic_load(&t->st.t_first_fault)) {
				uint64_t zero = 0;

				atomic_compare_exchange_strong(&t->st.t_first_fault, &zero, since(t->d));
			}
			if (serve_fault(w, t, addr) == -EAGAIN)
				defer_fault(w, t, addr);
		}
	}
}

/* Faults whose copy met a pending event: the event is read by now, or next. */
static void retry_pending(struct lp_worker *w)
{
	uint64_t addr[LP_PENDING];
	struct lp_task *task[LP_PENDING];
	unsigned n = w->nr_pending;

	memcpy(addr, w->pending, n * sizeof(addr[0]));
	memcpy(task, w->pending_task, n * sizeof(task[0]));
	w->nr_pending = 0;
	for (unsigned i = 0; i < n; i++) {
		drain(w, task[i]);
		if (serve_fault(w, task[i], addr[i]) == -EAGAIN)
			defer_fault(w, task[i], addr[i]);
	}
}

/* The next run of PENDING pages of t in background order; claims it. */
static uint64_t pick_run(struct lp_task *t, uint64_t max, uint64_t *idx_out)
{
	const struct lp_task_image *img = t->img;
	uint64_t i;

	/* Replay: the recorded working set first, runs of adjacent pages together. */
	while ((i = atomic_fetch_add(&t->first_cursor, 1)) < img->nr_first) {
		uint64_t addr = img->first[i];

		for (size_t k = 0; k < t->nr_maps; k++) {
			struct lp_map *m = &t->maps[k];
			uint64_t idx, n = 1;

			if (addr < m->img || addr >= m->img + m->nr * PAGE)
				continue;
			idx = m->base + (addr - m->img) / PAGE;
			if (!claim(t, idx))
				break;
			while (is_own(t, m, idx) && n < max && idx + n < m->base + m->nr && i + n < img->nr_first &&
			       img->first[i + n] == addr + n * PAGE && is_own(t, m, idx + n) && claim(t, idx + n))
				n++;
			atomic_fetch_add(&t->first_cursor, n - 1);
			*idx_out = idx;
			return n;
		}
	}
	/* Then every page in image order, unless only faults and replay may copy. */
	if (!t->d->o.background || atomic_load(&t->d->recording))
		return 0;
	for (i = atomic_load(&t->seq_cursor); i < t->nr_pages; i++) {
		struct lp_map *m;
		uint64_t n = 1;

		if (atomic_load(&t->state[i]) != PENDING || !(m = map_of(t, i)) || !claim(t, i))
			continue;
		while (is_own(t, m, i) && n < max && i + n < m->base + m->nr && is_own(t, m, i + n) && claim(t, i + n))
			n++;
		atomic_store(&t->seq_cursor, i + n);
		*idx_out = i;
		return n;
	}
	atomic_store(&t->seq_cursor, t->nr_pages);
	return 0;
}

/*
 * Background runs of t, up to batch pages in all (scattered replay pages
 * and the gaps demand faults leave are short runs: several per step, one
 * fault check for them all). Read lock held. Pages copied (0: none left).
 *
 * Before the restore has finished, a run whose range is not registered yet
 * (ENOENT: the restorer has not moved that VMA into place) puts both
 * cursors back where they were, so that the same order is tried again
 * LP_EARLY_RETRY_NS later. The restorer registers each lazy VMA right
 * after moving it to its final address, and moves nothing over a
 * registered one afterwards (criu/pie/restorer.c, vma_remap()), so a copy
 * that succeeds lands where the restored task will find it.
 */
static uint64_t copy_runs(struct lp_worker *w, struct lp_task *t, uint64_t batch)
{
	uint64_t copied = 0, idx = 0, n;

	for (;;) {
		uint64_t first = atomic_load(&t->first_cursor), seq = atomic_load(&t->seq_cursor);
		bool early = !atomic_load(&t->d->restored);
		struct lp_map *m;
		int r;

		if (copied >= batch || !(n = pick_run(t, batch - copied, &idx)))
			break;
		m = map_of(t, idx);
		r = is_own(t, m, idx) ? install(w, t, m, idx, n, BY_BACKGROUND) : install_planned(w, t, m, idx, BY_BACKGROUND);
		if (r == -ENOENT && early) {
			rewind_to(&t->first_cursor, first);
			rewind_to(&t->seq_cursor, seq);
			atomic_store(&t->early_retry, since(t->d) + LP_EARLY_RETRY_NS);
			break;
		}
		copied += n;
		if (r == -EAGAIN)
			break; /* an event waits: read it first */
	}
	return copied;
}

/*
 * One background step. Returns the handler's next epoll timeout: 0 when
 * it copied (more may follow), LP_EARLY_POLL_MS while the restore runs
 * and a task waits for its areas to be registered, else IDLE_POLL_MS.
 *
 * The copy starts as soon as a task's uffd has come, not when the restore
 * has finished: a task's uffd arrives before its restorer has moved the
 * lazy VMAs into place and registered them, and a copy into a range not
 * registered yet fails (ENOENT) and changes nothing; copy_runs() then
 * tries again a little later. While the restore runs, one handler copies
 * (the first), and only with more than one CPU online: the restore itself
 * keeps a CPU. Once it has finished, every handler does. Faults can only
 * come from registered ranges.
 */
static int background_step(struct lp_worker *w)
{
	struct lp_daemon *d = w->d;
	size_t nr = atomic_load(&d->nr_tasks);
	uint64_t last = atomic_load(&d->last_fault), fin = atomic_load(&d->t_restored), now = since(d);
	uint64_t batch = d->o.batch;
	bool restored = atomic_load(&d->restored), waiting = false;

	if (((last && now < last + LP_FAULTING_NS) || (fin && now < fin + LP_STARTING_NS)) && batch > LP_BATCH_FAULTING)
		batch = LP_BATCH_FAULTING;
	if (!restored && (!d->early || w != &d->workers[0]))
		return IDLE_POLL_MS; /* woken when the restore finishes */
	for (size_t k = 0; k < nr; k++) {
		struct lp_task *t = d->tasks[atomic_fetch_add(&d->bg_next, 1) % nr];
		uint64_t n;

		if (task_finished(t))
			continue;
		if (!restored && since(d) < atomic_load(&t->early_retry)) {
			waiting = true;
			continue;
		}
		pthread_rwlock_rdlock(&t->lock);
		n = copy_runs(w, t, batch);
		pthread_rwlock_unlock(&t->lock);
		if (n)
			return 0;
		if (!restored && atomic_load(&t->early_retry) > since(d))
			waiting = true;
	}
	return waiting && !atomic_load(&d->restored) ? LP_EARLY_POLL_MS : IDLE_POLL_MS;
}

static void *handler_main(void *arg)
{
	struct lp_worker *w = arg;
	int timeout = 0;

	/* Faults first; between them, one background copy at a time. */
	for (;;) {
		struct epoll_event ev[8];
		int n = epoll_wait(w->epfd, ev, 8, w->nr_pending ? 0 : timeout);

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == NULL)
				return NULL;
			if (ev[i].data.ptr == &w->d->wake_fd)
				continue; /* background work may be there: step below */
			drain(w, ev[i].data.ptr);
		}
		if (w->nr_pending)
			retry_pending(w);
		if (n > 0)
			timeout = 0;
		else
			timeout = background_step(w);
	}
	return NULL;
}

/* ---- tasks ---- */

/*
 * Each pages image is mapped once, when the daemon opens, with its page
 * tables filled (MAP_POPULATE): the copies during the restore then take no
 * fault on the daemon's side. Tasks (forks too) share the mapping. Without
 * one (an empty or unmappable file) every read is a pread.
 */
/* Per 2 MiB block of a mapped pages image, the lazy pages it holds. */
static void count_blocks(struct lp_mapped *m, const struct lp_task_image *img)
{
	uint64_t nr = (m->len + (1ull << LP_BLOCK_SHIFT) - 1) >> LP_BLOCK_SHIFT;

	m->left = calloc(nr ? nr : 1, sizeof(*m->left));
	for (size_t a = 0; m->left && a < img->nr_areas; a++) {
		uint64_t off = (uint64_t)img->areas[a].file_off, end = off + img->areas[a].nr_pages * PAGE;

		for (; off < end && off < m->len; off += PAGE)
			m->left[off >> LP_BLOCK_SHIFT]++;
	}
}

static void map_images(struct lp_daemon *d)
{
	d->mapped = calloc(d->nr_images ? d->nr_images : 1, sizeof(*d->mapped));
	for (size_t i = 0; d->mapped && i < d->nr_images; i++) {
		int fd = open(d->images[i].pages_path, O_RDONLY | O_CLOEXEC);
		struct stat st;
		void *p;

		if (fd < 0)
			continue;
		if (!fstat(fd, &st) && st.st_size > 0) {
			p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
			if (p != MAP_FAILED) {
				d->mapped[i] = (struct lp_mapped){ p, (uint64_t)st.st_size, NULL };
				count_blocks(&d->mapped[i], &d->images[i]);
			}
		}
		close(fd);
	}
}

static void map_pages(struct lp_task *t)
{
	const struct lp_mapped *m = t->d->mapped ? &t->d->mapped[t->img - t->d->images] : NULL;

	if (m && m->p) {
		t->pages_map = m->p;
		t->pages_map_len = m->len;
		t->pages_left = m->left;
	}
}

static struct lp_task *new_task(struct lp_daemon *d, const struct lp_task_image *img,
				struct lp_task *parent, int32_t pid, int uffd)
{
	struct lp_task *t = calloc(1, sizeof(*t));
	pthread_rwlockattr_t attr;
	uint64_t total = 0, missing;

	if (!t)
		return NULL;
	t->d = d;
	t->parent = parent;
	t->pid = pid;
	t->uffd = uffd;
	t->img = img;
	t->t_adopt = since(d);
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&t->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&t->rec_lock, NULL);
	for (size_t i = 0; i < img->nr_areas; i++)
		total += img->areas[i].nr_pages;
	t->nr_pages = total;
	t->state = calloc(total ? total : 1, 1);
	t->pages_fd = open(img->pages_path, O_RDONLY | O_CLOEXEC);
	if (!t->state || t->pages_fd < 0)
		goto fail;
	map_pages(t);
	if (parent) {
		/* A fork: the child has what its parent had then, and misses the rest. */
		if (ensure_maps(t, parent->nr_maps + 1))
			goto fail;
		memcpy(t->maps, parent->maps, parent->nr_maps * sizeof(*t->maps));
		t->nr_maps = parent->nr_maps;
		missing = total;
		for (uint64_t i = 0; i < total; i++) {
			uint8_t s = atomic_load(&parent->state[i]);

			t->state[i] = s == INFLIGHT ? PENDING : s;
			missing -= s == DONE || s == DROPPED;
		}
		t->remaining = missing;
		return t;
	}
	if (ensure_maps(t, img->nr_areas + 1))
		goto fail;
	for (size_t i = 0; i < img->nr_areas; i++) {
		const struct lp_area *a = &img->areas[i];

		t->maps[i] = (struct lp_map){
			.cur = a->start,
			.img = a->start,
			.nr = a->nr_pages,
			.base = i ? t->maps[i - 1].base + t->maps[i - 1].nr : 0,
			.off = a->file_off,
		};
	}
	t->nr_maps = img->nr_areas;
	t->remaining = total;
	/* Pages the policy answers with sigbus are never installed. */
	for (uint64_t i = 0; img->plan && i < total; i++)
		if (img->plan[i] == LP_PLAN_SIGBUS)
			t->state[i] = BAD;
	return t;
fail:
	if (t->pages_fd >= 0)
		close(t->pages_fd);
	free(t->state);
	free(t->maps);
	free(t);
	return NULL;
}

static void free_task(struct lp_task *t)
{
	if (t->uffd >= 0)
		close(t->uffd);
	if (t->pages_fd >= 0)
		close(t->pages_fd);
	pthread_rwlock_destroy(&t->lock);
	pthread_mutex_destroy(&t->rec_lock);
	free((void *)t->state);
	free(t->maps);
	free(t->rec);
	free(t);
}

/* Adds t to the tasks and to every handler's epoll set. */
static int adopt(struct lp_daemon *d, struct lp_task *t)
{
	int r = 0;

	pthread_mutex_lock(&d->tasks_lock);
	if (atomic_load(&d->nr_tasks) == MAX_TASKS) {
		r = -ENOSPC;
		goto out;
	}
	fcntl(t->uffd, F_SETFL, fcntl(t->uffd, F_GETFL) | O_NONBLOCK);
	t->slot = (uint32_t)atomic_load(&d->nr_tasks);
	d->tasks[t->slot] = t;
	atomic_fetch_add(&d->nr_tasks, 1);
	for (unsigned i = 0; i < d->nr_workers; i++) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = t };

		if (epoll_ctl(d->workers[i].epfd, EPOLL_CTL_ADD, t->uffd, &ev))
			r = -errno;
	}
	if (lp_holder_add(&d->holder, t->slot, t->pid, t->uffd))
		push_error(d, t->pid, 0, EPIPE, "the holder did not take the task's userfaultfd");
	if (t->remaining == 0)
		kick(d->done_fd);
	kick(d->wake_fd); /* its background copy may start */
out:
	pthread_mutex_unlock(&d->tasks_lock);
	return r;
}

static const struct lp_task_image *image_of(struct lp_daemon *d, int32_t pid)
{
	for (size_t i = 0; i < d->nr_images; i++)
		if (d->images[i].pid == pid)
			return &d->images[i];
	return NULL;
}

/* ---- the daemon ---- */

static void stop_workers(struct lp_daemon *d)
{
	for (unsigned i = 0; i < d->nr_workers; i++) {
		struct lp_worker *w = &d->workers[i];

		if (w->thread) {
			pthread_join(w->thread, NULL);
			w->thread = 0;
		}
	}
}

static int start_workers(struct lp_daemon *d, char *err, size_t errlen)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = d->o.nr_threads ? d->o.nr_threads : (unsigned)(cpus > 0 ? cpus : 1);
	/* A policy may prefetch up to 512 pages after a fault. */
	size_t pages = d->o.batch > d->o.prefetch + 1 ? d->o.batch : d->o.prefetch + 1;
	size_t buf = (pages > 513 ? pages : 513) * PAGE;

	d->early = cpus > 1;
	d->workers = calloc(n, sizeof(*d->workers));
	if (!d->workers)
		return -ENOMEM;
	d->nr_workers = n;
	for (unsigned i = 0; i < n; i++) {
		struct lp_worker *w = &d->workers[i];
		struct epoll_event stop = { .events = EPOLLIN, .data.ptr = NULL };
		struct epoll_event wake = { .events = EPOLLIN | EPOLLET, .data.ptr = &d->wake_fd };

		w->d = d;
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->buf = aligned_alloc(PAGE, buf);
		if (w->epfd < 0 || !w->buf || epoll_ctl(w->epfd, EPOLL_CTL_ADD, d->stop_fd, &stop) ||
		    epoll_ctl(w->epfd, EPOLL_CTL_ADD, d->wake_fd, &wake)) {
			set_err(err, errlen, "handler set-up: %s", strerror(errno ? errno : ENOMEM));
			return -ENOMEM;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		int r = pthread_create(&d->workers[i].thread, NULL, handler_main, &d->workers[i]);

		if (r) {
			set_err(err, errlen, "pthread_create: %s", strerror(r));
			return -r;
		}
	}
	return 0;
}

static void sock_error(char *err, size_t errlen, const char *path, int r)
{
	set_err(err, errlen, "%s: %s%s", path, strerror(-r),
		r == -EADDRINUSE ? " (the socket exists: another daemon serves this directory, or a stale one is left)" : "");
}

struct lp_daemon *lp_open(const struct lp_opts *o, const struct lp_task_image *tasks,
			  size_t nr_tasks, char *err, size_t errlen, int *errnum)
{
	struct lp_daemon *d = calloc(1, sizeof(*d));
	struct stat st;

	*errnum = ENOMEM;
	if (!d)
		return NULL;
	d->o = *o;
	if (d->o.batch == 0)
		d->o.batch = 1;
	d->images = tasks;
	d->nr_images = nr_tasks;
	d->listen_fd = d->stop_fd = d->done_fd = d->wake_fd = -1;
	d->recording = o->record;
	d->holder.ctl = -1;
	pthread_mutex_init(&d->tasks_lock, NULL);
	pthread_mutex_init(&d->err_lock, NULL);
	d->sock_path = strdup(o->sock_path);
	d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!d->sock_path || d->stop_fd < 0 || d->done_fd < 0 || d->wake_fd < 0)
		goto fail;
	map_images(d);
	/* Refused now; the socket itself appears in lp_run(), once ready. */
	if (!lstat(o->sock_path, &st)) {
		*errnum = EADDRINUSE;
		sock_error(err, errlen, o->sock_path, -EADDRINUSE);
		goto fail;
	}
	return d;
fail:
	if (*errnum == ENOMEM)
		set_err(err, errlen, "out of memory");
	lp_close(d);
	return NULL;
}

void lp_stop(struct lp_daemon *d)
{
	kick(d->stop_fd);
}

static bool all_finished(struct lp_daemon *d)
{
	size_t n = atomic_load(&d->nr_tasks);

	for (size_t i = 0; i < n; i++)
		if (!task_finished(d->tasks[i]))
			return false;
	return true;
}

static bool roots_gone(struct lp_daemon *d)
{
	size_t n = atomic_load(&d->nr_tasks);

	for (size_t i = 0; i < n; i++)
		if (!d->tasks[i]->parent && !atomic_load(&d->tasks[i]->gone))
			return false;
	return true;
}

static bool stopped(struct lp_daemon *d)
{
	struct pollfd p = { d->stop_fd, POLLIN, 0 };

	return poll(&p, 1, 0) == 1;
}

/* Waits for one fd, the stop eventfd or the timeout. 1 ready, 0 stop/timeout, -errno. */
static int wait_for(struct lp_daemon *d, int fd, int timeout_ms)
{
	struct pollfd p[2] = { { fd, POLLIN, 0 }, { d->stop_fd, POLLIN, 0 } };
	int r = poll(p, 2, timeout_ms);

	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (p[1].revents)
		return 0;
	return p[0].revents ? 1 : 0;
}

/* Receives the tasks; returns the client socket (closed by the caller). */
static int take_restore(struct lp_daemon *d, char *err, size_t errlen)
{
	int client, r;

	r = wait_for(d, d->listen_fd, d->o.accept_timeout_ms ? (int)d->o.accept_timeout_ms : -1);
	if (r <= 0) {
		set_err(err, errlen, r < 0 ? "poll: %s" : "no restore connected", strerror(-r));
		return r < 0 ? r : -ETIMEDOUT;
	}
	client = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (client < 0) {
		set_err(err, errlen, "accept: %s", strerror(errno));
		return -errno;
	}
	r = lp_peer_allowed(client, err, errlen);
	if (r) {
		close(client);
		return r;
	}
	return client;
}

/* One message from the restore: adopts a task. 1 finished/EOF, 0 more, -errno. */
static int restore_msg(struct lp_daemon *d, int client, char *err, size_t errlen)
{
	const struct lp_task_image *img;
	struct lp_task *t;
	struct lp_msg m;
	int r = lp_recv_msg(client, &m, err, errlen);

	if (r)
		return r;
	if (m.kind == LP_MSG_FINISHED) {
		atomic_store(&d->t_restored, since(d));
		atomic_store(&d->restored, 1);
		kick(d->wake_fd); /* the background copy may start */
		return 1;
	}
	if (m.kind == LP_MSG_EOF) {
		push_error(d, 0, 0, EPIPE, "the restore closed the socket before it finished");
		return 1;
	}
	if (m.kind == LP_MSG_ZOMBIE)
		return 0;
	img = image_of(d, m.pid);
	if (!img) {
		close(m.fd);
		set_err(err, errlen, "the restore sent pid %d, which has no pagemap in the images", m.pid);
		return -ENOENT;
	}
	t = new_task(d, img, NULL, m.pid, m.fd);
	if (!t) {
		close(m.fd);
		set_err(err, errlen, "pid %d: cannot open %s: %s", m.pid, img->pages_path, strerror(errno));
		return -errno;
	}
	r = adopt(d, t);
	if (r) {
		set_err(err, errlen, "pid %d: cannot watch its userfaultfd: %s", m.pid, strerror(-r));
		free_task(t);
	}
	return r;
}

/*
 * Whether a task's mm is gone, for tasks whose pid is unknown (forked after
 * the restore): UFFDIO_ZEROPAGE on a page already installed answers EEXIST
 * while the mm lives and ESRCH once it is gone, and changes nothing.
 */
static bool probe_gone(struct lp_task *t)
{
	bool gone = false;

	pthread_rwlock_rdlock(&t->lock);
	for (size_t k = 0; k < t->nr_maps; k++) {
		struct lp_map *m = &t->maps[k];

		for (uint64_t p = m->base; p < m->base + m->nr; p++) {
			struct uffdio_zeropage z = { .mode = UFFDIO_ZEROPAGE_MODE_DONTWAKE };

			if (atomic_load(&t->state[p]) != DONE)
				continue;
			z.range.start = m->cur + (p - m->base) * PAGE;
			z.range.len = PAGE;
			gone = ioctl(t->uffd, UFFDIO_ZEROPAGE, &z) && errno == ESRCH;
			goto out;
		}
	}
out:
	pthread_rwlock_unlock(&t->lock);
	return gone;
}

/* The pids of pid's children (of every thread), up to max. */
static size_t children_of(int32_t pid, int32_t *out, size_t max)
{
	char path[96];
	struct dirent *e;
	size_t n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while (n < max && (e = readdir(dir))) {
		FILE *f;
		int c;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/children", pid, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (n < max && fscanf(f, "%d", &c) == 1)
			out[n++] = c;
		fclose(f);
	}
	closedir(dir);
	return n;
}

static bool pid_known(struct lp_daemon *d, int32_t pid)
{
	size_t n = atomic_load(&d->nr_tasks);

	for (size_t i = 0; i < n; i++)
		if (d->tasks[i]->pid == pid)
			return true;
	return false;
}

/*
 * A fork event carries the child's uffd, not its pid (the child has none
 * yet when the event is sent). The child is found once its parent has
 * exactly one child no task claims while exactly one of its forks waits
 * for a pid; with more at once they stay unknown (docs/criu.md).
 */
static void resolve_pid(struct lp_task *t)
{
	struct lp_daemon *d = t->d;
	size_t n = atomic_load(&d->nr_tasks), waiting = 0, found = 0;
	int32_t kids[64], pid = 0, ppid = t->parent ? t->parent->pid : 0;

	if (t->pid || ppid <= 0)
		return;
	for (size_t i = 0; i < n; i++)
		waiting += d->tasks[i]->parent == t->parent && d->tasks[i]->pid == 0 && !atomic_load(&d->tasks[i]->gone);
	if (waiting != 1)
		return;
	pthread_mutex_lock(&d->tasks_lock);
	n = children_of(ppid, kids, 64);
	for (size_t i = 0; i < n; i++)
		if (!pid_known(d, kids[i])) {
			pid = kids[i];
			found++;
		}
	if (found == 1 && t->pid == 0) {
		t->pid = pid;
		lp_holder_set_pid(&d->holder, t->slot, pid);
	}
	pthread_mutex_unlock(&d->tasks_lock);
}

/* Marks tasks whose process has exited as gone. */
static void check_exits(struct lp_daemon *d)
{
	size_t n = atomic_load(&d->nr_tasks);

	for (size_t i = 0; i < n; i++) {
		struct lp_task *t = d->tasks[i];

		if (t->parent && !task_finished(t) && t->pid == 0)
			resolve_pid(t);
		if (t->parent && !task_finished(t) && probe_gone(t))
			mark_gone(t);
		if (!t->parent && !atomic_load(&t->gone) && kill(t->pid, 0) && errno == ESRCH)
			mark_gone(t);
		if (!t->parent && !atomic_load(&t->gone)) {
			char path[64], state = 0;
			FILE *f;

			snprintf(path, sizeof(path), "/proc/%d/stat", t->pid);
			f = fopen(path, "r");
			if (f) {
				if (fscanf(f, "%*d (%*[^)]) %c", &state) == 1 && (state == 'Z' || state == 'X'))
					mark_gone(t);
				fclose(f);
			}
		}
	}
}

int lp_run(struct lp_daemon *d, char *err, size_t errlen)
{
	bool restore_done = false;
	int client, r;

	d->t0 = now_ns();
	/* Before any uffd arrives, and before the handler threads exist. */
	r = lp_holder_start(&d->holder);
	if (r) {
		set_err(err, errlen, "cannot fork the uffd holder: %s", strerror(-r));
		return r;
	}
	r = start_workers(d, err, errlen);
	if (r)
		goto out_workers;
	/*
	 * The socket appears only now: whoever waits for it to start the
	 * restore (as for criu's own daemon) would otherwise have the fork of
	 * the holder and the handlers' start-up share the CPUs with it.
	 */
	r = lp_listen(d->sock_path);
	if (r < 0) {
		sock_error(err, errlen, d->sock_path, r);
		goto out_workers;
	}
	d->listen_fd = r;
	d->sock_made = true;
	client = take_restore(d, err, errlen);
	if (client < 0) {
		r = client;
		goto out_workers;
	}
	/* One restore per daemon. The socket file stays until lp_close(), so a
	 * second daemon for this directory is refused and a second restore
	 * cannot connect. */
	close(d->listen_fd);
	d->listen_fd = -1;
	while (!stopped(d)) {
		uint64_t v;

		if (!restore_done) {
			r = wait_for(d, client, IDLE_POLL_MS);
			if (r == 1) {
				r = restore_msg(d, client, err, errlen);
				restore_done = r == 1;
			}
			if (r < 0)
				break;
			r = 0;
			continue;
		}
		check_exits(d);
		if (atomic_load(&d->recording))
			recording_on(d, false); /* ends it once its window is over */
		if (atomic_load(&d->recording) ? roots_gone(d) : all_finished(d))
			break;
		r = wait_for(d, d->done_fd, IDLE_POLL_MS);
		if (r < 0)
			break;
		if (r == 1)
			eventfd_read(d->done_fd, &v);
		r = 0;
	}
	close(client);
out_workers:
	kick(d->stop_fd);
	stop_workers(d);
	return r;
}

size_t lp_nr_reports(struct lp_daemon *d)
{
	return atomic_load(&d->nr_tasks);
}

uint64_t lp_restored_ns(struct lp_daemon *d)
{
	return atomic_load(&d->t_restored);
}

int lp_report(struct lp_daemon *d, size_t i, struct lp_task_report *o)
{
	struct lp_task *t;

	if (i >= atomic_load(&d->nr_tasks))
		return -EINVAL;
	t = d->tasks[i];
	*o = (struct lp_task_report){
		.pid = t->pid,
		.parent_pid = t->parent ? (t->parent->pid ? t->parent->pid : -1) : 0,
		.total_pages = t->nr_pages,
		.demand_faults = t->st.faults,
		.pages_demand = t->st.demand,
		.pages_prefetch = t->st.prefetch,
		.pages_background = t->st.background,
		.pages_early = t->st.early,
		.pages_zero = t->st.zero,
		.pages_dropped = t->st.dropped,
		.pages_raced = t->st.raced,
		.errors = t->st.errors,
		.t_adopt_ns = t->t_adopt,
		.t_first_fault_ns = t->st.t_first_fault,
		.t_done_ns = t->st.t_done,
		.gone = atomic_load(&t->gone) && atomic_load(&t->remaining) > 0,
	};
	return 0;
}

const uint64_t *lp_recorded(struct lp_daemon *d, size_t i, size_t *n)
{
	*n = 0;
	if (i >= atomic_load(&d->nr_tasks))
		return NULL;
	*n = d->tasks[i]->nr_rec;
	return d->tasks[i]->rec;
}

size_t lp_errors(struct lp_daemon *d, struct lp_error *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&d->err_lock);
	n = d->nr_errors < max ? d->nr_errors : max;
	memcpy(out, d->errors, n * sizeof(*out));
	pthread_mutex_unlock(&d->err_lock);
	return n;
}

void lp_close(struct lp_daemon *d)
{
	if (!d)
		return;
	kick(d->stop_fd);
	stop_workers(d);
	/* Pages still missing: the holder answers their faults from now on. */
	lp_holder_end(&d->holder, all_finished(d));
	for (size_t i = 0; i < atomic_load(&d->nr_tasks); i++)
		free_task(d->tasks[i]);
	for (unsigned i = 0; i < d->nr_workers; i++) {
		if (d->workers[i].epfd >= 0)
			close(d->workers[i].epfd);
		free(d->workers[i].buf);
	}
	free(d->workers);
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	if (d->sock_made)
		unlink(d->sock_path);
	if (d->stop_fd >= 0)
		close(d->stop_fd);
	if (d->done_fd >= 0)
		close(d->done_fd);
	if (d->wake_fd >= 0)
		close(d->wake_fd);
	for (size_t i = 0; d->mapped && i < d->nr_images; i++)
		if (d->mapped[i].p) {
			munmap((void *)d->mapped[i].p, d->mapped[i].len);
			free((void *)d->mapped[i].left);
		}
	free(d->mapped);
	pthread_mutex_destroy(&d->tasks_lock);
	pthread_mutex_destroy(&d->err_lock);
	free(d->sock_path);
	free(d);
}
