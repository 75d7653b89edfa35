// SPDX-License-Identifier: GPL-2.0
/*
 * http sources for the uffd handler threads (see source_http.h and
 * docs/http-sources.md). libcurl's easy interface, one handle per
 * connection: a handler thread takes an idle handle from the pool (or makes
 * one), does its blocking range GET and gives the handle back, so each
 * connection stays alive across faults and as many requests are in flight
 * as threads are reading.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>

#include "faultc_abi.h"
#include "source_http.h"

#define DEFAULT_DEADLINE_MS 5000u
#define BACKOFF_FIRST_MS 5u
#define BACKOFF_MAX_MS 250u
#define VERSION_LEN 256

struct conn {
	CURL *curl;
	struct conn *next;
};

struct fc_http_source {
	char *url;
	uint64_t size;
	/* The version pinned at open: ETag if the server sends one, else Last-Modified. */
	char etag[VERSION_LEN];
	char last_modified[VERSION_LEN];
	/* Sent with every read, so a changed file answers 412 and no body. */
	struct curl_slist *precondition;
	unsigned deadline_ms;

	pthread_mutex_t lock;
	struct conn *idle;

	_Atomic uint64_t requests, retries, bytes, failures, read_ns, transfer_ns;
	_Atomic uint64_t connects, overlapped;
	_Atomic uint32_t in_flight; /* reads in progress */
	_Atomic uint32_t last_cause, last_status;
};

/* What one response said, filled by the callbacks. */
struct reply {
	uint8_t *dst;
	uint64_t cap, got;
	long status;
	bool overflow;
	bool has_range;
	uint64_t first, last, total; /* Content-Range; total UINT64_MAX for "*" */
	char etag[VERSION_LEN];
	char last_modified[VERSION_LEN];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int fc_http_is_url(const char *path)
{
	return strncmp(path, "http://", 7) == 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ms(void)
{
	return now_ns() / 1000000u;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- callbacks ---------------------------------------------------------- */

/* Copies a header's value (trimmed) if the line is `name: value`. */
static bool header_value(const char *line, size_t len, const char *name,
			 char *out, size_t outlen)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	const char *v = line + n + 1, *end = line + len;

	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	size_t vl = (size_t)(end - v) < outlen - 1 ? (size_t)(end - v) : outlen - 1;

	memcpy(out, v, vl);
	out[vl] = '\0';
	return true;
}

/* "bytes a-b/total" or "bytes * /total" (416). */
static void parse_content_range(struct reply *r, const char *v)
{
	unsigned long long a, b, t;

	if (sscanf(v, "bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
		r->first = a;
		r->last = b;
		r->total = t;
		r->has_range = true;
	} else if (sscanf(v, "bytes */%llu", &t) == 1) {
		r->first = r->last = UINT64_MAX;
		r->total = t;
		r->has_range = true;
	}
}

static size_t on_header(char *line, size_t size, size_t nitems, void *arg)
{
	struct reply *r = arg;
	size_t len = size * nitems;
	char v[VERSION_LEN];

	if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* A new status line (after a redirect or 100): forget the last. */
		const char *sp = memchr(line, ' ', len);

		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		r->has_range = false;
		r->etag[0] = r->last_modified[0] = '\0';
	} else if (header_value(line, len, "Content-Range", v, sizeof(v))) {
		parse_content_range(r, v);
	} else {
		header_value(line, len, "ETag", r->etag, sizeof(r->etag));
		header_value(line, len, "Last-Modified", r->last_modified, sizeof(r->last_modified));
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct reply *r = arg;
	size_t len = size * nmemb;

	if (r->status == 200)
		return 0; /* the whole file instead of a range: never download it */
	if (r->status != 206)
		return len; /* an error page: its status says it all */
	if (r->got + len > r->cap) {
		r->overflow = true;
		return 0;
	}
	memcpy(r->dst + r->got, data, len);
	r->got += len;
	return len;
}

/* ---- connections -------------------------------------------------------- */

static CURL *take_conn(struct fc_http_source *s)
{
	struct conn *c;

	pthread_mutex_lock(&s->lock);
	c = s->idle;
	if (c)
		s->idle = c->next;
	pthread_mutex_unlock(&s->lock);
	if (c) {
		CURL *curl = c->curl;

		free(c);
		return curl;
	}
	CURL *curl = curl_easy_init();

	if (!curl)
		return NULL;
	curl_easy_setopt(curl, CURLOPT_URL, s->url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* handler threads take no signals */
	curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	return curl;
}

static void give_conn(struct fc_http_source *s, CURL *curl)
{
	struct conn *c = malloc(sizeof(*c));

	if (!c) {
		curl_easy_cleanup(curl);
		return;
	}
	c->curl = curl;
	pthread_mutex_lock(&s->lock);
	c->next = s->idle;
	s->idle = c;
	pthread_mutex_unlock(&s->lock);
}

/* One GET of [off, off + len) (len 0: the probe's first byte). */
static CURLcode get_range(struct fc_http_source *s, CURL *curl, struct reply *r,
			  uint64_t off, uint64_t len, uint64_t timeout_ms,
			  struct curl_slist *headers)
{
	char range[64];

	snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, off, off + (len ? len : 1) - 1);
	curl_easy_setopt(curl, CURLOPT_RANGE, range);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(timeout_ms ? timeout_ms : 1));
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms ? timeout_ms : 1));
	atomic_fetch_add(&s->requests, 1);
	CURLcode rc = curl_easy_perform(curl);
	curl_off_t us = 0;
	long connects = 0;

