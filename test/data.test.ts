import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readRows, parseCsv, DataError, type Row } from '../lib/data/readers';
import { seedSplit } from '../lib/data/split';
import { fitLabels, LabelBinarizer, compareCodePoints } from '../lib/data/labels';
import { PCG64, permutation, seedSequenceState } from '../lib/data/rng';
import { runPythonJson } from './helpers/python';

const SHARED = path.resolve(__dirname, '..', '..', 'shared', 'datasets');
const MINI = path.join(SHARED, 'roco-radiology-mini');
const FULL = path.join(SHARED, 'roco-radiology');
const hasShared = fs.existsSync(MINI);
const itShared = hasShared ? test : test.skip;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-data-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});
function write(name: string, text: string): string {
  const f = path.join(tmp, name);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, text);
  return f;
}

describe('rng: numpy default_rng(seed).permutation', () => {
  const ns = [0, 1, 2, 3, 10, 100, 1978, 6953, 70000];
  const seeds: (number | bigint)[] = [0, 1, 42, 1234, 2 ** 32 + 5, 2n ** 64n + 3n, 2n ** 130n + 7n];
  let ref: { perms: number[][][]; raw: string[][]; doubles: number[][]; state: number[] };
  beforeAll(() => {
    ref = runPythonJson(
      `
import json, sys, numpy as np
q = json.load(sys.stdin)
seeds = [int(s) for s in q['seeds']]
perms = [[np.random.default_rng(s).permutation(n).tolist() for n in q['ns']] for s in seeds]
raw = [[str(v) for v in np.random.PCG64(s).random_raw(5)] for s in seeds]
doubles = [np.random.default_rng(s).random(5).tolist() for s in seeds]
state = np.random.SeedSequence(42).generate_state(8).tolist()
print(json.dumps(dict(perms=perms, raw=raw, doubles=doubles, state=state)))
`,
      { ns, seeds: seeds.map(String) },
    );
  });

  test('SeedSequence(42).generate_state', () => {
    expect(Array.from(seedSequenceState(42, 8))).toEqual(ref.state);
  });
  test('PCG64 raw 64-bit outputs and random() doubles', () => {
    seeds.forEach((s, i) => {
      const g = new PCG64(s);
      expect(Array.from({ length: 5 }, () => g.nextUint64().toString())).toEqual(ref.raw[i]);
      const h = new PCG64(s);
      expect(Array.from({ length: 5 }, () => h.nextDouble())).toEqual(ref.doubles[i]);
    });
  });
  test('permutation(n, seed) equals numpy for every n and seed', () => {
    seeds.forEach((s, i) => ns.forEach((n, j) => {
      const got = permutation(n, s);
      if (JSON.stringify(got) !== JSON.stringify(ref.perms[i][j])) throw new Error(`seed ${s} n ${n} differs`);
    }));
  });
  test('rejects negative seeds', () => {
    expect(() => permutation(3, -1)).toThrow(/non-negative/);
  });
});

