// SPDX-License-Identifier: GPL-2.0
/*
 * The userfaultfd engine (see native/include/uffd_engine.h and
 * docs/uffd-engine.md): opening and closing one. What each file holds is
 * listed in internal.h.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static int open_uffd(unsigned flags, char *err, size_t errlen)
{
	int oflags = O_CLOEXEC | O_NONBLOCK;
	int fd;

	if (flags & FC_OPEN_USER_MODE_ONLY)
		oflags |= UFFD_USER_MODE_ONLY;
	fd = (int)syscall(SYS_userfaultfd, oflags);
	if (fd >= 0)
		return fd;
	int sys_err = errno;

	/*
	 * /dev/userfaultfd is the other door: access by file mode, and no
	 * userfaultfd(2) for a seccomp filter to refuse. Why both are shut is
	 * runtime/uffd-access.ts's to say (it probes when an engine fails to open).
	 */
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	int dev_err = errno;

	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, oflags);
		dev_err = errno;
		close(dev);
		if (fd >= 0)
			return fd;
	}
	set_err(err, errlen, "userfaultfd is refused: userfaultfd(2) fails with %s, /dev/userfaultfd with %s",
		strerror(sys_err), strerror(dev_err));
	return -sys_err;
}

static uint64_t probe_features(unsigned flags)
{
	char err[8];
	int fd = open_uffd(flags, err, sizeof(err));
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	uint64_t f = 0;

	if (fd < 0)
		return 0;
	if (ioctl(fd, UFFDIO_API, &api) == 0)
		f = api.features;
	close(fd);
	return f;
}

static void free_engine(struct fc_engine *e)
{
	fc_close_sources(e);
	if (e->uffd >= 0)
		close(e->uffd);
	fc_cpu_latency_close(&e->latency);
	if (e->stopfd >= 0)
		close(e->stopfd);
	if (e->dl)
		dlclose(e->dl);
	free(e->ev);
	free(e->workers);
	pthread_mutex_destroy(&e->region_lock);
	pthread_mutex_destroy(&e->ev_lock);
	pthread_mutex_destroy(&e->pause_lock);
	pthread_mutex_destroy(&e->defer_lock);
	pthread_cond_destroy(&e->defer_cond);
	pthread_cond_destroy(&e->pause_cond);
	free(e);
}

/* A zeroed engine with its locks, nothing opened yet. */
static struct fc_engine *new_engine(const struct fc_engine_opts *o)
{
	struct fc_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->uffd = -1;
	e->latency.fd = -1;
	e->stopfd = -1;
	e->pid = getpid();
	for (unsigned i = 0; i < FAULTC_MAX_SOURCES; i++)
		e->source_fd[i] = -1;
	pthread_mutex_init(&e->region_lock, NULL);
	pthread_mutex_init(&e->ev_lock, NULL);
	pthread_mutex_init(&e->pause_lock, NULL);
	pthread_cond_init(&e->pause_cond, NULL);
	pthread_mutex_init(&e->defer_lock, NULL);
	pthread_cond_init(&e->defer_cond, NULL);
	e->defer_deadline_ms = FC_DEFER_DEFAULT_DEADLINE_MS;
	e->on_events = o->on_events;
	e->ctx = o->ctx;
	return e;
}

/* Loads the policy's decision library and checks its ABI. 0 or an errno. */
static int load_decide(struct fc_engine *e, const char *path, char *err, size_t errlen)
{
	fc_abi_fn abi;

	e->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!e->dl) {
		set_err(err, errlen, "cannot load the decision library %s: %s", path, dlerror());
		return ENOENT;
	}
	abi = (fc_abi_fn)dlsym(e->dl, "faultc_abi_version");
	e->decide = (fc_decide_fn)dlsym(e->dl, "faultc_decide");
	if (!abi || !e->decide) {
		set_err(err, errlen, "%s is not a faultc decision library (faultc_decide/faultc_abi_version missing)",
			path);
		return EINVAL;
	}
	if (abi() != FAULTC_ABI_VERSION) {
		set_err(err, errlen, "%s was built for ABI v%u, this engine speaks v%d: recompile the policy",
			path, abi(), FAULTC_ABI_VERSION);
		return EINVAL;
	}
	return 0;
}

/*
 * Opens the engine's userfaultfd with the features it wants that the
 * kernel has, and decides what follows from them. 0 or an errno.
 */
