// SPDX-License-Identifier: GPL-2.0
/*
 * Run-time page sets on the kernel engine. The fault program carries set s
 * as the hash map faultc_set_<s> (codegen/sets-c.ts): key
 * (policy region << 40) | (page / 64), value that word of the set's bitmap;
 * a missing key is a word of zeros. Each change replaces whole words (an
 * update of a hash map element is atomic for the program reading it), and a
 * word back to zero is deleted, so the map holds only words with a page in.
 * The uffd engine that watches regions with `on write` rules or defer runs
 * the host decision library: its bitmaps (sets.c) get the same changes.
 */
#include <errno.h>
#include <stdio.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "kernel_engine.h"
#include "kernel_sets.h"

int fk_sets_find(struct bpf_object *obj, int fds[FAULTC_MAX_SETS])
{
	unsigned n = 0;

	for (unsigned s = 0; s < FAULTC_MAX_SETS; s++) {
		char name[32];
		struct bpf_map *m;

		snprintf(name, sizeof(name), "faultc_set_%u", s);
		m = bpf_object__find_map_by_name(obj, name);
		fds[s] = m ? bpf_map__fd(m) : -1;
		if (m)
			n = s + 1;
	}
	return (int)n;
}

static uint64_t word_key(uint32_t region, uint64_t word)
{
	return ((uint64_t)region << 40) | word;
}

int fk_sets_change(int fd, uint32_t region, uint64_t first, uint64_t n, bool on)
{
	if (first >= FK_SET_MAX_PAGES || n > FK_SET_MAX_PAGES - first)
		return -ERANGE;
	while (n) {
		uint64_t bit = first & 63;
		uint64_t take = 64 - bit < n ? 64 - bit : n;
		uint64_t mask = (take == 64 ? ~0ull : ((1ull << take) - 1)) << bit;
		uint64_t key = word_key(region, first / 64), word = 0;

		if (bpf_map_lookup_elem(fd, &key, &word) < 0 && errno != ENOENT)
			return -errno;
		word = on ? word | mask : word & ~mask;
		if (word) {
			if (bpf_map_update_elem(fd, &key, &word, BPF_ANY) < 0)
				return errno == E2BIG ? -ENOSPC : -errno;
		} else if (bpf_map_delete_elem(fd, &key) < 0 && errno != ENOENT) {
			return -errno;
		}
		first += take;
		n -= take;
	}
	return 0;
}

int fk_sets_test(int fd, uint32_t region, uint64_t page)
{
	uint64_t key = word_key(region, page / 64), word = 0;

	if (page >= FK_SET_MAX_PAGES)
		return 0;
	if (bpf_map_lookup_elem(fd, &key, &word) < 0)
		return errno == ENOENT ? 0 : -errno;
	return (int)((word >> (page & 63)) & 1);
}
