/**
 * The user-facing model: folder resolution and its errors, prediction post-processing, batching and close semantics
 * (on a stand-in native model), and, when the addon is built, load/predict/save round trips with a real one.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  Classifier, load, createClassifier, toPrediction, resolveModelFolder, shardFiles, saveModelFolder, loadTokenizer,
  classifierConfig, presetConfig, toNativeConfig, sigmoid, native,
} from '../lib';
import type { NativeModel, LoadReport } from '../lib';
import { describeNative, readSafetensors } from './helpers/fixtures';

const ROOT = path.resolve(__dirname, '..');
const TOKENIZER = path.resolve(ROOT, '..', 'shared', 'models', 'modernbert-tokenizer');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-classifier-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
/** A fresh folder holding `files` (name → content). */
function folder(files: Record<string, string | Buffer>): string {
  const dir = path.join(tmp, `f${counter++}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  return dir;
}

/** A safetensors file of F32 tensors (header padded to 8 bytes, as the Rust writer does). */
function safetensors(tensors: Record<string, { shape: number[]; data: ArrayLike<number> }>, metadata = { format: 'pt' }): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [key, t] of Object.entries(tensors)) {
    const b = Buffer.from(new Float32Array(Array.from(t.data)).buffer);
    header[key] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + b.length] };
    chunks.push(b);
    offset += b.length;
  }
  let h = JSON.stringify(header);
  h += ' '.repeat((8 - (h.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(h)));
  return Buffer.concat([len, Buffer.from(h), ...chunks]);
}

const CONFIG = JSON.stringify(classifierConfig(presetConfig('tiny'), ['C0040405', 'C0024485']));
const TINY_WEIGHTS = safetensors({ 'model.embeddings.norm.weight': { shape: [2], data: [1, 1] } });

describe('model folder resolution', () => {
  test('a folder that is not there, or a file', () => {
    const nowhere = path.join(tmp, 'nowhere');
    expect(() => resolveModelFolder(nowhere)).toThrow(`${nowhere}: model folder not found`);
    const file = path.join(folder({ 'x.txt': 'x' }), 'x.txt');
    expect(() => resolveModelFolder(file)).toThrow(/x\.txt: is not a folder/);
  });

  test('missing config.json', () => {
    const dir = folder({ 'model.safetensors': TINY_WEIGHTS });
    expect(() => resolveModelFolder(dir)).toThrow(`${path.join(dir, 'config.json')}: not found (a Hugging Face model folder needs config.json)`);
  });

  test('malformed config.json names the file and the parser message', () => {
    const dir = folder({ 'config.json': '{"hidden_size": 96,', 'model.safetensors': TINY_WEIGHTS });
    expect(() => resolveModelFolder(dir)).toThrow(new RegExp(`${path.join(dir, 'config.json').replace(/[/.]/g, '\\$&')}: malformed JSON: .+`));
  });

  test('missing weights: says what was looked for and that pytorch_model.bin is not supported', () => {
    const dir = folder({ 'config.json': CONFIG });
    expect(() => resolveModelFolder(dir)).toThrow(`${dir}: no weights: looked for model.safetensors and model.safetensors.index.json (pytorch_model.bin is not supported`);
    const bin = folder({ 'config.json': CONFIG, 'pytorch_model.bin': 'pickle' });
    expect(() => resolveModelFolder(bin)).toThrow(/no weights: .*\(found pytorch_model\.bin, which is not supported: convert it to safetensors/);
  });

  test('a sharded index: unique shards in order; a missing shard names the index file and the key', () => {
    const index = { metadata: { total_size: 24 }, weight_map: { 'a.weight': 'model-00001-of-00002.safetensors', 'b.weight': 'model-00002-of-00002.safetensors', 'c.weight': 'model-00001-of-00002.safetensors' } };
    const ok = folder({ 'config.json': CONFIG, 'model.safetensors.index.json': JSON.stringify(index), 'model-00001-of-00002.safetensors': TINY_WEIGHTS, 'model-00002-of-00002.safetensors': TINY_WEIGHTS });
    expect(resolveModelFolder(ok).weightFiles).toEqual([path.join(ok, 'model-00001-of-00002.safetensors'), path.join(ok, 'model-00002-of-00002.safetensors')]);

    const broken = folder({ 'config.json': CONFIG, 'model.safetensors.index.json': JSON.stringify(index), 'model-00001-of-00002.safetensors': TINY_WEIGHTS });
    const indexFile = path.join(broken, 'model.safetensors.index.json');
    expect(() => resolveModelFolder(broken)).toThrow(`${indexFile}: key "weight_map.b.weight": names shard "model-00002-of-00002.safetensors", which is missing from ${broken}`);

    const bad = folder({ 'config.json': CONFIG, 'model.safetensors.index.json': '{"weight_map": ' });
    expect(() => resolveModelFolder(bad)).toThrow(/model\.safetensors\.index\.json: malformed index/);
    const noMap = folder({ 'config.json': CONFIG, 'model.safetensors.index.json': '{"metadata": {}}' });
    expect(() => resolveModelFolder(noMap)).toThrow(/model\.safetensors\.index\.json: key "weight_map": has no weight_map object/);
    const escape = folder({ 'config.json': CONFIG, 'model.safetensors.index.json': JSON.stringify({ weight_map: { k: '../elsewhere.safetensors' } }) });
    expect(() => shardFiles(path.join(escape, 'model.safetensors.index.json'))).toThrow(/key "weight_map.k": shard name "..\/elsewhere.safetensors" must be a plain file name/);
  });

  test('model.safetensors wins over an index; tokenizer and label_names are found when present', () => {
    const dir = folder({
      'config.json': CONFIG, 'model.safetensors': TINY_WEIGHTS, 'model.safetensors.index.json': '{"weight_map": {"a": "gone.safetensors"}}',
      'tokenizer.json': '{}', 'label_names.json': '{"C0040405": "X-Ray Computed Tomography"}',
    });
    const f = resolveModelFolder(dir);
    expect(f.weightFiles).toEqual([path.join(dir, 'model.safetensors')]);
    expect(f.tokenizerFile).toBe(path.join(dir, 'tokenizer.json'));
    expect(f.labelNamesFile).toBe(path.join(dir, 'label_names.json'));
    expect(f.config.id2label).toEqual({ 0: 'C0040405', 1: 'C0024485' });
    expect(resolveModelFolder(folder({ 'config.json': CONFIG, 'model.safetensors': TINY_WEIGHTS })).tokenizerFile).toBeUndefined();
  });

  test('load() reports the same errors before touching the native layer', async () => {
    await expect(load(folder({ 'model.safetensors': TINY_WEIGHTS }))).rejects.toThrow(/config\.json: not found/);
    await expect(load(folder({ 'config.json': '{', 'model.safetensors': TINY_WEIGHTS }))).rejects.toThrow(/config\.json: malformed JSON/);
    await expect(load(folder({ 'config.json': CONFIG }))).rejects.toThrow(/no weights: looked for model\.safetensors/);
    await expect(load(folder({ 'config.json': JSON.stringify({ architectures: ['BertModel'] }), 'model.safetensors': TINY_WEIGHTS }))).rejects.toThrow(
      /config\.json: key "architectures": unsupported architecture "BertModel"/,
    );
    const noTok = folder({ 'config.json': CONFIG, 'model.safetensors': TINY_WEIGHTS });
    await expect(load(noTok)).rejects.toThrow(`${noTok}: no tokenizer.json in the model folder (pass options.tokenizer)`);
    await expect(load(noTok, { tokenizer: path.join(tmp, 'no-such-tokenizer') })).rejects.toThrow(/no-such-tokenizer: tokenizer not found/);
  });
});

describe('prediction post-processing (toPrediction)', () => {
  const labels = ['C1', 'C2', 'C3', 'C4'];

  test('labels with sigmoid(logit) > threshold, most probable first; probabilities hold exactly those', () => {
    const p = toPrediction(labels, Float32Array.from([0.5, 2, -1, 0.1]));
    expect(p.labels).toEqual(['C2', 'C1', 'C4']);
    expect(Object.keys(p.probabilities).sort()).toEqual(['C1', 'C2', 'C4']);
    expect(p.probabilities.C2).toBe(1 / (1 + Math.exp(-2)));
    expect(p.probabilities.C1).toBe(sigmoid(Math.fround(0.5)));
  });

  test('the threshold is strict; 0 gives every label; 1 gives none', () => {
    expect(toPrediction(labels, [0, 0, 0, 0]).labels).toEqual([]); // 0.5 is not > 0.5
    expect(toPrediction(labels, [0, 0, 0, 0], 0.4999).labels).toEqual(['C1', 'C2', 'C3', 'C4']); // ties: by label
    const all = toPrediction(labels, [-200, 3, -1, 0], 0);
    expect(all.labels).toEqual(['C2', 'C4', 'C3', 'C1']);
    expect(Object.keys(all.probabilities)).toHaveLength(4);
    expect(all.probabilities.C1).toBeGreaterThanOrEqual(0);
    expect(toPrediction(labels, [30, 30, 30, 30], 1).labels).toEqual([]);
  });

  test('sigmoid is float64 and stable at the extremes', () => {
    expect(sigmoid(0)).toBe(0.5);
    expect(sigmoid(-800)).toBe(0);
    expect(sigmoid(800)).toBe(1);
    expect(sigmoid(-40)).toBeGreaterThan(0); // 4.2e-18: not rounded to 0 as 1 - 1/(1+e^40) would be
    expect(() => toPrediction(labels, [1, 2])).toThrow(/2 logits for 4 labels/);
  });
});

/** A stand-in for the native model: logits row i = [sequence length, first id, last id] of each packed sequence. */
function fakeModel(): NativeModel & { calls: number[]; freed: boolean } {
  const m = {
    calls: [] as number[],
    freed: false,
    async forward(ids: Int32Array, cu: Int32Array): Promise<Float32Array> {
      if (m.freed) throw new Error('freed');
      const b = cu.length - 1;
      m.calls.push(b);
      const out = new Float32Array(b * 3);
      for (let i = 0; i < b; i++) out.set([cu[i + 1] - cu[i], ids[cu[i]], ids[cu[i + 1] - 1]], i * 3);
      return out;
    },
    free() {
      m.freed = true;
    },
    async loadWeights(): Promise<LoadReport> {
      return { loaded: [], missing: [], unexpected: [] };
    },
    async saveWeights() {},
    async trainStep() {
      return { loss: 0, gradNorm: 0 };
    },
    async evalLoss() {
      return { loss: 0, count: 0 };
    },
    async embed() {
      return new Float32Array(0);
    },
    async saveOptimizer() {},
    async loadOptimizer() {},
    info() {
      return { device: 'cpu', architecture: 'ModernBertForSequenceClassification' as const, parameters: [], numParameters: 0 };
    },
  };
  return m;
}

describe('Classifier on a stand-in native model', () => {
  const config = classifierConfig(presetConfig('tiny'), ['C0040405', 'C0024485', 'C0817096']);
  const tok = loadTokenizer(TOKENIZER);
  const make = (batchSize: number, maxLength = 16) => {
    const m = fakeModel();
    const clf = new Classifier({ model: m, config, nativeConfig: toNativeConfig(config), tokenizer: tok, device: 'cpu', maxLength }, {
      batchSize, labelNames: { C0040405: 'X-Ray Computed Tomography' },
    });
    return { m, clf };
  };

  test('labels in id2label order; encode truncates to maxLength', () => {
    const { clf } = make(64, 8);
    expect(clf.labels).toEqual(['C0040405', 'C0024485', 'C0817096']);
    const ids = clf.encode(['CT', 'a very long caption about a computed tomography of the chest with contrast']);
    expect(ids[0]).toEqual(tok.encode('CT'));
    expect(ids[1]).toHaveLength(8);
    expect(ids[1][0]).toBe(50281);
    expect(ids[1][7]).toBe(50282);
  });

  test('logits: one row per input, in input order, batched in chunks of batchSize', async () => {
    const seqs = Array.from({ length: 7 }, (_, i) => Array.from({ length: i + 1 }, (_, j) => 100 + i * 10 + j));
    const { m, clf } = make(3);
    const rows = await clf.logits(seqs);
    expect(m.calls).toEqual([3, 3, 1]);
    expect(rows.map((r) => Array.from(r))).toEqual(seqs.map((s) => [s.length, s[0], s[s.length - 1]]));
    const texts = ['CT of the chest', 'MRI', 'Ultrasound of the abdomen and pelvis'];
    const fromText = await clf.logits(texts);
    expect(fromText.map((r) => r[0])).toEqual(clf.encode(texts).map((s) => s.length));
    expect(await clf.logits([])).toEqual([]);
  });

  test('predict: one text → Prediction, many → Prediction[], threshold passed through', async () => {
    const { clf } = make(2);
    // logits [len, 50281 ([CLS]), 50282 ([SEP])] → all three probabilities ≈ 1
    const one = await clf.predict('CT of the chest');
    expect(Array.isArray(one)).toBe(false);
    expect(one.labels.sort()).toEqual(['C0024485', 'C0040405', 'C0817096']);
    const many = await clf.predict(['CT', 'MRI', 'X-ray'], { threshold: 0.5 });
    expect(many).toHaveLength(3);
    expect(await clf.predict([])).toEqual([]);
    await expect(clf.predict('CT', { threshold: NaN })).rejects.toThrow(/threshold must be a number/);
    await expect(clf.predict([1, 2] as unknown as string[])).rejects.toThrow(/expected a string or an array of strings/);
  });

  test('labelName: "name (CUI)" when known, else the CUI', () => {
    const { clf } = make(2);
    expect(clf.labelName('C0040405')).toBe('X-Ray Computed Tomography (C0040405)');
    expect(clf.labelName('C0024485')).toBe('C0024485');
  });

  test('close() frees once; every later call throws the same clear error', async () => {
    const { m, clf } = make(2);
    clf.close();
    clf.close();
    expect(m.freed).toBe(true);
    expect(clf.closed).toBe(true);
    const closed = 'radbert-native: this Classifier was closed';
    expect(() => clf.model).toThrow(closed);
    expect(() => clf.encode(['CT'])).toThrow(closed);
    expect(() => clf.labelName('C0040405')).toThrow(closed);
    await expect(clf.logits(['CT'])).rejects.toThrow(closed);
    await expect(clf.predict('CT')).rejects.toThrow(closed);
    await expect(clf.predict([])).rejects.toThrow(closed);
    await expect(clf.save(path.join(tmp, 'after-close'))).rejects.toThrow(closed);
  });

  test('a bad batchSize is refused', () => {
    const m = fakeModel();
    expect(() => new Classifier({ model: m, config, nativeConfig: toNativeConfig(config), tokenizer: tok, device: 'cpu', maxLength: 16 }, { batchSize: 0 })).toThrow(/batchSize must be a positive integer/);
  });

  test('saveModelFolder writes config.json, weights via saveWeights (format pt), tokenizer files; no temp files left', async () => {
    const m = fakeModel();
    let saved: { file: string; metadata?: Record<string, string> } | undefined;
    m.saveWeights = async (file, options) => {
      saved = { file, metadata: options?.metadata };
      fs.writeFileSync(file, TINY_WEIGHTS);
    };
    const dir = path.join(tmp, 'saved-fake');
    await saveModelFolder(dir, { config, model: m, tokenizerFrom: TOKENIZER, labelNames: { C0040405: 'X-Ray Computed Tomography' } });
    expect(saved!.metadata).toEqual({ format: 'pt' });
    expect(path.dirname(saved!.file)).toBe(dir);
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'label_names.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const written = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    expect(written).toMatchObject({ model_type: 'modernbert', architectures: ['ModernBertForSequenceClassification'], id2label: { 0: 'C0040405' }, dtype: 'float32' });
    expect(fs.readFileSync(path.join(dir, 'tokenizer.json')).equals(fs.readFileSync(path.join(TOKENIZER, 'tokenizer.json')))).toBe(true);
    // a failing weight write leaves neither a half-written model.safetensors nor temp files
    const failing = fakeModel();
    failing.saveWeights = async (file) => {
      fs.writeFileSync(file, 'partial');
      throw new Error('disk full');
    };
    const dir2 = path.join(tmp, 'saved-failing');
    await expect(saveModelFolder(dir2, { config, model: failing })).rejects.toThrow('disk full');
    expect(fs.readdirSync(dir2)).toEqual([]);
    await expect(saveModelFolder(path.join(tmp, 'x'), { config, model: m, tokenizerFrom: path.join(tmp, 'nope') })).rejects.toThrow(/nope: tokenizer not found/);
  });
});

test('the built package: require and import of dist expose the same names', () => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'index.js'))) execFileSync('npm', ['run', 'build:ts'], { cwd: ROOT, stdio: 'ignore' });
  if (!fs.existsSync(path.join(ROOT, 'dist', 'index.mjs'))) execFileSync(process.execPath, ['scripts/write-esm-wrapper.js'], { cwd: ROOT, stdio: 'ignore' });
  const script = path.join(tmp, 'entry.mjs');
  fs.writeFileSync(
    script,
    `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const cjs = require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))});
