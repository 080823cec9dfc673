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
import { contentIds, encodeCost } from './tokenize-core';
import { TokenizerPool } from './tokenize-pool';
import { tokenSpans, type TokenSpan } from './tokenize-offsets';

/** Texts whose encoding costs up to this many characters in all are encoded inline (a few ms); more go to the worker. */
export const INLINE_ENCODE_CHARS = 2000;

/** A packed batch: every sequence's ids back to back, and offsets [0, len0, len0+len1, ...]. */
export interface PackedBatch {
  /** Every sequence's token ids, back to back. */
  ids: Int32Array;
  /** Sequence offsets into ids: [0, len0, len0+len1, ...]. */
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
  sequences.forEach((s, i) => {
    // Int32Array.set would turn 0.5, NaN or 'a' into an id silently
    for (let j = 0; j < s.length; j++) {
      const v = s[j] as unknown;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x7fffffff)
        throw new Error(`packBatch: sequence ${i}, token ${j}: ${Number.isNaN(v) ? 'NaN' : JSON.stringify(v)} is not a token id (a non-negative integer)`);
    }
    ids.set(s, cuSeqlens[i]);
  });
  return { ids, cuSeqlens };
}

/** A tokenizer.json with the special-token handling of HF's `tokenizer(text, truncation=True, max_length=N)`. */
export class TextTokenizer {
  /** Ids the post-processor puts before and after the content (e.g. [CLS] and [SEP]). */
  private readonly prefix: number[];
  private readonly suffix: number[];

  /** The worker that encodes large batches off the main thread (started on first use). */
  private pool?: TokenizerPool;
  /** Whether encode() may encode a long text by prefixes (prefixCutSafe() of its tokenizer.json). */
  readonly prefixCut: boolean;
  /** Whether decode() applies clean_up_tokenization (transformers 5.17's rule, see decode). */
  private readonly cleanUp: boolean;
  /** Whether the tokens are ByteLevel (spans() reads their bytes from GPT-2's table). */
  private readonly byteLevel: boolean;
  /** Content of the added tokens by id (spans(), built on first use). */
  private addedContent?: Map<number, { content: string; lstrip: boolean; rstrip: boolean }>;

  constructor(
    private readonly tokenizer: Tokenizer,
    /** Folder or file it was read from. */
    readonly source: string,
    /** tokenizer_config.json's model_max_length when present and sane. */
    readonly modelMaxLength?: number,
    /** prefixCut: encode() may encode a long text by prefixes; cleanUp: decode() applies clean_up_tokenization; byteLevel: ByteLevel tokens. */
    options: { prefixCut?: boolean; cleanUp?: boolean; byteLevel?: boolean } = {},
  ) {
    this.prefixCut = options.prefixCut === true;
    this.cleanUp = options.cleanUp === true;
    this.byteLevel = options.byteLevel === true;
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
    const content = contentIds(this.tokenizer, text, this.room(maxLength), this.prefixCut);
    return [...this.prefix, ...content, ...this.suffix];
  }

  /** Content tokens that fit in maxLength (undefined: no limit). */
  private room(maxLength: number | undefined): number | undefined {
    if (maxLength === undefined) return undefined;
    if (!Number.isInteger(maxLength)) throw new Error(`maxLength must be an integer, got ${maxLength}`);
    const room = maxLength - this.numSpecialTokens;
    if (room < 0) throw new Error(`maxLength ${maxLength} is smaller than the ${this.numSpecialTokens} special tokens`);
    return room;
  }

  /**
   * Text of token ids as transformers 5.17's `tokenizer.decode(ids, skip_special_tokens=...)` gives it: the tokenizer's
   * decoder, then clean_up_tokenization when tokenizer_config.json asks for it, except for BPE models (transformers
   * skips the clean-up there unless clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output is set).
   */
  decode(ids: ArrayLike<number>, options: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return ''; // as transformers; @huggingface/tokenizers throws on an empty list
    return this.tokenizer.decode(Array.from(ids), { skip_special_tokens: options.skipSpecialTokens === true, clean_up_tokenization_spaces: this.cleanUp });
  }

