// SPDX-License-Identifier: GPL-2.0
/*
 * The traced command of bench/trace-startup.ts: prints the CLOCK_MONOTONIC
 * time at which its main() runs, the first moment a traced command does
 * anything of its own, as "faultc-stamp NS", then exits 0.
 */
#include <stdio.h>
#include <time.h>

int main(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	printf("faultc-stamp %lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	return 0;
}
