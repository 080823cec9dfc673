/**
 * The user-facing model: load a Hugging Face folder, predict CUIs for text, save it back.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileError } from '../errors';
import { readJsonFile } from '../files';
import { labelsOf, type HFConfig } from './config';
import { saveModelFolder } from './folder';
import type { NativeConfig, NativeModel } from '../native';
import { packBatch, type TextTokenizer } from './tokenize';
import { createModel, openModel, resolveDtype, type BatchingOptions, type ComputeDtype, type LoadOptions, type OpenedModel } from './open';
import { sigmoid, thresholdOf, type Threshold } from '../eval/metrics';
import { folderThresholds, writeThresholds, type ModelThresholds } from './thresholds';
import { BatchQueue } from '../serve/queue';
import { embedSequences, resolvePooling, splitRows, type EmbedTextOptions } from './embed';

export { resolveDevice, resolveDtype, type BatchingOptions, type ComputeDtype, type DeviceOption, type LoadOptions, type OpenedModel } from './open';

/** The labels whose probability is above the threshold, most probable first, with their probabilities. */
export interface Prediction {
  /** The labels predicted (above their threshold), most probable first. */
  labels: string[];
  /** The probability of each predicted label (of every label with threshold 0). */
  probabilities: Record<string, number>;
}

/** Options of predict(). */
export interface PredictOptions {
  /**
   * A label is predicted when sigmoid(logit) > threshold (0 returns every label). Default: the model's tuned
   * thresholds (thresholds.json, one per label) when it has them, else 0.5.
   */
  threshold?: number;
}

/** Turn one row of logits into a Prediction (labels with p > threshold, or > their own threshold, sorted by p descending). */
export function toPrediction(labels: string[], logits: ArrayLike<number>, threshold: Threshold = 0.5): Prediction {
  if (logits.length !== labels.length) throw new Error(`toPrediction: ${logits.length} logits for ${labels.length} labels`);
  const thr = thresholdOf(threshold, labels.length);
  const picked: Array<[string, number]> = [];
  for (let i = 0; i < labels.length; i++) {
    const p = sigmoid(logits[i]);
    const t = thr(i);
    if (p > t || t <= 0) picked.push([labels[i], p]);
  }
  picked.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const probabilities: Record<string, number> = {};
  for (const [l, p] of picked) probabilities[l] = p;
  return { labels: picked.map(([l]) => l), probabilities };
}

/** Read a label_names.json (CUI → readable name); errors name the file. */
export function readLabelNames(file: string): Record<string, string> {
  const v = readJsonFile<unknown>(file);
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string'))
    throw new FileError(file, 'must be an object {"CUI": "readable name"}');
  return v as Record<string, string>;
}

/** Symbol.dispose (Node >= 18.18 and 20 have it; Node defines it as Symbol.for('nodejs.dispose'), the fallback). */
const DISPOSE: typeof Symbol.dispose = Symbol.dispose ?? (Symbol.for('nodejs.dispose') as typeof Symbol.dispose);

/** A ModernBERT model with its tokenizer and labels, living in native memory until close() (or `using`). */
export class Classifier {
  /** Label names in output order (config.json's id2label). */
  readonly labels: string[];
  /** CUI → readable name, from label_names.json when the folder has one. */
  labelNames: Record<string, string>;
  /**
   * The tuned decision thresholds (thresholds.json of the folder, written by `train`/`eval --tune-thresholds`):
   * predict() cuts each label at its own threshold unless a `threshold` is given. Undefined: 0.5 for every label.
   */
  thresholds: ModelThresholds | undefined;
  private nativeModel: NativeModel | null;
  private readonly batchSize: number;
  /** Compute precision of logits()/predict() (set from options.dtype; may be changed). */
  dtype: ComputeDtype;
  /**
   * The dynamic-batching queue predict() goes through: concurrent calls are merged into packed forwards of at most
   * maxBatchTokens tokens / maxBatchSize texts, and each caller gets its own rows (serve/queue.ts).
   */
  readonly queue: BatchQueue;

  /** The config.json object. */
  readonly config: HFConfig;
  /** What the native model was built from. */
  readonly nativeConfig: NativeConfig;
  /** The model's tokenizer (tokenizer.json). */
  readonly tokenizer: TextTokenizer;
  /** Where the model runs. */
  readonly device: 'cpu' | 'cuda';
  /** Inputs are truncated to this many tokens. */
  readonly maxLength: number;

