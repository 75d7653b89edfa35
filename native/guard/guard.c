// SPDX-License-Identifier: GPL-2.0
/*
 * libfaultc_guard.so: the allocator `faultc guard` preloads (docs/guard.md).
 *
 * Every allocation gets its own pages in the policy's region `heap`, ending
 * at a guard page (starting after one with FAULTC_GUARD_UNDERFLOW). Guard
 * pages and freed pages are in the policy's set `guards` and stay missing;
 * the policy answers their first touch with SIGBUS, and the SIGBUS handler
 * here reports the bad access with the allocation's size and sites. Small
 * allocations are resolved at malloc time with UFFDIO_COPY from this thread
 * (no fault at all); large ones fault their pages in through the policy.
 * Address space is handed out in one direction round the region, so freed
 * space is reused only after a whole turn (the quarantine).
 *
 * Environment (set by `faultc guard`): FAULTC_GUARD_POLICY (compiled policy
 * base path), FAULTC_GUARD_UNDERFLOW, FAULTC_GUARD_CONTINUE,
 * FAULTC_GUARD_ALIGN (default 16), FAULTC_GUARD_FRAMES (default 8),
 * FAULTC_GUARD_EAGER_PAGES (default 16), FAULTC_GUARD_ZEROED (the policy
 * zero-fills pages outside `guards`: calloc need not clear them).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "faultc.h"

#define PAGE 4096ul
#define EXPORT __attribute__((visibility("default")))
#define MAX_FRAMES 12
#define FREE_FRAMES 8
#define ARENA_BYTES (256ul << 20)
#define MAX_RECORDS (16ul << 20)
#define EVENT_RING 64

enum rec_state {
	REC_UNUSED,
	REC_LIVE,
	REC_FREED,
};

/* One allocation, live or in quarantine. */
struct rec {
	uint64_t user; /* the pointer malloc returned */
	uint64_t size; /* bytes asked for */
	uint64_t first; /* first page of the span (guard included) */
	uint32_t pages; /* pages of the span (guard included) */
	uint32_t state;
	uint32_t alloc_tid, free_tid;
	uint8_t n_alloc, n_free;
	void *alloc_bt[MAX_FRAMES];
	void *free_bt[FREE_FRAMES];
	uint32_t next_free; /* free list of records */
};

struct bad_event {
	_Atomic uint64_t page;
	_Atomic uint32_t tid;
	_Atomic uint32_t write;
};

static struct {
	_Atomic int state; /* 0 not started, 1 starting, 2 ready, 3 failed */
	struct faultc_policy *policy;
	struct faultc_region *heap;
	int guards; /* set id */
	int uffd;
	uint8_t *base;
	uint64_t pages;
	bool underflow, keep_going, zeroed;
	unsigned align, frames, eager_pages;
	pid_t pid;
	bool forked_child; /* fork()ed and not yet re-opened */

	pthread_mutex_t lock;
	uint64_t bump; /* next page to try, round the region */
	uint64_t *live; /* bit per page: part of a live span */
	uint32_t *owner; /* rec id + 1 at a span's first and guard page */
	struct rec *recs;
	uint32_t nr_recs, free_rec; /* free_rec: id + 1 of the free list head */
	const uint8_t *zeros; /* eager_pages pages of zeros */

	_Atomic uint64_t bad_touches, bad_frees;
	struct bad_event events[EVENT_RING];
	_Atomic uint32_t ev_next;
} g = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Allocations made while libfaultc or the unwinder run: never freed. */
static struct {
	_Atomic uint64_t used;
	uint8_t *mem;
} arena;

static __thread int in_guard __attribute__((tls_model("initial-exec")));

/* ---- output (no allocation) -------------------------------------------- */

static void out(const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t w = write(2, s, n);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void outf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void outf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	out(buf);
}

