/**
 * The losses of multi-label classification runs: BCEWithLogits (the seed's), BCEWithLogits with a per-label pos_weight
 * (`--pos-weight auto|none|FILE`, auto = negatives / positives of each label in the training split, capped at
 * `--max-pos-weight`), and the asymmetric loss of Ridnik et al., ICCV 2021 (`--loss asl`). The training step computes
 * them natively (native/multilabel_loss.cpp); the evaluation loss is the same loss, recomputed here in float64 from
 * the logits, as HF Trainer reports a custom compute_loss on the evaluation split too.
 */
import { FileError, UsageError } from '../errors';
import { bceWithLogits } from '../eval/metrics';
import { readJsonFile } from '../files';
import type { MultiLabelLoss } from '../native';

/** `--loss`: BCEWithLogits or the asymmetric loss. */
export const LOSS_TYPES = ['bce', 'asl'] as const;

/** The ASL parameters of the paper's experiments (and its official train.py): gamma_neg 4, gamma_pos 0, clip 0.05. */
export const ASL_DEFAULTS = { gammaNeg: 4, gammaPos: 0, clip: 0.05 } as const;

/** Default cap of `--pos-weight auto` (a label seen once among n training rows would otherwise weigh n − 1). */
export const DEFAULT_MAX_POS_WEIGHT = 100;

/** The loss options of train() (part of TrainOptions). */
export interface LossOptions {
  /** Classification loss: 'bce' (BCEWithLogits, default) or 'asl' (the asymmetric loss of Ridnik et al., ICCV 2021). */
  loss?: 'bce' | 'asl';
  /**
   * BCEWithLogits' pos_weight: 'none' (default), 'auto' (negatives / positives per label in the training split, capped
   * at maxPosWeight), a JSON file of {CUI: weight} or of an array in label order, or those values themselves.
   */
  posWeight?: 'auto' | 'none' | string | Record<string, number> | number[];
  /** Cap of posWeight 'auto' (default 100). */
  maxPosWeight?: number;
  /** ASL's focusing exponent of the negatives, γ− (default 4). */
  aslGammaNeg?: number;
  /** ASL's focusing exponent of the positives, γ+ (default 0). */
  aslGammaPos?: number;
  /** ASL's probability margin m (default 0.05): negatives below it are discarded. */
  aslClip?: number;
}

