/**
 * The classification losses (--loss bce|asl, --pos-weight) against direct PyTorch transcriptions of their formulas in
 * the reference venv:
 *   - BCEWithLogits with pos_weight: -[w·y·log σ(z) + (1 − y)·log(1 − σ(z))], mean over batch × labels;
 *   - the asymmetric loss as the paper writes it (Ridnik et al., ICCV 2021, eq. 1–4): p_m = max(p − m, 0),
 *     L+ = (1 − p)^γ+ · log p, L− = p_m^γ− · log(1 − p_m), the focusing factors held constant in the backward
 *     pass as the official code does (disable_torch_grad_focal_loss=True), mean over batch × labels.
 * The native step's gradient of the loss w.r.t. the logits is read exactly: classifier.weight is zero, so the logits
 * are classifier.bias for every row and its gradient is the batch sum of ∂loss/∂logits. Bounds: gradient max |Δ| /
 * max |torch| ≤ 1e-6, loss ≤ 1e-6 relative; the float64 evaluation losses ≤ 1e-12 relative.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native, type MultiLabelLoss } from '../lib/native';
import { classifierConfig, presetConfig, toNativeConfig } from '../lib/model/config';
import { asymmetricLoss, autoPosWeights, posWeights, weightedBceWithLogits } from '../lib/train/losses';
import { resolveTrainOptions } from '../lib/train/options';
import { describeNative, readSafetensors } from './helpers/fixtures';
import { runPythonJson } from './helpers/python';

const B = 4;
const K = 12;
const LABELS = Array.from({ length: K }, (_, i) => `C${String(i).padStart(7, '0')}`);
/** Logits from −5 to 6.3: confident negatives (p < m, where ASL's negatives cost nothing) to confident positives. */
const BIAS = Array.from({ length: K }, (_, i) => -5 + (i * 11.3) / (K - 1));
/** Multi-hot targets: every label positive in some rows and negative in others (but label 0, never positive). */
const Y = Array.from({ length: B * K }, (_, i) => (i % K !== 0 && (i * 7) % 5 < 2 ? 1 : 0));
const POS_WEIGHT = Array.from({ length: K }, (_, i) => 0.5 + i * 0.75);

/** The losses checked, and their transcription in Python (`z`, `y`, `pw` tensors; `detach` holds the focusing factors constant). */
const CASES: Array<{ name: string; loss?: MultiLabelLoss; py: string }> = [
  { name: 'bce (the default step)', py: '-(y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z)).mean()' },
  { name: 'bce + pos_weight', loss: { type: 'bce', posWeight: Float32Array.from(POS_WEIGHT) }, py: '-(pw * y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z)).mean()' },
  { name: 'asl (4, 0, 0.05)', loss: { type: 'asl' }, py: 'asl(z, y, 4, 0, 0.05, detach)' },
  { name: 'asl (2, 1, 0.1)', loss: { type: 'asl', gammaNeg: 2, gammaPos: 1, clip: 0.1 }, py: 'asl(z, y, 2, 1, 0.1, detach)' },
  { name: 'asl (3, 0, 0): focal loss', loss: { type: 'asl', gammaNeg: 3, gammaPos: 0, clip: 0 }, py: 'asl(z, y, 3, 0, 0, detach)' },
];

const PY_ASL = `
import json, sys, torch
import torch.nn.functional as F

def asl(z, y, gn, gp, m, detach):
    p = torch.sigmoid(z)
    pm = (p - m).clamp(min=0)                      # shifted probability of the negatives
    wp, wn = (1 - p) ** gp, pm ** gn                # asymmetric focusing
    if detach:
        wp, wn = wp.detach(), wn.detach()
    lp = wp * torch.log(p)
    ln = wn * torch.log(1 - pm)
    return -(y * lp + (1 - y) * ln).mean()
`;

