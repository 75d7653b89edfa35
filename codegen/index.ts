// IR -> the text artifacts of one policy. Pure and deterministic: the same
// program gives the same bytes (names sorted, no timestamps, no temp paths).
import { basename } from 'node:path';
import type { PolicyIR, ProgramIR } from '../compiler/ir.js';
import { ABI_HEADER } from '../abi/abi.js';
import { cIdent } from './c-escape.js';
import { emitDecideH } from './decide-c.js';
import { emitFaultBpf } from './fault-bpf.js';
import { artifactFileName, manifestFileName, renderManifest } from './manifest.js';
import { emitTraceBpf } from './trace-bpf.js';

export { emitDecideH } from './decide-c.js';

/** `<policy>.abi.h`: the ABI header, the same text for every policy of one ABI version. */
export function emitAbiH(): string {
  return ABI_HEADER;
}

/**
 * `<policy>.decide.h`, `<policy>.abi.h`, `<policy>.trace.bpf.c`,
 * `<policy>.fault.bpf.c` and `<policy>.policy.json`, keyed by file name in
 * sorted order. The manifest here lists only these text artifacts; the build
 * adds the objects it compiles.
 */
export function emitPolicy(program: ProgramIR, policy: PolicyIR): Map<string, string> {
  const base = policy.name;
  cIdent('decide', base); // refuses a name that is not a plain identifier before any text is built
  const texts = {
    decideH: emitDecideH(policy, { base, lineFile: basename(program.file) }),
    abiH: emitAbiH(),
    traceBpfC: emitTraceBpf(policy, { base }),
    faultBpfC: emitFaultBpf(policy, { base }),
  };
  const files: [string, string][] = [
    [artifactFileName(base, 'decideH'), texts.decideH],
    [artifactFileName(base, 'abiH'), texts.abiH],
    [artifactFileName(base, 'traceBpfC'), texts.traceBpfC],
    [artifactFileName(base, 'faultBpfC'), texts.faultBpfC],
    [manifestFileName(base), renderManifest(program, policy, texts)],
  ];
  files.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return new Map(files);
}
