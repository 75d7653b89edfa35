// loadPolicy: a .pfp (compiled into a cache folder) or a compiled
// <policy>.policy.json, bound to an engine that resolves its regions' faults.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { artifactPath, readManifest, type LoadedManifest } from '../../codegen/manifest.js';
import { makeDir, notRegularFile, readInputFile } from '../../compiler/files.js';
import { MAX_INPUT_BYTES } from '../../base/limits.js';
import { tracksWrites } from '../../compiler/region-traits.js';
import { writableCacheDir } from '../proc/cache-dir.js';
import { codeOf, RuntimeError } from '../../base/errors.js';
import { selectEngine } from '../engines/select.js';
import type { EngineChoice, EngineInstance, EngineKind, EngineOptions } from '../engines/types.js';
import { nameFaultEvent, type FaultEvent, type RawFaultEvent } from './events.js';
import { emitToAll } from './emit-all.js';
import { isHttpLocation, sourceLocation, type HttpSourceStats } from '../sources/http.js';
import { Region } from './region.js';

export interface LoadPolicyOptions extends EngineOptions {
  /** 'kernel' | 'uffd' | 'auto' (default: kernel where the hook exists, else uffd). */
  engine?: EngineChoice;
  /** Source id -> path, overriding the paths written in the policy. */
  sources?: Record<string, string>;
  /** Which policy, when the file holds several (default: the only one). */
  policy?: string;
  /** Where a .pfp is compiled (default: $XDG_CACHE_HOME/faultc/policies, or a private folder under the temporary directory when that cannot be written, with a warning). */
  cacheDir?: string;
}

let fingerprint: string | undefined;

/** A hash of the compiler and code generator as installed, so a new faultc never reuses old outputs. */
function toolchainFingerprint(): string {
  if (fingerprint !== undefined) return fingerprint;
  const hash = createHash('sha256');
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  for (const phase of ['grammar', 'compiler', 'codegen']) {
    const dir = join(root, phase);
    for (const f of readdirSync(dir).filter((n) => /\.(js|ts)$/.test(n) && !n.endsWith('.d.ts')).sort()) {
      hash.update(f).update('\0').update(readFileSync(join(dir, f)));
    }
  }
  fingerprint = hash.digest('hex');
  return fingerprint;
}

/** Compiles a .pfp once per content (cached by its hash) and returns the chosen policy's manifest path. */
async function compiledManifest(pfp: string, policy: string | undefined, cacheRoot: string): Promise<string> {
  const read = await readInputFile(pfp);
  if (!read.ok) {
    const why = 'tooLarge' in read ? `it is ${read.tooLarge} bytes, more than the ${MAX_INPUT_BYTES} a policy file may be` : read.reason;
    throw new RuntimeError('FAULTC_POLICY_READ', `cannot read ${pfp}: ${why}`);
  }
  const text = read.bytes;
  // The path is part of the key: relative source paths resolve against it.
  const key = createHash('sha256').update(toolchainFingerprint()).update(pfp).update('\0').update(text).digest('hex').slice(0, 24);
  const outDir = join(cacheRoot, key);
  const { compileFile } = await import('../../codegen/build.js');
  const names = existsSync(outDir) ? await cachedPolicies(outDir) : [];
  let chosen = pick(names, policy, pfp);
  if (chosen === undefined || !existsSync(join(outDir, `${chosen}.policy.json`)) || !existsSync(join(outDir, `${chosen}.decide.so`))) {
    await makeDir(outDir).catch((e: Error) => {
      throw new RuntimeError('FAULTC_CACHE', `cannot make the cache folder ${outDir}: ${e.message}`);
    });
    const res = await compileFile(pfp, { outDir, emit: ['obj', 'json'] });
    if (!res.ok) {
      const { formatDiagnostic } = await import('../../base/format.js');
      const shown = res.diagnostics
        .filter((d) => d.severity === 'error')
        .slice(0, 5)
        .map((d) => formatDiagnostic(d, text.toString('utf8'), { color: false }))
        .join('\n');
      throw new RuntimeError('FAULTC_POLICY_INVALID', `${pfp} does not compile:\n${shown}`);
    }
    chosen = pick(
      res.value.map((p) => p.policy),
      policy,
      pfp,
    );
  }
  if (chosen === undefined) throw new RuntimeError('FAULTC_POLICY_NOT_FOUND', `${pfp} holds no policy`);
  return join(outDir, `${chosen}.policy.json`);
}

async function cachedPolicies(dir: string): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  return (await readdir(dir)).filter((f) => f.endsWith('.policy.json')).map((f) => f.slice(0, -'.policy.json'.length));
}

