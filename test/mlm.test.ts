/**
 * The native masked-LM, evaluation-loss, fill-mask and embedding contract (lib/native.ts) against transformers 5.17
 * itself, on fixtures written by test/python/make_mlm_fixtures.py: a ModernBertForMaskedLM (tied decoder, decoder
 * bias) and a batch masked by DataCollatorForLanguageModeling (mlm_probability 0.3, seeded).
 *
 * Tolerances:
 *   MLM loss (sparse prediction; HF's sparse and dense agree)   |Δ| ≤ 1e-5
 *   gradients                                                   per tensor max |Δ| / max |HF| ≤ 1e-4
 *   parameters after one clipped AdamW step                     max |Δ| ≤ 1e-6
 *   fill-mask logits at the masked positions                    max |Δ| ≤ 1e-5
 *   embed (ModernBertModel last_hidden_state, cls / mean)       max |Δ| ≤ 1e-5
 *   our saved MLM folder → transformers from_pretrained         logits max |Δ| ≤ 1e-5
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native } from '../lib/native';
import type { NativeModel } from '../lib/native';
import { readConfigFile, toNativeConfig } from '../lib/model/config';
import { describeNative, ensureMlmFixtures, maxAbs, maxAbsDiff, readSafetensors } from './helpers/fixtures';
import { runPythonJson } from './helpers/python';

/** The parts of make_mlm_fixtures.py's manifest.json these tests read. */
interface MlmManifest {
  mlm: {
    ids: number[];
    cu_seqlens: number[];
    labels: number[];
    unmasked_ids: number[];
    positions: number[];
    loss: number;
    loss_dense: number;
    eval_loss: number;
    count: number;
    grad_norm: number;
    max_grad_norm: number;
    lr: number;
  };
  cls: { ids: number[]; cu_seqlens: number[]; targets: number[]; eval_loss: number };
}

/** A model built from `folder`'s config.json (optionally as another architecture) with its weights loaded. */
async function open(folder: string, architecture?: 'ModernBertModel'): Promise<NativeModel> {
  const cfg = toNativeConfig(readConfigFile(path.join(folder, 'config.json')));
  const model = await native().createModel({ ...cfg, ...(architecture ? { architecture } : {}) }, { device: 'cpu', seed: 0, init: false });
  const report = await model.loadWeights([path.join(folder, 'model.safetensors')]);
  expect(report.missing).toEqual([]);
  return model;
}

/** Worst per-tensor max |ours − HF| / max |HF| over every tensor of `hfFile` (keys must match exactly). */
function worstRelative(oursFile: string, hfFile: string): { worst: number; key: string; count: number } {
  const ours = readSafetensors(oursFile);
  const hf = readSafetensors(hfFile);
  expect([...ours.keys()].sort()).toEqual([...hf.keys()].sort());
  let worst = 0;
  let key = '';
  for (const [k, h] of hf) {
    const scale = maxAbs(h.data);
    const rel = scale === 0 ? maxAbs(ours.get(k)!.data) : maxAbsDiff(ours.get(k)!.data, h.data) / scale;
    if (rel >= worst) [worst, key] = [rel, k];
  }
  return { worst, key, count: hf.size };
}

