/** Pooled sentence embeddings of any ModernBERT (classifier, masked LM or bare body): the body's final-norm hidden states. */
import type { NativeModel } from '../native';
import { packBatch } from './tokenize';

/** Pooling of embed(): the [CLS] token's hidden state, or the mean over the sequence's tokens. */
export type Pooling = 'cls' | 'mean';

/** Options of embed() on a Classifier or a MaskedLM. */
export interface EmbedTextOptions {
  /** 'cls' or 'mean' (default: the model config's classifier_pooling). */
  pooling?: Pooling;
}

/** Check a pooling option (undefined → the fallback). */
export function resolvePooling(pooling: unknown, fallback: Pooling): Pooling {
  if (pooling === undefined) return fallback;
  if (pooling !== 'cls' && pooling !== 'mean') throw new Error(`pooling must be 'cls' or 'mean', got ${JSON.stringify(pooling)}`);
  return pooling;
}

/** Pooled hidden states of token-id sequences as one row-major [sequences, hidden] array, batchSize rows per native call. */
export async function embedSequences(
  model: NativeModel,
  seqs: number[][],
  options: { pooling: Pooling; hidden: number; batchSize: number; bf16?: boolean },
): Promise<Float32Array> {
  const { hidden, batchSize } = options;
  const out = new Float32Array(seqs.length * hidden);
  for (let start = 0; start < seqs.length; start += batchSize) {
    const chunk = seqs.slice(start, start + batchSize);
    const batch = packBatch(chunk);
    const rows = await model.embed(batch.ids, batch.cuSeqlens, { pooling: options.pooling, bf16: options.bf16 === true });
    if (rows.length !== chunk.length * hidden) throw new Error(`radbert-native: embed returned ${rows.length} values for ${chunk.length} x ${hidden}`);
    out.set(rows, start * hidden);
  }
  return out;
}

/** Split a row-major [n, hidden] array into one Float32Array per row. */
export function splitRows(matrix: Float32Array, hidden: number): Float32Array[] {
  const n = matrix.length / hidden;
  return Array.from({ length: n }, (_, i) => matrix.slice(i * hidden, (i + 1) * hidden));
}

/** Anything embed() accepts: a Classifier (load / createClassifier) or a MaskedLM (loadMaskedLM / createMaskedLM). */
export interface Embedder {
  /** The pooled final hidden states of each text, one Float32Array(hidden) per text. */
  embed(texts: string[], options?: EmbedTextOptions): Promise<Float32Array[]>;
}

/** The body's pooled hidden states of texts with any loaded model (classifier or masked LM), one Float32Array per text. */
export function embed(model: Embedder, texts: string[], options: EmbedTextOptions = {}): Promise<Float32Array[]> {
  return model.embed(texts, options);
}
