// SPDX-License-Identifier: GPL-2.0
/* Native page touching for tests and bench/ (see uffd_touch.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "uffd_touch.h"

#define PAGE 4096u
#define MAX_THREADS 64

struct toucher {
	pthread_t thread;
	uint8_t *base;
	const uint32_t *pages;
	size_t n;
	int write;
	uint8_t value;
	_Atomic int *go;
	uint64_t sum;
	uint64_t *lat_ns; /* per page, or NULL */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *touch_main(void *arg)
{
	struct toucher *t = arg;
	uint64_t sum = 0;

	while (!atomic_load_explicit(t->go, memory_order_acquire))
		sched_yield();
	for (size_t i = 0; i < t->n; i++) {
		volatile uint8_t *p = t->base + (size_t)t->pages[i] * PAGE;
		uint64_t t0 = t->lat_ns ? now_ns() : 0;

		if (t->write)
			*p = t->value;
		else
			sum += *p;
		if (t->lat_ns)
			t->lat_ns[i] = now_ns() - t0;
	}
	t->sum = sum;
	return NULL;
}

int fc_touch_pages(uint8_t *base, const uint32_t *pages, size_t n, unsigned threads,
		   int write, uint8_t value, uint64_t *lat_ns, struct fc_touch_result *out)
{
	struct toucher t[MAX_THREADS];
	_Atomic int go = 0;
	unsigned started = 0;
	uint64_t t0, sum = 0;
	int rc = 0;

	if (!threads || threads > MAX_THREADS)
		return -EINVAL;
	if (threads > n && n)
		threads = (unsigned)n;
	for (unsigned i = 0; i < threads; i++) {
		size_t lo = n * i / threads, hi = n * (i + 1) / threads;

		t[i] = (struct toucher){
			.base = base,
			.pages = pages + lo,
			.n = hi - lo,
			.write = write,
			.value = value,
			.go = &go,
			.lat_ns = lat_ns ? lat_ns + lo : NULL,
		};
		if (pthread_create(&t[i].thread, NULL, touch_main, &t[i])) {
			rc = -EAGAIN;
			/* Threads already started get no pages. */
			for (unsigned k = 0; k < started; k++)
				t[k].n = 0;
			break;
		}
		started++;
	}
	t0 = now_ns();
	atomic_store_explicit(&go, 1, memory_order_release);
	for (unsigned i = 0; i < started; i++) {
		pthread_join(t[i].thread, NULL);
		sum += t[i].sum;
	}
	out->ns = now_ns() - t0;
	out->sum = sum;
	return rc;
}

int fc_touch_anonymous(size_t nr_pages, unsigned threads, int write,
		       struct fc_touch_result *out)
{
	size_t len = nr_pages * PAGE;
	uint32_t *pages;
	uint8_t *mem;
	int rc;

	pages = malloc(nr_pages * sizeof(*pages));
	if (!pages)
		return -ENOMEM;
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		free(pages);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nr_pages; i++)
		pages[i] = (uint32_t)i;
	rc = fc_touch_pages(mem, pages, nr_pages, threads, write, 1, NULL, out);
	munmap(mem, len);
	free(pages);
	return rc;
}
