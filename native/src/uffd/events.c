// SPDX-License-Identifier: GPL-2.0
/*
 * The event queue: handler threads push, the binding drains. A full queue
 * counts what it drops; the callback fires when the queue stops being empty.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "internal.h"

void fc_push_event(struct fc_engine *e, const struct fc_region *r,
		   uint64_t addr, uint32_t tid, uint32_t handler,
		   uint32_t write, uint32_t action, uint32_t pages,
		   uint32_t error)
{
	struct faultc_event ev = {
		.time_ns = now_ns(),
		.address = addr,
		.offset = addr - r->start,
		.region = r->policy_region,
		.pid = (uint32_t)e->pid,
		.tid = tid,
		.handler = handler,
		.write = write,
		.action = action,
		.pages = pages,
		.error = error,
	};
	bool call = false;

	pthread_mutex_lock(&e->ev_lock);
	if (e->ev_len == EVENT_QUEUE_CAP) {
		e->ev_lost++;
	} else {
		e->ev[(e->ev_head + e->ev_len) % EVENT_QUEUE_CAP] = ev;
		e->ev_len++;
		if (!e->ev_signalled) {
			e->ev_signalled = true;
			call = true;
		}
	}
	pthread_mutex_unlock(&e->ev_lock);
	if (call && e->on_events)
		e->on_events(e->ctx);
}

size_t fc_engine_drain_events(struct fc_engine *e, struct faultc_event *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&e->ev_lock);
	while (n < max && e->ev_len) {
		out[n++] = e->ev[e->ev_head];
		e->ev_head = (e->ev_head + 1) % EVENT_QUEUE_CAP;
		e->ev_len--;
	}
	/* Only an empty queue re-arms the callback. */
	if (!e->ev_len)
		e->ev_signalled = false;
	pthread_mutex_unlock(&e->ev_lock);
	return n;
}

uint64_t fc_engine_lost_events(struct fc_engine *e)
{
	uint64_t n;

	pthread_mutex_lock(&e->ev_lock);
	n = e->ev_lost;
	pthread_mutex_unlock(&e->ev_lock);
	return n;
}