describe('the seed split on roco-radiology-mini', () => {
  let py: { ids: Record<string, string[]>; captions: Record<string, string[]>; cuis: Record<string, string[][]>; perm: number[]; permFull: number[]; nFull: number[] };
  let splits: Record<string, Row[]>;
  beforeAll(async () => {
    if (!hasShared) return;
    py = runPythonJson(`
import json, numpy as np, pyarrow.parquet as pq
d = {s: pq.read_table(f'${MINI}/data/{s}-00000-of-00001.parquet', columns=['image_id', 'caption', 'cui']).to_pydict() for s in ['train', 'test']}
full = {s: pq.read_table(f'${FULL}/data/{s}-00000-of-00001.parquet', columns=['image_id']).num_rows for s in ['train', 'test']}
print(json.dumps(dict(
  ids={s: d[s]['image_id'] for s in d}, captions={s: d[s]['caption'] for s in d}, cuis={s: d[s]['cui'] for s in d},
  # HF datasets: Dataset.shuffle(seed=42) == np.random.default_rng(42).permutation(len(ds)), then select(range(...))
  perm=np.random.default_rng(42).permutation(len(d['train']['image_id'])).tolist(),
  permFull=np.random.default_rng(42).permutation(full['train']).tolist(), nFull=[full['train'], full['test']])))
`);
    splits = (await readRows(MINI, { idColumn: 'image_id' })).splits;
  });

  itShared('reads captions, CUI lists and ids identical to pyarrow', () => {
    expect(Object.keys(splits).sort()).toEqual(['test', 'train']);
    for (const s of ['train', 'test']) {
      expect(splits[s].map((r) => r.id)).toEqual(py.ids[s]);
      expect(splits[s].map((r) => r.text)).toEqual(py.captions[s]);
      expect(splits[s].map((r) => r.labels)).toEqual(py.cuis[s]);
      expect(splits[s].map((r) => r.row)).toEqual(py.ids[s].map((_, i) => i));
    }
  });

  itShared('1633 / 345 / 327 rows, 205 steps per epoch at batch 8, rows equal to the Python reference', () => {
    const { train, validation, test } = seedSplit(splits);
    expect([train.length, validation.length, test.length]).toEqual([1633, 345, 327]);
    expect(Math.ceil(train.length / 8)).toBe(205);
    expect(validation.map((r) => r.id)).toEqual(py.perm.slice(0, 345).map((i) => py.ids.train[i]));
    expect(train.map((r) => r.id)).toEqual(py.perm.slice(345).map((i) => py.ids.train[i]));
    expect(test.map((r) => r.id)).toEqual(py.ids.test);
  });

  itShared('roco-radiology (full) splits like numpy too', async () => {
    const full = (await readRows(FULL)).splits;
    const { train, validation, test } = seedSplit(full);
    const [nTrain, nTest] = py.nFull;
    const v = Math.floor(0.15 * (nTrain + nTest));
    expect([train.length, validation.length, test.length]).toEqual([nTrain - v, v, nTest]);
    expect(validation.map((r) => r.row)).toEqual(py.permFull.slice(0, v));
    expect(train.map((r) => r.row)).toEqual(py.permFull.slice(v));
  });

  itShared('LabelBinarizer equals sklearn MultiLabelBinarizer (classes, matrices, unknown labels, minLabelCount)', () => {
    const { train, validation, test } = seedSplit(splits);
    const ref = runPythonJson<{ classes: string[]; nz: Record<string, number[]>; unknown: Record<string, number>; rare: string[] }>(
      `
import json, sys, warnings, numpy as np
from collections import Counter
from sklearn.preprocessing import MultiLabelBinarizer
q = json.load(sys.stdin)
mlb = MultiLabelBinarizer().fit(q['train'])
out = dict(classes=mlb.classes_.tolist(), nz={}, unknown={})
for s in ['train', 'validation', 'test']:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        Y = mlb.transform(q[s])
    out['nz'][s] = np.flatnonzero(Y).tolist()
    known = set(mlb.classes_)
    out['unknown'][s] = sum(1 for ls in q[s] for l in ls if l not in known)
c = Counter(l for ls in q['train'] for l in set(ls))
out['rare'] = sorted(l for l, n in c.items() if n >= 3)
print(json.dumps(out))
`,
      { train: train.map((r) => r.labels), validation: validation.map((r) => r.labels), test: test.map((r) => r.labels) },
    );
    const bin = fitLabels(train);
    expect(bin.classes).toEqual(ref.classes);
    const flatNz = (d: Float32Array) => Array.from(d.keys()).filter((i) => d[i] !== 0);
    for (const [s, rows] of Object.entries({ train, validation, test })) {
      const m = bin.transform(rows);
      expect([m.rows, m.numLabels]).toEqual([rows.length, ref.classes.length]);
      expect(flatNz(m.data)).toEqual(ref.nz[s]);
      expect(m.ignored).toBe(ref.unknown[s]);
    }
    expect(bin.transform(train).ignored).toBe(0);
    expect(bin.transform(validation).ignored).toBeGreaterThan(0);
    const rare = fitLabels(train, { minLabelCount: 3 });
    expect(rare.classes).toEqual(ref.rare);
    expect(rare.dropped.length + rare.numLabels).toBe(bin.numLabels);
  });
});

describe('labels', () => {
  test('classes sort by code point like Python, not by UTF-16 unit', () => {
    const labels = ['b', 'B', '\u{1F600}', '\uFF5E', 'a', 'ab', ''];
    const bin = LabelBinarizer.fit([{ labels }]);
    expect(bin.classes).toEqual(['', 'B', 'a', 'ab', 'b', '\uFF5E', '\u{1F600}']);
    expect(compareCodePoints('\u{1F600}', '\uFF5E')).toBeGreaterThan(0);
  });
  test('duplicates in a row count once; explicit classes keep their order', () => {
    const m = new LabelBinarizer(['Z', 'A']).transform([{ labels: ['A', 'A', 'Q'] }, { labels: [] }]);
    expect(Array.from(m.data)).toEqual([0, 1, 0, 0]);
    expect([m.ignored, m.ignoredLabels]).toEqual([1, ['Q']]);
  });
});

