// Run-time page sets (`set <name>`, tested by `<page> in <name>`) in C. The
// decision function calls FAULTC_SET_TEST(set, region, page), which each
// includer of decide.h defines before including it:
// - the host library (<policy>.decide.so) exports a table of bitmaps that
//   libfaultc fills when it maps a region (native/src/lib/faultc_sets.h);
// - the BPF programs read each set's bitmap from an array map of 64-page
//   words (BPF_F_MMAPABLE), region r's word w at entry r * stride + w. The
//   kernel engine maps it into the process and changes it in place with
//   atomic instructions (native/src/kernel_sets.c, Region.addToSet); on the
//   trace engine every set is empty.
import type { PolicyIR } from '../compiler/ir.js';

/** Map of set s in the BPF objects. */
export function bpfSetMapName(set: number): string {
  return `faultc_set_${set}`;
}

/** Words per region when no region's size is known at compile time (a region sized by its image). */
export const BPF_SET_DEFAULT_WORDS = 65536;
/** Words per region at most (2^22 words: a region of 1 TiB), and per map. */
export const BPF_SET_MAX_REGION_WORDS = 1 << 22;
export const BPF_SET_MAX_MAP_WORDS = 1 << 24;

function nSets(policy: PolicyIR): number {
  return policy.sets?.length ?? 0;
}

/**
 * The stride of the set maps: the words of the largest region, within the
 * bounds above. Pages past it are never in a set on the kernel and trace
 * engines (the native side refuses to add them: docs/language.md).
 */
export function bpfSetStride(policy: PolicyIR): number {
  const regions = Math.max(1, policy.regions.length);
  let words = 0;
  for (const r of policy.regions) {
    const w = Number((r.size / 4096n + 63n) / 64n);
    if (w > words) words = w;
  }
  if (words === 0) words = BPF_SET_DEFAULT_WORDS;
  words = Math.min(words, BPF_SET_MAX_REGION_WORDS, Math.floor(BPF_SET_MAX_MAP_WORDS / regions));
  return Math.max(1, words);
}

/** Lines before `#include "<base>.decide.h"` in a BPF program; empty without sets. */
export function bpfSetsPrelude(policy: PolicyIR): string {
  const n = nSets(policy);
  if (n === 0) return '';
  const regions = Math.max(1, policy.regions.length);
  const stride = bpfSetStride(policy);
  const maps = policy.sets!.map(
    (s) => `/* set ${s.id}: its bitmap in 64-page words, region r's word w at r * FAULTC_SET_STRIDE + w */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, ${regions * stride});
	__type(key, __u32);
	__type(value, __u64);
} ${bpfSetMapName(s.index)} SEC(".maps");
`,
  );
  return `#define FAULTC_SET_STRIDE ${stride}u
#define FAULTC_SET_REGIONS ${regions}u
${maps.join('\n')}
static __always_inline __u64 faultc_set_test_bpf(void *map, __u32 region, __u64 page)
{
	__u32 key;
	__u64 *word;

	if (region >= FAULTC_SET_REGIONS || (page >> 6) >= FAULTC_SET_STRIDE)
		return 0;
	key = region * FAULTC_SET_STRIDE + (__u32)(page >> 6);
	word = bpf_map_lookup_elem(map, &key);
	/* The process changes the word in place (an atomic instruction). */
	return word ? (*(volatile __u64 *)word >> (page & 63)) & 1 : 0;
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
