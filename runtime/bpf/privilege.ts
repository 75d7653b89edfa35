// Whether this process may load BPF programs, asked before loading any.
import { readFileSync } from 'node:fs';

/**
 * Whether this process may load BPF programs: CAP_BPF (39) or CAP_SYS_ADMIN
 * (21) in its effective set. Checked up front so a missing privilege gets a
 * plain message instead of a verifier error (EACCES is also a verifier verdict).
 */
export function hasBpfPrivilege(): boolean {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    if (!m) return process.geteuid?.() === 0;
    const caps = BigInt('0x' + m[1]);
    return (caps & (1n << 39n)) !== 0n || (caps & (1n << 21n)) !== 0n;
  } catch {
    return process.geteuid?.() === 0;
  }
}
