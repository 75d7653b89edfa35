// `faultc explain <file> --region R --offset N [--write] [--handler H] [--policy P]
//  [--source-size id=N]... [--address A] [--in SET]... [--json]`: runs the reference evaluator
// for one fault and prints the lines it went through and the decision.
// Exit status: 0 explained, 1 the policy has errors, 2 usage error, 4 a file could not be read or an internal error.
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { readInputText } from '../../compiler/files.js';
import { CODES } from '../../base/codes.js';
import { evaluate, evaluateExpr, type EvalInput, type Evaluation } from '../../compiler/evaluate.js';
import { formatDiagnostics, useColor, displayPath } from '../../base/format.js';
import { checkFile } from '../../compiler/index.js';
import type { Expr, Handler, PolicyIR, ProgramIR, RegionIR, Stmt } from '../../compiler/ir.js';
import { PAGE_SIZE } from '../../base/limits.js';
import { SourceText } from '../../base/source-text.js';
import { parseQuantity as parseSize } from '../../base/units.js';
import { EXIT } from '../../base/errors.js';

interface ExplainFlags {
  region?: string;
  offset?: string;
  write?: boolean;
  handler?: string;
  policy?: string;
  sourceSize: string[];
  address?: string;
  in: string[];
  json?: boolean;
}

export class ExplainUsageError extends Error {}
const UsageError = ExplainUsageError;

