// A child process of `faultc run`: touches one page whose rule is sigbus, so
// the SIGBUS ends this process and not the caller. Prints `survived` if the
// page was resolved after all.
// argv[2]: JSON { path, options, region, page, write }
import { loadPolicy, type LoadPolicyOptions } from '../api/policy.js';

interface ProbeArgs {
  path: string;
  options: LoadPolicyOptions;
  region: string;
  page: number;
  write: boolean;
}

const args = JSON.parse(process.argv[2] ?? '{}') as ProbeArgs;
const policy = await loadPolicy(args.path, args.options);
const region = policy.region(args.region);
await region.touch(Uint32Array.of(args.page), { threads: 1, write: args.write, value: 1 });
process.stdout.write('survived\n');
await policy.close();
