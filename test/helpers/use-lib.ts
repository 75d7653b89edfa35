// What test/fixtures/libfaultc/use_lib.c prints on marked.pfp, the same on
// every engine (test/codegen/sets.test.ts on uffd, test/vm/vm-sets.test.ts on kernel).
import { expect } from 'vitest';

export function expectUseLibOutput(lines: string[]): void {
  expect(lines).toContain('policy marked set bad=0 unused_here=1 nope=-1');
  expect(lines).toContain('no region: No such file or directory');
  expect(lines).toContain('add 3: 0, add 10..12: 0, past end: -34, bad set: -22');
  expect(lines).toContain('contains 3 10 11 12 13: 1 1 0 1 0');
  const pages = lines.filter((l) => l.startsWith('page '));
  expect(pages).toHaveLength(14);
  for (const l of pages) {
    const p = Number(/page (\d+)/.exec(l)![1]);
    expect(l).toBe(`page ${p}: ${[3, 10, 12].includes(p) ? 'SIGBUS' : '0x5a'}`);
  }
  expect(lines).toContain('stats faults=14 fill=11 sigbus=3 zero=0');
  expect(lines).toContain('events 14 sigbus events 3 lost 0');
  expect(lines.filter((l) => l !== '').at(-1)).toBe('closed');
}
