/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A source whose bytes are on an http server (docs/http-sources.md): the
 * uffd handler threads read a run of pages with one range GET, over a pool
 * of kept-alive connections (one per thread reading at once). The file's
 * size and version (ETag, else Last-Modified) are pinned at open; every
 * later answer must be of that version.
 *
 * fc_http_read() retries transient failures (no connection, 5xx, 408, 429,
 * a body cut short) with back-off until the page's deadline, and answers
 * with the cause when it gives up: the caller turns that into SIGBUS and an
 * error event, never into zeros.
 */
#ifndef FAULTC_SOURCE_HTTP_H
#define FAULTC_SOURCE_HTTP_H
#include <stddef.h>
#include <stdint.h>

struct fc_http_source;

struct fc_http_opts {
	unsigned deadline_ms; /* per read, retries included; 0: the default (5 s) */
};

struct fc_http_stats {
	uint64_t requests; /* range GETs sent, retries included */
	uint64_t retries;
	uint64_t bytes; /* body bytes received into pages */
	uint64_t failures; /* reads given up (a cause returned) */
	uint64_t read_ns; /* time in fc_http_read(), retries and back-off included */
	uint64_t transfer_ns; /* of which libcurl's own transfer time (CURLINFO_TOTAL_TIME_T) */
	uint64_t connects; /* connections opened (CURLINFO_NUM_CONNECTS): the rest were reused */
	uint64_t overlapped; /* reads begun while another read of the source was in progress */
	uint32_t last_cause; /* enum faultc_error of the last failure, or 0 */
	uint32_t last_status; /* the last HTTP status seen, or 0 */
};

/* Whether a source path names an http source. */
int fc_http_is_url(const char *path);

/*
 * Pins size and version with a one-byte range GET. NULL with *err_no and a
 * message in err when the file cannot be served by range requests.
 */
struct fc_http_source *fc_http_open(const char *url, const struct fc_http_opts *o,
				    char *err, size_t errlen, int *err_no);
uint64_t fc_http_size(const struct fc_http_source *s);

/* Reads [off, off + len) (inside the pinned size) into dst: 0, or a FAULTC_ERR_* cause. */
uint32_t fc_http_read(struct fc_http_source *s, uint8_t *dst, uint64_t len, uint64_t off);

void fc_http_get_stats(struct fc_http_source *s, struct fc_http_stats *out);
void fc_http_close(struct fc_http_source *s);
#endif /* FAULTC_SOURCE_HTTP_H */
