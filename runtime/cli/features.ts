// `faultc features [--json]`: what this machine offers each engine, with the
// reason behind every "no" (runtime/proc/features.ts asks the machine).
import type { Command } from 'commander';
import { probeFeatures, UFFD_USES, type Check, type Features } from '../proc/features.js';

const mark = (ok: boolean): string => (ok ? 'yes' : 'NO ');

function line(label: string, c: Check): string {
  return `  ${label.padEnd(18)} ${mark(c.ok)}  ${c.detail}`;
}

export function featuresText(f: Features): string {
  const out: string[] = [];
  out.push(`faultc ${f.faultc.version} on Linux ${f.system.kernel} (${f.system.arch})`);
  out.push(`  addon              ${f.faultc.addon ?? 'NOT BUILT (npm rebuild faultc)'}`);
  out.push(`  libbpf             ${f.faultc.libbpf ?? 'unknown'}`);
  out.push('');
  out.push('engines');
  for (const [name, v] of Object.entries(f.engines)) out.push(`  ${name.padEnd(18)} ${mark(v.available)}  ${v.reason}`);
  out.push('');
  out.push('privileges');
  out.push(`  euid               ${f.privileges.euid}${f.privileges.euid === 0 ? ' (root)' : ''}`);
  out.push(`  capabilities       ${f.privileges.capabilities.join(' ') || 'none of CAP_BPF CAP_PERFMON CAP_SYS_ADMIN CAP_SYS_PTRACE'}`);
  out.push('');
  out.push('userfaultfd (uffd engine)');
  out.push(line('userfaultfd', f.userfaultfd));
  out.push(`  sysctl             vm.unprivileged_userfaultfd=${f.userfaultfd.sysctlUnprivileged ?? 'absent'}, /dev/userfaultfd ${f.userfaultfd.devUserfaultfd ? 'present' : 'absent'}`);
  if (f.userfaultfd.features.length) out.push(`  features           ${f.userfaultfd.features.join(' ')}`);
  for (const [feat, has] of Object.entries(f.userfaultfd.uses)) out.push(`  ${feat.padEnd(18)} ${mark(has)}  ${UFFD_USES[feat] ?? ''}`);
  out.push('');
  out.push('BPF (trace and kernel engines)');
  out.push(line('BTF', f.bpf.btf));
  out.push(line('tracepoint', f.bpf.tracepoint));
  out.push(`  sysctl             kernel.unprivileged_bpf_disabled=${f.bpf.unprivilegedDisabled ?? 'absent'}`);
  out.push(line('kernel hook', f.hook));
  out.push('');
  out.push('tools');
  out.push(line('clang (BPF)', f.tools.clang));
  out.push(line('cc (host)', f.tools.cc));
  return out.join('\n') + '\n';
}

export function registerFeatures(program: Command): void {
  program
    .command('features')
    .description('what this machine offers each engine: userfaultfd, BPF and BTF, the kernel hook, privileges, compilers')
    .option('--json', 'print the facts as JSON')
    .addHelpText('after', '\nExit status: 0 always (the report says what is missing and why).')
    .action((flags: { json?: boolean }) => {
      const f = probeFeatures();
      process.stdout.write(flags.json ? JSON.stringify(f, null, 2) + '\n' : featuresText(f));
    });
}
