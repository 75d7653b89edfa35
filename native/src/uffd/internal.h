/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The uffd engine's insides, shared by its files (the public interface is
 * native/include/uffd_engine.h):
 *
 *   engine.c   open and close: the decision library, the userfaultfd, buffers
 *   sources.c  the policy's sources: open, read, page-cache mappings
 *   plan.c     decisions and the pages one fault resolves (prefetch)
 *   install.c  UFFDIO_COPY / UFFDIO_CONTINUE of a planned batch
 *   fault.c    one fault message: missing, write-protect, SIGBUS
 *   handler.c  the handler threads
 *   regions.c  registering regions, their stats and dirty pages
 *   events.c   the event queue drained by the binding
 */
#ifndef FAULTC_UFFD_INTERNAL_H
#define FAULTC_UFFD_INTERNAL_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before any include"
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "../common/compat.h"
#include "../common/error.h"
#include "cpu_latency.h"
#include "source_http.h"
#include "uffd_engine.h"

#define PAGE FAULTC_PAGE_SIZE
/* install_batch(): set in its result when the source could not be read
 * (or mapped): the rest of the batch goes through the copy path. */
#define FC_INSTALL_EFAULT 0x80000000u
/* Source page cache is mapped into the engine in chunks this big. */
#define FC_POPULATE_CHUNK (1024 * 1024ull)
#define EVENT_QUEUE_CAP 65536
#define MSG_BATCH 8
/* Per-CPU handlers (route.c): mailbox size, thread -> CPU cache, CPUs. */
#define FC_MAILBOX 32
#define FC_TID_CPU_SLOTS 8
#define FC_MAX_CPUS 64

typedef int (*fc_decide_fn)(const struct faultc_fault *, struct faultc_decision *);
typedef unsigned (*fc_abi_fn)(void);

struct fc_region {
	uint64_t start;
	uint64_t end;
	uint64_t size;
	uint32_t policy_region;
	bool wp;
	bool owned; /* mapped by this engine, unmapped by it */
	/*
	 * [start, minor_end) is a private mapping of source zc_source (tmpfs)
	 * registered for minor faults: its pages are mapped from the page
	 * cache with UFFDIO_CONTINUE (zero-copy). minor_end == start: none.
	 */
	uint64_t minor_end;
	uint32_t zc_source;
	/* Serialises dirty-bit + unprotect against resetDirty's clear + protect. */
	pthread_mutex_t dirty_lock;
	_Atomic uint64_t *dirty; /* one bit per page */
	size_t dirty_words;
	struct {
		_Atomic uint64_t faults, zero, fill, copy, prefetch, sigbus,
			deferred, errors, write_faults, raced;
	} st;
};

/* One planned page of a resolution batch. */
struct fc_plan {
	uint32_t action; /* zero, fill or copy */
	uint32_t fill_byte;
	uint32_t source;
	uint64_t source_offset;
};

/* A faulting thread's CPU as a handler last read it (route.c). */
struct fc_tid_cpu {
	uint32_t tid;
	int cpu;
	uint32_t uses;
	uint64_t at;
};

struct fc_worker {
	struct fc_engine *e;
	pthread_t thread;
	int epfd; /* the uffd (EPOLLEXCLUSIVE) and the stop eventfd */
	int cpu; /* the CPU this handler is pinned to, or -1 */
	uint32_t last_tid; /* the thread of the last fault handled */
	uint64_t handled; /* fault messages handled */
	uint64_t seen_switches; /* e->tid_switches at the last follow check */
	struct fc_region *last_region; /* where the last fault was */
	uint8_t *buf; /* FC_BATCH_PAGES page-aligned pages */
	struct fc_plan plan[FC_BATCH_PAGES];
	/* Per-CPU mode: messages other handlers read for this CPU's threads. */
	pthread_mutex_t mb_lock;
	struct uffd_msg mb[FC_MAILBOX];
	unsigned mb_head, mb_len;
	bool mb_closed; /* the handler is leaving: push no more */
	int mbfd; /* eventfd: readable when a message was pushed */
	_Atomic uint64_t busy_since; /* now_ns() when its current resolution began, or 0 */
	_Atomic uint64_t resolved; /* fault messages this handler resolved */
	_Atomic uint64_t handed; /* fault messages it handed to another CPU's handler */
	struct fc_tid_cpu tid_cpu[FC_TID_CPU_SLOTS];
};

struct fc_engine {
	int uffd;
	int stopfd; /* eventfd: readable once close() has begun */
	uint64_t features;
	bool poison; /* UFFDIO_POISON usable */
	bool zero_copy; /* map tmpfs sources' pages (UFFDIO_CONTINUE) */
	pid_t pid;
	void *dl;
	fc_decide_fn decide;
	unsigned nr_sources;
	int source_fd[FAULTC_MAX_SOURCES];
	uint64_t source_size[FAULTC_MAX_SOURCES];
	uint8_t *source_map[FAULTC_MAX_SOURCES]; /* read-only page cache, or NULL */
	bool source_shmem[FAULTC_MAX_SOURCES]; /* on tmpfs: zero-copy possible */
	_Atomic uint64_t *source_populated[FAULTC_MAX_SOURCES]; /* bit per chunk mapped */
	struct fc_http_source *source_http[FAULTC_MAX_SOURCES]; /* or NULL: a file */
	unsigned http_deadline_ms;