function pick(names: string[], policy: string | undefined, file: string): string | undefined {
  if (names.length === 0) return undefined;
  if (policy !== undefined) {
    if (!names.includes(policy)) {
      throw new RuntimeError('FAULTC_POLICY_NOT_FOUND', `${file} has no policy "${policy}" (it has: ${names.sort().join(', ')})`);
    }
    return policy;
  }
  if (names.length > 1) {
    throw new RuntimeError('FAULTC_POLICY_AMBIGUOUS', `${file} holds ${names.length} policies (${names.sort().join(', ')}): choose one with the policy option`);
  }
  return names[0];
}

export interface PolicyEvents {
  fault: [event: FaultEvent];
}

export class Policy extends EventEmitter<PolicyEvents> {
  private readonly regions = new Map<string, Region>();
  private readonly byIndex = new Map<number, Region>();
  private closing: Promise<void> | undefined;

  constructor(
    readonly manifest: LoadedManifest,
    private readonly instance: EngineInstance,
    readonly sourcePaths: string[],
  ) {
    super();
  }

  get name(): string {
    return this.manifest.policy;
  }

  get engine(): EngineKind {
    return this.instance.kind;
  }

  /** @internal the engine behind this policy (tests reach its hooks). */
  get engineInstance(): EngineInstance {
    return this.instance;
  }

  /** Region ids, in the policy's order. */
  get regionIds(): string[] {
    return this.manifest.regions.map((r) => r.id);
  }

  /** Maps the region (once) and returns it. */
  region(id: string): Region {
    if (this.closing) throw new RuntimeError('FAULTC_POLICY_CLOSED', `policy ${this.name} is closed`);
    const existing = this.regions.get(id);
    if (existing) return existing;
    const spec = this.manifest.regions.find((r) => r.id === id);
    if (!spec) {
      throw new RuntimeError('FAULTC_REGION_NOT_FOUND', `policy ${this.name} has no region "${id}" (it has: ${this.regionIds.join(', ')})`);
    }
    // Address 0 means "anywhere" to the engines: never move such a region silently.
    if (spec.at === 0n) {
      throw new RuntimeError('FAULTC_REGION_ADDRESS', `region ${id} is placed at address 0, which cannot be mapped (user memory starts at vm.mmap_min_addr, 64 KiB by default): remove 'at 0' or give an address above it`);
    }
    const ir = this.manifest.ir.regions[spec.index];
    const mapped = this.instance.mapRegion({
      id,
      index: spec.index,
      size: spec.size,
      ...(spec.at !== undefined ? { at: spec.at } : {}),
      writeTracking: tracksWrites(ir),
    });
    const sets = (this.manifest.ir.sets ?? []).map((s) => s.id);
    const region = new Region(this.name, id, spec.index, mapped, this, sets);
    this.regions.set(id, region);
    this.byIndex.set(spec.index, region);
    return region;
  }

  /**
   * Attaches region `id`'s rules to memory another process mapped: the
   * range of the region's size at `address` in process `pid`, which must be
   * private anonymous memory (or a private mapping of the region's source).
   * Faults there run the policy in that process's own threads; their events
   * come to this policy's 'fault' listeners (with that pid). Kernel engine
   * only; the caller needs CAP_BPF and the right to ptrace `pid`. The
   * attachment lasts as long as that memory does.
   */
  attachProcess(id: string, pid: number, address: bigint): void {
    if (this.closing) throw new RuntimeError('FAULTC_POLICY_CLOSED', `policy ${this.name} is closed`);
    const spec = this.manifest.regions.find((r) => r.id === id);
    if (!spec) {
      throw new RuntimeError('FAULTC_REGION_NOT_FOUND', `policy ${this.name} has no region "${id}" (it has: ${this.regionIds.join(', ')})`);
    }
    if (!Number.isInteger(pid) || pid <= 0) throw new RuntimeError('FAULTC_BAD_ARGUMENT', `attachProcess: pid must be a positive integer (got ${pid})`);
    if (address <= 0n || address % 4096n !== 0n) {
      throw new RuntimeError('FAULTC_BAD_ARGUMENT', `attachProcess: address must be page-aligned and non-zero (got 0x${address.toString(16)})`);
    }
    if (!this.instance.attachProcess) {
      throw new RuntimeError('FAULTC_ENGINE_UNSUPPORTED', `the ${this.engine} engine cannot resolve faults of another process (use engine: 'kernel')`);
    }
    this.instance.attachProcess(spec.index, spec.size, pid, address);
  }

