/**
 * Decision thresholds tuned on a validation split, for multi-label predictions `sigmoid(logit) > threshold`:
 *
 *   - global: the one threshold that maximises micro-F1, found exactly: every distinct probability of the split is a
 *     candidate cut (a sweep over the cells sorted by probability), not a grid;
 *   - per-label: starting from the global threshold, each label with at least `minSupport` positives gets the
 *     threshold that maximises micro-F1 while the other labels' stay fixed (an exact sweep over that label's distinct
 *     probabilities), label after label, sweep after sweep, until no label's threshold moves (coordinate ascent:
 *     micro-F1 rises with each move, so it ends).
 *
 * A chosen cut keeps the cells with p >= v (v a distinct probability) and drops those with p <= w (the next lower
 * one); the threshold stored is the midpoint (v + w) / 2 (or w where the two are adjacent doubles), so the validation
 * predictions are exactly the chosen ones and new data is cut halfway between the two.
 *
 * Per-label thresholds fit the validation split more closely than one global threshold and can over-fit it; the
 * cross-validated estimate (tune on K-1 folds of the validation rows, predict the held-out fold, score all of them)
 * measures that without touching the test split.
 */
import { sigmoid, type Threshold } from './metrics';

/** The tuning methods of --tune-thresholds. */
export type TuneMethod = 'global' | 'per-label';
/** The accepted values of --tune-thresholds ('none': keep p > --threshold). */
export const TUNE_METHODS = ['none', 'global', 'per-label'] as const;
/** Default --min-threshold-support: labels with fewer validation positives keep the global threshold. */
export const DEFAULT_MIN_THRESHOLD_SUPPORT = 5;
/** Default folds of the cross-validated estimate. */
export const DEFAULT_THRESHOLD_FOLDS = 5;

/** sigmoid of every logit, in float64 (the probabilities predict() and the metrics threshold). */
export function probabilities(logits: ArrayLike<number>): Float64Array {
  const p = new Float64Array(logits.length);
  for (let i = 0; i < p.length; i++) p[i] = sigmoid(logits[i]);
  return p;
}

/** 2 tp / (positives + predicted), 0 when both are 0 (sklearn's micro-F1, zero_division=0). */
export function f1Of(tp: number, positives: number, predicted: number): number {
  return positives + predicted === 0 ? 0 : (2 * tp) / (positives + predicted);
}

/** A threshold strictly between `lower` (excluded) and `upper` (kept): their midpoint, or `lower` where the midpoint rounds onto `upper`. */
function cutBetween(upper: number, lower: number): number {
  const mid = (upper + lower) / 2;
  return mid < upper && mid >= lower ? mid : lower;
}

/** The threshold that drops every probability up to `max` (the largest): halfway to 1, or 1 itself. */
function cutAbove(max: number): number {
  return max < 1 ? Math.max(max, (max + 1) / 2) : 1;
}

/** One point of the micro-averaged sweep: the threshold that keeps this many predicted cells, and its counts. */
export interface SweepPoint {
  /** The cut: cells with a probability above it are predicted. */
  threshold: number;
  /** True positives at this cut. */
  tp: number;
  /** Predicted cells at this cut. */
  predicted: number;
}

/**
 * The micro-averaged sweep of a split: one point per distinct probability, from the highest threshold (nothing
 * predicted) down to the lowest (everything predicted), with true positives and predicted cells at each.
 */
export function microSweep(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
): {
  /** Positive cells of the split. */
  positives: number;
  /** The sweep, from the highest threshold down. */
  points: SweepPoint[];
} {
  if (probs.length !== labels.length) throw new Error(`microSweep: ${probs.length} probabilities, ${labels.length} labels`);
  let np = 0;
  for (let i = 0; i < labels.length; i++) np += labels[i] === 1 ? 1 : 0;
  const pos = new Float64Array(np);
  const neg = new Float64Array(labels.length - np);
  let a = 0;
  let b = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y !== 0 && y !== 1) throw new Error(`labels[${i}] is ${y}, expected 0 or 1`);
    if (!(probs[i] >= 0 && probs[i] <= 1)) throw new Error(`probabilities[${i}] is ${probs[i]}, expected a number in [0, 1]`);
    if (y === 1) pos[a++] = probs[i];
    else neg[b++] = probs[i];
  }
  // typed-array sort is numeric and fast; walk both from the top, one distinct value at a time
  pos.sort();
  neg.sort();
  let i = pos.length - 1;
  let j = neg.length - 1;
  let tp = 0;
  let predicted = 0;
  const top = Math.max(i >= 0 ? pos[i] : -1, j >= 0 ? neg[j] : -1);
  const points: SweepPoint[] = [{ threshold: cutAbove(Math.max(top, 0)), tp: 0, predicted: 0 }];
  while (i >= 0 || j >= 0) {
    const v = Math.max(i >= 0 ? pos[i] : -1, j >= 0 ? neg[j] : -1);
    while (i >= 0 && pos[i] === v) { tp++; predicted++; i--; }
    while (j >= 0 && neg[j] === v) { predicted++; j--; }
    const next = Math.max(i >= 0 ? pos[i] : -1, j >= 0 ? neg[j] : -1);
    // p > t keeps nothing at probability 0 (a logit below -745): no threshold predicts those cells
    if (next < 0 && v === 0) break;
    points.push({ threshold: next >= 0 ? cutBetween(v, next) : v / 2, tp, predicted });
  }
  return { positives: np, points };
}