describeNative()('classification losses vs PyTorch transcriptions of their formulas', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-losses-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('loss and ∂loss/∂logits of every loss ≤ 1e-6; ASL holds its focusing weight constant as the official code', async () => {
    const head = path.join(tmp, 'head.safetensors');
    const ref = runPythonJson<Array<{ loss: number; grad: number[]; gradAttached: number[] }>>(
      `${PY_ASL}
from safetensors.torch import save_file
a = json.load(sys.stdin)
save_file({"classifier.weight": torch.zeros(${K}, a["hidden"]), "classifier.bias": torch.tensor(a["bias"], dtype=torch.float32)}, a["head"])
y = torch.tensor(a["y"], dtype=torch.float32).view(${B}, ${K})
pw = torch.tensor(a["pw"], dtype=torch.float32)
out = []
for expr in a["cases"]:
    r = {}
    for detach in (True, False):
        # the logits the model computes: float32 bias (its rows), taken in float64 for the reference
        b = torch.tensor(a["bias"], dtype=torch.float32).double().requires_grad_()
        z = b.expand(${B}, ${K})
        loss = eval(expr, {"F": F, "asl": asl, "z": z, "y": y.double(), "pw": pw.double(), "detach": detach})
        loss.backward()
        if detach:
            r["loss"], r["grad"] = loss.item(), b.grad.tolist()
        else:
            r["gradAttached"] = b.grad.tolist()
    out.append(r)
print(json.dumps(out))`,
      { head, hidden: 32, bias: BIAS, y: Y, pw: POS_WEIGHT, cases: CASES.map((c) => c.py) },
    );
    const body = { ...presetConfig('tiny'), vocab_size: 64, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 2 };
    const model = await native().createModel(toNativeConfig(classifierConfig(body, LABELS)), { device: 'cpu', seed: 1, init: true });
    await model.loadWeights([head]);
    const ids = Int32Array.from([2, 10, 11, 12, 3, 2, 20, 3, 2, 30, 31, 3, 2, 40, 41, 42, 43, 3]);
    const cu = Int32Array.from([0, 5, 8, 12, 18]);
    const targets = Float32Array.from(Y);
    const lines: string[] = [];
    for (const [i, c] of CASES.entries()) {
      const r = await model.trainStep(ids, cu, targets, { lr: 0, update: false, ...(c.loss ? { loss: c.loss } : {}) });
      const file = path.join(tmp, `grads-${i}.safetensors`);
      await model.saveWeights(file, { what: 'grads' });
      const g = readSafetensors(file).get('classifier.bias')!.data;
      const want = ref[i].grad;
      const scale = Math.max(...want.map(Math.abs));
      const gradDiff = Math.max(...want.map((w, j) => Math.abs(g[j] - w))) / scale;
      const lossDiff = Math.abs(r.loss - ref[i].loss) / Math.abs(ref[i].loss);
      // how far the gradient with the focusing weight differentiated lies (ASL only): the test can tell them apart
      const attached = Math.max(...ref[i].gradAttached.map((w, j) => Math.abs(w - want[j]))) / scale;
      lines.push(`${c.name}: loss ${r.loss.toFixed(6)} (Δ ${lossDiff.toExponential(1)}), ∂/∂logits max|Δ|/max ${gradDiff.toExponential(1)}${c.loss?.type === 'asl' ? `; with the focusing weight differentiated ${attached.toExponential(1)} away` : ''}`);
      expect(gradDiff).toBeLessThanOrEqual(1e-6);
      expect(lossDiff).toBeLessThanOrEqual(1e-6);
      if (c.loss?.type === 'asl' && c.loss.gammaNeg !== 0) expect(attached).toBeGreaterThan(1e-3);
    }
    console.log(lines.join('\n'));
    // the cases differ from each other: a loss that ignored its options could not pass
    expect(new Set(ref.map((x) => x.loss.toFixed(6))).size).toBe(CASES.length);
    model.free();
  });

  test('the float64 evaluation losses equal the transcriptions in float64', () => {
    const n = 6 * K;
    const logits = Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) * 7);
    const y = Array.from({ length: n }, (_, i) => ((i * 5) % 3 === 0 ? 1 : 0));
    const pw = Array.from({ length: K }, (_, i) => 1 + i);
    const ref = runPythonJson<number[]>(
      `${PY_ASL}
a = json.load(sys.stdin)
z = torch.tensor(a["z"], dtype=torch.float64).view(-1, ${K}); y = torch.tensor(a["y"], dtype=torch.float64).view(-1, ${K})
pw = torch.tensor(a["pw"], dtype=torch.float64)
print(json.dumps([(-(pw * y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z)).mean()).item(),
                  asl(z, y, 4, 0, 0.05, True).item(), asl(z, y, 2, 1, 0.1, True).item()]))`,
      { z: logits, y, pw },
    );
    const ours = [
      weightedBceWithLogits(logits, y, pw),
      asymmetricLoss(logits, y, { gammaNeg: 4, gammaPos: 0, clip: 0.05 }),
      asymmetricLoss(logits, y, { gammaNeg: 2, gammaPos: 1, clip: 0.1 }),
    ];
    ours.forEach((v, i) => expect(Math.abs(v - ref[i]) / Math.abs(ref[i])).toBeLessThanOrEqual(1e-12));
  });
});

