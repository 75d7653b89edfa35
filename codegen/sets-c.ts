// Run-time page sets (`set <name>`, tested by `<page> in <name>`) in C. The
// decision function calls FAULTC_SET_TEST(set, region, page), which each
// includer of decide.h defines before including it:
// - the host library (<policy>.decide.so) exports a table of bitmaps that
//   libfaultc fills when it maps a region (native/src/lib/faultc_sets.h);
// - the BPF programs look the page's word up in a hash map per set, keyed
//   by (region << 40) | (page / 64), a missing key being a word of zeros.
//   The kernel engine fills them (native/src/kernel_sets.c, Region.addToSet);
//   on the trace engine every set is empty.
import type { PolicyIR } from '../compiler/ir.js';

/** Map of set s in the BPF objects. */
export function bpfSetMapName(set: number): string {
  return `faultc_set_${set}`;
}

export const BPF_SET_MAP_ENTRIES = 65536;

function nSets(policy: PolicyIR): number {
  return policy.sets?.length ?? 0;
}

/** Lines before `#include "<base>.decide.h"` in a BPF program; empty without sets. */
export function bpfSetsPrelude(policy: PolicyIR): string {
  const n = nSets(policy);
  if (n === 0) return '';
  const maps = policy.sets!.map(
    (s) => `/* set ${s.id}: words of its bitmap, key (region << 40) | (page / 64) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ${BPF_SET_MAP_ENTRIES});
	__type(key, __u64);
	__type(value, __u64);
} ${bpfSetMapName(s.index)} SEC(".maps");
`,
  );
  return `${maps.join('\n')}
static __always_inline __u64 faultc_set_test_bpf(void *map, __u32 region, __u64 page)
{
	__u64 key = ((__u64)region << 40) | (page >> 6);
	__u64 *word;

	if (page >> 46)
		return 0;
	word = bpf_map_lookup_elem(map, &key);
	return word ? (*word >> (page & 63)) & 1 : 0;
}
#define FAULTC_SET_TEST(s, region, page) faultc_set_test_bpf(&faultc_set_##s, region, page)
`;
}

/** The host library's set table and test; empty without sets. */
export function hostSetsPrelude(policy: PolicyIR | undefined): string {
  const n = policy ? nSets(policy) : 0;
  if (n === 0) return '';
  const regions = Math.max(1, policy!.regions.length);
  return `
/* Run-time page sets: bitmaps libfaultc publishes when it maps a region (native/src/lib/faultc_sets.h). */
struct faultc_set_slot {
	__u64 *bits;	/* NULL: the set is empty */
	__u64 pages;
};
FAULTC_EXPORT struct faultc_set_slot faultc_sets[${n}][${regions}];
FAULTC_EXPORT const unsigned faultc_set_dims[2] = { ${n}, ${regions} };

static inline __u64 faultc_set_test(unsigned set, __u32 region, __u64 page)
{
	const struct faultc_set_slot *slot;
	const __u64 *bits;

	if (region >= ${regions})
		return 0;
	slot = &faultc_sets[set][region];
	bits = __atomic_load_n(&slot->bits, __ATOMIC_ACQUIRE);
	if (!bits || page >= slot->pages)
		return 0;
	return (__atomic_load_n(&bits[page / 64], __ATOMIC_ACQUIRE) >> (page & 63)) & 1;
}
#define FAULTC_SET_TEST(s, region, page) faultc_set_test(s, region, page)
`;
}
