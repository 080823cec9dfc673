/**
 * Ranked label scores of one row of logits, written straight to JSON text: the answer of /predict and of the Hugging
 * Face route, where a model with thousands of labels returns every one of them. This is most of a request's work on
 * the event loop outside the forward, so it avoids per-label objects and comparator sorts: the ranking is a native
 * numeric sort of packed keys, and the JSON is concatenated from precomputed label prefixes.
 */
import { sigmoid, thresholdOf, type Threshold } from '../eval/metrics';

/** What a score is: sigmoid(logit), softmax over the labels, or the logit itself. */
export type ScoreFunction = 'sigmoid' | 'softmax' | 'none';

/** Which labels to keep: those whose sigmoid probability is above threshold (one, or one per label), at most topK of them. */
export interface KeepOptions {
  threshold?: Threshold;
  topK?: number;
}

/** Bits of a label's name-order rank inside a sort key: up to 2^21 labels. */
const RANK_BITS = 21;
const RANK_SPAN = 2 ** RANK_BITS;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** A float32 as an unsigned 32-bit integer with the same order (negative floats flipped, positive ones above them). */
function orderedBits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  return b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
}

/** A JSON number as JSON.stringify writes it (NaN and ±Infinity become null). */
const jsonNumber = (x: number) => (Number.isFinite(x) ? String(x) : 'null');

/** Ranks and writes the scores of one model's labels. */
export class LabelScores {
  /** '{"label":<label as JSON>,"score":' per label. */
  private readonly prefixes: string[];
  /** Each label's position in name order (ties in score are broken by name, as JSON.stringify of a sorted list would be). */
  private readonly nameRank: Int32Array;
  /** nameRank's inverse: the label at each name position. */
  private readonly byName: Int32Array;

  constructor(readonly labels: string[]) {
    if (labels.length > RANK_SPAN) throw new Error(`LabelScores: at most ${RANK_SPAN} labels, got ${labels.length}`);
    this.prefixes = labels.map((l) => `{"label":${JSON.stringify(l)},"score":`);
    const order = labels.map((_, i) => i).sort((a, b) => (labels[a] < labels[b] ? -1 : labels[a] > labels[b] ? 1 : a - b));
    this.nameRank = new Int32Array(labels.length);
    this.byName = Int32Array.from(order);
    order.forEach((label, rank) => (this.nameRank[label] = rank));
  }

  /** The scores of a row under fn. */
  scores(row: ArrayLike<number>, fn: ScoreFunction): Float64Array {
    const n = this.labels.length;
    const out = new Float64Array(n);
    if (fn === 'none') for (let i = 0; i < n; i++) out[i] = row[i];
    else if (fn === 'sigmoid') for (let i = 0; i < n; i++) out[i] = sigmoid(row[i]);
    else {
      let max = -Infinity;
      for (let i = 0; i < n; i++) if (row[i] > max) max = row[i];
      let sum = 0;
      for (let i = 0; i < n; i++) sum += out[i] = Math.exp(row[i] - max);
      for (let i = 0; i < n; i++) out[i] /= sum;
    }
    return out;
  }

  /**
   * Label indices best first: by score descending, then by label name. Every ScoreFunction is increasing in the logit,
   * so the order is the logits' (float32, packed with the name rank into one exactly representable float64 key and
   * sorted natively); runs of equal score whose logits differ (a saturated sigmoid or an underflowed softmax) are then
   * re-sorted by name.
   */
  rank(row: ArrayLike<number>, score: Float64Array, keep: KeepOptions = {}): Int32Array {
    const n = this.labels.length;
    const thr = keep.threshold === undefined ? undefined : thresholdOf(keep.threshold, n);
    const keys = new Float64Array(n);
    let m = 0;
    for (let i = 0; i < n; i++) {
      if (thr !== undefined && !(sigmoid(row[i]) > thr(i))) continue;
      const logit = row[i];
      // NaN logits sort last, as (NaN > x) is false for every x
      const bits = Number.isNaN(logit) ? 0 : orderedBits(logit);
      keys[m++] = bits * RANK_SPAN + (RANK_SPAN - 1 - this.nameRank[i]);
    }
    const sorted = keys.subarray(0, m).sort();
    const labelAt = (j: number) => this.byName[RANK_SPAN - 1 - (sorted[m - 1 - j] % RANK_SPAN)];
    const k = keep.topK === undefined ? m : Math.min(keep.topK, m);
    // past the cut, take in the labels whose score equals the last one kept: the name order among them decides
    let full = k;
    while (full > 0 && full < m && score[labelAt(full)] === score[labelAt(full - 1)]) full++;
    const out = new Int32Array(full);
    for (let j = 0; j < full; j++) out[j] = labelAt(j);
    // equal scores from different logits: order such runs by name
    for (let a = 0; a < full; ) {
      let b = a + 1;
      while (b < full && score[out[b]] === score[out[a]]) b++;
      if (b - a > 1) out.subarray(a, b).sort((x, y) => this.nameRank[x] - this.nameRank[y]);
      a = b;
    }
    return out.subarray(0, k);
  }

  /** JSON text of a row's [{label, score}, ...], best first, narrowed by keep. */
  json(row: ArrayLike<number>, fn: ScoreFunction, keep: KeepOptions = {}): string {
    const score = this.scores(row, fn);
    const order = this.rank(row, score, keep);
    // joined, not concatenated: += builds a rope of ~2 pieces per label that the reply then flattens (Buffer.byteLength
    // for Content-Length), and a forward's worth of such ropes built in one tick cost the event loop ~1.5x as much
    const parts = new Array<string>(order.length);
    for (let j = 0; j < order.length; j++) parts[j] = this.prefixes[order[j]] + jsonNumber(score[order[j]]) + '}';
    return `[${parts.join(',')}]`;
  }

  /** JSON text of a list with json() of each of the `rows` rows of logits (row-major, one row per text). */
  jsonRows(logits: Float32Array, rows: number, fn: ScoreFunction, keep: KeepOptions = {}): string {
    const k = this.labels.length;
    const parts = new Array<string>(rows);
    for (let i = 0; i < rows; i++) parts[i] = this.json(logits.subarray(i * k, (i + 1) * k), fn, keep);
    return `[${parts.join(',')}]`;
  }
}
