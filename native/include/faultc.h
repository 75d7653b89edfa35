/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libfaultc: a compiled policy (<policy>.decide.so + <policy>.policy.json,
 * from `faultc compile`) loaded into any process and run on the userfaultfd
 * engine (or, with FAULTC_OPEN_KERNEL, on the kernel engine). The Node
 * addon and `faultc guard` use the same engines.
 *
 *	struct faultc_policy *p = faultc_open("out/guard", NULL, err, sizeof(err));
 *	struct faultc_region *heap = faultc_region(p, "heap", NULL);
 *	faultc_set_add(heap, faultc_set_id(p, "guards"), page, 1);
 *	...
 *	faultc_close(p);
 *
 * Nothing on the fault path allocates: handler threads run the decision
 * function, test set bitmaps and write events into a queue allocated at open.
 * A malloc replacement may call every function here except faultc_open(),
 * faultc_region*() and faultc_close(), which allocate (through malloc) while
 * they set up or tear down.
 */
#ifndef FAULTC_H
#define FAULTC_H

#include <stddef.h>
#include <stdint.h>
#include "faultc_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

struct faultc_policy;
struct faultc_region;

/* Bits of faultc_open_opts.flags. */
enum {
	/* Make no CPU wake-up latency request while faults stream. */
	FAULTC_OPEN_NO_CPU_LATENCY = 1u << 0,
	/* Leave handler threads where the scheduler puts them. */
	FAULTC_OPEN_NO_FOLLOW = 1u << 1,
	/* UFFD_USER_MODE_ONLY: no privilege needed; system calls touching an
	 * unresolved page fail with EFAULT instead of waiting. */
	FAULTC_OPEN_USER_MODE_ONLY = 1u << 2,
	/*
	 * The kernel engine: <policy>.fault.bpf.o runs in the faulting thread
	 * (the faultc kernel's fault hook; CAP_BPF). faultc_open() fails with
	 * ENOTSUP where the hook does not answer. Sets live in the program's
	 * maps, mapped into the process (faultc_set_add() is an atomic
	 * instruction per 64-page word, as on the uffd engine); there is
	 * no userfaultfd (faultc_uffd() is -1), no faultc_region_watch() and no
	 * faultc_set_copy() (ENOTSUP), and a fork()ed child shares the
	 * parent's sets. Events come from one thread polling the program's
	 * ring buffer.
	 */
	FAULTC_OPEN_KERNEL = 1u << 3,
};

struct faultc_open_opts {
	unsigned threads; /* handler threads; 0: one per online CPU */
	unsigned flags; /* FAULTC_OPEN_* */
	/*
	 * Called on a handler thread for each `notify` event, in batches: it
	 * must not touch a page of the policy's regions that may be missing,
	 * nor wait for one of the process's threads.
	 */
	void (*on_event)(const struct faultc_event *ev, void *ctx);
	void *ctx;
};

struct faultc_stats {
	uint64_t faults;
	uint64_t zero, fill, copy, prefetch;
	uint64_t sigbus, deferred, errors;
	uint64_t write_faults;
};

/*
 * Loads <compiled>.policy.json and <compiled>.decide.so (compiled may also
 * name either file) and starts the handler threads. NULL on failure, with
 * errno set and a message in err.
 */
struct faultc_policy *faultc_open(const char *compiled, const struct faultc_open_opts *opts,
				  char *err, size_t errlen);

/* The policy's name, as in the .pfp file. */
const char *faultc_policy_name(const struct faultc_policy *p);

/*
 * Maps region `name` (at the fixed address at, or anywhere when NULL) and
 * hands its faults to the policy. Mapping a region twice returns the same
 * region. NULL with errno on failure (ENOENT: no such region; EBUSY: the
 * policy has sets and another open instance of the same compiled policy in
 * this process holds this region's).
 */
struct faultc_region *faultc_region(struct faultc_policy *p, const char *name, void *at);

/*
 * Hands memory the caller mapped (and keeps) to region `name`: the region's
 * size from addr. Its missing pages then fault to the policy. A region is
 * mapped or watched once.
 */
struct faultc_region *faultc_region_watch(struct faultc_policy *p, const char *name, void *addr);

void *faultc_region_addr(const struct faultc_region *r);
size_t faultc_region_size(const struct faultc_region *r);
int faultc_region_stats(const struct faultc_region *r, struct faultc_stats *out);

/*
 * Run-time page sets (`set <name>` in the policy). Pages are the region's
 * page indexes (offset / 4096). faultc_set_id() returns the set's index or
 * -1 (errno ENOENT). Add and remove are atomic per page, need no lock and
 * never allocate; a handler thread sees a page's bit as soon as the call
 * returns. They return 0, or -ERANGE past the region's end, -EINVAL for a
 * bad set.
 */
int faultc_set_id(const struct faultc_policy *p, const char *name);
int faultc_set_add(struct faultc_region *r, int set, uint64_t first_page, uint64_t pages);
int faultc_set_remove(struct faultc_region *r, int set, uint64_t first_page, uint64_t pages);
int faultc_set_contains(const struct faultc_region *r, int set, uint64_t page);

/* Copies every set's pages of src (same size, same policy) into dst. */
int faultc_set_copy(struct faultc_region *dst, const struct faultc_region *src);

/* The userfaultfd, for resolving pages from the caller's own thread
 * (UFFDIO_COPY, UFFDIO_ZEROPAGE) before anything touches them. */
int faultc_uffd(const struct faultc_policy *p);

/* Events dropped because the queue was full. */
uint64_t faultc_lost_events(const struct faultc_policy *p);

/* Stops the handlers (after the queued faults), unmaps the regions it
 * mapped and frees everything. */
void faultc_close(struct faultc_policy *p);

/*
 * After fork(), in the child: the parent's handler threads do not exist
 * there and its userfaultfd still serves the parent. Forgets them (closing
 * the child's copy of the descriptor, freeing nothing) so that the child can
 * faultc_open() its own. The child's copies of the regions are no longer
 * registered: their missing pages fill with zeros.
 */
void faultc_forget_after_fork(struct faultc_policy *p);

#ifdef __cplusplus
}
#endif

#endif /* FAULTC_H */
