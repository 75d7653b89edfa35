// SPDX-License-Identifier: GPL-2.0
/*
 * Decisions and plans: the policy's decision function for one page (with
 * the engine's own checks on what it returned), and the batch one fault
 * resolves: the faulting page and the neighbours its prefetch rule adds.
 */
#define _GNU_SOURCE
#include <string.h>

#include "internal.h"

void fc_decide(struct fc_engine *e, const struct fc_region *r,
	       uint64_t addr, uint32_t handler, uint32_t write,
	       struct faultc_decision *d)
{
	struct faultc_fault in = {
		.offset = addr - r->start,
		.address = addr,
		.region = r->policy_region,
		.handler = handler,
		.write = write,
	};

	memcpy(in.source_size, e->source_size, sizeof(in.source_size));
	memset(d, 0, sizeof(*d));
	if (e->decide(&in, d) != 0) {
		/* The library does not know the region: never guess. */
		d->action = FAULTC_ACT_SIGBUS;
		d->flags = FAULTC_F_ERROR;
		d->error = FAULTC_ERR_NONE;
		return;
	}
	if (d->flags & FAULTC_F_ERROR)
		d->action = FAULTC_ACT_SIGBUS;
	if (d->action == FAULTC_ACT_COPY && d->source >= e->nr_sources) {
		d->action = FAULTC_ACT_SIGBUS;
		d->flags |= FAULTC_F_ERROR;
		d->error = FAULTC_ERR_SOURCE_READ;
	}
	if (d->action == FAULTC_ACT_COPY && (d->source_offset & (PAGE - 1))) {
		d->action = FAULTC_ACT_SIGBUS;
		d->flags |= FAULTC_F_ERROR;
		d->error = FAULTC_ERR_UNALIGNED_OFFSET;
	}
	if (d->action == FAULTC_ACT_COPY &&
	    d->source_offset >= e->source_size[d->source]) {
		/* Wholly past the end of the source: as with mmap of a file. */
		d->action = FAULTC_ACT_SIGBUS;
		d->flags |= FAULTC_F_ERROR;
		d->error = FAULTC_ERR_PAST_END;
	}
}

static bool plannable(const struct faultc_decision *d)
{
	return !(d->flags & FAULTC_F_ERROR) &&
	       (d->action == FAULTC_ACT_ZERO || d->action == FAULTC_ACT_FILL ||
		d->action == FAULTC_ACT_COPY);
}

static void plan_from(struct fc_plan *p, const struct faultc_decision *d)
{
	p->action = d->action;
	p->fill_byte = d->fill_byte & 0xff;
	p->source = d->source;
	p->source_offset = d->source_offset;
}

/*
 * How many pages behind and ahead of the faulting page prefetch may plan:
 * inside the region's mapping that holds the page (one ioctl fills one VMA)
 * and at most FC_BATCH_PAGES in all.
 */
static void prefetch_window(const struct fc_region *r, uint64_t page,
			    const struct faultc_decision *d,
			    uint64_t *behind, uint64_t *ahead)
{
	uint64_t n = d->prefetch_pages;
	uint64_t lo = 0, hi = r->size / PAGE;
	uint64_t minor_pages = (r->minor_end - r->start) / PAGE;

	*ahead = *behind = 0;
	if (!n)
		return;
	switch (d->prefetch_dir) {
	case FAULTC_PREFETCH_BEHIND:
		*behind = n;
		break;
	case FAULTC_PREFETCH_AROUND:
		/* n in all: the larger half ahead, where readers go. */
		*ahead = n - n / 2;
		*behind = n / 2;
		break;
	case FAULTC_PREFETCH_BLOCK:
		/* The aligned block of n pages (a power of two) that holds
		 * the page, as a pager fills its own page size. */
		*behind = page & (n - 1);
		*ahead = n - 1 - *behind;
		break;
	default:
		*ahead = n;
		break;
	}
	if (page < minor_pages)
		hi = minor_pages;
	else
		lo = minor_pages;
	if (*ahead > hi - 1 - page)
		*ahead = hi - 1 - page;
	if (*behind > page - lo)
		*behind = page - lo;
	if (*ahead > FC_BATCH_PAGES - 1)
		*ahead = FC_BATCH_PAGES - 1;
	if (*behind > FC_BATCH_PAGES - 1 - *ahead)
		*behind = FC_BATCH_PAGES - 1 - *ahead;
}

/*
 * Plans the batch for a missing fault at addr whose decision is d into
 * w->plan, in address order: the faulting page and its prefetch
 * neighbours, a run that ends at the first neighbour whose rule is not
 * zero, fill or copy. Returns the number of pages; *fault_idx is the
 * faulting page's place in the plan.
 */
unsigned fc_plan_batch(struct fc_worker *w, const struct fc_region *r,
		       uint64_t addr, const struct faultc_decision *d,
		       unsigned *fault_idx)
{
	struct fc_engine *e = w->e;
	struct faultc_decision nd;
	uint64_t ahead, behind, nb = 0, na = 0;

	prefetch_window(r, (addr - r->start) / PAGE, d, &behind, &ahead);
	for (uint64_t k = 1; k <= behind; k++) {
		fc_decide(e, r, addr - k * PAGE, FAULTC_ON_MISSING, 0, &nd);
		if (!plannable(&nd))
			break;
		nb = k;
	}
	/* behind pages fill plan[0..nb-1] in address order */
	for (uint64_t k = 1; k <= nb; k++) {
		fc_decide(e, r, addr - k * PAGE, FAULTC_ON_MISSING, 0, &nd);
		plan_from(&w->plan[nb - k], &nd);
	}
	plan_from(&w->plan[nb], d);
	for (uint64_t k = 1; k <= ahead; k++) {
		fc_decide(e, r, addr + k * PAGE, FAULTC_ON_MISSING, 0, &nd);
		if (!plannable(&nd))
			break;
		plan_from(&w->plan[nb + k], &nd);
		na = k;
	}
	*fault_idx = (unsigned)nb;
	return (unsigned)(nb + 1 + na);
}

/*
 * Whether pages [0, n) of the plan, at base, can be mapped from the page
 * cache with UFFDIO_CONTINUE: all inside the region's private mapping of its
 * zero-copy source, each that source's page at its own offset.
 */
bool fc_zero_copy_run(const struct fc_region *r, const struct fc_worker *w,
		      uint64_t base, unsigned n)
{
	if (base + (uint64_t)n * PAGE > r->minor_end)
		return false;
	for (unsigned k = 0; k < n; k++) {
		const struct fc_plan *p = &w->plan[k];

		if (p->action != FAULTC_ACT_COPY || p->source != r->zc_source ||
		    p->source_offset != base - r->start + (uint64_t)k * PAGE)
			return false;
	}
	return true;
}
