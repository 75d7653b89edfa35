// SPDX-License-Identifier: GPL-2.0
/*
 * Touches pages of anonymous mappings in a known order, for the trace tests
 * and bench/trace.ts.
 *
 *   toucher order ADDR NPAGES NTHREADS SEED [OTHER_ADDR OTHER_PAGES]
 *     Maps NPAGES at ADDR (MAP_FIXED_NOREPLACE), waits for a line on stdin,
 *     then writes one byte to each page in a seeded random order; thread k
 *     (threads run one after another) touches the k-th slice of that order.
 *     With OTHER_ADDR, also touches OTHER_PAGES pages there (a region the
 *     tracer must leave out). ADDR `heap` grows the heap (sbrk) by NPAGES
 *     instead, after the line arrives, so [heap] grows once tracing runs;
 *     ADDR `stack` takes the pages from the main thread's stack (alloca), so
 *     [stack] grows down once tracing runs. With TOUCHER_READ_FIRST set,
 *     each page is read before it is written: a missing fault, then a
 *     write fault on the present (zero) page.
 *     Prints JSON: {"base":ADDR,"order":[page...],"tids":[...],
 *     "threadOf":[thread index per touch]}.
 *   toucher kread ADDR NPAGES
 *     Maps NPAGES at ADDR, waits for a line on stdin, then read(2)s
 *     /dev/zero into all of it at once: every first touch is taken by the
 *     kernel (page_fault_kernel), none by the program. Prints {"base":ADDR}.
 *   toucher steps NPAGES ROUNDS
 *     Like bench, but waits for a line on stdin before each round and
 *     prints each round's ns per page as it ends, one JSON line per round:
 *     the caller changes what is attached between rounds.
 *   toucher bench NPAGES ROUNDS
 *     Per round: maps NPAGES, writes one byte per page, unmaps; prints the
 *     median ns per page as JSON {"nsPerPage":N}.
 *   toucher mixed NPAGES ROUNDS
 *     Per round: grows the heap by NPAGES (sbrk) and maps NPAGES elsewhere,
 *     writes one byte per page of each (heap and mapping in turn), then gives
 *     both back; prints the median ns per page as JSON {"nsPerPage":N}: a
 *     workload for --vma [heap], half of whose faults the filter leaves out.
 */
#define _GNU_SOURCE
#include <alloca.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL

static int read_first;	/* TOUCHER_READ_FIRST: read each page, then write it */

struct slice {
	volatile char *base;
	const unsigned *order;
	unsigned from, to;
	pid_t tid;
};

static void *touch_slice(void *arg)
{
	struct slice *s = arg;
	unsigned i;

	s->tid = (pid_t)syscall(SYS_gettid);
	for (i = s->from; i < s->to; i++) {
		volatile char *p = s->base + (size_t)s->order[i] * PAGE;

		if (read_first && *p)
			return NULL;	/* fresh pages read as zero */
		*p = 1;
	}
	return NULL;
}

static void *map_at(uintptr_t addr, size_t pages)
{
	void *p = mmap((void *)addr, pages * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED || (uintptr_t)p != addr) {
		perror("mmap");
		exit(2);
	}
	return p;
}

