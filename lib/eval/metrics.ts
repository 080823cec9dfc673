/**
 * The seed's `compute_metrics` for multi-label classification, with scikit-learn's definitions:
 *
 *   probs = sigmoid(logits); preds = probs > threshold
 *   precision/recall/f1 = precision_recall_fscore_support(labels, preds, average='micro'|'macro', zero_division=0)
 *   exact_match = accuracy_score(labels, preds)      # subset accuracy
 *   hamming_loss = hamming_loss(labels, preds); label_accuracy = 1 - hamming_loss
 *
 * Matches sklearn to ~1e-15 on label matrices with 2+ columns (multilabel-indicator). With a single column
 * sklearn would switch to binary/multiclass semantics; here it stays one multi-label column.
 */

/** The seed's metric names, as reported by the Trainer's evaluate (without the `eval_` prefix). */
export interface Metrics {
  /** Precision over every (row, label) cell. */
  precision_micro: number;
  /** Recall over every (row, label) cell. */
  recall_micro: number;
  /** Micro-F1: F1 over every (row, label) cell (the seed's `f1`, which picks the best model). */
  f1: number;
  /** Precision per label, averaged over the labels. */
  precision_macro: number;
  /** Recall per label, averaged over the labels. */
  recall_macro: number;
  /** F1 per label, averaged over the labels. */
  f1_macro: number;
  /** Rows whose predicted label set is exactly the true one (subset accuracy). */
  exact_match: number;
  /** Cells predicted wrongly, as a fraction of all cells. */
  hamming_loss: number;
  /** 1 − hamming_loss. */
  label_accuracy: number;
}

/**
 * A [rows, labels] matrix: either an array of rows, or a flat row-major array (Float32Array from
 * LabelBinarizer.transform, logits from the model) whose column count is given separately.
 */
export type Matrix = ArrayLike<number>[] | ArrayLike<number>;

/** Logistic sigmoid in double precision (same formula as classifier.ts, so predictions agree). */
export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** Per-label confusion counts of a thresholded prediction. */
export interface LabelCounts {
  /** true positives per label */
  tp: Float64Array;
  /** predicted positives per label (tp + fp) */
  pred: Float64Array;
  /** actual positives per label (tp + fn) */
  true: Float64Array;
  /** rows whose predicted label set equals the true set */
  exactRows: number;
  /** cells where prediction != truth */
  mismatches: number;
  rows: number;
  numLabels: number;
}

function isRows(m: Matrix): m is ArrayLike<number>[] {
  return Array.isArray(m) && m.length > 0 && typeof m[0] !== 'number';
}

/** Normalizes a Matrix into row accessors; `numLabels` is required for flat input. */
function asRows(m: Matrix, what: string, numLabels?: number): { rows: number; cols: number; at: (r: number, c: number) => number } {
  if (isRows(m)) {
    const cols = m[0].length;
    if (numLabels !== undefined && numLabels !== cols) throw new Error(`${what}: rows have ${cols} columns, numLabels is ${numLabels}`);
    m.forEach((row, r) => {
      if (row.length !== cols) throw new Error(`${what}: row ${r} has ${row.length} columns, row 0 has ${cols}`);
    });
    return { rows: m.length, cols, at: (r, c) => m[r][c] };
  }
  if (m.length === 0) return { rows: 0, cols: numLabels ?? 0, at: () => 0 };
  if (numLabels === undefined || !Number.isInteger(numLabels) || numLabels <= 0) {
    throw new Error(`${what}: a flat matrix needs a positive integer numLabels`);
  }
  if (m.length % numLabels !== 0) throw new Error(`${what}: length ${m.length} is not a multiple of numLabels ${numLabels}`);
  return { rows: m.length / numLabels, cols: numLabels, at: (r, c) => m[r * numLabels + c] };
}

/**
 * A decision rule: one threshold for every label, or one per label (in label order); a label is predicted when
 * sigmoid(logit) > its threshold.
 */
export type Threshold = number | ArrayLike<number>;

/** The per-label thresholds of a rule as a function of the label index (checked against the label count). */
export function thresholdOf(threshold: Threshold, numLabels: number): (label: number) => number {
  if (typeof threshold === 'number') return () => threshold;
  if (threshold.length !== numLabels) throw new Error(`${threshold.length} per-label thresholds for ${numLabels} labels`);
  return (c) => threshold[c];
}

