// SPDX-License-Identifier: GPL-2.0
/*
 * The policy's sources, where copied pages come from: each open for pread,
 * and mapped read-only so a run of whole pages is copied straight from its
 * page cache. A source on tmpfs can be mapped into a region itself
 * (zero-copy, see regions.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "internal.h"
#include "../common/source_file.h"

/* Opens source i: size, whether on tmpfs, read-only mapping. 0 or an errno. */
static int open_source(struct fc_engine *e, unsigned i, const char *path,
		       char *err, size_t errlen)
{
	struct stat st;
	struct statfs fs;

	if (fc_http_is_url(path)) {
		struct fc_http_opts ho = { .deadline_ms = e->http_deadline_ms };
		int rc = 0;

		e->source_http[i] = fc_http_open(path, &ho, err, errlen, &rc);
		if (!e->source_http[i])
			return rc ? rc : EIO;
		e->source_size[i] = fc_http_size(e->source_http[i]);
		atomic_store(&e->blocking, true);
		return 0;
	}
	e->source_fd[i] = open_source_file(path, &st, err, errlen);
	if (e->source_fd[i] < 0)
		return -e->source_fd[i];
	e->source_size[i] = (uint64_t)st.st_size;
	/* Minor faults (page-cache pages mapped as they are) exist for shmem. */
	e->source_shmem[i] = S_ISREG(st.st_mode) && fstatfs(e->source_fd[i], &fs) == 0 &&
			     fs.f_type == TMPFS_MAGIC;
	if (st.st_size > 0) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, e->source_fd[i], 0);

		/* Without the mapping, pread serves every copy. */
		e->source_map[i] = m == MAP_FAILED ? NULL : m;
		uint64_t chunks = ((uint64_t)st.st_size + FC_POPULATE_CHUNK - 1) / FC_POPULATE_CHUNK;

		e->source_populated[i] = calloc((chunks + 63) / 64, sizeof(uint64_t));
	}
	return 0;
}

int fc_open_sources(struct fc_engine *e, const struct fc_engine_opts *o,
		    char *err, size_t errlen)
{
	e->nr_sources = o->nr_sources;
	e->http_deadline_ms = o->http_deadline_ms;
	for (unsigned i = 0; i < o->nr_sources; i++) {
		int rc = open_source(e, i, o->source_paths[i], err, errlen);

		if (rc)
			return rc;
	}
	return 0;
}

uint64_t fc_engine_source_size(struct fc_engine *e, unsigned source)
{
	return source < e->nr_sources ? e->source_size[source] : 0;
}

void fc_close_sources(struct fc_engine *e)
{
	for (unsigned i = 0; i < e->nr_sources; i++) {
		if (e->source_map[i])
			munmap(e->source_map[i], (size_t)e->source_size[i]);
		free(e->source_populated[i]);
		fc_http_close(e->source_http[i]);
		if (e->source_fd[i] >= 0)
			close(e->source_fd[i]);
	}
}