/** The global threshold of highest micro-F1 (the highest such threshold on ties) and that micro-F1. */
export function tuneGlobal(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
): {
  /** The threshold (0.5 when the split has no positive cell). */
  threshold: number;
  /** The split's micro-F1 at it. */
  f1: number;
} {
  const { positives, points } = microSweep(probs, labels);
  let best = { threshold: 0.5, f1: -1 };
  for (const pt of points) {
    const f1 = f1Of(pt.tp, positives, pt.predicted);
    if (f1 > best.f1) best = { threshold: pt.threshold, f1 };
  }
  // no positive cell: every threshold scores 0, keep the usual one
  return positives === 0 ? { threshold: 0.5, f1: 0 } : best;
}

/** Options of tunePerLabel(). */
export interface PerLabelOptions {
  /** Labels with fewer positives than this keep `start` (default DEFAULT_MIN_THRESHOLD_SUPPORT). */
  minSupport?: number;
  /** Give up after this many sweeps over the labels (default 100; convergence usually takes a few). */
  maxSweeps?: number;
}

/** What tunePerLabel() found. */
export interface PerLabelResult {
  /** One threshold per label (the start value for the labels that were not tuned). */
  thresholds: Float64Array;
  /** Indices of the labels with at least minSupport positives (whose thresholds were free to move). */
  tuned: number[];
  /** Micro-F1 of the split at `thresholds`. */
  f1: number;
  /** Sweeps over the labels until none moved (the last one moved nothing). */
  sweeps: number;
  /** Whether that happened within maxSweeps. */
  converged: boolean;
}

/** One label's column, sorted by probability from the top: distinct values with the positives and cells at each. */
interface Column {
  /** Distinct probabilities, descending. */
  values: Float64Array;
  /** Positives and cells with probability >= values[m], for m = 0..values.length-1. */
  tpAt: Float64Array;
  predAt: Float64Array;
  support: number;
}

function columnOf(probs: ArrayLike<number>, labels: ArrayLike<number>, rows: number, k: number, c: number): Column {
  const cells = Array.from({ length: rows }, (_, r) => r * k + c).sort((x, y) => probs[y] - probs[x]);
  const values: number[] = [];
  const tpAt: number[] = [];
  const predAt: number[] = [];
  let tp = 0;
  for (let m = 0; m < cells.length; m++) {
    const p = probs[cells[m]];
    tp += labels[cells[m]];
    if (m + 1 < cells.length && probs[cells[m + 1]] === p) continue;
    values.push(p);
    tpAt.push(tp);
    predAt.push(m + 1);
  }
  return { values: Float64Array.from(values), tpAt: Float64Array.from(tpAt), predAt: Float64Array.from(predAt), support: tp };
}

/** The counts of a column at threshold t: positives and cells with probability > t. */
function countsAt(col: Column, t: number): { tp: number; pred: number } {
  let tp = 0;
  let pred = 0;
  for (let m = 0; m < col.values.length && col.values[m] > t; m++) {
    tp = col.tpAt[m];
    pred = col.predAt[m];
  }
  return { tp, pred };
}

/**
 * Per-label thresholds by coordinate ascent on micro-F1 from `start` (one threshold for all, typically the global
 * one): probabilities and 0/1 labels are flat row-major [rows, k].
 */
