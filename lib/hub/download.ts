/**
 * The download engine: models and datasets into the Hugging Face cache (hub/cache.ts), atomic and resumable (Range),
 * hash-checked, offline mode. HTTP goes through @huggingface/hub (repo info, tree listing, file download info).
 *
 *   const dir = await resolveModel('answerdotai/ModernBERT-base');          // → .../snapshots/<commit>
 *   const data = await resolveDataset('unsloth/Radiology_mini', { splits: ['train', 'test'] });
 *
 * Cache re-use: a revision that is a commit sha, or a branch/tag whose `refs/<rev>` is cached, is served from the
 * cache with no request at all when `trees/<commit>.json` (the tree listing that huggingface_hub >= 1.x also writes)
 * is cached and every needed file is in the snapshot. Unlike huggingface_hub, a cached branch is not re-checked for
 * new commits unless `checkForUpdates: true` is passed.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { FileError, UsageError } from '../errors';
import { lib, type Lib } from './client';
import { hubCacheDir, hubEndpoint, hubOffline, hubToken } from './env';
import { HubError, hubFetch, redact, toHubError, what, type Ctx } from './errors';
import { sourceOf, validRevision } from './ids';
import { COMMIT, readRef, readTreeCache, repoFolderName, safeRepoPath, snapshotPath, walkSnapshot, writeRef, writeTreeCache, type Listing, type TreeEntry } from './cache';
import { ByteProgress, formatBytes } from './progress';


/** Options shared by resolveModel and resolveDataset. */
export interface DownloadOptions {
  /** Branch, tag or commit sha (default 'main', or the `@revision` of `org/name@revision`). */
  revision?: string;
  /** Hub token (default: $HF_TOKEN, else the token file of `huggingface-cli login`). */
  token?: string;
  /** Use only the cache (default: $HF_HUB_OFFLINE). */
  offline?: boolean;
  /** Ask the Hub whether a cached branch / tag moved (default false: a cached, complete snapshot is used with no request). */
  checkForUpdates?: boolean;
  /** Cache folder (default: hubCacheDir()). */
  cacheDir?: string;
  /** No progress output (default false; progress goes to stderr). */
  quiet?: boolean;
  /** Extra attempts after a dropped connection, each resuming with a Range request (default 3). */
  retries?: number;
}

class Missing extends Error {}

type Ensure = (p: string) => Promise<Buffer>;
/** Pick the files to fetch from a listing; `ensure(p)` makes `p` available and returns its bytes (e.g. a weights index). */
type Selector = (listing: Listing, ensure: Ensure) => Promise<string[]>;

interface Job {
  ctx: Ctx;
  storage: string;
  commit: string;
  listing: Listing;
  options: DownloadOptions;
}


async function hashFile(file: string, algo: 'sha256' | 'gitblob', size: number): Promise<string> {
  const h = createHash(algo === 'sha256' ? 'sha256' : 'sha1');
  if (algo === 'gitblob') h.update(`blob ${size}\0`);
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function fileExists(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isFile();
  } catch {
    return false;
  }
}

/** Make `p` of the job's commit present in the snapshot (download the blob unless cached, then link it). */
async function ensureFile(job: Job, p: string): Promise<void> {
  const { ctx, storage, commit } = job;
  safeRepoPath(p, ctx);
  const entry = job.listing.get(p);
  if (!entry) throw new HubError(`${what(ctx, p)}: the file is not in the repo at commit ${commit}`, 404, ctx.repoId);
  const pointer = snapshotPath(storage, commit, p);
  if (await fileExists(pointer)) return;
  const etag = entry.lfs_sha256 ?? entry.blob_id;
  if (!/^[0-9a-f]{40}$|^[0-9a-f]{64}$/.test(etag ?? '')) throw new HubError(`${what(ctx, p)}: the Hub gave an invalid blob id ${JSON.stringify(etag)}`, undefined, ctx.repoId);
  const blob = path.join(storage, 'blobs', etag);
  await fsp.mkdir(path.dirname(blob), { recursive: true });
  await fsp.mkdir(path.dirname(pointer), { recursive: true });
  if (!(await fileExists(blob))) await downloadBlob(job, p, entry, blob);
  await fsp.rm(pointer, { force: true }); // a dangling link left by a deleted blob
  try {
    await fsp.symlink(path.relative(path.dirname(pointer), blob), pointer);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    await fsp.copyFile(blob, pointer); // no symlinks (Windows without developer mode): a copy, as huggingface_hub does
  }
}

