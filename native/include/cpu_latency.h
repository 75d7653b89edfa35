/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A CPU wake-up latency request (PM QoS, /dev/cpu_dma_latency) that the
 * userfaultfd handlers hold while faults stream, so that idle CPUs poll
 * instead of halting and a hand-off between a faulting thread and its handler
 * does not wait for a halted CPU to wake (see docs/uffd-engine.md).
 */
#ifndef FAULTC_CPU_LATENCY_H
#define FAULTC_CPU_LATENCY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct fc_cpu_latency {
	int fd; /* -1: no request can be made (not root) */
	_Atomic bool held;
	_Atomic uint64_t last_use_ns; /* the last fault seen while held */
};

/* Opens the request without constraining anything; false if not permitted. */
bool fc_cpu_latency_open(struct fc_cpu_latency *l);
/* Asks for polling idle CPUs (a latency bound of 0 µs); idempotent. */
void fc_cpu_latency_hold(struct fc_cpu_latency *l, uint64_t now_ns);
/* Drops the bound if nothing used it for linger_ns; true if it is released. */
bool fc_cpu_latency_release_idle(struct fc_cpu_latency *l, uint64_t now_ns, uint64_t linger_ns);
void fc_cpu_latency_close(struct fc_cpu_latency *l);

#endif
