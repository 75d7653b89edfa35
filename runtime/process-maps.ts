// What this process's own address space shows at an address (/proc/self/maps).
import { readFileSync } from 'node:fs';

/** The file /proc/self/maps shows at address, or '' for anonymous memory. */
export function mappedFile(address: bigint): string {
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const [range = '', , , , , path = ''] = line.split(/\s+/);
    const [lo = '0', hi = '0'] = range.split('-');
    if (BigInt(`0x${lo}`) <= address && address < BigInt(`0x${hi}`)) return path;
  }
  return '';
}
