/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The holder: a process forked by the lazy-pages daemon that keeps a
 * duplicate of every adopted userfaultfd (docs/criu.md, "The daemon dies").
 *
 * While the daemon lives the holder only collects descriptors. A daemon
 * that ends with pages still missing (killed, or stopped early) closes its
 * end of the control socket without a goodbye: the holder's duplicates keep
 * the ranges registered, so a missing page never turns into a zero page,
 * and the holder answers every fault from then on with SIGBUS to the task
 * (an error event on stderr, one JSON line per task), until the tasks exit.
 */
#ifndef FAULTC_LP_HOLDER_H
#define FAULTC_LP_HOLDER_H

#include <stdint.h>
#include <sys/types.h>

struct lp_holder {
	int ctl; /* the daemon's end of the control socket; -1: none */
	pid_t pid;
};

/* Forks the holder. 0, or -errno (then h->ctl is -1). */
int lp_holder_start(struct lp_holder *h);
/* Hands the holder a duplicate of a task's uffd (pid 0: not known yet). */
int lp_holder_add(struct lp_holder *h, uint32_t slot, int32_t pid, int uffd);
/* The pid of a task adopted without one (a child forked after the restore). */
int lp_holder_set_pid(struct lp_holder *h, uint32_t slot, int32_t pid);
/* Ends the holder: with bye, every page was in place (it closes its
 * duplicates and exits); without, it takes over the tasks' faults. */
void lp_holder_end(struct lp_holder *h, int bye);

#endif
