// SPDX-License-Identifier: GPL-2.0
/*
 * Guest tool for the kernel-engine tests: loads a generated
 * <policy>.fault.bpf.o through native/src/kernel_engine.c, maps one region,
 * touches pages one by one from this thread with SIGBUS caught, and writes
 * what happened to a file the host test checks against the reference
 * evaluator:
 *
 *   P <page> ok <fnv1a64 of the page>     the touch worked
 *   P <page> bus                          the touch raised SIGBUS
 *   E <offset> <action> <pages> <error> <write> <tid-is-self> <address-ok>
 *   C <faults> <zero> <fill> <copy> <sigbus> <defer> <prefetch> <errors>
 *
 * usage: fault_run <out> <obj> <nr_regions> <region> <size> <at> <write>
 *                  <first> <count> [source...]
 * With FAULT_RUN_TRUNCATE=<path>:<bytes>, that file is truncated after the
 * program is attached and before the first touch. With
 * FAULT_RUN_DECIDE=<policy>.decide.so the region's `on write` rules run too
 * (FK_REGION_WRITES): a write they refuse is a SIGBUS page. With
 * FAULT_RUN_REMOTE=1 the pages are another process's: a child maps the
 * region, the program is attached to it with fk_engine_attach_process(), and
 * the child touches them (events name the child's thread).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "kernel_engine.h"

#define PAGE 4096UL

static sigjmp_buf bus_jump;
static volatile sig_atomic_t in_touch;

static void on_bus(int sig)
{
	(void)sig;
	if (in_touch)
		siglongjmp(bus_jump, 1);
	_exit(98);
}

static int touch(volatile unsigned char *p, int write)
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

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

struct sink {
	FILE *out;
	uint64_t base;
	uint32_t tid;
};

static void on_event(void *ctx, const struct faultc_event *ev)
{
	struct sink *s = ctx;

	fprintf(s->out, "E %" PRIu64 " %u %u %u %u %d %d\n", (uint64_t)ev->offset, ev->action,
		ev->pages, ev->error, ev->write, ev->tid == s->tid,
		ev->address == s->base + ev->offset);
}

static void touch_pages(struct sink *s, unsigned char *base, uint64_t size, int write,
			uint64_t first, uint64_t count, struct fk_engine *e)
{
	for (uint64_t p = first; p < first + count && p < size / PAGE; p++) {
		unsigned char *page = base + p * PAGE;

		if (touch(page, write))
			fprintf(s->out, "P %" PRIu64 " bus\n", p);
		else
			fprintf(s->out, "P %" PRIu64 " ok %016" PRIx64 "\n", p, fnv1a(page, PAGE));
		if (e && p % 1024 == 1023)
			fk_engine_poll(e, 0, on_event, s);
	}
}

static void finish(struct fk_engine *e, struct sink *s, uint32_t region)
{
	struct faultc_counts c;

	while (fk_engine_poll(e, 0, on_event, s) > 0)
		;
	fk_engine_counts(e, region, &c);
	fprintf(s->out, "C %llu %llu %llu %llu %llu %llu %llu %llu", (unsigned long long)c.faults,
		(unsigned long long)c.zero, (unsigned long long)c.fill, (unsigned long long)c.copy,
		(unsigned long long)c.sigbus, (unsigned long long)c.defer, (unsigned long long)c.prefetch,
		(unsigned long long)c.errors);
	fprintf(s->out, "\nL %" PRIu64 "\n", fk_engine_lost(e));
	fk_engine_close(e);
	fclose(s->out);
}

/* The region is a child's memory, attached from here; the child touches it. */
static int run_remote(struct fk_engine *e, struct sink *s, uint32_t region, uint64_t size,
		      uint64_t at, int writes, uint64_t first, uint64_t count)
{
	char err[512] = "";
	unsigned char *base;
	int go[2], status = -1;
	pid_t child;
	char c;

	base = mmap((void *)(uintptr_t)at, size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (at ? MAP_FIXED_NOREPLACE : 0), -1, 0);
	if (base == MAP_FAILED || pipe(go)) {
		perror("fault_run: remote");
		return 4;
	}
	fflush(s->out);
	child = fork();
	if (child == 0) {
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		touch_pages(s, base, size, writes, first, count, NULL);
		fflush(s->out);
		_exit(0);
	}
	/* The parent's own mapping at that address stays as it is. */
	if (fk_engine_attach_process(e, region, child, (uintptr_t)base, size, err, sizeof(err)) < 0) {
		fprintf(stderr, "fault_run: %s\n", err);
		kill(child, SIGKILL);
		return 4;
	}
	if (write(go[1], "g", 1) != 1 || waitpid(child, &status, 0) != child ||
	    !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "fault_run: the child failed (status %d)\n", status);
		return 6;
	}
	s->base = (uintptr_t)base;
	s->tid = (uint32_t)child;
	finish(e, s, region);
	return 0;
}

int main(int argc, char **argv)
{
	struct fk_engine_opts opts = { 0 };
	struct sigaction sa = { .sa_handler = on_bus };
	char err[16384] = "";
	unsigned char *base;
	struct fk_engine *e;
	struct sink sink;
	int err_no, slot, write;
	uint32_t region;
	uint64_t size, at, first, count;

	if (argc < 10) {
		fprintf(stderr, "usage: fault_run <out> <obj> <nr_regions> <region> <size> <at> <write> <first> <count> [source...]\n");
		return 2;
	}
	sink.out = fopen(argv[1], "w");
	if (!sink.out) {
		perror(argv[1]);
		return 2;
	}
	opts.object_path = argv[2];
	opts.nr_regions = strtoul(argv[3], NULL, 0);
	region = strtoul(argv[4], NULL, 0);
	size = strtoull(argv[5], NULL, 0);
	at = strtoull(argv[6], NULL, 0);
	write = atoi(argv[7]);
	first = strtoull(argv[8], NULL, 0);
	count = strtoull(argv[9], NULL, 0);
	opts.nr_sources = argc - 10;
	for (int i = 10; i < argc && i - 10 < FAULTC_MAX_SOURCES; i++)
		opts.source_paths[i - 10] = argv[i];

	/* The region's `on write` rules run: its writes go to the decision library. */
	opts.decide_path = getenv("FAULT_RUN_DECIDE");
	sigaction(SIGBUS, &sa, NULL);
	e = fk_engine_open(&opts, err, sizeof(err), &err_no);
	if (!e) {
		fprintf(stderr, "fault_run: %s (errno %d)\n", err, err_no);
		return 3;
	}
	if (getenv("FAULT_RUN_REMOTE"))
		return run_remote(e, &sink, region, size, at, write, first, count);
	slot = fk_engine_add_region(e, region, size, at, opts.decide_path ? FK_REGION_WRITES : 0,
				    err, sizeof(err));
	if (slot < 0) {
		fprintf(stderr, "fault_run: %s\n", err);
		return 4;
	}
	base = fk_region_addr(e, slot);
	if (getenv("FAULT_RUN_TRUNCATE")) {
		char *spec = strdup(getenv("FAULT_RUN_TRUNCATE"));
		char *colon = strrchr(spec, ':');

		if (!colon || (*colon = 0, truncate(spec, strtoll(colon + 1, NULL, 0)))) {
			perror("fault_run: truncate");
			return 5;
		}
		free(spec);
	}
	sink.base = (uintptr_t)base;
	sink.tid = (uint32_t)syscall(SYS_gettid);

	touch_pages(&sink, base, size, write, first, count, e);
	finish(e, &sink, region);
	return 0;
}
