// SPDX-License-Identifier: GPL-2.0
/*
 * libfaultc (native/include/faultc.h): a compiled policy in any process.
 * Reads the manifest (<policy>.policy.json) for the regions, sources and
 * sets, opens the uffd engine on <policy>.decide.so, and binds the sets'
 * bitmaps to the decision library's faultc_sets table, where the generated
 * decision function tests them. With FAULTC_OPEN_KERNEL, the kernel engine
 * instead (faultc_kernel.c).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "faultc.h"
#include "faultc_kernel.h"
#include "faultc_sets.h"
#include "uffd_engine.h"

#define MAX_NAME 128
#define EVENT_BATCH 64

struct faultc_region {
	struct faultc_policy *p;
	char name[MAX_NAME];
	uint32_t index;
	uint64_t size;
	uint64_t at;
	bool wp;
	bool defer; /* its rules may defer */
	void *kaddr; /* kernel engine: where it is mapped */
	int slot; /* engine slot, -1 until mapped */
	struct fc_set_bits sets;
};

struct faultc_policy {
	char name[MAX_NAME];
	struct fc_engine *e;
	struct fcl_kernel *k; /* the kernel engine instead of e, or NULL */
	unsigned nr_regions;
	struct faultc_region *regions;
	unsigned nr_sets;
	char set_names[FAULTC_MAX_SETS][MAX_NAME];
	struct fc_set_table table; /* the decision library's faultc_sets */
	void (*on_event)(const struct faultc_event *ev, void *ctx);
	void *ctx;
	struct faultc_event batch[EVENT_BATCH];
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* <compiled>.policy.json and .decide.so from a base or either file's name. */
static int artifact_paths(const char *compiled, char *json, char *so, size_t len)
{
	static const char *const ext[] = { ".policy.json", ".decide.so" };
	size_t n = strlen(compiled);

	for (unsigned i = 0; i < 2; i++) {
		size_t k = strlen(ext[i]);

		if (n > k && strcmp(compiled + n - k, ext[i]) == 0) {
			n -= k;
			break;
		}
	}
	if ((size_t)snprintf(json, len, "%.*s.policy.json", (int)n, compiled) >= len ||
	    (size_t)snprintf(so, len, "%.*s.decide.so", (int)n, compiled) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static uint64_t json_u64(json_t *v)
{
	if (json_is_string(v))
		return strtoull(json_string_value(v), NULL, 0);
	if (json_is_integer(v))
		return (uint64_t)json_integer_value(v);
	return 0;
}

static bool copy_name(char *dst, json_t *v)
{
	const char *s = json_string_value(v);

	if (!s || strlen(s) >= MAX_NAME)
		return false;
	strcpy(dst, s);
	return true;
}

/* Whether a statement list of the manifest's IR holds a defer. */
static bool json_defers(json_t *stmts)
{
	size_t i;
	json_t *s;

	json_array_foreach(stmts, i, s)
	{
		const char *kind = json_string_value(json_object_get(s, "kind"));

		if (kind && strcmp(kind, "defer") == 0)
			return true;
		if (json_defers(json_object_get(s, "then")) || json_defers(json_object_get(s, "else")))
			return true;
	}
	return false;
}

/* Fills p's regions and sets and opts' sources from the manifest. */
static int read_manifest(struct faultc_policy *p, const char *path, struct fc_engine_opts *o,
			 char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	int rc = -EINVAL;

	if (!root) {
		set_err(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
		return -ENOENT;
	}
	json_t *ir = json_object_get(root, "ir");
	json_t *regions = json_object_get(root, "regions");
	json_t *ir_regions = json_object_get(ir, "regions");
	json_t *sources = json_object_get(root, "sources");
	json_t *sets = json_object_get(ir, "sets");

	if (json_integer_value(json_object_get(root, "abiVersion")) != FAULTC_ABI_VERSION ||
	    !copy_name(p->name, json_object_get(root, "policy")) || !json_is_array(regions) ||
	    !json_is_array(ir_regions) || !json_is_array(sources)) {
		set_err(err, errlen, "%s: not a faultc manifest of ABI version %d", path,
			FAULTC_ABI_VERSION);
		goto out;
	}
	if (json_array_size(sources) > FAULTC_MAX_SOURCES ||
	    json_array_size(sets) > FAULTC_MAX_SETS) {
		set_err(err, errlen, "%s: too many sources or sets", path);
		goto out;
	}
	o->nr_sources = (unsigned)json_array_size(sources);
	for (unsigned i = 0; i < o->nr_sources; i++) {
		const char *sp = json_string_value(json_object_get(json_array_get(sources, i),
								   "resolvedPath"));

		/* The engine keeps the pointer until open returns: strdup. */
		o->source_paths[i] = sp ? strdup(sp) : NULL;
		if (!o->source_paths[i]) {
			set_err(err, errlen, "%s: source %u has no path", path, i);
			goto out;
		}
	}
	p->nr_sets = (unsigned)json_array_size(sets);
	for (unsigned i = 0; i < p->nr_sets; i++) {
		if (!copy_name(p->set_names[i], json_object_get(json_array_get(sets, i), "id"))) {
			set_err(err, errlen, "%s: set %u has no name", path, i);
			goto out;
		}
	}
	p->nr_regions = (unsigned)json_array_size(regions);
	p->regions = calloc(p->nr_regions ? p->nr_regions : 1, sizeof(*p->regions));
	if (!p->regions) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < p->nr_regions; i++) {
		json_t *r = json_array_get(regions, i);
		struct faultc_region *fr = &p->regions[i];

		fr->p = p;
		fr->slot = -1;
		fr->index = (uint32_t)json_integer_value(json_object_get(r, "index"));
		fr->size = json_u64(json_object_get(r, "size"));
		fr->at = json_u64(json_object_get(r, "at"));
		fr->wp = json_object_get(json_array_get(ir_regions, i), "onWrite") != NULL;
		fr->defer = json_defers(json_object_get(json_array_get(ir_regions, i), "onMissing"));
		if (!copy_name(fr->name, json_object_get(r, "id")) || !fr->size ||
		    fr->size % FAULTC_PAGE_SIZE) {
			set_err(err, errlen, "%s: region %u is malformed", path, i);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static void deliver_events(void *ctx)
{
	struct faultc_policy *p = ctx;
	size_t n;

	while ((n = fc_engine_drain_events(p->e, p->batch, EVENT_BATCH)) > 0) {
		for (size_t i = 0; i < n; i++)
			p->on_event(&p->batch[i], p->ctx);
	}
}

static unsigned engine_flags(unsigned flags)
{
	unsigned f = 0;

	if (flags & FAULTC_OPEN_NO_CPU_LATENCY)
		f |= FC_OPEN_NO_CPU_LATENCY;
	if (flags & FAULTC_OPEN_NO_FOLLOW)
		f |= FC_OPEN_NO_FOLLOW;
	if (flags & FAULTC_OPEN_USER_MODE_ONLY)
		f |= FC_OPEN_USER_MODE_ONLY;
	return f;
}

struct faultc_policy *faultc_open(const char *compiled, const struct faultc_open_opts *opts,
				  char *err, size_t errlen)
{
	char json[4096], so[4096];
	struct fc_engine_opts o = { 0 };
	struct faultc_policy *p = calloc(1, sizeof(*p));
	int rc, err_no = 0;

	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	rc = artifact_paths(compiled, json, so, sizeof(json));
	if (rc == 0)
		rc = read_manifest(p, json, &o, err, errlen);
	if (rc < 0)
		goto fail;
	if (opts) {
		p->on_event = opts->on_event;
		p->ctx = opts->ctx;
		o.nr_threads = opts->threads;
		o.flags = engine_flags(opts->flags);
	}
	o.decide_path = so;
	if (opts && (opts->flags & FAULTC_OPEN_KERNEL)) {
		char obj[4096];
		size_t n = strlen(so) - strlen(".decide.so");

		snprintf(obj, sizeof(obj), "%.*s.fault.bpf.o", (int)n, so);
		p->k = fcl_kernel_open(obj, so, o.nr_sources, o.source_paths, p->nr_regions,
				       p->on_event, p->ctx, err, errlen, &err_no);
		if (!p->k) {
			rc = -(err_no ? err_no : EINVAL);
			goto fail;
		}
		goto opened;
	}
	if (p->on_event) {
		o.on_events = deliver_events;
		o.ctx = p;
	}
	p->e = fc_engine_open(&o, err, errlen, &err_no);
	if (!p->e) {
		rc = -(err_no ? err_no : EINVAL);
		goto fail;
	}
	rc = fc_set_table_bind(&p->table, so, p->nr_sets, p->nr_regions, err, errlen);
	if (rc < 0)
		goto fail;
opened:
	for (unsigned i = 0; i < o.nr_sources; i++)
		free((void *)o.source_paths[i]);
	return p;
fail:
	for (unsigned i = 0; i < o.nr_sources; i++)
		free((void *)o.source_paths[i]);
	if (p->e)
		fc_engine_close(p->e);
	free(p->regions);
	free(p);
	errno = -rc;
	return NULL;
}

const char *faultc_policy_name(const struct faultc_policy *p)
{
	return p->name;
}

/* The region called name, its set bitmaps mapped; NULL with errno set. */
static struct faultc_region *region_to_map(struct faultc_policy *p, const char *name)
{
	for (unsigned i = 0; i < p->nr_regions; i++) {
		struct faultc_region *r = &p->regions[i];

		if (strcmp(r->name, name) != 0)
			continue;
		if (r->slot < 0 && p->nr_sets && !r->sets.nr_sets && !p->k) {
			int rc = fc_set_bits_publish(&r->sets, &p->table, r->index,
						     r->size / FAULTC_PAGE_SIZE);

			if (rc < 0) {
				errno = -rc;
				return NULL;
			}
		}
		return r;
	}
	errno = ENOENT;
	return NULL;
}

/* Record the engine slot of a region just mapped, or errno from a failure. */
static struct faultc_region *region_mapped(struct faultc_region *r, int slot)
{
	if (slot < 0) {
		errno = -slot;
		return NULL;
	}
	r->slot = slot;
	return r;
}

struct faultc_region *faultc_region(struct faultc_policy *p, const char *name, void *at)
{
	struct faultc_region *r = region_to_map(p, name);
	char err[256];

	if (!r || r->slot >= 0)
		return r;
	uint64_t fixed = at ? (uint64_t)(uintptr_t)at : r->at;

	if (p->k)
		return region_mapped(r, fcl_kernel_region(p->k, r->index, r->size, fixed, r->wp,
							  r->defer, &r->kaddr));
	return region_mapped(r, fc_engine_add_region(p->e, r->index, r->size, fixed, r->wp, -1,
						     err, sizeof(err)));
}

struct faultc_region *faultc_region_watch(struct faultc_policy *p, const char *name, void *addr)
{
	struct faultc_region *r = region_to_map(p, name);
	char err[256];

	if (!r)
		return NULL;
	if (r->slot >= 0 || p->k) {
		errno = p->k ? ENOTSUP : EBUSY;
		return NULL;
	}
	return region_mapped(r, fc_engine_watch_region(p->e, r->index, addr, r->size,
						       FC_WATCH_MISSING | (r->wp ? FC_WATCH_WRITES : 0),
						       err, sizeof(err)));
}

int faultc_set_copy(struct faultc_region *dst, const struct faultc_region *src)
{
	if (dst->p->k || src->p->k)
		return -ENOTSUP;
	return fc_set_bits_copy(&dst->sets, &src->sets);
}

void *faultc_region_addr(const struct faultc_region *r)
{
	if (r->slot < 0)
		return NULL;
	return r->p->k ? r->kaddr : fc_region_addr(r->p->e, r->slot);
}

size_t faultc_region_size(const struct faultc_region *r)
{
	return (size_t)r->size;
}

int faultc_region_stats(const struct faultc_region *r, struct faultc_stats *out)
{
	struct fc_region_stats st;

	if (r->slot < 0)
		return -EINVAL;
	if (r->p->k)
		return fcl_kernel_stats(r->p->k, r->index, r->slot, out);
	int rc = fc_region_stats(r->p->e, r->slot, &st);

	if (rc < 0)
		return rc;
	*out = (struct faultc_stats){
		.faults = st.faults,
		.zero = st.zero,
		.fill = st.fill,
		.copy = st.copy,
		.prefetch = st.prefetch,
		.sigbus = st.sigbus,
		.deferred = st.deferred,
		.errors = st.errors,
		.write_faults = st.write_faults,
	};
	return 0;
}

int faultc_set_id(const struct faultc_policy *p, const char *name)
{
	for (unsigned i = 0; i < p->nr_sets; i++)
		if (strcmp(p->set_names[i], name) == 0)
			return (int)i;
	errno = ENOENT;
	return -1;
}

int faultc_set_add(struct faultc_region *r, int set, uint64_t first_page, uint64_t pages)
{
	if (r->p->k)
		return fcl_kernel_set(r->p->k, r->index, set, first_page, pages, true);
	return fc_set_bits_change(&r->sets, set, first_page, pages, true);
}

int faultc_set_remove(struct faultc_region *r, int set, uint64_t first_page, uint64_t pages)
{
	if (r->p->k)
		return fcl_kernel_set(r->p->k, r->index, set, first_page, pages, false);
	return fc_set_bits_change(&r->sets, set, first_page, pages, false);
}

int faultc_set_contains(const struct faultc_region *r, int set, uint64_t page)
{
	if (r->p->k)
		return fcl_kernel_contains(r->p->k, r->index, set, page);
	return fc_set_bits_test(&r->sets, set, page);
}

int faultc_uffd(const struct faultc_policy *p)
{
	return p->k ? -1 : fc_engine_uffd(p->e);
}

uint64_t faultc_lost_events(const struct faultc_policy *p)
{
	return p->k ? fcl_kernel_lost(p->k) : fc_engine_lost_events(p->e);
}

void faultc_close(struct faultc_policy *p)
{
	if (!p)
		return;
	if (p->k) {
		fcl_kernel_close(p->k);
		free(p->regions);
		free(p);
		return;
	}
	/* Handlers finishing queued faults see empty sets from here on. */
	for (unsigned i = 0; i < p->nr_regions; i++)
		if (p->regions[i].sets.nr_sets)
			fc_set_bits_withdraw(&p->table, p->regions[i].index);
	fc_engine_close(p->e); /* unloads the decision library */
	for (unsigned i = 0; i < p->nr_regions; i++)
		fc_set_bits_unmap(&p->regions[i].sets);
	free(p->regions);
	free(p);
}

void faultc_forget_after_fork(struct faultc_policy *p)
{
	if (!p || p->k)
		return;
	close(fc_engine_uffd(p->e));
	/* The decision library stays loaded: a new open publishes its own sets
	 * (this policy's bitmaps stay mapped, for faultc_set_copy()). */
	for (unsigned i = 0; i < p->nr_regions; i++)
		if (p->regions[i].sets.nr_sets)
			fc_set_bits_withdraw(&p->table, p->regions[i].index);
}
