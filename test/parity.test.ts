/**
 * Parity with Hugging Face transformers 5.17 (torch 2.13 CPU, float32), on fixtures that transformers itself wrote
 * (test/python/make_fixtures.py): logits and probabilities, padding invariance, every parameter's gradient, the loss
 * and grad norm, one clipped AdamW step, masked-LM logits.
 *
 * Tolerances (the promise in the README):
 *   logits, probabilities            max |ours - HF| ≤ 1e-5 (absolute), real outputs only
 *   padding invariance               one text's logits across batch compositions and alone:
 *                                    max |Δ| ≤ max(1e-6, 2 × transformers' own max |Δ| on this CPU), see the test
 *   gradients                        per tensor: max |ours - HF| / max |HF| ≤ 1e-4 (relative to the tensor's largest
 *                                    gradient, so a near-zero element cannot blow the ratio up)
 *   loss                             |Δ| ≤ 1e-6; grad norm (pre-clip, as HF Trainer logs it): |Δ| / HF ≤ 1e-5
 *   parameters after one AdamW step  max |ours - torch.optim.AdamW| ≤ 1e-6 (absolute)
 *   bf16 autocast (HF under torch.autocast("cpu", dtype=torch.bfloat16)): logits ≤ 2e-2 (absolute); loss and
 *                                    pre-clip grad norm of one backward: relative ≤ 1e-3
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { load, sigmoid, native } from '../lib';
import type { Classifier } from '../lib';
import { packBatch } from '../lib/model/tokenize';
import { readConfigFile, toNativeConfig } from '../lib/model/config';
import { describeNative, ensureFixtures, flat, manifest, maxAbs, maxAbsDiff, readSafetensors, type Manifest } from './helpers/fixtures';

const CLASSIFIERS = ['awkward', 'biases_mean', 'all_global', 'legacy_odd'];
const TRAINABLE = ['awkward', 'biases_mean', 'all_global'];

describeNative()('parity with transformers', () => {
  let dir: string;
  let fx: Manifest;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-parity-'));

  beforeAll(() => {
    dir = ensureFixtures();
    fx = manifest(dir);
    console.log(`fixtures: ${dir} (transformers ${fx.versions.transformers}, torch ${fx.versions.torch})`);
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('the fixtures cover what they claim', () => {
    const lengths = fx.batch_a.map((s) => s.length);
    expect(Math.min(...lengths)).toBe(3); // [CLS] CT [SEP]
    expect(Math.max(...lengths)).toBe(fx.max_length); // truncated captions
    expect(Object.keys(fx.configs).sort()).toEqual([...CLASSIFIERS].sort());
    expect(Object.keys(fx.configs).filter((k) => fx.configs[k].trainable).sort()).toEqual([...TRAINABLE].sort());
    for (const name of TRAINABLE) expect(fx.configs[name].grad_norm!).toBeGreaterThan(fx.configs[name].max_grad_norm!); // clipping active
  });

  describe.each(CLASSIFIERS)('%s config', (name) => {
    let clf: Classifier;
    beforeAll(async () => {
      clf = await load(path.join(dir, name, 'model'), { maxLength: fx.max_length });
    });
    afterAll(() => clf?.close());

    test('logits and probabilities ≤ 1e-5 vs HF on a batch mixing 3-token and 200-token captions', async () => {
      const c = fx.configs[name];
      let worstLogit = 0;
      let worstProb = 0;
      for (const key of ['a', 'b'] as const) {
        const ours = flat(await clf.logits(key === 'a' ? fx.batch_a : fx.batch_b));
        worstLogit = Math.max(worstLogit, maxAbsDiff(ours, flat(key === 'a' ? c.logits_a : c.logits_b)));
        worstProb = Math.max(worstProb, maxAbsDiff(ours.map(sigmoid), flat(key === 'a' ? c.probs_a : c.probs_b)));
      }
      console.log(
        `${name}: max |logit − HF| ${worstLogit.toExponential(2)}, max |prob − HF| ${worstProb.toExponential(2)} ` +
          `(HF eager vs sdpa: ${c.eager_vs_sdpa_max_abs.toExponential(2)})`,
      );
      expect(worstLogit).toBeLessThanOrEqual(1e-5);
      expect(worstProb).toBeLessThanOrEqual(1e-5);
    });

    test('end to end from text: predict() probabilities ≤ 1e-5 vs HF', async () => {
      const preds = await clf.predict(fx.texts_a, { threshold: 0 });
      const probs = fx.configs[name].probs_a;
      let worst = 0;
      preds.forEach((p, i) => clf.labels.forEach((label, j) => (worst = Math.max(worst, Math.abs(p.probabilities[label] - probs[i][j])))));
      console.log(`${name}: predict(texts) max |prob − HF| ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(1e-5);
    });

    // Why this bound. A text's logits alone and inside a batch go through GEMMs of different row counts; the BLAS picks
    // other kernels (blocking, AVX-512 vs AMX paths) and float32 sums are reassociated, so the last bits differ, by
    // CPU. transformers shows the same noise: make_fixtures.py measures its own max |Δ| of the same texts alone vs
    // batched (sdpa and eager) on this machine (up to 9.5e-7 on a 2-core Xeon with AVX-512: 4 ulp of a logit near 2). We
    // require ours to stay within 2× that floor (the maximum over a handful of rounding differences is itself noisy;
    // another blocking gives another sample of the same distribution), and never above the old 1e-6 where the
    // floor is lower. A real defect (a pad or a neighbour's token leaking into a sequence, a wrong window) moves
    // logits by 1e-3 or more.
    test('padding invariance: a text gives the same logits whatever batch it is in, and alone', async () => {
      const inA = await clf.logits(fx.batch_a);
      const inB = await clf.logits(fx.batch_b);
      let worst = 0;
      let shared = 0;
      for (const [i, seq] of fx.batch_a.entries()) {
        const alone = (await clf.logits([seq]))[0];
        worst = Math.max(worst, maxAbsDiff(inA[i], alone));
        const j = fx.batch_b.findIndex((s) => s.length === seq.length && s.every((t, k) => t === seq[k]));
        if (j >= 0) {
          shared++;
          worst = Math.max(worst, maxAbsDiff(inA[i], inB[j]));
        }
      }
      expect(shared).toBeGreaterThanOrEqual(3);
      const floors = Object.values(fx.configs).flatMap((c) => [c.hf_padding_dev.sdpa, c.hf_padding_dev.eager]);
      const hfFloor = Math.max(...floors);
      expect(hfFloor).toBeLessThan(1e-5); // the reference itself is padding invariant to rounding
      const bound = Math.max(1e-6, 2 * hfFloor);
      console.log(
        `${name}: max |Δ| of one text across batch compositions and alone ${worst.toExponential(2)} ` +
          `(transformers' own on this CPU: ${hfFloor.toExponential(2)}; bound ${bound.toExponential(2)})`,
      );
      expect(worst).toBeLessThanOrEqual(bound);
    });
  });

  describe.each(CLASSIFIERS)('%s config under bf16 autocast', (name) => {
    test('logits ≤ 2e-2 vs HF under torch.autocast(bfloat16), and the bf16 path really is bf16', async () => {
      const c = fx.configs[name];
      const clf = await load(path.join(dir, name, 'model'), { maxLength: fx.max_length, dtype: 'bfloat16' });
      let worst = 0;
      let fromFp32 = 0;
      for (const key of ['a', 'b'] as const) {
        const ours = flat(await clf.logits(key === 'a' ? fx.batch_a : fx.batch_b));
        worst = Math.max(worst, maxAbsDiff(ours, flat(key === 'a' ? c.logits_autocast_a : c.logits_autocast_b)));
        fromFp32 = Math.max(fromFp32, maxAbsDiff(ours, flat(key === 'a' ? c.logits_a : c.logits_b)));
      }
      clf.close();
      console.log(`${name}: bf16 autocast max |logit − HF autocast| ${worst.toExponential(2)} (ours bf16 vs HF float32: ${fromFp32.toExponential(2)})`);
      expect(worst).toBeLessThanOrEqual(2e-2);
      expect(fromFp32).toBeGreaterThan(1e-4); // bf16 rounding is visible: the flag took effect
    });
  });

  describe.each(TRAINABLE)('%s training step under bf16 autocast', (name) => {
    test('loss and grad norm ≤ 1e-3 relative vs HF (forward under torch.autocast, backward outside)', async () => {
      const c = fx.configs[name];
      const clf = await load(path.join(dir, name, 'model'));
      const { ids, cuSeqlens } = packBatch(fx.batch_a);
      // a bf16 forward first: its cached bf16 weight copies carry no autograd history and must not leak into the step
      await clf.model.forward(ids, cuSeqlens, { bf16: true });
      const r = await clf.model.trainStep(ids, cuSeqlens, Float32Array.from(c.targets!.flat()), {
        lr: fx.lr,
        maxGradNorm: c.max_grad_norm!,
        update: false,
        bf16: true,
      });
      clf.close();
      const lossRel = Math.abs(r.loss - c.loss_autocast!) / c.loss_autocast!;
      const normRel = Math.abs(r.gradNorm - c.grad_norm_autocast!) / c.grad_norm_autocast!;
      console.log(
        `${name} bf16: loss ${r.loss} (HF ${c.loss_autocast}, rel ${lossRel.toExponential(2)}; float32 ${c.loss}), ` +
          `grad norm ${r.gradNorm} (HF ${c.grad_norm_autocast}, rel ${normRel.toExponential(2)}; float32 ${c.grad_norm})`,
      );
      expect(lossRel).toBeLessThanOrEqual(1e-3);
      expect(normRel).toBeLessThanOrEqual(1e-3);
    });
  });

  test('bf16 forward sees weights changed by a training step (its cached bf16 weight copies are refreshed)', async () => {
    const name = 'awkward';
    const c = fx.configs[name];
    const clf = await load(path.join(dir, name, 'model'), { maxLength: fx.max_length, dtype: 'bfloat16' });
    const before = flat(await clf.logits(fx.batch_a));
    expect(flat(await clf.logits(fx.batch_a))).toEqual(before); // the cached copies give the same answer
    const { ids, cuSeqlens } = packBatch(fx.batch_a);
    await clf.model.trainStep(ids, cuSeqlens, Float32Array.from(c.targets!.flat()), { lr: 1e-2, maxGradNorm: 1 });
    const after = flat(await clf.logits(fx.batch_a));
    const file = path.join(tmp, 'awkward-stepped.safetensors');
    await clf.model.saveWeights(file);
    clf.close();
    // a fresh model with the stepped weights (nothing cached for it) must agree bit for bit
    const fresh = await load(path.join(dir, name, 'model'), { maxLength: fx.max_length, dtype: 'bfloat16' });
    await fresh.model.loadWeights([file]);
    const expected = flat(await fresh.logits(fx.batch_a));
    fresh.close();
    expect(maxAbsDiff(after, before)).toBeGreaterThan(1e-2);
    expect(after).toEqual(expected);
  });

  describe.each(TRAINABLE)('%s training step vs transformers + torch.optim.AdamW', (name) => {
    test('loss, grad norm and every parameter gradient after one BCEWithLogits backward', async () => {
      const c = fx.configs[name];
      const clf = await load(path.join(dir, name, 'model'));
      const { ids, cuSeqlens } = packBatch(fx.batch_a);
      const r = await clf.model.trainStep(ids, cuSeqlens, Float32Array.from(c.targets!.flat()), {
        lr: fx.lr,
        maxGradNorm: c.max_grad_norm!,
        update: false,
      });
      const file = path.join(tmp, `${name}-grads.safetensors`);
      await clf.model.saveWeights(file, { what: 'grads' });
      clf.close();
      const ours = readSafetensors(file);
      const hf = readSafetensors(path.join(dir, name, 'grads.safetensors'));
      expect([...ours.keys()].sort()).toEqual([...hf.keys()].sort());
      let worst = 0;
      let worstKey = '';
      for (const [key, h] of hf) {
        const o = ours.get(key)!;
        expect([key, o.shape]).toEqual([key, h.shape]);
        const scale = maxAbs(h.data);
        const rel = scale === 0 ? maxAbs(o.data) : maxAbsDiff(o.data, h.data) / scale;
        if (rel >= worst) [worst, worstKey] = [rel, key];
      }
      const normRel = Math.abs(r.gradNorm - c.grad_norm!) / c.grad_norm!;
      console.log(
        `${name}: loss ${r.loss} (HF ${c.loss}, |Δ| ${Math.abs(r.loss - c.loss!).toExponential(2)}), ` +
          `grad norm ${r.gradNorm} (HF ${c.grad_norm}, rel ${normRel.toExponential(2)}), ` +
          `worst gradient max|Δ|/max|HF| ${worst.toExponential(2)} (${worstKey}) over ${hf.size} tensors`,
      );
      expect(Math.abs(r.loss - c.loss!)).toBeLessThanOrEqual(1e-6);
      expect(normRel).toBeLessThanOrEqual(1e-5);
      expect(worst).toBeLessThanOrEqual(1e-4);
    });

    test('parameters after one clipped AdamW step ≤ 1e-6 vs torch.optim.AdamW (lr 5e-5, HF Trainer defaults)', async () => {
      const c = fx.configs[name];
      const clf = await load(path.join(dir, name, 'model'));
      const { ids, cuSeqlens } = packBatch(fx.batch_a);
      const r = await clf.model.trainStep(ids, cuSeqlens, Float32Array.from(c.targets!.flat()), {
        lr: fx.lr,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weightDecay: 0,
        maxGradNorm: c.max_grad_norm!,
      });
      const file = path.join(tmp, `${name}-after.safetensors`);
      await clf.model.saveWeights(file);
      clf.close();
      const before = readSafetensors(path.join(dir, name, 'model', 'model.safetensors'));
      const ours = readSafetensors(file);
      const hf = readSafetensors(path.join(dir, name, 'params_after_step.safetensors'));
      let worst = 0;
      let worstKey = '';
      let moved = 0;
      for (const [key, h] of hf) {
        const d = maxAbsDiff(ours.get(key)!.data, h.data);
        if (d >= worst) [worst, worstKey] = [d, key];
        moved = Math.max(moved, maxAbsDiff(h.data, before.get(key)!.data));
      }
      console.log(
        `${name}: max |param − torch AdamW| after one step (clip ${c.max_grad_norm}) ${worst.toExponential(2)} (${worstKey}); ` +
          `the step itself moved parameters by up to ${moved.toExponential(2)}`,
      );
      expect(r.gradNorm).toBeGreaterThan(c.max_grad_norm!);
      expect(moved).toBeGreaterThan(1e-5); // the comparison is not vacuous
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
    console.log(`mlm: max |logit − HF| ${d.toExponential(2)} over ${out.length} logits`);
    expect(d).toBeLessThanOrEqual(1e-5);
  });
});
