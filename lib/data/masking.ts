/**
 * Masked-language-model masking with the semantics of transformers' `DataCollatorForLanguageModeling` (5.17), on the
 * packed layout of lib/tokenize.ts (ids + cuSeqlens, no padding).
 *
 * Every non-special token is selected with probability `mlmProbability`; of the selected, `maskReplaceProb` become
 * [MASK], `randomReplaceProb` become a uniform id in [0, len(tokenizer)) (special ids included, as HF draws them), the
 * rest stay. Labels hold the original id at selected positions and -100 elsewhere.
 *
 * The draws are bit-exact with HF's numpy path (`return_tensors='np'`) run with `generator = np.random.default_rng(
 * [seed, step])` on the right-padded batch: one Bernoulli (numpy's binomial inversion) per non-special cell for the
 * selection, then one per cell of the padded [batch, longest] grid for [MASK], one per cell for random, then
 * `integers(0, vocabSize, count)` (Lemire) for the random ids. A fresh generator per (seed, step) makes resume exact.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PCG64 } from './rng';
import type { PackedBatch } from '../model/tokenize';

/** Label value of positions that carry no loss (PyTorch's cross-entropy ignore_index). */
export const IGNORE_INDEX = -100;

/** What the masking needs from the tokenizer. */
export interface MaskingVocab {
  /** id of the mask token ([MASK]) */
  maskId: number;
  /** ids never selected: HF's `all_special_ids` ([CLS], [SEP], [PAD], [UNK], [MASK], ...) */
  specialIds: Iterable<number>;
  /** `len(tokenizer)`: random replacements are drawn in [0, vocabSize) */
  vocabSize: number;
}

/** The collator's probabilities (HF's argument names in camelCase, same defaults except mlmProbability). */
export interface MaskingOptions {
  /** probability that a non-special token is selected (default 0.3, ModernBERT's pre-training rate; HF's is 0.15) */
  mlmProbability?: number;
  /** share of the selected tokens replaced by [MASK] (default 0.8) */
  maskReplaceProb?: number;
  /** share of the selected tokens replaced by a random id (default 0.1); the rest stay unchanged */
  randomReplaceProb?: number;
}

/** A masked packed batch: corrupted ids, labels, and the selected positions with their targets (for sparse prediction). */
export interface MaskedBatch extends PackedBatch {
  /** original id at selected positions, IGNORE_INDEX elsewhere; same length as ids */
  labels: Int32Array;
  /** indices into ids of the selected positions, ascending */
  positions: Int32Array;
  /** labels at `positions` (the original ids) */
  targets: Int32Array;
}

/** `np.random.default_rng([seed, step])`: the generator of one training step's masking. */
export function maskingRng(seed: number, step: number): PCG64 {
  for (const [name, v] of [['seed', seed], ['step', step]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`masking ${name} must be an integer in [0, 2^32), got ${v}`);
  }
  // SeedSequence pads the entropy words with zeros to 4, so [seed, 0] hashes like [seed]: a bigint's 32-bit words = the list.
  return new PCG64(BigInt(seed) | (BigInt(step) << 32n));
}

/** numpy's `random_binomial(p, n=1)` (legacy-free Generator path): 0 for p == 0 without a draw, inversion otherwise. */
class Bernoulli {
  private readonly flip: boolean;
  private readonly p: number;
  private readonly q: number;
  private readonly qn: number;
  private readonly bound: number;

  constructor(p: number) {
    this.flip = p > 0.5;
    this.p = this.flip ? 1.0 - p : p;
    this.q = 1.0 - this.p;
    this.qn = Math.exp(1 * Math.log(this.q));
    this.bound = Math.trunc(Math.min(1, this.p + 10.0 * Math.sqrt(this.p * this.q + 1)));
  }

  /** One draw, as `generator.binomial(1, p)`. */
  draw(rng: PCG64, p0: number): number {
    if (p0 === 0) return 0;
    // random_binomial_inversion with n = 1
    let x = 0;
    let px = this.qn;
    let u = rng.nextDouble();
    while (u > px) {
      x++;
      if (x > this.bound) {
        x = 0;
        px = this.qn;
        u = rng.nextDouble();
      } else {
        u -= px;
        px = ((1 - x + 1) * this.p * px) / (x * this.q);
      }
    }
    return this.flip ? 1 - x : x;
  }
}

