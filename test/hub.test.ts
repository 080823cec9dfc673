/**
 * Hugging Face Hub support against a local emulator (test/helpers/hub-emulator.ts), no internet:
 * cache layout identical to Python's snapshot_download, cache hits with no request, offline mode, resumed
 * downloads, push (LFS path) + re-download, errors, hostile file names, and the token never written anywhere.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HubEmulator } from './helpers/hub-emulator';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { pythonRef } from './helpers/python';
import { createClassifier } from '../lib/model/classifier';
import { classifierConfig, presetConfig } from '../lib/model/config';
import { readRows } from '../lib/data/readers';
import { resolveDataset, resolveModel } from '../lib/hub/download';
import { defaultRepoId, pushToHub } from '../lib/hub/push';
import { HubError } from '../lib/hub/errors';
import { hubCacheDir, hubToken } from '../lib/hub/env';
import { parseHubId } from '../lib/hub/ids';
import { safeRepoPath } from '../lib/hub/cache';
import { modelCard, hubIdOf } from '../lib/hub/modelcard';
import { MINI, REPO, TOKENIZER } from './helpers/paths';


let hub: HubEmulator;
let tmp: string;
let modelDir: string;
const savedEnv = { ...process.env };
const output: string[] = [];
const errors: string[] = [];
let restoreWrites: () => void;

/**
 * Run Python asynchronously: helpers/python's runPython is synchronous, which would block this process's event loop
 * and with it the emulator Python talks to.
 */
function runPython(code: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(pythonRef(), ['-c', code], { cwd: REPO, encoding: 'utf8', timeout: 120_000, env: { ...process.env, PYTHONIOENCODING: 'utf-8' } }, (err, stdout, stderr) =>
      err ? reject(new Error(`python failed: ${stderr || err.message}`)) : resolve(stdout),
    );
  });
}

/** Run `fn`, expecting a HubError; record its message (scanned for tokens at the end). */
async function hubFailure(fn: () => Promise<unknown>): Promise<HubError> {
  try {
    await fn();
  } catch (err) {
    errors.push(String((err as Error).message));
    if (!(err instanceof HubError)) throw err;
    return err;
  }
  throw new Error('expected a HubError');
}

/** The storage folder tree: path → 'dir' | 'link:<target>' | 'file:<content for refs/trees, else size>'. */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const ent of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      const full = path.join(d, ent.name);
      if (ent.isSymbolicLink()) out[r] = `link:${fs.readlinkSync(full)}`;
      else if (ent.isDirectory()) {
        out[r] = 'dir';
        walk(full, r);
      } else out[r] = /^(refs|trees)\//.test(r) ? `file:${fs.readFileSync(full, 'utf8')}` : `file:${fs.statSync(full).size}`;
    }
  };
  walk(root, '');
  return out;
}

function allFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const ent of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, ent.name);
      if (ent.isDirectory()) walk(full);
      else if (ent.isFile()) out.push(full);
    }
  };
  walk(dir);
  return out;
}

