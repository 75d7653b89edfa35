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
 * libfaultc fills the slots when it maps a region. The layout is repeated in
 * codegen/decide-host.ts.
 */
#ifndef FAULTC_SETS_H
#define FAULTC_SETS_H

#include <stdint.h>

#define FAULTC_MAX_SETS 8

struct faultc_set_slot {
	uint64_t *bits;
	uint64_t pages;
};

#endif /* FAULTC_SETS_H */
