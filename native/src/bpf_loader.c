// SPDX-License-Identifier: GPL-2.0
/*
 * BPF object loading with the verifier's log kept, and the trace engine's
 * session: tracepoint links, the load-time configuration, the target, range
 * and file maps, the ring buffer and the per-CPU counters. libbpf 1.1 API only.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpf_loader.h"
#include "fault_policy_uapi.h"
/* Generated at the addon's build from trace.bpf.c (native/bpf/subskel.sh). */
#include "trace.subskel.h"

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
	if (opts && opts->before_load) {
		err = opts->before_load(obj, opts->ctx, log, log_sz);
		if (err)
			goto close;
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

/*
 * libbpf maps global data to the kernel's arrays itself only in
 * bpf_object__load_skeleton() (before libbpf 1.5): after bpf_object__load()
 * a subskeleton's variables still point at the values copied at open. This
 * maps each array over that copy, at the same address, as the skeleton load
 * would.
 */
int faultc_bpf_map_globals(struct bpf_object *obj)
{
	long page = sysconf(_SC_PAGESIZE);
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj) {
		__u32 flags = bpf_map__map_flags(map);
		size_t size, len;
		void *addr;
		int prot;

		if (!bpf_map__is_internal(map) || !(flags & BPF_F_MMAPABLE))
			continue;
		addr = (void *)bpf_map__initial_value(map, &size);
		if (!addr)
			continue;
		len = (size + page - 1) / page * page;
		prot = flags & BPF_F_RDONLY_PROG ? PROT_READ : PROT_READ | PROT_WRITE;
		if (mmap(addr, len, prot, MAP_SHARED | MAP_FIXED, bpf_map__fd(map), 0) == MAP_FAILED)
			return -errno;
	}
	return 0;
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
	/* trace.bpf.c's maps, programs and globals in obj, by field. */
	struct faultc_trace_bpf *skel;
	struct bpf_link *links[8];
	int nlinks;
	int targets_fd, ranges_fd, files_fd, counts_fd, lost_fd;
	/* set before load */
	const struct faultc_trace_config *cfg;
	__u32 ringbuf_bytes;
	struct ring_buffer *rb;
	/* Written once by faultc_trace_wake(): ends the poll's wait at a stop. */
	int wake_fd;
	int ncpus;
	faultc_trace_event_fn fn;
	void *fn_ctx;
	int seen;
};

static int on_sample(void *ctx, void *data, size_t size)
{
	struct faultc_trace *t = ctx;

	t->seen++;
	if (t->fn)
		t->fn(t->fn_ctx, data, size);
	return 0;
}

/*
 * Binds trace.bpf.c's subskeleton in the object just opened (a policy's
 * trace object holds it too, and more), then sets the load-time
 * configuration and the ring buffer's size.
 */
static int trace_before_load(struct bpf_object *obj, void *ctx, char *log, size_t log_sz)
{
	struct faultc_trace *t = ctx;
	size_t cfg_size = 0, live_size = 0;

	t->skel = faultc_trace_bpf__open(obj);
	if (!t->skel) {
		log_append(log, log_sz, "the object is not a faultc trace program (its maps, programs or globals differ)\n");
		return -ENOENT;
	}
	bpf_map__initial_value(t->skel->maps.rodata_config, &cfg_size);
	bpf_map__initial_value(t->skel->maps.data_live, &live_size);
	if (cfg_size != sizeof(*t->cfg) || live_size != sizeof(struct faultc_trace_live)) {
		log_append(log, log_sz, "the trace object was built with another faultc_trace.h: build it again\n");
		return -ENOENT;
	}
	*t->skel->rodata_config.faultc_cfg = *t->cfg;
	if (t->ringbuf_bytes)
		return bpf_map__set_max_entries(t->skel->maps.faultc_events, t->ringbuf_bytes);
	return 0;
}

