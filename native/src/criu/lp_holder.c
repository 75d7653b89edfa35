// SPDX-License-Identifier: GPL-2.0
/*
 * The holder (see lp_holder.h and docs/criu.md).
 *
 * It is forked from a multi-threaded process (node), so after fork() it
 * only makes system calls: no malloc, no stdio, no locks. Its task table
 * is allocated before the fork. The control socket is SOCK_SEQPACKET: one
 * struct hold_msg per message, ADD carrying the uffd with SCM_RIGHTS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "lp_holder.h"

#define PAGE 4096ull
#define HOLD_MAX 1024
#define HOLD_POLL_MS 200
#define HOLD_SIGBUS_GRACE_NS 1000000000ull
#define HOLD_CTL 3 /* the control socket's descriptor in the holder */
#define TASK_TOP 0x7ffffffff000ull /* x86-64 user space end (4-level paging) */

enum {
	HOLD_ADD = 1,
	HOLD_PID,
	HOLD_BYE,
};

struct hold_msg {
	uint32_t kind;
	uint32_t slot;
	int32_t pid;
};

struct hold_task {
	int uffd; /* -1: free, or the task is gone */
	int pidfd;
	int32_t pid; /* 0: not known (forked after the restore) */
	bool reported;
	uint64_t sigbus_at;
};

struct hold_state {
	struct hold_task t[HOLD_MAX];
	size_t n;
	uint64_t lo; /* lowest address a range may start at */
	const void *no_src; /* a PROT_NONE page: a copy from it installs nothing */
	struct pollfd pfd[2 * HOLD_MAX];
	struct hold_task *who[2 * HOLD_MAX];
};

/* ---- output without stdio ---- */

static size_t put_str(char *b, size_t at, const char *s)
{
	while (*s && at < 511)
		b[at++] = *s++;
	return at;
}

