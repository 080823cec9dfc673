/**
 * Bad input gives a JS Error naming the file and the key, and the process survives to run a normal forward.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { types } from 'node:util';
import { load, native, toNativeConfig, readConfigFile } from '../lib';
import { describeNative, ensureFixtures, flat, manifest, maxAbsDiff } from './helpers/fixtures';

describeNative()('native errors', () => {
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

  /**
   * Drop the bytes no tensor uses and re-tile the data section (sorted by offset, as the reference validates it), so
   * that a header edit leaves an otherwise valid safetensors file.
   */
  function repack(header: Record<string, any>, data: Buffer): [Record<string, any>, Buffer] {
    const keys = Object.keys(header).filter((k) => k !== '__metadata__').sort((a, b) => header[a].data_offsets[0] - header[b].data_offsets[0]);
    const parts: Buffer[] = [];
    let at = 0;
    for (const k of keys) {
      const [s, e] = header[k].data_offsets as [number, number];
      parts.push(data.subarray(s, e));
      header[k].data_offsets = [at, at + e - s];
      at += e - s;
    }
    return [header, Buffer.concat(parts)];
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
      return repack(h, data);
    }), new RegExp(`model\\.safetensors: 1 tensor\\(s\\) of ModernBertForSequenceClassification are missing, e\\.g\\. "${KEY.replace(/\./g, '\\.')}"`)],
    ['a misshapen tensor', (d) => rewrite(d, (h, data) => {
      h[KEY].shape = [h[KEY].shape[1], h[KEY].shape[0]];
      return [h, data];
    }), new RegExp(`model\\.safetensors: tensor "${KEY.replace(/\./g, '\\.')}" has shape \\[96, 288\\] but the model \\(from config\\.json\\) expects \\[288, 96\\]`)],
    ['an integer tensor where floats belong', (d) => rewrite(d, (h, data) => {
      h[KEY].dtype = 'I32';
      return [h, data];
    }), new RegExp(`model\\.safetensors: tensor "${KEY.replace(/\./g, '\\.')}": dtype I32 is not a floating-point type`)],
    ['an I64 tensor where floats belong', (d) => rewrite(d, (h, data) => {
      // a well-formed I64 tensor of the right shape: its 8-byte elements appended at the end of the data section
      const bytes = h[KEY].shape[0] * h[KEY].shape[1] * 8;
      h[KEY].dtype = 'I64';
      h[KEY].data_offsets = [data.length, data.length + bytes];
      return repack(h, Buffer.concat([data, Buffer.alloc(bytes)]));
    }), new RegExp(`model\\.safetensors: tensor "${KEY.replace(/\./g, '\\.')}": dtype I64 is not a floating-point type`)],
    ['a config.json that is not an object', (d) => fs.writeFileSync(path.join(d, 'config.json'), '[1, 2]'), /config\.json: must hold a JSON object/],
  ])('%s → a clear error', async (name, edit, message) => {
    const dir = variant(name.replace(/\W+/g, '-'), edit);
    const err = await load(dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(types.isNativeError(err)).toBe(true); // an Error (jest's vm realm makes instanceof unreliable for native errors)
    const msg = (err as Error).message;
    console.log(`${name} → ${msg}`);
    expect(msg).toMatch(message);
    expect(msg).toContain(dir); // the full path of the offending file (or folder)
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
    const out = await clf.logits(fx.batch_a);
    clf.close();
    expect(out).toHaveLength(fx.batch_a.length);
    const d = maxAbsDiff(flat(out), flat(fx.configs.awkward.logits_a));
    console.log(`forward after the errors: max |logit − HF| ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-5);
  });
});
