// Run a command in the faultc guest (kernel/run-in-vm.sh) from a test.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureKernel, repoRoot } from '../setup/kernel.js';

export const runInVmScript = join(repoRoot, 'kernel', 'run-in-vm.sh');

/** run-in-vm.sh's own statuses (see the script's header). */
export const VM_KERNEL_WARNING = 120;
export const VM_DIED = 125;

export interface VmRunOptions {
  /** Working directory on the host; the guest uses the same path. */
  cwd?: string;
  /** Extra environment for the command (passed into the guest). */
  env?: Record<string, string>;
  /** Host directories the guest may write, mounted at the same paths. */
  shares?: string[];
  /** Wall-clock limit of the whole VM, seconds. */
  timeoutSeconds?: number;
  /** Keep status 0 even if the kernel logged a warning (dmesgProblems still lists it). */
  allowWarnings?: boolean;
  cpus?: number;
  mem?: string;
}

export interface VmRunResult {
  status: number;
  stdout: string;
  stderr: string;
  /** The guest kernel's log after the command ran ('' if the guest died). */
  dmesg: string;
  /** Lines of dmesg that run-in-vm.sh treats as kernel problems. */
  dmesgProblems: string[];
}

const problemPattern = /WARNING:|BUG:|Oops|general protection|Kernel panic|UBSAN:|KASAN:|list_(add|del) corruption|INFO: task .* blocked/;

export function kernelProblems(dmesg: string): string[] {
  return dmesg.split('\n').filter((line) => problemPattern.test(line));
}

export async function runInVm(command: string[], options: VmRunOptions = {}): Promise<VmRunResult> {
  const kernel = ensureKernel();
  const scratch = mkdtempSync(join(tmpdir(), 'faultc-vmtest-'));
  const dmesgPath = join(scratch, 'dmesg');
  const args: string[] = ['--kernel', kernel];
  if (options.timeoutSeconds !== undefined) args.push('--timeout', String(options.timeoutSeconds));
  if (options.allowWarnings === true) args.push('--allow-warnings');
  if (options.cpus !== undefined) args.push('--cpus', String(options.cpus));
  if (options.mem !== undefined) args.push('--mem', options.mem);
  for (const s of options.shares ?? []) args.push('--share', s);
  args.push('--', ...command);
  try {
    return await new Promise<VmRunResult>((resolve, reject) => {
      const child = spawn(runInVmScript, args, {
        cwd: options.cwd ?? repoRoot,
        env: {
          ...process.env,
          ...options.env,
          // Every variable given here reaches the guest, not only FAULTC_*/NODE_*.
          FAULTC_VM_ENV: [process.env.FAULTC_VM_ENV ?? '', ...Object.keys(options.env ?? {})].join(' ').trim(),
          FAULTC_VM_DMESG: dmesgPath,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', reject);
      child.on('close', (code, signal) => {
        let dmesg = '';
        try {
          dmesg = readFileSync(dmesgPath, 'utf8');
        } catch {
          // The guest died before it could report its log.
        }
        resolve({
          status: code ?? (signal !== null ? VM_DIED : -1),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          dmesg,
          dmesgProblems: kernelProblems(dmesg),
        });
      });
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The lines a guest script printed after `== name ==`, up to the next `== ` marker. */
export function outputSection(out: string, name: string): string[] {
  const start = out.indexOf(`== ${name} ==`);
  if (start < 0) return [];
  const rest = out.slice(start).split('\n').slice(1);
  const end = rest.findIndex((l) => l.startsWith('== '));
  return end < 0 ? rest : rest.slice(0, end);
}
