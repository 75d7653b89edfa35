// The one table of run-time error codes, in the manner of codes.ts for the
// compiler: each FAULTC_* code has one meaning, one exit status for every
// command, a summary and (where there is one thing to do) a hint. Errors at
// the runtime's edge are RuntimeError values carrying a code of this table;
// the native addon's codes (FAULTC_UFFD_<errno>, FAULTC_KERNEL_<errno>,
// FAULTC_CRIU_<errno>) are families, listed once each.

/** Exit statuses of every faultc command. */
export const EXIT = {
  ok: 0,
  /** The input has errors (diagnostics or an image that cannot be used). */
  input: 1,
  /** Usage: an option, a name or an argument that is not right. */
  usage: 2,
  /** Missing privilege or kernel feature. */
  privilege: 3,
  /** Internal or I/O failure. */
  internal: 4,
} as const;
export type ExitStatus = (typeof EXIT)[keyof typeof EXIT];

export interface RuntimeCodeEntry {
  exit: ExitStatus;
  /** What the code means, for `faultc check --list-codes`. */
  message: string;
  hint?: string;
}

const REBUILD = 'rebuild the addon: npx node-gyp rebuild -C native (or npm install)';
const USE_UFFD = "use engine 'uffd' (or 'auto')";

export const RUNTIME_CODES = {
  // ---- policies and compiled artifacts ----
  FAULTC_POLICY_READ: { exit: EXIT.internal, message: 'a policy file cannot be read' },
  FAULTC_POLICY_INVALID: { exit: EXIT.input, message: 'the policy does not compile', hint: 'faultc check <file> prints every diagnostic' },
  FAULTC_COMPILER_MISSING: { exit: EXIT.privilege, message: 'the C compiler a build needs is not installed', hint: 'install clang (scripts/setup.sh), or name another with FAULTC_CLANG / FAULTC_CC' },
  FAULTC_BUILD: { exit: EXIT.internal, message: 'building a policy failed inside faultc (the C compiler or writing its files)' },
  FAULTC_COMPILE: { exit: EXIT.input, message: 'compile(): the policy does not compile (CompileError, with its diagnostics)' },
  FAULTC_POLICY_NOT_FOUND: { exit: EXIT.usage, message: 'no policy of that name in the file' },
  FAULTC_POLICY_AMBIGUOUS: { exit: EXIT.usage, message: 'the file holds several policies and none was chosen', hint: 'name one with --policy' },
  FAULTC_POLICY_CLOSED: { exit: EXIT.internal, message: 'the policy was used after close()' },
  FAULTC_MANIFEST: { exit: EXIT.internal, message: 'a compiled policy lacks an artifact the engine needs', hint: 'compile with --emit obj,json' },
  FAULTC_MANIFEST_READ: { exit: EXIT.internal, message: 'a manifest or one of its artifacts cannot be read' },
  FAULTC_MANIFEST_JSON: { exit: EXIT.internal, message: 'a manifest is not JSON' },
  FAULTC_MANIFEST_VERSION: { exit: EXIT.internal, message: 'a manifest of another version', hint: 'compile the policy again with this faultc' },
  FAULTC_MANIFEST_ABI: { exit: EXIT.internal, message: 'a manifest of another ABI version or layout', hint: 'compile the policy again with this faultc' },
  FAULTC_MANIFEST_SHAPE: { exit: EXIT.internal, message: 'a manifest whose fields are missing or of the wrong kind' },
  FAULTC_MANIFEST_HASH: { exit: EXIT.internal, message: 'an artifact does not match the sha256 its manifest records', hint: 'compile the policy again' },
  FAULTC_CACHE: { exit: EXIT.internal, message: 'the cache folder cannot be made', hint: 'set FAULTC_CACHE to a writable folder' },
  FAULTC_CACHE_FALLBACK: { exit: EXIT.ok, message: 'warning: the preferred cache folder is not usable; another is used' },
  // ---- regions, sources, sets ----
  FAULTC_REGION_NOT_FOUND: { exit: EXIT.usage, message: 'no region of that name in the policy' },
  FAULTC_REGION_TOO_LARGE: { exit: EXIT.internal, message: 'a region larger than this process can map' },
  FAULTC_REGION_ADDRESS: { exit: EXIT.internal, message: 'a region placed at an address that cannot be mapped' },
  FAULTC_SOURCE_NOT_FOUND: { exit: EXIT.usage, message: 'no source of that name in the policy' },
  FAULTC_SOURCE_NOT_FILE: { exit: EXIT.internal, message: 'a source path that is not a regular file' },
  FAULTC_SOURCE_HTTP: { exit: EXIT.internal, message: 'an HTTP source cannot be downloaded' },
  FAULTC_SET_NOT_FOUND: { exit: EXIT.usage, message: 'no run-time set of that name in the policy' },
  FAULTC_SET_RANGE: { exit: EXIT.usage, message: 'pages of a set operation past the end of the region' },
  FAULTC_BAD_ARGUMENT: { exit: EXIT.usage, message: 'an argument of an API call out of its range' },
  // ---- engines and the addon ----
  FAULTC_ENGINE_UNKNOWN: { exit: EXIT.usage, message: 'an engine name that is not kernel, uffd or auto' },
  FAULTC_ENGINE_UNAVAILABLE: { exit: EXIT.privilege, message: 'the engine asked for cannot run here', hint: USE_UFFD },
  FAULTC_ENGINE_UNSUPPORTED: { exit: EXIT.internal, message: 'the engine cannot do what the policy or the call asks', hint: USE_UFFD },
  FAULTC_NATIVE_MISSING: { exit: EXIT.privilege, message: 'the native addon is not built', hint: REBUILD },
  FAULTC_NATIVE: { exit: EXIT.internal, message: 'the native addon lacks a part this version needs', hint: REBUILD },
  FAULTC_UFFD: { exit: EXIT.internal, message: 'the uffd engine failed without an errno' },
  FAULTC_KERNEL: { exit: EXIT.internal, message: 'the kernel engine failed without an errno' },
  FAULTC_KERNEL_NO_HOOK: { exit: EXIT.privilege, message: 'the kernel has no faultc fault hook', hint: USE_UFFD },
  // ---- faultc trace ----
  FAULTC_TRACE_OPTION: { exit: EXIT.usage, message: 'trace options that ask for something impossible (no such process, region...)' },
  FAULTC_TRACE_PERMISSION: { exit: EXIT.privilege, message: 'the process exists but this user may not trace it' },
  FAULTC_BPF_PRIVILEGE: { exit: EXIT.privilege, message: 'loading BPF needs CAP_BPF and CAP_PERFMON (or root)' },
  FAULTC_BPF_UNSUPPORTED: { exit: EXIT.privilege, message: 'the kernel refused the BPF program (no BPF tracepoint support?)' },
  // ---- CRIU lazy pages ----
  FAULTC_CRIU_IMAGE: { exit: EXIT.input, message: 'a CRIU image that cannot be used' },
  FAULTC_CRIU_IMAGE_MISSING: { exit: EXIT.input, message: 'a CRIU image that cannot be read' },
  FAULTC_CRIU_PAGES_SIZE: { exit: EXIT.input, message: 'pages-*.img is shorter than its pagemap says' },
  FAULTC_CRIU_UNSUPPORTED: { exit: EXIT.input, message: 'images that use a CRIU feature lazy-pages does not serve' },
  FAULTC_CRIU_POLICY: { exit: EXIT.input, message: 'a --policy for lazy-pages that has errors or does not fit the images' },
  FAULTC_CRIU_WORKING_SET: { exit: EXIT.input, message: 'a working-set file that cannot be used' },
  FAULTC_CRIU_EIO: { exit: EXIT.internal, message: 'the lazy-pages daemon failed' },
  // ---- code generation (internal: a policy that passed the checks always emits) ----
  FAULTC_CG_IDENT: { exit: EXIT.internal, message: 'codegen: a name that is not a C identifier' },
  FAULTC_CG_INT: { exit: EXIT.internal, message: 'codegen: an integer out of its C range' },
} as const satisfies Record<string, RuntimeCodeEntry>;

