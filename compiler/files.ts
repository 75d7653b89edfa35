// The file system at faultc's edges, whatever a path names. A policy file is
// a regular file of at most MAX_INPUT_BYTES, opened without blocking (a FIFO
// would wait for a writer for ever) and read no further than the limit
// (/dev/zero never ends). Folders are made one level at a time.
import { constants, type Stats } from 'node:fs';
import { type FileHandle, mkdir, open, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { MAX_INPUT_BYTES } from '../base/limits.js';

export type InputFile = { ok: true; bytes: Buffer } | { ok: false; reason: string } | { ok: false; tooLarge: number };

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Why `st` cannot be read as a policy file or a source, or null when it is a regular file. */
export function notRegularFile(st: Stats): string | null {
  return st.isFile() ? null : `not a regular file (${kindOf(st)})`;
}

export async function readInputFile(path: string, limit = MAX_INPUT_BYTES): Promise<InputFile> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    return { ok: false, reason: fileErrorReason(e) };
  }
  try {
    const st = await fh.stat();
    const refused = notRegularFile(st);
    if (refused) return { ok: false, reason: refused };
    if (st.size > limit) return { ok: false, tooLarge: st.size };
    // At most limit + 1 bytes, even of a file that grows meanwhile.
    const buf = Buffer.alloc(Math.min(st.size, limit) + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) break;
    }
    if (n > limit) return { ok: false, tooLarge: n };
    return { ok: true, bytes: buf.subarray(0, n) };
  } catch (e) {
    return { ok: false, reason: fileErrorReason(e) };
  } finally {
    await fh.close();
  }
}

/** The file's text for showing diagnostics, or '' when it cannot be read as a policy file (nor is text: a binary's bytes are never echoed). */
export async function readInputText(path: string): Promise<string> {
  const r = await readInputFile(path);
  if (!r.ok) return '';
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(r.bytes);
  } catch {
    return '';
  }
}

const ERRNO_WORDS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a folder',
  ENOTDIR: 'a part of the path is not a folder',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EEXIST: 'it already exists',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EMFILE: 'too many open files',
  EBUSY: 'the file is busy',
  EIO: 'input/output error',
  ENXIO: 'no such device or address',
};

/**
 * Why a file operation failed, in words, without the path (which the caller
 * names once): `ENOENT` -> `no such file or folder`. Takes an errno code, a
 * Node error or a reason already in words.
 */
export function fileErrorReason(e: unknown): string {
  const code = typeof e === 'string' ? e : ((e as NodeJS.ErrnoException | undefined)?.code ?? '');
  const words = ERRNO_WORDS[code];
  if (words) return words;
  if (typeof e === 'string') return e;
  const message = e instanceof Error ? e.message : String(e);
  // Node's text is "CODE: words, syscall 'path'": keep the words.
  const m = /^[A-Z]+: ([^,]+),/.exec(message);
  return m ? m[1]! : message;
}

/**
 * mkdir -p: makes `dir` and its missing parents; returns the first folder it
 * made (undefined when `dir` existed). Not Node's recursive mkdir, which
 * loops for ever where a parent cannot be made (under /proc).
 */
export async function makeDir(dir: string): Promise<string | undefined> {
  const missing: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    const st = await stat(d).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
      return undefined;
    });
    if (st) {
      if (!st.isDirectory()) throw Object.assign(new Error(`${d} is not a directory`), { code: 'ENOTDIR', path: d });
      break;
    }
    missing.push(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    await mkdir(d).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
  return missing[0];
}
