// SPDX-License-Identifier: GPL-2.0
/*
 * The peers of `npm run bench -- --peers`: the same file's pages first-touched
 * by the same loop (native/src/uffd_touch.c) as faultc's rows, behind
 *   anon         fresh private anonymous memory (the baseline)
 *   kernel-file  a private mapping of the file: the kernel's own fault, the
 *                limit for any policy that copies a file
 *   raw-uffd     a minimal userfaultfd handler thread: pread + UFFDIO_COPY,
 *                one page per fault (what a hand-written handler costs)
 *   umap         LLNL UMap over the file (built with -DWITH_UMAP)
 *
 * Usage: peer_touch MODE FILE ORDER THREADS
 * ORDER is a file of little-endian u32 page numbers; the pages touched are
 * those, in that order, split in THREADS contiguous chunks. Prints one JSON
 * line {"ns":..,"sum":..,"pages":..}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffd_touch.h"

#ifdef WITH_UMAP
#include <umap/umap.h>
#endif

#define PAGE 4096u

static void die(const char *what)
{
	fprintf(stderr, "peer_touch: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint32_t *read_order(const char *path, size_t *n)
{
	struct stat st;
	uint32_t *order;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st))
		die(path);
	order = malloc(st.st_size ? st.st_size : 1);
	if (!order || read(fd, order, st.st_size) != st.st_size)
		die("reading the order");
	close(fd);
	*n = st.st_size / sizeof(*order);
	return order;
}

struct raw_handler {
	int uffd;
	int file;
	uint8_t *base;
	uint8_t *page;
};

/* One fault: the page from the file at the same offset, then wake the thread. */
static int raw_copy(struct raw_handler *h, uint64_t addr)
{
	uint64_t start = addr & ~(uint64_t)(PAGE - 1);
	struct uffdio_copy copy = {
		.dst = start,
		.src = (uint64_t)(uintptr_t)h->page,
		.len = PAGE,
	};

	if (pread(h->file, h->page, PAGE, start - (uint64_t)(uintptr_t)h->base) < 0)
		return -errno;
	if (ioctl(h->uffd, UFFDIO_COPY, &copy) && errno != EEXIST)
		return -errno;
	return 0;
}

static void *raw_main(void *arg)
{
	struct raw_handler *h = arg;
	struct uffd_msg msg;
	struct pollfd pfd = { .fd = h->uffd, .events = POLLIN };

	for (;;) {
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
		if (pfd.revents & (POLLERR | POLLHUP))
			break;
		/* Non-blocking: poll() on a blocking uffd reports POLLERR. */
		if (read(h->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event == UFFD_EVENT_PAGEFAULT && raw_copy(h, msg.arg.pagefault.address))
			break;
	}
	return NULL;
}

static uint8_t *raw_uffd_map(int file, size_t len, pthread_t *thread)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct raw_handler *h = calloc(1, sizeof(*h));
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	uint8_t *mem;

	if (!h || uffd < 0 || ioctl(uffd, UFFDIO_API, &api))
		die("userfaultfd");
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	reg.range.start = (uint64_t)(uintptr_t)mem;
	reg.range.len = len;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		die("UFFDIO_REGISTER");
	*h = (struct raw_handler){ .uffd = uffd, .file = file, .base = mem };
	h->page = aligned_alloc(PAGE, PAGE);
	if (!h->page || pthread_create(thread, NULL, raw_main, h))
		die("handler thread");
	return mem;
}

int main(int argc, char **argv)
{
	struct fc_touch_result r;
	const char *mode;
	uint32_t *order;
	pthread_t handler;
	size_t n, len;
	struct stat st;
	uint8_t *mem;
	int file, rc;

	if (argc != 5) {
		fprintf(stderr, "usage: peer_touch anon|kernel-file|raw-uffd|umap FILE ORDER THREADS\n");
		return 2;
	}
	mode = argv[1];
	order = read_order(argv[3], &n);
	file = open(argv[2], O_RDONLY);
	if (file < 0 || fstat(file, &st))
		die(argv[2]);
	len = (size_t)st.st_size & ~(size_t)(PAGE - 1);

	if (!strcmp(mode, "anon"))
		mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	else if (!strcmp(mode, "kernel-file"))
		mem = mmap(NULL, len, PROT_READ, MAP_PRIVATE, file, 0);
	else if (!strcmp(mode, "raw-uffd"))
		mem = raw_uffd_map(file, len, &handler);
#ifdef WITH_UMAP
	else if (!strcmp(mode, "umap"))
		mem = umap(NULL, len, PROT_READ, UMAP_PRIVATE, file, 0);
#endif
	else {
		fprintf(stderr, "peer_touch: mode %s is not built in\n", mode);
		return 2;
	}
	if (mem == MAP_FAILED || mem == NULL)
		die(mode);
	for (size_t i = 0; i < n; i++) {
		if ((size_t)order[i] * PAGE >= len) {
			fprintf(stderr, "peer_touch: page %u is past the file's end\n", order[i]);
			return 2;
		}
	}
	/* The baseline writes (the kernel's zero fill); every peer reads. */
	rc = fc_touch_pages(mem, order, n, (unsigned)atoi(argv[4]), !strcmp(mode, "anon"), 1, NULL, &r);
	if (rc) {
		errno = -rc;
		die("touching");
	}
	printf("{\"ns\":%llu,\"sum\":%llu,\"pages\":%zu}\n",
	       (unsigned long long)r.ns, (unsigned long long)r.sum, n);
	fflush(stdout);
#ifdef WITH_UMAP
	if (!strcmp(mode, "umap"))
		uunmap(mem, len);
#endif
	/* The raw handler thread dies with the process. */
	return 0;
}