  /** Wraps an opened or created native model (load() and createClassifier() build one; see OpenedModel). */
  constructor(m: OpenedModel, options: { labelNames?: Record<string, string>; thresholds?: ModelThresholds; batchSize?: number; dtype?: ComputeDtype } & BatchingOptions = {}) {
    const { model, config, nativeConfig } = m;
    ({ config: this.config, nativeConfig: this.nativeConfig, tokenizer: this.tokenizer, device: this.device, maxLength: this.maxLength } = m);
    this.nativeModel = model;
    this.dtype = resolveDtype(options.dtype);
    this.labels = labelsOf(config) ?? Array.from({ length: nativeConfig.numLabels }, (_, i) => `LABEL_${i}`);
    this.labelNames = options.labelNames ?? {};
    this.thresholds = options.thresholds;
    this.batchSize = options.batchSize ?? 64;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${options.batchSize}`);
    this.queue = new BatchQueue(
      { numLabels: nativeConfig.numLabels, forward: (ids, cuSeqlens) => this.model.forward(ids, cuSeqlens, { bf16: resolveDtype(this.dtype) === 'bfloat16' }) },
      { maxBatchTokens: options.maxBatchTokens, maxBatchSize: options.maxBatchSize, maxQueue: options.maxQueue },
    );
  }

  /** The native model (for training steps and weight I/O); throws once closed. */
  get model(): NativeModel {
    if (!this.nativeModel) throw new Error('radbert-native: this Classifier was closed');
    return this.nativeModel;
  }

  private assertOpen(): void {
    if (!this.nativeModel) throw new Error('radbert-native: this Classifier was closed');
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.nativeModel === null;
  }

  /** Token ids of each text, with special tokens, truncated to maxLength. */
  encode(texts: string[]): number[][] {
    this.assertOpen();
    checkTexts('encode', texts, 'an array of strings');
    return this.tokenizer.encodeBatch(texts, this.maxLength);
  }

  /** Raw logits, one Float32Array row per input (texts, or token-id sequences used as they are). */
  async logits(input: string[] | number[][]): Promise<Float32Array[]> {
    if (!Array.isArray(input)) throw new TypeError('logits: expected an array of strings or of token-id arrays');
    const texts = input.length > 0 && (typeof input[0] === 'string' || !(0 in input));
    if (!texts) {
      for (let i = 0; i < input.length; i++) {
        const s: unknown = input[i];
        if (!Array.isArray(s) && !ArrayBuffer.isView(s)) throw new TypeError(`logits: expected an array of strings or of token-id arrays; item ${i} is ${i in input ? typeof s : 'missing'}`);
      }
    }
    let seqs: ArrayLike<number>[];
    if (texts) {
      this.assertOpen();
      checkTexts('logits', input, 'an array of strings or of token-id arrays');
      // large batches are encoded in a worker thread: the event loop keeps running
      seqs = await this.tokenizer.encodeBatchAsync(input, this.maxLength);
    } else seqs = input as number[][];
    const k = this.nativeConfig.numLabels;
    const matrix = await this.logitsMatrix(seqs);
    return seqs.map((_, i) => matrix.slice(i * k, (i + 1) * k));
  }

  /** Logits of token-id sequences as one row-major [sequences, numLabels] array, batchSize rows per native call. */
  async logitsMatrix(seqs: ArrayLike<number>[]): Promise<Float32Array> {
    const model = this.model;
    if (this.nativeConfig.architecture !== 'ModernBertForSequenceClassification')
      throw new Error(`logits(): this is a ${this.nativeConfig.architecture}, not a sequence classifier`);
    const k = this.nativeConfig.numLabels;
    const bf16 = resolveDtype(this.dtype) === 'bfloat16';
    const matrix = new Float32Array(seqs.length * k);
    for (let start = 0; start < seqs.length; start += this.batchSize) {
      const chunk = seqs.slice(start, start + this.batchSize);
      const batch = packBatch(chunk);
      const out = await model.forward(batch.ids, batch.cuSeqlens, { bf16 });
      if (out.length !== chunk.length * k) throw new Error(`radbert-native: forward returned ${out.length} values for ${chunk.length} x ${k} logits`);
      matrix.set(out, start * k);
    }
    return matrix;
  }

  /** The body's pooled hidden states of each text ([CLS] or mean; default: config's classifier_pooling), one row per text. */
  async embed(texts: string[], options: EmbedTextOptions = {}): Promise<Float32Array[]> {
    const seqs = this.encode(texts);
    const pooling = resolvePooling(options.pooling, this.nativeConfig.classifierPooling);
    const hidden = this.nativeConfig.hiddenSize;
    const m = await embedSequences(this.model, seqs, { pooling, hidden, batchSize: this.batchSize, bf16: resolveDtype(this.dtype) === 'bfloat16' });
    return splitRows(m, hidden);
  }

  /**
   * Predict the labels of one text or of many. Calls made while a forward runs are merged into the next packed
   * forward (dynamic batching by token budget); each result equals the call's result alone (≤ 1e-6).
   */
  predict(text: string, options?: PredictOptions): Promise<Prediction>;
  predict(texts: string[], options?: PredictOptions): Promise<Prediction[]>;
  async predict(input: string | string[], options: PredictOptions = {}): Promise<Prediction | Prediction[]> {
    this.assertOpen();
    if (options.threshold !== undefined && (typeof options.threshold !== 'number' || Number.isNaN(options.threshold))) throw new Error('predict: threshold must be a number');
    const threshold = this.decisionRule(options.threshold);
    const texts = typeof input === 'string' ? [input] : input;
    checkTexts('predict', texts, 'a string or an array of strings');
    if (texts.length === 0) return [];
    if (this.nativeConfig.architecture !== 'ModernBertForSequenceClassification')
      throw new Error(`predict(): this is a ${this.nativeConfig.architecture}, not a sequence classifier`);
    const k = this.nativeConfig.numLabels;
    // small batches are encoded here and queued at once; large ones in a worker thread (the event loop keeps running)
    const seqs = this.tokenizer.encodeBatchInline(texts, this.maxLength) ?? (await this.tokenizer.encodeBatchAsync(texts, this.maxLength));
    const matrix = await this.queue.run(seqs);
    const preds = texts.map((_, i) => toPrediction(this.labels, matrix.subarray(i * k, (i + 1) * k), threshold));
    return typeof input === 'string' ? preds[0] : preds;
  }

  /** The rule predict() applies: an explicit threshold, else the tuned thresholds (one per label), else 0.5. */
  decisionRule(threshold?: number): Threshold {
    return threshold ?? this.thresholds?.perLabel ?? 0.5;
  }

  /** "Readable name (CUI)" when a name is known, else the CUI itself. */
  labelName(label: string): string {
    this.assertOpen();
    const name = this.labelNames[label];
    return name ? `${name} (${label})` : label;
  }

  /**
   * Save as a Hugging Face folder (config.json, model.safetensors, tokenizer files with maxLength as
   * model_max_length, label_names.json and thresholds.json if any).
   */
  async save(dir: string): Promise<void> {
    await saveModelFolder(dir, {
      config: this.config,
      model: this.model,
      tokenizerFrom: this.tokenizer.source,
      labelNames: Object.keys(this.labelNames).length ? this.labelNames : undefined,
      modelMaxLength: this.maxLength,
    });
    if (this.thresholds) writeThresholds(dir, this.thresholds.json);
  }

  /**
   * Free native memory; later calls throw. predict() calls still waiting for a forward are rejected at once
   * (QueueClosedError); a forward already running completes, and its memory is released when it ends, which is when
   * the returned promise resolves.
   */
  close(): Promise<void> {
    const ended = this.queue.close();
    if (this.nativeModel) this.nativeModel.free();
    this.nativeModel = null;
    this.tokenizer.close();
    return ended;
  }
  /** close(), for `using clf = await load(dir)` (explicit resource management). */
  [DISPOSE](): void {
    void this.close();
  }

}

/** TypeError unless `texts` is an array of strings; holes of sparse arrays (new Array(5)) count as missing items. */
function checkTexts(fn: string, texts: unknown, expected: string): asserts texts is string[] {
  if (!Array.isArray(texts)) throw new TypeError(`${fn}: expected ${expected}, got ${texts === null ? 'null' : typeof texts}`);
  for (let i = 0; i < texts.length; i++) {
    const t: unknown = texts[i];
    if (typeof t !== 'string') throw new TypeError(`${fn}: expected ${expected}; item ${i} is ${i in texts ? (t === null ? 'null' : typeof t) : 'missing (a hole in a sparse array)'}`);
  }
}

/** Why load() refuses a pretrained body, and the two ways to use one: fine-tune it into a classifier, or load it as a masked LM. */
function notAClassifier(architecture: string, named: string): string {
  return (
    `is a ${architecture} (a pretrained body without a classification head), not a sequence classifier: ` +
    `fine-tune it into one with \`npx radbert-native train --model ${named} --dataset D\` (train({ model, dataset }) in the API)` +
    (architecture === 'ModernBertForMaskedLM' ? ', or load it as a masked LM with loadMaskedLM()' : '')
  );
}

