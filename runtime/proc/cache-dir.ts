// Where faultc keeps what it compiles: $XDG_CACHE_HOME/faultc/<kind>
// (~/.cache by default). Where that cannot be written (a read-only home, a
// path under /proc), a folder of this user's under the temporary directory,
// with a warning that says where and why.
import { constants } from 'node:fs';
import { access, lstat, mkdir, mkdtemp } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDir } from '../../compiler/files.js';

export type CacheKind = 'policies' | 'trace';

const chosen = new Map<CacheKind, Promise<string>>();

export function preferredCacheDir(kind: CacheKind): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'faultc', kind);
}

async function writable(dir: string): Promise<void> {
  await makeDir(dir);
  await access(dir, constants.W_OK | constants.X_OK);
}

/** <tmp>/faultc-<uid>, when it is this user's own folder that nobody else can write; else a fresh private one. */
async function privateTempRoot(): Promise<string> {
  const uid = process.getuid?.() ?? 0;
  const dir = join(tmpdir(), `faultc-${uid}`);
  await mkdir(dir, { mode: 0o700 }).catch(() => undefined);
  const st = await lstat(dir).catch(() => undefined);
  if (st?.isDirectory() && st.uid === uid && (st.mode & 0o077) === 0) return dir;
  return mkdtemp(join(tmpdir(), 'faultc-'));
}

async function choose(kind: CacheKind): Promise<string> {
  const preferred = preferredCacheDir(kind);
  try {
    await writable(preferred);
    return preferred;
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    let fallback: string;
    try {
      fallback = join(await privateTempRoot(), kind);
      await writable(fallback);
    } catch (f) {
      const whyNot = (f as NodeJS.ErrnoException).code ?? (f as Error).message;
      throw Object.assign(new Error(`cannot use the cache folder ${preferred} (${why}), nor one under ${tmpdir()} (${whyNot}): set XDG_CACHE_HOME or TMPDIR to a writable folder`), {
        code: 'FAULTC_CACHE',
        path: preferred,
      });
    }
    process.emitWarning(`cannot use the cache folder ${preferred} (${why}): using ${fallback}`, { code: 'FAULTC_CACHE_FALLBACK' });
    return fallback;
  }
}

/** The cache folder for `kind`, made if missing; chosen once per process. */
export function writableCacheDir(kind: CacheKind): Promise<string> {
  let dir = chosen.get(kind);
  if (!dir) {
    dir = choose(kind);
    chosen.set(kind, dir);
    dir.catch(() => chosen.delete(kind));
  }
  return dir;
}