static int run_order(int argc, char **argv)
{
	int heap = !strcmp(argv[2], "heap"), stack = !strcmp(argv[2], "stack");
	unsigned n = strtoul(argv[3], NULL, 0), nthreads = strtoul(argv[4], NULL, 0);
	unsigned seed = strtoul(argv[5], NULL, 0), i, t;
	unsigned *order = calloc(n, sizeof(*order));
	struct slice *slices = calloc(nthreads, sizeof(*slices));
	volatile char *base = heap || stack ? NULL : map_at(strtoull(argv[2], NULL, 0), n), *other = NULL;
	unsigned other_pages = 0;
	char line[16];

	if (!order || !slices || nthreads == 0)
		return 2;
	if (argc > 7) {
		other_pages = strtoul(argv[7], NULL, 0);
		other = map_at(strtoull(argv[6], NULL, 0), other_pages);
	}
	for (i = 0; i < n; i++)
		order[i] = i;
	srand(seed);
	for (i = n - 1; i > 0; i--) {
		unsigned j = (unsigned)rand() % (i + 1), tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	/* The tracer fills its maps, then releases us. */
	if (!fgets(line, sizeof(line), stdin))
		return 2;
	if (heap) {
		char *cur = sbrk(0);
		size_t pad = (PAGE - (uintptr_t)cur % PAGE) % PAGE;

		if (sbrk(pad + (size_t)n * PAGE) == (void *)-1) {
			perror("sbrk");
			return 2;
		}
		base = cur + pad;
	} else if (stack) {
		/*
		 * Below this frame, page-aligned, with a margin at either end: the
		 * main thread's own frames touch the pages next to the area.
		 */
		char *low = alloca(((size_t)n + 16) * PAGE);

		base = (char *)((((uintptr_t)low + PAGE - 1) & ~(PAGE - 1)) + 4 * PAGE);
	}
	for (t = 0; t < nthreads; t++) {
		pthread_t th;

		slices[t] = (struct slice){ base, order, n * t / nthreads, n * (t + 1) / nthreads, 0 };
		if (pthread_create(&th, NULL, touch_slice, &slices[t]) || pthread_join(th, NULL))
			return 2;
	}
	for (i = 0; i < other_pages; i++)
		other[(size_t)i * PAGE] = 1;
	printf("{\"base\":%lu,\"order\":[", (unsigned long)(uintptr_t)base);
	for (i = 0; i < n; i++)
		printf("%s%u", i ? "," : "", order[i]);
	printf("],\"tids\":[");
	for (t = 0; t < nthreads; t++)
		printf("%s%d", t ? "," : "", slices[t].tid);
	printf("],\"threadOf\":[");
	for (t = 0, i = 0; t < nthreads; t++) {
		unsigned k;

		for (k = slices[t].from; k < slices[t].to; k++, i++)
			printf("%s%u", i ? "," : "", t);
	}
	printf("]}\n");
	return 0;
}

static int run_kread(char **argv)
{
	uintptr_t addr = strtoull(argv[2], NULL, 0);
	size_t n = strtoull(argv[3], NULL, 0), done = 0;
	char *base = map_at(addr, n);
	char line[16];
	int fd;

	if (!fgets(line, sizeof(line), stdin))
		return 2;
	fd = open("/dev/zero", O_RDONLY);
	if (fd < 0)
		return 2;
	while (done < n * PAGE) {
		ssize_t got = read(fd, base + done, n * PAGE - done);

		if (got <= 0)
			return 2;
		done += (size_t)got;
	}
	printf("{\"base\":%lu}\n", (unsigned long)addr);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * bench and mixed: per round, map NPAGES (and with `heap`, grow the heap by
 * as many), write one byte per page, give it back; print the median ns per page.
 */
static int run_rounds(char **argv, int with_heap)
{
	size_t n = strtoull(argv[2], NULL, 0), i, grown = 0;
	unsigned rounds = strtoul(argv[3], NULL, 0), r;
	uint64_t *ns = calloc(rounds ? rounds : 1, sizeof(*ns));

	if (!ns || !rounds)
		return 2;
	for (r = 0; r < rounds; r++) {
		volatile char *heap = NULL, *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
						      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct timespec a, b;

		if (p == MAP_FAILED)
			return 2;
		if (with_heap) {
			char *cur = sbrk(0);
			size_t pad = (PAGE - (uintptr_t)cur % PAGE) % PAGE;

			grown = pad + n * PAGE;
			if (sbrk(grown) == (void *)-1)
				return 2;
			heap = cur + pad;
		}
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (i = 0; i < n; i++) {
			if (heap)
				heap[i * PAGE] = 1;
			p[i * PAGE] = 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		munmap((void *)p, n * PAGE);
		if (heap && sbrk(-(intptr_t)grown) == (void *)-1)
			return 2;
		ns[r] = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ULL + (uint64_t)(b.tv_nsec - a.tv_nsec);
	}
	qsort(ns, rounds, sizeof(*ns), cmp_u64);
	printf("{\"nsPerPage\":%.1f}\n", (double)ns[rounds / 2] / (double)(with_heap ? 2 * n : n));
	return 0;
}

static int run_steps(char **argv)
{
	size_t n = strtoull(argv[2], NULL, 0), i;
	unsigned rounds = strtoul(argv[3], NULL, 0), r;
	char line[16];

	for (r = 0; r < rounds; r++) {
		volatile char *p;
		struct timespec a, b;

		if (!fgets(line, sizeof(line), stdin))
			return 2;
		p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 2;
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (i = 0; i < n; i++)
			p[i * PAGE] = 1;
		clock_gettime(CLOCK_MONOTONIC, &b);
		munmap((void *)p, n * PAGE);
		printf("{\"nsPerPage\":%.1f}\n",
		       ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)n);
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	read_first = getenv("TOUCHER_READ_FIRST") != NULL;
	if (argc >= 6 && !strcmp(argv[1], "order"))
		return run_order(argc, argv);
	if (argc == 4 && !strcmp(argv[1], "kread"))
		return run_kread(argv);
	if (argc == 4 && !strcmp(argv[1], "steps"))
		return run_steps(argv);
	if (argc == 4 && !strcmp(argv[1], "mixed"))
		return run_rounds(argv, 1);
	if (argc == 4 && !strcmp(argv[1], "bench"))
		return run_rounds(argv, 0);
	fprintf(stderr, "usage: toucher order ADDR|heap NPAGES NTHREADS SEED [OTHER_ADDR OTHER_PAGES]\n"
			"       toucher kread ADDR NPAGES\n"
			"       toucher steps NPAGES ROUNDS\n"
			"       toucher bench NPAGES ROUNDS\n");
	return 2;
}
