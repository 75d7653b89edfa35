// SPDX-License-Identifier: GPL-2.0
/* CPU wake-up latency request held while faults stream (cpu_latency.h). */
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "cpu_latency.h"

/* PM_QOS_CPU_LATENCY_DEFAULT_VALUE: the same as no request. */
#define NO_BOUND 2000000000

static void request(struct fc_cpu_latency *l, int32_t us)
{
	/* The device takes a binary s32; a failed write leaves the old bound. */
	if (write(l->fd, &us, sizeof(us)) != sizeof(us))
		return;
}

bool fc_cpu_latency_open(struct fc_cpu_latency *l)
{
	l->fd = open("/dev/cpu_dma_latency", O_WRONLY | O_CLOEXEC);
	atomic_store(&l->held, false);
	atomic_store(&l->last_use_ns, 0);
	if (l->fd < 0)
		return false;
	request(l, NO_BOUND);
	return true;
}

void fc_cpu_latency_hold(struct fc_cpu_latency *l, uint64_t now_ns)
{
	if (l->fd < 0)
		return;
	atomic_store_explicit(&l->last_use_ns, now_ns, memory_order_relaxed);
	if (!atomic_load_explicit(&l->held, memory_order_relaxed) &&
	    !atomic_exchange(&l->held, true))
		request(l, 0);
}

bool fc_cpu_latency_release_idle(struct fc_cpu_latency *l, uint64_t now_ns, uint64_t linger_ns)
{
	if (l->fd < 0 || !atomic_load(&l->held))
		return true;
	if (now_ns - atomic_load(&l->last_use_ns) < linger_ns)
		return false;
	if (atomic_exchange(&l->held, false))
		request(l, NO_BOUND);
	return true;
}

void fc_cpu_latency_close(struct fc_cpu_latency *l)
{
	/* Closing the device removes the request. */
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}
