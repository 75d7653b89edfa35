// SPDX-License-Identifier: GPL-2.0
/*
 * Per-CPU handlers: which handler resolves a fault message. In this mode
 * there is one handler pinned to each CPU the engine may use, and every
 * handler is woken by every fault. A message whose faulting thread last ran
 * on another handler's CPU is handed to that handler's mailbox, so the fault
 * is resolved, and its thread woken, on the CPU it blocked on: the CPU its
 * thread left is free for that handler at once, and the wake-up is local.
 *
 * Hand-off rules (nothing is lost): a mailbox is a small ring under its own
 * lock; a full mailbox, a handler that is leaving, or a thread whose CPU is
 * unknown, or a handler stuck in one resolution for FC_ROUTE_STUCK_NS (a
 * deferred fault waiting for its answer, a slow http read) means the reader
 * resolves the message itself. A message in a
 * mailbox counts in e->busy until it is resolved, as a message being
 * resolved does. The owner empties its mailbox before it reads the uffd and
 * before it sleeps; its eventfd is in its epoll set, so a message pushed
 * while it sleeps wakes it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int fc_thread_cpu(uint32_t tid)
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
	p = strrchr(buf, ')'); /* the end of the command name, field 2 */
	if (!p)
		return -1;
	for (; *p && field < 39; p++)
		if (*p == ' ')
			field++;
	return *p ? atoi(p) : -1;
}

/* How often a cached thread -> CPU answer is read again from /proc. */
#define FC_TID_CPU_USES 32
#define FC_TID_CPU_AGE_NS (2 * 1000000ull)

/* The CPU thread tid last ran on, cached per handler for a few faults. */
static int tid_cpu(struct fc_worker *w, uint32_t tid)
{
	struct fc_tid_cpu *c = &w->tid_cpu[tid % FC_TID_CPU_SLOTS];
	uint64_t now = now_ns();

	if (c->tid != tid || ++c->uses >= FC_TID_CPU_USES || now - c->at > FC_TID_CPU_AGE_NS) {
		c->tid = tid;
		c->cpu = fc_thread_cpu(tid);
		c->uses = 0;
		c->at = now;
	}
	return c->cpu;
}

/* A handler busy with one resolution this long gets no more messages. */
#define FC_ROUTE_STUCK_NS (20 * 1000000ull)

bool fc_route_msg(struct fc_worker *w, const struct uffd_msg *m)
{
	struct fc_engine *e = w->e;
	struct fc_worker *t;
	uint64_t one = 1;
	bool was_empty;
	int cpu;

	if (!e->per_cpu || m->event != UFFD_EVENT_PAGEFAULT ||
	    atomic_load_explicit(&e->stopping, memory_order_relaxed))
		return false;
	cpu = tid_cpu(w, m->arg.pagefault.feat.ptid);
	if (cpu < 0 || cpu == w->cpu || cpu >= FC_MAX_CPUS || e->cpu_worker[cpu] < 0)
		return false;
	t = &e->workers[e->cpu_worker[cpu]];
	uint64_t since = atomic_load_explicit(&t->busy_since, memory_order_relaxed);

	if (since && now_ns() - since > FC_ROUTE_STUCK_NS)
		return false;
	pthread_mutex_lock(&t->mb_lock);
	if (t->mb_closed || t->mb_len == FC_MAILBOX) {
		pthread_mutex_unlock(&t->mb_lock);
		return false;
	}
	was_empty = t->mb_len == 0;
	t->mb[(t->mb_head + t->mb_len++) % FC_MAILBOX] = *m;
	/* Resolved later by t: busy until then (t lowers it). */
	atomic_fetch_add(&e->busy, 1);
	pthread_mutex_unlock(&t->mb_lock);
	atomic_fetch_add_explicit(&w->handed, 1, memory_order_relaxed);
	if (was_empty && write(t->mbfd, &one, sizeof(one)) < 0) {
		/* an eventfd write only fails on overflow, which cannot happen */
	}
	return true;
}

unsigned fc_drain_mailbox(struct fc_worker *w)
{
	struct uffd_msg msgs[FC_MAILBOX];
	unsigned n;

	pthread_mutex_lock(&w->mb_lock);
	n = w->mb_len;
	for (unsigned i = 0; i < n; i++)
		msgs[i] = w->mb[(w->mb_head + i) % FC_MAILBOX];
	w->mb_head = (w->mb_head + n) % FC_MAILBOX;
	w->mb_len = 0;
	pthread_mutex_unlock(&w->mb_lock);
	for (unsigned i = 0; i < n; i++) {
		atomic_store_explicit(&w->busy_since, now_ns(), memory_order_relaxed);
		fc_handle_msg(w, &msgs[i]);
		atomic_store_explicit(&w->busy_since, 0, memory_order_relaxed);
		atomic_fetch_sub(&w->e->busy, 1);
	}
	return n;
}

bool fc_close_mailbox(struct fc_worker *w)
{
	bool empty;

	pthread_mutex_lock(&w->mb_lock);
	empty = w->mb_len == 0;
	if (empty)
		w->mb_closed = true;
	pthread_mutex_unlock(&w->mb_lock);
	return empty;
}
