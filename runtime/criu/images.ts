// Reads the CRIU images a lazy restore needs: the process tree (pstree.img),
// each task's memory areas (mm-<pid>.img), its pagemap (pagemap-<pid>.img)
// and the file names behind file mappings (files.img). The format: a 4-byte
// common magic, a 4-byte image magic, then messages, each a 4-byte
// little-endian length and that many bytes of protobuf. Page contents stay in
// pages-<id>.img (raw, no header), read by the native daemon.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from '../../base/errors.js';
import { WireError, decodeFields, messages, requiredAddress, requiredNumber, text, uint } from './protobuf.js';

export const PAGE_SIZE = 4096;
const IMG_COMMON_MAGIC = 0x54564319;
const MAGIC = { pstree: 0x50273030, mm: 0x57492820, pagemap: 0x56084025, files: 0x56303138 } as const;

/** pagemap_entry flags. */
export const PE_PARENT = 1;
export const PE_LAZY = 2;
export const PE_PRESENT = 4;

/** vma_entry status bits the language names. */
export const VMA_AREA_STACK = 1 << 1;
export const VMA_AREA_HEAP = 1 << 5;
export const VMA_FILE_PRIVATE = 1 << 6;
export const VMA_FILE_SHARED = 1 << 7;
export const VMA_ANON_SHARED = 1 << 8;
export const VMA_ANON_PRIVATE = 1 << 9;

export interface PstreeEntry {
  pid: number;
  ppid: number;
  threads: number[];
}

export interface Vma {
  start: number;
  end: number;
  pgoff: number;
  /** File id (files.img) of a file mapping; 0 when anonymous. */
  shmid: number;
  prot: number;
  flags: number;
  status: number;
}

/** A run of lazy pages in one VMA, and where the pages image holds them. */
export interface LazyArea {
  start: number;
  nrPages: number;
  fileOffset: number;
  vma: Vma;
}

export interface PagemapEntry {
  vaddr: number;
  nrPages: number;
  flags: number;
  /** Byte offset of the entry's first page in pages-<pagesId>.img; -1 when not present there. */
  fileOffset: number;
}

export interface Pagemap {
  pagesId: number;
  entries: PagemapEntry[];
  /** Bytes of pages-<pagesId>.img the entries account for. */
  presentBytes: number;
}

export interface TaskImages {
  pid: number;
  vmas: Vma[];
  pagemap: Pagemap;
  pagesPath: string;
}

/** An image that cannot be read: FAULTC_CRIU_IMAGE, naming the file and what is wrong. */
function imageError(path: string, what: string): RuntimeError {
  return new RuntimeError('FAULTC_CRIU_IMAGE', `${path}: ${what}`);
}

/** The messages of one image file, checked against its magic. */
export function readImage(path: string, magic: number): Uint8Array[] {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new RuntimeError('FAULTC_CRIU_IMAGE_MISSING', `cannot read ${path}: ${(e as Error).message}`);
  }
  if (buf.length < 8) throw imageError(path, `${buf.length} bytes: too short for an image header`);
  const head = buf.readUInt32LE(0);
  const kind = buf.readUInt32LE(4);
  if (head !== IMG_COMMON_MAGIC) throw imageError(path, `not a CRIU image (magic 0x${head.toString(16)})`);
  if (kind !== magic) throw imageError(path, `image magic 0x${kind.toString(16)}, expected 0x${magic.toString(16)}`);
  const out: Uint8Array[] = [];
  let pos = 8;
  while (pos < buf.length) {
    if (pos + 4 > buf.length) throw imageError(path, `truncated message length at byte ${pos}`);
    const len = buf.readUInt32LE(pos);
    if (pos + 4 + len > buf.length) throw imageError(path, `message at byte ${pos} runs past the end (${len} bytes)`);
    out.push(buf.subarray(pos + 4, pos + 4 + len));
    pos += 4 + len;
  }
  return out;
}

/** Decode with WireError turned into a FAULTC_CRIU_IMAGE error naming the file. */
function decoded<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof WireError) throw imageError(path, e.message);
    throw e;
  }
}

export function readPstree(dir: string): PstreeEntry[] {
  const path = join(dir, 'pstree.img');
  return decoded(path, () =>
    readImage(path, MAGIC.pstree).map((m) => {
      const f = decodeFields(m);
      return {
        pid: requiredNumber(f, 1, 'pid'),
        ppid: requiredNumber(f, 2, 'ppid'),
        threads: (f.get(5) ?? []).map((v) => Number(v.value)).filter((n) => Number.isInteger(n)),
      };
    }),
  );
}