describe('bad rows', () => {
  const jsonl = [
    { caption: 'CT of the chest', cui: ['C1'] },
    { caption: 'no labels is fine', cui: [] },
    { caption: '   ', cui: ['C1'] },
    { cui: ['C1'] },
    { caption: 'x', cui: null },
    { caption: 'x', cui: 'C1;C2' },
    { caption: 'x', cui: ['C1', null] },
    { caption: 42, cui: ['C1'] },
    'NOT JSON',
    { caption: 'last good one', cui: ['C2', 'C3'] },
  ].map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n\n';

  test('are reported by split and row, and throw by default', async () => {
    const f = write('bad.jsonl', jsonl);
    const err = (await readRows(f).catch((e) => e)) as DataError;
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toContain('7 bad rows');
    for (const line of [
      'train row 2: empty caption', 'train row 3: missing caption', 'train row 4: cui is missing',
      'train row 5: cui is not a list of strings', 'train row 6: cui has a null entry at position 1',
      'train row 7: caption is not a string', 'train row 8: line 9 is not valid JSON',
    ]) expect(err.message).toContain(line);
    expect(err.badRows.map((b) => b.row)).toEqual([2, 3, 4, 5, 6, 7, 8]);
  });

  test('skipBadRows drops them, keeps source row numbers, and lists what was skipped', async () => {
    const f = write('bad2.jsonl', jsonl);
    const { splits, skipped } = await readRows(f, { skipBadRows: true });
    expect(splits.train.map((r) => [r.row, r.text, r.labels])).toEqual([
      [0, 'CT of the chest', ['C1']], [1, 'no labels is fine', []], [9, 'last good one', ['C2', 'C3']],
    ]);
    expect(skipped.map((b) => `${b.split} row ${b.row}`)).toEqual([2, 3, 4, 5, 6, 7, 8].map((r) => `train row ${r}`));
  });

  test('the error lists at most 10 and counts the rest', async () => {
    const f = write('many.jsonl', Array.from({ length: 25 }, (_, i) => JSON.stringify({ caption: i % 2 ? 'ok' : '', cui: [] })).join('\n'));
    const msg = ((await readRows(f).catch((e) => e)) as Error).message;
    expect(msg).toContain('13 bad rows');
    expect(msg).toContain('train row 18: empty caption');
    expect(msg).not.toContain('train row 20:');
    expect(msg).toContain('... and 3 more');
  });

  test('custom column names', async () => {
    const f = write('cols.jsonl', JSON.stringify({ text: 'a', labels: ['X'] }) + '\n' + JSON.stringify({ text: '', labels: [] }));
    const err = (await readRows(f, { textColumn: 'text', labelColumn: 'labels' }).catch((e) => e)) as Error;
    expect(err.message).toContain('train row 1: empty text');
  });
});

describe('csv', () => {
  const tricky = [
    'image_id,caption,cui',
    'a1,"CT, axial view","C1;C2"',
    'a2,"He said ""look""\nsecond line",C3',
    'a3,plain caption,',
    '',
    'a4,"trailing, ""quotes"""," C4 ; C5 ;"',
    'a5,unquoted "inner" quote,C6',
  ].join('\r\n') + '\r\n';

  test('parser agrees with Python csv on quoting, embedded newlines and CRLF', () => {
    // runPythonJson JSON-encodes its input: decode it on the Python side; csv.reader yields [] for blank lines
    const py = runPythonJson<string[][]>(
      "import csv, io, json, sys; print(json.dumps([r for r in csv.reader(io.StringIO(json.load(sys.stdin), newline='')) if r]))",
      tricky,
    );
    expect(py.length).toBe(6);
    expect(parseCsv(tricky).map((r) => r.fields)).toEqual(py);
  });

  test('reads a csv file: ;-separated labels, empty cell = no labels, row numbers skip blank lines', async () => {
    const f = write('tricky.csv', '\uFEFF' + tricky);
    const { splits } = await readRows(f, { idColumn: 'image_id' });
    expect(splits.train).toEqual([
      { text: 'CT, axial view', labels: ['C1', 'C2'], row: 0, id: 'a1' },
      { text: 'He said "look"\nsecond line', labels: ['C3'], row: 1, id: 'a2' },
      { text: 'plain caption', labels: [], row: 2, id: 'a3' },
      { text: 'trailing, "quotes"', labels: ['C4', 'C5'], row: 3, id: 'a4' },
      { text: 'unquoted "inner" quote', labels: ['C6'], row: 4, id: 'a5' },
    ]);
  });

  test('bad csv rows: wrong field count, empty caption, list literal in the label cell', async () => {
    const f = write('bad.csv', 'caption,cui\nok,C1\n"",C1\nx,"[\'C1\', \'C2\']"\nonly one field\n"a","C1",extra\n');
    const { skipped } = await readRows(f, { skipBadRows: true });
    expect(skipped.map((b) => `${b.split} row ${b.row}: ${b.reason.split(' (')[0]}`)).toEqual([
      'train row 1: empty caption',
      'train row 2: cui looks like a list literal',
      'train row 3: line 5 has 1 fields, the header has 2',
      'train row 4: line 6 has 3 fields, the header has 2',
    ]);
  });

  test('unterminated quote and missing columns are file errors', async () => {
    await expect(readRows(write('unterminated.csv', 'caption,cui\n"abc,C1\nx,C2\n'))).rejects.toThrow(/unterminated quoted field .* line 2/);
    await expect(readRows(write('nocol.csv', 'text,cui\nx,C1\n'))).rejects.toThrow(/no column 'caption'/);
  });
});

