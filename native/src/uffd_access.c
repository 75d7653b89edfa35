// SPDX-License-Identifier: GPL-2.0
/*
 * Tries every way to a userfaultfd (see native/include/uffd_access.h).
 * A seccomp filter answers for the system call only; the device is opened
 * with open(2) and ioctl(2), which container profiles allow.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "uffd_access.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

static unsigned long long api_features(int fd)
{
	struct uffdio_api api = { .api = UFFD_API };
	unsigned long long f = 0;

	if (ioctl(fd, UFFDIO_API, &api) == 0)
		f = api.features;
	close(fd);
	return f;
}

/* 0 and the features into *features (when not set yet), or the errno. */
static int try_fd(int fd, unsigned long long *features)
{
	if (fd < 0)
		return errno;
	if (*features)
		close(fd);
	else
		*features = api_features(fd);
	return 0;
}

void fc_uffd_access_probe(struct fc_uffd_access *a)
{
	int flags = O_CLOEXEC | O_NONBLOCK;
	int dev;

	memset(a, 0, sizeof(*a));
	a->syscall_err = try_fd((int)syscall(SYS_userfaultfd, flags), &a->features);
	a->user_mode_err = try_fd((int)syscall(SYS_userfaultfd, flags | UFFD_USER_MODE_ONLY),
				  &a->features);
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		a->dev_err = errno;
		return;
	}
	a->dev_ioctl_err = try_fd(ioctl(dev, USERFAULTFD_IOC_NEW, flags), &a->features);
	close(dev);
}
