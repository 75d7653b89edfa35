// SPDX-License-Identifier: GPL-2.0
/*
 * The handler threads: nr_threads of them (default: one per online CPU) all
 * read the engine's single userfaultfd. A fault wakes one idle handler (each
 * sleeps in its own epoll set holding the uffd with EPOLLEXCLUSIVE), which
 * resolves it with its own buffers, so faults from several threads are
 * resolved in parallel and never queue behind one busy handler. A handler
 * moves to the CPU of the thread it serves, so a fault's two hand-offs stay
 * on one CPU.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

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
	int cpu = one_thread ? fc_thread_cpu(w->last_tid) : -1;
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

/*
 * How many fault messages one read() takes. Several at once save system
 * calls when a fault is resolved in microseconds; but a handler resolves
 * what it read one after the other, so when a resolution blocks (a range
 * GET, a defer handler) a second message read with the first would wait
 * for it while another handler sleeps. Then each handler takes one: every
 * fault queued wakes its own handler (EPOLLEXCLUSIVE), which finds it.
 */
static size_t read_size(struct fc_engine *e)
{
	if (atomic_load_explicit(&e->blocking, memory_order_relaxed))
		return sizeof(struct uffd_msg);
	return MSG_BATCH * sizeof(struct uffd_msg);
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

		ssize_t n = read(e->uffd, msgs, read_size(e));

		if (n > 0) {
			/* Raised before any fault is resolved, so whoever sees a
			 * resolved page and then busy == 0 sees its stats too. */
			atomic_fetch_add(&e->busy, 1);
			for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++)
				fc_handle_msg(w, &msgs[i]);
			atomic_fetch_sub(&e->busy, 1);
			fc_cpu_latency_hold(&e->latency, now_ns());
			if (e->follow && w->handled++ % FC_FOLLOW_EVERY == 0)
				follow_faulting_thread(w);
			/* A short read emptied the queue: sleep without asking again
			 * (the epoll set is level-triggered: more comes back at once,
			 * as after a one-message read). */
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

/* Reads and resolves (or hands over) what the uffd holds; messages read. */
static ssize_t read_and_resolve(struct fc_worker *w)
{
	struct fc_engine *e = w->e;
	struct uffd_msg msgs[MSG_BATCH];
	ssize_t n = read(e->uffd, msgs, read_size(e));

	if (n <= 0)
		return n;
	/* Raised before any fault is resolved, so whoever sees a resolved page
	 * and then busy == 0 sees its stats too. */
	atomic_fetch_add(&e->busy, 1);
	for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
		if (fc_route_msg(w, &msgs[i]))
			continue;
		atomic_store_explicit(&w->busy_since, now_ns(), memory_order_relaxed);
		fc_handle_msg(w, &msgs[i]);
		atomic_store_explicit(&w->busy_since, 0, memory_order_relaxed);
	}
	atomic_fetch_sub(&e->busy, 1);
	fc_cpu_latency_hold(&e->latency, now_ns());
	return n / (ssize_t)sizeof(msgs[0]);
}

/*
 * A per-CPU handler: pinned to its CPU, woken by every fault (its epoll set
 * holds the uffd without EPOLLEXCLUSIVE), it resolves the faults of threads
 * on its CPU and hands the others to their CPU's handler. As SCHED_BATCH a
 * handler woken on a CPU whose thread is still running does not preempt
 * it: it runs when that thread blocks, in its own next fault.
 */
static void *per_cpu_main(void *arg)
{
	struct fc_worker *w = arg;
	struct fc_engine *e = w->e;
	struct epoll_event ev[3];
	uint64_t drained;

	for (;;) {
		if (atomic_load_explicit(&e->paused, memory_order_relaxed))
			wait_while_paused(e);

		unsigned got = fc_drain_mailbox(w);
		ssize_t n = read_and_resolve(w);

		if (n == MSG_BATCH || (n > 0 && got))
			continue;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			break;
		if (got)
			continue;
		if (n <= 0 && atomic_load(&e->stopping) && fc_close_mailbox(w))
			break;
		int woken = epoll_wait(w->epfd, ev, 3,
				       atomic_load(&e->latency.held) ? FC_LATENCY_LINGER_MS : -1);

		if (woken < 0 && errno != EINTR)
			break;
		if (woken == 0)
			fc_cpu_latency_release_idle(&e->latency, now_ns(),
						    FC_LATENCY_LINGER_MS * 1000000ull);
		for (int i = 0; i < woken; i++)
			if (ev[i].data.fd == w->mbfd && read(w->mbfd, &drained, sizeof(drained)) < 0) {
				/* EAGAIN: already read */
			}
	}
	/* Leaving with messages handed over after the close check is impossible:
	 * fc_route_msg() refuses a closed mailbox. Resolve any left by an error. */
	fc_close_mailbox(w);
	fc_drain_mailbox(w);
	return NULL;
}

void fc_stop_handlers(struct fc_engine *e)
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
		if (e->workers[i].mbfd >= 0)
			close(e->workers[i].mbfd);
		pthread_mutex_destroy(&e->workers[i].mb_lock);
		munmap(e->workers[i].buf, (size_t)FC_BATCH_PAGES * PAGE);
	}
	e->started = 0;
}

