/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What kernels after Debian 12's uapi headers (6.1) added, for the engines
 * built against those headers. Each is used only where the running kernel
 * says it exists (UFFDIO_API features, EINVAL from madvise...).
 */
#ifndef FAULTC_COMMON_COMPAT_H
#define FAULTC_COMMON_COMPAT_H

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/userfaultfd.h>

#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1ULL << 14)
#endif
#ifndef _UFFDIO_POISON
#define _UFFDIO_POISON (0x08)
struct uffdio_poison {
	struct uffdio_range range;
	__u64 mode;
	__s64 updated;
};
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#endif
