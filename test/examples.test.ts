/**
 * examples/ run as a user runs them (node examples/X.js, `require('radbert-native')` resolving to this package's
 * dist/, built by beforeAll), so they cannot rot: train → eval → predict, fill-mask + embeddings (tiny MLM trained at
 * run time), and the fastify app (a tiny random classifier, one request, SIGTERM).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO, TOKENIZER } from './helpers/paths';
import { compileDist } from './helpers/build';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-examples-test-'));
// each example's own temporary folders go under tmp (os.tmpdir() reads TMPDIR); the tokenizer is the shared copy
const env = { ...process.env, TMPDIR: tmp, RADBERT_TOKENIZER: TOKENIZER, NODE_OPTIONS: '', RADBERT_MODEL: '', RADBERT_MLM: '' };

beforeAll(() => {
  compileDist();
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs examples/<name> to its end; fails with its output when it exits non-zero. */
function runExample(name: string, args: string[] = []): string {
  const r = spawnSync(process.execPath, [path.join(REPO, 'examples', name), ...args], { cwd: REPO, env, encoding: 'utf8', timeout: 240000 });
  if (r.status !== 0) throw new Error(`${name} exited ${r.status} (${r.signal ?? 'no signal'}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test('train-eval-predict.js: trains, evaluates the saved model as train did, predicts', () => {
  const out = runExample('train-eval-predict.js', [path.join(tmp, 'train')]);
  const trained = /test micro-F1 ([\d.]+)/.exec(out);
  const evaluated = /eval on 64 test rows: micro-F1 ([\d.]+)/.exec(out);
  expect(trained && evaluated).toBeTruthy();
  expect(evaluated![1]).toBe(trained![1]); // computeMetrics on the loaded model = train()'s test metrics
  expect(Number(evaluated![1])).toBeGreaterThan(0.5); // it learnt the captions' CUIs
  expect(out.match(/^predict "/gm)).toHaveLength(2);
  expect(fs.existsSync(path.join(tmp, 'train', 'model', 'config.json'))).toBe(true);
});

test('fill-mask-embeddings.js: fill-mask candidates and embeddings of a masked LM trained at run time', () => {
  const out = runExample('fill-mask-embeddings.js');
  const candidates = out.match(/^ {2}\d\.\d{4} {2}".*" {2}CT of the .* showing pneumothorax$/gm);
  expect(candidates).toHaveLength(3);
  expect(out).toMatch(/^embeddings: 3 × 128$/m);
  expect(out).toMatch(/cosine\(0, 1\) = -?[\d.]+ {3}cosine\(0, 2\) = -?[\d.]+/);
});

test('serve-fastify.js: POST /tag answers predict()\'s shape, bad bodies get 400, SIGTERM stops it cleanly', async () => {
  const child = spawn(process.execPath, [path.join(REPO, 'examples', 'serve-fastify.js')], { cwd: REPO, env: { ...env, PORT: '0' } });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        stdout += d;
        const m = /listening on (http:\/\/\S+)/.exec(stdout);
        if (m) resolve(m[1]);
      });
      void exited.then((code) => reject(new Error(`serve-fastify.js exited ${code} before listening:\n${stdout}\n${stderr}`)));
    });
    const post = (body: unknown) => fetch(`${url}/tag`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const one = await post({ text: 'CT of the chest showing pneumothorax' });
    expect(one.status).toBe(200);
    const p = (await one.json()) as { labels: string[]; probabilities: Record<string, number> };
    expect(Object.keys(p.probabilities)).toEqual(p.labels);
    const many = (await (await post({ texts: ['MRI of the brain', 'Chest radiograph'] })).json()) as unknown[];
    expect(many).toHaveLength(2);
    expect((await post({ txt: 'typo' })).status).toBe(400);
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  expect(stdout).toMatch(/stopped\n$/);
  expect(stderr).toBe('');
});
