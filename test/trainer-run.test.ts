/**
 * Whole training runs against Hugging Face's Trainer itself, on the same batches: an `mlm` run and a `train` run.
 *
 * MLM: bench/hf_mlm.py `--stream radbert` makes
 * Trainer draw radbert-native's batch order (epochOrder: NumPy PCG64 per epoch) and training masks
 * (DataCollatorForLanguageModeling's numpy path with default_rng([seed, step])); everything else is Trainer's own:
 * AdamW, the linear schedule over the planned steps, clipping, eval + save every epoch, the best checkpoint by eval loss.
 * Both runs start from one HF-written checkpoint on 100 real captions (90 train, 10 held out; batch 8, so each epoch
 * ends on a partial batch of 2), for three epochs. What trajectory.test.ts cannot show, this does: the epoch order
 * across epochs, the step numbering of the masks, the schedule across epoch boundaries, the evaluation, which
 * checkpoint is kept. Bounds as trajectory.test.ts (1e-5 relative for losses and grad norms, 1e-5 absolute for the
 * weights); observed here (Intel Xeon, 1 thread): losses 9.7e-8, grad norms 1.2e-7, eval losses 5.7e-8, weights 1.6e-6.
 *
 * Classification (the seed's Part 3 recipe): bench/hf_train.py `--stream radbert` (our epoch order; BCEWithLogits, the
 * seed's sklearn compute_metrics, best checkpoint by micro-F1) against `train()`, from one HF-written classifier, on 120
 * real captions of roco-radiology-mini whose CUIs are cut to its six most frequent (so a small model learns something
 * in 36 steps and the metrics are not all zero) plus 40 test rows, split as the seed does (96 / 24 / 40). lr 3e-3 over
 * three epochs makes epoch 2 the best, so the kept checkpoint is not simply the last. Higher rates or longer runs on
 * these 96 rows overfit into a chaotic regime where fp32 rounding grows ×10 every few steps, in HF against itself too
 * (4 epochs at 3e-3: step 45's grad norm differs by 5.5e-5 between HF's eager and sdpa attention, 1.6e-4 ours vs
 * sdpa; at 1e-2 the runs drift apart by 1e-3): such runs agree in every metric but cannot be bounded step by step. Every metric of every evaluation
 * and of the test split must be the same; observed: losses 4.1e-7, grad norms 2.1e-6, eval losses 1.8e-7, weights
 * 5.8e-6 (HF eager vs HF sdpa on the same batches: 1.3e-5; why the weights' bound is measured, see there).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { trainMlm } from '../lib/train/mlm';
import { train } from '../lib/train/loop';
import { readRecords } from '../lib/data/readers';
import { native } from '../lib/native';
import { describeNative, ensureMlmFixtures, maxTensorDiff } from './helpers/fixtures';
import { MINI, REPO, TOKENIZER } from './helpers/paths';
import { pythonRef, runPythonJson } from './helpers/python';

interface HfTrainRun {
  best_metric: number;
  best_checkpoint: string;
  global_step: number;
  log_history: Log;
  test: Record<string, number>;
}

const METRICS = ['loss', 'precision_micro', 'recall_micro', 'f1', 'precision_macro', 'recall_macro', 'f1_macro', 'exact_match', 'hamming_loss', 'label_accuracy'];

interface HfRun {
  best_eval_loss: number;
  best_checkpoint: string;
  global_step: number;
  log: Array<{ step: number; loss: number; grad_norm: number }>;
  epochs: Array<{ step: number; eval_loss: number }>;
}

/** Runs one of the bench/ Trainer scripts with the reference python. */
function runBench(script: string, args: string[]): void {
  execFileSync(pythonRef(), [path.join(REPO, 'bench', script), ...args, '--threads', '1', '--stream', 'radbert'], {
    cwd: REPO,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PYTHONHASHSEED: '0' },
  });
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
type Log = Array<Record<string, number>>;
/** The training-step entries of a log history (loss, grad_norm) and its evaluations. */
const stepsOf = (h: Log) => h.filter((e) => e.loss !== undefined && e.eval_loss === undefined);
const evalsOf = (h: Log) => h.filter((e) => e.eval_loss !== undefined);

