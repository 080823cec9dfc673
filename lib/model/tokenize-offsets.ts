/**
 * Tokens with their UTF-8 byte offsets in the input, as Rust's tokenizers (and so TEI's /tokenize) report them.
 * @huggingface/tokenizers gives ids and token strings but no offsets, so they are recovered from the tokens' bytes:
 * a ByteLevel token's characters stand for bytes (GPT-2's table), an added token is its content, any other token its
 * text; each is located at or after the end of the previous one, and a token holding part of a character spans the
 * whole character (as in Rust). Where a normalizer changed the text (NFC of a decomposed accent, lowercasing,
 * WordPiece's "##"), a token's bytes may not occur there: its offsets are null.
 */

/** One token of an input: TEI's SimpleToken. */
export interface TokenSpan {
  /** The token's id. */
  id: number;
  /** The input's bytes start..stop as text (invalid UTF-8 of a split character becomes U+FFFD), or the token itself. */
  text: string;
  /** Added by the post-processor ([CLS], [SEP]). */
  special: boolean;
  /** UTF-8 byte offsets in the input; null for special tokens and tokens that could not be located. */
  start: number | null;
  /** One past the token's last UTF-8 byte; null as for start. */
  stop: number | null;
}

/** GPT-2's bytes_to_unicode(), reversed: printable character → the byte it stands for. */
const BYTE_OF = (() => {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const map = new Map<number, number>();
  for (const b of printable) map.set(b, b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (!printable.includes(b)) map.set(256 + n++, b);
  return map;
})();

/** The bytes a ByteLevel token stands for, or undefined when a character is outside the table (not a byte-level token). */
export function byteLevelBytes(token: string): Buffer | undefined {
  const out: number[] = [];
  for (const ch of token) {
    const b = BYTE_OF.get(ch.codePointAt(0)!);
    if (b === undefined) return undefined;
    out.push(b);
  }
  return Buffer.from(out);
}

/** ASCII whitespace (what an added token's lstrip / rstrip takes along). */
const isSpace = (b: number) => b === 0x20 || (b >= 0x09 && b <= 0x0d);

/** A UTF-8 continuation byte (10xxxxxx): not the first byte of a character. */
const isContinuation = (b: number) => (b & 0xc0) === 0x80;

/** What tokenSpans needs to know about the tokenizer. */
export interface SpanTokenizer {
  /** Whether tokens are ByteLevel (pre-tokenizer or decoder of tokenizer.json). */
  byteLevel: boolean;
  /** The added tokens by id: their content, and whether they take the whitespace on their left / right with them. */
  added: Map<number, { content: string; lstrip: boolean; rstrip: boolean }>;
}

/**
 * Spans of an encoding (ids and token strings) of `text`: the first `prefix` and last `suffix` tokens are the
 * post-processor's special tokens, the rest are located in the text's UTF-8 bytes in order.
 */
export function tokenSpans(ids: number[], tokens: string[], text: string, prefix: number, suffix: number, tok: SpanTokenizer): TokenSpan[] {
  const input = Buffer.from(text, 'utf8');
  let cursor = 0;
  return ids.map((id, i) => {
    const token = tokens[i] ?? '';
    if (i < prefix || i >= ids.length - suffix) return { id, text: token, special: true, start: null, stop: null };
    const added = tok.added.get(id);
    const bytes = added ? Buffer.from(added.content, 'utf8') : ((tok.byteLevel ? byteLevelBytes(token) : undefined) ?? Buffer.from(token, 'utf8'));
    let at = bytes.length > 0 && input.subarray(cursor, cursor + bytes.length).equals(bytes) ? cursor : input.indexOf(bytes, cursor);
    if (bytes.length === 0 || at < 0) return { id, text: token, special: false, start: null, stop: null };
    let stop = at + bytes.length;
    // an added token with lstrip / rstrip matched the whitespace beside it too
    if (added?.lstrip) while (at > cursor && isSpace(input[at - 1])) at--;
    if (added?.rstrip) while (stop < input.length && isSpace(input[stop])) stop++;
    cursor = stop;
    // a token holding part of a character spans the whole character, as Rust's offsets do
    while (at > 0 && isContinuation(input[at])) at--;
    while (stop < input.length && isContinuation(input[stop])) stop++;
    return { id, text: input.subarray(at, stop).toString('utf8'), special: false, start: at, stop };
  });
}
