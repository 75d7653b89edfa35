// SPDX-License-Identifier: GPL-2.0
/*
 * The fault program's fixed part alone: the program, maps and globals of
 * fault.bpf.c that every policy's <policy>.fault.bpf.c shares. Built only
 * when the addon is, for `bpftool gen subskeleton` (native/bpf/subskel.sh):
 * the header it makes lets the kernel engine bind them in any policy's
 * object by struct field. Never loaded; its decision refuses every page.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "faultc_abi.h"

static __always_inline int faultc_refuse(const struct faultc_fault *in, struct faultc_decision *out)
{
	return -1;
}

#define FAULTC_FAULT_DECIDE faultc_refuse
#include "fault.bpf.c"
