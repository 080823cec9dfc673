import { computeMetrics, sigmoid, type Metrics } from '../lib/eval/metrics';
import { PCG64 } from '../lib/data/rng';
import { runPythonJson } from './helpers/python';

interface Case {
  name: string;
  logits: number[][];
  labels: number[][];
  threshold: number;
}

const KEYS: (keyof Metrics)[] = [
  'precision_micro', 'recall_micro', 'f1', 'precision_macro', 'recall_macro', 'f1_macro',
  'exact_match', 'hamming_loss', 'label_accuracy',
];

const rng = new PCG64(1234);
function matrix(rows: number, cols: number, f: (r: number, c: number) => number): number[][] {
  return Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => f(r, c)));
}
function randomCase(name: string, rows: number, cols: number, density: number, threshold = 0.5): Case {
  const labels = matrix(rows, cols, () => (rng.nextDouble() < density ? 1 : 0));
  // logits correlated with the labels so that every confusion cell occurs
  const logits = labels.map((row) => row.map((y) => (rng.nextDouble() * 6 - 3) + (y ? 1.5 : -1.5)));
  return { name, logits, labels, threshold };
}

const cases: Case[] = [];
for (const t of [0.5, 0.3, 0.7, 0.05, 0.95]) cases.push(randomCase(`random 60x7 t=${t}`, 60, 7, 0.3, t));
cases.push(randomCase('random 300x40 sparse', 300, 40, 0.04));
cases.push(randomCase('random 5x300 very sparse (many empty columns)', 5, 300, 0.01));
{
  // all-zero rows and columns in labels and predictions
  const c = randomCase('zero rows and columns', 30, 9, 0.4);
  for (const r of [0, 7, 8]) c.labels[r].fill(0);
  for (const r of [3, 7]) c.logits[r].fill(-4);
  for (let r = 0; r < 30; r++) {
    c.labels[r][2] = 0; // column with no true positives
    c.logits[r][5] = -2; // column with no predictions
    c.labels[r][6] = 0; c.logits[r][6] = -1; // column with neither
  }
  cases.push(c);
}
{
  const labels = matrix(20, 6, () => (rng.nextDouble() < 0.4 ? 1 : 0));
  cases.push({ name: 'all correct', labels, logits: labels.map((r) => r.map((y) => (y ? 3 : -3))), threshold: 0.5 });
  cases.push({ name: 'all wrong', labels, logits: labels.map((r) => r.map((y) => (y ? -3 : 3))), threshold: 0.5 });
  cases.push({ name: 'nothing predicted', labels, logits: labels.map((r) => r.map(() => -9)), threshold: 0.5 });
  cases.push({ name: 'everything predicted', labels, logits: labels.map((r) => r.map(() => 9)), threshold: 0.5 });
}
cases.push({
  name: 'all zero labels, nothing predicted',
  labels: matrix(10, 4, () => 0),
  logits: matrix(10, 4, () => -1),
  threshold: 0.5,
});
{
  // p == 0.5 exactly (logit 0) is NOT above threshold 0.5; a tiny positive logit is
  const labels = matrix(12, 5, (r, c) => ((r + c) % 3 === 0 ? 1 : 0));
  const logits = matrix(12, 5, (r, c) => ((r * 5 + c) % 4 === 0 ? 0 : (r * 5 + c) % 4 === 1 ? 1e-6 : (r * 5 + c) % 4 === 2 ? -1e-6 : 0));
  cases.push({ name: 'threshold boundary logit 0', labels, logits, threshold: 0.5 });
  cases.push({ name: 'threshold boundary logit 0, t=0.4', labels, logits, threshold: 0.4 });
}

const PY = `
import json, sys, numpy as np
from sklearn.metrics import precision_recall_fscore_support, accuracy_score, hamming_loss
out = []
for c in json.load(sys.stdin):
    logits = np.array(c['logits'], dtype=np.float64); y = np.array(c['labels'], dtype=int)
    probs = 1 / (1 + np.exp(-logits))
    preds = (probs > c['threshold']).astype(int)
    pm, rm, fm, _ = precision_recall_fscore_support(y, preds, average='micro', zero_division=0)
    pM, rM, fM, _ = precision_recall_fscore_support(y, preds, average='macro', zero_division=0)
    h = hamming_loss(y, preds)
    out.append(dict(precision_micro=pm, recall_micro=rm, f1=fm, precision_macro=pM, recall_macro=rM, f1_macro=fM,
                    exact_match=accuracy_score(y, preds), hamming_loss=h, label_accuracy=1 - h))
print(json.dumps([{k: float(v) for k, v in o.items()} for o in out]))
`;

describe('computeMetrics vs scikit-learn', () => {
  let expected: Metrics[];
  beforeAll(() => {
    expected = runPythonJson<Metrics[]>(PY, cases);
  });

  test.each(cases.map((c, i) => [c.name, i] as const))('%s', (_name, i) => {
    const c = cases[i];
    const got = computeMetrics(c.logits, c.labels, c.threshold);
    expect(Object.keys(got).sort()).toEqual([...KEYS].sort());
    for (const k of KEYS) {
      if (Math.abs(got[k] - expected[i][k]) > 1e-9) throw new Error(`${k}: got ${got[k]}, sklearn ${expected[i][k]}`);
    }
  });

  test('flat Float32Array input gives the same numbers as rows', () => {
    const c = cases[5];
    const k = c.labels[0].length;
    const flatLogits = Float32Array.from(c.logits.flat());
    const flatLabels = Float32Array.from(c.labels.flat());
    const rowsF32 = c.logits.map((r) => Float32Array.from(r));
    expect(computeMetrics(flatLogits, flatLabels, 0.5, k)).toEqual(computeMetrics(rowsF32, c.labels, 0.5));
  });

  test('the degenerate cases have the values sklearn documents', () => {
    const i = cases.findIndex((c) => c.name === 'all correct');
    expect(computeMetrics(cases[i].logits, cases[i].labels)).toMatchObject({ f1: 1, exact_match: 1, hamming_loss: 0, label_accuracy: 1 });
    const j = cases.findIndex((c) => c.name === 'all wrong');
    expect(computeMetrics(cases[j].logits, cases[j].labels)).toMatchObject({ f1: 0, f1_macro: 0, exact_match: 0, hamming_loss: 1 });
  });
});

describe('input checks', () => {
  test('sigmoid', () => {
    expect(sigmoid(0)).toBe(0.5);
    expect(sigmoid(800)).toBe(1);
    expect(sigmoid(-800)).toBe(0);
    expect(sigmoid(2)).toBeCloseTo(1 / (1 + Math.exp(-2)), 15);
  });
  test('shape mismatches and non-binary labels throw', () => {
    expect(() => computeMetrics([[0, 1]], [[0, 1], [1, 0]])).toThrow(/labels/);
    expect(() => computeMetrics([[0, 1]], [[0, 1, 1]])).toThrow(/columns/);
    expect(() => computeMetrics(new Float32Array(6), new Float32Array(6))).toThrow(/numLabels/);
    expect(() => computeMetrics(new Float32Array(6), new Float32Array(6), 0.5, 4)).toThrow(/multiple/);
    expect(() => computeMetrics([[0, 1]], [[0, 2]])).toThrow(/0 or 1/);
  });
});