  /** @internal */
  deliver(events: RawFaultEvent[]): void {
    for (const raw of events) {
      const region = this.byIndex.get(raw.region);
      const id = region?.id ?? this.manifest.regions.find((r) => r.index === raw.region)?.id;
      if (id === undefined) continue;
      const event = nameFaultEvent(raw, this.name, id);
      // Events of a process the region was attached to reach the policy only.
      if (region && raw.pid === process.pid) region.deliver(event);
      emitToAll(this, 'fault', event);
    }
  }

  /** An http source's request counters (null for a file source). */
  sourceStats(id: string): HttpSourceStats | null {
    const s = this.manifest.sources.find((x) => x.id === id);
    if (!s) throw new RuntimeError('FAULTC_SOURCE_NOT_FOUND', `policy ${this.name} has no source "${id}"`);
    return this.instance.sourceStats?.(s.index) ?? null;
  }

  /** Notify events dropped because the engine's queue was full (none is dropped silently). */
  lostEvents(): number {
    return this.instance.lostEvents?.() ?? 0;
  }

  /** Resolves every pending fault, stops the engine, unmaps every region. */
  close(): Promise<void> {
    this.closing ??= this.instance.close().then((last) => this.deliver(last));
    return this.closing;
  }
}

export async function loadPolicy(path: string, options: LoadPolicyOptions = {}): Promise<Policy> {
  const abs = resolve(path);
  let manifestPath: string;
  if (abs.endsWith('.json')) {
    manifestPath = abs;
  } else {
    manifestPath = await compiledManifest(abs, options.policy, options.cacheDir ?? (await writableCacheDir('policies')));
  }
  let manifest: LoadedManifest;
  try {
    manifest = await readManifest(manifestPath, { verifyHashes: true });
  } catch (e) {
    throw new RuntimeError(codeOf(e, 'FAULTC_MANIFEST'), (e as Error).message);
  }
  if (manifest.ir.engines.length === 0) {
    throw new RuntimeError('FAULTC_CRIU_POLICY', `policy ${manifest.policy} takes its regions from a process image: serve it with faultc lazy-pages -D <images> --policy ${path}`);
  }
  if (options.policy !== undefined && manifest.policy !== options.policy) {
    throw new RuntimeError('FAULTC_POLICY_NOT_FOUND', `${path} holds policy ${manifest.policy}, not ${options.policy}`);
  }
  const decideLibrary = artifactPath(manifest, 'decideSo');
  if (!decideLibrary || !existsSync(decideLibrary)) {
    throw new RuntimeError('FAULTC_MANIFEST', `${manifestPath} was compiled without its host decision library (compile with --emit obj,json)`);
  }
  const overrides = options.sources ?? {};
  for (const id of Object.keys(overrides)) {
    if (!manifest.sources.some((s) => s.id === id)) {
      throw new RuntimeError('FAULTC_SOURCE_NOT_FOUND', `policy ${manifest.policy} has no source "${id}" (it has: ${manifest.sources.map((s) => s.id).join(', ') || 'none'})`);
    }
  }
  const sourcePaths = manifest.sources.map((s) => sourceLocation(overrides[s.id] ?? s.resolvedPath));
  // A FIFO would block the engine's open for ever; a directory has no pages.
  for (const [i, path] of sourcePaths.entries()) {
    if (isHttpLocation(path)) continue;
    const st = statSync(path, { throwIfNoEntry: false });
    const refused = st && notRegularFile(st);
    if (refused) throw new RuntimeError('FAULTC_SOURCE_NOT_FILE', `source ${manifest.sources[i]?.id}: ${path} is ${refused}`);
  }
  // Either engine serves http sources (the kernel engine hands their copies
  // to its uffd handlers). The kernel engine does not prefetch blocks yet:
  // `auto` takes uffd for those.
  const uffdOnly = !manifest.ir.engines.includes('kernel');
  const engine = await selectEngine(options.engine ?? (uffdOnly ? 'uffd' : 'auto'));
  // The engine's event callback outlives the policy: it holds it weakly, so
  // that a policy dropped without close() is collected, and then closed.
  let policy: WeakRef<Policy> | undefined;
  const pending: RawFaultEvent[][] = [];
  const instance = await engine.open({
    manifest,
    decideLibrary,
    sourcePaths,
    onEvents: (events) => {
      if (policy) policy.deref()?.deliver(events);
      else pending.push(events);
    },
    options,
  });
  const opened = new Policy(manifest, instance, sourcePaths);
  policy = new WeakRef(opened);
  for (const batch of pending.splice(0)) opened.deliver(batch);
  return opened;
}
