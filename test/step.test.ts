/**
 * The optimizer step over a global batch (lib/train/step.ts): how a global batch is cut into micro-batches and rank
 * shares, and gradient accumulation with HF's semantics: 1 process × batch 4 × 2 accumulation steps makes the same
 * updates as 1 process × batch 8 (weights within 1e-5 relative, same losses and grad norms to rounding, the same
 * evaluation metrics and kept checkpoint), for classification and MLM, with clipping active.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { evalShare, lossTerms, sliceBatch, splitEvenly } from '../lib/train/step';
import { train, type TrainOptions } from '../lib/train/loop';
import { trainMlm, type MlmOptions } from '../lib/train/mlm';
import { readTexts } from '../lib/data/mlm-corpus';
import { describeNative, maxTensorDiff } from './helpers/fixtures';
import { expectSameEvals, expectSameSteps } from './helpers/runs';
import { MINI, TOKENIZER } from './helpers/paths';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-step-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('global batch split', () => {
  test('contiguous parts, as even as possible, the first ones longer', () => {
    expect(splitEvenly(8, 2)).toEqual([[0, 4], [4, 8]]);
    expect(splitEvenly(16, 4)).toEqual([[0, 4], [4, 8], [8, 12], [12, 16]]);
    expect(splitEvenly(5, 2)).toEqual([[0, 3], [3, 5]]);
    expect(splitEvenly(3, 4)).toEqual([[0, 1], [1, 2], [2, 3], [3, 3]]);
  });

  test('evaluation shares are whole batches of one process', () => {
    expect(evalShare(10, 4)).toEqual([0, 10]);
    expect(evalShare(10, 4, { rank: 0, world: 2 })).toEqual([0, 8]); // batches [0,4) [4,8) | [8,10)
    expect(evalShare(10, 4, { rank: 1, world: 2 })).toEqual([8, 10]);
    expect(evalShare(3, 4, { rank: 1, world: 2 })).toEqual([3, 3]);
  });

  test('slices of a packed batch keep their rows, targets and labels', () => {
    const b = { ids: Int32Array.from([1, 2, 3, 4, 5, 6]), cuSeqlens: Int32Array.from([0, 2, 3, 6]), rows: 3, targets: Float32Array.from([1, 0, 0, 1, 1, 1]) };
    const s = sliceBatch(b, 1, 3);
    expect(Array.from(s.ids)).toEqual([3, 4, 5, 6]);
    expect(Array.from(s.cuSeqlens)).toEqual([0, 1, 4]);
    expect(Array.from(s.targets!)).toEqual([0, 1, 1, 1]);
    expect(lossTerms(s)).toBe(2);
    const m = { ids: b.ids, cuSeqlens: b.cuSeqlens, rows: 3, labels: Int32Array.from([-100, 7, -100, 9, 9, -100]) };
    expect(lossTerms(sliceBatch(m, 0, 2))).toBe(1);
    expect(lossTerms(m)).toBe(3);
  });
});

describeNative()('gradient accumulation (HF semantics)', () => {
  const maxGradNorm = 0.05;

  test('train: 1 process x batch 4 x 2 accumulation steps = 1 process x batch 8', async () => {
    const base = (outputDir: string, extra: Partial<TrainOptions>): TrainOptions => ({
      dataset: MINI, tokenizer: TOKENIZER, init: 'tiny', maxLength: 48, maxSteps: 3, loggingSteps: 1, learningRate: 1e-3,
      maxGradNorm, saveTotalLimit: 0, outputDir, quiet: true, threads: 2, ...extra,
    });
    const one = await train(base(path.join(tmp, 'b8'), { batchSize: 8 }));
    const acc = await train(base(path.join(tmp, 'b4x2'), { batchSize: 4, gradientAccumulationSteps: 2 }));
    expect(acc.globalStep).toBe(3);
    expectSameSteps(acc.logHistory, one.logHistory, maxGradNorm, 1e-5);
    const w = maxTensorDiff(path.join(acc.outputDir, 'model.safetensors'), path.join(one.outputDir, 'model.safetensors'));
    expect(w.rel).toBeLessThan(1e-5);
    expectSameEvals(acc.logHistory, one.logHistory);
    expect(path.basename(acc.bestCheckpoint!)).toBe(path.basename(one.bestCheckpoint!));
    const args = JSON.parse(fs.readFileSync(path.join(acc.outputDir, 'training_args.json'), 'utf8'));
    expect(args.gradient_accumulation_steps).toBe(2);
    // a checkpoint of global batch 8 does not resume as global batch 4
    await expect(train(base(path.join(tmp, 'b4x2'), { batchSize: 4, maxSteps: 4, resume: true }))).rejects.toThrow(/8 rows per optimizer step/);
  });

  test('mlm: 1 process x batch 4 x 2 accumulation steps = 1 process x batch 8 (masks drawn for the whole batch; the same eval batches: their masks and loss weights depend on the eval batch size)', async () => {
    const texts = (await readTexts(MINI)).rows.slice(0, 52).map((r) => r.text);
    const base = (outputDir: string, extra: Partial<MlmOptions>): MlmOptions => ({
      texts, tokenizer: TOKENIZER, init: 'tiny', maxLength: 40, maxSteps: 3, loggingSteps: 1, learningRate: 1e-3, validationSplit: 0.25,
      evalBatchSize: 8, maxGradNorm, saveTotalLimit: 0, outputDir, quiet: true, threads: 2, ...extra,
    });
    const one = await trainMlm(base(path.join(tmp, 'm8'), { batchSize: 8 }));
    const acc = await trainMlm(base(path.join(tmp, 'm4x2'), { batchSize: 4, gradientAccumulationSteps: 2 }));
    expectSameSteps(acc.logHistory, one.logHistory, maxGradNorm, 1e-5);
    const w = maxTensorDiff(path.join(acc.outputDir, 'model.safetensors'), path.join(one.outputDir, 'model.safetensors'));
    expect(w.rel).toBeLessThan(1e-5);
    expectSameEvals(acc.logHistory, one.logHistory);
  });
});