describeNative()('masked LM, evalLoss, fill-mask positions and embed vs transformers', () => {
  let dir: string;
  let fx: MlmManifest;
  let folder: string;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-mlm-'));
  const batch = () => ({ ids: Int32Array.from(fx.mlm.ids), cu: Int32Array.from(fx.mlm.cu_seqlens), labels: Int32Array.from(fx.mlm.labels) });

  beforeAll(() => {
    dir = ensureMlmFixtures();
    fx = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as MlmManifest;
    folder = path.join(dir, 'mlm', 'model');
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('the loaded model is a tied ModernBertForMaskedLM (no separate decoder.weight)', async () => {
    const model = await open(folder);
    const names = model.info().parameters.map((p) => p.name);
    model.free();
    expect(names).toContain('decoder.bias');
    expect(names).not.toContain('decoder.weight');
  });

  test('loss (sparse prediction) ≤ 1e-5, grad norm, and every gradient ≤ 1e-4 relative (tied decoder into the embeddings)', async () => {
    const model = await open(folder);
    const { ids, cu, labels } = batch();
    const r = await model.trainStep(ids, cu, labels, { lr: fx.mlm.lr, maxGradNorm: fx.mlm.max_grad_norm, update: false });
    const file = path.join(tmp, 'mlm-grads.safetensors');
    await model.saveWeights(file, { what: 'grads' });
    model.free();
    const g = worstRelative(file, path.join(dir, 'mlm', 'grads.safetensors'));
    const normRel = Math.abs(r.gradNorm - fx.mlm.grad_norm) / fx.mlm.grad_norm;
    console.log(
      `mlm: loss ${r.loss} (HF sparse ${fx.mlm.loss}, dense ${fx.mlm.loss_dense}, |Δ| ${Math.abs(r.loss - fx.mlm.loss).toExponential(2)}), ` +
        `grad norm rel ${normRel.toExponential(2)}, worst gradient ${g.worst.toExponential(2)} (${g.key}) over ${g.count} tensors, ` +
        `${fx.mlm.count} labelled of ${fx.mlm.ids.length} tokens`,
    );
    expect(Math.abs(fx.mlm.loss - fx.mlm.loss_dense)).toBeLessThanOrEqual(1e-5);
    expect(Math.abs(r.loss - fx.mlm.loss)).toBeLessThanOrEqual(1e-5);
    expect(normRel).toBeLessThanOrEqual(1e-5);
    expect(g.worst).toBeLessThanOrEqual(1e-4);
  });

  test('a second step on the same model (the reused dense embedding gradient) gives the same gradients again', async () => {
    const model = await open(folder);
    const { ids, cu, labels } = batch();
    const a = await model.trainStep(ids, cu, labels, { lr: fx.mlm.lr, update: false });
    const b = await model.trainStep(ids, cu, labels, { lr: fx.mlm.lr, update: false });
    const file = path.join(tmp, 'mlm-grads-2.safetensors');
    await model.saveWeights(file, { what: 'grads' });
    model.free();
    expect(b.loss).toBe(a.loss);
    expect(b.gradNorm).toBe(a.gradNorm);
    expect(worstRelative(file, path.join(dir, 'mlm', 'grads.safetensors')).worst).toBeLessThanOrEqual(1e-4);
  });

  test('parameters after one clipped AdamW step ≤ 1e-6 vs torch.optim.AdamW', async () => {
    const model = await open(folder);
    const { ids, cu, labels } = batch();
    const r = await model.trainStep(ids, cu, labels, { lr: fx.mlm.lr, maxGradNorm: fx.mlm.max_grad_norm });
    const file = path.join(tmp, 'mlm-after.safetensors');
    await model.saveWeights(file);
    model.free();
    const ours = readSafetensors(file);
    const hf = readSafetensors(path.join(dir, 'mlm', 'params_after_step.safetensors'));
    const before = readSafetensors(path.join(folder, 'model.safetensors'));
    let worst = 0;
    let moved = 0;
    for (const [key, h] of hf) {
      worst = Math.max(worst, maxAbsDiff(ours.get(key)!.data, h.data));
      moved = Math.max(moved, maxAbsDiff(h.data, before.get(key)!.data));
    }
    console.log(`mlm: max |param − torch AdamW| after one step ${worst.toExponential(2)}; the step moved parameters by up to ${moved.toExponential(2)}`);
    expect(r.gradNorm).toBeGreaterThan(fx.mlm.max_grad_norm); // clipping was active
    expect(moved).toBeGreaterThan(1e-5);
    expect(worst).toBeLessThanOrEqual(1e-6);
  });

  test('evalLoss: masked-LM mean CE and labelled-token count; classification BCE and sequence count; no labels → 0', async () => {
    const model = await open(folder);
    const { ids, cu, labels } = batch();
    const r = await model.evalLoss(ids, cu, labels);
    const none = await model.evalLoss(ids, cu, new Int32Array(ids.length).fill(-100));
    await expect(model.trainStep(ids, cu, new Int32Array(ids.length).fill(-100), { lr: 1e-3 })).rejects.toThrow(/labels no token/);
    model.free();
    const clf = await open(path.join(dir, 'cls', 'model'));
    const c = await clf.evalLoss(Int32Array.from(fx.cls.ids), Int32Array.from(fx.cls.cu_seqlens), Float32Array.from(fx.cls.targets));
    clf.free();
    console.log(`evalLoss: mlm ${r.loss} (HF ${fx.mlm.eval_loss}) over ${r.count} tokens; classification ${c.loss} (HF ${fx.cls.eval_loss})`);
    expect(r.count).toBe(fx.mlm.count);
    expect(Math.abs(r.loss - fx.mlm.eval_loss)).toBeLessThanOrEqual(1e-5);
    expect(none).toEqual({ loss: 0, count: 0 });
    expect(c.count).toBe(fx.cls.cu_seqlens.length - 1);
    expect(Math.abs(c.loss - fx.cls.eval_loss)).toBeLessThanOrEqual(1e-5);
  });

  test('forward with positions: logits at the masked tokens only, [P, vocab], ≤ 1e-5 vs HF', async () => {
    const model = await open(folder);
    const { ids, cu } = batch();
    const positions = Int32Array.from(fx.mlm.positions);
    const out = await model.forward(ids, cu, { positions });
    const all = await model.forward(ids, cu);
    await expect(model.forward(ids, cu, { positions: Int32Array.from([ids.length]) })).rejects.toThrow(/positions\[0\] = \d+ is not a token of the batch/);
    model.free();
    const hf = readSafetensors(path.join(dir, 'mlm', 'fill_logits.safetensors')).get('logits')!;
    const V = hf.shape[1];
    expect(hf.shape[0]).toBe(positions.length);
    expect(out.length).toBe(positions.length * V);
    expect(all.length).toBe(ids.length * V); // without positions: every token, as before
    const d = maxAbsDiff(out, hf.data);
    // the same rows from the full forward
    const rows = new Float32Array(positions.length * V);
    positions.forEach((p, i) => rows.set(all.subarray(p * V, (p + 1) * V), i * V));
    console.log(`fill-mask: ${positions.length} positions, max |logit − HF| ${d.toExponential(2)}, vs our full forward ${maxAbsDiff(out, rows).toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(out, rows)).toBeLessThanOrEqual(1e-5);
  });

  test.each([
    ['ModernBertForMaskedLM', 'mlm', undefined],
    ['ModernBertModel (the MLM body)', 'mlm', 'ModernBertModel'],
    ['ModernBertForSequenceClassification', 'cls', undefined],
  ] as const)('embed on a %s: cls and mean pooling ≤ 1e-5 vs HF ModernBertModel', async (_name, which, arch) => {
    const model = await open(path.join(dir, which, 'model'), arch);
    const f = which === 'mlm' ? { ids: fx.mlm.unmasked_ids, cu: fx.mlm.cu_seqlens } : { ids: fx.cls.ids, cu: fx.cls.cu_seqlens };
    const ids = Int32Array.from(f.ids);
    const cu = Int32Array.from(f.cu);
    const cls = await model.embed(ids, cu, { pooling: 'cls' });
    const byDefault = await model.embed(ids, cu);
    const mean = await model.embed(ids, cu, { pooling: 'mean' });
    await expect(Promise.resolve().then(() => model.embed(ids, cu, { pooling: 'max' as 'cls' }))).rejects.toThrow(/pooling must be 'cls' or 'mean'/);
    model.free();
    const hf = readSafetensors(path.join(dir, which, 'embed.safetensors'));
    expect(cls.length).toBe(hf.get('cls')!.data.length);
    const dc = maxAbsDiff(cls, hf.get('cls')!.data);
    const dm = maxAbsDiff(mean, hf.get('mean')!.data);
    console.log(`embed ${_name}: cls ${dc.toExponential(2)}, mean ${dm.toExponential(2)}`);
    expect(byDefault).toEqual(cls);
    expect(dc).toBeLessThanOrEqual(1e-5);
    expect(dm).toBeLessThanOrEqual(1e-5);
  });

  test('targets of the wrong kind or out of range are rejected with a clear error', async () => {
    const model = await open(folder);
    const { ids, cu, labels } = batch();
    await expect(model.trainStep(ids, cu, new Float32Array(ids.length), { lr: 1e-3 })).rejects.toThrow(/ModernBertForMaskedLM takes targets as an Int32Array/);
    await expect(model.trainStep(ids, cu, labels.subarray(1), { lr: 1e-3 })).rejects.toThrow(/targets has \d+ labels, expected one per token/);
    const bad = labels.slice();
    bad[3] = 1 << 30;
    await expect(model.evalLoss(ids, cu, bad)).rejects.toThrow(/targets\[3\] = 1073741824 is neither -100 nor a token id/);
    model.free();
  });

  test('bf16 autocast: a masked-LM step and evalLoss run and stay near float32 (smoke check, no HF bf16 reference)', async () => {
    const model = await open(folder);
    const { ids, cu, labels } = batch();
    const e = await model.evalLoss(ids, cu, labels, { bf16: true });
    const r = await model.trainStep(ids, cu, labels, { lr: fx.mlm.lr, update: false, bf16: true });
    model.free();
    expect(Math.abs(e.loss - fx.mlm.eval_loss) / fx.mlm.eval_loss).toBeLessThanOrEqual(1e-2);
    expect(Math.abs(r.loss - fx.mlm.loss) / fx.mlm.loss).toBeLessThanOrEqual(1e-2);
    expect(e.loss).not.toBe(fx.mlm.eval_loss);
  });

  test('save → transformers AutoModelForMaskedLM.from_pretrained: the same logits (≤ 1e-5) after a training step', async () => {
    const model = await open(folder);
    const { ids, cu, labels } = batch();
    await model.trainStep(ids, cu, labels, { lr: 1e-2, maxGradNorm: 1 });
    const out = path.join(tmp, 'saved-mlm');
    fs.mkdirSync(out);
    await model.saveWeights(path.join(out, 'model.safetensors'));
    fs.copyFileSync(path.join(folder, 'config.json'), path.join(out, 'config.json'));
    const positions = Int32Array.from(fx.mlm.positions);
    const ours = await model.forward(ids, cu, { positions });
    model.free();
    const theirs = runPythonJson<number[][]>(
      `
import json, sys, torch
from transformers import AutoModelForMaskedLM
job = json.load(sys.stdin)
m = AutoModelForMaskedLM.from_pretrained(job["folder"]).eval()
assert m.decoder.weight is m.model.embeddings.tok_embeddings.weight
ids, cu = job["ids"], job["cu"]
rows = [ids[cu[i]:cu[i + 1]] for i in range(len(cu) - 1)]
L = max(len(r) for r in rows)
inp = torch.full((len(rows), L), m.config.pad_token_id); mask = torch.zeros((len(rows), L), dtype=torch.long)
for i, r in enumerate(rows):
    inp[i, :len(r)] = torch.tensor(r); mask[i, :len(r)] = 1
with torch.no_grad():
    logits = m(input_ids=inp, attention_mask=mask).logits
out = []
for p in job["positions"]:
    i = max(i for i in range(len(rows)) if cu[i] <= p)
    out.append(logits[i, p - cu[i]].tolist())
print(json.dumps(out))
`,
      { folder: out, ids: Array.from(ids), cu: Array.from(cu), positions: Array.from(positions) },
    );
    const d = maxAbsDiff(ours, theirs.flat());
    const fromFixture = maxAbsDiff(ours, readSafetensors(path.join(dir, 'mlm', 'fill_logits.safetensors')).get('logits')!.data);
    console.log(`saved MLM → transformers: max |logit − ours| ${d.toExponential(2)} (the step moved logits by ${fromFixture.toExponential(2)})`);
    expect(fromFixture).toBeGreaterThan(1e-2); // the saved weights are not the fixture's
    expect(d).toBeLessThanOrEqual(1e-5);
  });
});
