// SPDX-License-Identifier: GPL-2.0
/*
 * `defer` with a user-space handler (docs/http-sources.md, "defer"): the
 * handler thread that took the fault queues a request, wakes the handler
 * through the engine's notify callback (the addon's notifier: JavaScript
 * then takes the queued requests with fc_engine_defer_take()) and waits, up
 * to the deadline, for fc_engine_defer_reply() with the page's bytes, zeros
 * or SIGBUS. Past the deadline, or when the engine stops, the fault fails:
 * SIGBUS and an error event, never zeros. The requests live on the waiting
 * threads' stacks: nothing is allocated, so nothing leaks when nobody takes
 * them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

struct fc_defer_wait {
	struct fc_defer_request req;
	bool taken; /* handed to the handler by fc_engine_defer_take() */
	bool answered;
	uint32_t kind; /* enum fc_defer_answer */
	uint8_t *page; /* the handler thread's buffer */
	struct fc_defer_wait *next;
};

void fc_engine_set_defer(struct fc_engine *e, fc_defer_notify_fn notify, void *ctx,
			 unsigned deadline_ms)
{
	pthread_mutex_lock(&e->defer_lock);
	e->defer_fn = notify;
	e->defer_ctx = ctx;
	e->defer_deadline_ms = deadline_ms ? deadline_ms : FC_DEFER_DEFAULT_DEADLINE_MS;
	if (notify)
		atomic_store(&e->blocking, true);
	/* Without a handler `defer` maps zeros: so do the requests nobody took. */
	for (struct fc_defer_wait *w = e->defer_waits; w && !notify; w = w->next) {
		if (w->taken || w->answered)
			continue;
		w->kind = FC_DEFER_ZERO;
		w->answered = true;
		pthread_cond_broadcast(&e->defer_cond);
	}
	pthread_mutex_unlock(&e->defer_lock);
}

size_t fc_engine_defer_take(struct fc_engine *e, struct fc_defer_request *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&e->defer_lock);
	for (struct fc_defer_wait *w = e->defer_waits; w && n < max; w = w->next) {
		if (w->taken || w->answered)
			continue;
		w->taken = true;
		out[n++] = w->req;
	}
	pthread_mutex_unlock(&e->defer_lock);
	return n;
}

bool fc_defer_enabled(struct fc_engine *e)
{
	bool on;

	pthread_mutex_lock(&e->defer_lock);
	on = e->defer_fn && !e->defer_closed;
	pthread_mutex_unlock(&e->defer_lock);
	return on;
}

int fc_engine_defer_reply(struct fc_engine *e, uint64_t id, uint32_t kind,
			  const uint8_t *bytes, size_t len)
{
	struct fc_defer_wait *w;
	int rc = -ENOENT;

	if (kind > FC_DEFER_FAILED || len > PAGE)
		return -EINVAL;
	pthread_mutex_lock(&e->defer_lock);
	for (w = e->defer_waits; w; w = w->next) {
		if (w->req.id != id || w->answered)
			continue;
		if (kind == FC_DEFER_PAGE) {
			memcpy(w->page, bytes, len);
			memset(w->page + len, 0, PAGE - len);
		}
		w->kind = kind;
		w->answered = true;
		pthread_cond_broadcast(&e->defer_cond);
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&e->defer_lock);
	return rc;
}

void fc_defer_close(struct fc_engine *e)
{
	pthread_mutex_lock(&e->defer_lock);
	e->defer_closed = true;
	pthread_cond_broadcast(&e->defer_cond);
	pthread_mutex_unlock(&e->defer_lock);
}

static void unlink_wait(struct fc_engine *e, struct fc_defer_wait *w)
{
	for (struct fc_defer_wait **p = &e->defer_waits; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			return;
		}
	}
}

uint32_t fc_defer_ask(struct fc_engine *e, const struct fc_region *r, uint64_t addr,
		      uint32_t write, uint32_t tid, uint8_t *page, uint32_t *kind)
{
	struct fc_defer_wait w = {
		.req = {
			.region = r->policy_region,
			.offset = addr - r->start,
			.address = addr,
			.tid = tid,
			.write = write,
		},
		.page = page,
	};
	struct timespec until;
	uint32_t error = 0;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	pthread_mutex_lock(&e->defer_lock);
	if (!e->defer_fn || e->defer_closed) {
		pthread_mutex_unlock(&e->defer_lock);
		return FAULTC_ERR_DEFER_FAILED;
	}
	uint64_t ns = (uint64_t)until.tv_nsec + (uint64_t)e->defer_deadline_ms * 1000000ull;

	until.tv_sec += (time_t)(ns / 1000000000ull);
	until.tv_nsec = (long)(ns % 1000000000ull);
	w.req.id = ++e->defer_next_id;
	/* At the tail: fc_engine_defer_take() hands out the oldest first. */
	struct fc_defer_wait **tail = &e->defer_waits;

	while (*tail)
		tail = &(*tail)->next;
	*tail = &w;
	/* The callback only wakes the handler: it must not block. */
	if (e->defer_fn(e->defer_ctx) != 0) {
		unlink_wait(e, &w);
		pthread_mutex_unlock(&e->defer_lock);
		return FAULTC_ERR_DEFER_FAILED;
	}
	while (!w.answered && !e->defer_closed && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&e->defer_cond, &e->defer_lock, &until);
	unlink_wait(e, &w);
	if (!w.answered)
		error = e->defer_closed ? FAULTC_ERR_DEFER_FAILED : FAULTC_ERR_DEFER_TIMEOUT;
	else if (w.kind == FC_DEFER_FAILED)
		error = FAULTC_ERR_DEFER_FAILED;
	pthread_mutex_unlock(&e->defer_lock);
	*kind = w.kind;
	return error;
}