export function readMm(dir: string, pid: number): Vma[] {
  const path = join(dir, `mm-${pid}.img`);
  return decoded(path, () => {
    const [mm] = readImage(path, MAGIC.mm);
    if (mm === undefined) throw imageError(path, 'no mm_entry');
    return messages(decodeFields(mm), 14).map((v) => {
      const f = decodeFields(v);
      return {
        start: requiredAddress(f, 1, 'start'),
        end: requiredAddress(f, 2, 'end'),
        pgoff: requiredAddress(f, 3, 'pgoff'),
        shmid: requiredAddress(f, 4, 'shmid'),
        prot: requiredNumber(f, 5, 'prot'),
        flags: requiredNumber(f, 6, 'flags'),
        status: requiredNumber(f, 7, 'status'),
      };
    });
  });
}

/** Where mm-<pid>.img says the stack starts and the brk heap lies (the language's "[stack]" and "[heap]"). */
export interface MmLayout {
  startStack: number;
  startBrk: number;
  brk: number;
}

export function readMmLayout(dir: string, pid: number): MmLayout {
  const path = join(dir, `mm-${pid}.img`);
  return decoded(path, () => {
    const [mm] = readImage(path, MAGIC.mm);
    if (mm === undefined) throw imageError(path, 'no mm_entry');
    const f = decodeFields(mm);
    return { startStack: requiredAddress(f, 5, 'mm_start_stack'), startBrk: requiredAddress(f, 6, 'mm_start_brk'), brk: requiredAddress(f, 7, 'mm_brk') };
  });
}

export function readPagemap(dir: string, pid: number): Pagemap {
  const path = join(dir, `pagemap-${pid}.img`);
  return decoded(path, () => {
    const [head, ...rest] = readImage(path, MAGIC.pagemap);
    if (head === undefined) throw imageError(path, 'no pagemap_head');
    const pagesId = requiredNumber(decodeFields(head), 1, 'pages_id');
    let offset = 0;
    const entries = rest.map((m) => {
      const f = decodeFields(m);
      const vaddr = requiredNumber(f, 1, 'vaddr');
      const nr = uint(f, 5) ?? uint(f, 2);
      if (nr === undefined) throw new WireError('pagemap_entry has no page count', 0);
      const nrPages = Number(nr);
      let flags = Number(uint(f, 4) ?? 0n);
      // Old images: in_parent instead of flags, present otherwise.
      if (uint(f, 4) === undefined) flags = uint(f, 3) === 1n ? PE_PARENT : PE_PRESENT;
      if (vaddr % PAGE_SIZE !== 0) throw new WireError(`pagemap_entry vaddr 0x${vaddr.toString(16)} is not page-aligned`, 0);
      const present = (flags & PE_PRESENT) !== 0;
      const entry = { vaddr, nrPages, flags, fileOffset: present ? offset : -1 };
      if (present) offset += nrPages * PAGE_SIZE;
      return entry;
    });
    return { pagesId, entries, presentBytes: offset };
  });
}

/** File id -> path of the regular files in files.img (for file mappings). */
export function readFileNames(dir: string): Map<number, string> {
  const path = join(dir, 'files.img');
  const names = new Map<number, string>();
  let records: Uint8Array[];
  try {
    records = readImage(path, MAGIC.files);
  } catch (e) {
    if (e instanceof RuntimeError && e.code === 'FAULTC_CRIU_IMAGE_MISSING') return names;
    throw e;
  }
  decoded(path, () => {
    for (const m of records) {
      const f = decodeFields(m);
      const [reg] = messages(f, 3);
      if (reg === undefined) continue;
      const name = text(decodeFields(reg), 6);
      if (name !== undefined) names.set(requiredNumber(f, 2, 'id'), name);
    }
  });
  return names;
}

/**
 * Every task's images, with the pages image checked against its pagemap: the
 * file must hold exactly the pages the pagemap says it holds. A pages image
 * of another size (truncated, or another dump's) is refused before anything
 * is served from it (FAULTC_CRIU_PAGES_SIZE).
 */
export function readTasks(dir: string): TaskImages[] {
  return readPstree(dir).map((t) => {
    const pagemap = readPagemap(dir, t.pid);
    const pagesPath = join(dir, `pages-${pagemap.pagesId}.img`);
    let size: number;
    try {
      size = statSync(pagesPath).size;
    } catch (e) {
      throw new RuntimeError('FAULTC_CRIU_IMAGE_MISSING', `cannot read ${pagesPath}: ${(e as Error).message}`);
    }
    if (size !== pagemap.presentBytes) {
      throw new RuntimeError(
        'FAULTC_CRIU_PAGES_SIZE',
        `${pagesPath} has ${size} bytes but pagemap-${t.pid}.img accounts for ${pagemap.presentBytes}: ` +
          `the pages image is truncated or belongs to another dump`,
      );
    }
    return { pid: t.pid, vmas: readMm(dir, t.pid), pagemap, pagesPath };
  });
}
