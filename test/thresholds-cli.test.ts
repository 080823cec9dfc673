/**
 * Tuned decision thresholds end to end: `train --tune-thresholds per-label` writes thresholds.json, reports both rules
 * in the epoch table and test_results.json; load()/predict(), `predict --input`, `eval` and `serve` use the thresholds
 * by default and an explicit threshold wins (0.5 is the seed's rule); `eval --tune-thresholds` re-tunes; the model
 * card shows them; transformers still loads the folder, with the same logits.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { load, modelCard, sigmoid } from '../lib';
import { startServer } from '../lib/serve/server';
import { REPO, TOKENIZER } from './helpers/paths';
import { runPythonJson } from './helpers/python';

const CLI = path.join(REPO, 'dist', 'cli', 'index.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-thresholds-cli-'));
const ds = path.join(tmp, 'ds');
const run = path.join(tmp, 'run');
const LABELS = ['C0000001', 'C0000002', 'C0000003', 'C0000004', 'C0000005', 'C0000006'];
const WORDS = 'chest abdomen axial lesion nodule effusion pneumothorax fracture hepatic renal cyst mass'.split(' ');
const texts = ['chest nodule axial scan', 'renal cyst hepatic mass', 'fracture of the axial spine', 'pneumothorax effusion chest'];

function cli(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: tmp, input, encoding: 'utf8', timeout: 600_000, env: { ...process.env, HF_HUB_OFFLINE: '1', NODE_OPTIONS: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  spawnSync(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: REPO, stdio: 'pipe' });
  for (const [split, n] of [['train', 90], ['test', 20]] as const) {
    const rows = Array.from({ length: n }, (_, i) => ({
      caption: `${WORDS[i % 12]} ${WORDS[(i * 5 + 1) % 12]} ${WORDS[(i * 7 + 3) % 12]} case ${i % 7}`,
      cui: [LABELS[i % 3], ...(i % 4 === 0 ? [LABELS[3 + (i % 3)]] : [])],
    }));
    fs.mkdirSync(path.join(ds, 'data'), { recursive: true });
    fs.writeFileSync(path.join(ds, 'data', `${split}.jsonl`), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }
  const r = cli(['train', '--dataset', ds, '--tokenizer', TOKENIZER, '--init', 'tiny', '--threads', '2', '--max-length', '16', '--epochs', '2', '--batch-size', '8', '--lr', '2e-3',
    '--tune-thresholds', 'per-label', '--min-threshold-support', '2', '--output-dir', run]);
  if (r.code !== 0) throw new Error(`train failed (${r.code}): ${r.stderr.slice(-3000)}`);
  fs.writeFileSync(path.join(tmp, 'train.stdout'), r.stdout);
  fs.writeFileSync(path.join(tmp, 'train.stderr'), r.stderr);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8'));

test('train writes thresholds.json, the tuned columns, both test rows and test_<metric>_tuned; training_args records the method', () => {
  const t = readJson(path.join(run, 'thresholds.json'));
  expect(t).toMatchObject({ format: 'radbert-thresholds', method: 'per-label', min_threshold_support: 2, baseline_threshold: 0.5, tuned_on: { split: 'validation', rows: 16 } });
  expect(t.global).toBeGreaterThan(0);
  expect(t.global).toBeLessThan(1);
  expect(Object.keys(t.per_label).length).toBeGreaterThan(0);
  expect(t.validation_micro_f1.after).toBeGreaterThanOrEqual(t.validation_micro_f1.global);
  expect(t.validation_micro_f1.global).toBeGreaterThanOrEqual(t.validation_micro_f1.before);
  expect(t.cross_validated_micro_f1).toEqual({ folds: 5, baseline: expect.any(Number), global: expect.any(Number), per_label: expect.any(Number) });
  const stdout = fs.readFileSync(path.join(tmp, 'train.stdout'), 'utf8');
  expect(stdout).toMatch(/\| F1 Tuned +\| Tuned Threshold \|/);
  expect(stdout).toMatch(/\| test, p > 0\.5 /);
  expect(stdout).toMatch(/\| test, tuned per-label \(\d+ labels; 0\.\d{4} for the rest\)/);
  expect(fs.readFileSync(path.join(tmp, 'train.stderr'), 'utf8')).toMatch(/thresholds tuned on the validation split \(16 rows\): per-label .*cross-validated/s);
  const test = readJson(path.join(run, 'test_results.json'));
  for (const k of ['f1', 'precision_micro', 'recall_micro', 'f1_macro', 'exact_match', 'hamming_loss']) {
    expect(typeof test[`test_${k}`]).toBe('number');
    expect(typeof test[`test_${k}_tuned`]).toBe('number');
  }
  const evals = readJson(path.join(run, 'trainer_state.json')).log_history.filter((e: Record<string, number>) => 'eval_f1' in e);
  expect(evals.length).toBe(2);
  for (const e of evals) expect(e.eval_f1_tuned).toBeGreaterThanOrEqual(e.eval_f1);
  expect(readJson(path.join(run, 'training_args.json'))).toMatchObject({ tune_thresholds: 'per-label', min_threshold_support: 2 });
  expect(fs.existsSync(path.join(run, 'training_curves.svg'))).toBe(true);
});

test('load()/predict() cut each label at its tuned threshold; an explicit threshold wins (0.5: the seed rule)', async () => {
  const clf = await load(run);
  try {
    const t = readJson(path.join(run, 'thresholds.json'));
    expect(clf.thresholds?.json).toEqual(t);
    const cut = clf.labels.map((l) => t.per_label[l] ?? t.global);
    expect(Array.from(clf.thresholds!.perLabel)).toEqual(cut);
    const logits = await clf.logits(texts);
    const tuned = await clf.predict(texts);
    const seed = await clf.predict(texts, { threshold: 0.5 });
    let differ = 0;
    texts.forEach((_, i) => {
      const want = (thr: (j: number) => number) => clf.labels.filter((_, j) => sigmoid(logits[i][j]) > thr(j)).sort();
      expect([...tuned[i].labels].sort()).toEqual(want((j) => cut[j]));
      expect([...seed[i].labels].sort()).toEqual(want(() => 0.5));
      if (tuned[i].labels.join() !== seed[i].labels.join()) differ++;
    });
    expect(differ).toBeGreaterThan(0); // the tuned rule is not the seed's on these texts
  } finally {
    await clf.close();
  }
});

test('predict --input uses the thresholds by default, --threshold 0.5 the seed rule; eval reports both rules, --threshold one', async () => {
  const input = path.join(tmp, 'in.txt');
  fs.writeFileSync(input, texts.join('\n') + '\n');
  const rows = (args: string[]) => cli(['predict', '--input', input, '--model', run, ...args]).stdout.trim().split('\n').map((l) => JSON.parse(l).labels.map((x: { label: string }) => x.label));
  const clf = await load(run);
  const want = (await clf.predict(texts)).map((p) => p.labels);
  const want05 = (await clf.predict(texts, { threshold: 0.5 })).map((p) => p.labels);
  await clf.close();
  expect(rows([])).toEqual(want);
  expect(rows(['--threshold', '0.5'])).toEqual(want05);

  const e = cli(['eval', '--model', run, '--dataset', ds, '--json']);
  expect(e.code).toBe(0);
  const got = JSON.parse(e.stdout);
  const test = readJson(path.join(run, 'test_results.json'));
  for (const k of ['f1', 'f1_macro', 'precision_micro', 'hamming_loss']) {
    expect([k, got[k]]).toEqual([k, test[`test_${k}`]]);
    expect([`${k}_tuned`, got[`${k}_tuned`]]).toEqual([`${k}_tuned`, test[`test_${k}_tuned`]]);
  }
  const table = cli(['eval', '--model', run, '--dataset', ds]).stdout;
  expect(table).toMatch(/\| test, p > 0\.5 .*\n\| test, tuned per-label/);
  const one = JSON.parse(cli(['eval', '--model', run, '--dataset', ds, '--json', '--threshold', '0.5']).stdout);
  expect(one.f1).toBe(test.test_f1);
  expect(one.f1_tuned).toBeUndefined();
});

test('eval --report writes per_label.csv (every label, its threshold) and pr_curve.svg', () => {
  const dir = path.join(tmp, 'report');
  const r = cli(['eval', '--model', run, '--dataset', ds, '--split', 'validation', '--report', dir]);
  expect(r.code).toBe(0);
  const lines = fs.readFileSync(path.join(dir, 'per_label.csv'), 'utf8').trim().split('\n');
  expect(lines[0]).toBe('cui,name,support,predicted,precision,recall,f1,threshold');
  const t = readJson(path.join(run, 'thresholds.json'));
  const cfg = readJson(path.join(run, 'config.json'));
  expect(lines.length - 1).toBe(Object.keys(cfg.id2label).length);
  for (const line of lines.slice(1)) {
    const [cui, , support, , , , , thr] = line.split(',');
    expect(Number(thr)).toBeCloseTo(t.per_label[cui] ?? t.global, 6);
    expect(Number.isInteger(Number(support))).toBe(true);
  }
  expect(fs.readFileSync(path.join(dir, 'pr_curve.svg'), 'utf8')).toMatch(/^<svg/);
});

test('serve: /predict without threshold and /classify cut at the tuned thresholds; a threshold in the request wins', async () => {
  const clf = await load(run);
  const server = await startServer(clf, run, { port: 0, log: 'silent' });
  try {
    const post = async (route: string, body: unknown) => (await fetch(`${server.url}${route}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })).json();
    const want = await clf.predict(texts);
    const classify = await post('/classify', { inputs: texts });
    expect(classify).toEqual(JSON.parse(JSON.stringify(want)));
    const predict = (await post('/predict', { inputs: texts })) as Array<Array<{ label: string }>>;
    expect(predict.map((r) => r.map((x) => x.label))).toEqual(want.map((p) => p.labels));
    const all = (await post('/predict', { inputs: texts[0], threshold: 0 })) as unknown[];
    expect(all.length).toBe(clf.labels.length);
    const info = (await (await fetch(`${server.url}/info`)).json()) as { decision_thresholds: string };
    expect(info.decision_thresholds).toMatch(/^thresholds\.json: per-label/);
  } finally {
    await server.close();
  }
});

test('eval --tune-thresholds global re-tunes and saves; the model card shows the thresholds and the curves; transformers loads the folder', async () => {
  const copy = path.join(tmp, 'copy');
  fs.cpSync(run, copy, { recursive: true });
  const r = cli(['eval', '--model', copy, '--dataset', ds, '--tune-thresholds', 'global']);
  expect([r.code, r.stderr]).toEqual([0, expect.stringMatching(/thresholds tuned on the validation split \(16 rows\): global 0\.\d{4}/)]);
  const t = readJson(path.join(copy, 'thresholds.json'));
  expect(t).toMatchObject({ method: 'global', per_label: {} });

  const card = modelCard(run, { repoId: 'me/model' });
  expect(card).toContain('## Decision thresholds');
  expect(card).toContain('![Training and validation loss, validation F1 per epoch](training_curves.svg)');
  expect(card).toContain('hf_hub_download("me/model", "thresholds.json")');
  expect(card).toMatch(/\| metric \| validation \(epoch \d+\) \| test, p > 0\.5 \| test, tuned thresholds \|/);

  const clf = await load(run);
  const ids = clf.encode(texts);
  const ours = await clf.logits(ids);
  await clf.close();
  const theirs = runPythonJson<number[][]>(
    `
import json, sys, torch
from transformers import AutoModelForSequenceClassification
job = json.load(sys.stdin)
m = AutoModelForSequenceClassification.from_pretrained(job["dir"]).eval()
with torch.no_grad():
    print(json.dumps([m(input_ids=torch.tensor([x])).logits[0].tolist() for x in job["ids"]]))
`,
    { dir: run, ids },
  );
  let d = 0;
  ours.forEach((row, i) => row.forEach((x, j) => (d = Math.max(d, Math.abs(x - theirs[i][j])))));
  expect(d).toBeLessThan(1e-4);
});

test('a run without tuning removes the thresholds.json an earlier run left in its folder', () => {
  const r = cli(['train', '--dataset', ds, '--tokenizer', TOKENIZER, '--init', 'tiny', '--threads', '2', '--max-length', '16', '--max-steps', '2', '--output-dir', run, '--overwrite-output-dir', '--quiet']);
  expect(r.code).toBe(0);
  expect(fs.existsSync(path.join(run, 'thresholds.json'))).toBe(false);
  expect(readJson(path.join(run, 'test_results.json')).test_f1_tuned).toBeUndefined();
});
