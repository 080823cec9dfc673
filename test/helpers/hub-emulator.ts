/**
 * Test helper: a small in-memory Hugging Face Hub on 127.0.0.1 (random port), implementing just the endpoints that
 * @huggingface/hub and Python's huggingface_hub use to download and push:
 *
 *   GET  /api/{models,datasets}/:org/:name[/revision/:rev]        repo info (sha, siblings)
 *   GET  /api/{models,datasets}/:org/:name/tree/:rev[/:path]      tree listing (?recursive=true)
 *   HEAD/GET /[datasets/]:org/:name/resolve/:rev/:path            file bytes, ETag / X-Linked-Etag, X-Repo-Commit, Range
 *   GET  /api/whoami-v2
 *   POST /api/repos/create
 *   POST /api/{models,datasets}/:org/:name/branch/:branch
 *   POST /api/{models,datasets}/:org/:name/preupload/:rev          which files go through LFS
 *   POST /[datasets/]:org/:name.git/info/lfs/objects/batch         LFS batch ("basic" transfer)
 *   PUT  /__lfs/:oid                                               LFS upload URL (checks the sha256)
 *   POST /api/{models,datasets}/:org/:name/commit/:rev             NDJSON commit (file / lfsFile / deletedFile)
 *
 * Every request is logged in `requests` (so tests can count them), and `dropAfter` makes the next GET of a file
 * send only its first N bytes and then drop the connection.
 *
 *   const hub = await HubEmulator.start();
 *   const sha = hub.addRepo('model', 'org/tiny', { 'config.json': '{}' });
 *   process.env.HF_ENDPOINT = hub.endpoint;
 *   ...
 *   await hub.close();
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';

export type RepoType = 'model' | 'dataset';

/** A file in a commit. */
export interface EmuFile {
  content: Buffer;
  lfs: boolean;
  /** git blob sha1 (of the content, or of the LFS pointer for LFS files) */
  oid: string;
  sha256: string;
  pointer?: string;
}

interface Commit {
  sha: string;
  parent?: string;
  title: string;
  files: Map<string, EmuFile>;
}

interface Repo {
  type: RepoType;
  id: string;
  private: boolean;
  branches: Map<string, string>;
  commits: Map<string, Commit>;
}

/** One request the emulator received. */
export interface LoggedRequest {
  method: string;
  url: string;
  range?: string;
  /** Whether an Authorization header was sent. */
  auth: boolean;
}

const sha1 = (b: Buffer | string) => createHash('sha1').update(b).digest('hex');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** LFS rule of the emulator: weights / parquet files and anything over 1 MiB. */
export function isLfsPath(p: string, size: number): boolean {
  return /\.(safetensors|parquet|bin|pt|onnx|msgpack|h5)$/.test(p) || size > 1 << 20;
}

