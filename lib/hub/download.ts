/**
 * Hugging Face Hub: download models and datasets into the standard Hugging Face cache (the layout Python's
 * huggingface_hub writes, so both share one cache), and push a trained classifier folder with a model card.
 *
 *   const dir = await resolveModel('answerdotai/ModernBERT-base');          // → .../snapshots/<commit>
 *   const data = await resolveDataset('unsloth/Radiology_mini', { splits: ['train', 'test'] });
 *   const { commitUrl } = await pushToHub('./out', { repoId: 'me/radbert-cui', private: true });
 *
 * HTTP goes through @huggingface/hub (repo info, tree listing, file download info, create repo / branch, the
 * preupload → LFS batch → PUT → NDJSON commit upload). What it does not do is done here: the cache layout with
 * refs and the tree listing cache, atomic and resumable downloads (Range), offline mode, progress and errors.
 *
 * Cache re-use (documented in docs/hub.md): a revision that is a commit sha, or a branch/tag whose `refs/<rev>`
 * is cached, is served from the cache with no request at all when `trees/<commit>.json` (the tree listing that
 * huggingface_hub >= 1.x also writes) is cached and every needed file is in the snapshot. Unlike huggingface_hub,
 * a cached branch is not re-checked for new commits unless `checkForUpdates: true` is passed.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type * as HubLib from '@huggingface/hub';
import { resolveModelFolder } from '../model/folder';
import { FileError } from '../errors';
import { modelCard } from './modelcard';

type Lib = typeof HubLib;
let hubLib: Lib | undefined;
/** @huggingface/hub, loaded on first use (it ships a CommonJS build, so no dynamic import is needed). */
function lib(): Lib {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (hubLib ??= require('@huggingface/hub') as Lib);
}

// ---------------------------------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------------------------------

