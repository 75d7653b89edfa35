// SPDX-License-Identifier: GPL-2.0
/*
 * Run-time page sets on the host: one bitmap per set and region, published
 * in the decision library's faultc_sets table (faultc_sets.h). Shared by
 * libfaultc and the Node addon.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "faultc_sets.h"

int fc_set_table_bind(struct fc_set_table *t, const char *so, unsigned nr_sets,
		      unsigned nr_regions, char *err, size_t errlen)
{
	*t = (struct fc_set_table){ .nr_sets = nr_sets, .nr_regions = nr_regions };
	if (!nr_sets)
		return 0;
	void *dl = dlopen(so, RTLD_NOW | RTLD_NOLOAD);
	const unsigned *dims = dl ? dlsym(dl, "faultc_set_dims") : NULL;

	t->slots = dl ? dlsym(dl, "faultc_sets") : NULL;
	if (dl)
		dlclose(dl); /* the engine holds its own reference */
	if (!t->slots || !dims || dims[0] != nr_sets || dims[1] != nr_regions) {
		if (err && errlen)
			snprintf(err, errlen, "%s has no set table for %u sets and %u regions", so,
				 nr_sets, nr_regions);
		t->slots = NULL;
		return -EINVAL;
	}
	return 0;
}

static struct faultc_set_slot *slot_of(const struct fc_set_table *t, unsigned set, unsigned index)
{
	return &t->slots[set * t->nr_regions + index];
}

static size_t bitmap_bytes(uint64_t pages)
{
	return (size_t)((pages + 63) / 64 * 8);
}

int fc_set_bits_publish(struct fc_set_bits *b, const struct fc_set_table *t, unsigned index,
			uint64_t pages)
{
	*b = (struct fc_set_bits){ .pages = pages };
	if (!t->slots || index >= t->nr_regions)
		return 0;
	for (unsigned s = 0; s < t->nr_sets; s++) {
		if (__atomic_load_n(&slot_of(t, s, index)->bits, __ATOMIC_ACQUIRE))
			goto busy;
	}
	for (unsigned s = 0; s < t->nr_sets; s++) {
		void *m = mmap(NULL, bitmap_bytes(pages), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (m == MAP_FAILED) {
			fc_set_bits_withdraw(t, index);
			fc_set_bits_unmap(b);
			return -ENOMEM;
		}
		b->bits[s] = m;
		b->nr_sets = s + 1;
		struct faultc_set_slot *slot = slot_of(t, s, index);

		slot->pages = pages;
		__atomic_store_n(&slot->bits, (uint64_t *)m, __ATOMIC_RELEASE);
	}
	return 0;
busy:
	return -EBUSY;
}

void fc_set_bits_withdraw(const struct fc_set_table *t, unsigned index)
{
	if (!t->slots || index >= t->nr_regions)
		return;
	for (unsigned s = 0; s < t->nr_sets; s++)
		__atomic_store_n(&slot_of(t, s, index)->bits, NULL, __ATOMIC_RELEASE);
}

void fc_set_bits_unmap(struct fc_set_bits *b)
{
	for (unsigned s = 0; s < b->nr_sets; s++) {
		if (b->bits[s])
			munmap(b->bits[s], bitmap_bytes(b->pages));
		b->bits[s] = NULL;
	}
	b->nr_sets = 0;
}

int fc_set_bits_change(struct fc_set_bits *b, int set, uint64_t first, uint64_t n, bool on)
{
	if (set < 0 || (unsigned)set >= b->nr_sets || !b->bits[set])
		return -EINVAL;
	if (first > b->pages || n > b->pages - first)
		return -ERANGE;
	uint64_t *bits = b->bits[set];

	while (n) {
		uint64_t bit = first & 63;
		uint64_t take = 64 - bit < n ? 64 - bit : n;
		uint64_t mask = (take == 64 ? ~0ull : ((1ull << take) - 1)) << bit;

		if (on)
			__atomic_fetch_or(&bits[first / 64], mask, __ATOMIC_RELEASE);
		else
			__atomic_fetch_and(&bits[first / 64], ~mask, __ATOMIC_RELEASE);
		first += take;
		n -= take;
	}
	return 0;
}

int fc_set_bits_test(const struct fc_set_bits *b, int set, uint64_t page)
{
	if (set < 0 || (unsigned)set >= b->nr_sets || !b->bits[set] || page >= b->pages)
		return 0;
	return (__atomic_load_n(&b->bits[set][page / 64], __ATOMIC_ACQUIRE) >> (page & 63)) & 1;
}

int fc_set_bits_copy(struct fc_set_bits *dst, const struct fc_set_bits *src)
{
	if (dst->pages != src->pages || dst->nr_sets != src->nr_sets)
		return -EINVAL;
	for (unsigned s = 0; s < dst->nr_sets; s++) {
		if (!dst->bits[s] || !src->bits[s])
			return -EINVAL;
		memcpy(dst->bits[s], src->bits[s], bitmap_bytes(dst->pages));
	}
	return 0;
}
