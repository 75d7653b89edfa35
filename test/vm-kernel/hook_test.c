// SPDX-License-Identifier: GPL-2.0
/*
 * Guest test of the kernel fault hook with a hand-written program
 * (hook.bpf.c): bytes, SIGBUS, events, prefetch, threads, fork, munmap,
 * mremap, mprotect, detach, defer to userfaultfd, write-protect with
 * userfaultfd, attaching to another process, zero-copy in a private file
 * mapping, shared memory (memfd, MAP_SHARED anonymous), 2 MiB blocks
 * installed as one PMD-mapped THP, privilege, lifetime.
 *
 *   hook_test <hook.bpf.o> <scratch dir>
 *
 * Prints one "ok"/"not ok" line per check (TAP-like); the exit status is the
 * number of failed checks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fault_policy_uapi.h"

#define PAGE 4096UL

struct hook_event {
	__u64 offset;
	__u64 address;
	__u32 region;
	__u32 write;
	__u32 action;
	__u32 pages;
	__u32 error;
	__u32 tid;
};

static int failures, checks;
static struct bpf_object *obj;
static int prog_fd, cfg_fd, runs_fd;
static struct ring_buffer *rb;
static struct hook_event evs[256];
static int nevs;
static char src0_path[512], src1_path[512], src2_path[512];
static int src0_fd, src1_fd, src2_fd;

#define SRC0_SIZE (3 * PAGE + 100)
#define SRC1_PAGES 64
#define HUGE (512 * PAGE)
#define SRC2_PAGES 1024

static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	checks++;
	if (!ok)
		failures++;
	printf("%s %d - ", ok ? "ok" : "not ok", checks);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static unsigned char pattern(uint64_t pos)
{
	return (unsigned char)(pos * 7 + pos / PAGE + 1);
}

static int make_source(const char *path, size_t size)
{
	unsigned char *buf = malloc(size);
	int fd;

	for (size_t i = 0; i < size; i++)
		buf[i] = pattern(i);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, buf, size) != (ssize_t)size) {
		perror(path);
		exit(99);
	}
	free(buf);
	return fd;
}

/* ---- touching pages, SIGBUS-safe ---- */

static sigjmp_buf bus_jump;
static volatile sig_atomic_t in_touch;

static void on_bus(int sig, siginfo_t *si, void *uc)
{
	(void)sig; (void)si; (void)uc;
	if (in_touch)
		siglongjmp(bus_jump, 1);
	_exit(98);
}

/* 0 when the access worked, -1 on SIGBUS. */
static int touch(volatile char *p, int write)
{
	if (sigsetjmp(bus_jump, 1)) {
		in_touch = 0;
		return -1;
	}
	in_touch = 1;
	if (write)
		__atomic_fetch_add(p, 0, __ATOMIC_RELAXED);	/* a write access that changes nothing */
	else
		(void)*p;
	in_touch = 0;
	return 0;
}

static int page_is(const char *p, int (*byte)(size_t i, void *arg), void *arg)
{
	for (size_t i = 0; i < PAGE; i++)
		if ((unsigned char)p[i] != byte(i, arg))
			return 0;
	return 1;
}

static int byte_const(size_t i, void *arg)
{
	(void)i;
	return *(unsigned char *)arg;
}

struct copy_arg {
	uint64_t pos;	/* source offset of the page */
	uint64_t size;	/* source size */
};

static int byte_copy(size_t i, void *arg)
{
	struct copy_arg *c = arg;

	return c->pos + i < c->size ? pattern(c->pos + i) : 0;
}

static int is_const(const char *p, unsigned char v)
{
	return page_is(p, byte_const, &v);
}

static int is_copy(const char *p, uint64_t pos, uint64_t size)
{
	struct copy_arg c = { pos, size };

	return page_is(p, byte_copy, &c);
}

static int resident(const char *p)
{
	unsigned char v = 0;

	if (mincore((void *)p, PAGE, &v))
		return -1;
	return v & 1;
}

/* ---- the hook ---- */

static int attach(void *start, size_t len, __u32 region, int nr, const int *fds)
{
	struct prctl_fault_policy a = { .prog_fd = prog_fd, .region = region,
					.nr_sources = nr };

	for (int i = 0; i < nr; i++)
		a.source_fd[i] = fds[i];
	return prctl(PR_FAULT_POLICY, PR_FAULT_POLICY_ATTACH,
		     (unsigned long)start, len, (unsigned long)&a);
}

static int detach(void *start, size_t len)
{
	return prctl(PR_FAULT_POLICY, PR_FAULT_POLICY_DETACH,
		     (unsigned long)start, len, 0);
}

static char *map_pages(size_t pages)
{
	char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(99);
	}
	return p;
}

static int on_event(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size == sizeof(struct hook_event) && nevs < 256)
		memcpy(&evs[nevs++], data, size);
	return 0;
}

/* Forget every event so far. */
static void drain(void)
{
	ring_buffer__consume(rb);
	nevs = 0;
}

static const struct hook_event *find_event(__u32 region, __u64 offset)
{
	for (int i = 0; i < nevs; i++)
		if (evs[i].region == region && evs[i].offset == offset)
			return &evs[i];
	return NULL;
}

static void set_cfg(__u32 pages, __u32 dir)
{
	__u32 k0 = 0, k1 = 1;

	bpf_map_update_elem(cfg_fd, &k0, &pages, 0);
	bpf_map_update_elem(cfg_fd, &k1, &dir, 0);
}

static __u64 runs(__u32 phase)
{
	__u64 v = 0;

	bpf_map_lookup_elem(runs_fd, &phase, &v);
	return v;
}

