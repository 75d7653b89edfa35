/* SPDX-License-Identifier: GPL-2.0 */
/* libfaultc on the kernel engine (faultc_kernel.c), for faultc_lib.c. */
#ifndef FAULTC_LIB_KERNEL_H
#define FAULTC_LIB_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fcl_kernel;
struct faultc_event;
struct faultc_stats;

/* Loads and checks object (<policy>.fault.bpf.o); NULL with *err_no and err. */
struct fcl_kernel *fcl_kernel_open(const char *object, const char *so, unsigned nr_sources,
				   const char *const *source_paths, unsigned nr_regions,
				   void (*on_event)(const struct faultc_event *ev, void *ctx),
				   void *ctx, char *err, size_t errlen, int *err_no);
/* Maps region index with the program attached: its slot, or a negative errno. */
int fcl_kernel_region(struct fcl_kernel *k, uint32_t index, uint64_t size, uint64_t at,
		      bool writes, bool defer, void **addr);
int fcl_kernel_set(struct fcl_kernel *k, uint32_t index, int set, uint64_t first, uint64_t n,
		   bool on);
int fcl_kernel_contains(struct fcl_kernel *k, uint32_t index, int set, uint64_t page);
int fcl_kernel_stats(struct fcl_kernel *k, uint32_t index, int slot, struct faultc_stats *out);
uint64_t fcl_kernel_lost(struct fcl_kernel *k);
/* Stops the event thread (after the events queued), detaches, unmaps. */
void fcl_kernel_close(struct fcl_kernel *k);

#endif /* FAULTC_LIB_KERNEL_H */
