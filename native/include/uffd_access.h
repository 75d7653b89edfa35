/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What opening a userfaultfd meets in this process: each way in, tried
 * once, and the errno it failed with (0: it works). runtime/uffd-access.ts
 * reads the rest (seccomp, capabilities, the sysctl, the device node) and
 * says why userfaultfd is refused.
 */
#ifndef FAULTC_UFFD_ACCESS_H
#define FAULTC_UFFD_ACCESS_H

struct fc_uffd_access {
	int syscall_err; /* userfaultfd(2): faults in system calls too */
	int user_mode_err; /* userfaultfd(2) with UFFD_USER_MODE_ONLY */
	int dev_err; /* open("/dev/userfaultfd", O_RDWR) */
	int dev_ioctl_err; /* USERFAULTFD_IOC_NEW on it; 0 when not opened */
	unsigned long long features; /* UFFDIO_API of the first way that worked */
};

void fc_uffd_access_probe(struct fc_uffd_access *a);

#endif