/*
 * Starts handler w: its buffer, its epoll set, its thread (pinned to cpu in
 * per-CPU mode). 0 or an errno with a message; on failure nothing of w is
 * left to undo.
 */
static int start_handler(struct fc_engine *e, struct fc_worker *w, int cpu,
			 char *err, size_t errlen)
{
	/*
	 * Shared handlers each sleep in their own epoll set holding the uffd
	 * with EPOLLEXCLUSIVE: a fault wakes one idle handler, not all of them
	 * (a poll() on the uffd itself would wake every handler). Per-CPU
	 * handlers are all woken, and each serves its own CPU's faults.
	 */
	struct epoll_event uev = { .events = EPOLLIN | (e->per_cpu ? 0 : EPOLLEXCLUSIVE),
				   .data.fd = e->uffd };
	struct epoll_event sev = { .events = EPOLLIN, .data.fd = e->stopfd };
	pthread_attr_t attr;
	int rc;

	w->e = e;
	w->epfd = -1;
	w->mbfd = -1;
	w->cpu = cpu;
	pthread_mutex_init(&w->mb_lock, NULL);
	w->buf = mmap(NULL, (size_t)FC_BATCH_PAGES * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->buf == MAP_FAILED) {
		pthread_mutex_destroy(&w->mb_lock);
		set_err(err, errlen, "cannot allocate handler buffers");
		return ENOMEM;
	}
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, e->uffd, &uev) < 0 ||
	    epoll_ctl(w->epfd, EPOLL_CTL_ADD, e->stopfd, &sev) < 0) {
		rc = errno;
		set_err(err, errlen, "cannot set up handler threads: %s", strerror(rc));
		goto fail;
	}
	if (e->per_cpu) {
		struct epoll_event mev = { .events = EPOLLIN };

		w->mbfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		mev.data.fd = w->mbfd;
		if (w->mbfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->mbfd, &mev) < 0) {
			rc = errno;
			set_err(err, errlen, "cannot set up handler threads: %s", strerror(rc));
			goto fail;
		}
	}
	pthread_attr_init(&attr);
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	rc = pthread_create(&w->thread, &attr, e->per_cpu ? per_cpu_main : handler_main, w);
	pthread_attr_destroy(&attr);
	if (rc) {
		set_err(err, errlen, "cannot start handler threads: %s", strerror(rc));
		goto fail;
	}
	pthread_setname_np(w->thread, "faultc-uffd");
	if (e->per_cpu) {
		/* Set before the engine is handed out. Where SCHED_BATCH is
		 * refused the handler stays SCHED_OTHER: still correct. */
		struct sched_param sp = { .sched_priority = 0 };

		pthread_setschedparam(w->thread, SCHED_BATCH, &sp);
	}
	return 0;
fail:
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->mbfd >= 0)
		close(w->mbfd);
	pthread_mutex_destroy(&w->mb_lock);
	munmap(w->buf, (size_t)FC_BATCH_PAGES * PAGE);
	return rc;
}

/*
 * Per-CPU mode (asked for with FC_OPEN_PER_CPU_HANDLERS): one handler per
 * CPU the engine may run on, when the thread count is not set, handlers
 * follow, and there are at most FC_MAX_CPUS such CPUs. Fills
 * e->cpu_worker; how many handlers.
 */
static unsigned per_cpu_handlers(struct fc_engine *e, unsigned nr_threads)
{
	unsigned n = 0;

	for (int c = 0; c < FC_MAX_CPUS; c++)
		e->cpu_worker[c] = -1;
	if (!e->per_cpu || nr_threads || CPU_COUNT(&e->cpus) < 1)
		return 0;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &e->cpus))
			continue;
		if (c >= FC_MAX_CPUS)
			return 0;
		e->cpu_worker[c] = (int)n++;
	}
	return n;
}

/*
 * Starts nr_threads handlers (0: one per online CPU, at most 64). 0 or an
 * errno with a message; on failure no handler is left running.
 */
int fc_start_handlers(struct fc_engine *e, unsigned nr_threads, char *err, size_t errlen)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	sigset_t all, old;
	int rc = 0;

	e->nr_threads = per_cpu_handlers(e, nr_threads);
	e->per_cpu = e->nr_threads > 0;
	if (!e->per_cpu)
		e->nr_threads = nr_threads ? nr_threads : (cpus > 0 ? (unsigned)cpus : 1);
	if (e->nr_threads > 64)
		e->nr_threads = 64;
	e->workers = calloc(e->nr_threads, sizeof(*e->workers));
	if (!e->workers) {
		set_err(err, errlen, "out of memory");
		return ENOMEM;
	}
	/* Handlers take no signals: the process's handlers run on its own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < e->nr_threads && !rc; i++) {
		int cpu = -1;

		for (int c = 0; e->per_cpu && c < FC_MAX_CPUS; c++)
			if (e->cpu_worker[c] == (int)i)
				cpu = c;
		rc = start_handler(e, &e->workers[i], cpu, err, errlen);
		if (!rc)
			e->started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		fc_stop_handlers(e);
	return rc;
}
