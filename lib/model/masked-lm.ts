/**
 * The masked language model (ModernBertForMaskedLM, Part 2 of the series): load a folder, fill [MASK]s as
 * transformers' `pipeline("fill-mask")` does, embed texts, save it back.
 */
import { FileError } from '../errors';
import type { NativeConfig, NativeModel } from '../native';
import { createModel, openModel, resolveDtype, type ComputeDtype, type LoadOptions, type OpenedModel } from './open';
import type { HFConfig } from './config';
import { embedSequences, resolvePooling, splitRows, type EmbedTextOptions } from './embed';
import { saveModelFolder } from './folder';
import { packBatch, type TextTokenizer } from './tokenize';
import { maskingVocab } from '../data/masking';

/** One candidate of fill-mask, as transformers' pipeline returns it. */
export interface FillMaskCandidate {
  /** softmax probability of the token at the mask */
  score: number;
  /** token id */
  token: number;
  /** `tokenizer.decode([token])` */
  token_str: string;
  /** the input with this token at the mask, decoded (special tokens skipped when the input has one mask, as HF) */
  sequence: string;
}

/** Options of fillMask(). */
export interface FillMaskOptions {
  /** candidates per mask (default 5) */
  topK?: number;
}

/** A config for ModernBertForMaskedLM keeping the body's keys (labels dropped). */
export function maskedLMConfig(body: HFConfig): HFConfig {
  const out: HFConfig = { ...body, architectures: ['ModernBertForMaskedLM'] };
  for (const k of ['id2label', 'label2id', 'num_labels', 'problem_type']) delete out[k];
  return out;
}

/** Indices of the k largest values (ties: lower index first, as torch.topk on CPU returns them). */
function topK(values: Float64Array, k: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (idx.length < k) {
      idx.push(i);
      idx.sort((a, b) => values[b] - values[a] || a - b);
    } else if (values[i] > values[idx[k - 1]]) {
      idx[k - 1] = i;
      idx.sort((a, b) => values[b] - values[a] || a - b);
    }
  }
  return idx;
}

/** A ModernBertForMaskedLM with its tokenizer, living in native memory until close(). */
export class MaskedLM {
  private nativeModel: NativeModel | null;
  /** Compute precision (bf16 autocast or float32). */
  dtype: ComputeDtype;
  private readonly batchSize: number;

  /** The config.json object. */
  readonly config: HFConfig;
  /** What the native model was built from. */
  readonly nativeConfig: NativeConfig;
  /** The model's tokenizer (tokenizer.json). */
  readonly tokenizer: TextTokenizer;
  /** Where the model runs. */
  readonly device: 'cpu' | 'cuda';
  /** Inputs are truncated to this many tokens (embed); fill-mask inputs are not truncated, as in HF's pipeline. */
  readonly maxLength: number;

  /** Wraps an opened or created native ModernBertForMaskedLM (loadMaskedLM() and createMaskedLM() build one). */
  constructor(m: OpenedModel, options: { batchSize?: number; dtype?: ComputeDtype } = {}) {
    const { model, nativeConfig } = m;
    ({ config: this.config, nativeConfig: this.nativeConfig, tokenizer: this.tokenizer, device: this.device, maxLength: this.maxLength } = m);
    if (nativeConfig.architecture !== 'ModernBertForMaskedLM') throw new Error(`MaskedLM: the model is a ${nativeConfig.architecture}, not a ModernBertForMaskedLM`);
    this.nativeModel = model;
    this.dtype = resolveDtype(options.dtype);
    this.batchSize = options.batchSize ?? 64;
  }

  /** The native model; throws once closed. */
  get model(): NativeModel {
    if (!this.nativeModel) throw new Error('radbert-native: this MaskedLM was closed');
    return this.nativeModel;
  }

