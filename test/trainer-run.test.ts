/**
 * A whole `mlm` run against Hugging Face's Trainer itself, on the same batches. bench/hf_mlm.py `--stream radbert` makes
 * Trainer draw radbert-native's batch order (epochOrder: NumPy PCG64 per epoch) and training masks
 * (DataCollatorForLanguageModeling's numpy path with default_rng([seed, step])); everything else is Trainer's own:
 * AdamW, the linear schedule over the planned steps, clipping, eval + save every epoch, the best checkpoint by eval loss.
 * Both runs start from one HF-written checkpoint on 100 real captions (90 train, 10 held out; batch 8, so each epoch
 * ends on a partial batch of 2), for three epochs. What trajectory.test.ts cannot show, this does: the epoch order
 * across epochs, the step numbering of the masks, the schedule across epoch boundaries, the evaluation, which
 * checkpoint is kept. Bounds as trajectory.test.ts (1e-5 relative for losses and grad norms, 1e-5 absolute for the
 * weights); observed here (Intel Xeon, 1 thread): losses 9.7e-8, grad norms 1.2e-7, eval losses 5.7e-8, weights 1.6e-6.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { trainMlm } from '../lib/train/mlm';
import { describeNative, ensureMlmFixtures, maxAbsDiff, readSafetensors } from './helpers/fixtures';
import { MINI, REPO, TOKENIZER } from './helpers/paths';
import { pythonRef, runPythonJson } from './helpers/python';

interface HfRun {
  best_eval_loss: number;
  best_checkpoint: string;
  global_step: number;
  log: Array<{ step: number; loss: number; grad_norm: number }>;
  epochs: Array<{ step: number; eval_loss: number }>;
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

describeNative()('an mlm run vs HF Trainer on the same batches (bench/hf_mlm.py --stream radbert)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-trainer-run-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('every step loss and grad norm, every epoch eval loss, the kept checkpoint and its weights', async () => {
    const model = path.join(ensureMlmFixtures(), 'mlm', 'model');
    const corpus = path.join(tmp, 'corpus.txt');
    const captions = runPythonJson<string[]>(
      'import json, sys, pyarrow.parquet as pq\n' +
        'a = json.load(sys.stdin)\n' +
        'print(json.dumps(pq.read_table(a, columns=["caption"]).column("caption").to_pylist()[:100]))',
      path.join(MINI, 'data', fs.readdirSync(path.join(MINI, 'data')).find((f) => f.startsWith('train-'))!),
    );
    fs.writeFileSync(corpus, captions.map((c) => c.replace(/\s+/g, ' ').trim()).join('\n') + '\n');
    const recipe = { lr: 1e-3, batch: 8, epochs: 3, split: 0.1, seed: 42, maxLength: 64 };

    const hfDir = path.join(tmp, 'hf');
    const hfJson = path.join(tmp, 'hf.json');
    execFileSync(
      pythonRef(),
      [
        path.join(REPO, 'bench', 'hf_mlm.py'), '--texts', corpus, '--model', model, '--tokenizer', TOKENIZER,
        '--lr', String(recipe.lr), '--batch-size', String(recipe.batch), '--epochs', String(recipe.epochs),
        '--validation-split', String(recipe.split), '--seed', String(recipe.seed), '--max-length', String(recipe.maxLength),
        '--logging-steps', '1', '--threads', '1', '--stream', 'radbert', '--output-dir', hfDir, '--json', hfJson,
      ],
      { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PYTHONHASHSEED: '0' } },
    );
    const hf = JSON.parse(fs.readFileSync(hfJson, 'utf8')) as HfRun;

    const oursDir = path.join(tmp, 'ours');
    const steps: Array<{ loss: number; gradNorm: number }> = [];
    const ours = await trainMlm({
      dataset: corpus, model, tokenizer: TOKENIZER, outputDir: oursDir, learningRate: recipe.lr, batchSize: recipe.batch,
      epochs: recipe.epochs, validationSplit: recipe.split, seed: recipe.seed, maxLength: recipe.maxLength, loggingSteps: 1,
      threads: 1, quiet: true, onStep: (_s, r) => steps.push({ loss: r.loss, gradNorm: r.gradNorm }),
    });

    expect(ours.trainTexts).toBe(90);
    expect(ours.globalStep).toBe(hf.global_step);
    expect(hf.global_step).toBe(36); // ceil(90 / 8) = 12 steps per epoch
    expect(hf.log.map((e) => e.step)).toEqual(steps.map((_, i) => i + 1));
    const lossDiff = Math.max(...steps.map((s, i) => rel(s.loss, hf.log[i].loss)));
    const normDiff = Math.max(...steps.map((s, i) => rel(s.gradNorm, hf.log[i].grad_norm)));
    const oursEval = ours.logHistory.filter((e) => e.eval_loss !== undefined).map((e) => e.eval_loss as number);
    expect(oursEval).toHaveLength(3);
    const evalDiff = Math.max(...oursEval.map((l, i) => rel(l, hf.epochs[i].eval_loss)));
    expect(path.basename(ours.bestCheckpoint!)).toBe(path.basename(hf.best_checkpoint));
    expect(rel(ours.bestMetric!, hf.best_eval_loss)).toBeLessThan(1e-5);

    const a = readSafetensors(path.join(oursDir, 'model.safetensors'));
    const b = readSafetensors(path.join(hfDir, 'model.safetensors'));
    let paramDiff = 0;
    for (const [name, t] of b) {
      const mine = a.get(name);
      expect(mine?.shape).toEqual(t.shape);
      paramDiff = Math.max(paramDiff, maxAbsDiff(mine!.data, t.data));
    }
    expect(lossDiff).toBeLessThan(1e-5);
    expect(normDiff).toBeLessThan(1e-5);
    expect(evalDiff).toBeLessThan(1e-5);
    expect(paramDiff).toBeLessThan(1e-5);
    console.log(`mlm run vs Trainer: loss ${lossDiff.toExponential(1)}, grad norm ${normDiff.toExponential(1)}, eval ${evalDiff.toExponential(1)}, params ${paramDiff.toExponential(1)}`);
  });
});
