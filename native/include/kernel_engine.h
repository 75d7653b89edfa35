/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel engine: a policy's <policy>.fault.bpf.o loaded as a
 * BPF_PROG_TYPE_PAGE_FAULT program and attached to each of its regions with
 * prctl(PR_FAULT_POLICY) on the faultc kernel (kernel/patches/). The faulting
 * thread runs the program and the kernel resolves the page: no handler
 * thread. This side only maps regions, attaches, and reads events and counts.
 */
#ifndef FAULTC_KERNEL_ENGINE_H
#define FAULTC_KERNEL_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "faultc_abi.h"
#include "uffd_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FK_MAX_REGIONS 64

struct fk_engine;

/* The hook's interface version, or a negative errno (-EINVAL: no hook). */
int fk_hook_version(void);

struct fk_engine_opts {
	const char *object_path; /* <policy>.fault.bpf.o */
	/* <policy>.decide.so: needed by regions with FK_REGION_WRITES or FK_REGION_DEFER */
	const char *decide_path;
	unsigned nr_sources;
	const char *source_paths[FAULTC_MAX_SOURCES];
	uint32_t nr_regions; /* regions in the policy */
	uint32_t ringbuf_bytes; /* 0: the object's own size */
	/* http sources: the uffd engine's per-read deadline and handler threads (0: its defaults) */
	unsigned http_deadline_ms;
	unsigned nr_threads;
};

/*
 * Loads the program (the verifier's log goes to log on failure) and opens the
 * sources. NULL with *err_no (positive errno) and a message in err on failure.
 */
struct fk_engine *fk_engine_open(const struct fk_engine_opts *opts, char *err,
				 size_t errlen, int *err_no);

/*
 * The region's rules may `defer`: its deferred pages go to a uffd engine
 * (native/src/uffd/) watching the region, which gives them zeros.
 */
#define FK_REGION_DEFER 1u
/*
 * The region has `on write` rules: the uffd engine watches it for writes too
 * (UFFDIO_REGISTER_MODE_WP), the hook installs its pages write-protected, and
 * the first write to each goes to the uffd engine's on-write handling (dirty
 * bitmap, notify, sigbus), missing pages included.
 */
#define FK_REGION_WRITES 2u
/*
 * Zero-copy: map the region MAP_PRIVATE from source i (at file offset 0)
 * instead of anonymous memory. A decision to copy that source at the page's
 * own offset then maps the page-cache page itself (a write copies it); other
 * decisions install their own pages as in anonymous memory. Only for regions
 * whose rules are one `copy <source i> at offset`, without `on write` rules
 * or defer (a default decision would read the file there).
 */
#define FK_REGION_MAP_SOURCE(i) (4u | ((uint32_t)(i) << 8))
/*
 * The region's rules prefetch aligned blocks of 2 MiB or more: anonymous
 * memory is mapped 2 MiB-aligned (unless at a fixed address) and madvised
 * MADV_HUGEPAGE, so the hook may install such a block as one PMD-mapped huge
 * page where transparent huge pages are enabled ('always' or 'madvise').
 */
#define FK_REGION_HUGE 8u
#define FK_REGION_MAPS_SOURCE(flags) ((4u & (flags)) != 0)
#define FK_REGION_SOURCE(flags) ((flags) >> 8)

/*
 * Maps size bytes of private anonymous memory (at the fixed address at when
 * not 0: MAP_FIXED_NOREPLACE) and attaches the program to it as region
 * policy_region. Returns the slot (>= 0) or a negative errno, message in err.
 */
int fk_engine_add_region(struct fk_engine *e, uint32_t policy_region, uint64_t size,
			 uint64_t at, uint32_t flags, char *err, size_t errlen);