/** numpy's `buffered_bounded_lemire_uint32`: a uniform integer in [0, rng], as `integers(0, rng + 1)` for rng < 2^32 - 1. */
function lemire(gen: PCG64, rng: number): number {
  const excl = rng + 1;
  const scaled = (): [number, number] => {
    const m = BigInt(gen.nextUint32()) * BigInt(excl);
    return [Number(m >> 32n), Number(m & 0xffffffffn)];
  };
  let [hi, leftover] = scaled();
  if (leftover < excl) {
    const threshold = (0xffffffff - rng) % excl;
    while (leftover < threshold) [hi, leftover] = scaled();
  }
  return hi;
}

/** Checks the probabilities like HF's `__post_init__`, filling defaults. */
export function maskingOptions(options: MaskingOptions = {}): Required<MaskingOptions> {
  const { mlmProbability = 0.3, maskReplaceProb = 0.8, randomReplaceProb = 0.1 } = options;
  const check = (name: string, v: number) => {
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new RangeError(`${name} must be between 0 and 1, got ${v}`);
  };
  check('mlmProbability', mlmProbability);
  check('maskReplaceProb', maskReplaceProb);
  check('randomReplaceProb', randomReplaceProb);
  if (maskReplaceProb + randomReplaceProb > 1) throw new RangeError(`maskReplaceProb + randomReplaceProb must not exceed 1 (got ${maskReplaceProb} + ${randomReplaceProb})`);
  return { mlmProbability, maskReplaceProb, randomReplaceProb };
}

/** The masking collator: holds the vocabulary facts and probabilities; `mask` corrupts one packed batch. */
export class MlmMasker {
  /** The masking options with their defaults filled in. */
  readonly options: Required<MaskingOptions>;
  private readonly special: Set<number>;

  constructor(
    /** The tokenizer's vocabulary size, mask id and special ids. */
    readonly vocab: MaskingVocab,
    options: MaskingOptions = {},
  ) {
    this.options = maskingOptions(options);
    this.special = new Set(vocab.specialIds);
    const { maskId, vocabSize } = vocab;
    if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize >= 0xffffffff) throw new RangeError(`vocabSize must be a positive integer below 2^32 - 1, got ${vocabSize}`);
    if (!Number.isInteger(maskId) || maskId < 0 || maskId >= vocabSize) throw new RangeError(`maskId ${maskId} is not an id in [0, ${vocabSize})`);
  }

  /** Masks the batch for training step `step` of a run seeded `seed` (generator `maskingRng(seed, step)`). */
  maskStep(batch: PackedBatch, seed: number, step: number): MaskedBatch {
    return this.mask(batch, maskingRng(seed, step));
  }

  /** Masks the batch drawing from `rng` (HF's numpy-path draw order over the right-padded grid); the input is not modified. */
  mask(batch: PackedBatch, rng: PCG64): MaskedBatch {
    const { ids: orig, cuSeqlens } = batch;
    const { mlmProbability, maskReplaceProb, randomReplaceProb } = this.options;
    const n = orig.length;
    const rows = cuSeqlens.length - 1;
    if (rows < 1 || cuSeqlens[0] !== 0 || cuSeqlens[rows] !== n) throw new Error(`mask: cuSeqlens must run from 0 to ids.length (${n})`);
    let width = 0;
    for (let b = 0; b < rows; b++) {
      const len = cuSeqlens[b + 1] - cuSeqlens[b];
      if (len < 0) throw new Error(`mask: cuSeqlens is not non-decreasing at ${b}`);
      width = Math.max(width, len);
    }
    // Visits every cell of the right-padded [rows, width] grid in row-major order; pos < 0 for padding.
    const eachCell = (f: (pos: number) => void) => {
      for (let b = 0; b < rows; b++) {
        const start = cuSeqlens[b];
        const len = cuSeqlens[b + 1] - start;
        for (let j = 0; j < width; j++) f(j < len ? start + j : -1);
      }
    };
    const selected = new Uint8Array(n);
    const select = new Bernoulli(mlmProbability);
    eachCell((pos) => {
      const p = pos >= 0 && !this.special.has(orig[pos]) ? mlmProbability : 0; // [PAD] cells are special
      if (select.draw(rng, p) && pos >= 0) selected[pos] = 1;
    });
    const ids = Int32Array.from(orig);
    const replaced = new Uint8Array(n);
    const toMask = new Bernoulli(maskReplaceProb);
    eachCell((pos) => {
      if (toMask.draw(rng, maskReplaceProb) && pos >= 0 && selected[pos]) {
        replaced[pos] = 1;
        ids[pos] = this.vocab.maskId;
      }
    });
    if (maskReplaceProb !== 1 && randomReplaceProb !== 0) {
      const scaled = randomReplaceProb / (1 - maskReplaceProb);
      const toRandom = new Bernoulli(scaled);
      const randomPositions: number[] = [];
      eachCell((pos) => {
        if (toRandom.draw(rng, scaled) && pos >= 0 && selected[pos] && !replaced[pos]) randomPositions.push(pos);
      });
      for (const pos of randomPositions) ids[pos] = this.vocab.vocabSize === 1 ? 0 : lemire(rng, this.vocab.vocabSize - 1);
    }
    const labels = new Int32Array(n).fill(IGNORE_INDEX);
    let count = 0;
    for (let i = 0; i < n; i++) count += selected[i];
    const positions = new Int32Array(count);
    const targets = new Int32Array(count);
    for (let i = 0, k = 0; i < n; i++) {
      if (!selected[i]) continue;
      labels[i] = orig[i];
      positions[k] = i;
      targets[k++] = orig[i];
    }
    return { ids, cuSeqlens, labels, positions, targets };
  }
}