	if (curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME_T, &us) == CURLE_OK && us > 0)
		atomic_fetch_add(&s->transfer_ns, (uint64_t)us * 1000u);
	if (curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
		atomic_fetch_add(&s->connects, (uint64_t)connects);
	return rc;
}

/* ---- open --------------------------------------------------------------- */

static struct fc_http_source *probe_fail(struct fc_http_source *s, CURL *curl, int err_no,
					 int *out_no)
{
	if (curl)
		curl_easy_cleanup(curl);
	*out_no = err_no;
	fc_http_close(s);
	return NULL;
}

/* Pins the size and version: a one-byte range GET, answered 206 (or 416 for
 * an empty file). Anything else means reads by range cannot work. */
struct fc_http_source *fc_http_open(const char *url, const struct fc_http_opts *o,
				    char *err, size_t errlen, int *err_no)
{
	struct fc_http_source *s;
	struct reply r = { 0 };
	uint8_t byte;
	CURL *curl;
	CURLcode rc;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		snprintf(err, errlen, "libcurl did not initialise: %s", curl_easy_strerror(curl_init_rc));
		*err_no = EIO;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->url = strdup(url))) {
		free(s);
		snprintf(err, errlen, "out of memory");
		*err_no = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->deadline_ms = o && o->deadline_ms ? o->deadline_ms : DEFAULT_DEADLINE_MS;
	curl = take_conn(s);
	if (!curl) {
		snprintf(err, errlen, "libcurl could not make a handle");
		return probe_fail(s, NULL, ENOMEM, err_no);
	}
	r.dst = &byte;
	r.cap = 1;
	rc = get_range(s, curl, &r, 0, 0, s->deadline_ms, NULL);
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && r.status == 200)) {
		snprintf(err, errlen, "cannot fetch source %s: %s", url, curl_easy_strerror(rc));
		return probe_fail(s, curl, rc == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT : ECONNREFUSED, err_no);
	}
	if (r.status == 200) {
		snprintf(err, errlen, "source %s: the server does not answer range requests (it sent the whole file)", url);
		return probe_fail(s, curl, EOPNOTSUPP, err_no);
	}
	if ((r.status != 206 && r.status != 416) || !r.has_range || r.total == UINT64_MAX ||
	    (r.status == 416 && r.total != 0)) {
		const char *why = "";

		if (r.status == 404)
			why = " (not found)";
		else if (!r.has_range)
			why = " without a Content-Range";

		snprintf(err, errlen, "cannot fetch source %s: the server answered %ld%s", url, r.status, why);
		return probe_fail(s, curl, r.status == 404 ? ENOENT : EIO, err_no);
	}
	s->size = r.total;
	snprintf(s->etag, sizeof(s->etag), "%s", r.etag);
	snprintf(s->last_modified, sizeof(s->last_modified), "%s", r.last_modified);

	char h[VERSION_LEN + 32] = "";

	/* Weak ETags never match If-Match: those are compared on arrival only. */
	if (s->etag[0] && strncmp(s->etag, "W/", 2) != 0)
		snprintf(h, sizeof(h), "If-Match: %s", s->etag);
	else if (!s->etag[0] && s->last_modified[0])
		snprintf(h, sizeof(h), "If-Unmodified-Since: %s", s->last_modified);
	if (h[0] && !(s->precondition = curl_slist_append(NULL, h))) {
		snprintf(err, errlen, "out of memory");
		return probe_fail(s, curl, ENOMEM, err_no);
	}
	give_conn(s, curl);
	return s;
}

uint64_t fc_http_size(const struct fc_http_source *s)
{
	return s->size;
}

/* ---- reads -------------------------------------------------------------- */

/* Whether the answer is of the pinned version. */
static bool same_version(const struct fc_http_source *s, const struct reply *r)
{
	if (s->etag[0])
		return strcmp(s->etag, r->etag) == 0;
	if (s->last_modified[0])
		return strcmp(s->last_modified, r->last_modified) == 0;
	return true;
}