/*
 * Attaches the program as region policy_region to [addr, addr + size) of
 * process pid, which must be mapped private anonymous memory there: that
 * process's missing pages in the range run the program (its events come to
 * this engine's ring buffer). Needs CAP_BPF and the right to ptrace pid
 * (-EPERM); -ESRCH when it is gone. The range is the other process's: `on
 * write` rules and defer are not served there, and unmapping it (or the
 * process's exit) detaches. 0 or a negative errno, message in err.
 */
int fk_engine_attach_process(struct fk_engine *e, uint32_t policy_region, int pid,
			     uint64_t addr, uint64_t size, char *err, size_t errlen);
void *fk_region_addr(struct fk_engine *e, int slot);
uint64_t fk_region_size(struct fk_engine *e, int slot);
uint32_t fk_region_index(struct fk_engine *e, int slot);

/* Counters of a policy region (struct faultc_counts, faultc_abi.h), summed over CPUs. */
int fk_engine_counts(struct fk_engine *e, uint32_t policy_region, struct faultc_counts *out);

/*
 * Run-time sets (`set <name>`, by index): pages [first, first + n) of
 * policy_region in (on) or out of set `set`, in the program's map and in
 * the bitmaps of the handlers of `on write` rules and defer: atomic
 * instructions on the map, mapped into this process. The program's next
 * fault of such a page sees it. 0, -EINVAL (no such set or region),
 * -ERANGE (past the region's end, or past the pages the map holds for a
 * region), message in err.
 */
int fk_engine_set_change(struct fk_engine *e, uint32_t policy_region, int set, uint64_t first,
			 uint64_t n, bool on, char *err, size_t errlen);
/* 1 when page is in the set, 0 when not, or a negative errno. */
int fk_engine_set_test(struct fk_engine *e, uint32_t policy_region, int set, uint64_t page);

/* What the uffd engine watching a region saw of its `on write` rules. */
struct fk_write_stats {
	uint64_t write_faults; /* first writes handled */
	uint64_t sigbus; /* writes refused with SIGBUS, failed fetches and defers */
	uint64_t errors; /* decisions carrying an error, failed fetches and defers */
	uint64_t copy; /* faults copied from an http source in user space */
	uint64_t prefetch; /* their prefetched neighbours */
};

/* All zero for a region nothing watches. Returns 0. */
int fk_region_writes(struct fk_engine *e, int slot, struct fk_write_stats *out);
/* Writes up to max dirty page indexes; returns how many pages are dirty. */
size_t fk_region_dirty(struct fk_engine *e, int slot, uint64_t *pages, size_t max);
/* Forgets the dirty pages and write-protects them again. 0 or negative errno. */
int fk_region_reset_dirty(struct fk_engine *e, int slot);

/*
 * `defer` handlers and http sources: what the watching uffd engine does
 * (uffd_engine.h), for this engine's regions. Before the watcher opens,
 * take finds nothing, reply -ENOENT, stats -ENOENT.
 */
void fk_engine_set_defer(struct fk_engine *e, fc_defer_notify_fn notify, void *ctx,
			 unsigned deadline_ms);
size_t fk_engine_defer_take(struct fk_engine *e, struct fc_defer_request *out, size_t max);
int fk_engine_defer_reply(struct fk_engine *e, uint64_t id, uint32_t kind,
			  const uint8_t *bytes, size_t len);
int fk_engine_http_stats(struct fk_engine *e, unsigned source, struct fc_http_stats *out);

/* Events dropped because the ring buffer was full. */
uint64_t fk_engine_lost(struct fk_engine *e);

typedef void (*fk_event_fn)(void *ctx, const struct faultc_event *ev);

/*
 * Waits up to timeout_ms for events and hands each to fn (on the calling
 * thread). Returns the number of events, or a negative errno.
 */
int fk_engine_poll(struct fk_engine *e, int timeout_ms, fk_event_fn fn, void *ctx);

/* Detaches and unmaps every region, closes the program and the sources. */
void fk_engine_close(struct fk_engine *e);

#ifdef __cplusplus
}
#endif

#endif /* FAULTC_KERNEL_ENGINE_H */
