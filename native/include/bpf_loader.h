/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Loading BPF objects with the verifier's log kept, and the trace engine's
 * session (tracepoint links, target/range maps, ring buffer, counters).
 * Plain C so the kernel engine (kernel_engine.c) can reuse the loader.
 */
#ifndef FAULTC_BPF_LOADER_H
#define FAULTC_BPF_LOADER_H

#include <stddef.h>
#include <linux/types.h>
#include "faultc_trace.h"

#ifdef __cplusplus
extern "C" {
#endif

struct bpf_object;

/* Options applied between open and load; zero-initialise. */
struct faultc_bpf_load_opts {
	int prog_type; /* > 0: force this BPF_PROG_TYPE_* on every program */
	int expected_attach_type; /* with prog_type: > 0 forces it too */
	/*
	 * Called after open, before load: binds the object's subskeleton, sets
	 * its load-time configuration and map sizes. 0 or a negative errno.
	 */
	int (*before_load)(struct bpf_object *obj, void *ctx, char *log, size_t log_sz);
	void *ctx;
};

/*
 * Opens and loads (verifies) every program in the object at path. On failure
 * returns a negative errno and leaves in log (NUL-terminated, tail kept) the
 * verifier's log of the rejected program and libbpf's own warnings; *out is
 * then NULL. prog_type_override > 0 forces that program type on every program.
 */
int faultc_bpf_load(const char *path, int prog_type_override, char *log,
		    size_t log_sz, struct bpf_object **out);
int faultc_bpf_load_opts(const char *path, const struct faultc_bpf_load_opts *opts,
			 char *log, size_t log_sz, struct bpf_object **out);

/*
 * Maps a loaded object's global data (.bss, .data, .rodata read-only) over
 * the copies its (sub)skeleton variables point at, so they read and write the
 * program's own data. 0 or a negative errno.
 */
int faultc_bpf_map_globals(struct bpf_object *obj);

/* Instructions the verifier processed for a loaded program, or -errno. */
long faultc_bpf_verified_insns(int prog_fd);

struct faultc_trace;

/* A batch of raw struct faultc_event records, called on the poll thread. */
typedef void (*faultc_trace_event_fn)(void *ctx, const void *data, size_t size);

/* Loads the trace program at path with cfg as its load-time configuration (faultc_cfg). */
int faultc_trace_open(const char *path, __u32 ringbuf_bytes, const struct faultc_trace_config *cfg,
		      char *log, size_t log_sz, struct faultc_trace **out);
/* Attaches the fault and fork tracepoints. */
int faultc_trace_attach(struct faultc_trace *t);
/* Detaches them (the maps and the ring buffer stay); attach again at will. */
int faultc_trace_detach(struct faultc_trace *t);
/* state: FAULTC_TARGET_TRACED now, or FAULTC_TARGET_AT_EXEC from its next exec. */
int faultc_trace_add_target(struct faultc_trace *t, __u32 tgid, __u8 state);
int faultc_trace_remove_target(struct faultc_trace *t, __u32 tgid);
/* Removes targets whose process has exited; returns how many, or -errno. */
int faultc_trace_prune_targets(struct faultc_trace *t);
/* Replaces the live ranges (n <= FAULTC_MAX_RANGES) and publishes their count. */
int faultc_trace_set_ranges(struct faultc_trace *t, const struct faultc_range *r, __u32 n);
/* Replaces the live file filters (n <= FAULTC_MAX_FILES) and publishes their count. */
int faultc_trace_set_files(struct faultc_trace *t, const struct faultc_file *f, __u32 n);
/* Waits up to timeout_ms for events and hands each to fn; returns events seen or -errno. */
int faultc_trace_poll(struct faultc_trace *t, int timeout_ms, faultc_trace_event_fn fn, void *ctx);
/* Ends a faultc_trace_poll() that waits, now and from then on (safe from any thread). */
int faultc_trace_wake(struct faultc_trace *t);
/* Faults per region summed over CPUs, for regions [0, n). */
int faultc_trace_counts(struct faultc_trace *t, __u64 *out, __u32 n);
/* Events dropped because the ring buffer was full, summed over CPUs. */
int faultc_trace_lost(struct faultc_trace *t, __u64 *out);
void faultc_trace_close(struct faultc_trace *t);

#ifdef __cplusplus
}
#endif

#endif /* FAULTC_BPF_LOADER_H */