const esm = await import(${JSON.stringify(path.join(ROOT, 'dist', 'index.mjs'))});
const names = (o) => Object.keys(o).filter((k) => k !== 'default' && k !== '__esModule').sort();
console.log(JSON.stringify({ cjs: names(cjs), esm: names(esm), same: esm.load === cjs.load && esm.default === cjs }));
`,
  );
  const out = JSON.parse(execFileSync(process.execPath, [script], { encoding: 'utf8' }));
  expect(out.esm).toEqual(out.cjs);
  expect(out.same).toBe(true);
  for (const name of ['load', 'Classifier', 'createClassifier', 'packBatch', 'loadTokenizer', 'presetConfig', 'toNativeConfig', 'native']) expect(out.cjs).toContain(name);
});

describeNative()('with the native addon', () => {
  const labels = ['C0040405', 'C0024485', 'C0817096'];
  const texts = ['CT of the chest showing a pneumothorax', 'MRI of the brain', 'Ultrasound of the abdomen', 'x'];
  let clf: Classifier;
  let saved: string;

  beforeAll(async () => {
    clf = await createClassifier(classifierConfig({ ...presetConfig('tiny'), num_hidden_layers: 2 }, labels), { tokenizer: TOKENIZER, seed: 7, device: 'cpu', maxLength: 32, batchSize: 3 });
    saved = path.join(tmp, 'saved-real');
    clf.labelNames = { C0040405: 'X-Ray Computed Tomography' };
    await clf.save(saved);
  });
  afterAll(() => clf?.close());

  test('device option: cuda without CUDA is a clear error; auto picks what exists', async () => {
    const cuda = native().version().cuda;
    if (!cuda) await expect(load(saved, { device: 'cuda' })).rejects.toThrow(/device 'cuda' requested, but .* no CUDA/);
    const auto = await load(saved);
    expect(auto.device).toBe(cuda ? 'cuda' : 'cpu');
    auto.close();
    await expect(load(saved, { device: 'gpu' as 'cuda' })).rejects.toThrow(/device must be 'auto', 'cpu' or 'cuda'/);
  });

  test('predict / logits: rows in input order, independent of batching; predictions follow the logits', async () => {
    const rows = await clf.logits(texts);
    expect(rows).toHaveLength(4);
    expect((await clf.logits(texts)).map((r) => Array.from(r))).toEqual(rows.map((r) => Array.from(r))); // deterministic
    // alone or in a batch: the same row up to float32 summation order (the packed batch changes GEMM shapes)
    for (let i = 0; i < texts.length; i++) {
      const alone = (await clf.logits([texts[i]]))[0];
      alone.forEach((v, j) => expect(Math.abs(v - rows[i][j])).toBeLessThan(1e-5));
    }
    const preds = await clf.predict(texts, { threshold: 0 });
    // predict() packs by token budget (one forward of 4 here), logits() by batchSize rows (3 + 1): equal up to rounding
    preds.forEach((p, i) => {
      const want = toPrediction(labels, rows[i], 0);
      expect(p.labels).toEqual(want.labels);
      for (const l of labels) expect(Math.abs(p.probabilities[l] - want.probabilities[l])).toBeLessThanOrEqual(1e-6);
    });
    const one = await clf.predict(texts[0], { threshold: 0.5 });
    expect(one).toEqual(toPrediction(labels, (await clf.logits([texts[0]]))[0], 0.5));
  });

  test('save → load gives the same logits, labels, label names and max length', async () => {
    expect(fs.readdirSync(saved).sort()).toEqual(['config.json', 'label_names.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const threads = native().version().threads;
    const back = await load(saved, { device: 'cpu', maxLength: 32, threads: 1, batchSize: 3 });
    expect(native().version().threads).toBe(1);
    native().setNumThreads(threads); // the setting is process-wide: give it back
    expect(back.labels).toEqual(labels);
    expect(back.maxLength).toBe(32);
    expect(back.labelName('C0040405')).toBe('X-Ray Computed Tomography (C0040405)');
    const a = await clf.logits(texts);
    const b = await back.logits(texts);
    expect(b.map((r) => Array.from(r))).toEqual(a.map((r) => Array.from(r)));
    back.close();
    const dflt = await load(saved);
    expect(dflt.maxLength).toBe(32); // save() records the max length as tokenizer_config.json's model_max_length (issue 13, item 2)
    dflt.close();
    await expect(load(saved, { maxLength: 2 })).rejects.toThrow(/maxLength must be an integer >= 3/);
  });

  test('missing tensors are an error naming the file and the first keys', async () => {
    const dir = path.join(tmp, 'missing');
    fs.cpSync(saved, dir, { recursive: true });
    const tensors = readSafetensors(path.join(dir, 'model.safetensors'));
    tensors.delete('classifier.weight');
    tensors.delete('head.dense.weight');
    fs.writeFileSync(path.join(dir, 'model.safetensors'), safetensors(Object.fromEntries(tensors)));
    await expect(load(dir)).rejects.toThrow(
      `${path.join(dir, 'model.safetensors')}: 2 tensor(s) of ModernBertForSequenceClassification are missing, e.g. "head.dense.weight", "classifier.weight"`,
    );
  });

  test('sharded checkpoints load; unknown extra tensors give one warning line, known ones none', async () => {
    const dir = path.join(tmp, 'sharded');
    fs.cpSync(saved, dir, { recursive: true });
    const tensors = readSafetensors(path.join(dir, 'model.safetensors'));
    fs.rmSync(path.join(dir, 'model.safetensors'));
    const keys = [...tensors.keys()];
    const half = Math.ceil(keys.length / 2);
    const shard = (ks: string[]) => safetensors(Object.fromEntries(ks.map((k) => [k, tensors.get(k)!])));
    fs.writeFileSync(path.join(dir, 'model-00001-of-00003.safetensors'), shard(keys.slice(0, half)));
    fs.writeFileSync(path.join(dir, 'model-00002-of-00003.safetensors'), shard(keys.slice(half)));
    fs.writeFileSync(path.join(dir, 'model-00003-of-00003.safetensors'), safetensors({ 'decoder.bias': { shape: [2], data: [0, 0] }, 'extra.weird': { shape: [1], data: [3] } }));
    const weightMap: Record<string, string> = {};
    keys.forEach((k, i) => (weightMap[k] = `model-0000${i < half ? 1 : 2}-of-00003.safetensors`));
    weightMap['decoder.bias'] = weightMap['extra.weird'] = 'model-00003-of-00003.safetensors';
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));

    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const sharded = await load(dir, { batchSize: 3 });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/ignored 1 tensor\(s\) that ModernBertForSequenceClassification does not use, e\.g\. "extra\.weird"/);
      const a = await clf.logits(texts);
      const b = await sharded.logits(texts);
      expect(b.map((r) => Array.from(r))).toEqual(a.map((r) => Array.from(r)));
      sharded.close();
    } finally {
      warn.mockRestore();
    }
  });
});

describeNative()('Hub ids and disposal', () => {
  test("load('org/name') and load('org/name@rev') resolve through the Hugging Face cache, as the CLI does", async () => {
    const cache = path.join(tmp, 'hf-cache');
    const commit = 'abcdefabcdefabcdefabcdefabcdefabcdefabcd';
    const repo = path.join(cache, 'models--test-org--tiny-clf');
    const snap = path.join(repo, 'snapshots', commit);
    const cfg = classifierConfig(presetConfig('tiny'), ['C1', 'C2']);
    const m = await native().createModel(toNativeConfig(cfg), { device: 'cpu', seed: 3, init: true });
    await saveModelFolder(snap, { config: cfg, model: m, tokenizerFrom: TOKENIZER });
    m.free();
    fs.mkdirSync(path.join(repo, 'refs'), { recursive: true });
    fs.writeFileSync(path.join(repo, 'refs', 'main'), commit);
    const saved = { cache: process.env.HF_HUB_CACHE, offline: process.env.HF_HUB_OFFLINE };
    process.env.HF_HUB_CACHE = cache;
    process.env.HF_HUB_OFFLINE = '1';
    try {
      const byId = await load('test-org/tiny-clf');
      const byRev = await load(`test-org/tiny-clf@${commit}`);
      const byDir = await load(snap);
      try {
        expect(byId.labels).toEqual(['C1', 'C2']);
        const text = 'CT of the chest';
        const [want] = await byDir.logits([text]);
        expect(Array.from((await byId.logits([text]))[0])).toEqual(Array.from(want));
        expect(Array.from((await byRev.logits([text]))[0])).toEqual(Array.from(want));
      } finally {
        for (const c of [byId, byRev, byDir]) c.close();
      }
      await expect(load('test-org/not-cached')).rejects.toThrow(/test-org\/not-cached/);
    } finally {
      for (const [k, v] of [['HF_HUB_CACHE', saved.cache], ['HF_HUB_OFFLINE', saved.offline]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  test('`using` a loaded Classifier frees it at the end of the block', async () => {
    const cfg = classifierConfig(presetConfig('tiny'), ['C1']);
    const m = await native().createModel(toNativeConfig(cfg), { device: 'cpu', seed: 1, init: true });
    const dir = path.join(tmp, 'dispose');
    await saveModelFolder(dir, { config: cfg, model: m, tokenizerFrom: TOKENIZER });
    m.free();
    let outside: Classifier | undefined;
    {
      using clf = await load(dir);
      outside = clf;
      expect(clf.closed).toBe(false);
      expect(typeof clf[Symbol.dispose]).toBe('function');
    }
    expect(outside.closed).toBe(true);
  });
});