/** Load a Hugging Face ModernBertForSequenceClassification folder or Hub id (config.json, model.safetensors or shards, tokenizer.json). */
export async function load(dirOrId: string, options: LoadOptions & { revision?: string } = {}): Promise<Classifier> {
  const m = await openModel(dirOrId, options, { architecture: 'ModernBertForSequenceClassification', refuse: (arch) => notAClassifier(arch, dirOrId) });
  let clf: Classifier | undefined;
  try {
    const labelNames = m.folder.labelNamesFile ? readLabelNames(m.folder.labelNamesFile) : undefined;
    clf = new Classifier(m, { ...classifierOptions(options), labelNames });
    clf.thresholds = folderThresholds(m.folder.dir, clf.labels);
    return clf;
  } catch (err) {
    if (clf) void clf.close();
    else m.model.free();
    throw err;
  }
}

/** A freshly initialised classifier (Hugging Face's initialisation) for an HF config object and a tokenizer. */
export async function createClassifier(config: HFConfig, options: LoadOptions & { tokenizer: string; seed?: number }): Promise<Classifier> {
  const m = await createModel(config, options);
  return new Classifier(m, classifierOptions(options));
}

function classifierOptions(o: LoadOptions) {
  return { batchSize: o.batchSize, dtype: o.dtype, maxBatchTokens: o.maxBatchTokens, maxBatchSize: o.maxBatchSize, maxQueue: o.maxQueue };
}
