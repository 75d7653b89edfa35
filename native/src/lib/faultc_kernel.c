// SPDX-License-Identifier: GPL-2.0
/*
 * libfaultc on the kernel engine (FAULTC_OPEN_KERNEL): the policy's
 * <policy>.fault.bpf.o attached to each region it maps (native/src/
 * kernel_engine.c), its events read by one thread that polls the ring
 * buffer, its run-time sets in the program's maps (kernel_sets.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultc.h"
#include "faultc_kernel.h"
#include "kernel_engine.h"

struct fcl_kernel {
	struct fk_engine *e;
	void (*on_event)(const struct faultc_event *ev, void *ctx);
	void *ctx;
	pthread_t poller;
	bool polling;
	atomic_bool stop;
};

static void one_event(void *ctx, const struct faultc_event *ev)
{
	struct fcl_kernel *k = ctx;

	k->on_event(ev, k->ctx);
}

static void *poll_events(void *arg)
{
	struct fcl_kernel *k = arg;

	while (!atomic_load(&k->stop))
		fk_engine_poll(k->e, 50, one_event, k);
	/* What came in while stopping. */
	while (fk_engine_poll(k->e, 0, one_event, k) > 0)
		;
	return NULL;
}

struct fcl_kernel *fcl_kernel_open(const char *object, const char *so, unsigned nr_sources,
				   const char *const *source_paths, unsigned nr_regions,
				   void (*on_event)(const struct faultc_event *ev, void *ctx),
				   void *ctx, char *err, size_t errlen, int *err_no)
{
	struct fk_engine_opts o = {
		.object_path = object,
		.decide_path = so,
		.nr_sources = nr_sources,
		.nr_regions = nr_regions,
	};
	struct fcl_kernel *k = calloc(1, sizeof(*k));

	if (!k) {
		*err_no = ENOMEM;
		return NULL;
	}
	for (unsigned i = 0; i < nr_sources && i < FAULTC_MAX_SOURCES; i++)
		o.source_paths[i] = source_paths[i];
	k->e = fk_engine_open(&o, err, errlen, err_no);
	if (!k->e) {
		free(k);
		return NULL;
	}
	k->on_event = on_event;
	k->ctx = ctx;
	if (on_event) {
		int rc = pthread_create(&k->poller, NULL, poll_events, k);

		if (rc) {
			*err_no = rc;
			snprintf(err, errlen, "cannot start the event thread: %s", strerror(rc));
			fk_engine_close(k->e);
			free(k);
			return NULL;
		}
		k->polling = true;
	}
	return k;
}

int fcl_kernel_region(struct fcl_kernel *k, uint32_t index, uint64_t size, uint64_t at,
		      bool writes, bool defer, void **addr)
{
	char err[256];
	uint32_t flags = (writes ? FK_REGION_WRITES : 0) | (defer ? FK_REGION_DEFER : 0);
	int slot = fk_engine_add_region(k->e, index, size, at, flags, err, sizeof(err));

	if (slot >= 0)
		*addr = fk_region_addr(k->e, slot);
	return slot;
}

int fcl_kernel_set(struct fcl_kernel *k, uint32_t index, int set, uint64_t first, uint64_t n,
		   bool on)
{
	char err[128];

	return fk_engine_set_change(k->e, index, set, first, n, on, err, sizeof(err));
}

int fcl_kernel_contains(struct fcl_kernel *k, uint32_t index, int set, uint64_t page)
{
	int rc = fk_engine_set_test(k->e, index, set, page);

	return rc > 0 ? 1 : 0;
}

int fcl_kernel_stats(struct fcl_kernel *k, uint32_t index, int slot, struct faultc_stats *out)
{
	struct faultc_counts c;
	struct fk_write_stats w;
	int rc = fk_engine_counts(k->e, index, &c);

	if (rc < 0)
		return rc;
	fk_region_writes(k->e, slot, &w);
	*out = (struct faultc_stats){
		.faults = c.faults,
		.zero = c.zero,
		.fill = c.fill,
		.copy = c.copy + w.copy,
		.prefetch = c.prefetch + w.prefetch,
		.sigbus = c.sigbus + w.sigbus,
		.deferred = c.defer,
		.errors = c.errors + w.errors,
		.write_faults = w.write_faults,
	};
	return 0;
}

uint64_t fcl_kernel_lost(struct fcl_kernel *k)
{
	return fk_engine_lost(k->e);
}

void fcl_kernel_close(struct fcl_kernel *k)
{
	if (!k)
		return;
	if (k->polling) {
		atomic_store(&k->stop, true);
		pthread_join(k->poller, NULL);
	}
	fk_engine_close(k->e);
	free(k);
}