/** Download one blob to `<blob>.incomplete` (resuming it with a Range request), check its hash, rename it into place. */
async function downloadBlob(job: Job, p: string, entry: TreeEntry, blob: string): Promise<void> {
  const { ctx, commit, options } = job;
  const fetchFn = hubFetch(ctx);
  const incomplete = `${blob}.incomplete`;
  const size = entry.lfs_size ?? entry.size;
  let info: Awaited<ReturnType<Lib['fileDownloadInfo']>>;
  try {
    info = await lib().fileDownloadInfo({ repo: { type: ctx.type, name: ctx.repoId }, path: p, revision: commit, hubUrl: ctx.endpoint, accessToken: ctx.token, fetch: fetchFn });
  } catch (err) {
    throw toHubError(err, ctx, 'downloading', p);
  }
  if (!info) throw new HubError(`downloading ${what(ctx, p)}: the file is not in the repo (404)`, 404, ctx.repoId);
  if (info.size !== size) throw new HubError(`downloading ${what(ctx, p)}: the Hub reports ${info.size} bytes, its tree listing ${size}`, undefined, ctx.repoId);

  const retries = options.retries ?? 3;
  const stream = options.quiet ? undefined : process.stderr;
  for (let attempt = 0; ; attempt++) {
    let have = (await fsp.stat(incomplete).catch(() => undefined))?.size ?? 0;
    if (have > size) {
      await fsp.truncate(incomplete, 0);
      have = 0;
    }
    let progress: ByteProgress | undefined;
    try {
      if (have < size) {
        progress = new ByteProgress(`downloading ${ctx.repoId} ${p}`, size, stream, have);
        let body: AsyncIterable<Uint8Array>;
        if (info.xet) {
          // xet-backed file: the library reconstructs it; slicing resumes from `have`
          const b = await lib().downloadFile({ repo: { type: ctx.type, name: ctx.repoId }, path: p, revision: commit, hubUrl: ctx.endpoint, accessToken: ctx.token, fetch: fetchFn, downloadInfo: info });
          if (!b) throw new HubError(`downloading ${what(ctx, p)}: the file is not in the repo (404)`, 404, ctx.repoId);
          body = b.slice(have).stream() as unknown as AsyncIterable<Uint8Array>;
        } else {
          const headers: Record<string, string> = {};
          if (ctx.token) headers.Authorization = `Bearer ${ctx.token}`;
          if (have > 0) headers.Range = `bytes=${have}-`;
          const res = await fetchFn(info.url, { headers });
          if (!res.ok) {
            const e = Object.assign(new Error(`${res.status} ${res.statusText}`), { statusCode: res.status });
            await res.body?.cancel();
            throw toHubError(e, ctx, 'downloading', p);
          }
          if (have > 0 && res.status !== 206) {
            // the server ignored the Range request: start over
            await fsp.truncate(incomplete, 0);
            have = 0;
          }
          if (!res.body) throw new HubError(`downloading ${what(ctx, p)}: empty response`, undefined, ctx.repoId);
          body = res.body as unknown as AsyncIterable<Uint8Array>;
        }
        const fh = await fsp.open(incomplete, 'a');
        try {
          for await (const chunk of body) {
            await fh.write(chunk);
            progress.add(chunk.length);
          }
        } finally {
          await fh.close();
        }
        progress.end();
      }
      const got = (await fsp.stat(incomplete)).size;
      if (got !== size) throw Object.assign(new Error(`connection closed after ${got} of ${size} bytes`), { code: 'ECONNRESET' });
      const expected = entry.lfs_sha256 ?? entry.blob_id;
      const actual = await hashFile(incomplete, entry.lfs_sha256 ? 'sha256' : 'gitblob', size);
      if (actual !== expected) {
        await fsp.rm(incomplete, { force: true });
        throw new HubError(`downloading ${what(ctx, p)}: the downloaded bytes do not match the Hub's hash (${expected}); the partial file was removed, run again`, undefined, ctx.repoId);
      }
      await fsp.rename(incomplete, blob);
      return;
    } catch (err) {
      progress?.end();
      const transient = !(err instanceof HubError) || /cannot reach/.test(err.message);
      const partial = (await fsp.stat(incomplete).catch(() => undefined))?.size ?? 0;
      if (transient && attempt < retries) {
        if (stream) stream.write(`connection lost after ${formatBytes(partial)} of ${p}; resuming (attempt ${attempt + 2} of ${retries + 1})\n`);
        await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
        continue;
      }
      if (err instanceof HubError) throw toHubError(err, ctx, 'downloading', p);
      throw new HubError(
        redact(`downloading ${what(ctx, p)} from ${ctx.endpoint}: interrupted after ${partial} of ${size} bytes (${(err as Error)?.message ?? err}); ${partial ? `the partial download is kept in ${incomplete} and` : 'it'} will resume when you run again`, ctx.token),
        undefined,
        ctx.repoId,
      );
    }
  }
}