describeNative()('whole runs vs HF Trainer on the same batches (bench/hf_mlm.py, bench/hf_train.py --stream radbert)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-trainer-run-'));
  let threads = 0;
  let gemm: 'mkl' | 'onednn' | 'libtorch' = 'mkl';
  beforeAll(() => {
    ({ threads, gemm: { mode: gemm } } = native().version());
    // These tests compare the trainer with HF Trainer step by step, so our linear layers run as HF's do (libtorch's
    // torch::linear: MKL): another library's summation order (oneDNN, the default on non-Intel CPUs) is rounding that
    // Adam at these rates carries into the weights at lr's scale. oneDNN's own numerics are checked by parity.test.ts
    // and trajectory.test.ts (one step; ten steps) and cpu-speed.test.ts against the same bounds.
    native().setGemm('libtorch');
  });
  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
    native().setNumThreads(threads); // both runs use 1 thread (as the HF side); the setting is process-wide: give it back
    native().setGemm(gemm);
  });

  test('mlm: every step loss and grad norm, every epoch eval loss, the kept checkpoint and its weights', async () => {
    const model = path.join(ensureMlmFixtures(), 'mlm', 'model');
    const corpus = path.join(tmp, 'corpus.txt');
    const { records } = await readRecords(path.join(MINI, 'data', 'train-00000-of-00001.parquet'), 'parquet', ['caption']);
    const captions = records.slice(0, 100).map((r) => {
      if (!r.ok) throw new Error(r.reason);
      return String(r.value.caption);
    });
    fs.writeFileSync(corpus, captions.map((c) => c.replace(/\s+/g, ' ').trim()).join('\n') + '\n');
    const recipe = { lr: 1e-3, batch: 8, epochs: 3, split: 0.1, seed: 42, maxLength: 64 };

    const hfDir = path.join(tmp, 'hf');
    const hfJson = path.join(tmp, 'hf.json');
    runBench('hf_mlm.py', [
      '--texts', corpus, '--model', model, '--tokenizer', TOKENIZER, '--lr', String(recipe.lr), '--batch-size', String(recipe.batch),
      '--epochs', String(recipe.epochs), '--validation-split', String(recipe.split), '--seed', String(recipe.seed),
      '--max-length', String(recipe.maxLength), '--logging-steps', '1', '--output-dir', hfDir, '--json', hfJson,
    ]);
    const hf = JSON.parse(fs.readFileSync(hfJson, 'utf8')) as HfRun;

    const oursDir = path.join(tmp, 'ours');
    const ours = await trainMlm({
      dataset: corpus, model, tokenizer: TOKENIZER, outputDir: oursDir, learningRate: recipe.lr, batchSize: recipe.batch,
      epochs: recipe.epochs, validationSplit: recipe.split, seed: recipe.seed, maxLength: recipe.maxLength, loggingSteps: 1,
      threads: 1, quiet: true,
    });

    expect(ours.trainTexts).toBe(90);
    expect(ours.globalStep).toBe(hf.global_step);
    expect(hf.global_step).toBe(36); // ceil(90 / 8) = 12 steps per epoch
    const steps = stepsOf(ours.logHistory as Log);
    const oneToN = hf.log.map((_, i) => i + 1);
    expect(hf.log.map((e) => e.step)).toEqual(oneToN);
    expect(steps.map((e) => e.step)).toEqual(oneToN);
    const lossDiff = Math.max(...steps.map((s, i) => rel(s.loss, hf.log[i].loss)));
    const normDiff = Math.max(...steps.map((s, i) => rel(s.grad_norm, hf.log[i].grad_norm)));
    const oursEval = evalsOf(ours.logHistory as Log).map((e) => e.eval_loss);
    expect(oursEval).toHaveLength(3);
    const evalDiff = Math.max(...oursEval.map((l, i) => rel(l, hf.epochs[i].eval_loss)));
    expect(path.basename(ours.bestCheckpoint!)).toBe(path.basename(hf.best_checkpoint));
    expect(rel(ours.bestMetric!, hf.best_eval_loss)).toBeLessThan(1e-5);

    const paramDiff = maxTensorDiff(path.join(oursDir, 'model.safetensors'), path.join(hfDir, 'model.safetensors')).diff;
    expect(lossDiff).toBeLessThan(1e-5);
    expect(normDiff).toBeLessThan(1e-5);
    expect(evalDiff).toBeLessThan(1e-5);
    expect(paramDiff).toBeLessThan(1e-5);
    console.log(`mlm run vs Trainer: loss ${lossDiff.toExponential(1)}, grad norm ${normDiff.toExponential(1)}, eval ${evalDiff.toExponential(1)}, params ${paramDiff.toExponential(1)}`);
  });

  test('train: every step, every evaluation\'s metrics, the kept checkpoint, the test split and the weights', async () => {
    const prep = runPythonJson<{ train: number; validation: number; test: number; labels: string[] }>(
      `
import collections, json, os, sys
import pyarrow as pa, pyarrow.parquet as pq
a = json.load(sys.stdin)
sys.path.insert(0, os.path.join(a["repo"], "bench"))
from hf_train import seed_data
from transformers import ModernBertConfig, ModernBertForSequenceClassification, set_seed
read = lambda split: pq.read_table(os.path.join(a["mini"], "data", f"{split}-00000-of-00001.parquet"), columns=["image_id", "caption", "cui"]).to_pylist()
tr, te = read("train"), read("test")
top = {c for c, _ in collections.Counter(c for r in tr for c in r["cui"]).most_common(6)}
def keep(rows, n):
    rows = [dict(r, cui=[c for c in r["cui"] if c in top]) for r in rows]
    return [r for r in rows if r["cui"]][:n]
os.makedirs(os.path.join(a["out"], "data", "data"))
for name, rows in (("train", keep(tr, 120)), ("test", keep(te, 40))):
    pq.write_table(pa.Table.from_pylist(rows), os.path.join(a["out"], "data", "data", f"{name}-00000-of-00001.parquet"))
train, val, test, classes, *_ = seed_data(os.path.join(a["out"], "data"), "caption", "cui")
set_seed(0)
cfg = ModernBertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=96, global_attn_every_n_layers=2,
                       local_attention=16, num_labels=len(classes), problem_type="multi_label_classification",
                       id2label={i: c for i, c in enumerate(classes)}, label2id={c: i for i, c in enumerate(classes)})
ModernBertForSequenceClassification(cfg).save_pretrained(os.path.join(a["out"], "init"))
print(json.dumps({"train": len(train), "validation": len(val), "test": len(test), "labels": classes}))
`,
      { repo: REPO, mini: MINI, out: path.join(tmp, 'cls') },
    );
    expect(prep).toMatchObject({ train: 96, validation: 24, test: 40 });
    const dataset = path.join(tmp, 'cls', 'data');
    const init = path.join(tmp, 'cls', 'init');
    const recipe = { lr: 3e-3, batch: 8, epochs: 3, seed: 42, maxLength: 64 };

    const hfDir = path.join(tmp, 'cls', 'hf');
    const hfJson = path.join(tmp, 'cls', 'hf.json');
    const hfRun = (out: string, extra: string[]) => runBench('hf_train.py', [
      '--dataset', dataset, '--model', init, '--tokenizer', TOKENIZER, '--lr', String(recipe.lr), '--batch-size', String(recipe.batch),
      '--epochs', String(recipe.epochs), '--seed', String(recipe.seed), '--max-length', String(recipe.maxLength), '--logging-steps', '1',
      '--output-dir', out, ...extra,
    ]);
    hfRun(hfDir, ['--json', hfJson]);
    const hf = JSON.parse(fs.readFileSync(hfJson, 'utf8')) as HfTrainRun;

    const oursDir = path.join(tmp, 'cls', 'ours');
    const ours = await train({
      dataset, model: init, tokenizer: TOKENIZER, outputDir: oursDir, learningRate: recipe.lr, batchSize: recipe.batch,
      epochs: recipe.epochs, seed: recipe.seed, maxLength: recipe.maxLength, loggingSteps: 1, threads: 1, quiet: true,
    });

    expect(ours.labels).toEqual(prep.labels);
    expect(ours.globalStep).toBe(hf.global_step);
    expect(hf.global_step).toBe(36);
    const [oSteps, hSteps] = [stepsOf(ours.logHistory as Log), stepsOf(hf.log_history)];
    expect(oSteps.map((e) => e.step)).toEqual(hSteps.map((e) => e.step));
    const lossDiff = Math.max(...oSteps.map((e, i) => rel(e.loss, hSteps[i].loss)));
    const normDiff = Math.max(...oSteps.map((e, i) => rel(e.grad_norm, hSteps[i].grad_norm)));

    const [oEvals, hEvals] = [evalsOf(ours.logHistory as Log), evalsOf(hf.log_history)];
    expect(oEvals.map((e) => e.step)).toEqual([12, 24, 36]);
    expect(hEvals.map((e) => e.step)).toEqual([12, 24, 36]);
    let evalLossDiff = 0;
    for (let i = 0; i < 3; i++) {
      evalLossDiff = Math.max(evalLossDiff, rel(oEvals[i].eval_loss, hEvals[i].eval_loss));
      // thresholded metrics: the same predictions give the same numbers
      for (const k of METRICS.slice(1)) expect([i, k, oEvals[i][`eval_${k}`]]).toEqual([i, k, hEvals[i][`eval_${k}`]]);
    }
    const f1s = hEvals.map((e) => e.eval_f1);
    expect(Math.max(...f1s)).toBeGreaterThan(0.5); // it learned something: the metrics can tell runs apart
    expect(f1s.indexOf(Math.max(...f1s))).toBeLessThan(2); // the best epoch is not the last one
    expect(path.basename(ours.bestCheckpoint!)).toBe(`checkpoint-${hEvals[f1s.indexOf(Math.max(...f1s))].step}`);
    expect(ours.bestMetric).toBe(hf.best_metric);
    expect(rel(ours.test!.loss, hf.test.test_loss)).toBeLessThan(1e-5);
    for (const k of METRICS.slice(1)) expect([k, (ours.test as Record<string, number>)[k]]).toEqual([k, hf.test[`test_${k}`]]);

    // The kept (best) model and the last checkpoint. Adam moves a weight by about lr whatever its gradient's size, so an
    // embedding row whose gradients are near zero carries rounding into the weights at lr's scale: HF's own eager and
    // sdpa attention, same batches, end 1.3e-5 apart here. The bound is 1e-5 or twice that spread of HF's, measured now.
    const hfEagerDir = path.join(tmp, 'cls', 'hf-eager');
    hfRun(hfEagerDir, ['--attn', 'eager']);
    const weightPairs = [['model.safetensors', path.relative(hfDir, path.join(hf.best_checkpoint, 'model.safetensors'))], ['checkpoint-36/model.safetensors', 'checkpoint-36/model.safetensors']];
    const paramDiff = Math.max(...weightPairs.map(([o, h]) => maxTensorDiff(path.join(oursDir, o), path.join(hfDir, h)).diff));
    const hfSelf = Math.max(...weightPairs.map(([, h]) => maxTensorDiff(path.join(hfEagerDir, h), path.join(hfDir, h)).diff));
    expect(lossDiff).toBeLessThan(1e-5);
    expect(normDiff).toBeLessThan(1e-5);
    expect(evalLossDiff).toBeLessThan(1e-5);
    expect(paramDiff).toBeLessThan(Math.max(1e-5, 2 * hfSelf));
    console.log(`train run vs Trainer: loss ${lossDiff.toExponential(1)}, grad norm ${normDiff.toExponential(1)}, eval loss ${evalLossDiff.toExponential(1)}, params ${paramDiff.toExponential(1)} (HF eager vs sdpa ${hfSelf.toExponential(1)})`);
  });
});
