// SPDX-License-Identifier: GPL-2.0
/*
 * The fault hook's own cost, with nothing else in the way: one process
 * first-touches (writes one byte per page of) fresh anonymous memory with no
 * program, then with a generated fault program attached (bench_zero: every
 * page zero-filled by the hook), alternating, 1 and 2 threads. Prints JSON
 * medians in ns per page. Run by bench/kernel.ts in the guest.
 *
 *   kernel-hook <fault.bpf.o> <pages> <trials> [huge]
 *
 * With "huge", both regions are 2 MiB-aligned and madvised MADV_HUGEPAGE:
 * native is then the kernel's own huge anonymous fault, and a program that
 * decides 2 MiB blocks (`zero prefetch block 2 MiB`) has the hook install
 * each block as one PMD-mapped huge page.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <bpf/libbpf.h>
#include "fault_policy_uapi.h"

#define PAGE 4096UL

#define HUGE (2UL << 20)

static int prog_fd, huge;

struct part {
	char *base;
	long first, n;
	pthread_barrier_t *bar;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static void *toucher(void *arg)
{
	struct part *p = arg;

	pthread_barrier_wait(p->bar);
	for (long i = p->first; i < p->first + p->n; i++)
		p->base[i * PAGE] = 1;
	return NULL;
}

/* ns per page for one fresh region, hooked or not, split over threads. */
static double one(long pages, int hooked, int threads)
{
	char *raw = mmap(NULL, pages * PAGE + HUGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *base = (char *)(((unsigned long)raw + HUGE - 1) & ~(HUGE - 1));
	pthread_barrier_t bar;
	struct part parts[2];
	pthread_t t[2];
	double start, end;

	if (raw == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	if (huge && madvise(base, pages * PAGE, MADV_HUGEPAGE)) {
		perror("madvise");
		exit(1);
	}
	if (hooked) {
		struct prctl_fault_policy a = { .prog_fd = prog_fd, .region = 0 };

		if (prctl(PR_FAULT_POLICY, PR_FAULT_POLICY_ATTACH, (unsigned long)base,
			  pages * PAGE, (unsigned long)&a)) {
			perror("attach");
			exit(1);
		}
	}
	pthread_barrier_init(&bar, NULL, threads + 1);
	for (int i = 0; i < threads; i++) {
		parts[i] = (struct part){ base, i * (pages / threads), pages / threads, &bar };
		pthread_create(&t[i], NULL, toucher, &parts[i]);
	}
	start = now();
	pthread_barrier_wait(&bar);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	end = now();
	pthread_barrier_destroy(&bar);
	munmap(raw, pages * PAGE + HUGE);
	return (end - start) / pages;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	long pages;
	int trials;
	double s[2][3][64];

	if (argc != 4 && !(argc == 5 && !strcmp(argv[4], "huge"))) {
		fprintf(stderr, "usage: kernel-hook <fault.bpf.o> <pages> <trials> [huge]\n");
		return 2;
	}
	huge = argc == 5;
	pages = atol(argv[2]);
	trials = atoi(argv[3]);
	if (trials < 1 || trials > 64 || pages < 2) {
		fprintf(stderr, "kernel-hook: 1..64 trials, 2+ pages\n");
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	prog = obj ? bpf_object__find_program_by_name(obj, "faultc_fault") : NULL;
	if (!prog)
		return 3;
	bpf_program__set_type(prog, FAULTC_BPF_PROG_TYPE_PAGE_FAULT);
	if (bpf_object__load(obj))
		return 3;
	prog_fd = bpf_program__fd(prog);
	/* a discarded round: the guest's memory is touched on the host too */
	for (int h = 0; h < 2; h++)
		for (int th = 1; th <= 2; th++)
			one(pages, h, th);
	for (int r = 0; r < trials; r++)
		for (int th = 1; th <= 2; th++)
			for (int h = 0; h < 2; h++)
				s[h][th][r] = one(pages, h, th);
	printf("{\"pages\":%ld,\"trials\":%d,\"huge\":%s,\"native\":{\"1\":%.0f,\"2\":%.0f},\"hooked\":{\"1\":%.0f,\"2\":%.0f}}\n",
	       pages, trials, huge ? "true" : "false", median(s[0][1], trials), median(s[0][2], trials),
	       median(s[1][1], trials), median(s[1][2], trials));
	bpf_object__close(obj);
	return 0;
}
