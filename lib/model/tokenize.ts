/**
 * Tokenisation with @huggingface/tokenizers (same ids as Python's tokenizers on tokenizer.json), HF truncation
 * semantics, and packing of ragged sequences into the unpadded layout the native model runs on.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
// The package is ESM-typed but ships a CommonJS build for Node's require (its "exports" has node.require).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Tokenizer } = require('@huggingface/tokenizers') as typeof import('@huggingface/tokenizers', { with: { 'resolution-mode': 'import' } });
type Tokenizer = InstanceType<typeof Tokenizer>;
import { FileError } from '../errors';
import { readJsonFile } from '../files';

/** A packed batch: every sequence's ids back to back, and offsets [0, len0, len0+len1, ...]. */
export interface PackedBatch {
  ids: Int32Array;
  cuSeqlens: Int32Array;
}

/** Pack ragged token-id sequences (no padding) for the native model. */
export function packBatch(sequences: ArrayLike<number>[]): PackedBatch {
  if (sequences.length === 0) throw new Error('packBatch: the batch is empty');
  const cuSeqlens = new Int32Array(sequences.length + 1);
  for (let i = 0; i < sequences.length; i++) {
    if (sequences[i].length === 0) throw new Error(`packBatch: sequence ${i} is empty`);
    cuSeqlens[i + 1] = cuSeqlens[i] + sequences[i].length;
  }
  const ids = new Int32Array(cuSeqlens[sequences.length]);
  sequences.forEach((s, i) => ids.set(s, cuSeqlens[i]));
  return { ids, cuSeqlens };
}

/** A tokenizer.json with the special-token handling of HF's `tokenizer(text, truncation=True, max_length=N)`. */
export class TextTokenizer {
  /** Ids the post-processor puts before and after the content (e.g. [CLS] and [SEP]). */
  private readonly prefix: number[];
  private readonly suffix: number[];

  constructor(
    private readonly tokenizer: Tokenizer,
    /** Folder or file it was read from. */
    readonly source: string,
    /** tokenizer_config.json's model_max_length when present and sane. */
    readonly modelMaxLength?: number,
    /** Whether decode() applies clean_up_tokenization (transformers 5.17's rule, see decode). */
    private readonly cleanUp = false,
  ) {
    // Find what the post-processor adds around a single sequence, by encoding a probe with and without specials.
    const probe = ['a', 'the', 'x', '0', 'A'].find((p) => tokenizer.encode(p, { add_special_tokens: false }).ids.length > 0) ?? 'a';
    const bare = tokenizer.encode(probe, { add_special_tokens: false }).ids;
    const full = tokenizer.encode(probe, { add_special_tokens: true }).ids;
    let start = -1;
    for (let i = 0; i + bare.length <= full.length && start < 0; i++) {
      if (bare.every((id: number, j: number) => full[i + j] === id)) start = i;
    }
    if (start < 0) throw new Error(`${source}: cannot locate the content inside the post-processed encoding`);
    this.prefix = full.slice(0, start);
    this.suffix = full.slice(start + bare.length);
  }

  /** Number of special tokens added around one sequence. */
  get numSpecialTokens(): number {
    return this.prefix.length + this.suffix.length;
  }

  /** Token ids with special tokens, truncated (content first) so the total is at most maxLength. */
  encode(text: string, maxLength?: number): number[] {
    if (typeof text !== 'string') throw new TypeError(`encode: expected a string, got ${typeof text}`);
    let content = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    if (maxLength !== undefined) {
      if (!Number.isInteger(maxLength)) throw new Error(`maxLength must be an integer, got ${maxLength}`);
      const room = maxLength - this.numSpecialTokens;
      if (room < 0) throw new Error(`maxLength ${maxLength} is smaller than the ${this.numSpecialTokens} special tokens`);
      if (content.length > room) content = content.slice(0, room);
    }
    return [...this.prefix, ...content, ...this.suffix];
  }

  /**
   * Text of token ids as transformers 5.17's `tokenizer.decode(ids, skip_special_tokens=...)` gives it: the tokenizer's
   * decoder, then clean_up_tokenization when tokenizer_config.json asks for it, except for BPE models (transformers
   * skips the clean-up there unless clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output is set).
   */
  decode(ids: ArrayLike<number>, options: { skipSpecialTokens?: boolean } = {}): string {
    return this.tokenizer.decode(Array.from(ids), { skip_special_tokens: options.skipSpecialTokens === true, clean_up_tokenization_spaces: this.cleanUp });
  }

  /** The id of a token string (e.g. '[MASK]'), or undefined. */
  tokenId(token: string): number | undefined {
    const id = this.tokenizer.token_to_id(token);
    return id === null || id === undefined ? undefined : id;
  }

  /** encode() for each text. */
  encodeBatch(texts: string[], maxLength?: number): number[][] {
    return texts.map((t) => this.encode(t, maxLength));
  }
}

/** Path of tokenizer.json for a file or folder argument, or undefined when a folder has none. */
export function tokenizerFile(pathOrDir: string): string | undefined {
  const stat = fs.statSync(pathOrDir, { throwIfNoEntry: false });
  if (!stat) return undefined;
  if (stat.isFile()) return pathOrDir;
  const f = path.join(pathOrDir, 'tokenizer.json');
  return fs.existsSync(f) ? f : undefined;
}

/** Load a tokenizer.json (or a folder holding one, with tokenizer_config.json beside it if present). */
export function loadTokenizer(pathOrDir: string): TextTokenizer {
  if (!fs.existsSync(pathOrDir)) throw new FileError(pathOrDir, 'tokenizer not found (pass a tokenizer.json or a folder with one)');
  const file = tokenizerFile(pathOrDir);
  if (!file) throw new FileError(pathOrDir, 'no tokenizer.json here (pass a tokenizer.json or a folder with one)');
  const json = readJsonFile<Record<string, unknown>>(file);
  const cfgFile = path.join(path.dirname(file), 'tokenizer_config.json');
  const cfg = fs.existsSync(cfgFile) ? readJsonFile<Record<string, unknown>>(cfgFile) : {};
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, cfg);
  } catch (err) {
    throw new FileError(file, `not a usable tokenizer: ${(err as Error).message}`);
  }
  const mml = cfg.model_max_length;
  const modelMaxLength = typeof mml === 'number' && Number.isInteger(mml) && mml > 0 && mml < 1e7 ? mml : undefined;
  const model = json.model as { type?: unknown } | undefined;
  const cleanUp = cfg.clean_up_tokenization_spaces === true && (model?.type !== 'BPE' || cfg.clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output === true);
  return new TextTokenizer(tok, file, modelMaxLength, cleanUp);
}