/** Codes the addon builds from an errno name: FAULTC_UFFD_EPERM, FAULTC_KERNEL_ESRCH, FAULTC_CRIU_EIO... */
export const RUNTIME_CODE_FAMILIES = {
  FAULTC_UFFD_: 'a userfaultfd call failed with this errno',
  FAULTC_KERNEL_: 'the kernel engine failed with this errno',
  FAULTC_CRIU_: 'the lazy-pages daemon failed with this errno',
} as const;

/** Errnos that mean missing privilege or kernel feature (exit 3) in a family code. */
const PRIVILEGE_ERRNOS: ReadonlySet<string> = new Set(['EPERM', 'EACCES', 'ENOSYS', 'ENOTSUP']);

type Family = keyof typeof RUNTIME_CODE_FAMILIES;
export type RuntimeCode = keyof typeof RUNTIME_CODES | `${Family}${string}`;

export function isRuntimeCode(code: unknown): code is RuntimeCode {
  if (typeof code !== 'string') return false;
  return Object.hasOwn(RUNTIME_CODES, code) || familyOf(code) !== undefined;
}

function familyOf(code: string): Family | undefined {
  return (Object.keys(RUNTIME_CODE_FAMILIES) as Family[]).find((f) => code.startsWith(f) && /^E[A-Z0-9]+$/.test(code.slice(f.length)));
}

