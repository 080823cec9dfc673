/** MLM corpora: .txt files, text-only dataset files/folders, and issue 14's series corpus checked against pyarrow + numpy. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataError } from '../lib/data/readers';
import { readTextFile, readTexts, seriesCorpus } from '../lib/data/mlm-corpus';
import { runPythonJson } from './helpers/python';
import { FULL, MINI } from './helpers/paths';

const hasShared = fs.existsSync(MINI) && fs.existsSync(FULL);
const itShared = hasShared ? test : test.skip;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlm-corpus-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const write = (name: string, data: string | Buffer) => {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, data);
  return f;
};

describe('.txt corpus', () => {
  test('one text per line, LF or CRLF, blank lines skipped, BOM dropped, row = line index', () => {
    const f = write('a.txt', '\uFEFFCT of the chest.\r\n\r\n   \nMRI du genou — T2\nlast line without newline');
    const rows = readTextFile(f);
    expect(rows.map((r) => [r.text, r.row])).toEqual([
      ['CT of the chest.', 0],
      ['MRI du genou — T2', 3],
      ['last line without newline', 4],
    ]);
  });

  test('invalid UTF-8 is reported by line number', () => {
    const f = write('bad.txt', Buffer.concat([Buffer.from('ok\nfine\n'), Buffer.from([0x61, 0xff, 0x62, 0x0a]), Buffer.from('ok\n'), Buffer.from([0xc3, 0x28])]));
    const err = (() => {
      try {
        readTextFile(f);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(DataError);
    expect(err!.message).toContain(f);
    expect(err!.message).toMatch(/2 bad rows/);
    expect(err!.message).toMatch(/line 3: invalid UTF-8/);
    expect(err!.message).toMatch(/line 5: invalid UTF-8/);
  });

  test('an all-blank or missing file is refused by name', async () => {
    expect(() => readTextFile(write('blank.txt', '\n  \n'))).toThrow(/no text/);
    expect(() => readTextFile(path.join(tmp, 'nope.txt'))).toThrow(/nope\.txt: no such file/);
    expect((await readTexts(write('b.txt', 'x\ny\n'))).rows.map((r) => r.text)).toEqual(['x', 'y']);
  });
});

describe('dataset files without labels', () => {
  test('jsonl and csv with only a text column; --text-column picks it', async () => {
    const j = write('t.jsonl', '{"text": "a b"}\n\n{"text": "c"}\n');
    expect((await readTexts(j, { textColumn: 'text' })).rows.map((r) => [r.text, r.split, r.row])).toEqual([
      ['a b', 'train', 0],
      ['c', 'train', 1],
    ]);
    const c = write('t.csv', 'id,text\n1,"x, y"\n2,z\n');
    const rows = (await readTexts(c, { textColumn: 'text', idColumn: 'id' })).rows;
    expect(rows.map((r) => [r.text, r.id])).toEqual([
      ['x, y', '1'],
      ['z', '2'],
    ]);
  });

  test('bad rows are named (split, row, reason), or skipped on request; a missing column is named', async () => {
    const j = write('bad.jsonl', '{"caption": "ok"}\n{"caption": ""}\n{"caption": 3}\nnot json\n{"other": 1}\n');
    await expect(readTexts(j)).rejects.toThrow(/4 bad rows[\s\S]*train row 1: empty caption[\s\S]*train row 2: caption is not a string[\s\S]*train row 3: line 4 is not valid JSON[\s\S]*train row 4: missing caption/);
    const { rows, skipped } = await readTexts(j, { skipBadRows: true });
    expect(rows.map((r) => r.text)).toEqual(['ok']);
    expect(skipped).toHaveLength(4);
    await expect(readTexts(write('c.csv', 'a,b\n1,2\n'))).rejects.toThrow(/no column 'caption'/);
  });

  test('invalid UTF-8 in jsonl or csv names its line instead of becoming U+FFFD', async () => {
    const bytes = (s: string) => Buffer.concat([Buffer.from(s), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n{"caption": "fine"}\n')]);
    const j = write('bad-utf8.jsonl', bytes('{"caption": "ok"}\n{"caption": "x'));
    await expect(readTexts(j)).rejects.toThrow(/1 bad row[\s\S]*train row 1: line 2 is not valid UTF-8/);
    expect((await readTexts(j, { skipBadRows: true })).rows.map((r) => r.text)).toEqual(['ok', 'fine']);
    const c = write('bad-utf8.csv', Buffer.concat([Buffer.from('caption\nok\nx'), Buffer.from([0xc3]), Buffer.from('\n')]));
    await expect(readTexts(c)).rejects.toThrow(/bad-utf8\.csv: line 3 is not valid UTF-8/);
  });

  itShared('a parquet folder: the train split by default, other splits on request, no label column needed', async () => {
    const py = runPythonJson<Record<string, string[]>>(`
import json, pyarrow.parquet as pq
print(json.dumps({s: pq.read_table(f'${MINI}/data/{s}-00000-of-00001.parquet', columns=['caption']).column('caption').to_pylist() for s in ['train', 'test']}))`);
    expect((await readTexts(MINI)).rows.map((r) => r.text)).toEqual(py.train);
    const both = (await readTexts(MINI, { splits: ['train', 'test'] })).rows;
    expect(both.filter((r) => r.split === 'test').map((r) => r.text)).toEqual(py.test);
    await expect(readTexts(MINI, { splits: ['validation'] })).rejects.toThrow(/no split 'validation' \(have: test, train\)/);
    await expect(readTexts(MINI, { textColumn: 'text' })).rejects.toThrow(/no column 'text'/);
  });
});

describe('the series corpus (issue 14)', () => {
  itShared('roco-radiology train minus the seed validation split of roco-radiology-mini, equal to pyarrow + numpy', async () => {
    const py = runPythonJson<{ rest: string[]; removed: string[]; testInTrain: number }>(`
import json, numpy as np, pyarrow.parquet as pq
r = lambda d, s: pq.read_table(f'{d}/data/{s}-00000-of-00001.parquet', columns=['image_id', 'caption']).to_pydict()
big, mini, mtest = r('${FULL}', 'train'), r('${MINI}', 'train'), r('${MINI}', 'test')
n = len(mini['image_id']); v = int(0.15 * (n + len(mtest['image_id'])))
val = {mini['image_id'][i] for i in np.random.default_rng(42).permutation(n)[:v]}
print(json.dumps(dict(rest=[c for i, c in zip(big['image_id'], big['caption']) if i not in val],
  removed=[i for i in big['image_id'] if i in val], testInTrain=len(set(mtest['image_id']) & set(big['image_id'])))))`);
    const s = await seriesCorpus(FULL, MINI);
    expect(s.rows.map((r) => r.text)).toEqual(py.rest);
    expect(s.removedIds).toEqual(py.removed);
    // measured: all 345 validation captions are in roco-radiology train (same caption text), none of mini's test rows are
    expect(s.removedIds).toHaveLength(345);
    expect(s.rows).toHaveLength(6608);
    expect(s.validationNotFound).toEqual([]);
    expect(s.removedCaptionMismatches).toBe(0);
    expect(s.testIdsInCorpus).toEqual([]);
    expect(py.testInTrain).toBe(0);
    // exact-text duplicates under other image_ids remain (2 validation captions, 5 test captions): reported, not removed
    expect(s.textDuplicates).toEqual({ validation: 2, test: 5 });
  });
});
