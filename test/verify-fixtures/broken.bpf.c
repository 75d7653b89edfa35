/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Deliberately rejected by the verifier: reads one byte past a map value.
 * The #line directive attributes the bad access to broken.pfp line 6, as
 * generated code does, so `faultc verify` must name that line.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

/* Defined under the .pfp's name, as generated decision functions are. */
#line 5 "broken.pfp"
static __always_inline int faultc_read_fill(const __u8 *v)
{
#line 6 "broken.pfp"
	return v[sizeof(__u64)];
}
#line 28 "broken.bpf.c"

SEC("raw_tp/page_fault_user")
int broken(void *ctx)
{
	__u32 zero = 0;
	__u8 *v = bpf_map_lookup_elem(&counts, &zero);

	if (!v)
		return 0;
	return faultc_read_fill(v);
}