/* What a status other than 206 means. */
static uint32_t status_cause(long status, bool *transient)
{
	switch (status) {
	case 404:
	case 410:
		return FAULTC_ERR_SOURCE_NOT_FOUND;
	case 412: /* If-Match failed */
	case 416: /* the range is no longer inside the file */
	case 200: /* a server that no longer answers ranges */
		return FAULTC_ERR_SOURCE_CHANGED;
	case 408:
	case 429:
		*transient = true;
		return FAULTC_ERR_SOURCE_HTTP_STATUS;
	default:
		*transient = status >= 500;
		return FAULTC_ERR_SOURCE_HTTP_STATUS;
	}
}

/* One try: 0, or a cause with *transient set when another try may succeed. */
static uint32_t try_read(struct fc_http_source *s, CURL *curl, uint8_t *dst,
			 uint64_t len, uint64_t off, uint64_t timeout_ms, bool *transient)
{
	struct reply r = { .dst = dst, .cap = len };
	CURLcode rc = get_range(s, curl, &r, off, len, timeout_ms, s->precondition);

	*transient = false;
	if (r.status)
		atomic_store(&s->last_status, (uint32_t)r.status);
	atomic_fetch_add(&s->bytes, r.got);
	switch (rc) {
	case CURLE_OK:
		break;
	case CURLE_WRITE_ERROR: /* on_body refused: a 200, or more than asked */
		return FAULTC_ERR_SOURCE_CHANGED;
	case CURLE_PARTIAL_FILE: /* the connection closed inside the body */
		*transient = true;
		return FAULTC_ERR_SOURCE_SHORT_BODY;
	case CURLE_OPERATION_TIMEDOUT:
		*transient = true;
		return FAULTC_ERR_SOURCE_TIMEOUT;
	default: /* refused, reset, nothing received... */
		*transient = true;
		return FAULTC_ERR_SOURCE_UNREACHABLE;
	}
	if (r.status != 206)
		return status_cause(r.status, transient);
	if (!same_version(s, &r) || !r.has_range || r.total != s->size ||
	    r.first != off || r.last != off + len - 1)
		return FAULTC_ERR_SOURCE_CHANGED;
	if (r.got != len)
		return FAULTC_ERR_SOURCE_SHORT_BODY;
	return 0;
}

uint32_t fc_http_read(struct fc_http_source *s, uint8_t *dst, uint64_t len, uint64_t off)
{
	uint64_t start = now_ns();
	uint64_t deadline = start / 1000000u + s->deadline_ms;
	uint64_t backoff = BACKOFF_FIRST_MS;
	uint32_t cause = FAULTC_ERR_SOURCE_TIMEOUT;
	CURL *curl;

	if (len == 0 || off + len > s->size)
		return FAULTC_ERR_PAST_END;
	curl = take_conn(s);
	if (!curl)
		return FAULTC_ERR_SOURCE_UNREACHABLE;
	if (atomic_fetch_add(&s->in_flight, 1))
		atomic_fetch_add(&s->overlapped, 1);
	for (;;) {
		uint64_t now = now_ms();
		bool transient;

		if (now >= deadline)
			break;
		cause = try_read(s, curl, dst, len, off, deadline - now, &transient);
		if (!cause || !transient)
			break;
		now = now_ms();
		if (now + backoff >= deadline)
			break;
		sleep_ms(backoff);
		backoff = backoff * 2 < BACKOFF_MAX_MS ? backoff * 2 : BACKOFF_MAX_MS;
		atomic_fetch_add(&s->retries, 1);
	}
	atomic_fetch_sub(&s->in_flight, 1);
	give_conn(s, curl);
	atomic_fetch_add(&s->read_ns, now_ns() - start);
	if (cause) {
		atomic_fetch_add(&s->failures, 1);
		atomic_store(&s->last_cause, cause);
	}
	return cause;
}

void fc_http_get_stats(struct fc_http_source *s, struct fc_http_stats *out)
{
	out->requests = atomic_load(&s->requests);
	out->retries = atomic_load(&s->retries);
	out->bytes = atomic_load(&s->bytes);
	out->failures = atomic_load(&s->failures);
	out->read_ns = atomic_load(&s->read_ns);
	out->transfer_ns = atomic_load(&s->transfer_ns);
	out->connects = atomic_load(&s->connects);
	out->overlapped = atomic_load(&s->overlapped);
	out->last_cause = atomic_load(&s->last_cause);
	out->last_status = atomic_load(&s->last_status);
}

void fc_http_close(struct fc_http_source *s)
{
	if (!s)
		return;
	while (s->idle) {
		struct conn *c = s->idle;

		s->idle = c->next;
		curl_easy_cleanup(c->curl);
		free(c);
	}
	curl_slist_free_all(s->precondition);
	pthread_mutex_destroy(&s->lock);
	free(s->url);
	free(s);
}
