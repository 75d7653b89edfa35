// SPDX-License-Identifier: GPL-2.0
/*
 * Run-time page sets on the kernel engine. The fault program carries set s
 * as the array map faultc_set_<s> (codegen/sets-c.ts): BPF_F_MMAPABLE, one
 * 64-page word of the set's bitmap per entry, region r's word w at entry
 * r * stride + w. The map is mapped shared into the process, so adding or
 * removing pages is an atomic instruction on the word (sets.c's helpers on
 * a view of one region's words), which the program's next fault reads: no
 * system call, no lock, no allocation, as on the uffd engine.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "kernel_sets.h"

static int map_set(struct fk_sets *s, struct bpf_map *m, unsigned set, char *err, size_t errlen)
{
	long page = sysconf(_SC_PAGESIZE);
	uint32_t entries = bpf_map__max_entries(m);
	size_t bytes = ((size_t)entries * sizeof(uint64_t) + (size_t)page - 1) & ~((size_t)page - 1);
	void *w;

	if (bpf_map__type(m) != BPF_MAP_TYPE_ARRAY || !(bpf_map__map_flags(m) & BPF_F_MMAPABLE) ||
	    bpf_map__value_size(m) != sizeof(uint64_t) || !s->nr_regions ||
	    entries % s->nr_regions || (s->stride && entries / s->nr_regions != s->stride)) {
		snprintf(err, errlen, "set map %s is not an mmapable array of %u regions: compile the policy again",
			 bpf_map__name(m), s->nr_regions);
		return -EINVAL;
	}
	s->stride = entries / s->nr_regions;
	s->bytes = bytes;
	w = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(m), 0);
	if (w == MAP_FAILED) {
		int rc = -errno;

		snprintf(err, errlen, "cannot map set map %s: %s", bpf_map__name(m), strerror(-rc));
		return rc;
	}
	s->words[set] = w;
	return 0;
}

int fk_sets_open(struct fk_sets *s, struct bpf_object *obj, uint32_t nr_regions, char *err,
		 size_t errlen)
{
	/* codegen/sets-c.ts sizes the maps for one region at least. */
	*s = (struct fk_sets){ .nr_regions = nr_regions ? nr_regions : 1 };
	for (unsigned i = 0; i < FAULTC_MAX_SETS; i++) {
		char name[32];
		struct bpf_map *m;
		int rc;

		snprintf(name, sizeof(name), "faultc_set_%u", i);
		m = bpf_object__find_map_by_name(obj, name);
		if (!m)
			continue;
		rc = map_set(s, m, i, err, errlen);
		if (rc < 0) {
			fk_sets_close(s);
			return rc;
		}
		s->nr_sets = i + 1;
	}
	return 0;
}

void fk_sets_view(const struct fk_sets *s, uint32_t region, struct fc_set_bits *view)
{
	*view = (struct fc_set_bits){ .nr_sets = s->nr_sets };
	if (region >= s->nr_regions)
		return;
	view->pages = (uint64_t)s->stride * 64;
	for (unsigned i = 0; i < s->nr_sets; i++)
		view->bits[i] = s->words[i] ? s->words[i] + (size_t)region * s->stride : NULL;
}

void fk_sets_close(struct fk_sets *s)
{
	for (unsigned i = 0; i < FAULTC_MAX_SETS; i++) {
		if (s->words[i])
			munmap(s->words[i], s->bytes);
		s->words[i] = NULL;
	}
	s->nr_sets = 0;
}