  /** Every token of a text (not truncated) with its UTF-8 byte offsets in it, as TEI's /tokenize answers (tokenize-offsets.ts). */
  spans(text: string, addSpecialTokens: boolean): TokenSpan[] {
    const enc = this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens });
    const added = (this.addedContent ??= new Map([...this.tokenizer.get_added_tokens_decoder()].map(([id, t]) => [id, { content: t.content, lstrip: t.lstrip, rstrip: t.rstrip }])));
    const [prefix, suffix] = addSpecialTokens ? [this.prefix.length, this.suffix.length] : [0, 0];
    return tokenSpans(enc.ids, enc.tokens, text, prefix, suffix, { byteLevel: this.byteLevel, added });
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

  /**
   * encodeBatch() without stalling the event loop: small batches inline, larger ones in a worker thread that loads the
   * same tokenizer.json (ids identical). Sequences come back as Int32Arrays.
   */
  async encodeBatchAsync(texts: string[], maxLength?: number): Promise<ArrayLike<number>[]> {
    const inline = this.encodeBatchInline(texts, maxLength);
    if (inline) return inline;
    this.pool ??= new TokenizerPool({ file: this.source, prefix: this.prefix, suffix: this.suffix, prefixCut: this.prefixCut });
    return this.pool.encode(texts, this.room(maxLength));
  }

  /** encodeBatch() when the batch is cheap enough to encode on this thread without stalling it; undefined otherwise. */
  encodeBatchInline(texts: string[], maxLength?: number): number[][] | undefined {
    const room = this.room(maxLength);
    let cost = 0;
    for (const t of texts) {
      if (typeof t !== 'string') throw new TypeError(`encode: expected a string, got ${typeof t}`);
      cost += encodeCost(t, room, this.prefixCut);
    }
    return cost <= INLINE_ENCODE_CHARS ? texts.map((t) => this.encode(t, maxLength)) : undefined;
  }

  /** Batches the worker has encoded (0 until a batch was too large to encode inline). */
  get workerBatches(): number {
    return this.pool?.batches ?? 0;
  }

  /** Stop the worker thread, if one was started (a later large batch starts a new one). */
  close(): void {
    this.pool?.close();
    this.pool = undefined;
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

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'sequence' : typeof v === 'object' ? 'map' : typeof v;
}

/**
 * The shape checks Python's tokenizers (serde) makes on tokenizer.json's model and @huggingface/tokenizers skips:
 * a BPE / WordPiece / WordLevel vocab is a map of token -> integer id, a Unigram vocab a list of [piece, score],
 * BPE merges a list. Without them a string vocab loads and encodes everything to the special tokens.
 */
function checkTokenizerModel(json: Record<string, unknown>, file: string): void {
  const added = json.added_tokens;
  if (added !== undefined && added !== null) {
    if (!Array.isArray(added)) throw new FileError(file, `invalid type: ${kindOf(added)}, expected a sequence`, 'added_tokens');
    const bad = added.findIndex((t) => kindOf(t) !== 'map' || typeof t.content !== 'string' || !Number.isInteger(t.id) || t.id < 0 || t.id > 0xffffffff);
    if (bad >= 0) throw new FileError(file, `entry ${bad} needs a string "content" and a non-negative integer "id"`, 'added_tokens');
  }
  const model = json.model as Record<string, unknown> | undefined;
  if (typeof model !== 'object' || model === null || Array.isArray(model)) throw new FileError(file, `invalid type: ${kindOf(model)}, expected a map`, 'model');
  const vocab = model.vocab;
  const type = model.type;
  if (type === 'Unigram') {
    if (!Array.isArray(vocab)) throw new FileError(file, `invalid type: ${kindOf(vocab)}, expected a sequence of [piece, score]`, 'model.vocab');
    const bad = vocab.findIndex((e) => !Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'number');
    if (bad >= 0) throw new FileError(file, `entry ${bad} is not a [piece, score] pair`, 'model.vocab');
    return;
  }
  if (type !== undefined && !['BPE', 'WordPiece', 'WordLevel'].includes(type as string)) throw new FileError(file, `unknown model type ${JSON.stringify(type)}`, 'model.type');
  if (kindOf(vocab) !== 'map') throw new FileError(file, `invalid type: ${kindOf(vocab)}, expected a map of token -> id`, 'model.vocab');
  for (const [tok, id] of Object.entries(vocab as Record<string, unknown>))
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new FileError(file, `the id of ${JSON.stringify(tok)} must be a non-negative integer, got ${JSON.stringify(id)}`, 'model.vocab');
  if ((type === 'BPE' || (type === undefined && 'merges' in model)) && !Array.isArray(model.merges))
    throw new FileError(file, `invalid type: ${kindOf(model.merges)}, expected a sequence`, 'model.merges');
}

