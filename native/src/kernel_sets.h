/* SPDX-License-Identifier: GPL-2.0 */
/* Run-time page sets in the fault program's maps (kernel_sets.c). */
#ifndef FAULTC_KERNEL_SETS_H
#define FAULTC_KERNEL_SETS_H

#include <stdbool.h>
#include <stdint.h>
#include "lib/faultc_sets.h"

struct bpf_object;

/* Pages a set can name in a region: the program tests page >> 46 == 0. */
#define FK_SET_MAX_PAGES (1ull << 46)
/* Words each set's map holds (codegen/sets-c.ts BPF_SET_MAP_ENTRIES). */
#define FK_SET_MAP_WORDS 65536u

/* The map fd of each set of obj (-1 past its sets); returns how many sets. */
int fk_sets_find(struct bpf_object *obj, int fds[FAULTC_MAX_SETS]);
/* Pages [first, first + n) of region in (on) or out of the set of map fd:
 * 0, -ERANGE, -ENOSPC when the map is full, or a negative errno. */
int fk_sets_change(int fd, uint32_t region, uint64_t first, uint64_t n, bool on);
/* 1 when page is in, 0 when not, or a negative errno. */
int fk_sets_test(int fd, uint32_t region, uint64_t page);

#endif /* FAULTC_KERNEL_SETS_H */