export function tunePerLabel(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number, start: number, options: PerLabelOptions = {}): PerLabelResult {
  const minSupport = options.minSupport ?? DEFAULT_MIN_THRESHOLD_SUPPORT;
  const maxSweeps = options.maxSweeps ?? 100;
  if (probs.length !== labels.length || probs.length % k !== 0) throw new Error(`tunePerLabel: ${probs.length} probabilities and ${labels.length} labels for ${k} labels per row`);
  const rows = probs.length / k;
  const thresholds = new Float64Array(k).fill(start);
  const cols: Column[] = [];
  const tp = new Float64Array(k);
  const pred = new Float64Array(k);
  let TP = 0;
  let PRED = 0;
  let POS = 0;
  const tuned: number[] = [];
  for (let c = 0; c < k; c++) {
    cols.push(columnOf(probs, labels, rows, k, c));
    const at = countsAt(cols[c], start);
    tp[c] = at.tp;
    pred[c] = at.pred;
    TP += at.tp;
    PRED += at.pred;
    POS += cols[c].support;
    if (cols[c].support >= minSupport && cols[c].support > 0) tuned.push(c);
  }
  let f1 = f1Of(TP, POS, PRED);
  let sweeps = 0;
  let converged = false;
  while (sweeps < maxSweeps) {
    sweeps++;
    let moved = false;
    for (const c of tuned) {
      const col = cols[c];
      const baseTp = TP - tp[c];
      const basePred = PRED - pred[c];
      // candidate m = -1: nothing of this label predicted; m: the cells with p >= values[m]
      let bestM = -2;
      let bestF1 = f1;
      const last = col.values[col.values.length - 1] === 0 ? col.values.length - 1 : col.values.length;
      for (let m = -1; m < last; m++) {
        const ctp = m < 0 ? 0 : col.tpAt[m];
        const cpred = m < 0 ? 0 : col.predAt[m];
        const f = f1Of(baseTp + ctp, POS, basePred + cpred);
        // a move must raise micro-F1 (beyond rounding): ties keep the current threshold, so the ascent cannot cycle
        if (f > bestF1 * (1 + 1e-12) && !(ctp === tp[c] && cpred === pred[c])) {
          bestF1 = f;
          bestM = m;
        }
      }
      if (bestM === -2) continue;
      const v = col.values;
      thresholds[c] = bestM < 0 ? cutAbove(v[0]) : bestM + 1 < v.length ? cutBetween(v[bestM], v[bestM + 1]) : v[bestM] / 2;
      const ntp = bestM < 0 ? 0 : col.tpAt[bestM];
      const npred = bestM < 0 ? 0 : col.predAt[bestM];
      TP = baseTp + ntp;
      PRED = basePred + npred;
      tp[c] = ntp;
      pred[c] = npred;
      f1 = f1Of(TP, POS, PRED);
      moved = true;
    }
    if (!moved) {
      converged = true;
      break;
    }
  }
  return { thresholds, tuned, f1, sweeps, converged };
}

/** Micro-F1 of probabilities [rows, k] cut at a rule (one threshold, or one per label). */
export function microF1At(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number, threshold: Threshold): number {
  let tp = 0;
  let pred = 0;
  let pos = 0;
  for (let i = 0; i < probs.length; i++) {
    const t = typeof threshold === 'number' ? threshold : threshold[i % k];
    const p = probs[i] > t ? 1 : 0;
    pred += p;
    pos += labels[i];
    tp += p * labels[i];
  }
  return f1Of(tp, pos, pred);
}

/** Options of tuneThresholds(). */
export interface TuneOptions {
  /** One global threshold, or per label starting from the global one. */
  method: TuneMethod;
  /** per-label: labels with fewer validation positives keep the global threshold (default DEFAULT_MIN_THRESHOLD_SUPPORT). */
  minSupport?: number;
  /** Folds of the cross-validated estimate (default DEFAULT_THRESHOLD_FOLDS; 0 or 1: none). */
  folds?: number;
  /** The rule the tuned one is compared with (default 0.5). */
  baseline?: number;
}

/** Tuned thresholds of a split, with what they gain on it and the cross-validated estimate of what they gain on new rows. */
export interface TunedThresholds {
  /** The method used. */
  method: TuneMethod;
  /** The global threshold (per-label starts from it; untuned labels keep it). */
  global: number;
  /** One threshold per label, in label order (all equal to `global` for method 'global'). */
  perLabel: Float64Array;
  /** Labels (indices) whose threshold was tuned on their own (per-label only). */
  tunedLabels: number[];
  /** The minimum validation positives of a label tuned on its own. */
  minSupport: number;
  /** Rows of the split tuned on. */
  rows: number;
  /** Micro-F1 of the split at the baseline threshold. */
  f1Baseline: number;
  /** Micro-F1 of the split at the global threshold. */
  f1Global: number;
  /** Micro-F1 of the split at the method's thresholds (in-sample). */
  f1Tuned: number;
  /** The rule compared with (TuneOptions.baseline, default 0.5). */
  baseline: number;
  /** per-label: coordinate-ascent sweeps. */
  sweeps?: number;
  /** per-label: whether the sweeps stopped because no threshold moved. */
  converged?: boolean;
  /** Out-of-fold micro-F1 (tuned on the other folds) of the baseline, global and per-label rules, when folds > 1. */
  crossValidated?: {
    /** Number of folds. */
    folds: number;
    /** At the baseline threshold. */
    baseline: number;
    /** Tuned globally on the other folds. */
    global: number;
    /** Tuned per label on the other folds. */
    perLabel: number;
  };
}