static size_t put_u64(char *b, size_t at, uint64_t v, unsigned base)
{
	char d[24];
	int n = 0;

	do {
		d[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (base == 16)
		at = put_str(b, at, "0x");
	while (n && at < 511)
		b[at++] = d[--n];
	return at;
}

/* One JSON line on stderr: the error event of a task the daemon left. */
static void report(const struct hold_task *t, uint64_t addr, const char *what)
{
	char b[512];
	size_t n = put_str(b, 0, "{\"event\":\"error\",\"code\":\"FAULTC_CRIU_DAEMON_GONE\",\"pid\":");

	n = put_u64(b, n, (uint64_t)(t->pid > 0 ? t->pid : 0), 10);
	n = put_str(b, n, ",\"address\":\"");
	n = put_u64(b, n, addr, 16);
	n = put_str(b, n, "\",\"message\":\"");
	n = put_str(b, n, what);
	n = put_str(b, n, "\"}\n");
	if (write(2, b, n) < 0)
		return;
}

/* ---- the holder ---- */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void release(struct hold_task *t)
{
	if (t->uffd >= 0)
		close(t->uffd);
	if (t->pidfd >= 0)
		close(t->pidfd);
	t->uffd = t->pidfd = -1;
}

static struct hold_task *add_task(struct hold_state *s, uint32_t slot, int32_t pid, int uffd)
{
	struct hold_task *t;

	if (slot >= HOLD_MAX) {
		close(uffd);
		return NULL;
	}
	t = &s->t[slot];
	t->uffd = uffd;
	t->pidfd = -1;
	t->pid = pid;
	if (slot >= s->n)
		s->n = slot + 1;
	return t;
}

static int free_slot(struct hold_state *s)
{
	for (size_t i = 0; i < HOLD_MAX; i++)
		if (s->t[i].uffd < 0)
			return (int)i;
	return -1;
}

/* One control message; false once the daemon has gone (EOF, error, bye). */
static bool take_msg(struct hold_state *s, bool *bye)
{
	struct hold_msg m;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int fd = -1;
	ssize_t n = recvmsg(HOLD_CTL, &mh, MSG_CMSG_CLOEXEC);

	if (n < 0 && errno == EINTR)
		return true;
	if (n != (ssize_t)sizeof(m))
		return false;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	switch (m.kind) {
	case HOLD_ADD:
		if (fd >= 0)
			add_task(s, m.slot, m.pid, fd);
		return true;
	case HOLD_PID:
		if (m.slot < HOLD_MAX)
			s->t[m.slot].pid = m.pid;
		return true;
	case HOLD_BYE:
		*bye = true;
		return false;
	}
	if (fd >= 0)
		close(fd);
	return true;
}

/* Wakes every thread blocked on t's faults: those the daemon read and never
 * answered fault again, and the holder sees them. */
static void wake_all(const struct hold_state *s, const struct hold_task *t)
{
	struct uffdio_range r = { .start = s->lo, .len = TASK_TOP - s->lo };

	ioctl(t->uffd, UFFDIO_WAKE, &r);
}

/* Whether t's mm is gone: a copy from an unreadable page installs nothing
 * and answers ESRCH only once the mm has exited. */
static bool mm_gone(const struct hold_state *s, const struct hold_task *t)
{
	struct uffdio_copy c = {
		.dst = s->lo,
		.src = (uint64_t)(uintptr_t)s->no_src,
		.len = PAGE,
		.mode = UFFDIO_COPY_MODE_DONTWAKE,
	};

	return ioctl(t->uffd, UFFDIO_COPY, &c) && errno == ESRCH;
}

static void on_fault(struct hold_task *t, uint64_t addr)
{
	uint64_t now = mono_ns();
	siginfo_t si;

	if (!t->reported) {
		if (t->pid > 0)
			report(t, addr, "the daemon ended with this page missing: SIGBUS");
		else
			report(t, addr, "the daemon ended with this page missing; the task forked after the restore has no known pid and stays blocked on it");
	}
	t->reported = true;
	if (t->pid <= 0)
		return; /* never woken: it cannot read a zero page */
	if (t->sigbus_at && now - t->sigbus_at > HOLD_SIGBUS_GRACE_NS) {
		kill(t->pid, SIGKILL);
	} else {
		memset(&si, 0, sizeof(si));
		si.si_signo = SIGBUS;
		si.si_code = SI_QUEUE;
		si.si_addr = (void *)(uintptr_t)addr;
		if (syscall(SYS_rt_sigqueueinfo, t->pid, SIGBUS, &si))
			kill(t->pid, SIGBUS);
		if (!t->sigbus_at)
			t->sigbus_at = now;
	}
	struct uffdio_range r = { .start = addr & ~(PAGE - 1), .len = PAGE };

	ioctl(t->uffd, UFFDIO_WAKE, &r);
}

static void drain(struct hold_state *s, struct hold_task *t)
{
	struct uffd_msg msgs[16];

	for (;;) {
		ssize_t n = read(t->uffd, msgs, sizeof(msgs));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (ssize_t i = 0; i < n / (ssize_t)sizeof(msgs[0]); i++) {
			const struct uffd_msg *m = &msgs[i];

			if (m->event == UFFD_EVENT_PAGEFAULT) {
				on_fault(t, m->arg.pagefault.address);
			} else if (m->event == UFFD_EVENT_FORK) {
				int slot = free_slot(s);

				if (slot < 0)
					close((int)m->arg.fork.ufd);
				else
					add_task(s, (uint32_t)slot, 0, (int)m->arg.fork.ufd);
			} else if (m->event == UFFD_EVENT_REMOVE) {
				/* MADV_DONTNEED asks for zeros there: the kernel's to give. */
				struct uffdio_range r = { m->arg.remove.start, m->arg.remove.end - m->arg.remove.start };

				ioctl(t->uffd, UFFDIO_UNREGISTER, &r);
			}
		}
	}
}

/* The daemon is gone with pages missing: every fault gets SIGBUS. */
static void __attribute__((noreturn)) take_over(struct hold_state *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct hold_task *t = &s->t[i];

		if (t->uffd < 0)
			continue;
		if (t->pid > 0)
			t->pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0);
		fcntl(t->uffd, F_SETFL, fcntl(t->uffd, F_GETFL) | O_NONBLOCK);
		wake_all(s, t);
	}
	for (;;) {
		nfds_t n = 0;

		for (size_t i = 0; i < s->n; i++) {
			struct hold_task *t = &s->t[i];

			if (t->uffd < 0)
				continue;
			if (t->pidfd < 0 && mm_gone(s, t)) {
				release(t);
				continue;
			}
			s->pfd[n] = (struct pollfd){ t->uffd, POLLIN, 0 };
			s->who[n++] = t;
			if (t->pidfd >= 0) {
				s->pfd[n] = (struct pollfd){ t->pidfd, POLLIN, 0 };
				s->who[n++] = t;
			}
		}
		if (n == 0)
			_exit(0);
		if (poll(s->pfd, n, HOLD_POLL_MS) < 0 && errno != EINTR)
			_exit(1);
		for (nfds_t k = 0; k < n; k++) {
			struct hold_task *t = s->who[k];

			if (!s->pfd[k].revents || t->uffd < 0)
				continue;
			if (s->pfd[k].fd == t->pidfd)
				release(t); /* the task exited */
			else
				drain(s, t);
		}
	}
}