/** Use the cache only: the snapshot dir when every selected file is there, else the missing files. */
async function fromCache(storage: string, commit: string, select: Selector, allowWalk: boolean): Promise<{ dir: string } | { missing: string[]; why?: string }> {
  const dir = path.join(storage, 'snapshots', commit);
  const listing = readTreeCache(storage, commit) ?? (allowWalk ? walkSnapshot(dir) : undefined);
  if (!listing) return { missing: [], why: `no cached tree listing (trees/${commit}.json)` };
  const missing: string[] = [];
  const ensure: Ensure = async (p) => {
    safeRepoPath(p);
    try {
      return await fsp.readFile(snapshotPath(storage, commit, p));
    } catch {
      missing.push(p);
      throw new Missing(p);
    }
  };
  let needed: string[];
  try {
    needed = await select(listing, ensure);
  } catch (err) {
    if (err instanceof Missing) return { missing };
    throw err;
  }
  for (const p of needed) if (!(await fileExists(snapshotPath(storage, commit, safeRepoPath(p))))) missing.push(p);
  return missing.length ? { missing } : { dir };
}

async function snapshot(type: 'model' | 'dataset', repoId: string, select: Selector, options: DownloadOptions): Promise<string> {
  const revision = options.revision ?? 'main';
  if (!validRevision(revision)) throw new HubError(`invalid revision ${JSON.stringify(revision)} for ${type} ${repoId}`, undefined, repoId);
  const cacheDir = path.resolve(options.cacheDir ?? hubCacheDir());
  const storage = path.join(cacheDir, repoFolderName(type, repoId));
  const token = hubToken(options.token);
  const ctx: Ctx = { type, repoId, revision, token, endpoint: hubEndpoint() };
  const offline = options.offline ?? hubOffline();
  const isCommit = COMMIT.test(revision);
  const cachedCommit = isCommit ? revision : readRef(storage, revision);

  if (cachedCommit && (offline || isCommit || !options.checkForUpdates)) {
    const r = await fromCache(storage, cachedCommit, select, offline);
    if ('dir' in r) return r.dir;
    if (offline)
      throw new HubError(
        `offline mode (${options.offline ? 'offline: true' : 'HF_HUB_OFFLINE=1'}): the cached snapshot of ${what(ctx)} (commit ${cachedCommit}) in ${storage} is incomplete: ` +
          `${r.missing.length ? `missing ${r.missing.join(', ')}` : r.why}. Run once with network access to download it`,
        undefined,
        repoId,
      );
  }
  if (offline)
    throw new HubError(
      `offline mode (${options.offline ? 'offline: true' : 'HF_HUB_OFFLINE=1'}): ${what(ctx)} is not in the cache ${cacheDir} ` +
        `(${isCommit ? `no snapshots/${revision}` : `no refs/${revision} under ${repoFolderName(type, repoId)}`}). Run once with network access to download it`,
      undefined,
      repoId,
    );

  const fetchFn = hubFetch(ctx);
  let commit: string;
  if (isCommit) commit = revision;
  else {
    try {
      const q = { name: repoId, revision, additionalFields: ['sha' as const], hubUrl: ctx.endpoint, accessToken: token, fetch: fetchFn };
      const info = (type === 'model' ? await lib().modelInfo(q) : await lib().datasetInfo(q)) as { sha?: string };
      if (!info.sha || !COMMIT.test(info.sha)) throw new HubError(`${what(ctx)}: the Hub returned no commit sha`, undefined, repoId);
      commit = info.sha;
    } catch (err) {
      const he = toHubError(err, ctx, 'looking up');
      // the Hub is unreachable or failing while a cached branch is checked for updates: use the cache, as huggingface_hub does
      if (cachedCommit && ((he.status === undefined && /cannot reach/.test(he.message)) || (he.status ?? 0) >= 500)) {
        const r = await fromCache(storage, cachedCommit, select, true);
        if ('dir' in r) {
          if (!options.quiet) process.stderr.write(`warning: ${he.message}; using the cached ${what(ctx)} (commit ${cachedCommit})\n`);
          return r.dir;
        }
      }
      throw he;
    }
  }

  let listing = readTreeCache(storage, commit);
  if (!listing) {
    listing = new Map();
    try {
      for await (const e of lib().listFiles({ repo: { type, name: repoId }, revision: commit, recursive: true, hubUrl: ctx.endpoint, accessToken: token, fetch: fetchFn })) {
        if (e.type !== 'file') continue;
        listing.set(e.path, {
          size: e.size,
          blob_id: e.oid ?? '',
          ...(e.lfs ? { lfs_sha256: e.lfs.oid, lfs_size: e.lfs.size } : {}),
          ...(e.xetHash && /^[0-9a-f]{64}$/.test(e.xetHash) ? { xet_hash: e.xetHash } : {}),
        });
      }
    } catch (err) {
      throw toHubError(err, ctx, 'listing the files of');
    }
    writeTreeCache(storage, commit, listing);
  }
  if (!isCommit) writeRef(storage, revision, commit);

  const job: Job = { ctx, storage, commit, listing, options };
  const ensure: Ensure = async (p) => {
    await ensureFile(job, p);
    return fsp.readFile(snapshotPath(storage, commit, p));
  };
  const needed = await select(listing, ensure);
  for (const p of needed) await ensureFile(job, p);
  return path.join(storage, 'snapshots', commit);
}

