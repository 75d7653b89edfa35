// Runs a compiled <policy>.decide.so on many faults at once: a small C driver
// (built once per test file) dlopens the library, reads one fault per line on
// stdin and prints the decision per line. Also turns reference-evaluator
// results into the same line format, so the two can be compared as text.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ABI_HEADER, ACTION_CODES, DECISION_FLAGS, ERROR_CODES, PREFETCH_DIR_CODES } from '../../abi/abi.js';
import type { Evaluation, EvalInput } from '../../compiler/evaluate.js';

const DRIVER_C = `#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "faultc_abi.h"

typedef int (*decide_fn)(const struct faultc_fault *, struct faultc_decision *);

int main(int argc, char **argv)
{
	void *lib;
	decide_fn decide;
	unsigned (*abi)(void);
	const char *(*name)(void);
	unsigned long long v[13];
	char line[1024];

	if (argc != 2)
		return 2;
	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "%s\\n", dlerror());
		return 3;
	}
	decide = (decide_fn)dlsym(lib, "faultc_decide");
	abi = (unsigned (*)(void))dlsym(lib, "faultc_abi_version");
	name = (const char *(*)(void))dlsym(lib, "faultc_policy_name");
	if (!decide || !abi || !name)
		return 4;
	printf("abi %u policy %s\\n", abi(), name());
	while (fgets(line, sizeof(line), stdin)) {
		struct faultc_fault in;
		struct faultc_decision out;
		char *p = line, *end;
		int i, ret;

		for (i = 0; i < 13; i++) {
			v[i] = strtoull(p, &end, 10);
			if (end == p)
				return 5;
			p = end;
		}
		memset(&in, 0, sizeof(in));
		in.region = (__u32)v[0];
		in.handler = (__u32)v[1];
		in.write = (__u32)v[2];
		in.offset = v[3];
		in.address = v[4];
		for (i = 0; i < 8; i++)
			in.source_size[i] = v[5 + i];
		/* Garbage in *out must not leak into the answer. */
		memset(&out, 0x5a, sizeof(out));
		ret = decide(&in, &out);
		if (ret != 0) {
			printf("ret %d\\n", ret);
			continue;
		}
		printf("%u %u %u %u %llu %u %u %u\\n", out.action, out.flags, out.fill_byte, out.source,
		       (unsigned long long)out.source_offset, out.prefetch_pages, out.prefetch_dir, out.error);
	}
	return 0;
}
`;

/** Builds the driver in `dir`; returns its path. */
export function buildDriver(dir: string): string {
  writeFileSync(join(dir, 'faultc_abi.h'), ABI_HEADER);
  writeFileSync(join(dir, 'driver.c'), DRIVER_C);
  const exe = join(dir, 'driver');
  execFileSync('cc', ['-O2', '-Wall', '-Werror', '-I', dir, '-o', exe, join(dir, 'driver.c'), '-ldl']);
  return exe;
}

export const HANDLER_NUM = { missing: 0, write: 1 } as const;

/** One input line for the driver. */
export function inputLine(input: EvalInput): string {
  const sizes = Array.from({ length: 8 }, (_, i) => (input.sourceSizes[i] ?? 0n).toString());
  return [input.region, HANDLER_NUM[input.handler], input.write ? 1 : 0, input.offset.toString(), input.address.toString(), ...sizes].join(' ');
}

/** The driver's output line the evaluator's answer corresponds to. */
export function expectedLine(e: Evaluation): string {
  let flags = 0;
  if (e.notify) flags |= DECISION_FLAGS.notify;
  if (e.trackDirty) flags |= DECISION_FLAGS.trackDirty;
  if (e.error) flags |= DECISION_FLAGS.error;
  return [
    ACTION_CODES[e.action],
    flags,
    e.fillByte ?? 0,
    e.source ?? 0,
    (e.sourceOffset ?? 0n).toString(),
    e.prefetch?.pages ?? 0,
    e.prefetch ? PREFETCH_DIR_CODES[e.prefetch.direction] : 0,
    e.error ? ERROR_CODES[e.error] : 0,
  ].join(' ');
}

/** Runs the driver on `inputs`; returns the header line and one line per input. */
export function runDriver(driver: string, so: string, inputs: EvalInput[]): { header: string; lines: string[] } {
  const out = execFileSync(driver, [so], {
    input: inputs.map(inputLine).join('\n') + '\n',
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const [header = '', ...lines] = out.trimEnd().split('\n');
  return { header, lines };
}

/** splitmix64: a small seeded generator, so every run tests the same inputs. */
export class Rng {
  private state: bigint;
  constructor(seed: bigint) {
    this.state = seed & 0xffffffffffffffffn;
  }
  next(): bigint {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
    return z ^ (z >> 31n);
  }
  /** 0 <= n < bound */
  below(bound: bigint): bigint {
    return bound <= 0n ? 0n : this.next() % bound;
  }
  int(bound: number): number {
    return Number(this.below(BigInt(bound)));
  }
  pick<T>(items: readonly T[]): T {
    const v = items[this.int(items.length)];
    if (v === undefined) throw new RangeError('pick from an empty list');
    return v;
  }
  chance(p: number): boolean {
    return this.int(1_000_000) < p * 1_000_000;
  }
}
