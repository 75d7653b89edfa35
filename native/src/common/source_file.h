/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Opening a policy's source: a regular file, opened without blocking (a
 * FIFO would wait for a writer for ever; a directory or a device has no
 * pages to copy).
 */
#ifndef FAULTC_COMMON_SOURCE_FILE_H
#define FAULTC_COMMON_SOURCE_FILE_H

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

/* The source's fd (its stat in *st), or -errno with the reason in err. */
static inline int open_source_file(const char *path, struct stat *st, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	int rc;

	if (fd < 0 || fstat(fd, st) < 0) {
		rc = errno;
		if (fd >= 0)
			close(fd);
		set_err(err, errlen, "cannot open source %s: %s", path, strerror(rc));
		return -rc;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		set_err(err, errlen, "source %s is not a regular file", path);
		return -EINVAL;
	}
	return fd;
}

#endif
