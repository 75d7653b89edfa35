// SPDX-License-Identifier: GPL-2.0
/*
 * Regions: mapped by the engine (fc_engine_add_region) or the caller's
 * memory watched by it (fc_engine_watch_region), registered with the
 * userfaultfd, and published to the handlers complete. Their stats, and
 * the dirty pages of regions with write tracking.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "internal.h"

/*
 * Registers [addr, addr + size) with the engine's userfaultfd in reg_mode,
 * its first minor_len bytes (a private mapping of zero-copy source zc) for
 * minor faults too, and publishes it as region slot; region_lock held.
 * Returns slot or -errno.
 */
static int register_region(struct fc_engine *e, int slot, uint32_t policy_region,
			   void *addr, uint64_t size, uint64_t reg_mode,
			   uint64_t minor_len, uint32_t zc, char *err, size_t errlen)
{
	struct uffdio_register minor = {
		.range = { .start = (uint64_t)(uintptr_t)addr, .len = minor_len },
		.mode = reg_mode | UFFDIO_REGISTER_MODE_MINOR,
	};
	struct uffdio_register reg = {
		.range = { .start = (uint64_t)(uintptr_t)addr + minor_len, .len = size - minor_len },
		.mode = reg_mode,
	};
	struct fc_region *r = &e->regions[slot];

	if ((minor_len && ioctl(e->uffd, UFFDIO_REGISTER, &minor) < 0) ||
	    (reg.range.len && ioctl(e->uffd, UFFDIO_REGISTER, &reg) < 0)) {
		int rc = -errno;

		if (minor_len)
			ioctl(e->uffd, UFFDIO_UNREGISTER, &minor.range);
		set_err(err, errlen, "UFFDIO_REGISTER failed: %s", strerror(-rc));
		return rc;
	}
	memset(r, 0, sizeof(*r));
	r->start = (uint64_t)(uintptr_t)addr;
	r->size = size;
	r->end = r->start + size;
	r->minor_end = r->start + minor_len;
	r->zc_source = zc;
	r->policy_region = policy_region;
	r->wp = (reg_mode & UFFDIO_REGISTER_MODE_WP) != 0;
	r->dirty_words = (size / PAGE + 63) / 64;
	r->dirty = calloc(r->dirty_words, sizeof(uint64_t));
	pthread_mutex_init(&r->dirty_lock, NULL);
	if (!r->dirty) {
		struct uffdio_range range = { .start = r->start, .len = size };

		ioctl(e->uffd, UFFDIO_UNREGISTER, &range);
		pthread_mutex_destroy(&r->dirty_lock);
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* Handlers only look at regions [0, nr_regions): publish it complete. */
	atomic_store_explicit(&e->nr_regions, slot + 1, memory_order_release);
	return slot;
}

/*
 * How much of a region to map from its zero-copy source zc (-1: none): the
 * source's pages from offset 0, when the source is on tmpfs (minor faults
 * exist for shmem only) and the region has no `on write` rules.
 */
static uint64_t zero_copy_len(const struct fc_engine *e, uint64_t size, int wp, int zc)
{
	if (zc < 0 || (unsigned)zc >= e->nr_sources || wp || !e->source_shmem[zc] ||
	    !e->zero_copy)
		return 0;
	uint64_t len = (e->source_size[zc] + PAGE - 1) & ~(PAGE - 1);

	return len < size ? len : size;
}

/*
 * Takes region_lock and returns the next free region slot, or -ENOSPC
 * (lock released) when there is none or the engine is closing.
 */
static int lock_free_slot(struct fc_engine *e, char *err, size_t errlen)
{
	int slot;

	pthread_mutex_lock(&e->region_lock);
	slot = atomic_load(&e->nr_regions);
	if (slot >= FC_MAX_REGIONS || atomic_load(&e->stopping)) {
		pthread_mutex_unlock(&e->region_lock);
		set_err(err, errlen, "too many regions (at most %d per policy)", FC_MAX_REGIONS);
		return -ENOSPC;
	}
	return slot;
}

/* Maps size bytes of anonymous memory at at (0: anywhere). Address or NULL. */
static void *map_region(uint64_t size, uint64_t at, int *rc, char *err, size_t errlen)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (at ? MAP_FIXED_NOREPLACE : 0);
	void *addr = mmap((void *)(uintptr_t)at, size, PROT_READ | PROT_WRITE, flags, -1, 0);

	if (addr == MAP_FAILED) {
		*rc = -errno;
		if (*rc == -EEXIST)
			set_err(err, errlen, "the range 0x%llx-0x%llx is already mapped in this process",
				(unsigned long long)at, (unsigned long long)(at + size));
		else
			set_err(err, errlen, "mmap of %llu bytes failed: %s",
				(unsigned long long)size, strerror(-*rc));
		return NULL;
	}
	if (at && (uint64_t)(uintptr_t)addr != at) {
		/* Kernels before 4.17 ignore MAP_FIXED_NOREPLACE and pick another place. */
		munmap(addr, size);
		set_err(err, errlen, "the range at 0x%llx is not available", (unsigned long long)at);
		*rc = -EEXIST;
		return NULL;
	}
	return addr;
}