int faultc_trace_open(const char *path, __u32 ringbuf_bytes, const struct faultc_trace_config *cfg,
		      char *log, size_t log_sz, struct faultc_trace **out)
{
	struct faultc_bpf_load_opts opts = { .before_load = trace_before_load };
	struct faultc_trace *t;
	int err;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->wake_fd = -1;
	t->cfg = cfg;
	t->ringbuf_bytes = ringbuf_bytes;
	opts.ctx = t;
	err = faultc_bpf_load_opts(path, &opts, log, log_sz, &t->obj);
	if (err)
		goto fail;
	err = faultc_bpf_map_globals(t->obj);
	if (err)
		goto fail;
	t->targets_fd = bpf_map__fd(t->skel->maps.faultc_targets);
	t->ranges_fd = bpf_map__fd(t->skel->maps.faultc_ranges);
	t->files_fd = bpf_map__fd(t->skel->maps.faultc_files);
	t->counts_fd = bpf_map__fd(t->skel->maps.faultc_counts);
	t->lost_fd = bpf_map__fd(t->skel->maps.faultc_lost);
	t->ncpus = libbpf_num_possible_cpus();
	if (t->ncpus <= 0) {
		err = t->ncpus ? t->ncpus : -EINVAL;
		goto fail;
	}
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.faultc_events), on_sample, t, NULL);
	if (!t->rb) {
		err = -errno;
		goto fail;
	}
	t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->wake_fd < 0) {
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
	struct bpf_program *progs[] = {
		t->skel->progs.faultc_fault_user,
		t->skel->progs.faultc_fault_kernel,
		t->skel->progs.faultc_fork,
		t->skel->progs.faultc_exec,
	};
	size_t i;

	_Static_assert(sizeof(progs) / sizeof(progs[0]) <= sizeof(t->links) / sizeof(t->links[0]),
		       "a link per program");
	if (t->nlinks)
		return -EALREADY;
	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		struct bpf_link *link = bpf_program__attach(progs[i]);

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

/*
 * Rewrites the first n entries of an array map the program reads up to the
 * live count *count (in its .data.live, mapped here): the count drops to 0
 * first so the program never reads an entry being rewritten, then the
 * entries are written, then n is published.
 */
static int publish(int fd, __u32 *count, const void *entries, size_t size, __u32 n)
{
	const char *e = entries;
	__u32 i;

	__atomic_store_n(count, 0, __ATOMIC_RELEASE);
	for (i = 0; i < n; i++) {
		if (bpf_map_update_elem(fd, &i, e + i * size, BPF_ANY))
			return -errno;
	}
	__atomic_store_n(count, n, __ATOMIC_RELEASE);
	return 0;
}

int faultc_trace_set_ranges(struct faultc_trace *t, const struct faultc_range *r, __u32 n)
{
	if (n > FAULTC_MAX_RANGES)
		return -E2BIG;
	return publish(t->ranges_fd, &t->skel->data_live.faultc_live->nr_ranges, r, sizeof(*r), n);
}

int faultc_trace_set_files(struct faultc_trace *t, const struct faultc_file *f, __u32 n)
{
	if (n > FAULTC_MAX_FILES)
		return -E2BIG;
	return publish(t->files_fd, &t->skel->data_live.faultc_live->nr_files, f, sizeof(*f), n);
}

int faultc_trace_wake(struct faultc_trace *t)
{
	__u64 one = 1;

	return write(t->wake_fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

int faultc_trace_poll(struct faultc_trace *t, int timeout_ms, faultc_trace_event_fn fn, void *ctx)
{
	int err;

	t->fn = fn;
	t->fn_ctx = ctx;
	t->seen = 0;
	/*
	 * Wait for the ring's wake-up or faultc_trace_wake(), at most timeout_ms.
	 * Events submitted with BPF_RB_NO_WAKEUP do not wake it: after the wait
	 * (woken or timed out), read whatever the buffer holds.
	 */
	if (timeout_ms > 0) {
		struct pollfd fds[] = {
			{ .fd = ring_buffer__epoll_fd(t->rb), .events = POLLIN },
			{ .fd = t->wake_fd, .events = POLLIN },
		};

		if (poll(fds, 2, timeout_ms) < 0 && errno != EINTR) {
			err = -errno;
			goto out;
		}
	}
	err = ring_buffer__consume(t->rb);
out:
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
	if (t->wake_fd >= 0)
		close(t->wake_fd);
	faultc_trace_bpf__destroy(t->skel);
	bpf_object__close(t->obj);
	free(t);
}