/* Reads len bytes at off; returns bytes read, or -errno. */
static ssize_t read_full(int fd, uint8_t *dst, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, dst + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/*
 * Fills buf for pages [0, n) of the plan. Contiguous copy pages of one source
 * at consecutive offsets are read with one pread. Returns 0, or -1 with the
 * index of the first page whose read failed in *bad and the error in *error.
 */
int fc_fill_batch(struct fc_engine *e, struct fc_worker *w, unsigned n,
		  unsigned *bad, uint32_t *error)
{
	unsigned i = 0;

	while (i < n) {
		const struct fc_plan *p = &w->plan[i];
		uint8_t *dst = w->buf + (size_t)i * PAGE;

		if (p->action != FAULTC_ACT_COPY) {
			memset(dst, p->action == FAULTC_ACT_FILL ? (int)p->fill_byte : 0, PAGE);
			i++;
			continue;
		}
		unsigned j = i + 1;

		while (j < n && w->plan[j].action == FAULTC_ACT_COPY &&
		       w->plan[j].source == p->source &&
		       w->plan[j].source_offset == p->source_offset + (uint64_t)(j - i) * PAGE)
			j++;
		uint64_t size = e->source_size[p->source];
		uint64_t want = (uint64_t)(j - i) * PAGE;

		if (p->source_offset + want > size)
			want = size - p->source_offset; /* > 0: checked by fc_decide() */
		if (e->source_http[p->source]) {
			uint32_t cause = fc_http_read(e->source_http[p->source], dst, want, p->source_offset);

			if (cause) {
				*bad = i;
				*error = cause;
				return -1;
			}
			memset(dst + want, 0, (uint64_t)(j - i) * PAGE - want);
			i = j;
			continue;
		}
		ssize_t got = read_full(e->source_fd[p->source], dst, want, p->source_offset);

		if (got < 0 || (uint64_t)got < want) {
			/* The source shrank or failed: never hand out zeros instead. */
			*bad = i + (got > 0 ? (unsigned)((uint64_t)got / PAGE) : 0);
			*error = FAULTC_ERR_SOURCE_READ;
			return -1;
		}
		memset(dst + want, 0, (uint64_t)(j - i) * PAGE - want);
		i = j;
	}
	return 0;
}

/*
 * A batch that is one run of whole pages of one source, at consecutive
 * offsets, can be copied into place straight from the source's page cache
 * (mapped read-only at load): one copy instead of pread + copy. Returns the
 * source address of page 0, or NULL for the buffer path.
 */
const uint8_t *fc_direct_source(struct fc_engine *e, const struct fc_worker *w,
				unsigned n)
{
	const struct fc_plan *p = &w->plan[0];

	if (p->action != FAULTC_ACT_COPY || !e->source_map[p->source])
		return NULL;
	for (unsigned k = 1; k < n; k++) {
		const struct fc_plan *q = &w->plan[k];

		if (q->action != FAULTC_ACT_COPY || q->source != p->source ||
		    q->source_offset != p->source_offset + (uint64_t)k * PAGE)
			return NULL;
	}
	/* The page holding the end of the file goes through pread, which
	 * zero-fills its tail explicitly. */
	if (p->source_offset + (uint64_t)n * PAGE > e->source_size[p->source])
		return NULL;
	const uint8_t *src = e->source_map[p->source] + p->source_offset;

	/*
	 * Map the page-cache pages before the copy (reading them in if
	 * needed), so it does not fault on them one by one; a chunk of
	 * FC_POPULATE_CHUNK at a time, remembered, so sequential faults pay
	 * for it once per chunk. EFAULT: the file shrank.
	 */
	uint64_t first = p->source_offset / FC_POPULATE_CHUNK;
	uint64_t last = (p->source_offset + (uint64_t)n * PAGE - 1) / FC_POPULATE_CHUNK;
	_Atomic uint64_t *done = e->source_populated[p->source];

	for (uint64_t c = first; c <= last; c++) {
		uint64_t bit = 1ull << (c % 64);

		if (done && (atomic_load_explicit(&done[c / 64], memory_order_relaxed) & bit))
			continue;
		uint64_t off = c * FC_POPULATE_CHUNK;
		uint64_t len = FC_POPULATE_CHUNK;

		if (off + len > e->source_size[p->source])
			len = e->source_size[p->source] - off;
		if (madvise(e->source_map[p->source] + off, (size_t)len, MADV_POPULATE_READ) < 0) {
			if (errno != EINVAL)
				return NULL;
			break; /* no MADV_POPULATE_READ (before 5.14): the copy faults them in */
		}
		if (done)
			atomic_fetch_or(&done[c / 64], bit);
	}
	return src;
}

int fc_engine_http_stats(struct fc_engine *e, unsigned source, struct fc_http_stats *out)
{
	if (source >= e->nr_sources || !e->source_http[source])
		return -ENOENT;
	fc_http_get_stats(e->source_http[source], out);
	return 0;
}
