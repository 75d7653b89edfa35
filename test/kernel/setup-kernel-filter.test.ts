// Which command lines make the test run build the guest kernel up front.
import { describe, expect, it } from 'vitest';
import { runIncludesVmTests } from '../setup/kernel.js';

const vitest = ['node', '/x/node_modules/vitest/vitest.mjs', 'run'];

describe('runIncludesVmTests', () => {
  it('includes the VM tests in a run without filters', () => {
    expect(runIncludesVmTests(vitest)).toBe(true);
  });
  it('follows file filters', () => {
    expect(runIncludesVmTests([...vitest, 'test/grammar'])).toBe(false);
    expect(runIncludesVmTests([...vitest, 'test/grammar', 'test/vm/vm-kernel.test.ts'])).toBe(true);
  });
  it('does not take an option value for a filter', () => {
    expect(runIncludesVmTests([...vitest, '--exclude', 'test/vm*'])).toBe(false);
    expect(runIncludesVmTests([...vitest, '--exclude=test/vm*'])).toBe(false);
    expect(runIncludesVmTests([...vitest, '-t', 'vm boots'])).toBe(true);
    expect(runIncludesVmTests([...vitest, '--reporter', 'verbose', 'test/fuzz'])).toBe(false);
  });
});
