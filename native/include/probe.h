/* What this machine offers the engines, asked of the kernel directly. */
#ifndef FAULTC_PROBE_H
#define FAULTC_PROBE_H
#include <stdint.h>

struct faultc_uffd_probe {
	int err; /* 0, or the errno of the first step that failed */
	const char *step; /* "userfaultfd" or "UFFDIO_API" when err != 0 */
	int user_mode_only; /* 1 when only UFFD_USER_MODE_ONLY was allowed */
	uint64_t features; /* UFFDIO_API features the kernel offers */
	uint64_t ioctls; /* UFFDIO_API ioctls bitmask */
};

void faultc_probe_uffd(struct faultc_uffd_probe *p);

/* libbpf's version as "MAJOR.MINOR". */
const char *faultc_libbpf_version(void);

#endif