/*
 * Zero-copy: the part of the region inside its source becomes a private
 * mapping of the source (in the same place), so a page is the page-cache
 * page itself until written. Its missing pages still fault to the handlers
 * (minor faults), which map them with UFFDIO_CONTINUE. The rest stays
 * anonymous; past the end of the file a page is SIGBUS. Returns the length
 * mapped from the source (0: copies after all), or -errno when not even
 * anonymous memory could be put back.
 */
static int64_t map_zero_copy(struct fc_engine *e, void *addr, uint64_t minor_len, int zc)
{
	if (!minor_len || mmap(addr, minor_len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE,
			       e->source_fd[zc], 0) != MAP_FAILED)
		return (int64_t)minor_len;
	/* Anonymous memory again, whatever the failed mmap left: copies. */
	if (mmap(addr, minor_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
		return -errno;
	return 0;
}

int fc_engine_add_region(struct fc_engine *e, uint32_t policy_region,
			 uint64_t size, uint64_t at, int wp, int zc,
			 char *err, size_t errlen)
{
	int64_t minor_len;
	void *addr;
	int slot, rc = 0;

	if (!size || (size & (PAGE - 1)) || (at & (PAGE - 1))) {
		set_err(err, errlen, "a region is a non-zero whole number of pages at a page-aligned address");
		return -EINVAL;
	}
	slot = lock_free_slot(e, err, errlen);
	if (slot < 0)
		return slot;
	addr = map_region(size, at, &rc, err, errlen);
	if (!addr) {
		pthread_mutex_unlock(&e->region_lock);
		return rc;
	}
	minor_len = map_zero_copy(e, addr, zero_copy_len(e, size, wp, zc), zc);
	if (minor_len < 0) {
		rc = (int)minor_len;
		munmap(addr, size);
		pthread_mutex_unlock(&e->region_lock);
		set_err(err, errlen, "mmap of %llu bytes failed: %s",
			(unsigned long long)size, strerror(-rc));
		return rc;
	}
	rc = register_region(e, slot, policy_region, addr, size,
			     UFFDIO_REGISTER_MODE_MISSING | (wp ? UFFDIO_REGISTER_MODE_WP : 0),
			     (uint64_t)minor_len, zc < 0 ? 0 : (uint32_t)zc, err, errlen);
	if (rc < 0)
		munmap(addr, size);
	else
		e->regions[slot].owned = true;
	pthread_mutex_unlock(&e->region_lock);
	return rc;
}

int fc_engine_watch_region(struct fc_engine *e, uint32_t policy_region, void *addr,
			   uint64_t size, unsigned mode, char *err, size_t errlen)
{
	uint64_t reg_mode = ((mode & FC_WATCH_MISSING) ? UFFDIO_REGISTER_MODE_MISSING : 0) |
			    ((mode & FC_WATCH_WRITES) ? UFFDIO_REGISTER_MODE_WP : 0);
	int slot, rc;

	if (!size || (size & (PAGE - 1)) || ((uintptr_t)addr & (PAGE - 1)) || !reg_mode) {
		set_err(err, errlen, "a watched region is a non-zero whole number of pages, watched for something");
		return -EINVAL;
	}
	slot = lock_free_slot(e, err, errlen);
	if (slot < 0)
		return slot;
	rc = register_region(e, slot, policy_region, addr, size, reg_mode, 0, 0, err, errlen);
	pthread_mutex_unlock(&e->region_lock);
	return rc;
}

static struct fc_region *slot_region(struct fc_engine *e, int slot)
{
	if (e->stopped || slot < 0 || slot >= atomic_load(&e->nr_regions))
		return NULL;
	return &e->regions[slot];
}

void *fc_region_addr(struct fc_engine *e, int slot)
{
	struct fc_region *r = slot_region(e, slot);

	return r ? (void *)(uintptr_t)r->start : NULL;
}

uint64_t fc_region_size(struct fc_engine *e, int slot)
{
	struct fc_region *r = slot_region(e, slot);

	return r ? r->size : 0;
}

int fc_region_stats(struct fc_engine *e, int slot, struct fc_region_stats *out)
{
	struct fc_region *r = slot_region(e, slot);

	if (!r)
		return -EINVAL;
	out->faults = atomic_load(&r->st.faults);
	out->zero = atomic_load(&r->st.zero);
	out->fill = atomic_load(&r->st.fill);
	out->copy = atomic_load(&r->st.copy);
	out->prefetch = atomic_load(&r->st.prefetch);
	out->sigbus = atomic_load(&r->st.sigbus);
	out->deferred = atomic_load(&r->st.deferred);
	out->errors = atomic_load(&r->st.errors);
	out->write_faults = atomic_load(&r->st.write_faults);
	out->raced = atomic_load(&r->st.raced);
	return 0;
}

size_t fc_region_dirty(struct fc_engine *e, int slot, uint64_t *pages, size_t max)
{
	struct fc_region *r = slot_region(e, slot);
	size_t n = 0;

	/* Only write faults set dirty bits: no need to scan (a 64 TiB region has 2^28 words). */
	if (!r || !r->wp)
		return 0;
	for (size_t wi = 0; wi < r->dirty_words; wi++) {
		uint64_t word = atomic_load(&r->dirty[wi]);

		while (word) {
			unsigned bit = (unsigned)__builtin_ctzll(word);

			if (n < max)
				pages[n] = wi * 64 + bit;
			n++;
			word &= word - 1;
		}
	}
	return n;
}

int fc_region_reset_dirty(struct fc_engine *e, int slot)
{
	struct fc_region *r = slot_region(e, slot);
	int rc = 0;

	if (!r)
		return -EINVAL;
	if (!r->wp)
		return 0;
	pthread_mutex_lock(&r->dirty_lock);
	for (size_t wi = 0; wi < r->dirty_words; wi++) {
		uint64_t word = atomic_exchange(&r->dirty[wi], 0);

		while (word) {
			unsigned bit = (unsigned)__builtin_ctzll(word);
			unsigned run = 0;

			/* protect runs of consecutive dirty pages with one ioctl */
			while (bit + run < 64 && (word >> (bit + run) & 1))
				run++;
			struct uffdio_writeprotect wp = {
				.range = {
					.start = r->start + (wi * 64 + bit) * PAGE,
					.len = (uint64_t)run * PAGE,
				},
				.mode = UFFDIO_WRITEPROTECT_MODE_WP,
			};

			if (ioctl(e->uffd, UFFDIO_WRITEPROTECT, &wp) < 0 && !rc)
				rc = -errno;
			word &= ~(run == 64 ? ~0ull : ((1ull << run) - 1) << bit);
		}
	}
	pthread_mutex_unlock(&r->dirty_lock);
	return rc;
}
