/**
 * Threshold tuning (lib/eval/thresholds.ts) against a brute-force scikit-learn search in the reference venv: the global
 * threshold's micro-F1 equals the maximum of f1_score(average='micro') over every candidate threshold (each distinct
 * probability, and below them all), and the per-label thresholds are a fixed point of the coordinate ascent (no single
 * label's threshold, moved to any of its candidates, raises sklearn's micro-F1), with the micro-F1 we report.
 */
import { computeMetrics } from '../lib/eval/metrics';
import { microF1At, microSweep, probabilities, tuneGlobal, tunePerLabel, tuneThresholds } from '../lib/eval/thresholds';
import { mulberry32 as rng } from '../lib/data/demo';
import { runPythonJson } from './helpers/python';

interface Case {
  name: string;
  rows: number;
  k: number;
  logits: number[];
  labels: number[];
}

/** Labels with a per-label base rate (a few frequent, many rare), logits that rank positives higher, with noise. */
function makeCase(name: string, rows: number, k: number, seed: number, step?: number): Case {
  const r = rng(seed);
  const rate = Array.from({ length: k }, (_, c) => (c < 3 ? 0.3 : 0.02 + 0.1 * r()));
  const logits: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < rows; i++)
    for (let c = 0; c < k; c++) {
      const y = r() < rate[c] ? 1 : 0;
      let x = -3 + (y ? 2.2 : 0) + 1.6 * (r() + r() + r() - 1.5) + (c % 5) * 0.3;
      if (step) x = Math.round(x / step) * step; // many exact ties
      labels.push(y);
      logits.push(Math.fround(x));
    }
  return { name, rows, k, logits, labels };
}

const CASES = [makeCase('continuous logits', 150, 30, 1), makeCase('logits in steps of 0.25 (ties)', 150, 30, 2, 0.25), makeCase('coarse logits in steps of 1 (heavy ties)', 80, 12, 3, 1)];
const MIN_SUPPORT = 4;

const PY = `
import json, sys, numpy as np
from sklearn.metrics import f1_score
out = []
for c in json.load(sys.stdin):
    n, k = c['rows'], c['k']
    x = np.array(c['logits'], dtype=np.float64).reshape(n, k)
    y = np.array(c['labels'], dtype=int).reshape(n, k)
    p = np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))
    f1 = lambda t: f1_score(y, (p > t).astype(int), average='micro', zero_division=0)
    cands = np.concatenate([np.unique(p), [-1.0]])
    best = max(f1(t) for t in cands)
    g = c['global']
    # per-label: from our thresholds, the best single-label move for each tuned label (candidates: its distinct values and below them)
    T = np.array(c['per_label'], dtype=np.float64)
    at = f1(T[None, :])
    best_move = at
    for j in c['tuned']:
        for t in np.concatenate([np.unique(p[:, j]), [-1.0]]):
            T2 = T.copy(); T2[j] = t
            best_move = max(best_move, f1(T2[None, :]))
    out.append(dict(best=best, at_global=f1(g), at_half=f1(0.5), at_per_label=at, best_move=best_move, candidates=len(cands)))
print(json.dumps(out))
`;

