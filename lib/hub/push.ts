/** Push a trained model folder (with a generated model card) to the Hub: create the repo / branch, upload, commit. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { resolveModelFolder } from '../model/folder';
import { lib, type Lib } from './client';
import { hubEndpoint, hubToken, noTokenHelp } from './env';
import { HubError, hubFetch, toHubError, type Ctx } from './errors';
import { parseHubId, validRevision } from './ids';
import { modelCard } from './modelcard';
import { formatBytes } from './progress';

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
  /** The repo pushed to, `user/name`. */
  repoId: string;
  /** Its page on the Hub. */
  repoUrl: string;
  /** The commit's page on the Hub. */
  commitUrl: string;
  /** The commit's sha, when the Hub returned it. */
  commitSha?: string;
  /** The pull request's page, when the commit was opened as one. */
  pullRequestUrl?: string;
  /** Files uploaded (paths in the repo). */
  files: string[];
}

/** Files of a model folder that pushToHub uploads when present (besides config.json, the weights and README.md). */
export const PUSH_EXTRA_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'label_names.json', 'training_args.json', 'trainer_state.json', 'test_results.json',
  'thresholds.json', 'training_curves.svg',
];

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
  if (!tok) throw new HubError(`no Hugging Face token to find your user name for ${name}: ${noTokenHelp()}`);
  return `${await whoAmIName(tok, ctx)}/${name}`;
}

/**
 * Before a long job whose end is a push (train --push-to-hub, as Trainer checks at start): there is a token, the Hub
 * accepts it (whoami), and it can write. Returns the repo id to push to (`repoId`, `<user>/repoId`, or the default).
 */
export async function checkPushAccess(outputDir: string, options: { repoId?: string; token?: string } = {}): Promise<string> {
  const token = hubToken(options.token);
  const name = options.repoId ?? sanitizeRepoName(path.basename(path.resolve(outputDir)));
  if (!token) throw new HubError(`--push-to-hub needs a Hugging Face token with write access (checked before training): ${noTokenHelp()}`);
  const ctx: Ctx = { type: 'model', repoId: name.includes('/') ? name : `?/${name}`, token, endpoint: hubEndpoint() };
  let me;
  try {
    me = await lib().whoAmI({ accessToken: token, hubUrl: ctx.endpoint, fetch: hubFetch(ctx) });
  } catch (err) {
    throw toHubError(err, ctx, 'checking the token (whoami) before training, for');
  }
  const role = me.auth?.accessToken?.role;
  if (role === 'read') throw new HubError(`--push-to-hub: the Hugging Face token of ${me.name} is read-only; use a token with write access (checked before training)`);
  return name.includes('/') ? name : `${me.name}/${name}`;
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
  if (!token) throw new HubError(`pushing ${modelDir} needs a Hugging Face token with write access: ${noTokenHelp()}`);
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