static void __attribute__((noreturn)) holder_main(struct hold_state *s, int ctl)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };
	bool bye = false;

	/* A terminal's ^C or a SIGTERM for the daemon's group must not take
	 * the duplicates away: only the daemon's end or SIGKILL ends it. */
	sigaction(SIGINT, &ign, NULL);
	sigaction(SIGTERM, &ign, NULL);
	sigaction(SIGHUP, &ign, NULL);
	sigaction(SIGPIPE, &ign, NULL);
	prctl(PR_SET_NAME, "faultc-lp-hold", 0, 0, 0);
	if (ctl != HOLD_CTL && dup2(ctl, HOLD_CTL) < 0)
		_exit(1);
	/* Keep stderr for the error events; nothing else of the daemon's. */
	close(0);
	close(1);
	syscall(SYS_close_range, HOLD_CTL + 1, ~0u, 0);
	while (take_msg(s, &bye))
		;
	if (bye)
		_exit(0);
	take_over(s);
}

static uint64_t mmap_floor(void)
{
	unsigned long v = 65536;
	FILE *f = fopen("/proc/sys/vm/mmap_min_addr", "r");

	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 65536;
		fclose(f);
	}
	return (v + PAGE - 1) & ~(PAGE - 1);
}

int lp_holder_start(struct lp_holder *h)
{
	struct hold_state *s = calloc(1, sizeof(*s));
	void *none = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int sv[2], e;
	pid_t pid;

	h->ctl = -1;
	h->pid = 0;
	if (!s || none == MAP_FAILED) {
		e = ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < HOLD_MAX; i++)
		s->t[i] = (struct hold_task){ .uffd = -1, .pidfd = -1 };
	s->lo = mmap_floor();
	s->no_src = none;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		e = errno;
		goto fail;
	}
	pid = fork();
	if (pid == 0)
		holder_main(s, sv[1]);
	e = errno;
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		goto fail;
	}
	free(s);
	munmap(none, PAGE);
	h->ctl = sv[0];
	h->pid = pid;
	return 0;
fail:
	free(s);
	if (none != MAP_FAILED)
		munmap(none, PAGE);
	return -e;
}

static int send_msg(struct lp_holder *h, const struct hold_msg *m, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { (void *)m, sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (h->ctl < 0)
		return -EPIPE;
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	}
	while (sendmsg(h->ctl, &mh, MSG_NOSIGNAL) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int lp_holder_add(struct lp_holder *h, uint32_t slot, int32_t pid, int uffd)
{
	struct hold_msg m = { HOLD_ADD, slot, pid };

	return send_msg(h, &m, uffd);
}

int lp_holder_set_pid(struct lp_holder *h, uint32_t slot, int32_t pid)
{
	struct hold_msg m = { HOLD_PID, slot, pid };

	return send_msg(h, &m, -1);
}

void lp_holder_end(struct lp_holder *h, int bye)
{
	struct hold_msg m = { HOLD_BYE, 0, 0 };

	if (h->ctl < 0)
		return;
	if (bye)
		send_msg(h, &m, -1);
	close(h->ctl);
	h->ctl = -1;
	/* A holder that said goodbye exits at once; one that took over is
	 * reaped by init once its tasks are gone (it is no child to wait for
	 * then: the daemon is about to exit). */
	if (bye)
		waitpid(h->pid, NULL, 0);
}
