/**
 * The linear probe (train --linear-probe): the one-vs-rest logistic regression against scikit-learn's
 * LogisticRegression (same objective: coefficients on a synthetic problem), and a real probe on roco-radiology-mini
 * (91 labels seen >= 25 times, tiny random body, mean pooling: a random body's [CLS] state hardly depends on the text, so
 * cls features give micro-F1 0 on both sides, a bar that could not fail) against OneVsRestClassifier(LogisticRegression()) fitted on the same features:
 * test micro-F1 within 0.02. The written folder predicts the probe's logits in load() and in transformers.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fitLogisticOvR } from '../lib/train/logistic';
import { train } from '../lib/train/loop';
import { load } from '../lib/model/classifier';
import { readSafetensorsF32 } from '../lib/model/safetensors';
import { linearLogits } from '../lib/train/probe';
import { PCG64 } from '../lib/data/rng';
import { describeNative } from './helpers/fixtures';
import { runPythonJson } from './helpers/python';
import { MINI, REPO, TOKENIZER } from './helpers/paths';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-probe-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('fitLogisticOvR = sklearn LogisticRegression(C) coefficients and intercepts (converged)', () => {
  const n = 300;
  const d = 6;
  const L = 4;
  const rng = new PCG64(7n);
  const x = Array.from({ length: n * d }, () => rng.nextDouble() * 4 - 2);
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const xi = x.slice(i * d, (i + 1) * d);
    y.push(xi[0] + 0.5 * xi[1] > 0.3 ? 1 : 0, xi[2] - xi[3] > 1 ? 1 : 0, rng.nextDouble() < 0.05 ? 1 : 0, xi[4] * xi[5] + rng.nextDouble() - 0.5 > 0 ? 1 : 0);
  }
  for (const C of [1, 0.05]) {
    const ours = fitLogisticOvR(x, n, d, y, L, { C, tol: 1e-9, maxIter: 5000 });
    const sk = runPythonJson<{ coef: number[][]; intercept: number[] }>(
      `
import json, sys, numpy as np
from sklearn.linear_model import LogisticRegression
a = json.load(sys.stdin)
x = np.array(a["x"]).reshape(a["n"], a["d"]); y = np.array(a["y"]).reshape(a["n"], a["L"])
coef, b = [], []
for l in range(a["L"]):
    m = LogisticRegression(C=a["C"], tol=1e-10, max_iter=100000).fit(x, y[:, l])
    coef.append(m.coef_[0].tolist()); b.append(float(m.intercept_[0]))
print(json.dumps({"coef": coef, "intercept": b}))
`,
      { x, y, n, d, L, C },
    );
    for (let l = 0; l < L; l++) {
      for (let j = 0; j < d; j++) expect(Math.abs(ours.weight[l * d + j] - sk.coef[l][j])).toBeLessThan(1e-4);
      expect(Math.abs(ours.bias[l] - sk.intercept[l])).toBeLessThan(1e-4);
    }
  }
});

describeNative()('train --linear-probe on roco-radiology-mini (tiny random body, mean pooling, labels seen >= 25 times)', () => {
  test('test micro-F1 within 0.02 of sklearn OneVsRestClassifier(LogisticRegression()) on the same features; the folder predicts the probe', async () => {
    const out = path.join(tmp, 'probe');
    const emb = path.join(tmp, 'emb.safetensors');
    const t0 = Date.now();
    const r = await train({
      dataset: MINI, tokenizer: TOKENIZER, init: 'tiny', classifierPooling: 'mean', maxLength: 64, minLabelCount: 25, linearProbe: true, probeEmbeddings: emb,
      outputDir: out, quiet: true, threads: 2, evalBatchSize: 64,
    });
    const seconds = (Date.now() - t0) / 1000;
    const sk = runPythonJson<{ test_f1: number; val_f1: number }>(
      `
import json, sys, os, warnings
sys.path.insert(0, "bench")
warnings.filterwarnings("ignore")
import numpy as np
from safetensors.numpy import load_file
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.metrics import f1_score
t = load_file(json.load(sys.stdin))
clf = OneVsRestClassifier(LogisticRegression(C=1.0, max_iter=1000)).fit(t["train.x"].astype(np.float64), t["train.y"].astype(np.int64))
f = lambda s: float(f1_score(t[s + ".y"].astype(np.int64), clf.predict(t[s + ".x"].astype(np.float64)), average="micro", zero_division=0))
print(json.dumps({"test_f1": f("test"), "val_f1": f("validation")}))
`,
      emb,
    );
    expect(sk.test_f1).toBeGreaterThan(0.1); // the frequent labels are learnable from random features: the bar is not trivial
    expect(Math.abs(r.test!.f1 - sk.test_f1)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(r.bestMetric! - sk.val_f1)).toBeLessThanOrEqual(0.02);
    // the folder: load() and transformers give the probe's logits on the validation features' texts
    const t = readSafetensorsF32(emb);
    const x = t.get('validation.x')!;
    const w = readSafetensorsF32(path.join(out, 'model.safetensors'));
    const probe = linearLogits(x.data, x.shape[0], x.shape[1], w.get('classifier.weight')!.data, w.get('classifier.bias')!.data);
    const texts = ['CT of the chest showing a nodule.', 'MRI of the brain.'];
    const clf = await load(out, { device: 'cpu' });
    try {
      const ours = await clf.logits(texts);
      const hf = runPythonJson<number[][]>(
        `
import json, sys, torch
from transformers import AutoTokenizer, AutoModelForSequenceClassification
a = json.load(sys.stdin)
m = AutoModelForSequenceClassification.from_pretrained(a["dir"]).eval(); tok = AutoTokenizer.from_pretrained(a["dir"])
with torch.no_grad(): print(json.dumps([m(**tok(s, return_tensors="pt")).logits[0].tolist() for s in a["texts"]]))
`,
        { dir: out, texts },
      );
      ours.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - hf[i][j])).toBeLessThan(1e-4)));
      expect(probe.length).toBe(x.shape[0] * clf.labels.length);
    } finally {
      clf.close();
    }
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'probe_results.json'), 'utf8'));
    expect(summary.folder_vs_probe_max_abs_logit_diff).toBeLessThan(1e-4);
    expect(seconds).toBeLessThan(600); // ~60 s on an idle 2-core machine (embedding 2305 captions + 91 fits)
  });
});
