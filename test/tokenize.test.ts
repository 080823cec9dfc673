/** Token ids equal transformers (AutoTokenizer on the same folder) on real captions, truncation included. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadTokenizer, packBatch } from '../lib';
import { runPythonJson } from './helpers/python';
import { TOKENIZER } from './helpers/paths';

const DATA = path.resolve(__dirname, '..', '..', 'shared', 'datasets', 'roco-radiology-mini', 'data');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-tok-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Awkward inputs: empty-ish, whitespace runs (the tokenizer has added tokens for runs of spaces), unicode, specials. */
const EDGE = [
  '', ' ', '  ', '\n', '\t', 'CT', 'a          b', '   leading and trailing   ',
  'Ünïcödé façade — 3×4 mm² lesion ≥ 2 cm', 'e\u0301 vs \u00e9 (NFD vs NFC)', 'emoji 🩻 x-ray 🫁', 'ZWJ 👩‍⚕️ doctor',
  '中文放射学 CT 扫描', 'العربية', 'tabs\tand\nnewlines\r\n', '\u0000 nul and \u200b zero-width',
  '[CLS] literal [SEP] and [MASK] and [PAD]', '<|padding|> <|endoftext|>', 'T2-weighted MRI (arrow) shows ~5mm lesion; p<0.05.',
  'x'.repeat(600), 'word '.repeat(400),
];

test('ids equal transformers on 300 real captions and edge cases: no truncation, max_length 256 and 16', () => {
  const ref = runPythonJson<{ texts: string[]; ids: Record<string, number[][]> }>(
    `
import json, sys, pyarrow.parquet as pq
from transformers import AutoTokenizer
inp = json.load(sys.stdin)
tok = AutoTokenizer.from_pretrained(inp["tokenizer"])
texts = pq.read_table(inp["data"] + "/train-00000-of-00001.parquet", columns=["caption"]).column("caption").to_pylist()[:300]
texts += inp["edge"]
ids = {str(n): [tok(t, truncation=True, max_length=n)["input_ids"] for t in texts] for n in (256, 16)}
ids["none"] = [tok(t)["input_ids"] for t in texts]
print(json.dumps({"texts": texts, "ids": ids}))
`,
    { tokenizer: TOKENIZER, data: DATA, edge: EDGE },
  );
  expect(ref.texts).toHaveLength(300 + EDGE.length);
  const tok = loadTokenizer(TOKENIZER);
  expect(tok.numSpecialTokens).toBe(2);
  let truncated = 0;
  for (const n of ['none', '256', '16']) {
    const ours = tok.encodeBatch(ref.texts, n === 'none' ? undefined : Number(n));
    ref.ids[n].forEach((expected, i) => expect([i, ref.texts[i].slice(0, 40), ours[i]]).toEqual([i, ref.texts[i].slice(0, 40), expected]));
    if (n !== 'none') truncated += ours.filter((s) => s.length === Number(n)).length;
  }
  expect(truncated).toBeGreaterThan(100);
  // [CLS] ... [SEP] as ModernBERT's TemplateProcessing adds them, even around nothing
  expect(tok.encode('')).toEqual([50281, 50282]);
});

test('a tokenizer.json path works as well as its folder; tokenizer_config model_max_length is only used when sane', () => {
  const byFile = loadTokenizer(path.join(TOKENIZER, 'tokenizer.json'));
  expect(byFile.encode('CT of the chest', 5)).toEqual(loadTokenizer(TOKENIZER).encode('CT of the chest', 5));
  expect(byFile.modelMaxLength).toBeUndefined(); // the shared tokenizer_config says 1e30
  const dir = path.join(tmp, 'sane');
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(TOKENIZER, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 8192 }));
  expect(loadTokenizer(dir).modelMaxLength).toBe(8192);
});

test('truncation: total length is max_length, specials kept; impossible lengths are errors', () => {
  const tok = loadTokenizer(TOKENIZER);
  const full = tok.encode('computed tomography of the abdomen and pelvis with contrast');
  expect(full.length).toBeGreaterThan(6);
  const cut = tok.encode('computed tomography of the abdomen and pelvis with contrast', 5);
  expect(cut).toEqual([...full.slice(0, 4), full[full.length - 1]]);
  expect(tok.encode('anything', 2)).toEqual([50281, 50282]);
  expect(() => tok.encode('anything', 1)).toThrow(/maxLength 1 is smaller than the 2 special tokens/);
  expect(() => tok.encode('anything', 2.5)).toThrow(/maxLength must be an integer/);
  expect(() => tok.encode(42 as unknown as string)).toThrow(/expected a string/);
});

test('packBatch lays sequences back to back with offsets', () => {
  const p = packBatch([[1, 2, 3], [4], [5, 6]]);
  expect(p.ids).toBeInstanceOf(Int32Array);
  expect(p.cuSeqlens).toBeInstanceOf(Int32Array);
  expect(Array.from(p.ids)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(Array.from(p.cuSeqlens)).toEqual([0, 3, 4, 6]);
  expect(Array.from(packBatch([[7]]).cuSeqlens)).toEqual([0, 1]);
  expect(() => packBatch([])).toThrow(/empty/);
  expect(() => packBatch([[1], []])).toThrow(/sequence 1 is empty/);
});

test('clear errors: no tokenizer.json, missing path, malformed JSON, not a tokenizer', () => {
  expect(() => loadTokenizer(__dirname)).toThrow(/no tokenizer\.json here/);
  expect(() => loadTokenizer(path.join(tmp, 'nope'))).toThrow(/nope: tokenizer not found/);
  const bad = path.join(tmp, 'bad');
  fs.mkdirSync(bad);
  fs.writeFileSync(path.join(bad, 'tokenizer.json'), '{"version": ');
  expect(() => loadTokenizer(bad)).toThrow(/bad\/tokenizer\.json: malformed JSON/);
  const notTok = path.join(tmp, 'nottok');
  fs.mkdirSync(notTok);
  fs.writeFileSync(path.join(notTok, 'tokenizer.json'), '{"hello": 1}');
  expect(() => loadTokenizer(notTok)).toThrow(/nottok\/tokenizer\.json/);
});