/* Prints frames outside this library, less the first `drop` of them. */
static void print_frames(void *const *frames, int n, int drop)
{
	Dl_info self;
	int shown = 0;

	if (!dladdr((void *)print_frames, &self))
		self.dli_fbase = NULL;
	for (int i = 0; i < n; i++) {
		Dl_info info;
		uintptr_t pc = (uintptr_t)frames[i];
		int have = dladdr(frames[i], &info);

		/* The allocator's own frames (and the signal trampoline's caller) are noise. */
		if (have && info.dli_fbase == self.dli_fbase)
			continue;
		if (drop > 0) {
			drop--;
			continue;
		}
		if (have && info.dli_fname) {
			const char *file = strrchr(info.dli_fname, '/');

			file = file ? file + 1 : info.dli_fname;
			if (info.dli_sname)
				outf("    #%d 0x%lx in %s (%s+0x%lx)\n", shown++, (unsigned long)pc,
				     info.dli_sname, file,
				     (unsigned long)(pc - (uintptr_t)info.dli_fbase));
			else
				outf("    #%d 0x%lx in %s+0x%lx\n", shown++, (unsigned long)pc, file,
				     (unsigned long)(pc - (uintptr_t)info.dli_fbase));
		} else {
			outf("    #%d 0x%lx\n", shown++, (unsigned long)pc);
		}
	}
}

static __thread pid_t my_tid __attribute__((tls_model("initial-exec")));

static pid_t gettid_(void)
{
	if (__builtin_expect(!my_tid, 0))
		my_tid = (pid_t)syscall(SYS_gettid);
	return my_tid;
}

/* ---- the internal arena -------------------------------------------------- */