/** The Hub's base URL: $HF_ENDPOINT, default https://huggingface.co. */
export function hubEndpoint(): string {
  return (process.env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

/** $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function hfHome(): string {
  if (process.env.HF_HOME) return expandHome(process.env.HF_HOME);
  if (process.env.XDG_CACHE_HOME) return path.join(expandHome(process.env.XDG_CACHE_HOME), 'huggingface');
  return path.join(os.homedir(), '.cache', 'huggingface');
}

/** The Hub cache folder: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub (~/.cache/huggingface/hub). */
export function hubCacheDir(): string {
  const env = process.env.HF_HUB_CACHE || process.env.HUGGINGFACE_HUB_CACHE;
  return env ? expandHome(env) : path.join(hfHome(), 'hub');
}

/** Whether $HF_HUB_OFFLINE is set to 1 / true / yes / on. */
export function hubOffline(): boolean {
  return /^(1|true|yes|on)$/i.test((process.env.HF_HUB_OFFLINE ?? '').trim());
}

/** The token to use: `explicit`, else $HF_TOKEN ($HUGGING_FACE_HUB_TOKEN), else the file $HF_TOKEN_PATH or $HF_HOME/token (`huggingface-cli login`). */
export function hubToken(explicit?: string): string | undefined {
  const pick = (t: string | undefined) => (t && t.trim() ? t.trim() : undefined);
  const direct = pick(explicit) ?? pick(process.env.HF_TOKEN) ?? pick(process.env.HUGGING_FACE_HUB_TOKEN);
  if (direct) return direct;
  const file = process.env.HF_TOKEN_PATH ? expandHome(process.env.HF_TOKEN_PATH) : path.join(hfHome(), 'token');
  try {
    return pick(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

const NO_TOKEN_HELP = 'set HF_TOKEN=hf_... in the environment, or run `huggingface-cli login` (`hf auth login`), which writes ~/.cache/huggingface/token';

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/** An error talking to the Hub or using its cache; the message names the repo, revision / file and what to check. */
export class HubError extends Error {
  constructor(
    message: string,
    /** HTTP status, when the Hub answered with one. */
    readonly status?: number,
    /** The repo concerned ('org/name'). */
    readonly repoId?: string,
  ) {
    super(message);
    this.name = 'HubError';
  }
}

function redact(text: string, token: string | undefined): string {
  return token ? text.split(token).join('***') : text;
}

interface Ctx {
  type: 'model' | 'dataset';
  repoId: string;
  revision?: string;
  token?: string;
  endpoint: string;
}

function what(ctx: Ctx, file?: string): string {
  return `${ctx.type} ${ctx.repoId}${ctx.revision ? ` (revision '${ctx.revision}')` : ''}${file ? `, file ${file}` : ''}`;
}

function networkCode(err: unknown): string | undefined {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TypeError' && /fetch failed|terminated|network/i.test(e.message ?? '')) return e.cause?.code ?? e.cause?.message ?? e.message;
  if (typeof (e as { code?: unknown })?.code === 'string' && /^E[A-Z]+/.test((e as { code: string }).code)) return (e as { code: string }).code;
  return undefined;
}

/** Turn whatever a Hub call threw into a HubError that says which repo and what to check (never containing the token). */
function toHubError(err: unknown, ctx: Ctx, action: string, file?: string): HubError {
  if (err instanceof HubError) return new HubError(redact(err.message, ctx.token), err.status, err.repoId ?? ctx.repoId);
  const e = err as { statusCode?: number; message?: string; name?: string };
  const subject = what(ctx, file);
  let msg: string;
  const status = typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  const serverSays = (e?.message ?? '').replace(/\. URL: .*$/, '');
  if (status === 401) {
    msg = ctx.token
      ? `${action} ${subject}: the Hub at ${ctx.endpoint} rejected the token (401 ${serverSays}). Check that HF_TOKEN / the token saved by \`huggingface-cli login\` is valid, not expired, and can see this repo`
      : `${action} ${subject}: the Hub at ${ctx.endpoint} answered 401 (${serverSays}): the repo does not exist, or it is private or gated and needs a token: ${NO_TOKEN_HELP}`;
  } else if (status === 403) {
    msg = `${action} ${subject}: the token has no permission (403 ${serverSays}). For a gated repo, accept its conditions on its Hub page; to push, use a token with write access to the namespace`;
  } else if (status === 404) {
    const isRev = /rev/i.test(serverSays);
    const isEntry = /entry/i.test(serverSays);
    msg = isEntry
      ? `${action} ${subject}: the file is not in the repo (404 ${serverSays})`
      : isRev
        ? `${action} ${subject}: no such revision (404 ${serverSays}); check the branch, tag or commit`
        : `${action} ${subject}: not found on ${ctx.endpoint} (404 ${serverSays}). Check the repo id${ctx.token ? '' : `; if it is private, ${NO_TOKEN_HELP}`}`;
  } else if (status !== undefined) {
    msg = `${action} ${subject}: the Hub at ${ctx.endpoint} answered ${status} (${serverSays})`;
  } else if (networkCode(err)) {
    msg = `${action} ${subject}: cannot reach the Hugging Face Hub at ${ctx.endpoint} (${networkCode(err)}). Check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only the local cache`;
  } else if (/access token must start with/i.test(e?.message ?? '')) {
    msg = `${action} ${subject}: the Hugging Face token is malformed (tokens start with "hf_"); ${NO_TOKEN_HELP}`;
  } else {
    msg = `${action} ${subject}: ${e?.message ?? String(err)}`;
  }
  return new HubError(redact(msg, ctx.token), status, ctx.repoId);
}

// ---------------------------------------------------------------------------------------------------------------
// Names and paths
// ---------------------------------------------------------------------------------------------------------------

const REPO_ID = /^[A-Za-z0-9_][\w.-]*\/[A-Za-z0-9_][\w.-]*$/;

/** Whether `s` looks like a Hub repo id `org/name` (optionally `org/name@revision`). */
export function isHubId(s: string): boolean {
  return parseHubId(s) !== undefined;
}

/** Split `org/name[@revision]`; undefined when it is not a valid Hub repo id. */
export function parseHubId(s: string): { repoId: string; revision?: string } | undefined {
  const at = s.indexOf('@');
  const repoId = at >= 0 ? s.slice(0, at) : s;
  const revision = at >= 0 ? s.slice(at + 1) : undefined;
  if (!REPO_ID.test(repoId) || repoId.length > 96 || repoId.includes('--') || repoId.includes('..') || /[.-]$/.test(repoId)) return undefined;
  if (revision !== undefined && !validRevision(revision)) return undefined;
  return { repoId, revision };
}

function validRevision(rev: string): boolean {
  return rev.length > 0 && !rev.includes('\\') && !rev.includes('\0') && !rev.startsWith('/') && rev.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

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

const COMMIT = /^[0-9a-f]{40}$/;

// ---------------------------------------------------------------------------------------------------------------
// The tree listing cache: <storage>/trees/<commit>.json, the format huggingface_hub (>= 1.x) writes
// ---------------------------------------------------------------------------------------------------------------

interface TreeEntry {
  size: number;
  blob_id: string;
  lfs_sha256?: string;
  lfs_size?: number;
  xet_hash?: string;
}
type Listing = Map<string, TreeEntry>;

function readTreeCache(storage: string, commit: string): Listing | undefined {
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

function writeTreeCache(storage: string, commit: string, listing: Listing): void {
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
  writeAtomic(path.join(storage, 'trees', `${commit}.json`), pythonJson({ format_version: 1, files }));
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

function writeAtomic(file: string, data: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

function readRef(storage: string, revision: string): string | undefined {
  try {
    const sha = fs.readFileSync(path.join(storage, 'refs', ...revision.split('/')), 'utf8').trim();
    return COMMIT.test(sha) ? sha : undefined;
  } catch {
    return undefined;
  }
}

function writeRef(storage: string, revision: string, commit: string): void {
  if (readRef(storage, revision) === commit) return;
  writeAtomic(path.join(storage, 'refs', ...revision.split('/')), commit);
}

/** Every file under a snapshot folder (relative, '/'-separated), for offline use without a cached tree listing. */
function walkSnapshot(dir: string): Listing {
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

// ---------------------------------------------------------------------------------------------------------------
// Progress on stderr
// ---------------------------------------------------------------------------------------------------------------

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

class ByteProgress {
  private done = 0;
  private last = 0;
  private readonly start = Date.now();
  private readonly tty: boolean;
  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream | undefined,
    initial = 0,
  ) {
    this.done = initial;
    this.tty = Boolean(stream?.isTTY) && !/^(1|true|yes|on)$/i.test(process.env.HF_HUB_DISABLE_PROGRESS_BARS ?? '');
    if (stream && !this.tty) stream.write(`${label} (${formatBytes(total)}${initial ? `, resuming at ${formatBytes(initial)}` : ''})\n`);
    else this.draw();
  }
  add(n: number): void {
    this.done += n;
    if (this.tty && Date.now() - this.last > 100) this.draw();
  }
  private draw(): void {
    if (!this.tty || !this.stream) return;
    this.last = Date.now();
    const s = (Date.now() - this.start) / 1000;
    const pct = this.total ? Math.floor((100 * this.done) / this.total) : 100;
    this.stream.write(`\r\x1b[K${this.label} ${pct}% ${formatBytes(this.done)}/${formatBytes(this.total)}${s > 0.5 ? ` ${formatBytes(this.done / s)}/s` : ''}`);
  }
  end(): void {
    if (this.tty && this.stream) {
      this.draw();
      this.stream.write('\n');
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Download engine
// ---------------------------------------------------------------------------------------------------------------

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

function snapshotPath(storage: string, commit: string, p: string): string {
  return path.join(storage, 'snapshots', commit, ...p.split('/'));
}

function hubFetch(ctx: Ctx): typeof fetch {
  return async (input, init) => {
    try {
      return await fetch(input, init);
    } catch (err) {
      if ((err as { name?: string })?.name === 'AbortError') throw err;
      const code = networkCode(err) ?? (err as Error)?.message;
      throw new HubError(`cannot reach the Hugging Face Hub at ${ctx.endpoint} (${code}). Check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only the local cache`, undefined, ctx.repoId);
    }
  };
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

function hubTarget(idOrPath: string, kind: 'model' | 'dataset', options: DownloadOptions): { repoId: string; options: DownloadOptions } {
  const parsed = parseHubId(idOrPath);
  if (!parsed)
    throw new FileError(idOrPath, kind === 'model' ? 'model folder not found (and it is not a Hub id like org/name)' : 'no such file or folder (and it is not a Hub id like org/name)');
  if (parsed.revision && options.revision && parsed.revision !== options.revision)
    throw new HubError(`${idOrPath}: two revisions given ('${parsed.revision}' and revision '${options.revision}')`, undefined, parsed.repoId);
  return { repoId: parsed.repoId, options: { ...options, revision: options.revision ?? parsed.revision } };
}

/**
 * A local model folder for a path or a Hub id (`org/name`, `org/name@revision`): an existing path is returned unchanged;
 * otherwise config.json, the weights (model.safetensors, or the index and its shards) and the tokenizer files
 * are downloaded into the Hugging Face cache and the snapshot folder is returned.
 */
export async function resolveModel(idOrPath: string, options: DownloadOptions = {}): Promise<string> {
  if (fs.existsSync(idOrPath)) return idOrPath;
  const t = hubTarget(idOrPath, 'model', options);
  return snapshot('model', t.repoId, selectModel(t.repoId), t.options);
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
  if (fs.existsSync(idOrPath)) return idOrPath;
  const t = hubTarget(idOrPath, 'dataset', options);
  return snapshot('dataset', t.repoId, selectDataset(t.repoId, options.splits), t.options);
}

// ---------------------------------------------------------------------------------------------------------------
// Push
// ---------------------------------------------------------------------------------------------------------------

/** Options of pushToHub. */
export interface PushOptions {
  /** 'org/name' or 'name' (under the token's user); default: the folder's name under the token's user. */
  repoId?: string;
  /** Create the repo as private (an existing repo keeps its visibility). */
  private?: boolean;
  /** Branch to commit to (created from main when missing; default 'main'). */
  revision?: string;
  /** Commit title (default 'Upload radbert-native classifier'). */
  commitMessage?: string;
  /** Commit description. */
  commitDescription?: string;
  /** Hub token with write access (default: $HF_TOKEN, else the `huggingface-cli login` token file). */
  token?: string;
  /** Open a pull request instead of committing to the branch. */
  createPr?: boolean;
  /** base_model of the model card (default: from training_args.json's model when it is a Hub id or a cached Hub model). */
  baseModel?: string;
  /** datasets of the model card (default: from training_args.json's dataset). */
  datasets?: string[];
  /** No progress output. */
  quiet?: boolean;
}

/** What pushToHub returns. */
export interface PushResult {
  repoId: string;
  repoUrl: string;
  commitUrl: string;
  commitSha?: string;
  pullRequestUrl?: string;
  /** Files uploaded (paths in the repo). */
  files: string[];
}

/** Files of a model folder that pushToHub uploads when present (besides config.json, the weights and README.md). */
export const PUSH_EXTRA_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'label_names.json', 'training_args.json', 'trainer_state.json', 'test_results.json'];

function sanitizeRepoName(name: string): string {
  const s = name
    .replace(/[^\w.-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 96);
  return s || 'radbert-classifier';
}

async function whoAmIName(token: string, ctx: Ctx): Promise<string> {
  try {
    const me = await lib().whoAmI({ accessToken: token, hubUrl: ctx.endpoint, fetch: hubFetch(ctx) });
    return me.name;
  } catch (err) {
    throw toHubError(err, ctx, 'checking the token (whoami) for');
  }
}

/** Default repo id for pushing `outputDir`: `<token's user>/<folder name>` (asks the Hub who the token belongs to). */
export async function defaultRepoId(outputDir: string, token?: string): Promise<string> {
  const tok = hubToken(token);
  const name = sanitizeRepoName(path.basename(path.resolve(outputDir)));
  const ctx: Ctx = { type: 'model', repoId: `?/${name}`, token: tok, endpoint: hubEndpoint() };
  if (!tok) throw new HubError(`no Hugging Face token to find your user name for ${name}: ${NO_TOKEN_HELP}`);
  return `${await whoAmIName(tok, ctx)}/${name}`;
}

/**
 * Create the repo if needed and upload a trained classifier folder: config.json, the weights (model.safetensors or
 * shards + index, through the Hub's LFS/xet path), tokenizer files, label_names.json, training_args.json,
 * trainer_state.json and a generated model card (README.md; a README.md already in the folder is uploaded instead).
 */
export async function pushToHub(modelDir: string, options: PushOptions = {}): Promise<PushResult> {
  const folder = resolveModelFolder(modelDir);
  const token = hubToken(options.token);
  const endpoint = hubEndpoint();
  if (!token) throw new HubError(`pushing ${modelDir} needs a Hugging Face token with write access: ${NO_TOKEN_HELP}`);
  const probe: Ctx = { type: 'model', repoId: options.repoId ?? '?', token, endpoint };
  let repoId: string;
  if (!options.repoId) repoId = await defaultRepoId(modelDir, token);
  else if (!options.repoId.includes('/')) repoId = `${await whoAmIName(token, probe)}/${options.repoId}`;
  else repoId = options.repoId;
  const parsed = parseHubId(repoId);
  if (!parsed || parsed.revision) throw new HubError(`invalid repo id ${JSON.stringify(repoId)}: use org/name (letters, digits, '-', '_', '.')`);
  const revision = options.revision ?? 'main';
  if (!validRevision(revision)) throw new HubError(`invalid branch name ${JSON.stringify(revision)}`, undefined, repoId);
  const ctx: Ctx = { type: 'model', repoId, revision, token, endpoint };
  const fetchFn = hubFetch(ctx);
  const log = (s: string) => {
    if (!options.quiet) process.stderr.write(`${s}\n`);
  };

  // what to upload
  const local: Array<{ path: string; file: string }> = [{ path: 'config.json', file: folder.configFile }];
  const index = path.join(folder.dir, 'model.safetensors.index.json');
  if (folder.weightFiles.length === 1 && path.basename(folder.weightFiles[0]) === 'model.safetensors') local.push({ path: 'model.safetensors', file: folder.weightFiles[0] });
  else {
    local.push({ path: 'model.safetensors.index.json', file: index });
    for (const f of folder.weightFiles) local.push({ path: path.basename(f), file: f });
  }
  for (const name of PUSH_EXTRA_FILES) {
    const f = path.join(folder.dir, name);
    if (fs.existsSync(f)) local.push({ path: name, file: f });
  }
  const ownReadme = path.join(folder.dir, 'README.md');
  for (const { path: p, file } of local) {
    if (p.endsWith('.safetensors')) continue;
    if (fs.readFileSync(file).includes(token)) throw new HubError(`refusing to push ${file}: it contains the Hub token`, undefined, repoId);
  }
  let readme: Blob | URL;
  if (fs.existsSync(ownReadme)) {
    if (fs.readFileSync(ownReadme).includes(token)) throw new HubError(`refusing to push ${ownReadme}: it contains the Hub token`, undefined, repoId);
    readme = pathToFileURL(ownReadme);
  } else {
    const card = modelCard(folder.dir, { repoId, baseModel: options.baseModel, datasets: options.datasets });
    if (card.includes(token)) throw new HubError('refusing to push the model card: it contains the Hub token', undefined, repoId);
    readme = new Blob([card], { type: 'text/markdown' });
  }
  const files = [...local.map((l) => ({ path: l.path, content: pathToFileURL(l.file) as Blob | URL })), { path: 'README.md', content: readme }];

  // repo and branch
  let repoUrl = `${endpoint}/${repoId}`;
  try {
    const created = await lib().createRepo({ repo: { type: 'model', name: repoId }, private: options.private, accessToken: token, hubUrl: endpoint, fetch: fetchFn });
    repoUrl = created.repoUrl || repoUrl;
    log(`created ${options.private ? 'private ' : ''}repo ${repoUrl}`);
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 409) throw toHubError(err, ctx, 'creating the repo of');
  }
  if (revision !== 'main' && !options.createPr) {
    try {
      await lib().createBranch({ repo: { type: 'model', name: repoId }, branch: revision, accessToken: token, hubUrl: endpoint, fetch: fetchFn });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 409) throw toHubError(err, ctx, 'creating the branch of');
    }
  }

  // upload: preupload → LFS batch (xet or basic PUT) → NDJSON commit
  const total = local.reduce((s, l) => s + fs.statSync(l.file).size, 0);
  log(`pushing ${files.length} files (${formatBytes(total)}) to ${repoId}${revision !== 'main' ? ` (branch ${revision})` : ''}`);
  let out: Awaited<ReturnType<Lib['uploadFiles']>>;
  try {
    const it = lib().uploadFilesWithProgress({
      repo: { type: 'model', name: repoId },
      files,
      accessToken: token,
      hubUrl: endpoint,
      branch: revision,
      isPullRequest: options.createPr,
      commitTitle: options.commitMessage ?? 'Upload radbert-native classifier',
      commitDescription: options.commitDescription,
    });
    for (;;) {
      const r = await it.next();
      if (r.done) {
        out = r.value;
        break;
      }
      const ev = r.value;
      if (ev.event === 'phase') log(`  ${ev.phase}`);
    }
  } catch (err) {
    throw toHubError(err, ctx, 'pushing to');
  }
  const commitUrl = out?.commit.url ?? `${repoUrl}/tree/${encodeURIComponent(revision)}`;
  log(`pushed: ${out?.pullRequestUrl ?? commitUrl}`);
  return { repoId, repoUrl, commitUrl, commitSha: out?.commit.oid, pullRequestUrl: out?.pullRequestUrl, files: files.map((f) => f.path) };
}
