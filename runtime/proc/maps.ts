// /proc/PID/maps, the one parser: which mappings a `--vma NAME` filter means,
// and what this process's own address space shows at an address.
import { readFileSync } from 'node:fs';

export interface Vma {
  start: bigint;
  end: bigint;
  /** File offset of start (pgoff in bytes); 0 for anonymous memory. */
  fileOffset: bigint;
  /** As /proc/PID/maps names it: a path, `[heap]`, `[stack]`, `[anon:NAME]`, or '' */
  name: string;
}

/** Parses the text of /proc/PID/maps. Lines it cannot read are skipped. */
export function parseMaps(text: string): Vma[] {
  const out: Vma[] = [];
  for (const line of text.split('\n')) {
    // start-end perms offset dev inode [name]; the name may contain spaces.
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+\S+\s+([0-9a-f]+)\s+\S+\s+\d+\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({
      start: BigInt('0x' + m[1]),
      end: BigInt('0x' + m[2]),
      fileOffset: BigInt('0x' + m[3]),
      name: (m[4] ?? '').replace(/ \(deleted\)$/, ''),
    });
  }
  return out;
}

export function readMaps(pid: number): Vma[] {
  try {
    return parseMaps(readFileSync(`/proc/${pid}/maps`, 'utf8'));
  } catch {
    return []; // the process has exited
  }
}

/** The file /proc/self/maps shows at address, or '' for anonymous memory. */
export function mappedFile(address: bigint): string {
  const vma = parseMaps(readFileSync('/proc/self/maps', 'utf8')).find((v) => v.start <= address && address < v.end);
  return vma?.name ?? '';
}

/**
 * Where a page of a named VMA lies in the region that name stands for: a file
 * mapping's offset is its file offset (so the three mappings of one library
 * are one region); anonymous mappings of one name count from the lowest one;
 * the stack counts down from its top.
 */
export function vmaOffset(vmas: Vma[], name: string, address: bigint): bigint | undefined {
  let lowest: bigint | undefined;
  let hit: Vma | undefined;
  for (const v of vmas) {
    if (v.name !== name) continue;
    if (lowest === undefined || v.start < lowest) lowest = v.start;
    if (address >= v.start && address < v.end) hit = v;
  }
  if (!hit || lowest === undefined) return undefined;
  // As the trace program counts it: the stack grows down, offsets from its top.
  if (name === '[stack]') return hit.end - 4096n - (address & ~4095n);
  const isFile = name.startsWith('/');
  return isFile ? address - hit.start + hit.fileOffset : address - lowest;
}
