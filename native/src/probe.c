// Feature probes for `faultc features`: userfaultfd as the uffd engine opens
// it (full, then user-mode-only) and the features its UFFDIO_API handshake
// offers; libbpf's version.
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "probe.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

static int open_uffd(int flags)
{
	return (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK | flags);
}

void faultc_probe_uffd(struct faultc_uffd_probe *p)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	int fd;

	*p = (struct faultc_uffd_probe){ 0 };
	fd = open_uffd(0);
	if (fd < 0 && (errno == EPERM || errno == EACCES)) {
		fd = open_uffd(UFFD_USER_MODE_ONLY);
		p->user_mode_only = fd >= 0;
	}
	if (fd < 0) {
		p->err = errno;
		p->step = "userfaultfd";
		return;
	}
	/* features = 0 asks for nothing and reports everything available. */
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		p->err = errno;
		p->step = "UFFDIO_API";
	} else {
		p->features = api.features;
		p->ioctls = api.ioctls;
	}
	close(fd);
}

const char *faultc_libbpf_version(void)
{
	static char v[32];

	snprintf(v, sizeof(v), "%u.%u", libbpf_major_version(), libbpf_minor_version());
	return v;
}
