// SPDX-License-Identifier: GPL-2.0
/*
 * Putting planned pages in place: UFFDIO_COPY from a buffer or a source's
 * page cache, UFFDIO_CONTINUE of a zero-copy mapping's own pages, and the
 * wake-up of a fault some other thread resolved.
 */
#define _GNU_SOURCE
#include <errno.h>

#include "internal.h"

void fc_wake_page(struct fc_engine *e, uint64_t addr)
{
	struct uffdio_range range = { .start = addr, .len = PAGE };

	ioctl(e->uffd, UFFDIO_WAKE, &range);
}

/*
 * One UFFDIO_COPY of len bytes from src to dst, or with src NULL one
 * UFFDIO_CONTINUE (map the page-cache pages of a minor-fault range). Returns
 * 0 or an errno; *done is the number of bytes installed either way.
 */
static int fill_range(struct fc_engine *e, const struct fc_region *r, uint64_t dst,
		      const uint8_t *src, uint64_t len, bool dontwake, uint64_t *done)
{
	if (!src) {
		struct uffdio_continue c = {
			.range = { .start = dst, .len = len },
			.mode = dontwake ? UFFDIO_CONTINUE_MODE_DONTWAKE : 0,
		};

		if (ioctl(e->uffd, UFFDIO_CONTINUE, &c) == 0) {
			*done = len;
			return 0;
		}
		*done = c.mapped > 0 ? (uint64_t)c.mapped : 0;
		return errno;
	}
	struct uffdio_copy c = {
		.dst = dst,
		.src = (uint64_t)(uintptr_t)src,
		.len = len,
		.mode = (r->wp ? UFFDIO_COPY_MODE_WP : 0) |
			(dontwake ? UFFDIO_COPY_MODE_DONTWAKE : 0),
	};

	if (ioctl(e->uffd, UFFDIO_COPY, &c) == 0) {
		*done = len;
		return 0;
	}
	*done = c.copy > 0 ? (uint64_t)c.copy : 0;
	return errno;
}

/*
 * Installs pages [0, n) of the batch at addr with as few UFFDIO_COPY calls as
 * possible (src NULL: UFFDIO_CONTINUE of the page cache's own pages): one,
 * unless some pages are already present (EEXIST: another thread or a
 * prefetch got there first), which are skipped. Returns how many pages this
 * call installed; *fault_installed says whether the page at fault_idx is one
 * of them. A faulting page found present is woken here, since no ioctl of
 * ours woke it; with dontwake nothing is woken.
 */
unsigned fc_install_batch(struct fc_engine *e, const struct fc_region *r,
			  uint64_t addr, const uint8_t *src, unsigned *start,
			  unsigned n, unsigned fault_idx, bool dontwake,
			  bool *fault_installed)
{
	unsigned i = *start, installed = 0;
	bool fault_existed = false;
	int err = 0;

	while (i < n) {
		uint64_t bytes;

		err = fill_range(e, r, addr + (uint64_t)i * PAGE,
				 src ? src + (size_t)i * PAGE : NULL,
				 (uint64_t)(n - i) * PAGE, dontwake, &bytes);
		if (!err) {
			if (fault_idx >= i)
				*fault_installed = true;
			installed += n - i;
			i = n;
			break;
		}
		if (bytes > 0) {
			unsigned done = (unsigned)(bytes / PAGE);

			if (fault_idx >= i && fault_idx < i + done)
				*fault_installed = true;
			installed += done;
			i += done;
			continue;
		}
		if (err == EEXIST) {
			if (i == fault_idx)
				fault_existed = true;
			atomic_fetch_add(&((struct fc_region *)r)->st.raced, 1);
			i++;
			continue;
		}
		if (err == EAGAIN || err == EINTR)
			continue; /* the mm changed under us: retry */
		/* EFAULT: the source could not be read, or for CONTINUE the page
		 * is not in its page cache (the caller retries from *start);
		 * ENOENT, EINVAL...: the range went away. */
		break;
	}
	*start = i;
	if (fault_existed && !dontwake)
		fc_wake_page(e, addr + (uint64_t)fault_idx * PAGE);
	/* CONTINUE fails with EINVAL past a shrunk end of file: copy decides. */
	return i < n && (err == EFAULT || !src) ? installed | FC_INSTALL_EFAULT : installed;
}