// ---------------------------------------------------------------------------------------------------------------
// Models and datasets
// ---------------------------------------------------------------------------------------------------------------

/** Files of a model repo that are fetched when present. */
export const MODEL_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'label_names.json'];

const selectModel =
  (repoId: string): Selector =>
  async (listing, ensure) => {
    if (!listing.has('config.json')) throw new HubError(`model ${repoId} has no config.json: not a Hugging Face model repo (files: ${[...listing.keys()].slice(0, 10).join(', ')})`, undefined, repoId);
    const files = MODEL_FILES.filter((f) => listing.has(f));
    if (listing.has('model.safetensors')) files.push('model.safetensors');
    else if (listing.has('model.safetensors.index.json')) {
      files.push('model.safetensors.index.json');
      const raw = await ensure('model.safetensors.index.json');
      let map: Record<string, unknown>;
      try {
        map = (JSON.parse(raw.toString('utf8')) as { weight_map?: Record<string, unknown> }).weight_map ?? {};
      } catch (err) {
        throw new HubError(`model ${repoId}: model.safetensors.index.json is malformed (${(err as Error).message})`, undefined, repoId);
      }
      for (const shard of new Set(Object.values(map))) {
        if (typeof shard !== 'string') throw new HubError(`model ${repoId}: model.safetensors.index.json names a non-string shard`, undefined, repoId);
        safeRepoPath(shard, { repoId });
        if (!listing.has(shard)) throw new HubError(`model ${repoId}: model.safetensors.index.json names shard ${shard}, which is not in the repo`, undefined, repoId);
        files.push(shard);
      }
    } else {
      const bin = listing.has('pytorch_model.bin') ? ' (it has pytorch_model.bin, which radbert-native does not read: convert it with `model.save_pretrained(dir, safe_serialization=True)`)' : '';
      throw new HubError(`model ${repoId} has no model.safetensors or model.safetensors.index.json${bin}`, undefined, repoId);
    }
    return files;
  };

