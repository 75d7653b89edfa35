// SPDX-License-Identifier: GPL-2.0
/*
 * BPF object loading with the verifier's log kept, and the trace engine's
 * session: tracepoint links, the load-time configuration, the target, range
 * and file maps, the ring buffer and the per-CPU counters. libbpf 1.1 API only.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpf_loader.h"
#include "fault_policy_uapi.h"

#define FAULTC_PROG_LOG_SIZE (1U << 20)

/*
 * libbpf reports some failures (CO-RE relocation, missing kernel BTF type,
 * attach errors) only through its print callback: while a load runs on this
 * thread, warnings are appended to the caller's log as well.
 */
static __thread char *capture_buf;
static __thread size_t capture_sz;
static pthread_once_t print_once = PTHREAD_ONCE_INIT;

static void log_append(char *log, size_t log_sz, const char *text)
{
	size_t used, len;

	if (!log || !log_sz)
		return;
	used = strnlen(log, log_sz - 1);
	len = strlen(text);
	if (len > log_sz - 1 - used) {
		/* Keep the tail: the verifier's verdict is at the end. */
		size_t keep = log_sz - 1;

		if (len >= keep) {
			memcpy(log, text + len - keep, keep);
			log[keep] = '\0';
			return;
		}
		memmove(log, log + (used + len - keep), keep - len);
		used = keep - len;
	}
	memcpy(log + used, text, len);
	log[used + len] = '\0';
}

static int faultc_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	char line[1024];

	/* `faultc -v` (FAULTC_DEBUG) shows libbpf's debug lines on stderr. */
	if (level == LIBBPF_DEBUG) {
		if (getenv("FAULTC_DEBUG"))
			vfprintf(stderr, fmt, args);
		return 0;
	}
	vsnprintf(line, sizeof(line), fmt, args);
	if (capture_buf)
		log_append(capture_buf, capture_sz, line);
	else if (getenv("FAULTC_BPF_DEBUG") || getenv("FAULTC_DEBUG"))
		fputs(line, stderr);
	return 0;
}

/*
 * Once per process: libbpf's print callback, and the fault hook's section.
 * libbpf does not know SEC("page_fault") (the patched kernel adds the program
 * type); registered, its programs open as BPF_PROG_TYPE_PAGE_FAULT. Should
 * registration fail, they open with no type and callers that force the type
 * (faultc_bpf_load_opts.prog_type) still load them.
 */
static void install_print(void)
{
	LIBBPF_OPTS(libbpf_prog_handler_opts, page_fault);

	libbpf_set_print(faultc_libbpf_print);
	if (libbpf_register_prog_handler("page_fault", FAULTC_BPF_PROG_TYPE_PAGE_FAULT, 0, &page_fault) < 0 &&
	    getenv("FAULTC_DEBUG"))
		fputs("faultc: libbpf refused the page_fault section handler\n", stderr);
}

/*
 * The verifier gives up with EAGAIN when a signal is pending, and libbpf
 * retries only a few times: a profiler's timer signal or a busy child's
 * SIGCHLD could fail every attempt.  Signals wait for the load instead.
 */
static int load_unsignalled(struct bpf_object *obj)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = bpf_object__load(obj);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

int faultc_bpf_load_opts(const char *path, const struct faultc_bpf_load_opts *opts,
			 char *log, size_t log_sz, struct bpf_object **out)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	char **logs = NULL;
	size_t nprogs = 0, i;
	int err;

	*out = NULL;
	if (log && log_sz)
		log[0] = '\0';
	pthread_once(&print_once, install_print);
	capture_buf = log;
	capture_sz = log_sz;

	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		err = -errno;
		goto out;
	}
	bpf_object__for_each_program(prog, obj)
		nprogs++;
	logs = calloc(nprogs ? nprogs : 1, sizeof(*logs));
	if (!logs) {
		err = -ENOMEM;
		goto close;
	}
	i = 0;
	bpf_object__for_each_program(prog, obj) {
		/* log_level 0: libbpf retries a rejected program with level 1 into this buffer. */
		logs[i] = calloc(1, FAULTC_PROG_LOG_SIZE);
		if (!logs[i]) {
			err = -ENOMEM;
			goto close;
		}
		bpf_program__set_log_buf(prog, logs[i], FAULTC_PROG_LOG_SIZE);
		if (opts && opts->prog_type > 0) {
			bpf_program__set_type(prog, opts->prog_type);
			if (opts->expected_attach_type > 0)
				bpf_program__set_expected_attach_type(prog, opts->expected_attach_type);
		}
		i++;
	}
	if (opts && opts->rodata_map) {
		struct bpf_map *map = bpf_object__find_map_by_name(obj, opts->rodata_map);

		err = map ? bpf_map__set_initial_value(map, opts->rodata, opts->rodata_size) : -ENOENT;
		if (err) {
			log_append(log, log_sz, "the object has no load-time configuration of this size\n");
			goto close;
		}
	}
	if (opts && opts->ringbuf_map && opts->ringbuf_bytes) {
		struct bpf_map *map = bpf_object__find_map_by_name(obj, opts->ringbuf_map);

		if (map) {
			err = bpf_map__set_max_entries(map, opts->ringbuf_bytes);
			if (err)
				goto close;
		}
	}
	err = load_unsignalled(obj);
	if (err) {
		i = 0;
		bpf_object__for_each_program(prog, obj) {
			if (logs[i][0]) {
				char head[256];

				snprintf(head, sizeof(head), "-- verifier log of program %s --\n",
					 bpf_program__name(prog));
				log_append(log, log_sz, head);
				log_append(log, log_sz, logs[i]);
			}
			i++;
		}
		goto close;
	}
	*out = obj;
	obj = NULL;