/** The exit status of a code: the table's, or for a family code, 3 for a privilege errno and 4 otherwise. */
export function exitStatusFor(code: RuntimeCode): ExitStatus {
  if (Object.hasOwn(RUNTIME_CODES, code)) return RUNTIME_CODES[code as keyof typeof RUNTIME_CODES].exit;
  const family = familyOf(code);
  if (family !== undefined && PRIVILEGE_ERRNOS.has(code.slice(family.length))) return EXIT.privilege;
  return EXIT.internal;
}

/** Error with a stable code from RUNTIME_CODES, for failures at the runtime's edge. */
export class RuntimeError extends Error {
  readonly code: RuntimeCode;
  constructor(code: RuntimeCode, message: string) {
    super(message);
    this.name = 'RuntimeError';
    this.code = code;
  }

  get exitStatus(): ExitStatus {
    return exitStatusFor(this.code);
  }

  get hint(): string | undefined {
    const e: RuntimeCodeEntry | undefined = (RUNTIME_CODES as Record<string, RuntimeCodeEntry>)[this.code];
    return e?.hint;
  }
}

/** The exit status for anything a command caught: a RuntimeError's own, else internal. */
export function exitStatusOf(e: unknown): ExitStatus {
  return e instanceof RuntimeError ? e.exitStatus : EXIT.internal;
}

/** A code the addon attached to an error (or the fallback when it attached none that is known). */
export function codeOf(e: unknown, fallback: RuntimeCode): RuntimeCode {
  const code = (e as { code?: unknown } | null)?.code;
  return isRuntimeCode(code) ? code : fallback;
}

export interface RuntimeCodeListing {
  code: string;
  exit: ExitStatus;
  message: string;
  hint?: string;
}

/** Every code and family (as FAULTC_UFFD_<ERRNO>), in table order. */
export function allRuntimeCodes(): RuntimeCodeListing[] {
  const out: RuntimeCodeListing[] = Object.entries(RUNTIME_CODES).map(([code, e]: [string, RuntimeCodeEntry]) => ({
    code,
    exit: e.exit,
    message: e.message,
    ...(e.hint !== undefined ? { hint: e.hint } : {}),
  }));
  for (const [prefix, message] of Object.entries(RUNTIME_CODE_FAMILIES)) {
    out.push({ code: `${prefix}<ERRNO>`, exit: EXIT.internal, message, hint: `exit ${EXIT.privilege} for ${[...PRIVILEGE_ERRNOS].join(', ')}` });
  }
  return out;
}