const DATA_FILE = /^data\/(.+\/)?([A-Za-z0-9_]+?)(?:[-.][^/]*)?\.(parquet|jsonl|ndjson|csv)$/;

const selectDataset =
  (repoId: string, splits?: string[]): Selector =>
  async (listing) => {
    const bySplit = new Map<string, string[]>();
    for (const p of listing.keys()) {
      const m = DATA_FILE.exec(p);
      if (!m) continue;
      const list = bySplit.get(m[2]) ?? [];
      list.push(p);
      bySplit.set(m[2], list);
    }
    if (!bySplit.size)
      throw new HubError(`dataset ${repoId} has no data/<split>-*.parquet files (files: ${[...listing.keys()].slice(0, 10).join(', ') || 'none'}); only the Hub's parquet layout is supported`, undefined, repoId);
    const want = splits?.length ? splits : [...bySplit.keys()];
    const absent = want.filter((s) => !bySplit.has(s));
    if (absent.length) throw new HubError(`dataset ${repoId} has no split ${absent.map((s) => `'${s}'`).join(', ')} (it has ${[...bySplit.keys()].sort().join(', ')})`, undefined, repoId);
    return want.flatMap((s) => bySplit.get(s)!).sort();
  };

/** The repo and options of a Hub id argument (its `@revision` merged with options.revision). */
function hubTarget(repoId: string, revision: string | undefined, idOrPath: string, options: DownloadOptions): DownloadOptions {
  if (revision && options.revision && revision !== options.revision)
    throw new HubError(`${idOrPath}: two revisions given ('${revision}' and revision '${options.revision}')`, undefined, repoId);
  return { ...options, revision: options.revision ?? revision };
}

/**
 * A local model folder for a path or a Hub id (`org/name`, `org/name@revision`): an existing path is returned unchanged;
 * otherwise config.json, the weights (model.safetensors, or the index and its shards) and the tokenizer files
 * are downloaded into the Hugging Face cache and the snapshot folder is returned.
 */
export async function resolveModel(idOrPath: string, options: DownloadOptions = {}): Promise<string> {
  const src = sourceOf(idOrPath);
  if (!src) throw new FileError(idOrPath, 'model folder not found (and it is not a Hub id like org/name)');
  if (src.kind === 'path') return src.path;
  return snapshot('model', src.repoId, selectModel(src.repoId), hubTarget(src.repoId, src.revision, idOrPath, options));
}

/** Options of resolveDataset. */
export interface DatasetDownloadOptions extends DownloadOptions {
  /** Only these splits (e.g. ['train', 'test']); default: every split under data/. */
  splits?: string[];
}

/**
 * A local dataset folder for a path or a Hub id: an existing path is returned unchanged; otherwise the files
 * `data/<split>-*.parquet` of the wanted splits are downloaded into the cache and the snapshot folder is returned
 * (readRows reads it as it is).
 */
export async function resolveDataset(idOrPath: string, options: DatasetDownloadOptions = {}): Promise<string> {
  const src = sourceOf(idOrPath);
  if (!src) throw new FileError(idOrPath, 'no such file or folder (and it is not a Hub id like org/name)');
  if (src.kind === 'path') return src.path;
  return snapshot('dataset', src.repoId, selectDataset(src.repoId, options.splits), hubTarget(src.repoId, src.revision, idOrPath, options));
}

/**
 * A local path for a dataset or model argument: the path itself, or for an `org/name[@revision]` Hub id the folder
 * downloaded into the Hugging Face cache (only the files needed; served from the cache when already there). Datasets
 * fetch the train and test splits. Neither a path nor a Hub id: UsageError.
 */
export async function resolveSource(arg: string, kind: 'model' | 'dataset', options: { revision?: string } = {}): Promise<string> {
  if (!sourceOf(arg)) throw new UsageError(`${arg}: no such file or folder (and not a Hub id org/name)`);
  return kind === 'model' ? resolveModel(arg, options) : resolveDataset(arg, { ...options, splits: ['train', 'test'] });
}
