/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Run-time page sets (`set <name>` in a policy), as the host decision
 * library sees them: <policy>.decide.so exports
 *
 *	struct faultc_set_slot faultc_sets[sets][regions];
 *	const unsigned faultc_set_dims[2] = { sets, regions };
 *
 * and its decision function tests bit `page` of faultc_sets[s][region].bits
 * (a NULL bitmap is an empty set, a page past `pages` is not in it).
 * libfaultc and the Node addon fill the slots when they map a region, with
 * the helpers below (sets.c). The layout is repeated in
 * codegen/decide-host.ts.
 */
#ifndef FAULTC_SETS_H
#define FAULTC_SETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FAULTC_MAX_SETS 8

struct faultc_set_slot {
	uint64_t *bits;
	uint64_t pages;
};

/* The decision library's table, as loaded by the engine. */
struct fc_set_table {
	struct faultc_set_slot *slots; /* [sets][regions], NULL without sets */
	unsigned nr_sets, nr_regions;
};

/* One region's bitmaps, one per set (read and written with __atomic builtins). */
struct fc_set_bits {
	uint64_t *bits[FAULTC_MAX_SETS];
	uint64_t pages;
	unsigned nr_sets;
};

/*
 * Finds the table of the decision library `so` (already loaded by the
 * engine) for nr_sets sets and nr_regions regions. 0 (also without sets),
 * or -EINVAL with a message.
 */
int fc_set_table_bind(struct fc_set_table *t, const char *so, unsigned nr_sets,
		      unsigned nr_regions, char *err, size_t errlen);

/*
 * Maps one zeroed bitmap per set for region `index` of `pages` pages and
 * publishes them in the table. -EBUSY when another open instance of the
 * same decision library published that region's sets, -ENOMEM.
 */
int fc_set_bits_publish(struct fc_set_bits *b, const struct fc_set_table *t, unsigned index,
			uint64_t pages);

/* Takes region index's bitmaps out of the table (the sets read empty). */
void fc_set_bits_withdraw(const struct fc_set_table *t, unsigned index);

/* Unmaps what fc_set_bits_publish() mapped (after the handlers stopped). */
void fc_set_bits_unmap(struct fc_set_bits *b);

/*
 * Adds (on) or removes pages [first, first + n) of set `set`: atomic per
 * page, no lock, no allocation. 0, -ERANGE past the region's end, -EINVAL
 * for a bad set.
 */
int fc_set_bits_change(struct fc_set_bits *b, int set, uint64_t first, uint64_t n, bool on);

/* 1 when page is in set, else 0. */
int fc_set_bits_test(const struct fc_set_bits *b, int set, uint64_t page);

/* Copies every set of src into dst (same size and sets); -EINVAL otherwise. */
int fc_set_bits_copy(struct fc_set_bits *dst, const struct fc_set_bits *src);

#ifdef __cplusplus
}
#endif

#endif /* FAULTC_SETS_H */
