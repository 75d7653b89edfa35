// Whether a file lives on tmpfs: the uffd engine maps such a source's pages
// instead of copying them (minor faults exist for shmem only).
import { statfsSync } from 'node:fs';

const TMPFS_MAGIC = 0x01021994;

export function onTmpfs(path: string): boolean {
  try {
    return statfsSync(path).type === TMPFS_MAGIC;
  } catch {
    return false;
  }
}
