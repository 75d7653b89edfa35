// Bounds that keep the compiler fast and its stack shallow on any input.
// They are far above what a real policy needs; each has its own diagnostic code.

/** Bytes of source text (PFP1008). */
export const MAX_INPUT_BYTES = 1024 * 1024;
/** Nesting of `{` and `(` together (PFP2008). */
export const MAX_NESTING = 64;
/** Operators stacked in one expression tree, counted along its deepest branch (PFP2009). */
export const MAX_EXPR_DEPTH = 256;
/** Diagnostics reported per run; the rest are summarised by PFP1011. */
export const MAX_DIAGNOSTICS = 100;
/** Characters in a name (PFP1007). */
export const MAX_NAME_LENGTH = 64;
/** Regions in one policy: the trace engine's range map holds 1024 entries (PFP3016). */
export const MAX_REGIONS = 1024;
/** Pages one fault may prefetch (PFP4012): bounded so the fault path stays short. */
export const MAX_PREFETCH_PAGES = 512;
/** Highest end of a user mapping on x86-64 with 4-level paging (47 bits, minus the guard page). */
export const USER_SPACE_END = 0x7fff_ffff_f000n;
/** Default vm.mmap_min_addr: fixed regions below it get a warning (PFP4016). */
export const MIN_MAP_ADDRESS = 0x10000n;
/** The largest unsigned 64-bit value: the range of every value a policy computes. */
export const U64_MAX = (1n << 64n) - 1n;
/** Bytes in a page: the unit of every region, source offset and fault. */
export const PAGE_SIZE = 4096;
/** Sources one policy may name: bounded so the fault path needs no loop. */
export const MAX_SOURCES = 8;
/** Run-time page sets one policy may declare (native/src/lib/faultc_sets.h). */
export const MAX_SETS = 8;