/** The rows of fold f of `folds` (row r is in fold r % folds), as a [rows, k] sub-matrix pair. */
function foldRows(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number, folds: number, f: number, inFold: boolean) {
  const rows = probs.length / k;
  const keep: number[] = [];
  for (let r = 0; r < rows; r++) if ((r % folds === f) === inFold) keep.push(r);
  const p = new Float64Array(keep.length * k);
  const y = new Float64Array(keep.length * k);
  keep.forEach((r, i) => {
    for (let c = 0; c < k; c++) {
      p[i * k + c] = probs[r * k + c];
      y[i * k + c] = labels[r * k + c];
    }
  });
  return { p, y };
}

/**
 * Cross-validated micro-F1 of the three rules: for each fold, tune on the other folds and cut the fold's rows; the
 * counts of all folds are pooled into one micro-F1 per rule.
 */
function crossValidate(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number, folds: number, minSupport: number, baseline: number) {
  const sums = { baseline: [0, 0, 0], global: [0, 0, 0], perLabel: [0, 0, 0] };
  const add = (s: number[], p: Float64Array, y: Float64Array, t: Threshold) => {
    for (let i = 0; i < p.length; i++) {
      const cut = typeof t === 'number' ? t : t[i % k];
      const hit = p[i] > cut ? 1 : 0;
      s[0] += hit * y[i];
      s[1] += y[i];
      s[2] += hit;
    }
  };
  for (let f = 0; f < folds; f++) {
    const fit = foldRows(probs, labels, k, folds, f, false);
    const held = foldRows(probs, labels, k, folds, f, true);
    const g = tuneGlobal(fit.p, fit.y).threshold;
    const pl = tunePerLabel(fit.p, fit.y, k, g, { minSupport }).thresholds;
    add(sums.baseline, held.p, held.y, baseline);
    add(sums.global, held.p, held.y, g);
    add(sums.perLabel, held.p, held.y, pl);
  }
  const f = (s: number[]) => f1Of(s[0], s[1], s[2]);
  return { folds, baseline: f(sums.baseline), global: f(sums.global), perLabel: f(sums.perLabel) };
}

/** Tune thresholds on a split: logits and 0/1 labels flat row-major [rows, k]. */
export function tuneThresholds(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number, options: TuneOptions): TunedThresholds {
  if (!(TUNE_METHODS as readonly string[]).includes(options.method) || options.method === ('none' as string))
    throw new Error(`tune method must be global or per-label, got ${JSON.stringify(options.method)}`);
  if (logits.length !== labels.length || (k > 0 && logits.length % k !== 0)) throw new Error(`tuneThresholds: ${logits.length} logits and ${labels.length} labels for ${k} labels per row`);
  const minSupport = options.minSupport ?? DEFAULT_MIN_THRESHOLD_SUPPORT;
  const baseline = options.baseline ?? 0.5;
  const folds = options.folds ?? DEFAULT_THRESHOLD_FOLDS;
  const probs = probabilities(logits);
  const rows = k ? probs.length / k : 0;
  const g = tuneGlobal(probs, labels);
  const out: TunedThresholds = {
    method: options.method,
    global: g.threshold,
    perLabel: new Float64Array(k).fill(g.threshold),
    tunedLabels: [],
    minSupport,
    rows,
    f1Baseline: microF1At(probs, labels, k, baseline),
    f1Global: microF1At(probs, labels, k, g.threshold),
    f1Tuned: 0,
    baseline,
  };
  if (options.method === 'per-label') {
    const pl = tunePerLabel(probs, labels, k, g.threshold, { minSupport });
    out.perLabel = pl.thresholds;
    out.tunedLabels = pl.tuned;
    out.sweeps = pl.sweeps;
    out.converged = pl.converged;
  }
  out.f1Tuned = microF1At(probs, labels, k, out.perLabel);
  if (folds > 1 && rows >= folds) out.crossValidated = crossValidate(probs, labels, k, folds, minSupport, baseline);
  return out;
}
