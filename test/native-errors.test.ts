/**
 * Bad input gives a JS Error naming the file and the key, and the process survives to run a normal forward.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { load, native, toNativeConfig, readConfigFile } from '../lib';
import { ensureFixtures, manifest } from './helpers/fixtures';

let src: string;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-errors-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

beforeAll(() => {
  src = path.join(ensureFixtures(), 'awkward', 'model');
});

/** A copy of the fixture model folder, with `edit` applied to it. */
function variant(name: string, edit: (dir: string) => void): string {
  const dir = path.join(tmp, name);
  fs.cpSync(src, dir, { recursive: true });
  edit(dir);
  return dir;
}

/** Rewrite model.safetensors through (header, data) → (header, data). */
function rewrite(dir: string, fn: (header: Record<string, any>, data: Buffer) => [Record<string, any> | string, Buffer]) {
  const file = path.join(dir, 'model.safetensors');
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const [header, data] = fn(JSON.parse(buf.subarray(8, 8 + n).toString()), buf.subarray(8 + n));
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  fs.writeFileSync(file, Buffer.concat([len, h, data]));
}

const KEY = 'model.layers.1.attn.Wqkv.weight';

test.each<[string, (dir: string) => void, RegExp]>([
  ['missing config.json', (d) => fs.rmSync(path.join(d, 'config.json')), /config\.json: not found/],
  ['malformed config.json', (d) => fs.writeFileSync(path.join(d, 'config.json'), '{"hidden_size": 96,'), /config\.json: malformed JSON/],
  ['a bad config value', (d) => {
    const f = path.join(d, 'config.json');
    fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(f, 'utf8')), num_attention_heads: 'three' }));
  }, /config\.json: key "num_attention_heads": must be a positive integer, got "three"/],
  ['an unsupported architecture', (d) => {
    const f = path.join(d, 'config.json');
    fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(f, 'utf8')), architectures: ['BertForSequenceClassification'] }));
  }, /config\.json: key "architectures": unsupported architecture "BertForSequenceClassification"/],
  ['no weights', (d) => fs.rmSync(path.join(d, 'model.safetensors')), /no weights: looked for model\.safetensors and model\.safetensors\.index\.json/],
  ['a safetensors header length larger than the file', (d) => {
    const f = path.join(d, 'model.safetensors');
    const b = fs.readFileSync(f);
    b.writeBigUInt64LE(BigInt(1e12), 0);
    fs.writeFileSync(f, b);
  }, /model\.safetensors: not a safetensors file: header length 1000000000000/],
  ['an invalid safetensors header', (d) => rewrite(d, (h, data) => [JSON.stringify(h).slice(0, -5) + '!!!!!', data]), /model\.safetensors: invalid safetensors header/],
  ['a truncated file', (d) => rewrite(d, (h, data) => [h, data.subarray(0, data.length - 1000)]), /model\.safetensors: tensor ".*": data ends at byte \d+ .* \(truncated file\?\)/],
  ['a missing tensor', (d) => rewrite(d, (h, data) => {
    delete h[KEY];
    return [h, data];
  }), new RegExp(`model\\.safetensors: 1 tensor\\(s\\) of ModernBertForSequenceClassification are missing, e\\.g\\. "${KEY.replace(/\./g, '\\.')}"`)],
  ['a misshapen tensor', (d) => rewrite(d, (h, data) => {
    h[KEY].shape = [h[KEY].shape[1], h[KEY].shape[0]];
    return [h, data];
  }), new RegExp(`model\\.safetensors: tensor "${KEY.replace(/\./g, '\\.')}" has shape \\[96, 288\\] but the model \\(from config\\.json\\) expects \\[288, 96\\]`)],
  ['an integer tensor where floats belong', (d) => rewrite(d, (h, data) => {
    h[KEY].dtype = 'I32';
    return [h, data];
  }), new RegExp(`tensor "${KEY.replace(/\./g, '\\.')}": dtype I32 is not a floating-point type`)],
])('%s → a clear error', async (name, edit, message) => {
  const dir = variant(name.replace(/\W+/g, '-'), edit);
  await expect(load(dir)).rejects.toThrow(message);
});

test('native argument errors are exceptions, not aborts', async () => {
  const cfg = toNativeConfig(readConfigFile(path.join(src, 'config.json')));
  expect(() => native().createModel({ ...cfg, hiddenSize: 95 }, { device: 'cpu', seed: 0, init: true })).toThrow(/hidden_size \(95\) is not a multiple of num_attention_heads \(3\)/);
  expect(() => native().createModel({ ...cfg, classifierPooling: 'max' as 'cls' }, { device: 'cpu', seed: 0, init: true })).toThrow(/classifier_pooling/);
  const model = await native().createModel(cfg, { device: 'cpu', seed: 0, init: true });
  await expect(model.forward(new Int32Array([1, 2, 3]), new Int32Array([0, 2]))).rejects.toThrow(/cuSeqlens ends at 2 but ids has 3 tokens/);
  await expect(model.forward(new Int32Array([1, 2]), new Int32Array([0, 0, 2]))).rejects.toThrow(/sequence 0 is empty/);
  await expect(model.forward(new Int32Array([1, 999999]), new Int32Array([0, 2]))).rejects.toThrow(/token id 999999 at position 1 is outside the vocabulary/);
  await expect(model.trainStep(new Int32Array([1, 2]), new Int32Array([0, 2]), new Float32Array(3), { lr: 1e-3 })).rejects.toThrow(/targets has 3 values, expected batch 1 x numLabels 9/);
  await expect(model.loadWeights([path.join(tmp, 'nope.safetensors')])).rejects.toThrow(/nope\.safetensors: cannot open file/);
  expect(() => model.forward([1, 2] as unknown as Int32Array, new Int32Array([0, 2]))).toThrow(/ids must be an Int32Array/);
  model.free();
  expect(() => model.info()).toThrow(/freed/);
});

test('after all of that, the same process still runs a normal forward', async () => {
  const clf = await load(src);
  const fx = manifest(path.dirname(path.dirname(src)));
  const out = await clf.logits(fx.batch_a.slice(0, 2));
  expect(out).toHaveLength(2);
  expect(out[0].every(Number.isFinite)).toBe(true);
  clf.close();
});
