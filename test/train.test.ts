/**
 * Training: the HF schedule, checkpoint rotation, a short real run (HF-loadable output with the same probabilities),
 * resume == uninterrupted, trainer_state.json fields.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { epochOrder, linearScheduleLr, planSteps, warmupStepsFor } from '../lib/train/schedule';
import { bceWithLogits } from '../lib/eval/metrics';
import { listCheckpoints, rotateCheckpoints } from '../lib/train/checkpoints';
import { train, type TrainOptions, type TrainerState } from '../lib/train/loop';
import { load } from '../lib/model/classifier';
import { demoCaptions } from '../lib/data/demo';
import { runPythonJson } from './helpers/python';
import { MINI, REPO, TOKENIZER } from './helpers/paths';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-train-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const base = (outputDir: string, extra: Partial<TrainOptions> = {}): TrainOptions => ({
  dataset: MINI,
  tokenizer: TOKENIZER,
  init: 'tiny',
  maxLength: 64,
  maxSteps: 6,
  loggingSteps: 2,
  learningRate: 5e-4,
  outputDir,
  quiet: true,
  threads: 2,
  ...extra,
});

describe('schedule', () => {
  test('linear decay with warmup follows the HF formula', () => {
    const N = 10;
    const W = 3;
    for (let k = 0; k <= N; k++) {
      const want = k < W ? (5e-5 * k) / W : 5e-5 * Math.max(0, (N - k) / Math.max(1, N - W));
      expect(linearScheduleLr(5e-5, k, N, W)).toBeCloseTo(want, 18);
    }
    expect(linearScheduleLr(5e-5, 0, 4100, 0)).toBe(5e-5);
    expect(linearScheduleLr(5e-5, 4100, 4100, 0)).toBe(0);
    expect(warmupStepsFor(4100, 0.1)).toBe(410);
    expect(warmupStepsFor(4100, 0.1, 7)).toBe(7);
  });

  test('matches transformers.get_linear_schedule_with_warmup', () => {
    const cases = [
      [10, 3],
      [7, 0],
      [205, 21],
    ];
    const hf = runPythonJson<number[][]>(
      `import json, torch
from transformers import get_linear_schedule_with_warmup
out = []
for n, w in ${JSON.stringify(cases)}:
    p = torch.nn.Parameter(torch.zeros(1)); opt = torch.optim.SGD([p], lr=5e-5)
    s = get_linear_schedule_with_warmup(opt, w, n); lrs = []
    for k in range(n + 1):
        lrs.append(opt.param_groups[0]['lr']); opt.step(); s.step()
    out.append(lrs)
print(json.dumps(out))`,
    );
    cases.forEach(([n, w], c) => {
      for (let k = 0; k <= n; k++) expect(Math.abs(linearScheduleLr(5e-5, k, n, w) - hf[c][k])).toBeLessThanOrEqual(1e-18);
    });
  });

  test('steps per epoch and max_steps like Trainer', () => {
    expect(planSteps(1633, 8, 20)).toEqual({ stepsPerEpoch: 205, totalSteps: 4100, epochs: 20 });
    expect(planSteps(1633, 8, 20, 6)).toEqual({ stepsPerEpoch: 205, totalSteps: 6, epochs: 1 });
    expect(planSteps(1633, 8, 20, 410)).toEqual({ stepsPerEpoch: 205, totalSteps: 410, epochs: 2 });
    expect(planSteps(1633, 8, 20, 411).epochs).toBe(3);
  });

  test('epoch order is a deterministic permutation that changes per epoch', () => {
    const a = epochOrder(100, 42, 0);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(epochOrder(100, 42, 0)).toEqual(a);
    expect(epochOrder(100, 42, 1)).not.toEqual(a);
  });

  test('bceWithLogits is the mean BCE', () => {
    const x = [2, -1, 0.5, 0];
    const y = [1, 0, 0, 1];
    const want = x.reduce((s, xi, i) => s - (y[i] * Math.log(1 / (1 + Math.exp(-xi))) + (1 - y[i]) * Math.log(1 - 1 / (1 + Math.exp(-xi)))), 0) / 4;
    expect(bceWithLogits(x, y)).toBeCloseTo(want, 12);
  });
});

describe('rotateCheckpoints (transformers 5.17 semantics)', () => {
  const make = (steps: number[]) => {
    const dir = fs.mkdtempSync(path.join(tmp, 'rot-'));
    for (const s of steps) fs.mkdirSync(path.join(dir, `checkpoint-${s}`));
    return dir;
  };
  const left = (dir: string) => listCheckpoints(dir).map((c) => c.step);
  test('keeps the best and the newest', () => {
    let d = make([100, 200, 300, 400, 500]);
    rotateCheckpoints(d, 3, path.join(d, 'checkpoint-100'));
    expect(left(d)).toEqual([100, 400, 500]);
    d = make([100, 200, 300, 400, 500]);
    rotateCheckpoints(d, 1, path.join(d, 'checkpoint-100'));
    expect(left(d)).toEqual([100, 500]);
    d = make([100, 200, 300, 400, 500]);
    rotateCheckpoints(d, 2, path.join(d, 'checkpoint-500'));
    expect(left(d)).toEqual([400, 500]);
    d = make([100, 200]);
    rotateCheckpoints(d, 0, null);
    expect(left(d)).toEqual([100, 200]);
  });
});

describe('a short real run', () => {
  const outA = path.join(tmp, 'A');
  const outB = path.join(tmp, 'B');
  let logA: Array<Record<string, number | null>> = [];

  beforeAll(async () => {
    const r = await train(base(outA));
    logA = r.logHistory;
    expect(r.interrupted).toBe(false);
    expect(r.globalStep).toBe(6);
  });

  test('writes HF-shaped checkpoints and trainer_state.json', () => {
    const ck = path.join(outA, 'checkpoint-6');
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'optimizer.safetensors', 'trainer_state.json', 'training_args.json', 'radbert_state.json'])
      expect(fs.existsSync(path.join(ck, f))).toBe(true);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'trainer_state.json', 'training_args.json']) expect(fs.existsSync(path.join(outA, f))).toBe(true);
    const st = JSON.parse(fs.readFileSync(path.join(ck, 'trainer_state.json'), 'utf8')) as TrainerState;
    expect(Object.keys(st).sort()).toEqual(
      [
        'best_global_step', 'best_metric', 'best_model_checkpoint', 'epoch', 'eval_steps', 'global_step', 'is_hyper_param_search', 'is_local_process_zero',
        'is_world_process_zero', 'log_history', 'logging_steps', 'max_steps', 'num_input_tokens_seen', 'num_train_epochs', 'save_steps', 'stateful_callbacks',
        'total_flos', 'train_batch_size', 'trial_name', 'trial_params',
      ].sort(),
    );
    expect(st.global_step).toBe(6);
    expect(st.max_steps).toBe(6);
    expect(st.logging_steps).toBe(2);
    expect(st.train_batch_size).toBe(8);
    expect(st.num_train_epochs).toBe(1);
    expect(st.best_model_checkpoint).toBe(ck);
    expect(st.best_global_step).toBe(6);
    expect(st.epoch).toBeCloseTo(6 / 205, 12);
    const train = st.log_history.filter((e) => 'loss' in e);
    expect(train.map((e) => e.step)).toEqual([2, 4, 6]);
    // HF 5.17 logs the lr used by the step just taken: step g used lr * (N - (g-1)) / N
    expect(train.map((e) => e.learning_rate)).toEqual([5e-4 * (5 / 6), 5e-4 * (3 / 6), 5e-4 * (1 / 6)].map((x) => expect.closeTo(x, 15)));
    for (const e of train) expect(Object.keys(e).sort()).toEqual(['epoch', 'grad_norm', 'learning_rate', 'loss', 'step']);
    const ev = st.log_history.find((e) => 'eval_loss' in e)!;
    for (const key of ['eval_loss', 'eval_f1', 'eval_precision_micro', 'eval_recall_micro', 'eval_precision_macro', 'eval_recall_macro', 'eval_f1_macro', 'eval_exact_match', 'eval_hamming_loss', 'eval_label_accuracy', 'eval_runtime', 'eval_samples_per_second', 'eval_steps_per_second', 'epoch', 'step'])
      expect(typeof ev[key]).toBe('number');
    expect(st.best_metric).toBe(ev.eval_f1);
    const cfg = JSON.parse(fs.readFileSync(path.join(outA, 'config.json'), 'utf8'));
    expect(cfg.problem_type).toBe('multi_label_classification');
    expect(Object.keys(cfg.id2label).length).toBe(1857);
    expect(logA.some((e) => 'train_loss' in e)).toBe(true);
    expect(logA.some((e) => 'test_f1' in e)).toBe(true);
  });

  test('transformers loads the output folder and gives the same probabilities', async () => {
    const texts = ['CT of Chest with pneumothorax', 'Axial MRI of the brain showing a ring-enhancing lesion in the left frontal lobe.', 'Ultrasound of the right kidney.'];
    const clf = await load(outA, { maxLength: 64 });
    const ours = (await clf.logits(texts)).map((r) => Array.from(r, (x) => 1 / (1 + Math.exp(-x))));
    clf.close();
    const theirs = runPythonJson<number[][]>(
      `import json, sys, torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
d = ${JSON.stringify(outA)}
m = AutoModelForSequenceClassification.from_pretrained(d).eval()
assert m.config.problem_type == 'multi_label_classification'
t = AutoTokenizer.from_pretrained(d)
texts = json.load(sys.stdin)
with torch.no_grad():
    enc = t(texts, truncation=True, max_length=64, padding=True, return_tensors='pt')
    p = torch.sigmoid(m(**enc).logits.double())
print(json.dumps(p.tolist()))`,
      texts,
    );
    let worst = 0;
    ours.forEach((row, i) => row.forEach((p, j) => (worst = Math.max(worst, Math.abs(p - theirs[i][j])))));
    expect(worst).toBeLessThanOrEqual(1e-5);
  });

  test('interrupt at step 3 + resume reproduces the uninterrupted run bit for bit', async () => {
    const controller = new AbortController();
    const r1 = await train(base(outB, { signal: controller.signal, onStep: (s) => s === 3 && controller.abort() }));
    expect(r1.interrupted).toBe(true);
    expect(r1.globalStep).toBe(3);
    const st = JSON.parse(fs.readFileSync(path.join(outB, 'checkpoint-3', 'radbert_state.json'), 'utf8'));
    expect(st).toMatchObject({ global_step: 3, epoch_index: 0, step_in_epoch: 3, reason: 'interrupt', steps_since_log: 1 });
    const r2 = await train(base(outB, { resume: true }));
    expect(r2.interrupted).toBe(false);
    expect(r2.globalStep).toBe(6);
    for (const f of ['model.safetensors', 'optimizer.safetensors'])
      expect(Buffer.compare(fs.readFileSync(path.join(outA, 'checkpoint-6', f)), fs.readFileSync(path.join(outB, 'checkpoint-6', f)))).toBe(0);
    expect(Buffer.compare(fs.readFileSync(path.join(outA, 'model.safetensors')), fs.readFileSync(path.join(outB, 'model.safetensors')))).toBe(0);
    const strip = (h: Array<Record<string, number | null>>) =>
      h.map((e) => Object.fromEntries(Object.entries(e).filter(([key]) => !/runtime|per_second/.test(key))));
    expect(strip(r2.logHistory)).toEqual(strip(logA));
  });
});

test('epoch checkpoints rotate with save_total_limit and keep the best', async () => {
  const dir = path.join(tmp, 'rot-real');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'captions.jsonl');
  fs.writeFileSync(file, demoCaptions(60, 3).map((r) => JSON.stringify(r)).join('\n') + '\n');
  const out = path.join(dir, 'out');
  const deleted: string[] = [];
  const r = await train({
    dataset: file, tokenizer: TOKENIZER, init: 'tiny', maxLength: 32, epochs: 5, batchSize: 8, learningRate: 2e-3,
    saveTotalLimit: 2, outputDir: out, quiet: true, labelNames: { C0040405: 'X-Ray Computed Tomography' },
    info: (l) => void (l.startsWith('deleted') && deleted.push(l)),
  });
  // 60 rows: validation int(0.15 * 60) = 9, train 51 -> 7 steps per epoch, 35 steps
  expect(r.totalSteps).toBe(35);
  const left = listCheckpoints(out).map((c) => c.step);
  expect(left.length).toBeLessThanOrEqual(2);
  expect(left).toContain(35);
  const st = JSON.parse(fs.readFileSync(path.join(out, 'trainer_state.json'), 'utf8')) as TrainerState;
  expect(left).toContain(st.best_global_step);
  const evals = st.log_history.filter((e) => 'eval_f1' in e);
  expect(evals.map((e) => e.step)).toEqual([7, 14, 21, 28, 35]);
  expect(st.best_metric).toBe(Math.max(...evals.map((e) => e.eval_f1 as number)));
  expect(JSON.parse(fs.readFileSync(path.join(out, 'label_names.json'), 'utf8')).C0040405).toBe('X-Ray Computed Tomography');
  // the top-level model is the best checkpoint's
  expect(Buffer.compare(fs.readFileSync(path.join(out, 'model.safetensors')), fs.readFileSync(path.join(out, `checkpoint-${st.best_global_step}`, 'model.safetensors')))).toBe(0);
});

test('the demo generates a tokenizer that @huggingface/tokenizers and Python tokenizers both load identically', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { writeDemo } = require('../lib/data/demo') as typeof import('../lib/data/demo');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { loadTokenizer } = require('../lib/model/tokenize') as typeof import('../lib/model/tokenize');
  const files = writeDemo(path.join(tmp, 'demo'), { forceGeneratedTokenizer: true });
  expect(files.generatedTokenizer).toBe(true);
  const texts = ['CT of Chest with pneumothorax', 'Sagittal MRI of the spine showing a fracture.', 'unknownword xyz'];
  const ours = loadTokenizer(files.tokenizer).encodeBatch(texts);
  const theirs = runPythonJson<number[][]>(
    `import json, sys
from tokenizers import Tokenizer
t = Tokenizer.from_file(${JSON.stringify(path.join(files.tokenizer, 'tokenizer.json'))})
print(json.dumps([e.ids for e in t.encode_batch(json.load(sys.stdin))]))`,
    texts,
  );
  expect(ours).toEqual(theirs);
  expect(ours[0][0]).toBe(2);
  expect(ours[0][ours[0].length - 1]).toBe(3);
  const rows = fs.readFileSync(path.join(files.dataset, 'data', 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(rows).toHaveLength(800);
  expect(rows.some((r: { caption: string; cui: string[] }) => /CT/.test(r.caption) && r.cui.includes('C0040405'))).toBe(true);
});

test('a crash saves a checkpoint of the last finished step before the error propagates', async () => {
  const out = path.join(tmp, 'crash');
  await expect(
    train(base(out, { maxLength: 32, onStep: (s) => {
      if (s === 2) throw new Error('boom');
    } })),
  ).rejects.toThrow('boom');
  const st = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint-2', 'radbert_state.json'), 'utf8'));
  expect(st).toMatchObject({ global_step: 2, reason: 'crash' });
  const r = await train(base(out, { maxLength: 32, resume: true }));
  expect(r.globalStep).toBe(6);
});
