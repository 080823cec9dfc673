/**
 * MLM training through the shared loop (trainMlm): the held-out slice is numpy's, an interrupted + resumed run equals
 * an uninterrupted one bit for bit (masks drawn per (seed, step)), `.txt` input, and `train --model <our MLM folder>`
 * loads the body + head.dense/norm exactly as transformers does (only the classifier newly initialised).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { heldOutSplit, trainMlm, type MlmOptions } from '../lib/train/mlm';
import { train } from '../lib/train/loop';
import { readTexts } from '../lib/data/mlm-corpus';
import { describeNative } from './helpers/fixtures';
import { runPythonJson } from './helpers/python';
import { MINI, REPO, TOKENIZER } from './helpers/paths';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-mlm-train-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('held-out slice = first int(f n) of numpy default_rng(seed).permutation(n)', () => {
  const n = 6608;
  const rows = Array.from({ length: n }, (_, i) => i);
  const { train: tr, validation } = heldOutSplit(rows, 0.05, 42);
  const want = runPythonJson<number[]>('import numpy as np, json; print(json.dumps(np.random.default_rng(42).permutation(6608).tolist()))');
  expect(validation).toEqual(want.slice(0, 330));
  expect(tr).toEqual(want.slice(330));
  expect(() => heldOutSplit(rows, 1, 42)).toThrow(/validation split/);
});

describeNative()('trainMlm', () => {
  let texts: string[] = [];
  beforeAll(async () => {
    texts = (await readTexts(MINI)).rows.slice(0, 48).map((r) => r.text);
  });
  const base = (outputDir: string, extra: Partial<MlmOptions> = {}): MlmOptions => ({
    texts, tokenizer: TOKENIZER, init: 'tiny', maxLength: 40, batchSize: 8, maxSteps: 4, learningRate: 1e-3, validationSplit: 0.25,
    loggingSteps: 1, saveTotalLimit: 0, outputDir, quiet: true, threads: 2, ...extra,
  });

  test('interrupted at step 2 and resumed == uninterrupted (weights and losses bit-exact); validation loss and perplexity logged', async () => {
    const a = path.join(tmp, 'a');
    const b = path.join(tmp, 'b');
    const ra = await trainMlm(base(a));
    expect(ra.trainTexts).toBe(36);
    expect(ra.validationTexts).toBe(12);
    const evals = ra.logHistory.filter((e) => typeof e.eval_loss === 'number');
    expect(evals.length).toBeGreaterThan(0);
    for (const e of evals) expect(e.eval_perplexity).toBeCloseTo(Math.exp(e.eval_loss!), 6);
    const controller = new AbortController();
    const r1 = await trainMlm(base(b, { signal: controller.signal, onStep: (s) => s === 2 && controller.abort() }));
    expect(r1.interrupted).toBe(true);
    const r2 = await trainMlm(base(b, { resume: true }));
    expect(r2.globalStep).toBe(4);
    expect(fs.readFileSync(path.join(b, 'model.safetensors')).equals(fs.readFileSync(path.join(a, 'model.safetensors')))).toBe(true);
    const losses = (r: typeof ra) => r.logHistory.filter((e) => typeof e.loss === 'number').map((e) => e.loss);
    expect(losses(r2)).toEqual(losses(ra));
    const args = JSON.parse(fs.readFileSync(path.join(a, 'training_args.json'), 'utf8'));
    expect(args.metric_for_best_model).toBe('loss');
    expect(args.greater_is_better).toBe(false);
    expect(args.mlm_probability).toBe(0.3);
    expect(args.label_column).toBeUndefined();
  });

  test('.txt input; train --model <that MLM folder> loads body + head as transformers does (only the classifier is new)', async () => {
    const txt = path.join(tmp, 'corpus.txt');
    fs.writeFileSync(txt, texts.join('\n') + '\n');
    const mlmDir = path.join(tmp, 'txt');
    const r = await trainMlm({ ...base(mlmDir, { maxSteps: 2 }), texts: undefined, dataset: txt });
    expect(r.trainTexts + r.validationTexts).toBe(48);
    const lines: string[] = [];
    const clsDir = path.join(tmp, 'cls');
    await train({ dataset: MINI, model: mlmDir, maxLength: 40, maxSteps: 1, outputDir: clsDir, quiet: false, print: () => undefined, info: (l) => lines.push(l), progress: 'none', threads: 2 });
    const note = lines.find((l) => l.startsWith('Some weights of ModernBertForSequenceClassification'));
    const ours = /\[(.*)\]/.exec(note ?? '')?.[1].split(', ').sort();
    const hf = runPythonJson<{ missing: string[]; unexpected: string[] }>(
      `
import json, sys
from transformers import ModernBertForSequenceClassification
m, info = ModernBertForSequenceClassification.from_pretrained(json.load(sys.stdin), num_labels=3, output_loading_info=True)
print(json.dumps({"missing": sorted(info["missing_keys"]), "unexpected": sorted(info["unexpected_keys"])}))
`,
      mlmDir,
    );
    expect(ours).toEqual(hf.missing);
    expect(ours).toEqual(['classifier.bias', 'classifier.weight']);
  });
});