beforeAll(async () => {
  hub = await HubEmulator.start();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-hub-'));
  for (const k of ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_TOKEN_PATH', 'HF_HUB_OFFLINE', 'HUGGINGFACE_HUB_CACHE', 'XDG_CACHE_HOME']) delete process.env[k];
  process.env.HF_ENDPOINT = hub.endpoint;
  process.env.HF_HOME = path.join(tmp, 'hf-home');
  process.env.HF_HUB_CACHE = path.join(tmp, 'cache');

  // capture everything we print
  const origOut = process.stdout.write.bind(process.stdout);
  const origErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => (output.push(String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => (output.push(String(chunk)), true)) as typeof process.stderr.write;
  restoreWrites = () => {
    process.stdout.write = origOut;
    process.stderr.write = origErr;
  };

  // a tiny trained-classifier folder
  modelDir = path.join(tmp, 'tiny-cui-classifier');
  const clf = await createClassifier(classifierConfig(presetConfig('tiny'), ['C0040405', 'C0024485']), { tokenizer: TOKENIZER, seed: 1 });
  clf.labelNames = { C0040405: 'X-Ray Computed Tomography', C0024485: 'Magnetic Resonance Imaging' };
  await clf.save(modelDir);
  clf.close();
  fs.writeFileSync(
    path.join(modelDir, 'training_args.json'),
    JSON.stringify({ model: '/home/u/.cache/huggingface/hub/models--answerdotai--ModernBERT-base/snapshots/abc', dataset: 'unsloth/Radiology_mini', learning_rate: 5e-5, num_train_epochs: 2, hub_token: 'not-a-real-secret', seed: 42 }, null, 2),
  );
  fs.writeFileSync(
    path.join(modelDir, 'trainer_state.json'),
    JSON.stringify({
      best_global_step: 20,
      log_history: [
        { loss: 0.7, step: 10, epoch: 1 },
        { eval_loss: 0.5, eval_f1: 0.61, eval_precision_micro: 0.7, eval_recall_micro: 0.55, epoch: 1, step: 10 },
        { eval_loss: 0.4, eval_f1: 0.72, eval_precision_micro: 0.8, eval_recall_micro: 0.66, epoch: 2, step: 20 },
        { test_loss: 0.41, test_f1: 0.7, test_exact_match: 0.3, epoch: 2, step: 20 },
      ],
    }),
  );

  // public repos: a model (with files we must not download) and a dataset
  const files: Record<string, Buffer | string> = {};
  for (const f of fs.readdirSync(modelDir)) files[f] = fs.readFileSync(path.join(modelDir, f));
  hub.addRepo('model', 'test-org/tiny-public', { ...files, 'README.md': '# tiny\n', 'pytorch_model.bin': Buffer.alloc(2048, 7), 'onnx/model.onnx': Buffer.alloc(100, 1) });
  hub.addRepo('dataset', 'test-org/captions', {
    'README.md': '# captions\n',
    'data/train-00000-of-00001.parquet': fs.readFileSync(path.join(MINI, 'data', 'train-00000-of-00001.parquet')),
    'data/test-00000-of-00001.parquet': fs.readFileSync(path.join(MINI, 'data', 'test-00000-of-00001.parquet')),
  });
}, 120_000);

afterAll(async () => {
  restoreWrites?.();
  await hub?.close();
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('names and env: Hub ids, hostile paths, cache dir and token lookup', () => {
  expect(parseHubId('org/name')).toEqual({ repoId: 'org/name', revision: undefined });
  expect(parseHubId('org/name@v1.0')).toEqual({ repoId: 'org/name', revision: 'v1.0' });
  for (const bad of ['name', 'a/b/c', './x/y', 'org/na--me', 'org/name@../x', '/abs/path']) expect(parseHubId(bad)).toBeUndefined();
  for (const bad of ['../evil', '/etc/x', 'a\\b', 'data/../x', 'C:/x', '']) expect(() => safeRepoPath(bad)).toThrow(/refusing file name/);
  expect(safeRepoPath('data/train-00000-of-00001.parquet')).toBe('data/train-00000-of-00001.parquet');
  expect(hubCacheDir()).toBe(path.join(tmp, 'cache'));
  expect(hubToken()).toBeUndefined();
  fs.mkdirSync(process.env.HF_HOME!, { recursive: true });
  fs.writeFileSync(path.join(process.env.HF_HOME!, 'token'), `${hub.token}\n`);
  expect(hubToken()).toBe(hub.token);
  process.env.HF_TOKEN = 'hf_fromenv';
  expect(hubToken()).toBe('hf_fromenv');
  expect(hubToken('hf_explicit')).toBe('hf_explicit');
  delete process.env.HF_TOKEN;
  fs.rmSync(path.join(process.env.HF_HOME!, 'token'));
  expect(hubIdOf('/x/hub/models--answerdotai--ModernBERT-base/snapshots/abc', 'model')).toBe('answerdotai/ModernBERT-base');
});

test('download: cache layout identical to Python snapshot_download, re-used with no request, shared both ways', async () => {
  hub.resetLog();
  const dir = await resolveModel('test-org/tiny-public');
  const commit = hub.head('model', 'test-org/tiny-public')!;
  const storage = path.join(tmp, 'cache', 'models--test-org--tiny-public');
  expect(dir).toBe(path.join(storage, 'snapshots', commit));
  const got = fs.readdirSync(dir).sort();
  expect(got).toEqual(['config.json', 'label_names.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'].filter((f) => fs.existsSync(path.join(modelDir, f))));
  for (const f of got) expect(fs.readFileSync(path.join(dir, f)).equals(fs.readFileSync(path.join(modelDir, f)))).toBe(true);
  expect(fs.readFileSync(path.join(storage, 'refs', 'main'), 'utf8')).toBe(commit);
  expect(fs.readlinkSync(path.join(dir, 'config.json'))).toMatch(/^\.\.\/\.\.\/blobs\/[0-9a-f]{40}$/);
  expect(fs.readlinkSync(path.join(dir, 'model.safetensors'))).toMatch(/^\.\.\/\.\.\/blobs\/[0-9a-f]{64}$/);
  expect(hub.requests.some((r) => r.url.includes('pytorch_model.bin') || r.url.includes('onnx'))).toBe(false);

  // the same download by Python's huggingface_hub against the same emulator
  const pyCache = path.join(tmp, 'pycache');
  await runPython(
    `import os
os.environ.update(HF_ENDPOINT=${JSON.stringify(hub.endpoint)}, HF_HUB_CACHE=${JSON.stringify(pyCache)}, HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
os.environ.pop("HF_TOKEN", None)
from huggingface_hub import snapshot_download
snapshot_download("test-org/tiny-public", allow_patterns=${JSON.stringify(got)})
snapshot_download("test-org/captions", repo_type="dataset", allow_patterns=["data/train-*"])`,
  );
  expect(tree(storage)).toEqual(tree(path.join(pyCache, 'models--test-org--tiny-public')));
  expect(Object.keys(tree(storage)).sort()).toEqual(expect.arrayContaining([`refs/main`, `trees/${commit}.json`, `snapshots/${commit}/model.safetensors`]));

  // second call: no request at all (branch via refs, and commit sha)
  hub.resetLog();
  expect(await resolveModel('test-org/tiny-public')).toBe(dir);
  expect(await resolveModel('test-org/tiny-public', { revision: commit })).toBe(dir);
  expect(await resolveModel(`test-org/tiny-public@${commit}`)).toBe(dir);
  expect(hub.requests).toEqual([]);
  // checkForUpdates asks for the branch head only
  expect(await resolveModel('test-org/tiny-public', { checkForUpdates: true })).toBe(dir);
  expect(hub.requests.map((r) => r.url.split('?')[0])).toEqual(['/api/models/test-org/tiny-public/revision/main']);

  // a cache written by Python is used by us with no request
  hub.resetLog();
  const pyDir = await resolveModel('test-org/tiny-public', { cacheDir: pyCache });
  expect(pyDir).toBe(path.join(pyCache, 'models--test-org--tiny-public', 'snapshots', commit));
  const pyData = await resolveDataset('test-org/captions', { cacheDir: pyCache, splits: ['train'] });
  expect(hub.requests).toEqual([]);
  expect(fs.readdirSync(path.join(pyData, 'data'))).toEqual(['train-00000-of-00001.parquet']);

  // and ours by Python, offline
  const out = await runPython(
    `import os
os.environ.update(HF_HUB_CACHE=${JSON.stringify(path.join(tmp, 'cache'))}, HF_HUB_OFFLINE="1")
from huggingface_hub import snapshot_download
print(snapshot_download("test-org/tiny-public", allow_patterns=${JSON.stringify(got)}))`,
  );
  expect(out.trim()).toBe(dir);
  expect(hub.requests).toEqual([]);
}, 120_000);

test('offline mode: served from the cache, and a clear error naming what is missing', async () => {
  process.env.HF_HUB_OFFLINE = '1';
  try {
    hub.resetLog();
    const dir = await resolveModel('test-org/tiny-public');
    expect(fs.existsSync(path.join(dir, 'model.safetensors'))).toBe(true);
    const e1 = await hubFailure(() => resolveModel('test-org/never-downloaded'));
    expect(e1.message).toMatch(/HF_HUB_OFFLINE=1.*model test-org\/never-downloaded \(revision 'main'\).*not in the cache.*refs\/main/);
    const e2 = await hubFailure(() => resolveModel('test-org/tiny-public', { revision: 'v2' }));
    expect(e2.message).toMatch(/revision 'v2'/);
    // an incomplete snapshot names the missing file
    const link = path.join(dir, 'tokenizer.json');
    const target = fs.readlinkSync(link);
    fs.rmSync(link);
    const e3 = await hubFailure(() => resolveModel('test-org/tiny-public'));
    expect(e3.message).toMatch(/incomplete: missing tokenizer\.json/);
    fs.symlinkSync(target, link);
    expect(hub.requests).toEqual([]);
  } finally {
    delete process.env.HF_HUB_OFFLINE;
  }
});

test('datasets: only the needed splits; a dropped connection resumes with a Range request; readRows reads it', async () => {
  const file = 'data/train-00000-of-00001.parquet';
  const size = hub.fileAt('dataset', 'test-org/captions', 'main', file)!.length;
  expect(size).toBeGreaterThan(5000);

  // killed mid-file (no retry): only an .incomplete file, nothing that looks complete
  hub.dropAfter = { path: file, bytes: 4096 };
  const e = await hubFailure(() => resolveDataset('test-org/captions', { splits: ['train'], retries: 0 }));
  expect(e.message).toMatch(/interrupted after 4096 of \d+ bytes.*resume/);
  const storage = path.join(tmp, 'cache', 'datasets--test-org--captions');
  const blobs = fs.readdirSync(path.join(storage, 'blobs'));
  expect(blobs).toHaveLength(1);
  expect(blobs[0]).toMatch(/^[0-9a-f]{64}\.incomplete$/);
  expect(fs.statSync(path.join(storage, 'blobs', blobs[0])).size).toBe(4096);
  const commit = hub.head('dataset', 'test-org/captions')!;
  expect(fs.existsSync(path.join(storage, 'snapshots', commit, file))).toBe(false);

  // run again: resumes at 4096; dropped again mid-way, retried within the call
  hub.resetLog();
  hub.dropAfter = { path: file, bytes: 1000 };
  const dir = await resolveDataset('test-org/captions', { splits: ['train'] });
  const ranges = hub.requests.filter((r) => r.url.includes('/resolve/') && r.range && r.range !== 'bytes=0-0').map((r) => r.range);
  expect(ranges).toEqual(['bytes=4096-', 'bytes=5096-']);
  expect(fs.readFileSync(path.join(dir, file)).equals(hub.fileAt('dataset', 'test-org/captions', 'main', file)!)).toBe(true);
  expect(fs.readdirSync(path.join(dir, 'data'))).toEqual(['train-00000-of-00001.parquet']);
  expect(fs.readdirSync(path.join(storage, 'blobs')).some((b) => b.endsWith('.incomplete'))).toBe(false);
  const rows = await readRows(dir);
  expect(Object.keys(rows.splits)).toEqual(['train']);
  expect(rows.splits.train.length).toBeGreaterThan(0);

  // more splits later: only the new files are fetched; unknown split → clear error
  hub.resetLog();
  await resolveDataset('test-org/captions', { splits: ['train', 'test'] });
  expect(hub.requests.filter((r) => r.method === 'GET' && r.url.includes('/resolve/') && !r.range)).toHaveLength(1);
  const e2 = await hubFailure(() => resolveDataset('test-org/captions', { splits: ['validation'] }));
  expect(e2.message).toMatch(/no split 'validation' \(it has test, train\)/);
});

test('push: creates the repo, uploads through LFS, re-download gives identical bytes; errors are clear', async () => {
  // no token
  const e0 = await hubFailure(() => pushToHub(modelDir, { repoId: 'tester/x' }));
  expect(e0.message).toMatch(/HF_TOKEN.*huggingface-cli login/);

  // token from the `huggingface-cli login` file
  fs.mkdirSync(process.env.HF_HOME!, { recursive: true });
  fs.writeFileSync(path.join(process.env.HF_HOME!, 'token'), hub.token);
  try {
    expect(await defaultRepoId(modelDir)).toBe('tester/tiny-cui-classifier');
    hub.resetLog();
    const res = await pushToHub(modelDir, { private: true, commitMessage: 'first model' });
    expect(res.repoId).toBe('tester/tiny-cui-classifier');
    expect(res.commitUrl).toBe(`${hub.endpoint}/tester/tiny-cui-classifier/commit/${hub.head('model', res.repoId)}`);
    expect(res.repoUrl).toBe(`${hub.endpoint}/tester/tiny-cui-classifier`);
    expect(hub.isPrivate('model', res.repoId)).toBe(true);
    const urls = hub.requests.map((r) => `${r.method} ${r.url.split('?')[0]}`);
    expect(urls).toEqual(
      expect.arrayContaining([
        'POST /api/repos/create',
        'POST /api/models/tester/tiny-cui-classifier/preupload/main',
        'POST /tester/tiny-cui-classifier.git/info/lfs/objects/batch',
        'POST /api/models/tester/tiny-cui-classifier/commit/main',
      ]),
    );
    // large files went through LFS: preupload said "lfs", the batch answered with an upload URL, then a PUT
    const weightsSha = createHash('sha256').update(fs.readFileSync(path.join(modelDir, 'model.safetensors'))).digest('hex');
    expect(urls).toContain(`PUT /__lfs/${weightsSha}`);
    expect(res.files.sort()).toEqual(['README.md', 'config.json', 'label_names.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'trainer_state.json', 'training_args.json'].filter((f) => f === 'README.md' || fs.existsSync(path.join(modelDir, f))).sort());

    const card = hub.fileAt('model', res.repoId, 'main', 'README.md')!.toString('utf8');
    expect(card).toMatch(/^---\nlibrary_name: transformers\npipeline_tag: text-classification\nbase_model: answerdotai\/ModernBERT-base\ndatasets:\n- unsloth\/Radiology_mini\nmetrics:\n- f1/);
    expect(card).toMatch(/tags:\n- multi-label\n- radiology\n- umls\n- modernbert/);
    expect(card).toMatch(/\| f1 \| 0\.7200 \| 0\.7000 \|/);
    expect(card).toMatch(/AutoModelForSequenceClassification/);
    expect(card).toMatch(/torch\.sigmoid/);
    expect(card).toMatch(/require\('radbert-native'\)/);
    expect(card).toMatch(/`C0040405` X-Ray Computed Tomography/);
    expect(card).not.toMatch(/hub_token|not-a-real-secret/);
    expect(card).toBe(modelCard(modelDir, { repoId: res.repoId }));

    // private: no token → 401 that says how to set one; with the token → same bytes back
    fs.rmSync(path.join(process.env.HF_HOME!, 'token'));
    const e1 = await hubFailure(() => resolveModel(res.repoId));
    expect(e1.status).toBe(401);
    expect(e1.message).toMatch(/model tester\/tiny-cui-classifier.*private or gated.*HF_TOKEN.*huggingface-cli login/);
    process.env.HF_TOKEN = hub.token;
    const back = await resolveModel(res.repoId);
    for (const f of fs.readdirSync(back)) expect(fs.readFileSync(path.join(back, f)).equals(fs.readFileSync(path.join(modelDir, f)))).toBe(true);
    expect(fs.readdirSync(back)).toContain('model.safetensors');

    // push again on a branch: no new LFS upload (already stored), branch created
    hub.resetLog();
    const res2 = await pushToHub(modelDir, { repoId: 'tiny-cui-classifier', revision: 'v2', commitMessage: 'again' });
    expect(res2.repoId).toBe('tester/tiny-cui-classifier');
    expect(hub.requests.some((r) => r.method === 'PUT')).toBe(false);
    expect(hub.head('model', res2.repoId, 'v2')).toBe(res2.commitSha);

    // 401 (bad token), 403 (read-only token / foreign namespace), 404, network down: say what and where
    const e2 = await hubFailure(() => pushToHub(modelDir, { repoId: 'tester/x', token: 'hf_wrongtoken123' }));
    expect(e2.message).toMatch(/rejected the token \(401/);
    const e3 = await hubFailure(() => pushToHub(modelDir, { repoId: 'tester/y', token: hub.readToken }));
    expect(e3.status).toBe(403);
    expect(e3.message).toMatch(/tester\/y.*write access/);
    const e4 = await hubFailure(() => pushToHub(modelDir, { repoId: 'someone-else/z' }));
    expect(e4.status).toBe(403);
    const e5 = await hubFailure(() => resolveModel('test-org/does-not-exist'));
    expect(e5.status).toBe(404);
    expect(e5.message).toMatch(/model test-org\/does-not-exist.*not found on http:\/\/127\.0\.0\.1:\d+.*check the repo id/i);
    const e6 = await hubFailure(() => resolveModel('test-org/tiny-public', { revision: 'nope' }));
    expect(e6.message).toMatch(/revision 'nope'.*no such revision/);
    process.env.HF_ENDPOINT = 'http://127.0.0.1:9';
    const e7 = await hubFailure(() => resolveModel('test-org/other'));
    expect(e7.message).toMatch(/cannot reach the Hugging Face Hub at http:\/\/127\.0\.0\.1:9 .*HF_HUB_OFFLINE/);
    const e8 = await hubFailure(() => pushToHub(modelDir, { repoId: 'tester/q' }));
    expect(e8.message).toMatch(/cannot reach the Hugging Face Hub at http:\/\/127\.0\.0\.1:9/);
    // ... while a cached branch is still served
    expect(await resolveModel('test-org/tiny-public', { checkForUpdates: true })).toMatch(/snapshots/);
  } finally {
    process.env.HF_ENDPOINT = hub.endpoint;
    delete process.env.HF_TOKEN;
    fs.rmSync(path.join(process.env.HF_HOME!, 'token'), { force: true });
  }
}, 120_000);

test('sharded weights: the index and only its shards are fetched, then served from the cache', async () => {
  const index = { metadata: { total_size: 300 }, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' } };
  hub.addRepo('model', 'test-org/sharded', {
    'config.json': fs.readFileSync(path.join(modelDir, 'config.json')),
    'model.safetensors.index.json': JSON.stringify(index),
    'model-00001-of-00002.safetensors': Buffer.alloc(100, 1),
    'model-00002-of-00002.safetensors': Buffer.alloc(200, 2),
    'model-00003-unused.safetensors': Buffer.alloc(50, 3),
  });
  const dir = await resolveModel('test-org/sharded', { quiet: true });
  expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json']);
  hub.resetLog();
  expect(await resolveModel('test-org/sharded')).toBe(dir);
  expect(hub.requests).toEqual([]);
});

test('hostile file names from the Hub are refused, nothing is written outside the cache', async () => {
  const index = { metadata: {}, weight_map: { 'a.weight': '../evil.safetensors' } };
  hub.addRepo('model', 'test-org/evil', { 'config.json': fs.readFileSync(path.join(modelDir, 'config.json')), 'model.safetensors.index.json': JSON.stringify(index), '../evil.safetensors': 'x', '/etc/x': 'y' });
  const e1 = await hubFailure(() => resolveModel('test-org/evil'));
  expect(e1.message).toMatch(/refusing file name "\.\.\/evil\.safetensors".*escape the cache/);
  hub.addRepo('model', 'test-org/evil2', { 'config.json': '{}', 'model.safetensors.index.json': JSON.stringify({ weight_map: { w: '/etc/x' } }), '/etc/x': 'y' });
  const e2 = await hubFailure(() => resolveModel('test-org/evil2'));
  expect(e2.message).toMatch(/refusing file name "\/etc\/x"/);
  hub.addRepo('dataset', 'test-org/evil-data', { 'data/../../evil-00000-of-00001.parquet': 'x', 'data/..\\..\\x/train-0.parquet': 'y' });
  const e3 = await hubFailure(() => resolveDataset('test-org/evil-data'));
  expect(e3.message).toMatch(/refusing file name/);
  const stray = allFiles(tmp).filter((f) => /evil|[/\\]x$/.test(path.basename(f)) && !f.includes(`${path.sep}trees${path.sep}`));
  expect(stray).toEqual([]);
  expect(fs.existsSync(path.join(tmp, 'cache', 'evil.safetensors'))).toBe(false);
});

test('the token never appears in output, errors or any written file', () => {
  const secrets = [hub.token, hub.readToken, 'hf_wrongtoken123'];
  const text = output.join('') + errors.join('\n');
  expect(output.join('')).toMatch(/downloading/); // progress lines were printed (stderr is not a TTY here)
  for (const s of secrets) expect(text.includes(s)).toBe(false);
  for (const f of allFiles(tmp)) {
    const data = fs.readFileSync(f);
    for (const s of secrets) if (data.includes(s)) throw new Error(`${f} contains a token`);
  }
});
