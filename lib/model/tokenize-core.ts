/**
 * The part of encoding that runs both on the main thread and in the tokenizer worker (tokenize-pool.ts): its
 * functions are self-contained (no imports, no outer names) because the worker's source is built from their text.
 */

/** The subset of @huggingface/tokenizers' Tokenizer used here. */
export interface EncodeOnly {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[] };
}

/**
 * Content ids (no special tokens) of `text`, the first `room` of them when room is given: the same ids as encoding the
 * whole text and cutting, but with `cut` a long text is encoded by growing prefixes instead. A prefix ends just before
 * a U+0020 space that follows an ASCII letter or digit. For the tokenizers prefixCutSafe() accepts, the encoding of
 * such a prefix is a prefix of the whole text's encoding: no added token spans the cut (none holds a space next to a
 * non-space), NFC/lowercasing never joins across a space after an ASCII character, the pre-tokenizer always ends a
 * piece at that character (no regex alternative consumes a space after a non-space: only `\s+` and ` ?X` with the space
 * first do), and BPE/WordPiece work on each piece alone. So once a prefix gives `room` ids, they are the answer.
 */
export function contentIds(tok: EncodeOnly, text: string, room: number | undefined, cut: boolean): number[] {
  const whole = () => {
    const ids = tok.encode(text, { add_special_tokens: false }).ids;
    return room !== undefined && ids.length > room ? ids.slice(0, room) : ids;
  };
  if (room === undefined || !cut) return whole();
  // a token never covers less than one UTF-16 unit, and English captions average ~4.5 characters a token
  let budget = Math.max(256, room * 6);
  while (budget < text.length) {
    let i = budget;
    const stop = budget >> 1;
    for (; i > stop; i--) {
      if (text.charCodeAt(i) !== 32) continue;
      const c = text.charCodeAt(i - 1);
      if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) break;
    }
    if (i > stop) {
      const ids = tok.encode(text.slice(0, i), { add_special_tokens: false }).ids;
      if (ids.length >= room) return ids.slice(0, room);
    }
    budget *= 2;
  }
  return whole();
}

/** Sum of characters contentIds() will encode at most (prefix budgets included), to choose inline vs worker. */
export function encodeCost(text: string, room: number | undefined, cut: boolean): number {
  if (room === undefined || !cut) return text.length;
  return Math.min(text.length, 2 * Math.max(256, room * 6));
}