	/* defer.c: a user-space handler for `defer`, and the faults waiting on it */
	pthread_mutex_t defer_lock;
	pthread_cond_t defer_cond;
	fc_defer_notify_fn defer_fn;
	void *defer_ctx;
	unsigned defer_deadline_ms;
	bool defer_closed;
	uint64_t defer_next_id;
	struct fc_defer_wait *defer_waits;

	struct fc_region regions[FC_MAX_REGIONS];
	_Atomic int nr_regions; /* published after a region is complete */
	pthread_mutex_t region_lock;

	unsigned nr_threads;
	unsigned started;
	struct fc_worker *workers;
	_Atomic bool stopping;
	/* A fault may block its handler on the network or on a defer handler:
	 * handlers read one message at a time (handler.c). */
	_Atomic bool blocking;
	bool stopped; /* fc_engine_stop() done: regions unmapped */
	_Atomic bool paused;
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	_Atomic uint64_t stray; /* messages outside every region */
	_Atomic int busy; /* handlers between reading a message and finishing it */
	bool follow; /* handlers move to the CPU of the threads they serve */
	bool per_cpu; /* one handler pinned per CPU, messages routed (route.c) */
	int cpu_worker[FC_MAX_CPUS]; /* per-CPU mode: the handler of each CPU, or -1 */
	_Atomic uint32_t last_tid; /* the thread of the last fault, any handler */
	_Atomic uint64_t tid_switches; /* faults from another thread than the one before */
	cpu_set_t cpus; /* where handlers may run when they follow no one */
	struct fc_cpu_latency latency; /* held while faults stream */

	pthread_mutex_t ev_lock;
	struct faultc_event *ev;
	size_t ev_head, ev_len;
	bool ev_signalled;
	uint64_t ev_lost;
	void (*on_events)(void *ctx);
	void *ctx;
};

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* events.c */
void fc_push_event(struct fc_engine *e, const struct fc_region *r,
		   uint64_t addr, uint32_t tid, uint32_t handler,
		   uint32_t write, uint32_t action, uint32_t pages,
		   uint32_t error);

/* sources.c */
int fc_open_sources(struct fc_engine *e, const struct fc_engine_opts *o,
		    char *err, size_t errlen);
void fc_close_sources(struct fc_engine *e);
int fc_fill_batch(struct fc_engine *e, struct fc_worker *w, unsigned n,
		  unsigned *bad, uint32_t *error);
const uint8_t *fc_direct_source(struct fc_engine *e, const struct fc_worker *w,
				unsigned n);

/* plan.c */
void fc_decide(struct fc_engine *e, const struct fc_region *r,
	       uint64_t addr, uint32_t handler, uint32_t write,
	       struct faultc_decision *d);
unsigned fc_plan_batch(struct fc_worker *w, const struct fc_region *r,
		       uint64_t addr, const struct faultc_decision *d,
		       unsigned *fault_idx);
bool fc_zero_copy_run(const struct fc_region *r, const struct fc_worker *w,
		      uint64_t base, unsigned n);

/* install.c */
void fc_wake_page(struct fc_engine *e, uint64_t addr);
unsigned fc_install_batch(struct fc_engine *e, const struct fc_region *r,
			  uint64_t addr, const uint8_t *src, unsigned *start,
			  unsigned n, unsigned fault_idx, bool dontwake,
			  bool *fault_installed);

/* defer.c */
#define FC_DEFER_DEFAULT_DEADLINE_MS 2000u
bool fc_defer_enabled(struct fc_engine *e);
/* Asks the handler: 0 with *kind (and the bytes in page for FC_DEFER_PAGE), or an error. */
uint32_t fc_defer_ask(struct fc_engine *e, const struct fc_region *r, uint64_t addr,
		      uint32_t write, uint32_t tid, uint8_t *page, uint32_t *kind);
/* Fails every wait in progress and every later ask (close). */
void fc_defer_close(struct fc_engine *e);

/* fault.c */
void fc_handle_msg(struct fc_worker *w, const struct uffd_msg *m);

/* route.c */
int fc_thread_cpu(uint32_t tid);
/* Hands m to the handler of its thread's CPU: false if the caller must resolve it. */
bool fc_route_msg(struct fc_worker *w, const struct uffd_msg *m);
/* Resolves what was handed to w; how many. */
unsigned fc_drain_mailbox(struct fc_worker *w);
/* Closes w's mailbox if it is empty (w may leave); false if not empty. */
bool fc_close_mailbox(struct fc_worker *w);

/* handler.c */
int fc_start_handlers(struct fc_engine *e, unsigned nr_threads,
		      char *err, size_t errlen);
void fc_stop_handlers(struct fc_engine *e);

#endif
