/**
 * The Hugging Face cache layout (as huggingface_hub writes it, so Python and Node share one cache):
 * `<cache>/<models|datasets>--org--name/{refs/<rev>, snapshots/<commit>/<file>, blobs/<etag>, trees/<commit>.json}`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../files';
import { hubCacheDir } from './env';
import { HubError } from './errors';

/** Refuse a repo file name that would escape the cache folder (`..`, absolute, backslashes, empty segments). */
export function safeRepoPath(p: string, ctx?: { repoId?: string }): string {
  const bad =
    typeof p !== 'string' ||
    p.length === 0 ||
    p.includes('\\') ||
    p.includes('\0') ||
    p.startsWith('/') ||
    /^[A-Za-z]:/.test(p) ||
    p.split('/').some((s) => s === '' || s === '.' || s === '..');
  if (bad) throw new HubError(`refusing file name ${JSON.stringify(p)} from the Hub${ctx?.repoId ? ` (repo ${ctx.repoId})` : ''}: it would escape the cache folder`, undefined, ctx?.repoId);
  return p;
}

/** `models--org--name` / `datasets--org--name`. */
export function repoFolderName(type: 'model' | 'dataset', repoId: string): string {
  return `${type}s--${repoId.split('/').join('--')}`;
}

/** A full commit sha. */
export const COMMIT = /^[0-9a-f]{40}$/;

// ---------------------------------------------------------------------------------------------------------------
// The tree listing cache: <storage>/trees/<commit>.json, the format huggingface_hub (>= 1.x) writes
// ---------------------------------------------------------------------------------------------------------------

/** One file of a cached tree listing. */
export interface TreeEntry {
  size: number;
  blob_id: string;
  lfs_sha256?: string;
  lfs_size?: number;
  xet_hash?: string;
}
/** A tree listing: repo path → entry. */
export type Listing = Map<string, TreeEntry>;

/** The cached tree listing of a commit, if any. */
export function readTreeCache(storage: string, commit: string): Listing | undefined {
  try {
    const data = JSON.parse(fs.readFileSync(path.join(storage, 'trees', `${commit}.json`), 'utf8')) as { format_version?: number; files?: Record<string, TreeEntry> };
    if (data.format_version !== 1 || !data.files || typeof data.files !== 'object') return undefined;
    return new Map(Object.entries(data.files));
  } catch {
    return undefined;
  }
}

/** JSON exactly as Python's json.dump(data, f, indent=1) writes it (ensure_ascii). */
function pythonJson(data: unknown): string {
  return JSON.stringify(data, null, 1).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Write trees/<commit>.json as huggingface_hub does. */
export function writeTreeCache(storage: string, commit: string, listing: Listing): void {
  const files: Record<string, TreeEntry> = {};
  for (const p of [...listing.keys()].sort(comparePy)) {
    const e = listing.get(p)!;
    const o: TreeEntry = { size: e.size, blob_id: e.blob_id };
    if (e.lfs_sha256 !== undefined) {
      o.lfs_sha256 = e.lfs_sha256;
      o.lfs_size = e.lfs_size;
    }
    if (e.xet_hash !== undefined) o.xet_hash = e.xet_hash;
    files[p] = o;
  }
  writeFileAtomic(path.join(storage, 'trees', `${commit}.json`), pythonJson({ format_version: 1, files }), { mkdir: true });
}

/** Python's str ordering (code points). */
function comparePy(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d) return d;
  }
  return x.length - y.length;
}


/** The commit a cached ref names, if any. */
export function readRef(storage: string, revision: string): string | undefined {
  try {
    const sha = fs.readFileSync(path.join(storage, 'refs', ...revision.split('/')), 'utf8').trim();
    return COMMIT.test(sha) ? sha : undefined;
  } catch {
    return undefined;
  }
}

/** Record that a ref names a commit. */
export function writeRef(storage: string, revision: string, commit: string): void {
  if (readRef(storage, revision) === commit) return;
  writeFileAtomic(path.join(storage, 'refs', ...revision.split('/')), commit, { mkdir: true });
}

/** Every file under a snapshot folder (relative, '/'-separated), for offline use without a cached tree listing. */
export function walkSnapshot(dir: string): Listing {
  const out: Listing = new Map();
  const walk = (d: string, rel: string) => {
    for (const ent of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      const full = path.join(d, ent.name);
      const st = fs.statSync(full, { throwIfNoEntry: false });
      if (st?.isDirectory()) walk(full, r);
      else if (st?.isFile()) out.set(r, { size: st.size, blob_id: '' });
    }
  };
  if (fs.existsSync(dir)) walk(dir, '');
  return out;
}


/** Where a repo file of a commit lives in the snapshot folder. */
export function snapshotPath(storage: string, commit: string, p: string): string {
  return path.join(storage, 'snapshots', commit, ...p.split('/'));
}

/** The newest snapshot folder of `org/name` in the local cache (cache only, no request), or undefined. */
export function cachedSnapshot(repoId: string, kind: 'model' | 'dataset', cacheDir = hubCacheDir()): string | undefined {
  const base = path.join(cacheDir, repoFolderName(kind, repoId), 'snapshots');
  if (!fs.existsSync(base)) return undefined;
  const snaps = fs
    .readdirSync(base)
    .map((n) => path.join(base, n))
    .filter((d) => fs.statSync(d).isDirectory() && (kind === 'model' ? fs.existsSync(path.join(d, 'config.json')) : fs.readdirSync(d).length > 0))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return snaps[0];
}

/** 'org/name' of a path inside the cache (`.../models--org--name/snapshots/<sha>`), else undefined. */
export function repoIdOfCachePath(p: string, kind: 'model' | 'dataset'): string | undefined {
  const m = new RegExp(`(?:^|[\\\\/])${kind}s--([^\\\\/]+?)--([^\\\\/]+)[\\\\/]snapshots(?:[\\\\/]|$)`).exec(p);
  return m ? `${m[1]}/${m[2]}` : undefined;
}
