/** Token ids equal Python's tokenizers (PreTrainedTokenizerFast) on real captions, truncation included. */
import * as path from 'node:path';
import { loadTokenizer, packBatch } from '../lib';
import { runPythonJson } from './helpers/python';

const TOKENIZER = path.resolve(__dirname, '..', '..', 'shared', 'models', 'modernbert-tokenizer');
const DATA = path.resolve(__dirname, '..', '..', 'shared', 'datasets', 'roco-radiology-mini', 'data', 'test-00000-of-00001.parquet');

test('ids equal transformers on 300 real captions and edge cases, at max_length 256 and 16', () => {
  const ref = runPythonJson<{ texts: string[]; ids: Record<string, number[][]> }>(`
import json, pyarrow.parquet as pq
from transformers import PreTrainedTokenizerFast
tok = PreTrainedTokenizerFast(tokenizer_file=${JSON.stringify(path.join(TOKENIZER, 'tokenizer.json'))})
texts = pq.read_table(${JSON.stringify(DATA)}, columns=["caption"]).column("caption").to_pylist()[:300]
texts += ["", " ", "CT", "Ünïcödé façade — 3×4 mm² lesion ≥ 2 cm", "emoji 🩻 x-ray", "tabs\\tand\\nnewlines", "[CLS] literal [SEP]"]
print(json.dumps({"texts": texts, "ids": {str(n): [tok(t, truncation=True, max_length=n)["input_ids"] for t in texts] for n in (256, 16)}}))
`);
  const tok = loadTokenizer(TOKENIZER);
  let truncated = 0;
  for (const n of [256, 16]) {
    const ours = tok.encodeBatch(ref.texts, n);
    ref.ids[String(n)].forEach((expected, i) => expect([i, ours[i]]).toEqual([i, expected]));
    truncated += ours.filter((s) => s.length === n).length;
  }
  expect(truncated).toBeGreaterThan(100);
});

test('packBatch lays sequences back to back with offsets', () => {
  const p = packBatch([[1, 2, 3], [4], [5, 6]]);
  expect(Array.from(p.ids)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(Array.from(p.cuSeqlens)).toEqual([0, 3, 4, 6]);
  expect(() => packBatch([])).toThrow(/empty/);
  expect(() => packBatch([[1], []])).toThrow(/sequence 1 is empty/);
});

test('a folder without tokenizer.json is a clear error', () => {
  expect(() => loadTokenizer(__dirname)).toThrow(/no tokenizer\.json here/);
});