/* ---- checks ---- */

static void test_table(void)
{
	char *r = map_pages(16);
	const struct hook_event *e;
	int bus[16];

	check(attach(r, 16 * PAGE, 0, 1, &src0_fd) == 0, "attach table region");
	drain();
	for (int p = 0; p < 16; p++)
		bus[p] = touch(r + p * PAGE, 0);
	ring_buffer__consume(rb);

	check(!bus[0] && is_const(r, 0), "zero page reads as zeros");
	check(!bus[1] && is_const(r + PAGE, 0x5a), "fill page reads 0x5a everywhere");
	check(!bus[2] && is_copy(r + 2 * PAGE, 0, SRC0_SIZE), "copy page 0 of the source");
	check(!bus[4] && is_copy(r + 4 * PAGE, 2 * PAGE, SRC0_SIZE), "copy page 2 of the source");
	check(!bus[5] && is_copy(r + 5 * PAGE, 3 * PAGE, SRC0_SIZE), "copy of a page partly past the source's end is zero-filled after it");
	check(bus[6] == -1, "sigbus decision raises SIGBUS");
	check(!bus[7] && is_const(r + 7 * PAGE, 0), "default decision falls back to the kernel (zeros)");
	check(bus[8] == -1, "copy wholly past the source's end raises SIGBUS");
	check(bus[9] == -1, "fill byte 300 is refused with SIGBUS");
	check(bus[10] == -1, "defer without a userfaultfd raises SIGBUS");
	check(bus[11] == -1, "unaligned source offset raises SIGBUS");
	check(bus[12] == -1, "copy from a source that was not attached raises SIGBUS");
	check(bus[13] == -1, "program-reported error raises SIGBUS");
	check(!bus[14] && is_const(r + 14 * PAGE, 0), "zero decision in the tail");
	check(touch(r + 6 * PAGE, 1) == -1, "SIGBUS page stays missing: a second touch faults again");

	e = find_event(0, 5 * PAGE);
	check(e && e->action == BPF_PAGE_FAULT_COPY && e->pages == 1 && !e->error &&
	      e->address == (uintptr_t)(r + 5 * PAGE) && !e->write,
	      "done-phase event for a copy: action, pages, address");
	e = find_event(0, 8 * PAGE);
	check(e && e->action == BPF_PAGE_FAULT_SIGBUS && e->error == BPF_PAGE_FAULT_ERR_PAST_END,
	      "event for a copy past the end says PAST_END");
	e = find_event(0, 9 * PAGE);
	check(e && e->action == BPF_PAGE_FAULT_SIGBUS && e->error == BPF_PAGE_FAULT_ERR_INVALID,
	      "event for a malformed decision says INVALID");
	e = find_event(0, 13 * PAGE);
	check(e && e->action == BPF_PAGE_FAULT_SIGBUS && e->error == 1,
	      "event carries the program's own error");
	check(!find_event(0, 7 * PAGE), "no event for a default decision");
	e = find_event(0, 1 * PAGE);
	check(e && e->tid == (__u32)syscall(SYS_gettid), "event names the faulting thread");

	/* a write fault, on a page dropped first */
	madvise(r + 15 * PAGE, PAGE, MADV_DONTNEED);
	drain();
	check(touch(r + 15 * PAGE, 1) == 0, "write fault on a zero page");
	ring_buffer__consume(rb);
	e = find_event(0, 15 * PAGE);
	check(e && e->write == 1, "event of a write fault says write");

	/* MADV_DONTNEED drops pages: the program decides again */
	{
		__u64 before = runs(BPF_PAGE_FAULT_DECIDE);

		madvise(r, 16 * PAGE, MADV_DONTNEED);
		check(touch(r + 3 * PAGE, 0) == 0 && is_copy(r + 3 * PAGE, PAGE, SRC0_SIZE) &&
		      runs(BPF_PAGE_FAULT_DECIDE) == before + 1,
		      "after MADV_DONTNEED the page is decided and copied again");
	}

	check(attach(r, 16 * PAGE, 0, 1, &src0_fd) == -1 && errno == EBUSY, "a second attach is EBUSY");
	check(detach(r + 14 * PAGE, 2 * PAGE) == 0, "detach a sub-range");
	madvise(r, 16 * PAGE, MADV_DONTNEED);
	check(touch(r + 14 * PAGE, 0) == 0 && touch(r + 6 * PAGE, 0) == -1,
	      "detached pages take the default path, attached ones keep the program");
	munmap(r, 16 * PAGE);
}

