/**
 * Everything that crosses the N-API boundary is validated before use (issue 12, items 1-3): packed-batch offsets and
 * token ids, config sizes (alone and against the safetensors header, before any allocation), and safetensors files as
 * the reference implementation (huggingface/safetensors, SafeTensors::read_metadata) validates them. Each case is a
 * rejected Promise or a thrown Error with a message naming the file and key or position; the process survives.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native } from '../lib/native';
import type { NativeModel } from '../lib/native';
import { readConfigFile, toNativeConfig } from '../lib/model/config';
import { load } from '../lib';
import { packBatch } from '../lib/model/tokenize';
import { describeNative, ensureFixtures } from './helpers/fixtures';

/** A safetensors file from a header (object, string or raw bytes), its declared length (default: the header's) and data. */
function safetensors(header: Record<string, unknown> | string | Buffer, data: Buffer = Buffer.alloc(0), declared?: bigint): Buffer {
  const h = Buffer.isBuffer(header) ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(declared ?? BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

describeNative()('validation at the native boundary', () => {
  let src: string;
  let model: NativeModel;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-validate-'));

  beforeAll(async () => {
    src = path.join(ensureFixtures(), 'awkward', 'model');
    model = await native().createModel(toNativeConfig(readConfigFile(path.join(src, 'config.json'))), { device: 'cpu', seed: 0, init: true });
  });
  afterAll(() => {
    model.free();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe('packed batches', () => {
    test.each<[string, number[], RegExp]>([
      ['an offset far past the ids (was SIGSEGV)', [0, 100000000, 6], /cuSeqlens\[1\] = 100000000 is outside \[0, 6\]/],
      ['an offset past the ids, then back (wrote past the buffer)', [0, 10, 6], /cuSeqlens\[1\] = 10 is outside \[0, 6\]/],
      ['a negative offset', [0, -3, 6], /cuSeqlens\[1\] = -3 is outside \[0, 6\]/],
      ['decreasing offsets', [0, 4, 2, 6], /sequence 1 is empty or reversed \(cuSeqlens must increase\)/],
      ['not starting at 0', [1, 6], /cuSeqlens must start with 0/],
    ])('%s → rejected', async (_name, cu, message) => {
      const ids = new Int32Array(6).fill(5);
      for (const call of [
        () => model.forward(ids, Int32Array.from(cu)),
        () => model.embed(ids, Int32Array.from(cu)),
        () => model.trainStep(ids, Int32Array.from(cu), new Float32Array(9 * (cu.length - 1)), { lr: 1e-3 }),
      ])
        await expect(call()).rejects.toThrow(message);
    });

    test('token ids outside the vocabulary are rejected; non-integer, NaN and string ids never become ids', async () => {
      await expect(model.forward(Int32Array.from([1, -1]), Int32Array.from([0, 2]))).rejects.toThrow(/token id -1 at position 1 is outside the vocabulary/);
      expect(() => packBatch([[1, 0.5]])).toThrow(/sequence 0, token 1: 0\.5 is not a token id/);
      expect(() => packBatch([[1], [2, NaN]])).toThrow(/sequence 1, token 1: NaN is not a token id/);
      expect(() => packBatch([[1, 'a' as unknown as number]])).toThrow(/sequence 0, token 1: "a" is not a token id/);
      expect(() => packBatch([[2 ** 31]])).toThrow(/2147483648 is not a token id/);
      expect(Array.from(packBatch([[1, 2], [3]]).ids)).toEqual([1, 2, 3]);
    });

    test('a freed model rejects its Promise-returning calls instead of throwing synchronously', async () => {
      const m = await native().createModel(toNativeConfig(readConfigFile(path.join(src, 'config.json'))), { device: 'cpu', seed: 0, init: true });
      m.free();
      const ids = Int32Array.from([1, 2]);
      const cu = Int32Array.from([0, 2]);
      const calls: Array<() => Promise<unknown>> = [
        () => m.forward(ids, cu),
        () => m.embed(ids, cu),
        () => m.evalLoss(ids, cu, new Float32Array(9)),
        () => m.trainStep(ids, cu, new Float32Array(9), { lr: 1e-3 }),
        () => m.loadWeights([]),
        () => m.saveWeights(path.join(tmp, 'x.safetensors')),
        () => m.saveOptimizer(path.join(tmp, 'o.safetensors')),
        () => m.loadOptimizer(path.join(tmp, 'o.safetensors')),
      ];
      for (const call of calls) {
        let p: Promise<unknown> | undefined;
        expect(() => (p = call())).not.toThrow();
        await expect(p).rejects.toThrow(/this model was freed/);
      }
    });
  });

  describe('config sizes', () => {
    const base = () => readConfigFile(path.join(src, 'config.json'));
    test.each<[string, Record<string, unknown>, RegExp]>([
      ['num_hidden_layers 1e9 (was: JavaScript heap out of memory)', { num_hidden_layers: 1e9, layer_types: undefined }, /key "num_hidden_layers": must be at most 1024, got 1000000000/],
      ['hidden_size 5e8 (touched 3 GB before failing)', { hidden_size: 5e8 }, /key "hidden_size": must be at most 65536/],
      ['hidden_size 1e20 (was an internal name)', { hidden_size: 1e20 }, /key "hidden_size": must be at most 65536, got 100000000000000000000/],
      ['vocab_size 1e12', { vocab_size: 1e12 }, /key "vocab_size": must be at most 4194304/],
      ['intermediate_size 1e9', { intermediate_size: 1e9 }, /key "intermediate_size": must be at most 262144/],
    ])('%s → an error naming config.json and the key', (_name, edit, message) => {
      const cfg = { ...base(), ...edit };
      expect(() => toNativeConfig(cfg, '/x/config.json')).toThrow(message);
      expect(() => toNativeConfig(cfg, '/x/config.json')).toThrow(/\/x\/config\.json/);
    });

    test('the native layer bounds sizes too (a config that bypasses config.ts), before allocating', () => {
      const cfg = toNativeConfig(base());
      expect(() => native().createModel({ ...cfg, hiddenSize: 3 * 2 ** 20, numAttentionHeads: 3 }, { device: 'cpu', seed: 0, init: true })).toThrow(/hidden_size must be at most 65536/);
      expect(() => native().createModel({ ...cfg, numHiddenLayers: 1e6, globalLayers: [] }, { device: 'cpu', seed: 0, init: true })).toThrow(/num_hidden_layers must be at most 1024/);
      expect(() => native().createModel({ ...cfg, hiddenSize: 1e20 }, { device: 'cpu', seed: 0, init: true })).toThrow(/config\.hiddenSize must be an integer/);
    });

    test.each<[string, Record<string, unknown>, RegExp]>([
      ['hidden_size', { hidden_size: 65472, num_attention_heads: 3 }, /key "hidden_size" is 65472 but .*model\.safetensors: tensor "model\.embeddings\.tok_embeddings\.weight" has shape \[50368, 96\]/],
      ['vocab_size', { vocab_size: 4000000 }, /key "vocab_size" is 4000000 but .*tensor "model\.embeddings\.tok_embeddings\.weight" has shape \[50368, 96\]/],
      ['intermediate_size', { intermediate_size: 200000 }, /key "intermediate_size" is 200000 but .*tensor "model\.layers\.0\.mlp\.Wi\.weight" has shape \[320, 96\]/],
      ['num_hidden_layers', { num_hidden_layers: 900, layer_types: undefined }, /key "num_hidden_layers" is 900 but .*model\.safetensors holds layers 0\.\.4/],
    ])('a config.json %s that disagrees with the weights is refused before the model is allocated', async (key, edit, message) => {
      const dir = path.join(tmp, `sizes-${key}`);
      fs.cpSync(src, dir, { recursive: true });
      const file = path.join(dir, 'config.json');
      fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), ...edit }));
      const rss = process.memoryUsage().rss;
      const err = await load(dir).then(() => undefined, (e: unknown) => e as Error);
      expect(err?.message).toMatch(message);
      expect(err?.message).toContain(file);
      expect(process.memoryUsage().rss - rss).toBeLessThan(1 << 30); // nothing of the configured size was allocated
    });
  });

  describe('safetensors files as the reference validates them', () => {
    const T = { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] };
    const zeros = (n: number) => Buffer.alloc(n);
    test.each<[string, () => Buffer, RegExp]>([
      ['header too small (empty file)', () => Buffer.alloc(0), /header too small/],
      ['header too large', () => safetensors({ test: T }, zeros(16), 0xffffff0000000000n), /header length \d+ is too large/],
      ['invalid header length (past the end)', () => safetensors('', Buffer.alloc(0), 60n), /header length 60 does not fit the file size 8/],
      ['a header length one byte short (ends inside the padding)', () => {
        const h = `${JSON.stringify({ test: T })}  `;
        return safetensors(h, zeros(16), BigInt(h.length - 1));
      }, /file not fully covered/],
      ['invalid UTF-8 in the header', () => safetensors(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x7b, 0x7d, 0x7d])), /invalid UTF-8 at byte 2/],
      ['not JSON', () => safetensors('{', Buffer.alloc(0)), /invalid safetensors header: .* \(at byte 1 of the header\)/],
      ['extra data after the last tensor (polyglot file)', () => safetensors({ test: T }, Buffer.concat([zeros(16), Buffer.from('extra_bogus_data_for_polyglot_file')])), /file not fully covered: the tensors' data ends at byte 16 of a 50-byte data section/],
      ['missing data', () => safetensors({ test: T }, zeros(14)), /data ends at byte 16 of the data section but the file has only 14 data bytes/],
      ['overlapping tensors (the reference json attack)', () => safetensors(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`weight_${i}`, T])), zeros(16)), /invalid offset: its data starts at byte 0 but the previous tensor ends at byte 16 \(overlapping tensors\)/],
      ['a gap between tensors', () => safetensors({ a: T, b: { ...T, data_offsets: [20, 36] } }, zeros(36)), /tensor "b": invalid offset: its data starts at byte 20 but the previous tensor ends at byte 16 \(a gap in the data\)/],
      ['offsets that do not match the shape (invalid info)', () => safetensors({ test: { ...T, data_offsets: [0, 4] } }, zeros(4)), /tensor "test": data_offsets \[0, 4\) do not match shape \[2, 2\] of F32/],
      ['a shape dimension beyond int64 (the reference: overflow)', () => safetensors('{"test":{"dtype":"I32","shape":[2,18446744073709551614],"data_offsets":[0,16]}}', zeros(16)), /tensor "test": overflow: shape dimension 18446744073709551614 is too large/],
      ['an element count that overflows (bytes)', () => safetensors('{"test":{"dtype":"I32","shape":[2,9223372036854775807],"data_offsets":[0,16]}}', zeros(16)), /overflow computing its size/],
      ['an integer beyond 64 bits', () => safetensors('{"test":{"dtype":"I32","shape":[2,99999999999999999999],"data_offsets":[0,16]}}', zeros(16)), /integer overflows 64 bits \(at byte \d+ of the header\)/],
      ['a bad \\u escape in a tensor name (was "Error: stoul")', () => safetensors('{"te\\uZZZZst":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}', zeros(16)), /bad \\u escape \(expected 4 hex digits\) \(at byte 6 of the header\)/],
      ['an unpaired surrogate escape', () => safetensors('{"te\\ud800st":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}', zeros(16)), /unpaired high surrogate/],
    ])('%s → a clear error naming the file', async (name, make, message) => {
      const file = path.join(tmp, `${name.replace(/\W+/g, '-')}.safetensors`);
      fs.writeFileSync(file, make());
      const err = await model.loadWeights([file]).then(() => undefined, (e: unknown) => e as Error);
      expect(err?.message).toMatch(message);
      expect(err?.message).toContain(file);
    });

    test.each<[string, () => Buffer]>([
      ['a zero-sized tensor', () => safetensors('{"test":{"dtype":"I32","shape":[2,0],"data_offsets":[0, 0]}}')],
      ['a whitespace-padded header', () => safetensors('\t\n{}\r ')],
      ['a valid \\u escape and a surrogate pair in a name', () => safetensors('{"t\\u00e9\\ud83d\\ude00":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}', zeros(16))],
    ])('%s is accepted, as by the reference', async (name, make) => {
      const file = path.join(tmp, `ok-${name.replace(/\W+/g, '-')}.safetensors`);
      fs.writeFileSync(file, make());
      const report = await model.loadWeights([file]);
      expect(report.loaded).toEqual([]);
    });

    test('a non-numeric step in an optimizer state names the file and the value (was "Error: stoll")', async () => {
      const file = path.join(tmp, 'optimizer.safetensors');
      fs.writeFileSync(file, safetensors({ __metadata__: { step: '12abc' } }));
      await expect(model.loadOptimizer(file)).rejects.toThrow(new RegExp(`${file.replace(/[.]/g, '\\.')}: metadata "step" is "12abc", not a non-negative integer`));
    });
  });

  test('after all of that, the model still runs', async () => {
    const out = await model.forward(Int32Array.from([1, 2, 3]), Int32Array.from([0, 3]));
    expect(out.length).toBe(9);
  });
});