function makeFile(p: string, content: Buffer): EmuFile {
  const s256 = sha256(content);
  if (isLfsPath(p, content.length)) {
    const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${s256}\nsize ${content.length}\n`;
    return { content, lfs: true, sha256: s256, pointer, oid: sha1(Buffer.concat([Buffer.from(`blob ${pointer.length}\0`), Buffer.from(pointer)])) };
  }
  return { content, lfs: false, sha256: s256, oid: sha1(Buffer.concat([Buffer.from(`blob ${content.length}\0`), content])) };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** The in-memory Hub. */
export class HubEmulator {
  /** Write token of user `user`. */
  readonly token = `hf_emu${randomBytes(12).toString('hex')}`;
  /** Read-only token of the same user. */
  readonly readToken = `hf_emuread${randomBytes(8).toString('hex')}`;
  readonly user = 'tester';
  readonly orgs = ['test-org'];
  readonly requests: LoggedRequest[] = [];
  /** Next GET of `path` whose body is longer than `bytes` sends `bytes` bytes, then drops the connection (`times` times, default 1). */
  dropAfter?: { path: string; bytes: number; times?: number };
  /** Set to make every request fail with this status (e.g. 503). */
  failAll?: number;
  endpoint = '';
  private readonly repos = new Map<string, Repo>();
  private readonly lfsStore = new Map<string, Buffer>();
  private counter = 0;
  private server!: http.Server;

  /** Start on 127.0.0.1, random port. */
  static async start(): Promise<HubEmulator> {
    const hub = new HubEmulator();
    hub.server = http.createServer((req, res) => {
      hub.handle(req, res).catch((err: unknown) => {
        const e = err instanceof HttpError ? err : new HttpError(500, String((err as Error)?.stack ?? err));
        if (!res.headersSent) {
          res.writeHead(e.status, { 'Content-Type': 'application/json', ...(e.code ? { 'X-Error-Code': e.code } : {}) });
          res.end(req.method === 'HEAD' ? undefined : JSON.stringify({ error: e.message }));
        } else res.destroy();
      });
    });
    await new Promise<void>((resolve) => hub.server.listen(0, '127.0.0.1', resolve));
    hub.endpoint = `http://127.0.0.1:${(hub.server.address() as AddressInfo).port}`;
    return hub;
  }

  /** Stop the server (open connections are closed). */
  async close(): Promise<void> {
    this.server.closeAllConnections?.();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Forget the logged requests. */
  resetLog(): void {
    this.requests.length = 0;
  }

  /** Create a repo (or add a commit to it) holding `files`; returns the new commit sha. */
  addRepo(type: RepoType, id: string, files: Record<string, Buffer | string>, options: { private?: boolean; branch?: string } = {}): string {
    const key = `${type}:${id}`;
    let repo = this.repos.get(key);
    if (!repo) {
      repo = { type, id, private: options.private ?? false, branches: new Map(), commits: new Map() };
      this.repos.set(key, repo);
    }
    const branch = options.branch ?? 'main';
    const parent = repo.branches.get(branch);
    const map = new Map(parent ? repo.commits.get(parent)!.files : []);
    for (const [p, c] of Object.entries(files)) map.set(p, makeFile(p, Buffer.isBuffer(c) ? c : Buffer.from(c)));
    return this.newCommit(repo, branch, map, 'add files', parent);
  }

  /** Bytes of a file at a revision (branch or commit). */
  fileAt(type: RepoType, id: string, revision: string, p: string): Buffer | undefined {
    const repo = this.repos.get(`${type}:${id}`);
    if (!repo) return undefined;
    return this.commitOf(repo, revision)?.files.get(p)?.content;
  }

  /** The commit sha a branch points at. */
  head(type: RepoType, id: string, branch = 'main'): string | undefined {
    return this.repos.get(`${type}:${id}`)?.branches.get(branch);
  }

  /** Whether a repo is private. */
  isPrivate(type: RepoType, id: string): boolean | undefined {
    return this.repos.get(`${type}:${id}`)?.private;
  }

  private newCommit(repo: Repo, branch: string, files: Map<string, EmuFile>, title: string, parent?: string): string {
    const sha = sha1(`${repo.id}\n${parent ?? ''}\n${title}\n${++this.counter}\n${[...files].map(([p, f]) => `${p}:${f.oid}`).join('\n')}`);
    repo.commits.set(sha, { sha, parent, title, files });
    repo.branches.set(branch, sha);
    return sha;
  }

  private commitOf(repo: Repo, rev: string): Commit | undefined {
    const sha = repo.branches.get(rev) ?? rev;
    return repo.commits.get(sha);
  }

  // ---- auth ----

  private who(req: http.IncomingMessage): 'write' | 'read' | undefined {
    const h = req.headers.authorization;
    if (!h) return undefined;
    const m = /^Bearer (.+)$/.exec(h);
    if (m && m[1] === this.token) return 'write';
    if (m && m[1] === this.readToken) return 'read';
    throw new HttpError(401, 'Invalid credentials in Authorization header', 'InvalidCredentials');
  }

  private repoFor(req: http.IncomingMessage, type: RepoType, id: string, write = false): Repo {
    const auth = this.who(req);
    const repo = this.repos.get(`${type}:${id}`);
    if (!repo || (repo.private && !auth)) {
      if (!auth) throw new HttpError(401, 'Repository Not Found', 'RepoNotFound');
      throw new HttpError(404, 'Repository not found', 'RepoNotFound');
    }
    if (write) {
      if (!auth) throw new HttpError(401, 'You must be authenticated to write');
      if (auth !== 'write') throw new HttpError(403, 'You have read access but not the required permissions for this operation');
      const ns = id.split('/')[0];
      if (ns !== this.user && !this.orgs.includes(ns)) throw new HttpError(403, `You don't have the rights to write to ${id}`);
    }
    return repo;
  }

  private revision(repo: Repo, rev: string): Commit {
    const c = this.commitOf(repo, rev);
    if (!c) throw new HttpError(404, `Invalid rev id: ${rev}`, 'RevisionNotFound');
    return c;
  }

  // ---- routing ----

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', range: req.headers.range, auth: Boolean(req.headers.authorization) });
    if (this.failAll) throw new HttpError(this.failAll, 'emulated failure');
    const seg = url.pathname.split('/').slice(1).map((s) => decodeURIComponent(s));
    const method = req.method ?? 'GET';

    if (seg[0] === '__lfs' && method === 'PUT') return this.lfsPut(req, res, seg[1]);
    if (seg[0] === 'api') {
      if (seg[1] === 'whoami-v2') return this.whoami(req, res);
      if (seg[1] === 'repos' && seg[2] === 'create' && method === 'POST') return this.createRepo(req, res);
      if (seg[1] === 'models' || seg[1] === 'datasets') {
        const type: RepoType = seg[1] === 'models' ? 'model' : 'dataset';
        const id = `${seg[2]}/${seg[3]}`;
        const action = seg[4];
        if (action === undefined && method === 'GET') return this.info(req, res, type, id, 'main');
        if (action === 'revision' && method === 'GET') return this.info(req, res, type, id, seg.slice(5).join('/'));
        if (action === 'tree' && method === 'GET') return this.tree(req, res, type, id, seg[5], seg.slice(6).join('/'), url.searchParams.get('recursive') === 'true');
        if (action === 'preupload' && method === 'POST') return this.preupload(req, res, type, id);
        if (action === 'commit' && method === 'POST') return this.commit(req, res, type, id, seg.slice(5).join('/'));
        if (action === 'branch' && method === 'POST') return this.createBranch(req, res, type, id, seg.slice(5).join('/'));
      }
      throw new HttpError(404, `no such API route: ${method} ${url.pathname}`);
    }
    const [type, rest]: [RepoType, string[]] = seg[0] === 'datasets' ? ['dataset', seg.slice(1)] : ['model', seg];
    if (rest[1]?.endsWith('.git') && rest[2] === 'info' && rest[3] === 'lfs' && rest[4] === 'objects' && rest[5] === 'batch' && method === 'POST')
      return this.lfsBatch(req, res, type, `${rest[0]}/${rest[1].slice(0, -4)}`);
    if (rest[2] === 'resolve' && (method === 'GET' || method === 'HEAD')) return this.resolve(req, res, type, `${rest[0]}/${rest[1]}`, rest[3], rest.slice(4).join('/'));
    throw new HttpError(404, `not found: ${method} ${url.pathname}`);
  }

  private json(res: http.ServerResponse, body: unknown, status = 200, type = 'application/json'): void {
    res.writeHead(status, { 'Content-Type': type });
    res.end(JSON.stringify(body));
  }

  private async body(req: http.IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  private whoami(req: http.IncomingMessage, res: http.ServerResponse): void {
    const auth = this.who(req);
    if (!auth) throw new HttpError(401, 'Invalid username or password.');
    this.json(res, {
      type: 'user',
      id: 'u1',
      name: this.user,
      fullname: 'Test User',
      email: 'tester@example.com',
      emailVerified: true,
      isPro: false,
      orgs: this.orgs.map((o) => ({ type: 'org', name: o, fullname: o, id: o })),
      auth: { type: 'access_token', accessToken: { displayName: 'test', role: auth, createdAt: '2024-01-01T00:00:00.000Z' } },
    });
  }

  private info(req: http.IncomingMessage, res: http.ServerResponse, type: RepoType, id: string, rev: string): void {
    const repo = this.repoFor(req, type, id);
    const c = this.revision(repo, rev);
    this.json(res, {
      _id: sha1(id).slice(0, 24),
      id,
      author: id.split('/')[0],
      sha: c.sha,
      private: repo.private,
      gated: false,
      disabled: false,
      downloads: 0,
      likes: 0,
      tags: [],
      lastModified: '2024-01-01T00:00:00.000Z',
      createdAt: '2024-01-01T00:00:00.000Z',
      siblings: [...c.files.keys()].sort().map((rfilename) => ({ rfilename })),
    });
  }

  private tree(req: http.IncomingMessage, res: http.ServerResponse, type: RepoType, id: string, rev: string, prefix: string, recursive: boolean): void {
    const repo = this.repoFor(req, type, id);
    const c = this.revision(repo, rev);
    const base = prefix ? `${prefix.replace(/\/$/, '')}/` : '';
    const dirs = new Set<string>();
    const out: unknown[] = [];
    for (const [p, f] of [...c.files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (!p.startsWith(base)) continue;
      const rel = p.slice(base.length);
      const parts = rel.split('/');
      for (let i = 1; i < parts.length; i++) {
        const d = base + parts.slice(0, i).join('/');
        if ((recursive || i === 1) && !dirs.has(d)) {
          dirs.add(d);
          out.push({ type: 'directory', oid: sha1(`tree ${d}`), size: 0, path: d });
        }
      }
      if (!recursive && parts.length > 1) continue;
      out.push({
        type: 'file',
        oid: f.oid,
        size: f.content.length,
        path: p,
        ...(f.lfs ? { lfs: { oid: f.sha256, size: f.content.length, pointerSize: f.pointer!.length } } : {}),
      });
    }
    if (!out.length && base) throw new HttpError(404, `${prefix} does not exist`, 'EntryNotFound');
    this.json(res, out);
  }

  private resolve(req: http.IncomingMessage, res: http.ServerResponse, type: RepoType, id: string, rev: string, p: string): void {
    const repo = this.repoFor(req, type, id);
    const c = this.revision(repo, rev);
    const f = c.files.get(p);
    if (!f) throw new HttpError(404, `Entry not found: ${p}`, 'EntryNotFound');
    const size = f.content.length;
    const headers: Record<string, string> = {
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      'X-Repo-Commit': c.sha,
      ETag: `"${f.lfs ? f.sha256 : f.oid}"`,
    };
    if (f.lfs) {
      headers['X-Linked-Etag'] = `"${f.sha256}"`;
      headers['X-Linked-Size'] = String(size);
    }
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range);
      if (!m) throw new HttpError(416, `bad range ${range}`);
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
      if (start >= size || start > end) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}` });
        res.end();
        return;
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
    const body = f.content.subarray(start, end + 1);
    headers['Content-Length'] = String(body.length);
    res.writeHead(status, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const drop = this.dropAfter;
    if (drop && drop.path === p && body.length > drop.bytes) {
      drop.times = (drop.times ?? 1) - 1;
      if (drop.times <= 0) this.dropAfter = undefined;
      res.write(body.subarray(0, drop.bytes), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  }

  private async createRepo(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const auth = this.who(req);
    const body = JSON.parse((await this.body(req)).toString('utf8')) as { name: string; organization?: string; type?: RepoType; private?: boolean; visibility?: string };
    if (!auth) throw new HttpError(401, 'You must be authenticated to create a repo');
    if (auth !== 'write') throw new HttpError(403, 'You need a write token to create a repo');
    const ns = body.organization ?? this.user;
    if (ns !== this.user && !this.orgs.includes(ns)) throw new HttpError(403, `You don't have the rights to create a repo under ${ns}`);
    const type = body.type ?? 'model';
    const id = `${ns}/${body.name}`;
    if (this.repos.has(`${type}:${id}`)) throw new HttpError(409, 'You already created this model repo');
    const priv = body.private ?? body.visibility === 'private';
    this.addRepo(type, id, { '.gitattributes': '*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.parquet filter=lfs diff=lfs merge=lfs -text\n' }, { private: priv });
    const url = `${this.endpoint}/${type === 'model' ? '' : `${type}s/`}${id}`;
    this.json(res, { url, name: id, id: sha1(id).slice(0, 24) });
  }

  private async createBranch(req: http.IncomingMessage, res: http.ServerResponse, type: RepoType, id: string, branch: string): Promise<void> {
    const repo = this.repoFor(req, type, id, true);
    const body = JSON.parse((await this.body(req)).toString('utf8') || '{}') as { startingPoint?: string };
    if (repo.branches.has(branch)) throw new HttpError(409, `Reference already exists: refs/heads/${branch}`);
    const from = this.revision(repo, body.startingPoint ?? 'main');
    repo.branches.set(branch, from.sha);
    this.json(res, {});
  }

  private async preupload(req: http.IncomingMessage, res: http.ServerResponse, type: RepoType, id: string): Promise<void> {
    this.repoFor(req, type, id, true);
    const body = JSON.parse((await this.body(req)).toString('utf8')) as { files: Array<{ path: string; size: number }> };
    this.json(res, { files: body.files.map((f) => ({ path: f.path, uploadMode: isLfsPath(f.path, f.size) ? 'lfs' : 'regular', shouldIgnore: false })) });
  }

  private async lfsBatch(req: http.IncomingMessage, res: http.ServerResponse, type: RepoType, id: string): Promise<void> {
    this.repoFor(req, type, id, true);
    const body = JSON.parse((await this.body(req)).toString('utf8')) as { operation: string; objects: Array<{ oid: string; size: number }> };
    if (body.operation !== 'upload') throw new HttpError(400, 'only upload is emulated');
    this.json(
      res,
      {
        transfer: 'basic',
        objects: body.objects.map((o) =>
          this.lfsStore.has(o.oid)
            ? { oid: o.oid, size: o.size }
            : { oid: o.oid, size: o.size, authenticated: true, actions: { upload: { href: `${this.endpoint}/__lfs/${o.oid}`, header: {} } } },
        ),
      },
      200,
      'application/vnd.git-lfs+json',
    );
  }

  private async lfsPut(req: http.IncomingMessage, res: http.ServerResponse, oid: string): Promise<void> {
    const data = await this.body(req);
    if (sha256(data) !== oid) throw new HttpError(400, `LFS upload: sha256 mismatch for ${oid}`);
    this.lfsStore.set(oid, data);
    res.writeHead(200, { ETag: `"${oid}"` });
    res.end();
  }

  private async commit(req: http.IncomingMessage, res: http.ServerResponse, type: RepoType, id: string, branch: string): Promise<void> {
    const repo = this.repoFor(req, type, id, true);
    if (!req.headers['content-type']?.includes('application/x-ndjson')) throw new HttpError(400, 'commit payload must be NDJSON');
    const parent = this.revision(repo, branch);
    const files = new Map(parent.files);
    let title = '';
    const lines = (await this.body(req)).toString('utf8').split('\n').filter(Boolean);
    for (const line of lines) {
      const { key, value } = JSON.parse(line) as { key: string; value: Record<string, unknown> };
      if (key === 'header') {
        title = String(value.summary ?? '');
        if (value.parentCommit && value.parentCommit !== parent.sha) throw new HttpError(412, 'parent commit is not the head of the branch');
      } else if (key === 'file') {
        if (value.encoding !== 'base64') throw new HttpError(400, 'only base64 file content is emulated');
        const p = String(value.path);
        files.set(p, makeFile(p, Buffer.from(String(value.content), 'base64')));
      } else if (key === 'lfsFile') {
        const data = this.lfsStore.get(String(value.oid));
        if (!data) throw new HttpError(422, `LFS object ${String(value.oid)} was not uploaded`);
        const p = String(value.path);
        const f = makeFile(p, data);
        if (!f.lfs) throw new HttpError(422, `${p} is not an LFS path in this emulator`);
        files.set(p, f);
      } else if (key === 'deletedFile') {
        files.delete(String(value.path));
      } else throw new HttpError(400, `unknown commit operation ${key}`);
    }
    if (!branch || !repo.branches.has(branch)) throw new HttpError(404, `Invalid rev id: ${branch}`, 'RevisionNotFound');
    const sha = this.newCommit(repo, branch, files, title, parent.sha);
    this.json(res, { success: true, commitOid: sha, commitUrl: `${this.endpoint}/${type === 'model' ? '' : 'datasets/'}${id}/commit/${sha}`, hookOutput: '' });
  }
}