static void *arena_alloc(size_t size, size_t align)
{
	if (!arena.mem) {
		void *m = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		uint8_t *expected = NULL;

		if (m == MAP_FAILED)
			return NULL;
		if (!__atomic_compare_exchange_n(&arena.mem, &expected, (uint8_t *)m, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			munmap(m, ARENA_BYTES);
	}
	if (align < 16)
		align = 16;
	/* 16 bytes of header hold the size, for realloc. */
	uint64_t need = (size + 16 + align + 15) & ~15ul;
	uint64_t at = atomic_fetch_add(&arena.used, need);

	if (at + need > ARENA_BYTES)
		return NULL;
	uintptr_t p = ((uintptr_t)arena.mem + at + 16 + align - 1) & ~(uintptr_t)(align - 1);

	((uint64_t *)p)[-1] = size;
	return (void *)p;
}

static bool in_arena(const void *p)
{
	return arena.mem && (const uint8_t *)p >= arena.mem &&
	       (const uint8_t *)p < arena.mem + ARENA_BYTES;
}

static bool in_heap(const void *p)
{
	return g.base && (const uint8_t *)p >= g.base && (const uint8_t *)p < g.base + g.pages * PAGE;
}

/* ---- start-up ---------------------------------------------------------- */

static unsigned env_uint(const char *name, unsigned dflt)
{
	const char *v = getenv(name);

	return v && *v ? (unsigned)strtoul(v, NULL, 0) : dflt;
}

static void on_event(const struct faultc_event *ev, void *ctx)
{
	(void)ctx;
	if (ev->action != FAULTC_ACT_SIGBUS)
		return;
	struct bad_event *b = &g.events[atomic_fetch_add(&g.ev_next, 1) % EVENT_RING];

	atomic_store(&b->tid, ev->tid);
	atomic_store(&b->write, ev->write);
	atomic_store(&b->page, ev->address / PAGE);
}

static void *map_table(size_t bytes)
{
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

static void on_sigbus(int sig, siginfo_t *si, void *uc);

static bool open_policy(char *err, size_t errlen)
{
	const char *compiled = getenv("FAULTC_GUARD_POLICY");
	struct faultc_open_opts o = {
		.threads = 1,
		.flags = FAULTC_OPEN_NO_CPU_LATENCY | FAULTC_OPEN_NO_FOLLOW,
		.on_event = on_event,
	};

	if (!compiled || !*compiled) {
		snprintf(err, errlen, "FAULTC_GUARD_POLICY is not set");
		return false;
	}
	g.policy = faultc_open(compiled, &o, err, errlen);
	if (!g.policy)
		return false;
	g.guards = faultc_set_id(g.policy, "guards");
	if (g.guards < 0) {
		snprintf(err, errlen, "the policy has no `set guards`");
		return false;
	}
	return true;
}

static bool start(void)
{
	char err[512] = "";

	in_guard++;
	g.pid = getpid();
	g.underflow = env_uint("FAULTC_GUARD_UNDERFLOW", 0) != 0;
	g.keep_going = env_uint("FAULTC_GUARD_CONTINUE", 0) != 0;
	g.zeroed = env_uint("FAULTC_GUARD_ZEROED", 0) != 0;
	g.align = env_uint("FAULTC_GUARD_ALIGN", 16);
	if (!g.align || (g.align & (g.align - 1)) || g.align > PAGE)
		g.align = 16;
	g.frames = env_uint("FAULTC_GUARD_FRAMES", 8);
	if (g.frames > MAX_FRAMES - 2)
		g.frames = MAX_FRAMES - 2;
	g.eager_pages = env_uint("FAULTC_GUARD_EAGER_PAGES", 16);

	/*
	 * Allocation and free sites: libunwind's fast trace, which caches each
	 * return address's frame layout per thread (no lock, no signal mask),
	 * instead of glibc's backtrace(), which reads the unwind tables again
	 * at every frame of every call. Load both now: their first use
	 * allocates.
	 */
	void *probe[2];

	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	unw_backtrace(probe, 2);
	backtrace(probe, 2);
	if (!open_policy(err, sizeof(err)))
		goto fail;
	g.heap = faultc_region(g.policy, "heap", NULL);
	if (!g.heap) {
		snprintf(err, sizeof(err), "cannot map the policy's region `heap`: %s",
			 strerror(errno));
		goto fail;
	}
	g.base = faultc_region_addr(g.heap);
	g.pages = faultc_region_size(g.heap) / PAGE;
	g.uffd = faultc_uffd(g.policy);
	g.live = map_table((g.pages + 63) / 64 * 8);
	g.owner = map_table(g.pages * sizeof(uint32_t));
	g.recs = map_table(MAX_RECORDS * sizeof(struct rec));
	g.zeros = map_table((g.eager_pages ? g.eager_pages : 1) * PAGE);
	if (!g.live || !g.owner || !g.recs || !g.zeros) {
		snprintf(err, sizeof(err), "cannot map the allocator's tables");
		goto fail;
	}

	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	in_guard--;
	return true;
fail:
	outf("faultc guard: %s\n", err);
	_exit(3);
}

/* ---- spans ------------------------------------------------------------- */

static bool bit(const uint64_t *bits, uint64_t i)
{
	return (bits[i / 64] >> (i & 63)) & 1;
}

static void set_bits(uint64_t *bits, uint64_t first, uint64_t n, bool on)
{
	for (uint64_t i = first; i < first + n; i++) {
		if (on)
			bits[i / 64] |= 1ull << (i & 63);
		else
			bits[i / 64] &= ~(1ull << (i & 63));
	}
}

/* n free pages in a row, going on round the region from g.bump; or -1. */
static int64_t find_span(uint64_t n)
{
	uint64_t tried = 0, run = 0, start = g.bump;

	if (n > g.pages)
		return -1;
	while (tried < g.pages + n) {
		uint64_t i = (g.bump + tried) % g.pages;

		if (i == 0)
			run = 0; /* spans do not wrap */
		if (run == 0)
			start = i;
		/* A whole free word at once. */
		if ((i & 63) == 0 && i + 64 <= g.pages && g.live[i / 64] == 0 && run + 64 <= n) {
			run += 64;
			tried += 64;
		} else if (bit(g.live, i)) {
			run = 0;
			tried++;
			continue;
		} else {
			run++;
			tried++;
		}
		if (run >= n) {
			g.bump = (start + n) % g.pages;
			return (int64_t)start;
		}
	}
	return -1;
}

static uint32_t new_rec(void)
{
	if (g.free_rec) {
		uint32_t id = g.free_rec - 1;

		g.free_rec = g.recs[id].next_free;
		return id;
	}
	if (g.nr_recs >= MAX_RECORDS)
		return UINT32_MAX;
	return g.nr_recs++;
}

/* Space reused after a turn: forget the quarantined spans it overlaps. */
static void clear_owners(uint64_t first, uint64_t n)
{
	for (uint64_t i = first; i < first + n; i++) {
		uint32_t o = g.owner[i];

		if (!o)
			continue;
		g.owner[i] = 0;
		struct rec *r = &g.recs[o - 1];

		if (r->state == REC_FREED && r->first == i) {
			r->state = REC_UNUSED;
			r->next_free = g.free_rec;
			g.free_rec = o;
		}
	}
}

/* The record of the span holding page, or NULL. */
static struct rec *rec_of_page(uint64_t page)
{
	for (uint64_t i = page + 1; i-- > 0;) {
		uint32_t o = g.owner[i];

		if (!o)
			continue;
		struct rec *r = &g.recs[o - 1];

		if (r->state != REC_UNUSED && page >= r->first && page < r->first + r->pages)
			return r;
		return NULL;
	}
	return NULL;
}

/* Data pages resolved now, from this thread: no fault will come for them. */
static void populate(uint64_t first, uint64_t n)
{
	struct uffdio_copy c = {
		.dst = (uintptr_t)(g.base + first * PAGE),
		.src = (uintptr_t)g.zeros,
		.len = n * PAGE,
	};

	if (ioctl(g.uffd, UFFDIO_COPY, &c) == 0)
		return;
	/* A page already there (touched under --continue): page by page. */
	for (uint64_t i = 0; i < n; i++) {
		struct uffdio_copy one = {
			.dst = (uintptr_t)(g.base + (first + i) * PAGE),
			.src = (uintptr_t)g.zeros,
			.len = PAGE,
		};

		ioctl(g.uffd, UFFDIO_COPY, &one);
	}
}

static void reopen_in_child(void);

/* Whether this call is served from the heap (else from the arena). */
static bool ready(void)
{
	if (in_guard)
		return false; /* inside libfaultc or the unwinder */
	int s = atomic_load_explicit(&g.state, memory_order_acquire);

	if (s == 2) {
		if (__builtin_expect(g.forked_child, 0))
			reopen_in_child();
		return true;
	}
	if (s == 0) {
		int expected = 0;

		if (atomic_compare_exchange_strong(&g.state, &expected, 1)) {
			start();
			atomic_store_explicit(&g.state, 2, memory_order_release);
			return true;
		}
	}
	/* Another thread is starting the allocator: serve from the arena. */
	return false;
}

static __attribute__((noinline)) void *guard_alloc(size_t size, size_t align)
{
	if (!ready())
		return arena_alloc(size, align);
	/* The malloc family asks for 1: the configured alignment. */
	if (align < g.align)
		align = g.align;
	if (size > (1ull << 46)) {
		errno = ENOMEM;
		return NULL;
	}
	uint64_t asked = size;
	uint64_t body = (size ? size : 1);

	body = (body + g.align - 1) & ~(uint64_t)(g.align - 1);
	uint64_t data = (body + (align > PAGE ? align : 0) + PAGE - 1) / PAGE;
	void *frames[MAX_FRAMES + 2];
	int nf = 0;

	if (g.frames) {
		in_guard++;
		nf = unw_backtrace(frames, (int)g.frames + 2);
		in_guard--;
	}

	pthread_mutex_lock(&g.lock);
	int64_t at = find_span(data + 1);
	uint32_t id = at < 0 ? UINT32_MAX : new_rec();

	if (id == UINT32_MAX) {
		pthread_mutex_unlock(&g.lock);
		errno = ENOMEM;
		return NULL;
	}
	uint64_t first = (uint64_t)at;
	uint64_t dfirst = g.underflow ? first + 1 : first;
	uint64_t guard = g.underflow ? first : first + data;
	uintptr_t user;

	if (g.underflow) {
		user = ((uintptr_t)(g.base + dfirst * PAGE) + align - 1) & ~(uintptr_t)(align - 1);
	} else {
		uintptr_t end = (uintptr_t)(g.base + guard * PAGE);

		user = (end - body) & ~(uintptr_t)(align - 1);
	}
	clear_owners(first, data + 1);
	set_bits(g.live, first, data + 1, true);
	struct rec *r = &g.recs[id];

	*r = (struct rec){
		.user = user,
		.size = asked,
		.first = first,
		.pages = (uint32_t)(data + 1),
		.state = REC_LIVE,
		.alloc_tid = (uint32_t)gettid_(),
	};
	/* The allocator's own frames are dropped when printed. */
	for (int i = 0; i < nf && r->n_alloc < MAX_FRAMES; i++)
		r->alloc_bt[r->n_alloc++] = frames[i];
	g.owner[first] = id + 1;
	g.owner[guard] = id + 1;
	pthread_mutex_unlock(&g.lock);

	faultc_set_add(g.heap, g.guards, guard, 1);
	faultc_set_remove(g.heap, g.guards, dfirst, data);
	if (data <= g.eager_pages)
		populate(dfirst, data);
	return (void *)user;
}

/* ---- reports ----------------------------------------------------------- */

static void finish(void) __attribute__((noreturn));
static void finish(void)
{
	struct rlimit no_core = { 0, 0 };

	out("==faultc guard== ending the program with SIGSEGV (--continue goes on)\n");
	setrlimit(RLIMIT_CORE, &no_core);
	signal(SIGSEGV, SIG_DFL);
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGSEGV);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	raise(SIGSEGV);
	_exit(139);
}

static void print_rec(const struct rec *r)
{
	outf("  allocated by thread %u, %lu bytes at 0x%lx:\n", r->alloc_tid,
	     (unsigned long)r->size, (unsigned long)r->user);
	print_frames(r->alloc_bt, r->n_alloc, 0);
	if (r->state == REC_FREED) {
		outf("  freed by thread %u:\n", r->free_tid);
		print_frames(r->free_bt, r->n_free, 0);
	}
}

/* This thread's stack; in a signal handler, less the kernel's trampoline. */
static __attribute__((noinline)) void print_here(int drop)
{
	void *frames[MAX_FRAMES + 8];
	int n = backtrace(frames, MAX_FRAMES + 8);

	print_frames(frames, n, drop);
}

static void report_free(const char *kind, const void *p, const struct rec *r)
{
	atomic_fetch_add(&g.bad_frees, 1);
	outf("==faultc guard== %s of 0x%lx by thread %d:\n", kind, (unsigned long)(uintptr_t)p,
	     gettid_());
	print_here(0);
	if (r)
		print_rec(r);
	if (!g.keep_going)
		finish();
}

/* Read or write, from the policy's notify event for this page. */
static const char *access_of(uint64_t page)
{
	for (int spin = 0; spin < 2000; spin++) {
		for (unsigned i = 0; i < EVENT_RING; i++) {
			struct bad_event *b = &g.events[i];

			if (atomic_load(&b->page) == page)
				return atomic_load(&b->write) ? "write" : "read";
		}
		usleep(50);
	}
	return "access";
}

/* The page of the last bad touch by thread tid, from the policy's events. */
static uint8_t *event_page_of(pid_t tid)
{
	for (int spin = 0; spin < 2000; spin++) {
		for (unsigned i = 0; i < EVENT_RING; i++) {
			struct bad_event *b = &g.events[i];

			if (atomic_load(&b->tid) == (uint32_t)tid && atomic_load(&b->page))
				return (uint8_t *)(uintptr_t)(atomic_load(&b->page) * PAGE);
		}
		usleep(50);
	}
	return NULL;
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	uint8_t *addr = si->si_addr;

	/* Sent with tgkill (no UFFDIO_POISON): the policy's event has the page. */
	if (si->si_code <= 0)
		addr = event_page_of(gettid_());
	if (!in_heap(addr)) {
		/* Not a touch of the heap: what SIGBUS would have done. */
		signal(sig, SIG_DFL);
		return;
	}
	uint64_t page = (uint64_t)(addr - g.base) / PAGE;
	const char *access = access_of((uintptr_t)addr / PAGE);
	struct rec *r = rec_of_page(page); /* no lock: the tables are only added to */
	const char *kind = "wild-heap-access";
	char where[160] = "outside every allocation";

	if (r && r->state == REC_FREED) {
		kind = "heap-use-after-free";
		snprintf(where, sizeof(where), "%ld bytes from the start of a freed %lu-byte allocation",
			 (long)((uintptr_t)addr - r->user), (unsigned long)r->size);
	} else if (r && (uintptr_t)addr >= r->user + r->size) {
		kind = "heap-buffer-overflow";
		snprintf(where, sizeof(where), "%lu bytes past the end of a %lu-byte allocation",
			 (unsigned long)((uintptr_t)addr - (r->user + r->size)),
			 (unsigned long)r->size);
	} else if (r && (uintptr_t)addr < r->user) {
		kind = "heap-buffer-underflow";
		snprintf(where, sizeof(where), "%lu bytes before a %lu-byte allocation",
			 (unsigned long)(r->user - (uintptr_t)addr), (unsigned long)r->size);
	}
	atomic_fetch_add(&g.bad_touches, 1);
	outf("==faultc guard== %s: %s of address 0x%lx by thread %d, %s\n", kind, access,
	     (unsigned long)(uintptr_t)addr, gettid_(), where);
	print_here(1);
	if (r)
		print_rec(r);
	if (!g.keep_going)
		finish();
	/* Go on: the page leaves the set and the next touch gets zeros. */
	faultc_set_remove(g.heap, g.guards, page, 1);
	madvise(g.base + page * PAGE, PAGE, MADV_DONTNEED);
}

/* ---- free -------------------------------------------------------------- */

/* The live record whose pointer is p, with the lock held; or reports. */
static struct rec *live_rec(void *p, const char *what)
{
	uint64_t page = (uint64_t)((uint8_t *)p - g.base) / PAGE;
	struct rec *r = rec_of_page(page);

	if (r && r->user == (uintptr_t)p && r->state == REC_LIVE)
		return r;
	pthread_mutex_unlock(&g.lock);
	if (r && r->user == (uintptr_t)p)
		report_free("double-free", p, r);
	else
		report_free(what, p, r);
	return NULL;
}

static __attribute__((noinline)) void guard_free(void *p)
{
	if (!p || in_arena(p))
		return;
	if (!in_heap(p)) {
		if (atomic_load(&g.state) == 2)
			report_free("invalid-free (not from this allocator)", p, NULL);
		return;
	}
	ready();
	void *frames[FREE_FRAMES + 2];
	int nf = 0;

	if (g.frames) {
		in_guard++;
		nf = unw_backtrace(frames, FREE_FRAMES + 2);
		in_guard--;
	}
	pthread_mutex_lock(&g.lock);
	struct rec *r = live_rec(p, "invalid-free (inside an allocation)");

	if (!r)
		return; /* reported, unlocked */
	r->state = REC_FREED;
	r->free_tid = (uint32_t)gettid_();
	r->n_free = 0;
	for (int i = 0; i < nf && r->n_free < FREE_FRAMES; i++)
		r->free_bt[r->n_free++] = frames[i];
	uint64_t first = r->first, n = r->pages;

	set_bits(g.live, first, n, false);
	pthread_mutex_unlock(&g.lock);
	/* Into the set first, then back to missing: a touch now is reported. */
	faultc_set_add(g.heap, g.guards, first, n);
	madvise(g.base + first * PAGE, n * PAGE, MADV_DONTNEED);
}

static size_t usable(void *p)
{
	if (in_arena(p))
		return ((uint64_t *)p)[-1];
	if (!in_heap(p))
		return 0;
	pthread_mutex_lock(&g.lock);
	struct rec *r = rec_of_page((uint64_t)((uint8_t *)p - g.base) / PAGE);
	size_t n = 0;

	if (r && r->state == REC_LIVE)
		n = g.underflow ? r->size : (size_t)(g.base + (r->first + r->pages - 1) * PAGE - (uint8_t *)p);
	pthread_mutex_unlock(&g.lock);
	return n;
}

/* ---- fork -------------------------------------------------------------- */

static void before_fork(void)
{
	pthread_mutex_lock(&g.lock);
}

static void after_fork_parent(void)
{
	pthread_mutex_unlock(&g.lock);
}

static void after_fork_child(void)
{
	my_tid = 0;
	pthread_mutex_unlock(&g.lock);
	if (atomic_load(&g.state) == 2)
		g.forked_child = true;
}

/*
 * In a child, at its first allocation: its own handler and userfaultfd for
 * the heap it inherited, with the parent's guards. Until then its guard
 * pages are plain memory (a child that execs at once never pays for this).
 */
static void reopen_in_child(void)
{
	static pthread_mutex_t reopen_lock = PTHREAD_MUTEX_INITIALIZER;
	char err[512] = "";
	struct faultc_region *old_heap = g.heap;

	/* Not g.lock: libfaultc frees memory of the heap while it starts. */
	pthread_mutex_lock(&reopen_lock);
	if (!g.forked_child) {
		pthread_mutex_unlock(&reopen_lock);
		return;
	}
	in_guard++;
	faultc_forget_after_fork(g.policy);
	if (!open_policy(err, sizeof(err)))
		goto fail;
	struct faultc_region *heap = faultc_region_watch(g.policy, "heap", g.base);

	if (!heap || faultc_set_copy(heap, old_heap) < 0) {
		snprintf(err, sizeof(err), "cannot watch the heap in a child: %s", strerror(errno));
		goto fail;
	}
	pthread_mutex_lock(&g.lock);
	g.heap = heap;
	g.uffd = faultc_uffd(g.policy);
	g.pid = getpid();
	g.forked_child = false;
	pthread_mutex_unlock(&g.lock);
	in_guard--;
	pthread_mutex_unlock(&reopen_lock);
	return;
fail:
	outf("faultc guard: %s\n", err);
	_exit(3);
}

__attribute__((constructor)) static void guard_init(void)
{
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
	free(malloc(1));
}

__attribute__((destructor)) static void guard_fini(void)
{
	uint64_t t = atomic_load(&g.bad_touches), f = atomic_load(&g.bad_frees);

	if (g.keep_going && (t || f))
		outf("==faultc guard== %d: %lu bad touches, %lu bad frees\n", getpid(),
		     (unsigned long)t, (unsigned long)f);
}

/* ---- the allocator's entry points -------------------------------------- */

EXPORT void *malloc(size_t size)
{
	return guard_alloc(size, 1);
}

EXPORT void free(void *p)
{
	guard_free(p);
}

EXPORT void cfree(void *p)
{
	guard_free(p);
}

EXPORT void *calloc(size_t n, size_t size)
{
	size_t bytes;

	if (__builtin_mul_overflow(n, size, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = guard_alloc(bytes, 1);

	/*
	 * Fresh memory is zero: the arena's, pages resolved at malloc (copied
	 * from zeros) and, with a zeroing policy, pages resolved on first touch.
	 */
	if (p && !in_arena(p) && !g.zeroed && (bytes + PAGE - 1) / PAGE > g.eager_pages)
		memset(p, 0, bytes);
	return p;
}

EXPORT void *realloc(void *p, size_t size)
{
	if (!p)
		return guard_alloc(size, 1);
	if (!size && !in_arena(p)) {
		guard_free(p);
		return NULL;
	}
	size_t old;

	if (in_arena(p)) {
		old = ((uint64_t *)p)[-1];
	} else if (in_heap(p)) {
		pthread_mutex_lock(&g.lock);
		struct rec *r = live_rec(p, "invalid-realloc (inside an allocation)");

		if (!r)
			return NULL; /* reported, unlocked */
		old = r->size;
		pthread_mutex_unlock(&g.lock);
	} else {
		report_free("invalid-realloc (not from this allocator)", p, NULL);
		return NULL;
	}
	void *n = guard_alloc(size, 1);

	if (!n)
		return NULL;
	memcpy(n, p, old < size ? old : size);
	guard_free(p);
	return n;
}

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t bytes;

	if (__builtin_mul_overflow(n, size, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, bytes);
}

EXPORT void *memalign(size_t align, size_t size)
{
	if (!align || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	return guard_alloc(size, align);
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
	return memalign(align, size);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	if (!align || (align & (align - 1)) || align % sizeof(void *))
		return EINVAL;
	void *p = guard_alloc(size, align);

	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

EXPORT void *valloc(size_t size)
{
	return guard_alloc(size, PAGE);
}

EXPORT void *pvalloc(size_t size)
{
	return guard_alloc((size + PAGE - 1) & ~(PAGE - 1), PAGE);
}

EXPORT size_t malloc_usable_size(void *p)
{
	return p ? usable(p) : 0;
}