/** A number as the language writes it, unit included: `4096`, `0x1000`, `64KiB`, `3 pages` (or `64k`: base/units.ts). */
export function parseQuantity(text: string, what: string): bigint {
  const v = parseSize(text);
  if (typeof v === 'string') throw new UsageError(`${what}: ${v}`);
  return v;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

function pickPolicy(policies: PolicyIR[], name: string | undefined): PolicyIR {
  if (name !== undefined) {
    const p = policies.find((x) => x.name === name);
    if (!p) throw new UsageError(`no policy '${name}' (the file has: ${policies.map((x) => x.name).join(', ')})`);
    return p;
  }
  if (policies.length !== 1) throw new UsageError(`the file has ${policies.length} policies; choose one with --policy (${policies.map((x) => x.name).join(', ')})`);
  return policies[0]!;
}

function pickRegion(policy: PolicyIR, name: string | undefined): RegionIR {
  if (name === undefined) {
    if (policy.regions.length === 1) return policy.regions[0]!;
    throw new UsageError(`--region is required (policy ${policy.name} has: ${policy.regions.map((r) => r.id).join(', ')})`);
  }
  const r = policy.regions.find((x) => x.id === name);
  if (!r) throw new UsageError(`policy ${policy.name} has no region '${name}' (it has: ${policy.regions.map((x) => x.id).join(', ')})`);
  return r;
}

/** Source sizes: from --source-size, else the size of the file the source names, else 0. */
async function sourceSizes(policy: PolicyIR, given: string[], notes: string[]): Promise<bigint[]> {
  const explicit = new Map<string, bigint>();
  for (const item of given) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--source-size wants id=N, got '${item}'`);
    const id = item.slice(0, eq);
    if (!policy.sources.some((s) => s.id === id)) throw new UsageError(`policy ${policy.name} has no source '${id}'`);
    explicit.set(id, parseQuantity(item.slice(eq + 1), `--source-size ${id}`));
  }
  const sizes: bigint[] = [];
  for (const s of policy.sources) {
    const v = explicit.get(s.id);
    if (v !== undefined) {
      sizes.push(v);
      continue;
    }
    try {
      sizes.push(BigInt((await stat(s.resolvedPath)).size));
    } catch {
      sizes.push(0n);
      notes.push(`source ${s.id}: ${s.resolvedPath} not found, size taken as 0 (pass --source-size ${s.id}=N)`);
    }
  }
  return sizes;
}

/** `--in S`: the faulting page (only it) is in set S; every other page of every set is out. */
function pageInSets(policy: PolicyIR, names: string[], faultPage: bigint): (set: number, page: bigint) => boolean {
  const sets = policy.sets ?? [];
  const chosen = new Set<number>();
  for (const name of names) {
    const s = sets.find((x) => x.id === name);
    if (!s) throw new UsageError(`policy ${policy.name} has no set '${name}'${sets.length ? ` (it has: ${sets.map((x) => x.id).join(', ')})` : ''}`);
    chosen.add(s.index);
  }
  return (set, page) => chosen.has(set) && page === faultPage;
}

function conditionsOf(stmts: Stmt[] | undefined, into: Map<number, Expr>): Map<number, Expr> {
  for (const s of stmts ?? []) {
    if (s.kind === 'if') {
      into.set(s.cond.span.startOffset, s.cond);
      conditionsOf(s.then, into);
      conditionsOf(s.else, into);
    }
  }
  return into;
}

function describeDecision(e: Evaluation, policy: PolicyIR): string[] {
  const lines: string[] = [];
  let action: string = e.action;
  if (e.action === 'fill') action += ` 0x${(e.fillByte ?? 0).toString(16).padStart(2, '0')}`;
  const from = policy.sources[e.source ?? -1];
  if (e.action === 'copy') action += ` from ${from?.id ?? '?'} at ${from?.kind === 'criu' ? 'image address' : 'offset'} ${hex(e.sourceOffset ?? 0n)}`;
  lines.push(`action: ${action}`);
  if (e.error) lines.push(`error: ${e.error} (the fault gets SIGBUS and an error event)`);
  if (e.prefetch?.direction === 'block') lines.push(`prefetch: the aligned block of ${e.prefetch.pages} pages (${(e.prefetch.pages * 4) >= 1024 ? `${(e.prefetch.pages * 4) / 1024} MiB` : `${e.prefetch.pages * 4} KiB`}) that holds the page`);
  else if (e.prefetch) lines.push(`prefetch: ${e.prefetch.pages} page${e.prefetch.pages === 1 ? '' : 's'} ${e.prefetch.direction}`);
  if (e.notify) lines.push('notify: yes');
  if (e.trackDirty) lines.push('track dirty: yes');
  return lines;
}

export interface ExplainRequest {
  policy?: string | undefined;
  region?: string | undefined;
  /** Byte offset in the region, units allowed (`64KiB`); default 0. */
  offset?: string | undefined;
  write?: boolean | undefined;
  handler?: string | undefined;
  /** `id=N` items. */
  sourceSize?: string[] | undefined;
  address?: string | undefined;
  /** Run-time sets the faulting page is in (`--in`); every other page of every set is out. */
  in?: string[] | undefined;
}

export interface ExplainStep {
  line: number;
  column: number;
  text: string;
  condition?: string;
}

export interface Explanation {
  policy: PolicyIR;
  region: RegionIR;
  handler: Handler;
  input: EvalInput;
  result: Evaluation;
  steps: ExplainStep[];
  notes: string[];
}

/** The path one fault takes through a checked policy (`text` is the policy file's text). Bad requests throw ExplainUsageError. */
export async function explainFault(program: ProgramIR, text: string, req: ExplainRequest): Promise<Explanation> {
  const policy = pickPolicy(program.policies, req.policy);
  const region = pickRegion(policy, req.region);
  const handlerName = req.handler ?? 'missing';
  if (handlerName !== 'missing' && handlerName !== 'write') throw new UsageError(`--handler is missing or write, not '${handlerName}'`);
  const handler: Handler = handlerName;
  const rawOffset = parseQuantity(req.offset ?? '0', '--offset');
  // A region taken from an image is sized when the images are read.
  const sized = !region.image || region.image.select.kind === 'range';
  if (sized && rawOffset >= region.size) throw new UsageError(`--offset ${hex(rawOffset)} is past the end of region ${region.id} (size ${hex(region.size)})`);
  const offset = rawOffset - (rawOffset % BigInt(PAGE_SIZE));
  const notes: string[] = [];
  if (offset !== rawOffset) notes.push(`offset ${hex(rawOffset)} is in the page at ${hex(offset)}`);
  const address = req.address !== undefined ? parseQuantity(req.address, '--address') : (region.at ?? 0n) + offset;
  const input: EvalInput = {
    region: region.index,
    handler,
    offset,
    address: address - (address % BigInt(PAGE_SIZE)),
    write: handler === 'write' ? true : req.write === true,
    sourceSizes: await sourceSizes(policy, req.sourceSize ?? [], notes),
    inSet: pageInSets(policy, req.in ?? [], offset / BigInt(PAGE_SIZE)),
  };
  const result = evaluate(policy, input);
  const src = new SourceText(text, program.file);
  const conds = conditionsOf(handler === 'missing' ? region.onMissing : region.onWrite, new Map());
  const steps = result.path.map((span): ExplainStep => {
    const cond = conds.get(span.startOffset);
    const v = cond ? evaluateExpr(cond, input) : undefined;
    const outcome = v === undefined ? undefined : typeof v === 'string' ? v : v !== 0n ? 'true' : 'false';
    return { line: span.startLine, column: span.startColumn, text: src.line(span.startLine).trim(), ...(outcome ? { condition: outcome } : {}) };
  });
  return { policy, region, handler, input, result, steps, notes };
}

/** What `faultc explain --json` prints (numbers that may pass 2^53 as decimal strings). */
export function explanationJson(e: Explanation): unknown {
  const { policy, region, handler, input, result, steps, notes } = e;
  const json = JSON.stringify(
    { policy: policy.name, region: region.id, handler, offset: input.offset, address: input.address, write: input.write, decision: { ...result, path: undefined }, path: steps, notes },
    (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
  );
  return JSON.parse(json) as unknown;
}

export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description('show the path one fault takes through a policy and the decision it gets')
    .argument('<file>', 'the .pfp policy file')
    .option('--region <name>', 'region of the fault (optional when the policy has one region)')
    .option('--offset <n>', 'byte offset of the fault in the region (rounded down to its page; units allowed: 64KiB)', '0')
    .option('--write', 'the access is a write (default: read)')
    .option('--handler <handler>', 'missing (first touch) or write (first write to a present page)', 'missing')
    .option('--policy <name>', 'policy to use when the file has several')
    .option('--source-size <id=n>', 'size of a source (repeatable; default: the size of its file)', collect, [])
    .option('--address <a>', 'faulting address (default: the region address + offset, or offset for a floating region)')
    .option('--in <set>', 'the faulting page is in this run-time set (repeatable; default: every set is empty)', collect, [])
    .option('--json', 'print the decision as JSON')
    .addHelpText('after', '\nExit status: 0 explained, 1 the policy has errors, 2 usage error, 4 the file could not be read or an internal error.')
    .action(async (file: string, flags: ExplainFlags) => {
      const r = await checkFile(file);
      if (!r.ok) {
        const text = await readInputText(file);
        process.stderr.write(formatDiagnostics(r.diagnostics, text, { color: useColor(process.stderr) }) + '\n');
        process.exitCode = r.diagnostics.some((d) => d.code === CODES.cannotRead.code) ? 4 : 1;
        return;
      }
      try {
        const text = await readInputText(r.value.file);
        const e = await explainFault(r.value, text, flags);
        const { policy, region, handler, input, result, steps, notes } = e;
        if (flags.json) {
          process.stdout.write(JSON.stringify(explanationJson(e), null, 2) + '\n');
          return;
        }
        const out: string[] = [];
        out.push(`${displayPath(r.value.file)}: policy ${policy.name}, region ${region.id}, on ${handler}, offset ${hex(input.offset)} (page ${input.offset / BigInt(PAGE_SIZE)}), address ${hex(input.address)}, ${input.write ? 'write' : 'read'}`);
        for (const n of notes) out.push(`note: ${n}`);
        if (steps.length === 0) out.push(`  (region ${region.id} has no \`on ${handler}\` handler: the default applies)`);
        const width = String(Math.max(0, ...steps.map((s) => s.line))).length;
        for (const s of steps) out.push(`  ${String(s.line).padStart(width)} | ${s.text}${s.condition ? `    -> ${s.condition}` : ''}`);
        out.push(...describeDecision(result, policy));
        process.stdout.write(out.join('\n') + '\n');
      } catch (err) {
        if (err instanceof UsageError) {
          process.stderr.write(`faultc explain: ${err.message}\n`);
          process.exitCode = EXIT.usage;
          return;
        }
        // A bug of faultc's own, not the user's: exit 4 with the whole story.
        process.stderr.write(`faultc explain: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        process.exitCode = EXIT.internal;
      }
    });
}
