// SPDX-License-Identifier: GPL-2.0
/*
 * The lazy-pages socket: an AF_UNIX stream socket at a path the daemon
 * creates. `criu restore --lazy-pages` connects once and sends, per task, a
 * 4-byte pid then the task's userfaultfd with SCM_RIGHTS (one data byte rides
 * with it); a zombie is a negative pid and no fd; after the last task, the
 * 4-byte LP_RESTORE_FINISHED. Every read goes through recvmsg with room for
 * a descriptor, so an fd is never dropped by a read that did not expect it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lp_socket.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * A path too long for sun_path is reached through its directory's
 * descriptor: /proc/self/fd/N/<name> (CRIU itself connects by a relative
 * name from the images directory, so any length works there).
 */
static int fill_addr(struct sockaddr_un *sa, const char *path, int *dirfd)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];

	*dirfd = -1;
	if (strlen(path) < sizeof(sa->sun_path)) {
		strcpy(sa->sun_path, path);
		return 0;
	}
	if (!slash || (size_t)(slash - path) >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, slash - path);
	dir[slash - path] = 0;
	*dirfd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0)
		return -errno;
	if (snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", *dirfd, slash + 1) >=
	    (int)sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

/* Binds path (which must not exist: EADDRINUSE then) and listens. -errno. */
int lp_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, e, dirfd, r = fill_addr(&sa, path, &dirfd);

	if (r) {
		if (dirfd >= 0)
			close(dirfd);
		return r;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		e = errno;
	else if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1)) {
		e = errno;
		close(fd);
		fd = -1;
	}
	if (dirfd >= 0)
		close(dirfd);
	return fd < 0 ? -e : fd;
}

/* Only the daemon's own user or root may hand it a process. */
int lp_peer_allowed(int sock, char *err, size_t errlen)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		set_err(err, errlen, "SO_PEERCRED: %s", strerror(errno));
		return -errno;
	}
	if (cred.uid != 0 && cred.uid != geteuid()) {
		set_err(err, errlen, "peer pid %d runs as uid %u, not root or uid %u: refused",
			cred.pid, cred.uid, geteuid());
		return -EPERM;
	}
	return 0;
}

/* Reads exactly len bytes; the first descriptor that comes with them goes to *fd. */
static int recv_exact(int sock, void *buf, size_t len, int *fd)
{
	size_t got = 0;

	while (got < len) {
		char control[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { (char *)buf + got, len - got };
		struct msghdr mh = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = control,
			.msg_controllen = sizeof(control),
		};
		struct cmsghdr *c;
		ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return got ? -EPROTO : 0;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				int in;

				memcpy(&in, CMSG_DATA(c), sizeof(in));
				if (fd && *fd < 0)
					*fd = in;
				else
					close(in);
			}
		}
		if (mh.msg_flags & MSG_CTRUNC)
			return -EPROTO;
		got += n;
	}
	return 1;
}

/* The next message of the restore. 0, or -errno with err filled. */
int lp_recv_msg(int sock, struct lp_msg *m, char *err, size_t errlen)
{
	int32_t word;
	char dummy;
	int r;

	m->fd = -1;
	r = recv_exact(sock, &word, sizeof(word), &m->fd);
	if (r == 0) {
		m->kind = LP_MSG_EOF;
		return 0;
	}
	if (r < 0)
		goto fail;
	if ((uint32_t)word == LP_RESTORE_FINISHED) {
		m->kind = LP_MSG_FINISHED;
		return 0;
	}
	m->pid = word;
	if (word < 0) {
		m->kind = LP_MSG_ZOMBIE;
		return 0;
	}
	if (m->fd < 0) {
		r = recv_exact(sock, &dummy, 1, &m->fd);
		if (r == 0)
			r = -EPROTO;
		if (r < 0)
			goto fail;
	}
	if (m->fd < 0) {
		set_err(err, errlen, "the restore sent pid %d without its userfaultfd", word);
		return -EPROTO;
	}
	m->kind = LP_MSG_TASK;
	return 0;
fail:
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	set_err(err, errlen, "reading the lazy-pages socket: %s", strerror(-r));
	return r;
}
