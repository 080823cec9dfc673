/**
 * Parity with Hugging Face transformers 5.17 (torch 2.13 CPU), on fixtures that transformers itself wrote
 * (test/python/make_fixtures.py): logits, padding invariance, gradients, one clipped AdamW step, masked-LM logits.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { load, sigmoid, packBatch, toNativeConfig, readConfigFile, native } from '../lib';
import type { Classifier } from '../lib';
import { ensureFixtures, manifest, maxAbs, maxAbsDiff, readSafetensors, type Manifest } from './helpers/fixtures';

let dir: string;
let fx: Manifest;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-parity-'));

beforeAll(() => {
  dir = ensureFixtures();
  fx = manifest(dir);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function flat(rows: ArrayLike<number>[]): number[] {
  return rows.flatMap((r) => Array.from(r));
}

describe.each(['awkward', 'biases_mean', 'legacy_odd'])('%s config vs transformers', (name) => {
  let clf: Classifier;
  beforeAll(async () => {
    clf = await load(path.join(dir, name, 'model'));
  });
  afterAll(() => clf.close());

  test('logits and probabilities ≤ 1e-5 on a batch mixing 3-token and 200-token captions', async () => {
    const lengths = fx.batch_a.map((s) => s.length);
    expect(Math.min(...lengths)).toBe(3);
    expect(Math.max(...lengths)).toBe(200);
    const ours = await clf.logits(fx.batch_a);
    const hf = fx.configs[name].logits_a;
    const dLogits = maxAbsDiff(flat(ours), flat(hf));
    const dProbs = maxAbsDiff(flat(ours).map(sigmoid), flat(hf).map(sigmoid));
    console.log(`${name}: max |logit diff| ${dLogits.toExponential(2)}, max |prob diff| ${dProbs.toExponential(2)}`);
    expect(dLogits).toBeLessThanOrEqual(1e-5);
    expect(dProbs).toBeLessThanOrEqual(1e-5);
    // the second batch composition, also against HF
    expect(maxAbsDiff(flat(await clf.logits(fx.batch_b)), flat(fx.configs[name].logits_b))).toBeLessThanOrEqual(1e-5);
  });

  test('padding invariance: a text gives the same logits whatever batch it is in', async () => {
    const inA = await clf.logits(fx.batch_a);
    const inB = await clf.logits(fx.batch_b);
    let worst = 0;
    for (const [j, seq] of fx.batch_b.entries()) {
      const i = fx.batch_a.findIndex((s) => s.length === seq.length && s.every((t, k) => t === seq[k]));
      if (i < 0) continue;
      const alone = (await clf.logits([seq]))[0];
      worst = Math.max(worst, maxAbsDiff(inA[i], inB[j]), maxAbsDiff(inA[i], alone));
    }
    console.log(`${name}: max |difference| of one text across batches ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-6);
  });
});

describe.each(['awkward', 'biases_mean'])('%s training step vs transformers + torch.optim.AdamW', (name) => {
  test('loss, grad norm and every parameter gradient after one BCEWithLogits backward', async () => {
    const c = fx.configs[name];
    const clf = await load(path.join(dir, name, 'model'));
    const { ids, cuSeqlens } = packBatch(fx.batch_a);
    const r = await clf.model.trainStep(ids, cuSeqlens, Float32Array.from(c.targets!.flat()), { lr: 5e-5, maxGradNorm: 1.0, update: false });
    const file = path.join(tmp, `${name}-grads.safetensors`);
    await clf.model.saveWeights(file, { what: 'grads' });
    clf.close();
    expect(Math.abs(r.loss - c.loss!)).toBeLessThanOrEqual(1e-6);
    expect(Math.abs(r.gradNorm - c.grad_norm!) / c.grad_norm!).toBeLessThanOrEqual(1e-5);
    const ours = readSafetensors(file);
    const hf = readSafetensors(path.join(dir, name, 'grads.safetensors'));
    expect([...ours.keys()].sort()).toEqual([...hf.keys()].sort());
    // relative to the tensor's largest gradient: max|ours - hf| / max|hf|
    let worst = 0;
    let worstKey = '';
    for (const [key, h] of hf) {
      const scale = maxAbs(h.data);
      const rel = scale === 0 ? maxAbs(ours.get(key)!.data) : maxAbsDiff(ours.get(key)!.data, h.data) / scale;
      if (rel > worst) [worst, worstKey] = [rel, key];
    }
    console.log(`${name}: loss ${r.loss} (HF ${c.loss}), grad norm ${r.gradNorm} (HF ${c.grad_norm}), worst gradient rel. diff ${worst.toExponential(2)} (${worstKey})`);
    expect(worst).toBeLessThanOrEqual(1e-4);
  });

  test('parameters after one clipped AdamW step (lr 5e-5, HF Trainer defaults)', async () => {
    const c = fx.configs[name];
    expect(c.grad_norm!).toBeGreaterThan(1); // clipping is active
    const clf = await load(path.join(dir, name, 'model'));
    const { ids, cuSeqlens } = packBatch(fx.batch_a);
    await clf.model.trainStep(ids, cuSeqlens, Float32Array.from(c.targets!.flat()), {
      lr: 5e-5, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1.0,
    });
    const file = path.join(tmp, `${name}-after.safetensors`);
    await clf.model.saveWeights(file);
    clf.close();
    const ours = readSafetensors(file);
    const hf = readSafetensors(path.join(dir, name, 'params_after_step.safetensors'));
    let worst = 0;
    let worstKey = '';
    for (const [key, h] of hf) {
      const d = maxAbsDiff(ours.get(key)!.data, h.data);
      if (d > worst) [worst, worstKey] = [d, key];
    }
    console.log(`${name}: max |param diff| after one AdamW step ${worst.toExponential(2)} (${worstKey})`);
    expect(worst).toBeLessThanOrEqual(1e-6);
  });
});

test('ModernBertForMaskedLM (tied decoder) loads and its logits equal transformers ≤ 1e-5', async () => {
  const folder = path.join(dir, 'mlm', 'model');
  const cfg = toNativeConfig(readConfigFile(path.join(folder, 'config.json')));
  expect(cfg.architecture).toBe('ModernBertForMaskedLM');
  const model = await native().createModel(cfg, { device: 'cpu', seed: 0, init: false });
  const report = await model.loadWeights([path.join(folder, 'model.safetensors')]);
  expect(report.missing).toEqual([]);
  expect(report.unexpected).toEqual([]);
  const { ids, cuSeqlens } = packBatch(fx.mlm.batch);
  const out = await model.forward(ids, cuSeqlens);
  model.free();
  const hf = readSafetensors(path.join(dir, 'mlm', 'logits.safetensors'));
  const expected = new Float32Array(out.length);
  let off = 0;
  for (let i = 0; i < fx.mlm.batch.length; i++) {
    const t = hf.get(`seq${i}`)!;
    expected.set(t.data, off);
    off += t.data.length;
  }
  expect(off).toBe(out.length);
  const d = maxAbsDiff(out, expected);
  console.log(`mlm: max |logit diff| ${d.toExponential(2)} over ${out.length} logits`);
  expect(d).toBeLessThanOrEqual(1e-5);
});
