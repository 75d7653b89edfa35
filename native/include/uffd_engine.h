/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The userfaultfd engine: handler threads that resolve the faults of a
 * policy's regions by running the policy's own decision function, loaded from
 * its compiled <policy>.decide.so. Nothing here parses a policy.
 *
 * One engine = one decision library + its sources + one userfaultfd + a pool
 * of handler threads reading it. Regions are added while the engine runs and
 * are removed only when it closes.
 */
#ifndef FAULTC_UFFD_ENGINE_H
#define FAULTC_UFFD_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include "faultc_abi.h"

#define FC_MAX_REGIONS 1024
/* Pages one fault may resolve at once (the fault plus prefetched neighbours). */
#define FC_BATCH_PAGES 256

struct fc_engine;

enum fc_open_flags {
	/* Ask for UFFD_USER_MODE_ONLY: works without privilege, but a system
	 * call that touches an unresolved page fails with EFAULT. */
	FC_OPEN_USER_MODE_ONLY = 1u << 0,
	/* Deliver SIGBUS with tgkill() even where UFFDIO_POISON exists (tests). */
	FC_OPEN_FORCE_SIGBUS_FALLBACK = 1u << 1,
	/* Leave handler threads where the scheduler puts them (see docs). */
	FC_OPEN_NO_FOLLOW = 1u << 2,
	/* Make no CPU wake-up latency request while faults stream (see docs). */
	FC_OPEN_NO_CPU_LATENCY = 1u << 3,
	/* Copy every page, even from a source on tmpfs (see docs). */
	FC_OPEN_NO_ZERO_COPY = 1u << 4,
	/* One handler pinned per CPU, each resolving the faults of the threads
	 * on its CPU, instead of handlers shared by all CPUs (see docs). */
	FC_OPEN_PER_CPU_HANDLERS = 1u << 5,
};

struct fc_engine_opts {
	const char *decide_path;
	unsigned nr_sources;
	const char *source_paths[FAULTC_MAX_SOURCES];
	unsigned nr_threads; /* 0: one per online CPU */
	unsigned flags; /* enum fc_open_flags */
	unsigned http_deadline_ms; /* http sources: per read, retries included; 0: 5 s */
	/* Called from a handler thread when the event queue stops being empty;
	 * the consumer then drains with fc_engine_drain_events(). */
	void (*on_events)(void *ctx);
	void *ctx;
};

struct fc_region_stats {
	uint64_t faults; /* fault messages for the region, missing and write */
	uint64_t zero;
	uint64_t fill;
	uint64_t copy;
	uint64_t prefetch; /* neighbour pages resolved by prefetch */
	uint64_t sigbus;
	uint64_t deferred;
	uint64_t errors;
	uint64_t write_faults; /* write-protect faults (on write) */
	uint64_t raced; /* pages found already present (EEXIST): resolved by another thread first */
};

/* Returns NULL with *err_no (positive errno) and a message in err on failure. */
struct fc_engine *fc_engine_open(const struct fc_engine_opts *opts,
				 char *err, size_t errlen, int *err_no);

/*
 * Maps a region of size bytes (whole pages), at the fixed address at when it
 * is not 0 (MAP_FIXED_NOREPLACE: EEXIST when the range is taken), and
 * registers it. policy_region is the region's index in the policy; wp asks
 * for write-protect tracking (the region has `on write` rules). zc is the
 * source every page of the region copies at its own offset, or -1: when that
 * source is on tmpfs, the region's pages inside it are mapped from its page
 * cache (zero-copy, UFFDIO_CONTINUE) rather than copied.
 * Returns the region slot (>= 0) or a negative errno with a message in err.
 */
int fc_engine_add_region(struct fc_engine *e, uint32_t policy_region,
			 uint64_t size, uint64_t at, int wp, int zc,
			 char *err, size_t errlen);

/* What fc_engine_watch_region() hands to the engine's handlers. */
enum {
	FC_WATCH_MISSING = 1u << 0, /* missing pages (UFFDIO_REGISTER_MODE_MISSING) */
	FC_WATCH_WRITES = 1u << 1, /* first writes (UFFDIO_REGISTER_MODE_WP): `on write` rules */
};

/*
 * Registers memory the caller mapped (and keeps: the engine never unmaps it)
 * as region policy_region: its faults of the kinds in mode (FC_WATCH_*) are
 * resolved by the engine's handlers as in a region of fc_engine_add_region().
 * The kernel engine uses it for `on write` rules and `defer`. Returns the
 * region slot (>= 0) or a negative errno with a message in err.
 */
int fc_engine_watch_region(struct fc_engine *e, uint32_t policy_region, void *addr,
			   uint64_t size, unsigned mode, char *err, size_t errlen);