/** Throws a UsageError for loss options that do not go together (checked before any data is read). */
export function checkLossOptions(o: LossOptions): void {
  if (o.loss !== undefined && !LOSS_TYPES.includes(o.loss)) throw new UsageError(`loss must be bce or asl, got ${o.loss}`);
  const weighted = o.posWeight !== undefined && o.posWeight !== 'none';
  if (o.loss === 'asl' && weighted)
    throw new UsageError('pos weight applies to --loss bce: the asymmetric loss balances positives and negatives through its gamma_neg, gamma_pos and clip');
  if (o.loss !== 'asl') {
    const asl = (['aslGammaNeg', 'aslGammaPos', 'aslClip'] as const).find((k) => o[k] !== undefined);
    if (asl) throw new UsageError(`${asl.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`)} applies to --loss asl`);
  }
  if (o.maxPosWeight !== undefined && o.posWeight !== 'auto') throw new UsageError('max pos weight applies to --pos-weight auto');
}

/** The loss of a classification run, resolved against its labels and training targets. */
export interface ResolvedLoss {
  /** What trainStep is given; undefined for the default (BCEWithLogits without pos_weight: the seed's step, unchanged). */
  native?: MultiLabelLoss;
  /** The evaluation loss: the same loss in float64, mean over rows × labels. */
  evalLoss(logits: ArrayLike<number>, targets: ArrayLike<number>): number;
  /** One line for the run's notices and training_args.json's eval_loss. */
  description: string;
  /** A short name (the loss axis of the training curves). */
  name: string;
}

/**
 * The run's loss: `labels` in model order, `yTrain` the training split's multi-hot targets (rows × labels) for
 * `--pos-weight auto`. `info` gets one line on the weights.
 */
export function resolveLoss(o: LossOptions, labels: readonly string[], yTrain: Float32Array, info: (line: string) => void): ResolvedLoss {
  checkLossOptions(o);
  if (o.loss === 'asl') {
    const p = { gammaNeg: o.aslGammaNeg ?? ASL_DEFAULTS.gammaNeg, gammaPos: o.aslGammaPos ?? ASL_DEFAULTS.gammaPos, clip: o.aslClip ?? ASL_DEFAULTS.clip };
    return {
      native: { type: 'asl', ...p },
      evalLoss: (x, y) => asymmetricLoss(x, y, p),
      description: `asymmetric loss (gamma_neg ${p.gammaNeg}, gamma_pos ${p.gammaPos}, clip ${p.clip}; focusing weight without gradient), mean over rows and labels`,
      name: 'asymmetric loss',
    };
  }
  const weights = posWeights(o, labels, yTrain);
  if (!weights) return { evalLoss: bceWithLogits, description: 'BCEWithLogits mean over all eval rows and labels', name: 'BCE with logits' };
  let lo = Infinity;
  let hi = -Infinity;
  for (const w of weights) [lo, hi] = [Math.min(lo, w), Math.max(hi, w)];
  const capped = o.posWeight === 'auto' ? weights.filter((w) => w === (o.maxPosWeight ?? DEFAULT_MAX_POS_WEIGHT)).length : 0;
  info(
    `pos_weight ${o.posWeight === 'auto' ? `auto (negatives / positives per label in the training split${capped ? `; ${capped} of ${weights.length} capped at --max-pos-weight ${o.maxPosWeight ?? DEFAULT_MAX_POS_WEIGHT}` : ''})` : 'given'}: ` +
      `${lo.toPrecision(4)} to ${hi.toPrecision(4)}`,
  );
  return {
    native: { type: 'bce', posWeight: weights },
    evalLoss: (x, y) => weightedBceWithLogits(x, y, weights),
    description: 'BCEWithLogits with pos_weight, mean over all eval rows and labels',
    name: 'BCE with logits, pos_weight',
  };
}

/** The per-label pos_weight of the options, in label order (undefined: none). */
export function posWeights(o: LossOptions, labels: readonly string[], yTrain: Float32Array): Float32Array | undefined {
  const given = o.posWeight ?? 'none';
  if (given === 'none') return undefined;
  if (given === 'auto') return autoPosWeights(yTrain, labels.length, o.maxPosWeight ?? DEFAULT_MAX_POS_WEIGHT);
  if (typeof given === 'string') return weightsInLabelOrder(readJsonFile<unknown>(given), labels, given);
  return weightsInLabelOrder(given, labels);
}

/** negatives / positives of each label over the rows of `y` (rows × k multi-hot), capped at `max`. */
export function autoPosWeights(y: Float32Array, k: number, max: number): Float32Array {
  const rows = y.length / k;
  const pos = new Float64Array(k);
  for (let i = 0; i < y.length; i++) if (y[i] > 0) pos[i % k]++;
  const w = new Float32Array(k);
  for (let j = 0; j < k; j++) w[j] = pos[j] ? Math.min((rows - pos[j]) / pos[j], max) : max;
  return w;
}

/**
 * A JSON map CUI → weight or an array in label order, checked against the labels: errors name the label (a FileError
 * naming `file` and the key, or for values passed to train() a UsageError).
 */
function weightsInLabelOrder(v: unknown, labels: readonly string[], file?: string): Float32Array {
  const fail = (msg: string, key?: string): never => {
    throw file ? new FileError(file, msg, key) : new UsageError(`pos weight: ${key !== undefined ? `${key}: ` : ''}${msg}`);
  };
  const check = (x: unknown, key: string): number => {
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) fail(`the weight must be a finite number >= 0, got ${JSON.stringify(x)}`, key);
    return x as number;
  };
  if (Array.isArray(v)) {
    if (v.length !== labels.length)
      fail(`${v.length} weights, but the training split has ${labels.length} labels (an array is in label order: ${labels.slice(0, 3).join(', ')}${labels.length > 3 ? ', ...' : ''})`);
    return Float32Array.from(v, (x, i) => check(x, `${i} (${labels[i]})`));
  }
  if (typeof v !== 'object' || v === null) return fail(`expected a JSON object {"CUI": weight, ...} or an array in label order, got ${JSON.stringify(v)?.slice(0, 40)}`);
  const map = v as Record<string, unknown>;
  const missing = labels.filter((l) => !Object.hasOwn(map, l));
  if (missing.length) fail(`no weight for ${missing[0]}${missing.length > 1 ? ` (nor for ${missing.length - 1} more labels of the training split)` : ''}; every label needs one`);
  const known = new Set(labels);
  const extra = Object.keys(map).filter((key) => !known.has(key));
  if (extra.length) fail(`not a label of the training split${extra.length > 1 ? ` (nor are ${extra.length - 1} more keys)` : ''}`, extra[0]);
  return Float32Array.from(labels, (l) => check(map[l], l));
}

/** Mean BCEWithLogits with pos_weight (torch's BCEWithLogitsLoss(pos_weight)) over rows × labels, in float64. */
export function weightedBceWithLogits(logits: ArrayLike<number>, targets: ArrayLike<number>, posWeight: ArrayLike<number>): number {
  if (logits.length !== targets.length) throw new Error(`weightedBceWithLogits: ${logits.length} logits, ${targets.length} targets`);
  const k = posWeight.length;
  let s = 0;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i];
    const y = targets[i];
    // -[w y log σ(x) + (1 - y) log(1 - σ(x))], with -log σ(x) = max(-x, 0) + log1p(exp(-|x|))
    s += (1 - y) * x + (1 + (posWeight[i % k] - 1) * y) * (Math.max(-x, 0) + Math.log1p(Math.exp(-Math.abs(x))));
  }
  return logits.length ? s / logits.length : 0;
}

/** Mean asymmetric loss over rows × labels in float64, as native/multilabel_loss.cpp computes it in training. */
export function asymmetricLoss(logits: ArrayLike<number>, targets: ArrayLike<number>, p: { gammaNeg: number; gammaPos: number; clip: number }): number {
  if (logits.length !== targets.length) throw new Error(`asymmetricLoss: ${logits.length} logits, ${targets.length} targets`);
  const eps = 1e-8;
  let s = 0;
  for (let i = 0; i < logits.length; i++) {
    const y = targets[i];
    const pPos = 1 / (1 + Math.exp(-logits[i]));
    const pNeg = p.clip > 0 ? Math.min(1 - pPos + p.clip, 1) : 1 - pPos;
    let l = y * Math.log(Math.max(pPos, eps)) + (1 - y) * Math.log(Math.max(pNeg, eps));
    if (p.gammaNeg > 0 || p.gammaPos > 0) l *= (1 - (pPos * y + pNeg * (1 - y))) ** (p.gammaPos * y + p.gammaNeg * (1 - y));
    s -= l;
  }
  return logits.length ? s / logits.length : 0;
}