describe('--pos-weight', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-posw-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  // 5 rows × 3 labels: positives 1, 2 and 5
  const y = Float32Array.from([1, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1]);
  const labels = ['C1', 'C2', 'C3'];

  test('auto: negatives / positives per label, capped', () => {
    expect(Array.from(autoPosWeights(y, 3, 100))).toEqual([4, 1.5, 0]);
    expect(Array.from(autoPosWeights(y, 3, 2))).toEqual([2, 1.5, 0]);
  });

  test('a file: a map CUI → weight or an array in label order; errors name the file and the label', () => {
    const file = (name: string, v: unknown) => {
      const f = path.join(tmp, name);
      fs.writeFileSync(f, JSON.stringify(v));
      return f;
    };
    expect(Array.from(posWeights({ posWeight: file('map.json', { C3: 3, C1: 1, C2: 2 }) }, labels, y)!)).toEqual([1, 2, 3]);
    expect(Array.from(posWeights({ posWeight: file('arr.json', [1, 2, 3]) }, labels, y)!)).toEqual([1, 2, 3]);
    expect(() => posWeights({ posWeight: file('missing.json', { C1: 1, C3: 3 }) }, labels, y)).toThrow(/missing\.json: no weight for C2; every label needs one/);
    expect(() => posWeights({ posWeight: file('bad.json', { C1: 1, C2: 'x', C3: 3 }) }, labels, y)).toThrow(/bad\.json: key "C2": the weight must be a finite number >= 0, got "x"/);
    expect(() => posWeights({ posWeight: file('extra.json', { C1: 1, C2: 2, C3: 3, C9: 1 }) }, labels, y)).toThrow(/extra\.json: key "C9": not a label of the training split/);
    expect(() => posWeights({ posWeight: file('short.json', [1, 2]) }, labels, y)).toThrow(/short\.json: 2 weights, but the training split has 3 labels/);
    expect(() => posWeights({ posWeight: file('neg.json', [1, -2, 3]) }, labels, y)).toThrow(/neg\.json: key "1 \(C2\)": the weight must be a finite number >= 0, got -2/);
    expect(() => posWeights({ posWeight: path.join(tmp, 'nope.json') }, labels, y)).toThrow(/nope\.json: not found/);
    expect(() => posWeights({ posWeight: { C1: 1, C2: 2 } }, labels, y)).toThrow('pos weight: no weight for C3');
  });

  test('options that do not go together are usage errors', () => {
    const o = { dataset: 'x', tokenizer: 'y' };
    expect(() => resolveTrainOptions({ ...o, loss: 'asl', posWeight: 'auto' })).toThrow('pos weight applies to --loss bce');
    expect(() => resolveTrainOptions({ ...o, aslGammaNeg: 2 })).toThrow('asl gamma neg applies to --loss asl');
    expect(() => resolveTrainOptions({ ...o, maxPosWeight: 10 })).toThrow('max pos weight applies to --pos-weight auto');
    expect(() => resolveTrainOptions({ ...o, loss: 'asl', aslClip: 1 })).toThrow('asl clip must be < 1 and >= 0, got 1');
    expect(() => resolveTrainOptions({ ...o, loss: 'focal' as 'asl' })).toThrow('loss must be bce or asl, got focal');
  });
});