describe('threshold search vs brute-force scikit-learn', () => {
  const ours = CASES.map((c) => {
    const probs = probabilities(c.logits);
    const g = tuneGlobal(probs, c.labels);
    const pl = tunePerLabel(probs, c.labels, c.k, g.threshold, { minSupport: MIN_SUPPORT });
    return { g, pl };
  });
  let sk: Array<{ best: number; at_global: number; at_half: number; at_per_label: number; best_move: number; candidates: number }>;
  beforeAll(() => {
    sk = runPythonJson(
      PY,
      CASES.map((c, i) => ({ ...c, global: ours[i].g.threshold, per_label: Array.from(ours[i].pl.thresholds), tuned: ours[i].pl.tuned })),
    );
  });

  test.each(CASES.map((c, i) => [c.name, i] as const))('%s: global micro-F1 = max over every candidate threshold', (_n, i) => {
    const { best, at_global, at_half, candidates } = sk[i];
    expect(candidates).toBeGreaterThan(5);
    // sklearn at our threshold reaches sklearn's maximum, and our own count agrees
    expect(Math.abs(at_global - best)).toBeLessThan(1e-12);
    expect(Math.abs(ours[i].g.f1 - best)).toBeLessThan(1e-12);
    expect(best).toBeGreaterThan(at_half); // these cases are built so that 0.5 is not optimal
  });

  test.each(CASES.map((c, i) => [c.name, i] as const))('%s: per-label thresholds are a fixed point (no single-label move helps)', (_n, i) => {
    const { pl } = ours[i];
    expect(pl.converged).toBe(true);
    expect(pl.tuned.length).toBeGreaterThan(3);
    expect(Math.abs(sk[i].at_per_label - pl.f1)).toBeLessThan(1e-12);
    expect(sk[i].best_move).toBeLessThanOrEqual(sk[i].at_per_label + 1e-12);
    expect(pl.f1).toBeGreaterThanOrEqual(ours[i].g.f1);
  });
});

describe('threshold tuning', () => {
  const c = CASES[1];
  const probs = probabilities(c.logits);

  test('the sweep walks every distinct probability; each point is what p > threshold predicts', () => {
    const { positives, points } = microSweep(probs, c.labels);
    expect(positives).toBe(c.labels.reduce((a, b) => a + b, 0));
    expect(points.length).toBe(new Set(Array.from(probs)).size + 1);
    for (const pt of points.filter((_, i) => i % 7 === 0)) {
      let tp = 0;
      let predicted = 0;
      probs.forEach((p, i) => {
        if (p > pt.threshold) {
          predicted++;
          tp += c.labels[i];
        }
      });
      expect([tp, predicted]).toEqual([pt.tp, pt.predicted]);
    }
  });

  test('tuneThresholds: the metrics at the saved thresholds equal computeMetrics; labels under the support keep the global one', () => {
    for (const method of ['global', 'per-label'] as const) {
      const t = tuneThresholds(c.logits, c.labels, c.k, { method, minSupport: MIN_SUPPORT, folds: 5 });
      expect(t.f1Tuned).toBeCloseTo(computeMetrics(c.logits, c.labels, t.perLabel, c.k).f1, 12);
      expect(t.f1Baseline).toBeCloseTo(computeMetrics(c.logits, c.labels, 0.5, c.k).f1, 12);
      expect(t.f1Tuned).toBeGreaterThanOrEqual(t.f1Global);
      const support = Array.from({ length: c.k }, (_, j) => c.labels.filter((y, i) => i % c.k === j && y).length);
      for (let j = 0; j < c.k; j++) if (support[j] < MIN_SUPPORT) expect(t.perLabel[j]).toBe(t.global);
      // the cross-validated estimate scores held-out rows, so it cannot exceed the in-sample tuned value by construction of the sweep
      expect(t.crossValidated).toEqual({ folds: 5, baseline: expect.any(Number), global: expect.any(Number), perLabel: expect.any(Number) });
      expect(t.crossValidated!.baseline).toBeCloseTo(t.f1Baseline, 12); // p > 0.5 needs no tuning: pooled folds = the whole split
    }
  });

  test('no positives: nothing to tune, 0.5 kept; all-zero probabilities are never predicted', () => {
    const zeros = new Array(20).fill(0);
    expect(tuneGlobal(probabilities(zeros.map(() => 1)), zeros)).toEqual({ threshold: 0.5, f1: 0 });
    const labels = [1, 0, 1, 0];
    const g = tuneGlobal([0, 0, 0.7, 0.2], labels);
    expect(g.f1).toBeCloseTo(f1(1, 2, 1), 12);
    expect(g.threshold).toBeGreaterThan(0.2);
    expect(microF1At([0, 0, 0.7, 0.2], labels, 1, g.threshold)).toBeCloseTo(g.f1, 12);
  });
});

function f1(tp: number, positives: number, predicted: number): number {
  return (2 * tp) / (positives + predicted);
}