describe('parquet', () => {
  let dir: string;
  let sizes: number[];
  beforeAll(() => {
    dir = path.join(tmp, 'hub-layout');
    // Hub layout with a sharded train split, a heavy image column, ZSTD like the Hub, and bad rows in shard 2
    sizes = runPythonJson<number[]>(`
import json, os, numpy as np, pyarrow as pa, pyarrow.parquet as pq
d = ${JSON.stringify(dir)}; os.makedirs(d + '/data')
rng = np.random.default_rng(0)
def shard(name, caps, cuis):
    img = [rng.integers(0, 256, 400_000, dtype=np.uint8).tobytes() for _ in caps]
    t = pa.table({'image': pa.array(img, pa.binary()), 'image_id': [f'{name}-{i}' for i in range(len(caps))],
                  'caption': pa.array(caps, pa.string()), 'cui': pa.array(cuis, pa.list_(pa.string()))})
    pq.write_table(t, f'{d}/data/{name}.parquet', compression='zstd', row_group_size=8)
shard('train-00000-of-00002', [f'cap {i}' for i in range(20)], [[f'C{i % 3}'] for i in range(20)])
shard('train-00001-of-00002', ['good', '', None, 'null entry', 'no cui'], [['C1'], ['C1'], ['C2'], ['C1', None], None])
shard('test-00000-of-00001', ['t0', 't1'], [['C9'], []])
shard('validation-00000-of-00001', ['v0'], [['C1', 'C2']])
print(json.dumps([os.path.getsize(f'{d}/data/{f}') for f in sorted(os.listdir(d + '/data'))]))
`);
  });

  test('reads only the needed columns of every shard, row numbers run across shards', async () => {
    const res = await readRows(dir, { skipBadRows: true, idColumn: 'image_id' });
    const total = sizes.reduce((a, b) => a + b, 0);
    const read = res.files.reduce((a, f) => a + f.bytesRead, 0);
    expect(total).toBeGreaterThan(10_000_000);
    // one row group of images alone is 8 x 400 kB; footers are read in 64 kB tails
    expect(read).toBeLessThan(total / 20);
    expect(res.files.map((f) => path.basename(f.file))).toEqual([
      'test-00000-of-00001.parquet', 'train-00000-of-00002.parquet', 'train-00001-of-00002.parquet', 'validation-00000-of-00001.parquet',
    ]);
    expect(Object.fromEntries(Object.entries(res.splits).map(([s, r]) => [s, r.length]))).toEqual({ test: 2, train: 21, validation: 1 });
    expect(res.splits.train[20]).toEqual({ text: 'good', labels: ['C1'], row: 20, id: 'train-00001-of-00002-0' });
    expect(res.splits.test[1].labels).toEqual([]);
    expect(res.skipped.map((b) => `${b.split} row ${b.row}: ${b.reason}`)).toEqual([
      'train row 21: empty caption', 'train row 22: missing caption', 'train row 23: cui has a null entry at position 1', 'train row 24: cui is missing',
    ]);
  });

  test('a single parquet file is split train; a missing column is named', async () => {
    const f = path.join(dir, 'data', 'test-00000-of-00001.parquet');
    const res = await readRows(f);
    expect(Object.keys(res.splits)).toEqual(['train']);
    expect(res.splits.train.map((r) => r.text)).toEqual(['t0', 't1']);
    await expect(readRows(f, { labelColumn: 'labels' })).rejects.toThrow(/no column 'labels' \(columns: image, image_id, caption, cui\)/);
  });

  test('seedSplit needs a train split and carves 15% of train + test', () => {
    expect(() => seedSplit({ test: [] })).toThrow(/no 'train' split/);
    const rows = (n: number): Row[] => Array.from({ length: n }, (_, i) => ({ text: `t${i}`, labels: [], row: i }));
    const s = seedSplit({ train: rows(100), test: rows(20) });
    expect([s.train.length, s.validation.length, s.test.length]).toEqual([82, 18, 20]);
    expect(s.validation.map((r) => r.row)).toEqual(permutation(100, 42).slice(0, 18));
    expect(seedSplit({ train: rows(10) }, { validationFraction: 0.5, seed: 7 }).validation.map((r) => r.row)).toEqual(permutation(10, 7).slice(0, 5));
  });
});
