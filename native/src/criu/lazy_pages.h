/* SPDX-License-Identifier: GPL-2.0 */
/*
 * faultc's lazy-pages daemon for CRIU restores (docs/criu.md).
 *
 * `criu restore --lazy-pages` connects to a unix socket and hands over, per
 * restored task, its pid and its userfaultfd. The daemon adopts each uffd (it
 * maps and registers nothing itself), serves the task's missing faults from
 * the pages image, follows fork / remap / unmap / remove, and copies the
 * pages nobody asked for in the background, in the order it is given.
 *
 * Threads: lp_run() runs in its caller's thread (the socket side and the
 * end-of-restore watch); nr_threads handler threads (default one per online
 * CPU) serve every adopted uffd and do the background copies between faults,
 * one of them from the moment a task's areas are registered, all of them
 * once the restore has finished.
 */
#ifndef FAULTC_LAZY_PAGES_H
#define FAULTC_LAZY_PAGES_H

#include <stddef.h>
#include <stdint.h>

/* A run of lazy pages as the image has them, inside one VMA. */
struct lp_area {
	uint64_t start; /* address in the image (page-aligned) */
	uint64_t nr_pages;
	int64_t file_off; /* byte offset in the pages image */
};

/* What the images say about one task. */
struct lp_task_image {
	int32_t pid;
	const char *pages_path;
	const struct lp_area *areas; /* sorted by start, not overlapping */
	size_t nr_areas;
	const uint64_t *first; /* image addresses to install first, in order (replay) */
	size_t nr_first;
	/*
	 * A policy's plan (NULL: every page copied from its own image page, with
	 * the daemon's prefetch), one entry per lazy page in image order: a byte
	 * offset in the pages image to copy from, or LP_PLAN_ZERO, LP_PLAN_SIGBUS,
	 * LP_PLAN_FILL(b); ahead: pages after it copied with it on a fault.
	 */
	const int64_t *plan;
	const uint16_t *ahead;
};

#define LP_PLAN_ZERO (-1)
#define LP_PLAN_SIGBUS (-2)
#define LP_PLAN_FILL(b) (-0x100 - (int64_t)(b))
#define LP_PLAN_IS_FILL(v) ((v) <= -0x100 && (v) >= -0x1ff)

struct lp_opts {
	const char *sock_path; /* must not exist; created, removed at the end */
	unsigned nr_threads; /* 0: one per online CPU */
	unsigned prefetch; /* pages after a faulting page copied with it */
	unsigned batch; /* pages per background UFFDIO_COPY (>= 1) */
	int background; /* copy the pages nobody asked for */
	int record; /* keep each task's first-touch order (no prefetch, no background) */
	unsigned record_ms; /* 0: record until lp_stop_recording() or the end; else for so
			       long after the first recorded touch */
	unsigned accept_timeout_ms; /* 0: wait for the restore forever */
};

struct lp_task_report {
	int32_t pid; /* 0: a child forked after the restore, pid not found */
	int32_t parent_pid; /* the task it forked from (0: from the restore) */
	uint64_t total_pages; /* lazy pages in the image */
	uint64_t demand_faults; /* missing-fault messages */
	uint64_t pages_demand; /* pages installed for the faulting address */
	uint64_t pages_prefetch; /* pages installed with them */
	uint64_t pages_background; /* pages installed by the background copy */
	uint64_t pages_early; /* of those, installed before the restore had finished */
	uint64_t pages_zero; /* zero pages (faults where the image has none) */
	uint64_t pages_dropped; /* unmapped or removed before being installed */
	uint64_t pages_raced; /* installed by someone else first (EEXIST) */
	uint64_t errors; /* pages that could not be served (SIGBUS) */
	uint64_t t_adopt_ns; /* since lp_run() started */
	uint64_t t_first_fault_ns; /* 0: none */
	uint64_t t_done_ns; /* every page in place; 0: not reached */
	int gone; /* the task exited before every page was in place */
};

struct lp_error {
	int32_t pid;
	uint64_t addr;
	int err; /* errno */
	char what[96];
};

struct lp_daemon;

/* Creates the socket; NULL with err filled (errno in *errnum). */
struct lp_daemon *lp_open(const struct lp_opts *o, const struct lp_task_image *tasks,
			  size_t nr_tasks, char *err, size_t errlen, int *errnum);
/* Serves one restore until every task's pages are in place (or it is gone),
 * or lp_stop(). 0, or -errno with err filled. */
int lp_run(struct lp_daemon *d, char *err, size_t errlen);
/* From any thread: make lp_run() return soon. */
void lp_stop(struct lp_daemon *d);
/* From any thread: stop recording first touches; serve on as without it. */
void lp_stop_recording(struct lp_daemon *d);

size_t lp_nr_reports(struct lp_daemon *d);
/* When the restore said it had finished (since lp_run() started); 0: not yet. */
uint64_t lp_restored_ns(struct lp_daemon *d);
int lp_report(struct lp_daemon *d, size_t i, struct lp_task_report *out);
/* First-touch order of report i (image addresses); count in *n. */
const uint64_t *lp_recorded(struct lp_daemon *d, size_t i, size_t *n);
size_t lp_errors(struct lp_daemon *d, struct lp_error *out, size_t max);
void lp_close(struct lp_daemon *d);

#endif