static void test_prefetch(void)
{
	char *r = map_pages(SRC1_PAGES);
	const struct hook_event *e;
	int all;

	check(attach(r, SRC1_PAGES * PAGE, 1, 1, &src1_fd) == 0, "attach copy region");

	set_cfg(7, BPF_PAGE_FAULT_AHEAD);
	drain();
	touch(r + 8 * PAGE, 0);
	ring_buffer__consume(rb);
	all = 1;
	for (int p = 8; p <= 15; p++)
		all &= resident(r + p * PAGE) == 1;
	check(all && resident(r + 16 * PAGE) == 0 && resident(r + 7 * PAGE) == 0,
	      "prefetch 7 ahead resolves pages 9..15 and no more");
	e = find_event(1, 8 * PAGE);
	check(e && e->pages == 8, "event counts 8 pages resolved");
	check(nevs == 1, "neighbours raise no events of their own");

	set_cfg(5, BPF_PAGE_FAULT_BEHIND);
	touch(r + 30 * PAGE, 0);
	all = 1;
	for (int p = 25; p <= 30; p++)
		all &= resident(r + p * PAGE) == 1;
	check(all && resident(r + 24 * PAGE) == 0, "prefetch behind resolves the pages before");

	set_cfg(4, BPF_PAGE_FAULT_AROUND);
	touch(r + 50 * PAGE, 0);
	all = 1;
	for (int p = 48; p <= 52; p++)
		all &= resident(r + p * PAGE) == 1;
	check(all && resident(r + 47 * PAGE) == 0 && resident(r + 53 * PAGE) == 0,
	      "prefetch around resolves two on each side");

	set_cfg(64, BPF_PAGE_FAULT_AHEAD);
	touch(r + 60 * PAGE, 0);
	check(resident(r + 63 * PAGE) == 1, "prefetch stops at the end of the VMA");

	all = 1;
	for (int p = 0; p < SRC1_PAGES; p++)
		if (resident(r + p * PAGE) == 1)
			all &= is_copy(r + p * PAGE, p * PAGE, SRC1_PAGES * PAGE);
	check(all, "every prefetched page holds its own source page");
	set_cfg(0, 0);
	munmap(r, SRC1_PAGES * PAGE);
}

struct worker {
	char *base;
	int first, step, pages;
	int bad;
	pthread_barrier_t *bar;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(w->bar);
	for (int p = w->first; p < w->pages; p += w->step)
		if (!is_copy(w->base + p * PAGE, (uint64_t)p * PAGE, SRC1_PAGES * PAGE))
			w->bad++;
	return NULL;
}

static void test_threads(void)
{
	pthread_barrier_t bar;
	pthread_t t[4];
	struct worker w[4];
	char *r = map_pages(SRC1_PAGES);
	int bad = 0;

	set_cfg(0, 0);
	check(attach(r, SRC1_PAGES * PAGE, 1, 1, &src1_fd) == 0, "attach for threads");
	/* two threads on disjoint pages, two racing on the same pages */
	pthread_barrier_init(&bar, NULL, 4);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ r, i < 2 ? i : 0, i < 2 ? 2 : 1, SRC1_PAGES, 0, &bar };
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		bad += w[i].bad;
	}
	check(bad == 0, "4 threads faulting at once, two racing on the same pages: every page right (%d bad)", bad);
	pthread_barrier_destroy(&bar);
	munmap(r, SRC1_PAGES * PAGE);
}

