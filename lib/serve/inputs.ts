/**
 * What the routes do with `inputs` once the schema has checked its types: texts in order (a text alone, a batch, TEI's
 * [["t"], ...] batch), refusing sentence pairs; and token ids within the model's limit (cut, or refused with 422).
 */
import { HttpError } from './errors';

/** What the HTTP layer needs from a model's tokenizer. */
export interface ServeTokenizer {
  /** Longest input in tokens, special tokens included. */
  readonly maxLength: number;
  /** Token ids with special tokens, truncated to maxLength when it is given. */
  encode(text: string, maxLength?: number): number[];
}

/** The texts of a request. */
export interface ParsedInputs {
  texts: string[];
  /** true for `"inputs": "text"` (TEI answers it with one item); a list is always a batch. */
  single: boolean;
}

/**
 * `inputs` as the schema let it through: "text" → one; ["t1", "t2"] → a batch (as HF pipelines and predict() take
 * it); TEI's batch form [["t1"], ["t2"]] → a batch. A two-text item ["a", "b"] is a sentence pair: refused, this is
 * a classifier of single texts.
 */
export function parseInputs(inputs: string | Array<string | string[]>): ParsedInputs {
  if (typeof inputs === 'string') return { texts: [inputs], single: true };
  const texts = inputs.map((x, i) => {
    if (typeof x === 'string') return x;
    if (x.length === 1) return x[0];
    throw new HttpError(422, `"inputs"[${i}] is a list of ${x.length} texts: a sentence pair or more; this model classifies single texts`);
  });
  return { texts, single: false };
}

/**
 * Longest run of characters without whitespace a text may hold. The JavaScript tokenizer's BPE costs more than linear
 * time in the length of one pre-tokenized piece (a run of 32,000 letters: ~0.2 s of CPU, and growing faster than the
 * run), so one request of a megabyte without spaces would stall the server for many seconds; no caption or report
 * sentence comes near this.
 */
export const MAX_RUN_CHARS = 4096;
const LONG_RUN = new RegExp(`\\S{${MAX_RUN_CHARS + 1}}`);

/** 422 for a text holding a run of more than MAX_RUN_CHARS characters without whitespace. */
export function checkRuns(texts: string[]): void {
  texts.forEach((t, i) => {
    if (t.length > MAX_RUN_CHARS && LONG_RUN.test(t))
      throw new HttpError(422, `input ${i} has more than ${MAX_RUN_CHARS} characters without whitespace; such text is refused (tokenizing it would stall the server)`);
  });
}

/** TEI's truncation_direction: only Right (keep the beginning) is supported. */
export function checkDirection(direction: string | undefined): void {
  if (direction !== undefined && !/^right$/i.test(direction))
    throw new HttpError(422, `"truncation_direction" ${JSON.stringify(direction)} is not supported (only "Right")`);
}

/**
 * Token ids of each text; one over the model's limit is cut (truncate) or refused (422). A long text is encoded only as
 * far as the limit needs (one token more, to know it is over), so a megabyte of text costs no more than a caption.
 */
export function tokenizeAll(model: ServeTokenizer, texts: string[], truncate: boolean): number[][] {
  checkRuns(texts);
  const limit = model.maxLength;
  return texts.map((text, i) => {
    const ids = model.encode(text, limit + 1);
    if (ids.length <= limit) return ids;
    if (!truncate) throw new HttpError(422, `input ${i} has more than the model's limit of ${limit} tokens; send "truncate": true to cut it`);
    return model.encode(text, limit);
  });
}
