/**
 * Issue 13's first-use and fidelity defects, one test each: the training max_length is every command's default (2),
 * a dataset's own validation split (3), the push token checked before training (5), --new-head (6), load() of a
 * masked LM (7), the predict() cache key (8), eval of a single file and predict --input (9), CLI messages in flag
 * words (10), README (11).
 */
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HubEmulator } from './helpers/hub-emulator';
import { MINI, REPO, TOKENIZER } from './helpers/paths';
import { compileDist } from './helpers/build';

const CLI = path.join(REPO, 'dist', 'cli', 'index.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-defects-test-'));
const cache = path.join(tmp, 'hf-cache');
const run32 = path.join(tmp, 'run32');

/* eslint-disable @typescript-eslint/no-require-imports */
const lib = () => require('../lib') as typeof import('../lib');
/* eslint-enable @typescript-eslint/no-require-imports */

beforeAll(() => {
  compileDist();
  fs.mkdirSync(cache, { recursive: true });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[], env: Record<string, string> = {}, input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: tmp, input, encoding: 'utf8', timeout: 300000,
    env: { ...process.env, HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1', NODE_OPTIONS: '', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const small = ['--tokenizer', TOKENIZER, '--init', 'tiny', '--threads', '2'];

/** A JSONL file of `n` rows whose labels cycle through `labels` (two per row). */
function jsonl(file: string, n: number, labels: string[], extra: Record<string, unknown> = {}): string {
  const rows = Array.from({ length: n }, (_, i) => ({ caption: `CT scan of the chest number ${i} showing finding ${i % 5}`, cui: [labels[i % labels.length], labels[(i + 1) % labels.length]], ...extra }));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
}

/** A train/test folder of captions longer than 32 tokens (so truncating at 32 or 256 gives different logits). */
const ds32 = path.join(tmp, 'ds32');
const WORDS = 'chest abdomen contrast enhanced axial coronal lesion nodule opacity effusion pneumothorax fracture hepatic renal cyst mass lymph'.split(' ');
function writeDs32(): void {
  for (const [split, n] of [['train', 48], ['test', 16]] as const) {
    const rows = Array.from({ length: n }, (_, i) => ({
      caption: `Case ${i}: ` + Array.from({ length: 36 }, (_, j) => WORDS[(i * 7 + j * 3 + (split === 'test' ? 5 : 0)) % WORDS.length]).join(' '),
      cui: [['C0000001', 'C0000002', 'C0000003', 'C0000004'][i % 4], 'C0000005'],
    }));
    fs.mkdirSync(path.join(ds32, 'data'), { recursive: true });
    fs.writeFileSync(path.join(ds32, 'data', `${split}.jsonl`), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }
}

describe('2: the training max_length is recorded and is the default of eval, predict and load()', () => {
  test('train --max-length 32, then eval without flags reproduces test_results.json exactly', async () => {
    writeDs32();
    const t = cli(['train', '--dataset', ds32, ...small, '--max-length', '32', '--max-steps', '3', '--lr', '1e-3', '--output-dir', run32, '--quiet']);
    expect([t.code, t.stderr.slice(-2000)]).toEqual([0, expect.anything()]);
    expect(JSON.parse(fs.readFileSync(path.join(run32, 'tokenizer_config.json'), 'utf8')).model_max_length).toBe(32);
    const e = cli(['eval', '--model', run32, '--dataset', ds32, '--json']);
    expect([e.code, e.stderr.slice(-2000)]).toEqual([0, expect.anything()]);
    const got = JSON.parse(e.stdout);
    const want = JSON.parse(fs.readFileSync(path.join(run32, 'test_results.json'), 'utf8'));
    const keys = Object.keys(want).filter((k) => k.startsWith('test_') && !/runtime|per_second/.test(k));
    expect(keys).toEqual(expect.arrayContaining(['test_loss', 'test_f1']));
    for (const k of keys) expect([k, got[k.slice(5)]]).toEqual([k, want[k]]);
    const clf = await lib().load(run32);
    expect(clf.maxLength).toBe(32);
    clf.close();
    // training on from that folder keeps its max length too (as --resume does)
    const more = path.join(tmp, 'run32-more');
    expect(cli(['train', '--dataset', ds32, '--model', run32, '--max-steps', '1', '--output-dir', more, '--quiet']).code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(more, 'training_args.json'), 'utf8')).max_length).toBe(32);
  });
});

describe('3: a dataset with its own validation split', () => {
  const dir = path.join(tmp, 'three-splits');
  beforeAll(() => {
    const labels = ['C0000001', 'C0000002', 'C0000003'];
    jsonl(path.join(dir, 'data', 'train.jsonl'), 40, labels);
    jsonl(path.join(dir, 'data', 'validation.jsonl'), 7, labels);
    jsonl(path.join(dir, 'data', 'test.jsonl'), 6, labels);
  });

  test('is re-split by default, saying so in one line; --validation-split-source dataset uses it', () => {
    let r = cli(['train', '--dataset', dir, ...small, '--max-steps', '1', '--output-dir', path.join(tmp, 'v1')]);
    expect(r.code).toBe(0);
    const notice = r.stderr.split('\n').filter((l) => /own validation split/.test(l));
    expect(notice).toEqual([expect.stringMatching(/\(7 rows\), not used: .*--validation-split-source dataset/)]);
    expect(r.stderr).toMatch(/data: train 34, validation 6, test 6 rows/); // floor(0.15 * (40 + 6)) = 6 re-split from train
    r = cli(['train', '--dataset', dir, ...small, '--max-steps', '1', '--output-dir', path.join(tmp, 'v2'), '--validation-split-source', 'dataset']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/data: train 40, validation 7, test 6 rows/);
    expect(r.stderr).not.toMatch(/own validation split/);
    expect(JSON.parse(fs.readFileSync(path.join(tmp, 'v2', 'training_args.json'), 'utf8')).validation_split_source).toBe('dataset');
    r = cli(['train', '--dataset', MINI, ...small, '--max-steps', '1', '--output-dir', path.join(tmp, 'v3'), '--validation-split-source', 'dataset']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/has no 'validation' split/);
  });
});

describe('5: train --push-to-hub checks the token before training', () => {
  let hub: HubEmulator;
  beforeAll(async () => {
    hub = await HubEmulator.start();
  });
  afterAll(async () => hub?.close());

  /** The CLI run asynchronously (the emulator lives in this process). */
  const cliAsync = (args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> =>
    new Promise((resolve) =>
      execFile(process.execPath, [CLI, ...args], { cwd: tmp, env: { ...process.env, HF_HUB_CACHE: cache, NODE_OPTIONS: '', ...env }, timeout: 300000 }, (err, _o, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      ),
    );

  test.each([
    ['no token', '', /needs a Hugging Face token with write access \(checked before training\)/],
    ['a token the Hub rejects', 'hf_wrong', /whoami/],
    ['a read-only token', 'READ', /read-only/],
  ])('%s: exit 1 before any step', async (_what, token, msg) => {
    const out = path.join(tmp, `push-${token || 'none'}`);
    const r = await cliAsync(['train', '--dataset', MINI, ...small, '--max-steps', '2', '--output-dir', out, '--push-to-hub', '--hub-model-id', 'tester/x'], {
      HF_ENDPOINT: hub.endpoint, HF_HOME: path.join(tmp, 'no-home'), HF_TOKEN: token === 'READ' ? hub.readToken : token,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr).not.toMatch(/data: train/); // the data was not even read
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('6: --new-head fine-tunes a classifier on another label set', () => {
  test('other labels are an error naming --new-head; with it only classifier.* is re-initialised', () => {
    const a = jsonl(path.join(tmp, 'labels-a.jsonl'), 30, ['C1000001', 'C1000002']);
    const b = jsonl(path.join(tmp, 'labels-b.jsonl'), 30, ['C2000001', 'C2000002', 'C2000003']);
    const first = path.join(tmp, 'head-a');
    expect(cli(['train', '--dataset', a, ...small, '--max-steps', '1', '--output-dir', first, '--quiet']).code).toBe(0);
    const second = path.join(tmp, 'head-b');
    let r = cli(['train', '--dataset', b, '--model', first, '--max-steps', '1', '--output-dir', second]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/classifier for 2 \(C1000001, C1000002\) labels; this dataset's train split has 3 .*pass --new-head/);
    r = cli(['train', '--dataset', b, '--model', first, '--max-steps', '1', '--output-dir', second, '--new-head']);
    expect([r.code, r.stderr.slice(-1500)]).toEqual([0, expect.anything()]);
    expect(r.stderr).toMatch(/--new-head: re-initialised classifier\.weight, classifier\.bias for 3 labels/);
    expect(r.stderr).toMatch(/newly initialized: \[classifier\.weight, classifier\.bias\]/); // everything else came from the checkpoint
    const cfg = JSON.parse(fs.readFileSync(path.join(second, 'config.json'), 'utf8'));
    expect(Object.values(cfg.id2label)).toEqual(['C2000001', 'C2000002', 'C2000003']);
  });
});

test('7: load() of a ModernBertForMaskedLM folder says how to fine-tune it', async () => {
  const { presetConfig, toNativeConfig, saveModelFolder, native, load } = lib();
  const dir = path.join(tmp, 'mlm-body');
  const cfg = presetConfig('tiny');
  const m = await native().createModel(toNativeConfig(cfg), { device: 'cpu', seed: 1, init: true });
  await saveModelFolder(dir, { config: cfg, model: m, tokenizerFrom: TOKENIZER });
  m.free();
  await expect(load(dir)).rejects.toThrow(/is a ModernBertForMaskedLM .*train --model .*loadMaskedLM/);
});

test('8: predict() caches per dtype/device/maxLength/tokenizer, not per folder only', async () => {
  const { predict, unloadAll } = lib();
  try {
    const text = 'CT of the chest with a large pneumothorax and rib fractures on the left side';
    const f32 = await predict(text, { model: run32, threshold: 0 });
    const bf16 = await predict(text, { model: run32, threshold: 0, dtype: 'bfloat16' });
    const short = await predict(text, { model: run32, threshold: 0, maxLength: 4 });
    const again = await predict(text, { model: run32, threshold: 0 });
    const p = (x: typeof f32) => x.labels.map((l) => x.probabilities[l]);
    expect(p(again)).toEqual(p(f32)); // the same options reuse the cached model
    expect(p(bf16)).not.toEqual(p(f32));
    expect(p(short)).not.toEqual(p(f32));
  } finally {
    await unloadAll();
  }
});

describe('9: eval of a single file, predict --input', () => {
  test('eval of one labelled file scores all its rows (--split all)', () => {
    const file = jsonl(path.join(tmp, 'single.jsonl'), 23, ['C0040405', 'C0817096']);
    const r = cli(['eval', '--model', run32, '--dataset', file, '--json']);
    expect([r.code, r.stderr]).toEqual([0, expect.anything()]);
    expect(JSON.parse(r.stdout)).toMatchObject({ split: 'all', rows: 23 });
  });

  test('predict --input .txt/.jsonl/.csv/- writes JSONL (stdout) or CSV (--output)', () => {
    const texts = ['CT of the chest', 'MRI of the brain, with contrast', 'Ultrasound "of" the kidney'];
    fs.writeFileSync(path.join(tmp, 'in.txt'), texts.join('\n') + '\n\n');
    fs.writeFileSync(path.join(tmp, 'in.jsonl'), texts.map((t) => JSON.stringify({ id: 1, text: t })).join('\n'));
    fs.writeFileSync(path.join(tmp, 'in.csv'), 'id,caption\n' + texts.map((t, i) => `${i},"${t.replace(/"/g, '""')}"`).join('\n') + '\n');
    // predict() merges texts into packed forwards by token budget, so another batch composition may move the last
    // float bits (see the parity test's padding invariance): same texts and labels, probabilities within 1e-6
    type Row = { text: string; labels: { label: string; probability: number }[] };
    const direct: Row[] = JSON.parse(cli(['predict', ...texts, '--model', run32, '--threshold', '0', '--top', '2', '--json', '--batch-size', '2']).stdout);
    const strip = (rows: Row[]) => rows.map((r) => ({ text: r.text, labels: r.labels.map((l) => l.label) }));
    for (const [input, stdin] of [['in.txt'], ['in.jsonl'], ['in.csv'], ['-', texts.join('\n')]] as const) {
      const r = cli(['predict', '--input', input, '--model', run32, '--threshold', '0', '--top', '2', '--batch-size', '2'], {}, stdin);
      expect([input, r.code, r.stderr]).toEqual([input, 0, '']);
      const got: Row[] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
      expect(strip(got)).toEqual(strip(direct));
      got.forEach((row, i) => row.labels.forEach((l, j) => expect(Math.abs(l.probability - direct[i].labels[j].probability)).toBeLessThanOrEqual(1e-6)));
    }
    const r = cli(['predict', '--input', 'in.txt', '--output', 'out.csv', '--model', run32, '--threshold', '0', '--top', '2']);
    expect(r.code).toBe(0);
    const csv = fs.readFileSync(path.join(tmp, 'out.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('text,labels,probabilities');
    expect(csv).toHaveLength(4);
    expect(csv[3]).toMatch(/^"Ultrasound ""of"" the kidney",C\d+;C\d+,0\.\d+;0\.\d+$/);
    expect(cli(['predict', '--input', 'in.jsonl', '--text-column', 'body', '--model', run32]).stderr).toMatch(/no column 'body' \(columns: id, text\)/);
  });
});

describe('10: CLI messages name flags', () => {
  test('bad rows name --skip-bad-rows; a model without tokenizer names --tokenizer, which predict and eval take', () => {
    const bad = path.join(tmp, 'bad.jsonl');
    fs.writeFileSync(bad, '{"caption": "", "cui": ["C1"]}\n{"caption": "x", "cui": ["C1"]}\n');
    let r = cli(['eval', '--model', run32, '--dataset', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/pass --skip-bad-rows to drop them/);
    const noTok = path.join(tmp, 'no-tokenizer');
    fs.mkdirSync(noTok);
    for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(run32, f), path.join(noTok, f));
    r = cli(['predict', 'CT of the chest', '--model', noTok]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\(pass --tokenizer\)/);
    r = cli(['predict', 'CT of the chest', '--model', noTok, '--tokenizer', TOKENIZER, '--json']);
    expect(r.code).toBe(0);
    expect(cli(['eval', '--model', noTok, '--tokenizer', TOKENIZER, '--dataset', ds32]).code).toBe(0);
  });

  test('a wrong --text-column on JSONL lists the columns', () => {
    const r = cli(['train', '--dataset', jsonl(path.join(tmp, 'cols.jsonl'), 10, ['C1']), ...small, '--text-column', 'text']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no row has column 'text' \(columns: caption, cui\)/);
    expect(r.stderr).not.toMatch(/bad row/);
  });

  test('--init without --tokenizer is a usage error before the data is read; --threshold is range-checked', () => {
    let r = cli(['train', '--init', 'tiny', '--dataset', path.join(tmp, 'does-not-exist.jsonl')]);
    expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(/--init needs --tokenizer/)]);
    for (const cmd of [['train'], ['eval', '--dataset', MINI], ['predict', 'x']]) {
      r = cli([...cmd, '--threshold', '1.5']);
      expect([cmd[0], r.code, r.stderr]).toEqual([cmd[0], 2, expect.stringMatching(/--threshold must be <= 1/)]);
      r = cli([...cmd, '--threshold', '-0.1']);
      expect([cmd[0], r.code]).toEqual([cmd[0], 2]);
    }
  });

  test('the token hint names $HF_HOME/token when HF_HOME is set', () => {
    const home = path.join(tmp, 'custom-hf-home');
    const r = cli(['push', '--model', run32, '--repo-id', 'tester/x'], { HF_HOME: home, HF_TOKEN: '', HF_ENDPOINT: 'http://127.0.0.1:9' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`which writes ${path.join(home, 'token')}`);
    expect(r.stderr).not.toContain('~/.cache/huggingface/token');
  });
});

test('11: README and the training guide: flags on their own lines, one demo duration, the head wording, the API body path, no ../shared paths', () => {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const guide = fs.readFileSync(path.join(REPO, 'docs', 'training.md'), 'utf8'); // the README's training details live here
  expect(readme).not.toMatch(/\.\.\/shared\//);
  for (const doc of [readme, guide]) {
    expect(doc).not.toMatch(/[^\n]`--init tiny\|small` use cls pooling/);
    expect(doc).not.toMatch(/classifier head gets HF's initialisation/);
    expect(doc).not.toMatch(/about a minute/);
  }
  expect(guide).toMatch(/head\.dense.*head\.norm[^\n]*checkpoint/);
  expect(guide).toMatch(/classifierConfig\(readConfigFile\(/);
  expect(guide).toMatch(/await createClassifier\(cfg, \{ tokenizer: body/);
  const help = cli(['train', '--help']).stdout;
  const duration = /tiny model, generated captions; ([^)]+)\)/.exec(help)![1];
  expect(readme).toContain(duration);
});
