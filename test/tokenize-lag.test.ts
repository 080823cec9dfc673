/**
 * Issue 12 item 5: long texts are encoded by prefixes with ids identical to the full encode, and predict() encodes
 * large inputs in a worker thread so the event loop keeps running (monitorEventLoopDelay while predict() runs).
 */
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadTokenizer, type TextTokenizer } from '../lib/model/tokenize';
import { contentIds } from '../lib/model/tokenize-core';
import { createClassifier } from '../lib/model/classifier';
import { classifierConfig, presetConfig } from '../lib/model/config';
import { readParquet } from '../lib/data/readers';
import { PCG64 } from '../lib/data/rng';
import { TOKENIZER } from './helpers/paths';

const DATA = path.resolve(__dirname, '..', '..', 'shared', 'datasets', 'roco-radiology-mini', 'data', 'train-00000-of-00001.parquet');

/** The wrapped @huggingface/tokenizers instance (to call contentIds with and without the prefix cut). */
function inner(tok: TextTokenizer) {
  return (tok as unknown as { tokenizer: Parameters<typeof contentIds>[0] }).tokenizer;
}

/** Pieces that stress the cut: space runs (added tokens), contractions, combining marks, NBSP/NEL, specials, CJK, emoji. */
const PIECES = [
  'CT', 'chest', ' ', '  ', '   ', '          ', "'s", "'re", 'e\u0301', '\u0301', '\u00a0', '\u0085', '\n', '\t', '\r\n', '[MASK]',
  '[CLS]', '|||IP_ADDRESS|||', '<|padding|>', '5', '12.5mm', '中文', '🩻', '👩‍⚕️', '-', '(', ')', ';', 'x'.repeat(40), 'Ünï', 'A', 'z9',
];

function adversarial(seed: number, n: number): string {
  const rng = new PCG64(seed);
  let s = '';
  while (s.length < n) s += PIECES[Number(rng.nextUint64() % BigInt(PIECES.length))];
  return s;
}

describe('prefix cut', () => {
  const tok = loadTokenizer(TOKENIZER);
  const raw = inner(tok);

  test('the real tokenizer qualifies', () => expect(tok.prefixCut).toBe(true));

  test('ids equal the full encode on long texts made of real captions and on 300 adversarial texts', async () => {
    const rows = (await readParquet(DATA, ['caption'])).records.map((r) => (r.ok ? String(r.value.caption) : ''));
    const texts: string[] = [];
    for (let i = 0; i < 40; i++) texts.push(rows.slice(i * 7, i * 7 + 7 + i * 3).join(i % 2 ? ' ' : '\n'));
    texts.push(rows.join(' ')); // ~100 kB
    for (let seed = 0; seed < 300; seed++) texts.push(adversarial(seed, 200 + seed * 10));
    let cut = 0;
    for (const text of texts) {
      const whole = contentIds(raw, text, undefined, false);
      for (const room of [1, 5, 16, 64, 254]) {
        const full = whole.slice(0, room);
        const fast = contentIds(raw, text, room, true);
        if (text.length > Math.max(256, room * 6)) cut++;
        expect([text.slice(0, 60), room, fast]).toEqual([text.slice(0, 60), room, full]);
      }
    }
    expect(cut).toBeGreaterThan(900); // the prefix path really ran
  });

  test('a 1 MB caption is encoded by a prefix (ms, not seconds) with the same ids', () => {
    const caption = 'Axial CT of the chest shows a 5 mm nodule in the right upper lobe (arrow). ';
    const big = caption.repeat(Math.ceil(1e6 / caption.length));
    const t0 = performance.now();
    const fast = tok.encode(big, 256);
    const ms = performance.now() - t0;
    expect(fast).toEqual(tok.encode(big.slice(0, 20000), 256)); // 20 kB holds far more than 254 tokens
    expect(ms).toBeLessThan(1000); // the whole 1 MB takes ~10 s
  });
});

describe('event loop while predict() encodes', () => {
  test('1 MB caption and 64 long captions: encoded in the worker, ids unchanged, event loop lag bounded', async () => {
    const config = classifierConfig({ ...presetConfig('tiny'), vocab_size: 50368, max_position_embeddings: 8192 }, ['A', 'B', 'C']);
    // maxLength 512 keeps the forward short; encoding still goes to the worker (see INLINE_ENCODE_CHARS)
    const clf = await createClassifier(config, { tokenizer: TOKENIZER, device: 'cpu', maxLength: 512, threads: 1 });
    try {
      const s = 'Axial CT of the chest shows a 5 mm nodule in the right upper lobe with ground-glass opacity. ';
      const big = s.repeat(Math.ceil(1e6 / s.length));
      const long = Array.from({ length: 64 }, (_, i) => s.repeat(40 + i));
      await clf.predict(['warm-up: ' + s.repeat(100)]); // starts the worker (its start-up is not what we measure)
      const before = clf.tokenizer.workerBatches;
      const lags: number[] = [];
      for (const input of [[big], long]) {
        const h = monitorEventLoopDelay({ resolution: 1 });
        h.enable();
        const preds = await clf.predict(input, { threshold: 0 });
        h.disable();
        lags.push(h.max / 1e6);
        expect(preds).toHaveLength(input.length);
      }
      expect(clf.tokenizer.workerBatches - before).toBe(2);
      // the worker's ids are the main thread's
      const viaWorker = await clf.tokenizer.encodeBatchAsync(long.slice(0, 8), 512);
      expect(viaWorker.map((a) => Array.from(a))).toEqual(clf.encode(long.slice(0, 8)));
      console.log(`event loop max lag while predict() ran: 1 MB caption ${lags[0].toFixed(1)} ms, 64 long captions ${lags[1].toFixed(1)} ms`);
      // the goal is < 20 ms: 3.7 / 3.2 ms measured on an idle 2-core Xeon (2026-11-25); a shared machine's scheduling alone
      // adds tens of ms (17 ms idle-process lag at load 17), so the bound is generous
      // but far below the seconds a synchronous encode stalls (1 MB: ~10 s before the prefix cut)
      for (const lag of lags) expect(lag).toBeLessThan(250);
    } finally {
      clf.close();
    }
  });
});