/** A normalizer that maps each character on its own and keeps U+0020 and ASCII letters and digits starters. */
function localNormalizer(n: unknown): boolean {
  if (n === null || n === undefined) return true;
  const o = n as { type?: string; normalizers?: unknown[] };
  if (o.type === 'Sequence') return Array.isArray(o.normalizers) && o.normalizers.every(localNormalizer);
  return ['NFC', 'NFD', 'Lowercase', 'BertNormalizer', 'Strip', 'StripAccents'].includes(o.type as string);
}

/**
 * Whether contentIds() may encode a long text by prefixes for this tokenizer.json (its argument is proven for these
 * pieces only): the normalizers of localNormalizer(), a ByteLevel pre-tokenizer with its regex or one that splits at
 * whitespace, a BPE (without dropout), WordPiece or WordLevel model, and added tokens that are either free of
 * whitespace or only spaces.
 */
export function prefixCutSafe(json: Record<string, unknown>): boolean {
  if (!localNormalizer(json.normalizer)) return false;
  const pre = json.pre_tokenizer as { type?: string; use_regex?: boolean } | null | undefined;
  const preOk = pre && ((pre.type === 'ByteLevel' && pre.use_regex !== false) || ['BertPreTokenizer', 'Whitespace', 'WhitespaceSplit'].includes(pre.type as string));
  if (!preOk) return false;
  const model = json.model as { type?: string; dropout?: number | null };
  if (!(['WordPiece', 'WordLevel'].includes(model.type as string) || (model.type === 'BPE' && !model.dropout))) return false;
  const added = Array.isArray(json.added_tokens) ? (json.added_tokens as Array<{ content?: unknown }>) : [];
  return added.every((t) => typeof t.content === 'string' && (/^ +$/.test(t.content) || !/[\s\u0085]/u.test(t.content)));
}

/** Load a tokenizer.json (or a folder holding one, with tokenizer_config.json beside it if present). */
export function loadTokenizer(pathOrDir: string): TextTokenizer {
  if (!fs.existsSync(pathOrDir)) throw new FileError(pathOrDir, 'tokenizer not found (pass a tokenizer.json or a folder with one)');
  const file = tokenizerFile(pathOrDir);
  if (!file) throw new FileError(pathOrDir, 'no tokenizer.json here (pass a tokenizer.json or a folder with one)');
  const json = readJsonFile<Record<string, unknown>>(file, { object: true });
  checkTokenizerModel(json, file);
  const cfgFile = path.join(path.dirname(file), 'tokenizer_config.json');
  const cfg = fs.existsSync(cfgFile) ? readJsonFile<Record<string, unknown>>(cfgFile) : {};
  const mml = cfg.model_max_length;
  const modelMaxLength = typeof mml === 'number' && Number.isInteger(mml) && mml > 0 && mml < 1e7 ? mml : undefined;
  const model = json.model as { type?: unknown } | undefined;
  // transformers 5.17 applies clean_up_tokenization in decode() unless the model is BPE (see TextTokenizer.decode)
  const cleanUp = cfg.clean_up_tokenization_spaces === true && (model?.type !== 'BPE' || cfg.clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output === true);
  try {
    // the constructor encodes a probe: a broken post-processor or pre-tokenizer fails there, named like the rest
    const byteLevel = [json.pre_tokenizer, json.decoder].some((c) => JSON.stringify(c ?? null).includes('"type":"ByteLevel"'));
    return new TextTokenizer(new Tokenizer(json, cfg), file, modelMaxLength, { prefixCut: prefixCutSafe(json), cleanUp, byteLevel });
  } catch (err) {
    if (err instanceof FileError) throw err;
    throw new FileError(file, `not a usable tokenizer: ${(err as Error).message}`);
  }
}