close:
	if (obj)
		bpf_object__close(obj);
	if (logs) {
		for (i = 0; i < nprogs; i++)
			free(logs[i]);
		free(logs);
	}
out:
	capture_buf = NULL;
	capture_sz = 0;
	return err;
}

int faultc_bpf_load(const char *path, int prog_type_override, char *log,
		    size_t log_sz, struct bpf_object **out)
{
	struct faultc_bpf_load_opts opts = { .prog_type = prog_type_override };

	return faultc_bpf_load_opts(path, &opts, log, log_sz, out);
}

long faultc_bpf_verified_insns(int prog_fd)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	return info.verified_insns;
}

struct faultc_trace {
	struct bpf_object *obj;
	struct bpf_link *links[8];
	int nlinks;
	int targets_fd, ranges_fd, files_fd, counts_fd, lost_fd, events_fd;
	/* The program's .data.live and what was last published there. */
	int live_fd;
	struct faultc_trace_live live;
	struct ring_buffer *rb;
	int ncpus;
	faultc_trace_event_fn fn;
	void *fn_ctx;
	int seen;
};

static int map_fd(struct bpf_object *obj, const char *name)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, name);

	return map ? bpf_map__fd(map) : -ENOENT;
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct faultc_trace *t = ctx;

	t->seen++;
	if (t->fn)
		t->fn(t->fn_ctx, data, size);
	return 0;
}

/* The fd of the program's .data.live section, or -ENOENT when it has none of that size. */
static int live_fd(struct bpf_object *obj)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, ".data.live");

	if (!map || bpf_map__value_size(map) != sizeof(struct faultc_trace_live))
		return -ENOENT;
	return bpf_map__fd(map);
}

int faultc_trace_open(const char *path, __u32 ringbuf_bytes, const struct faultc_trace_config *cfg,
		      char *log, size_t log_sz, struct faultc_trace **out)
{
	struct faultc_bpf_load_opts opts = {
		.ringbuf_map = "faultc_events",
		.ringbuf_bytes = ringbuf_bytes,
		.rodata_map = ".rodata.config",
		.rodata = cfg,
		.rodata_size = sizeof(*cfg),
	};
	struct faultc_trace *t;
	int err;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	err = faultc_bpf_load_opts(path, &opts, log, log_sz, &t->obj);
	if (err)
		goto fail;
	t->targets_fd = map_fd(t->obj, "faultc_targets");
	t->ranges_fd = map_fd(t->obj, "faultc_ranges");
	t->files_fd = map_fd(t->obj, "faultc_files");
	t->counts_fd = map_fd(t->obj, "faultc_counts");
	t->lost_fd = map_fd(t->obj, "faultc_lost");
	t->events_fd = map_fd(t->obj, "faultc_events");
	t->live_fd = live_fd(t->obj);
	if (t->targets_fd < 0 || t->ranges_fd < 0 || t->files_fd < 0 || t->live_fd < 0 || t->counts_fd < 0 ||
	    t->lost_fd < 0 || t->events_fd < 0) {
		log_append(log, log_sz, "object lacks one of the faultc_* trace maps\n");
		err = -ENOENT;
		goto fail;
	}
	t->ncpus = libbpf_num_possible_cpus();
	if (t->ncpus <= 0) {
		err = t->ncpus ? t->ncpus : -EINVAL;
		goto fail;
	}
	t->rb = ring_buffer__new(t->events_fd, on_sample, t, NULL);
	if (!t->rb) {
		err = -errno;
		goto fail;
	}
	*out = t;
	return 0;
fail:
	faultc_trace_close(t);
	return err;
}

int faultc_trace_attach(struct faultc_trace *t)
{
	struct bpf_program *prog;

	if (t->nlinks)
		return -EALREADY;

	bpf_object__for_each_program(prog, t->obj) {
		struct bpf_link *link;

		if (t->nlinks >= (int)(sizeof(t->links) / sizeof(t->links[0])))
			return -E2BIG;
		link = bpf_program__attach(prog);
		if (!link)
			return -errno;
		t->links[t->nlinks++] = link;
	}
	return 0;
}

