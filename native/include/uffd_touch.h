/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Native page touching for tests and bench/: pthreads that first-touch pages,
 * so fault costs are measured without a JavaScript loop in the way.
 */
#ifndef FAULTC_UFFD_TOUCH_H
#define FAULTC_UFFD_TOUCH_H

#include <stddef.h>
#include <stdint.h>

struct fc_touch_result {
	uint64_t ns; /* from the start barrier to the last thread's end */
	uint64_t sum; /* sum of the bytes read (reads cannot be optimised away) */
};

/*
 * Touches base + pages[i] * 4096 for every i, split into threads contiguous
 * chunks. write: store `value` to the page's first byte, else read it.
 * lat_ns, when not NULL, gets each touch's nanoseconds (n entries, in the
 * order of pages). Returns 0 or a negative errno.
 */
int fc_touch_pages(uint8_t *base, const uint32_t *pages, size_t n, unsigned threads,
		   int write, uint8_t value, uint64_t *lat_ns, struct fc_touch_result *out);

/* The same over nr_pages of fresh private anonymous memory: the baseline. */
int fc_touch_anonymous(size_t nr_pages, unsigned threads, int write,
		       struct fc_touch_result *out);

#endif /* FAULTC_UFFD_TOUCH_H */