static void test_fork(void)
{
	char *r = map_pages(SRC1_PAGES);
	int status = -1;
	pid_t pid;

	set_cfg(0, 0);
	check(attach(r, SRC1_PAGES * PAGE, 1, 1, &src1_fd) == 0, "attach for fork");
	for (int p = 0; p < 8; p++)
		touch(r + p * PAGE, 1);
	r[0] = 0x42;
	pid = fork();
	if (pid == 0) {
		int ok = r[0] == 0x42;

		for (int p = 1; p < SRC1_PAGES; p++)
			ok &= is_copy(r + p * PAGE, p * PAGE, SRC1_PAGES * PAGE);
		r[PAGE] = 0x43;	/* copy-on-write in the child only */
		_exit(ok ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "fork: the child's missing pages run the same program");
	check(r[0] == 0x42 && is_copy(r + PAGE, PAGE, SRC1_PAGES * PAGE),
	      "fork: the parent keeps its own pages");

	/* munmap a hole, mprotect a piece, mremap a piece away */
	munmap(r + 16 * PAGE, 8 * PAGE);
	check(touch(r + 15 * PAGE, 0) == 0 && is_copy(r + 15 * PAGE, 15 * PAGE, SRC1_PAGES * PAGE) &&
	      touch(r + 24 * PAGE, 0) == 0 && is_copy(r + 24 * PAGE, 24 * PAGE, SRC1_PAGES * PAGE),
	      "munmap in the middle: both sides keep their offsets");
	mprotect(r + 28 * PAGE, 4 * PAGE, PROT_READ);
	check(touch(r + 29 * PAGE, 0) == 0 && is_copy(r + 29 * PAGE, 29 * PAGE, SRC1_PAGES * PAGE),
	      "mprotect split: offsets kept");
	mprotect(r + 28 * PAGE, 4 * PAGE, PROT_READ | PROT_WRITE);
	{
		char *dst = mmap(NULL, 16 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char *moved = mremap(r + 40 * PAGE, 16 * PAGE, 16 * PAGE,
				     MREMAP_MAYMOVE | MREMAP_FIXED, dst);
		int ok = moved == dst;

		for (int p = 0; ok && p < 16; p++)
			ok &= touch(moved + p * PAGE, 0) == 0 &&
			      is_copy(moved + p * PAGE, (40 + p) * PAGE, SRC1_PAGES * PAGE);
		check(ok, "mremap move: pages keep the offsets of their old place");
		munmap(dst, 16 * PAGE);
	}
	munmap(r, SRC1_PAGES * PAGE);
}

static void test_errors(void)
{
	char *r = map_pages(8);
	int fd, status = -1;
	char *f = NULL;
	pid_t pid;

	munmap(r + 4 * PAGE, 4 * PAGE);	/* a hole nobody else maps */
	check(attach(r, 8 * PAGE, 0, 0, NULL) == -1 && errno == ENOMEM, "attach over unmapped memory is ENOMEM");
	check(touch(r, 0) == 0 && is_const(r, 0) && detach(r, 4 * PAGE) == 0,
	      "a failed attach leaves nothing attached");
	{
		struct statfs sfs;

		/* Writable and shared (src0 is open read-write); shmem would be accepted. */
		if (fstatfs(src0_fd, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC) {
			printf("# skipped: the scratch dir is tmpfs, so no shared file mapping that is not shmem\n");
		} else {
			f = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, src0_fd, 0);
			check(attach(f, PAGE, 0, 0, NULL) == -1 && errno == EINVAL,
			      "attach to a shared mapping of a file that is not shmem is EINVAL");
		}
	}
	if (f && f != MAP_FAILED)
		munmap(f, PAGE);
	fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "cfg"));
	{
		struct prctl_fault_policy a = { .prog_fd = fd };

		check(prctl(PR_FAULT_POLICY, PR_FAULT_POLICY_ATTACH, (unsigned long)r, PAGE,
			    (unsigned long)&a) == -1 && errno == EINVAL,
		      "attach of something that is not a page-fault program is EINVAL");
	}
	{
		int wfd = open(src0_path, O_WRONLY);

		check(attach(r, PAGE, 0, 1, &wfd) == -1 && errno == EBADF, "a source not open for reading is EBADF");
		close(wfd);
	}
	pid = fork();
	if (pid == 0) {
		struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct d[2] = { 0 };

		if (syscall(SYS_capset, &h, d))
			_exit(2);
		_exit(attach(r, PAGE, 0, 0, NULL) == -1 && errno == EPERM ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "without CAP_BPF attach is EPERM");
	munmap(r, 4 * PAGE);
}

struct uffd_server {
	int uffd;
	int served;
	int stop;
};

static void *uffd_main(void *arg)
{
	struct uffd_server *s = arg;
	static char page[PAGE] __attribute__((aligned(4096)));

	memset(page, 0x77, PAGE);
	while (!s->stop) {
		struct pollfd pfd = { s->uffd, POLLIN, 0 };
		struct uffd_msg msg;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (read(s->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		struct uffdio_copy c = {
			.dst = msg.arg.pagefault.address & ~(PAGE - 1),
			.src = (unsigned long)page,
			.len = PAGE,
		};
		ioctl(s->uffd, UFFDIO_COPY, &c);
		s->served++;
	}
	return NULL;
}

static void test_defer(void)
{
	char *r = map_pages(8);
	struct uffd_server s = { 0 };
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .range = { (unsigned long)r, 8 * PAGE },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };
	pthread_t t;
	int ok = 1;

	s.uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	check(s.uffd >= 0 && !ioctl(s.uffd, UFFDIO_API, &api) && !ioctl(s.uffd, UFFDIO_REGISTER, &reg),
	      "userfaultfd registered");
	check(attach(r, 8 * PAGE, 2, 0, NULL) == 0, "attach the hybrid region");
	pthread_create(&t, NULL, uffd_main, &s);
	for (int p = 0; p < 8; p++)
		ok &= touch(r + p * PAGE, 0) == 0 && is_const(r + p * PAGE, p & 1 ? 0x77 : 0x11);
	s.stop = 1;
	pthread_join(t, NULL);
	check(ok, "hybrid: even pages filled in the kernel, odd pages by the userfaultfd");
	check(s.served == 4, "hybrid: the userfaultfd saw only the deferred pages (%d)", s.served);
	close(s.uffd);
	munmap(r, 8 * PAGE);
}

static uint64_t pagemap(const char *p)
{
	uint64_t v = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0 || pread(fd, &v, 8, (off_t)((uintptr_t)p / PAGE * 8)) != 8)
		v = 0;
	if (fd >= 0)
		close(fd);
	return v;
}

/* Whether the page's PTE carries the userfaultfd write-protect bit (pagemap bit 57). */
static int uffd_wp_bit(const char *p)
{
	return (pagemap(p) >> 57) & 1;
}

struct wp_server {
	int uffd;
	char *base;
	int stop;
	int written[8];	/* write-protect faults per page */
	int missing;	/* missing-page messages: none expected */
};

/* Records each first write, then unprotects (and wakes), as a dirty tracker does. */
static void *wp_main(void *arg)
{
	struct wp_server *s = arg;

	while (!s->stop) {
		struct pollfd pfd = { s->uffd, POLLIN, 0 };
		struct uffd_msg msg;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (read(s->uffd, &msg, sizeof(msg)) != sizeof(msg) ||
		    msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		unsigned long addr = msg.arg.pagefault.address & ~(PAGE - 1);

		if (!(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)) {
			s->missing++;
			continue;
		}
		s->written[(addr - (unsigned long)s->base) / PAGE]++;
		struct uffdio_writeprotect wp = { .range = { addr, PAGE }, .mode = 0 };

		ioctl(s->uffd, UFFDIO_WRITEPROTECT, &wp);
	}
	return NULL;
}

/*
 * A range registered for write-protect: the hook installs its pages
 * protected, so the first write to each, the write that faulted a missing
 * page in included, reaches the userfaultfd; the bytes are the program's.
 */
static void test_write_protect(void)
{
	char *r = map_pages(8);
	struct wp_server s = { .base = r };
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .range = { (unsigned long)r, 8 * PAGE },
				       .mode = UFFDIO_REGISTER_MODE_WP };
	int read_ok, prot = 1, unprot = 1, others = 1;
	pthread_t t;

	s.uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	check(s.uffd >= 0 && !ioctl(s.uffd, UFFDIO_API, &api) && !ioctl(s.uffd, UFFDIO_REGISTER, &reg),
	      "userfaultfd registered for write-protect");
	check(attach(r, 8 * PAGE, 0, 1, &src0_fd) == 0, "attach the table program to it");
	pthread_create(&t, NULL, wp_main, &s);
	/* Reads: zero, fill, copy and default pages, each installed protected. */
	read_ok = !touch(r, 0) && is_const(r, 0) && !touch(r + PAGE, 0) && is_const(r + PAGE, 0x5a) &&
		  !touch(r + 2 * PAGE, 0) && is_copy(r + 2 * PAGE, 0, SRC0_SIZE) &&
		  !touch(r + 7 * PAGE, 0) && is_const(r + 7 * PAGE, 0);
	for (int p = 0; p < 8; p++)
		if (p <= 2 || p == 7)
			prot &= uffd_wp_bit(r + p * PAGE);
	check(read_ok, "write-protected: zero, fill, copy and default pages read as decided");
	check(prot, "write-protected: every page the hook installed carries the uffd-wp bit");
	/* Writes: present pages 1 and 7, missing page 3. */
	r[PAGE + 5] = 0x42;
	r[7 * PAGE] = 0x43;
	r[3 * PAGE + 1] = 0x44;
	s.stop = 1;
	pthread_join(t, NULL);
	for (int p = 0; p < 8; p++) {
		int want = p == 1 || p == 3 || p == 7;

		others &= s.written[p] == want;
		if (want)
			unprot &= !uffd_wp_bit(r + p * PAGE);
	}
	check(others && !s.missing,
	      "write-protected: one write fault per first write, the missing page's included (%d %d %d, %d missing)",
	      s.written[1], s.written[3], s.written[7], s.missing);
	check(unprot && r[PAGE + 5] == 0x42 && r[PAGE] == 0x5a && r[7 * PAGE] == 0x43 &&
	      r[3 * PAGE + 1] == 0x44 && (unsigned char)r[3 * PAGE] == pattern(PAGE) &&
	      (unsigned char)r[3 * PAGE + 2] == pattern(PAGE + 2),
	      "write-protected: the writes land after the handler unprotects");
	close(s.uffd);
	munmap(r, 8 * PAGE);
}

static int pidfd_of(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int attach_to(int pidfd, void *start, size_t len, __u32 region, int nr, const int *fds)
{
	struct prctl_fault_policy a = { .prog_fd = prog_fd, .region = region, .nr_sources = nr,
					.flags = PR_FAULT_POLICY_F_PIDFD, .pidfd = pidfd };

	for (int i = 0; i < nr; i++)
		a.source_fd[i] = fds[i];
	return prctl(PR_FAULT_POLICY, PR_FAULT_POLICY_ATTACH, (unsigned long)start, len,
		     (unsigned long)&a);
}

/* Keeps only CAP_BPF: no CAP_SYS_PTRACE to override the ptrace-access check. */
static int keep_only_cap_bpf(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = { 0 };

	d[CAP_BPF / 32].effective = d[CAP_BPF / 32].permitted = 1u << (CAP_BPF % 32);
	return (int)syscall(SYS_capset, &h, d);
}

/*
 * Attaching to another process: a child's range gets the program and its
 * faults are resolved by it, not the caller's same range; a process the
 * caller may not ptrace is EPERM, one that is gone ESRCH.
 */
static void test_remote(void)
{
	char *r = map_pages(8);
	int go[2], status = -1, pidfd;
	pid_t child, other, bad;
	char c = 0;

	if (pipe(go)) {
		check(0, "remote: pipe");
		return;
	}
	child = fork();
	if (child == 0) {
		/* Waits until the parent attached, then reads its own pages. */
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		_exit(touch(r + PAGE, 0) == 0 && is_const(r + PAGE, 0x5a) &&
		      touch(r + 2 * PAGE, 0) == 0 && is_copy(r + 2 * PAGE, 0, SRC0_SIZE) &&
		      touch(r + 6 * PAGE, 0) == -1 ? 0 : 1);
	}
	pidfd = pidfd_of(child);
	check(pidfd >= 0 && attach_to(pidfd, r, 8 * PAGE, 0, 1, &src0_fd) == 0,
	      "remote: attach to a child's range through its pidfd");
	check(touch(r + PAGE, 0) == 0 && is_const(r + PAGE, 0),
	      "remote: the caller's own range at that address stays unattached");
	if (write(go[1], "g", 1) != 1)
		check(0, "remote: start the child");
	waitpid(child, &status, 0);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "remote: the child's faults ran the program (fill, copy, SIGBUS)");
	check(attach_to(pidfd, r, 8 * PAGE, 0, 1, &src0_fd) == -1 && errno == ESRCH,
	      "remote: a process that is gone is ESRCH");
	close(pidfd);
	close(go[0]);
	close(go[1]);

	/* A target under another uid, a caller with CAP_BPF but not CAP_SYS_PTRACE. */
	other = fork();
	if (other == 0) {
		if (setresuid(65534, 65534, 65534))
			_exit(2);
		pause();
		_exit(0);
	}
	usleep(100000);
	bad = fork();
	if (bad == 0) {
		int fd = pidfd_of(other);

		if (fd < 0 || keep_only_cap_bpf())
			_exit(2);
		_exit(attach_to(fd, r, 8 * PAGE, 0, 1, &src0_fd) == -1 && errno == EPERM ? 0 : 1);
	}
	waitpid(bad, &status, 0);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "remote: a process the caller may not ptrace is EPERM");
	kill(other, SIGKILL);
	waitpid(other, NULL, 0);
	{
		struct prctl_fault_policy a = { .prog_fd = prog_fd, .flags = 2 };

		check(prctl(PR_FAULT_POLICY, PR_FAULT_POLICY_ATTACH, (unsigned long)r, PAGE,
			    (unsigned long)&a) == -1 && errno == EINVAL,
		      "remote: an unknown flag is EINVAL");
	}
	munmap(r, 8 * PAGE);
}