  /** Token ids of each text, with special tokens, truncated to maxLength. */
  encode(texts: string[]): number[][] {
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) throw new TypeError('encode: expected an array of strings');
    return this.tokenizer.encodeBatch(texts, this.maxLength);
  }

  /**
   * transformers' `pipeline("fill-mask")(text, top_k)`: for each [MASK] the topK tokens by softmax probability. One
   * mask → a list of candidates; several → one list per mask (each sequence fills only its own mask, the others stay).
   */
  async fillMask(text: string, options: FillMaskOptions = {}): Promise<FillMaskCandidate[] | FillMaskCandidate[][]> {
    if (typeof text !== 'string') throw new TypeError('fillMask: expected a string');
    const k = options.topK ?? 5;
    const vocab = this.nativeConfig.vocabSize;
    if (!Number.isInteger(k) || k < 1) throw new Error(`fillMask: topK must be a positive integer, got ${k}`);
    const maskId = this.maskId();
    const ids = this.tokenizer.encode(text);
    const positions = ids.flatMap((id, i) => (id === maskId ? [i] : []));
    if (!positions.length) throw new Error(`fillMask: no mask token in the input; put ${this.maskToken()} where a word should be predicted: ${JSON.stringify(text)}`);
    const batch = packBatch([ids]);
    const logits = await this.model.forward(batch.ids, batch.cuSeqlens, { positions: Int32Array.from(positions), bf16: this.dtype === 'bfloat16' });
    const single = positions.length === 1;
    const pad = this.padId();
    const result = positions.map((pos, m) => {
      const row = logits.subarray(m * vocab, (m + 1) * vocab);
      let max = -Infinity;
      for (let v = 0; v < vocab; v++) max = Math.max(max, row[v]);
      let sum = 0;
      const probs = new Float64Array(vocab);
      for (let v = 0; v < vocab; v++) sum += probs[v] = Math.exp(row[v] - max);
      for (let v = 0; v < vocab; v++) probs[v] /= sum;
      return topK(probs, Math.min(k, vocab)).map((token) => {
        const filled = ids.map((id, i) => (i === pos ? token : id)).filter((id) => id !== pad);
        return {
          score: probs[token],
          token,
          token_str: this.tokenizer.decode([token]),
          sequence: this.tokenizer.decode(filled, { skipSpecialTokens: single }),
        };
      });
    });
    return single ? result[0] : result;
  }

  /** The body's pooled hidden states of each text ([CLS] or mean; default: config's classifier_pooling), one row per text. */
  async embed(texts: string[], options: EmbedTextOptions = {}): Promise<Float32Array[]> {
    const pooling = resolvePooling(options.pooling, this.nativeConfig.classifierPooling);
    const hidden = this.nativeConfig.hiddenSize;
    const m = await embedSequences(this.model, this.encode(texts), { pooling, hidden, batchSize: this.batchSize, bf16: this.dtype === 'bfloat16' });
    return splitRows(m, hidden);
  }

  /** The mask token's text (tokenizer_config.json's mask_token). */
  maskToken(): string {
    return this.tokenizer.decode([this.maskId()]);
  }

  private maskId(): number {
    return (this.maskIdCache ??= maskingVocab(this.tokenizer.source).maskId); // tokenizer_config.json's mask_token
  }
  private maskIdCache?: number;

  private padId(): number {
    return this.nativeConfig.padTokenId;
  }

  /** Save as a Hugging Face ModernBertForMaskedLM folder (config.json, model.safetensors, tokenizer files). */
  async save(dir: string): Promise<void> {
    await saveModelFolder(dir, { config: this.config, model: this.model, tokenizerFrom: this.tokenizer.source });
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.nativeModel === null;
  }

  /** Free native memory now; later calls throw. */
  close(): void {
    if (this.nativeModel) this.nativeModel.free();
    this.nativeModel = null;
  }
}

/** Load a ModernBertForMaskedLM folder (local, or `org/name` through the HF cache) with its tokenizer. */
export async function loadMaskedLM(dirOrId: string, options: LoadOptions & { revision?: string } = {}): Promise<MaskedLM> {
  const m = await openModel(dirOrId, options, {
    architecture: 'ModernBertForMaskedLM',
    configOf: (folder) => {
      const archs = folder.config.architectures;
      if (Array.isArray(archs) && archs[0] !== 'ModernBertForMaskedLM')
        throw new FileError(folder.configFile, `is a ${String(archs[0])}; loadMaskedLM needs a ModernBertForMaskedLM (use load() for a classifier)`, 'architectures');
      return maskedLMConfig(folder.config);
    },
    refuse: (arch) => `is a ${arch}; loadMaskedLM needs a ModernBertForMaskedLM (use load() for a classifier)`,
  });
  try {
    return new MaskedLM(m, { batchSize: options.batchSize, dtype: options.dtype });
  } catch (err) {
    m.model.free();
    throw err;
  }
}

/** A freshly initialised masked LM (Hugging Face's initialisation) for a body config and a tokenizer. */
export async function createMaskedLM(body: HFConfig, options: LoadOptions & { tokenizer: string; seed?: number }): Promise<MaskedLM> {
  const m = await createModel(maskedLMConfig(body), options);
  return new MaskedLM(m, { batchSize: options.batchSize, dtype: options.dtype });
}