static int open_engine_uffd(struct fc_engine *e, unsigned flags, char *err, size_t errlen)
{
	uint64_t avail = probe_features(flags);
	uint64_t want = UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_PAGEFAULT_FLAG_WP;
	int rc;

	if ((avail & UFFD_FEATURE_POISON) && !(flags & FC_OPEN_FORCE_SIGBUS_FALLBACK))
		want |= UFFD_FEATURE_POISON;
	if (!(flags & FC_OPEN_NO_ZERO_COPY))
		want |= UFFD_FEATURE_MINOR_SHMEM;
	rc = open_uffd(flags, err, errlen);
	if (rc < 0)
		return -rc;
	e->uffd = rc;
	struct uffdio_api api = { .api = UFFD_API, .features = want & avail };

	if (ioctl(e->uffd, UFFDIO_API, &api) < 0) {
		rc = errno;
		set_err(err, errlen, "UFFDIO_API failed: %s", strerror(rc));
		return rc;
	}
	e->features = api.features;
	if (!(e->features & UFFD_FEATURE_THREAD_ID)) {
		set_err(err, errlen, "this kernel's userfaultfd lacks UFFD_FEATURE_THREAD_ID (Linux 4.14+)");
		return ENOTSUP;
	}
	/* UFFDIO_API reports every feature the kernel has, asked for or not. */
	e->poison = (want & avail & UFFD_FEATURE_POISON) != 0;
	e->zero_copy = (want & avail & UFFD_FEATURE_MINOR_SHMEM) != 0;
	e->follow = !(flags & FC_OPEN_NO_FOLLOW);
	e->per_cpu = e->follow && (flags & FC_OPEN_PER_CPU_HANDLERS);
	if (!(flags & FC_OPEN_NO_CPU_LATENCY))
		fc_cpu_latency_open(&e->latency);
	if (sched_getaffinity(0, sizeof(e->cpus), &e->cpus) < 0)
		e->follow = e->per_cpu = false;
	return 0;
}

/* The stop eventfd and the event queue. 0 or an errno. */
static int alloc_queues(struct fc_engine *e, char *err, size_t errlen)
{
	e->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->ev = calloc(EVENT_QUEUE_CAP, sizeof(*e->ev));
	if (e->stopfd < 0 || !e->ev) {
		set_err(err, errlen, "cannot allocate the engine's buffers");
		return ENOMEM;
	}
	return 0;
}

struct fc_engine *fc_engine_open(const struct fc_engine_opts *o, char *err,
				 size_t errlen, int *err_no)
{
	struct fc_engine *e = new_engine(o);
	int rc;

	*err_no = 0;
	if (!e) {
		*err_no = ENOMEM;
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	if (o->nr_sources > FAULTC_MAX_SOURCES) {
		rc = EINVAL;
		set_err(err, errlen, "a policy has at most %d sources", FAULTC_MAX_SOURCES);
	} else {
		rc = load_decide(e, o->decide_path, err, errlen);
	}
	if (!rc)
		rc = fc_open_sources(e, o, err, errlen);
	if (!rc)
		rc = open_engine_uffd(e, o->flags, err, errlen);
	if (!rc)
		rc = alloc_queues(e, err, errlen);
	if (!rc)
		rc = fc_start_handlers(e, o->nr_threads, err, errlen);
	if (rc) {
		*err_no = rc;
		free_engine(e);
		return NULL;
	}
	return e;
}

uint64_t fc_engine_features(struct fc_engine *e)
{
	return e->features;
}

int fc_engine_has_poison(struct fc_engine *e)
{
	return e->poison;
}

unsigned fc_engine_nr_threads(struct fc_engine *e)
{
	return e->nr_threads;
}

int fc_engine_per_cpu(struct fc_engine *e)
{
	return e->per_cpu;
}

int fc_engine_cpu_latency(struct fc_engine *e)
{
	if (e->latency.fd < 0)
		return -1;
	return atomic_load(&e->latency.held) ? 1 : 0;
}

int fc_engine_handler_info(struct fc_engine *e, unsigned i, struct fc_handler_info *out)
{
	if (i >= e->started)
		return -EINVAL;
	out->cpu = e->per_cpu ? e->workers[i].cpu : -1;
	out->resolved = atomic_load(&e->workers[i].resolved);
	out->handed = atomic_load(&e->workers[i].handed);
	return 0;
}

int fc_engine_uffd(struct fc_engine *e)
{
	return e->uffd;
}

int fc_engine_settle(struct fc_engine *e, unsigned timeout_ms)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (atomic_load(&e->busy)) {
		if (now_ns() >= end)
			return -ETIMEDOUT;
		sched_yield();
	}
	return 0;
}

void fc_engine_pause(struct fc_engine *e, int paused)
{
	pthread_mutex_lock(&e->pause_lock);
	atomic_store(&e->paused, paused != 0);
	pthread_cond_broadcast(&e->pause_cond);
	pthread_mutex_unlock(&e->pause_lock);
}

void fc_engine_stop(struct fc_engine *e)
{
	int n;

	if (!e || e->stopped)
		return;
	e->stopped = true;
	/* Nobody will answer a deferred fault now: those fail at once. */
	fc_defer_close(e);
	/* Handlers resolve everything queued, then leave. */
	fc_stop_handlers(e);
	n = atomic_load(&e->nr_regions);
	for (int i = 0; i < n; i++) {
		struct fc_region *r = &e->regions[i];
		struct uffdio_range range = { .start = r->start, .len = r->size };

		/* Wakes any fault that came after the handlers left. */
		ioctl(e->uffd, UFFDIO_UNREGISTER, &range);
		if (r->owned)
			munmap((void *)(uintptr_t)r->start, r->size);
	}
}

void fc_engine_close(struct fc_engine *e)
{
	int n;

	if (!e)
		return;
	fc_engine_stop(e);
	n = atomic_load(&e->nr_regions);
	for (int i = 0; i < n; i++) {
		free(e->regions[i].dirty);
		pthread_mutex_destroy(&e->regions[i].dirty_lock);
	}
	atomic_store(&e->nr_regions, 0);
	free_engine(e);
}