/* Mapped in this process (pagemap bit 63; mincore() tells the page cache's state). */
static int mapped(const char *p)
{
	return (pagemap(p) >> 63) & 1;
}

/* Mapped, and a file page (bit 61), not an anonymous copy. */
static int file_page(const char *p)
{
	return mapped(p) && (pagemap(p) >> 61) & 1;
}

/* The same physical page mapped at @a and @b (pagemap bits 0-54: the PFN). */
static int same_pfn(const char *a, const char *b)
{
	uint64_t pa = pagemap(a), pb = pagemap(b), pfn = (1ULL << 55) - 1;

	return mapped(a) && mapped(b) && (pa & pfn) && (pa & pfn) == (pb & pfn);
}

/*
 * Zero-copy: a private mapping of a source, whose program copies that source
 * at each page's own offset, maps the page-cache pages themselves; a write
 * copies one. Other decisions there install the program's own pages, and
 * nothing is mapped around a fault that the program did not decide.
 */
static void test_zero_copy(void)
{
	char *r = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, src1_fd, 0);
	const struct hook_event *e;
	unsigned char b = 0;
	char *t, *m;
	int ok;

	set_cfg(0, 0);
	check(r != MAP_FAILED && attach(r, 16 * PAGE, 1, 1, &src1_fd) == 0,
	      "zero-copy: attach to a private mapping of the source itself");
	ok = !touch(r + 3 * PAGE, 0) && is_copy(r + 3 * PAGE, 3 * PAGE, SRC1_PAGES * PAGE);
	check(ok && file_page(r + 3 * PAGE), "zero-copy: the copy of the file's own page is the page-cache page");
	check(!mapped(r + 2 * PAGE) && !mapped(r + 4 * PAGE),
	      "zero-copy: no fault-around: the neighbours stay missing");
	r[3 * PAGE] ^= 0x7f;
	check(!file_page(r + 3 * PAGE) && (unsigned char)r[3 * PAGE] == (pattern(3 * PAGE) ^ 0x7f) &&
	      pread(src1_fd, &b, 1, 3 * PAGE) == 1 && b == pattern(3 * PAGE),
	      "zero-copy: a write copies the page, the file keeps its bytes");
	ok = !touch(r + 5 * PAGE, 1) && is_copy(r + 5 * PAGE, 5 * PAGE, SRC1_PAGES * PAGE);
	check(ok && !file_page(r + 5 * PAGE), "zero-copy: a first write gets a private copy of the file's page");
	munmap(r, 16 * PAGE);

	/* Prefetched neighbours: the page-cache pages too, as a shared mapping sees them. */
	r = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, src1_fd, 0);
	m = mmap(NULL, 16 * PAGE, PROT_READ, MAP_SHARED, src1_fd, 0);
	set_cfg(4, BPF_PAGE_FAULT_AROUND);
	check(r != MAP_FAILED && m != MAP_FAILED && attach(r, 16 * PAGE, 1, 1, &src1_fd) == 0,
	      "zero-copy: attach with prefetch 4 around");
	drain();
	ok = !touch(r + 8 * PAGE, 0);
	ring_buffer__consume(rb);
	for (int p = 6; p <= 10; p++)
		ok &= !touch(m + p * PAGE, 0) && file_page(r + p * PAGE) &&
		      same_pfn(r + p * PAGE, m + p * PAGE) &&
		      is_copy(r + p * PAGE, p * PAGE, SRC1_PAGES * PAGE);
	check(ok && !mapped(r + 5 * PAGE) && !mapped(r + 11 * PAGE),
	      "zero-copy: prefetched neighbours are the page-cache pages (6..10, the shared mapping's PFNs)");
	e = find_event(1, 8 * PAGE);
	check(e && e->pages == 5, "zero-copy: the event counts the 5 pages resolved (%u)", e ? e->pages : 0);
	r[9 * PAGE] ^= 0x7f;
	check(!file_page(r + 9 * PAGE) && !same_pfn(r + 9 * PAGE, m + 9 * PAGE) &&
	      (unsigned char)r[9 * PAGE] == (pattern(9 * PAGE) ^ 0x7f) &&
	      (unsigned char)m[9 * PAGE] == pattern(9 * PAGE) &&
	      pread(src1_fd, &b, 1, 9 * PAGE) == 1 && b == pattern(9 * PAGE) &&
	      same_pfn(r + 10 * PAGE, m + 10 * PAGE),
	      "zero-copy: a write to a prefetched neighbour copies it, the file keeps its bytes");
	set_cfg(0, 0);
	munmap(m, 16 * PAGE);
	munmap(r, 16 * PAGE);

	t = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, src1_fd, 0);
	check(t != MAP_FAILED && attach(t, 16 * PAGE, 0, 1, &src0_fd) == 0,
	      "zero-copy: attach the table program to a private file mapping");
	ok = !touch(t + PAGE, 0) && is_const(t + PAGE, 0x5a) && !file_page(t + PAGE) &&
	     !touch(t + 2 * PAGE, 0) && is_copy(t + 2 * PAGE, 0, SRC0_SIZE) &&
	     !touch(t, 0) && is_const(t, 0) && touch(t + 6 * PAGE, 0) == -1;
	check(ok, "zero-copy: other decisions there install the program's pages (fill, another source, zero, SIGBUS)");
	check(!touch(t + 7 * PAGE, 0) && is_copy(t + 7 * PAGE, 7 * PAGE, SRC1_PAGES * PAGE),
	      "zero-copy: a default decision there takes the file's own page");
	munmap(t, 16 * PAGE);
}