void *fc_region_addr(struct fc_engine *e, int slot);
uint64_t fc_region_size(struct fc_engine *e, int slot);
int fc_region_stats(struct fc_engine *e, int slot, struct fc_region_stats *out);
/* Writes up to max dirty page indexes; returns how many pages are dirty. */
size_t fc_region_dirty(struct fc_engine *e, int slot, uint64_t *pages, size_t max);
/* Forgets dirty pages and write-protects them again. 0 or negative errno. */
int fc_region_reset_dirty(struct fc_engine *e, int slot);

/* Moves up to max queued events to out; returns how many. */
size_t fc_engine_drain_events(struct fc_engine *e, struct faultc_event *out, size_t max);
uint64_t fc_engine_lost_events(struct fc_engine *e);
uint64_t fc_engine_features(struct fc_engine *e);
int fc_engine_has_poison(struct fc_engine *e);
unsigned fc_engine_nr_threads(struct fc_engine *e);
/* 1: one handler pinned per CPU (see docs/uffd-engine.md), 0: shared handlers. */
int fc_engine_per_cpu(struct fc_engine *e);
/* The CPU latency request: 1 held (0 µs), 0 open but idle, -1 never made. */
int fc_engine_cpu_latency(struct fc_engine *e);

struct fc_handler_info {
	int cpu; /* the CPU a per-CPU handler is pinned to, else -1 */
	uint64_t resolved; /* fault messages it resolved */
	uint64_t handed; /* fault messages it read and handed to another CPU's handler */
};

/* Handler i's CPU and counters: 0, or -EINVAL past the last handler. */
int fc_engine_handler_info(struct fc_engine *e, unsigned i, struct fc_handler_info *out);
/* The userfaultfd: a caller may resolve pages of its regions itself. */
int fc_engine_uffd(struct fc_engine *e);
/*
 * Waits until no handler is in the middle of a fault (bounded): a thread whose
 * fault was resolved before this call then finds its stats and events in place.
 */
int fc_engine_settle(struct fc_engine *e, unsigned timeout_ms);
/* Test hook: paused handler threads read nothing, so faults stay pending. */
void fc_engine_pause(struct fc_engine *e, int paused);

/*
 * Stops the handler threads after they have resolved every queued fault,
 * unregisters (waking any fault that arrived after) and unmaps the regions.
 * Queued events stay readable until fc_engine_close().
 */
void fc_engine_stop(struct fc_engine *e);
/*
 * A user-space handler for `defer` rules. A handler thread that takes a
 * deferred fault queues a request and calls notify(ctx), which only wakes
 * the handler (it must not block, nor call back into the engine); the handler
 * takes the queued requests with fc_engine_defer_take() and answers each with
 * fc_engine_defer_reply(). The fault waits for that answer up to deadline_ms
 * (0: 2000), then gets SIGBUS with FAULTC_ERR_DEFER_TIMEOUT; notify failing
 * (nonzero) is SIGBUS with FAULTC_ERR_DEFER_FAILED at once. notify NULL:
 * `defer` maps zeros, requests not yet taken included.
 */
struct fc_defer_request {
	uint64_t id;
	uint64_t offset; /* in the region */
	uint64_t address;
	uint32_t region; /* policy region index */
	uint32_t tid;
	uint32_t write;
};
enum fc_defer_answer {
	FC_DEFER_PAGE = 0, /* these bytes (the rest of the page zero) */
	FC_DEFER_ZERO = 1,
	FC_DEFER_SIGBUS = 2, /* the handler's choice: no error */
	FC_DEFER_FAILED = 3, /* the handler failed: SIGBUS, FAULTC_ERR_DEFER_FAILED */
};
typedef int (*fc_defer_notify_fn)(void *ctx);
void fc_engine_set_defer(struct fc_engine *e, fc_defer_notify_fn notify, void *ctx,
			 unsigned deadline_ms);
/* Moves up to max requests not yet taken to out, oldest first; returns how many. */
size_t fc_engine_defer_take(struct fc_engine *e, struct fc_defer_request *out, size_t max);
/* 0, -ENOENT when the fault no longer waits (past its deadline), -EINVAL. */
int fc_engine_defer_reply(struct fc_engine *e, uint64_t id, uint32_t kind,
			  const uint8_t *bytes, size_t len);

/* Source i's size in bytes (an http source's as pinned at open), 0 past the last. */
uint64_t fc_engine_source_size(struct fc_engine *e, unsigned source);
/* An http source's request counters (source_http.h); -ENOENT for a file source. */
struct fc_http_stats;
int fc_engine_http_stats(struct fc_engine *e, unsigned source, struct fc_http_stats *out);
/* fc_engine_stop() if not done yet, then closes every fd and frees e. */
void fc_engine_close(struct fc_engine *e);

#endif /* FAULTC_UFFD_ENGINE_H */