/** Thresholds sigmoid(logits) and counts tp / predicted / true per label, exact rows and mismatched cells. */
export function countLabels(logits: Matrix, labels: Matrix, threshold: Threshold = 0.5, numLabels?: number): LabelCounts {
  const L = asRows(logits, 'logits', numLabels);
  const Y = asRows(labels, 'labels', numLabels ?? (L.rows > 0 ? L.cols : undefined));
  if (L.rows !== Y.rows || (L.rows > 0 && L.cols !== Y.cols)) {
    throw new Error(`logits are [${L.rows}, ${L.cols}] but labels are [${Y.rows}, ${Y.cols}]`);
  }
  const n = L.rows;
  const k = L.cols;
  const thr = thresholdOf(threshold, k);
  const tp = new Float64Array(k);
  const pred = new Float64Array(k);
  const tru = new Float64Array(k);
  let exactRows = 0;
  let mismatches = 0;
  for (let r = 0; r < n; r++) {
    let rowOk = true;
    for (let c = 0; c < k; c++) {
      const y = Y.at(r, c);
      if (y !== 0 && y !== 1) throw new Error(`labels[${r}][${c}] is ${y}, expected 0 or 1`);
      const p = sigmoid(L.at(r, c)) > thr(c) ? 1 : 0;
      if (p) pred[c]++;
      if (y) tru[c]++;
      if (p && y) tp[c]++;
      if (p !== y) {
        mismatches++;
        rowOk = false;
      }
    }
    if (rowOk) exactRows++;
  }
  return { tp, pred, true: tru, exactRows, mismatches, rows: n, numLabels: k };
}

/** a / b, or 0 when b is 0 (sklearn's zero_division=0). */
function div0(a: number, b: number): number {
  return b === 0 ? 0 : a / b;
}

function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return xs.length === 0 ? 0 : s / xs.length;
}

/** The seed's metrics from confusion counts (sklearn definitions, zero_division=0). */
export function metricsFromCounts(c: LabelCounts): Metrics {
  let tp = 0;
  let pred = 0;
  let tru = 0;
  const k = c.numLabels;
  const P = new Float64Array(k);
  const R = new Float64Array(k);
  const F = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    tp += c.tp[j];
    pred += c.pred[j];
    tru += c.true[j];
    P[j] = div0(c.tp[j], c.pred[j]);
    R[j] = div0(c.tp[j], c.true[j]);
    // sklearn: f = (1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp) = 2 tp / (true + pred)
    F[j] = div0(2 * c.tp[j], c.true[j] + c.pred[j]);
  }
  const cells = c.rows * k;
  const hamming = div0(c.mismatches, cells);
  return {
    precision_micro: div0(tp, pred),
    recall_micro: div0(tp, tru),
    f1: div0(2 * tp, tru + pred),
    precision_macro: mean(P),
    recall_macro: mean(R),
    f1_macro: mean(F),
    exact_match: div0(c.exactRows, c.rows),
    hamming_loss: hamming,
    label_accuracy: 1 - hamming,
  };
}

/**
 * The seed's compute_metrics: logits and 0/1 labels as arrays of rows, or as flat row-major arrays with
 * `numLabels` columns; a label is predicted when sigmoid(logit) > threshold (one number, or one per label).
 */
export function computeMetrics(logits: Matrix, labels: Matrix, threshold: Threshold = 0.5, numLabels?: number): Metrics {
  return metricsFromCounts(countLabels(logits, labels, threshold, numLabels));
}

/** Mean BCEWithLogits over all rows and labels, in float64 (equals HF's per-batch means weighted by batch size). */
export function bceWithLogits(logits: ArrayLike<number>, targets: ArrayLike<number>): number {
  if (logits.length !== targets.length) throw new Error(`bceWithLogits: ${logits.length} logits, ${targets.length} targets`);
  let s = 0;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i];
    s += Math.max(x, 0) - x * targets[i] + Math.log1p(Math.exp(-Math.abs(x)));
  }
  return logits.length ? s / logits.length : 0;
}