/*
 * Shared memory: a missing page is one the object does not hold; the page the
 * program decides joins the object (every mapping and read(2) see it), and a
 * page the object holds already is mapped as it is, undecided.
 */
static void test_shmem(void)
{
	int mfd = (int)syscall(SYS_memfd_create, "faultc-hook", 0);
	unsigned char b[2] = { 0, 0 };
	char *r, *other, *anon;
	int ok;

	if (mfd < 0 || ftruncate(mfd, 16 * PAGE)) {
		check(0, "shmem: memfd_create");
		return;
	}
	/* Page 3 exists in the object before any fault. */
	check(pwrite(mfd, "Q", 1, 3 * PAGE) == 1, "shmem: a page of the memfd written with write(2)");
	r = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	other = mmap(NULL, 16 * PAGE, PROT_READ, MAP_SHARED, mfd, 0);
	check(r != MAP_FAILED && other != MAP_FAILED && attach(r, 16 * PAGE, 0, 1, &src0_fd) == 0,
	      "shmem: attach to a shared mapping of a memfd");
	ok = !touch(r, 0) && is_const(r, 0) && !touch(r + PAGE, 0) && is_const(r + PAGE, 0x5a) &&
	     !touch(r + 2 * PAGE, 1) && is_copy(r + 2 * PAGE, 0, SRC0_SIZE) && touch(r + 6 * PAGE, 0) == -1;
	check(ok, "shmem: zero, fill, copy (written) and SIGBUS as decided");
	check(is_const(other + PAGE, 0x5a) && is_copy(other + 2 * PAGE, 0, SRC0_SIZE) &&
	      pread(mfd, b, 2, 2 * PAGE) == 2 && b[0] == pattern(0) && b[1] == pattern(1),
	      "shmem: the decided pages are the object's: another mapping and read(2) see them");
	check(!touch(r + 3 * PAGE, 0) && r[3 * PAGE] == 'Q' && r[3 * PAGE + 1] == 0,
	      "shmem: a page the object held already is not decided again");
	r[PAGE] = 0x42;
	check(other[PAGE] == 0x42, "shmem: writes are shared");
	munmap(other, 16 * PAGE);
	munmap(r, 16 * PAGE);
	close(mfd);

	anon = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	check(anon != MAP_FAILED && attach(anon, 8 * PAGE, 0, 1, &src0_fd) == 0 &&
	      !touch(anon + PAGE, 0) && is_const(anon + PAGE, 0x5a),
	      "shmem: shared anonymous memory too");
	munmap(anon, 8 * PAGE);
}