int faultc_trace_detach(struct faultc_trace *t)
{
	while (t->nlinks > 0)
		bpf_link__destroy(t->links[--t->nlinks]);
	return 0;
}

int faultc_trace_add_target(struct faultc_trace *t, __u32 tgid, __u8 state)
{
	return bpf_map_update_elem(t->targets_fd, &tgid, &state, BPF_ANY) ? -errno : 0;
}

int faultc_trace_prune_targets(struct faultc_trace *t)
{
	__u32 key, next, dead[256];
	int ndead = 0, i, err;
	void *prev = NULL;

	/*
	 * Forked children are added by the program itself; drop those that have
	 * exited so a fork-heavy command cannot fill the map.
	 */
	while (ndead < (int)(sizeof(dead) / sizeof(dead[0])) &&
	       !bpf_map_get_next_key(t->targets_fd, prev, &next)) {
		if (kill((pid_t)next, 0) && errno == ESRCH)
			dead[ndead++] = next;
		key = next;
		prev = &key;
	}
	for (i = 0; i < ndead; i++) {
		err = faultc_trace_remove_target(t, dead[i]);
		if (err)
			return err;
	}
	return ndead;
}

int faultc_trace_remove_target(struct faultc_trace *t, __u32 tgid)
{
	if (bpf_map_delete_elem(t->targets_fd, &tgid) && errno != ENOENT)
		return -errno;
	return 0;
}

static int write_live(struct faultc_trace *t)
{
	__u32 zero = 0;

	return bpf_map_update_elem(t->live_fd, &zero, &t->live, BPF_ANY) ? -errno : 0;
}

/*
 * Rewrites the first n entries of an array map the program reads up to the
 * live count *count: the count drops to 0 first so the program never reads
 * an entry being rewritten, then the entries are written, then n is published.
 */
static int publish(struct faultc_trace *t, int fd, __u32 *count, const void *entries, size_t size,
		   __u32 n)
{
	const char *e = entries;
	__u32 i;
	int err;

	if (*count > 0) {
		*count = 0;
		err = write_live(t);
		if (err)
			return err;
	}
	for (i = 0; i < n; i++) {
		if (bpf_map_update_elem(fd, &i, e + i * size, BPF_ANY))
			return -errno;
	}
	*count = n;
	return write_live(t);
}

int faultc_trace_set_ranges(struct faultc_trace *t, const struct faultc_range *r, __u32 n)
{
	if (n > FAULTC_MAX_RANGES)
		return -E2BIG;
	return publish(t, t->ranges_fd, &t->live.nr_ranges, r, sizeof(*r), n);
}

int faultc_trace_set_files(struct faultc_trace *t, const struct faultc_file *f, __u32 n)
{
	if (n > FAULTC_MAX_FILES)
		return -E2BIG;
	return publish(t, t->files_fd, &t->live.nr_files, f, sizeof(*f), n);
}

int faultc_trace_poll(struct faultc_trace *t, int timeout_ms, faultc_trace_event_fn fn, void *ctx)
{
	int err;

	t->fn = fn;
	t->fn_ctx = ctx;
	t->seen = 0;
	/*
	 * Events submitted with BPF_RB_NO_WAKEUP do not wake epoll: after the
	 * wait (woken or timed out), read whatever the buffer holds.
	 */
	err = ring_buffer__poll(t->rb, timeout_ms);
	if (err >= 0 || err == -EINTR)
		err = ring_buffer__consume(t->rb);
	t->fn = NULL;
	t->fn_ctx = NULL;
	if (err < 0 && err != -EINTR)
		return err;
	return t->seen;
}

static int sum_percpu(struct faultc_trace *t, int fd, __u32 key, __u64 *sum)
{
	__u64 *vals = calloc(t->ncpus, sizeof(*vals));
	int cpu;

	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &key, vals)) {
		int err = -errno;

		free(vals);
		return err;
	}
	*sum = 0;
	for (cpu = 0; cpu < t->ncpus; cpu++)
		*sum += vals[cpu];
	free(vals);
	return 0;
}

int faultc_trace_counts(struct faultc_trace *t, __u64 *out, __u32 n)
{
	__u32 i;
	int err;

	if (n > FAULTC_MAX_REGIONS)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		err = sum_percpu(t, t->counts_fd, i, &out[i]);
		if (err)
			return err;
	}
	return 0;
}

int faultc_trace_lost(struct faultc_trace *t, __u64 *out)
{
	return sum_percpu(t, t->lost_fd, 0, out);
}

void faultc_trace_close(struct faultc_trace *t)
{
	int i;

	if (!t)
		return;
	for (i = t->nlinks - 1; i >= 0; i--)
		bpf_link__destroy(t->links[i]);
	ring_buffer__free(t->rb);
	bpf_object__close(t->obj);
	free(t);
}