/** A special-token entry of tokenizer_config.json / special_tokens_map.json: a string or `{content: ...}`. */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

function readJsonObject(file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot read JSON: ${(err as Error).message}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${file}: not a JSON object`);
  return value as Record<string, unknown>;
}

const SPECIAL_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'];
const EXTRA_KEYS = ['additional_special_tokens', 'extra_special_tokens'];

/**
 * MaskingVocab of a tokenizer.json (or a folder with one) as transformers sees it: maskId = `mask_token_id`, specialIds
 * = `all_special_ids` (the tokens named in tokenizer_config.json / special_tokens_map.json, not every added token
 * flagged special), vocabSize = `len(tokenizer)` (base vocabulary plus added tokens).
 */
export function maskingVocab(tokenizerPath: string): MaskingVocab {
  const file = fs.statSync(tokenizerPath, { throwIfNoEntry: false })?.isDirectory() ? path.join(tokenizerPath, 'tokenizer.json') : tokenizerPath;
  if (!fs.existsSync(file)) throw new Error(`${file}: tokenizer not found`);
  const json = readJsonObject(file);
  const idOf = new Map<string, number>();
  const model = json.model as { vocab?: unknown } | undefined;
  if (model && model.vocab && typeof model.vocab === 'object' && !Array.isArray(model.vocab)) {
    for (const [tok, id] of Object.entries(model.vocab as Record<string, number>)) idOf.set(tok, id);
  } else if (Array.isArray(model?.vocab)) {
    (model!.vocab as [string, number][]).forEach(([tok], id) => idOf.set(tok, id)); // Unigram: [piece, score] by id
  }
  const added = Array.isArray(json.added_tokens) ? (json.added_tokens as { id: number; content: string }[]) : [];
  for (const t of added) idOf.set(t.content, t.id);
  let maxId = -1;
  for (const id of idOf.values()) maxId = Math.max(maxId, id);
  const dir = path.dirname(file);
  const named = new Set<string>();
  let maskName: string | undefined;
  for (const name of ['special_tokens_map.json', 'tokenizer_config.json']) {
    const f = path.join(dir, name);
    if (!fs.existsSync(f)) continue;
    const cfg = readJsonObject(f);
    maskName ??= tokenContent(cfg.mask_token);
    for (const k of SPECIAL_KEYS) {
      const c = tokenContent(cfg[k]);
      if (c !== undefined) named.add(c);
    }
    for (const k of EXTRA_KEYS) {
      const v = cfg[k];
      const list = Array.isArray(v) ? v : v && typeof v === 'object' ? Object.values(v) : [];
      for (const e of list) {
        const c = tokenContent(e);
        if (c !== undefined) named.add(c);
      }
    }
  }
  if (maskName === undefined) throw new Error(`${dir}: the tokenizer names no mask_token (tokenizer_config.json); MLM needs one`);
  const maskId = idOf.get(maskName);
  if (maskId === undefined) throw new Error(`${file}: mask token '${maskName}' is not in the vocabulary`);
  const specialIds: number[] = [];
  for (const c of named) {
    const id = idOf.get(c);
    if (id !== undefined) specialIds.push(id);
  }
  return { maskId, specialIds: specialIds.sort((a, b) => a - b), vocabSize: maxId + 1 };
}