/* ---- 2 MiB blocks: one PMD-mapped THP ---- */

/* AnonHugePages of the VMA that starts at @start (/proc/self/smaps), in kB. */
static long anon_huge_kb(const char *start)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	unsigned long lo, hi;
	char line[512];
	long kb = -1;
	int in = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
			in = lo == (unsigned long)start;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* @len bytes at a 2 MiB-aligned address, madvised with @advice. */
static char *map_huge(size_t len, int advice)
{
	char *p = mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(99);
	}
	a = (char *)(((uintptr_t)p + HUGE - 1) & ~(HUGE - 1));
	if (a > p)
		munmap(p, a - p);
	munmap(a + len, p + HUGE - a);
	if (madvise(a, len, advice)) {
		perror("madvise");
		exit(99);
	}
	return a;
}

/* Page @p of region 4 holds what hook.bpf.c's huge() decides for it. */
static int huge_page_ok(const char *base, int p)
{
	const char *q = base + (size_t)p * PAGE;

	switch (p % 3) {
	case 0:
		return is_const(q, 0);
	case 1:
		return is_const(q, 0xa5);
	}
	return is_copy(q, (uint64_t)p * PAGE, SRC2_PAGES * PAGE);
}

static int huge_pages_ok(const char *base, int first, int last)
{
	int ok = 1;

	for (int p = first; p <= last; p++)
		ok &= huge_page_ok(base, p);
	return ok;
}

/*
 * A decision for a 2 MiB block installs one PMD-mapped folio where THP is
 * allowed, with every page as decided; a block with a page the program would
 * not install, and a VMA without THP, go page by page, to the same bytes.
 */
