/* SPDX-License-Identifier: GPL-2.0 */
/* Run-time page sets in the fault program's maps (kernel_sets.c). */
#ifndef FAULTC_KERNEL_SETS_H
#define FAULTC_KERNEL_SETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lib/faultc_sets.h"

struct bpf_object;

/* The program's set maps, mapped into this process. */
struct fk_sets {
	unsigned nr_sets;
	uint32_t nr_regions;
	uint32_t stride; /* 64-page words per region in each map */
	size_t bytes; /* of each mapping */
	uint64_t *words[FAULTC_MAX_SETS]; /* NULL past nr_sets */
};

/*
 * Finds obj's maps faultc_set_<s> (codegen/sets-c.ts: BPF_F_MMAPABLE arrays
 * of nr_regions * stride words) and maps each shared into this process.
 * 0 (also without sets), or a negative errno with a message in err.
 */
int fk_sets_open(struct fk_sets *s, struct bpf_object *obj, uint32_t nr_regions, char *err,
		 size_t errlen);
/*
 * Region region's words of every set, as bitmaps of stride * 64 pages (the
 * host sets' helpers, sets.c, change and test them: atomic per word).
 */
void fk_sets_view(const struct fk_sets *s, uint32_t region, struct fc_set_bits *view);
/* Unmaps them (the maps stay with the program). */
void fk_sets_close(struct fk_sets *s);

#endif /* FAULTC_KERNEL_SETS_H */