static void test_huge(void)
{
	char *r = map_huge(SRC2_PAGES * PAGE, MADV_HUGEPAGE);
	char *n = map_huge(HUGE, MADV_NOHUGEPAGE);
	const struct hook_event *e;
	int status, all;
	pid_t pid;

	check(attach(r, SRC2_PAGES * PAGE, 4, 1, &src2_fd) == 0 &&
	      attach(n, HUGE, 4, 1, &src2_fd) == 0, "huge: attach the 2 MiB-block regions");
	drain();
	touch(r + 5 * PAGE, 0);
	ring_buffer__consume(rb);
	e = find_event(4, 5 * PAGE);
	check(e && e->pages == 512 && nevs == 1,
	      "huge: one fault resolves the 2 MiB block (%u pages, %d events)", e ? e->pages : 0, nevs);
	check(anon_huge_kb(r) == 2048, "huge: the block is one PMD-mapped THP (AnonHugePages %ld kB)",
	      anon_huge_kb(r));
	check(huge_pages_ok(r, 0, 511), "huge: zero, fill and copy pages of the THP hold their bytes");

	drain();
	touch(r + 520 * PAGE, 1);
	ring_buffer__consume(rb);
	e = find_event(4, 520 * PAGE);
	check(e && e->pages == 64 && anon_huge_kb(r) == 2048 &&
	      huge_pages_ok(r, 512, 575) && resident(r + 576 * PAGE) == 0,
	      "huge: a block with a SIGBUS page goes page by page (%u pages)", e ? e->pages : 0);
	check(touch(r + 700 * PAGE, 0) == -1, "huge: its SIGBUS page raises SIGBUS");

	drain();
	touch(n + 7 * PAGE, 0);
	ring_buffer__consume(rb);
	e = find_event(4, 7 * PAGE);
	check(e && e->pages == 64 && anon_huge_kb(n) == 0 && huge_pages_ok(n, 0, 63) &&
	      resident(n + 64 * PAGE) == 0,
	      "huge: MADV_NOHUGEPAGE: pages, the same bytes (%u pages)", e ? e->pages : 0);

	/* A page dropped from the THP splits it; the refault decides it again. */
	madvise(r + 9 * PAGE, PAGE, MADV_DONTNEED);
	check(resident(r + 9 * PAGE) == 0 && touch(r + 9 * PAGE, 0) == 0 &&
	      huge_pages_ok(r, 0, 511), "huge: MADV_DONTNEED of a page, then its refault");

	pid = fork();
	if (pid == 0) {
		r[4 * PAGE] = 1;	/* the child's copy, not the parent's */
		_exit(huge_pages_ok(r, 5, 511) && r[4 * PAGE] == 1 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	all = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	check(all && is_const(r + 4 * PAGE, 0xa5),
	      "huge: fork: the child sees the block and writes its own copy");
	munmap(r + 256 * PAGE, PAGE);
	check(huge_pages_ok(r, 0, 255) && huge_pages_ok(r, 257, 511),
	      "huge: munmap inside the THP keeps the other pages");
	munmap(r, SRC2_PAGES * PAGE);
	munmap(n, HUGE);
}

static void test_lifetime(const char *path)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	struct bpf_object *o;
	struct bpf_program *prog;
	char *r = map_pages(4);
	int fd, gone = 0, status = -1;
	pid_t pid;

	o = bpf_object__open_file(path, NULL);
	prog = bpf_object__find_program_by_name(o, "hook");
	bpf_program__set_type(prog, FAULTC_BPF_PROG_TYPE_PAGE_FAULT);
	if (bpf_object__load(o)) {
		check(0, "lifetime: load a second copy");
		return;
	}
	fd = bpf_program__fd(prog);
	bpf_obj_get_info_by_fd(fd, &info, &len);
	{
		struct prctl_fault_policy a = { .prog_fd = fd, .region = 3 };

		prctl(PR_FAULT_POLICY, PR_FAULT_POLICY_ATTACH, (unsigned long)r, 4 * PAGE,
		      (unsigned long)&a);
	}
	pid = fork();	/* the child shares the attachment and exits with it */
	if (pid == 0)
		_exit(touch(r, 0) == 0 && is_const(r, 0) ? 0 : 1);
	waitpid(pid, &status, 0);
	bpf_object__close(o);
	fd = bpf_prog_get_fd_by_id(info.id);
	check(fd >= 0, "the attachment keeps the program alive after its fd is closed");
	if (fd >= 0)
		close(fd);
	munmap(r, 4 * PAGE);
	for (int i = 0; i < 200 && !gone; i++) {
		fd = bpf_prog_get_fd_by_id(info.id);
		if (fd < 0)
			gone = 1;
		else
			close(fd);
		usleep(10000);
	}
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0 && gone,
	      "after munmap (and the child's exit) the program is released");
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_sigaction = on_bus, .sa_flags = SA_SIGINFO };
	struct bpf_program *prog;
	int v;

	if (argc != 3) {
		fprintf(stderr, "usage: %s <hook.bpf.o> <scratch dir>\n", argv[0]);
		return 99;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGBUS, &sa, NULL);

	v = prctl(PR_FAULT_POLICY, PR_FAULT_POLICY_VERSION, 0, 0, 0);
	check(v == 1, "the kernel has the hook (version %d, %s)", v, v < 0 ? strerror(errno) : "ok");
	if (v != 1)
		return failures;

	obj = bpf_object__open_file(argv[1], NULL);
	prog = obj ? bpf_object__find_program_by_name(obj, "hook") : NULL;
	if (prog)
		bpf_program__set_type(prog, FAULTC_BPF_PROG_TYPE_PAGE_FAULT);
	check(prog && !bpf_object__load(obj), "the program loads through the verifier");
	if (failures)
		return failures;
	prog_fd = bpf_program__fd(prog);
	cfg_fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "cfg"));
	runs_fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "runs"));
	rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "events")),
			      on_event, NULL, NULL);

	snprintf(src0_path, sizeof(src0_path), "%s/hook-src0", argv[2]);
	snprintf(src1_path, sizeof(src1_path), "%s/hook-src1", argv[2]);
	snprintf(src2_path, sizeof(src2_path), "%s/hook-src2", argv[2]);
	src0_fd = make_source(src0_path, SRC0_SIZE);
	src1_fd = make_source(src1_path, SRC1_PAGES * PAGE);
	src2_fd = make_source(src2_path, SRC2_PAGES * PAGE);

	test_table();
	test_prefetch();
	test_threads();
	test_fork();
	test_errors();
	test_defer();
	test_write_protect();
	test_remote();
	test_zero_copy();
	test_shmem();
	test_huge();
	test_lifetime(argv[1]);

	printf("# %d checks, %d failed\n", checks, failures);
	return failures > 100 ? 100 : failures;
}
