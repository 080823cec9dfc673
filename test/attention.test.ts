/**
 * Attention kernels: which one runs (CPU packed flash, CUDA varlen flash, per-sequence SDPA), the work items and the
 * varlen flash arguments (pure functions, testable without a GPU), the debug line, the CUDA-less error, and that the
 * packed CPU kernel gives what per-sequence SDPA gives, forward and backward (parity with transformers itself is
 * test/parity.test.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { types } from 'node:util';
import { classifierConfig, native, presetConfig, toNativeConfig } from '../lib';
import { describeNative, maxAbs, maxAbsDiff, readSafetensors } from './helpers/fixtures';

const ADDON = path.resolve(__dirname, '..', 'build', 'Release', 'radbert_native.node');

describeNative()('attention kernels', () => {
  const plan = (cu: number[], o: Parameters<ReturnType<typeof native>['attentionPlan']>[1]) =>
    native().attentionPlan(Int32Array.from(cu), o);

  test('kernel selection by device, dtype, head_dim, dropout and RADBERT_ATTENTION', () => {
    const k = (o: Record<string, unknown>) => plan([0, 5], { heads: 2, headDim: 64, window: -1, ...o }).kernel;
    expect(k({})).toBe('cpu-flash-packed');
    expect(k({ dtype: 'bfloat16' })).toBe('cpu-flash-packed');
    expect(k({ dtype: 'float64' })).toBe('sdpa-per-sequence');
    expect(k({ dropout: 0.1 })).toBe('sdpa-per-sequence'); // dropout masks come from SDPA per sequence
    expect(k({ device: 'cuda', dtype: 'bfloat16' })).toBe('cuda-flash-varlen');
    expect(k({ device: 'cuda', dtype: 'float16' })).toBe('cuda-flash-varlen');
    expect(k({ device: 'cuda', dtype: 'float32' })).toBe('sdpa-per-sequence'); // flash has no fp32
    expect(k({ device: 'cuda', dtype: 'bfloat16', headDim: 12 })).toBe('sdpa-per-sequence'); // flash: head_dim % 8
    expect(k({ device: 'cuda', dtype: 'bfloat16', headDim: 264 })).toBe('sdpa-per-sequence'); // flash: head_dim <= 256
    expect(k({ device: 'cuda', dtype: 'bfloat16', dropout: 0.1 })).toBe('sdpa-per-sequence');
    expect(k({ forceSdpa: true })).toBe('sdpa-per-sequence');
    expect(k({ device: 'cuda', dtype: 'bfloat16', forceSdpa: true })).toBe('sdpa-per-sequence');
  });

  test('CPU work items cover every (sequence, head) once, longest first, split heads only for small batches', () => {
    const cover = (cu: number[], heads: number, window: number, threads: number) => {
      const { items } = plan(cu, { heads, headDim: 32, window, threads });
      const seen = new Map<string, number>();
      for (const it of items) {
        expect(it.begin).toBe(cu[it.seq]);
        expect(it.len).toBe(cu[it.seq + 1] - cu[it.seq]);
        const keys = window < 0 ? it.len : Math.min(it.len, 2 * window + 1);
        expect(it.cost).toBe(it.len * keys * (it.headEnd - it.headBegin));
        for (let h = it.headBegin; h < it.headEnd; h++) seen.set(`${it.seq}:${h}`, (seen.get(`${it.seq}:${h}`) ?? 0) + 1);
      }
      expect(seen.size).toBe((cu.length - 1) * heads);
      expect([...seen.values()].every((c) => c === 1)).toBe(true);
      for (let i = 1; i < items.length; i++) expect(items[i - 1].cost).toBeGreaterThanOrEqual(items[i].cost);
      return items;
    };
    // batch 1, 12 heads, 2 threads: 8 head groups so both threads work
    expect(cover([0, 41], 12, -1, 2)).toHaveLength(8);
    // 64 sequences: one item per sequence (fewest kernel calls)
    const cu64 = [0];
    for (let i = 0; i < 64; i++) cu64.push(cu64[i] + 3 + ((i * 37) % 200));
    expect(cover(cu64, 12, 64, 2)).toHaveLength(64);
    // 3 sequences, 4 heads, 2 threads: ceil(8 / 3) = 3 groups of 4 heads
    const items = cover([0, 3, 203, 210], 4, 8, 2);
    expect(items).toHaveLength(9);
    expect(items[0].seq).toBe(1); // the 200-token sequence first
    // one thread: one item per sequence, whatever the batch
    expect(cover([0, 41], 12, -1, 1)).toHaveLength(1);
    expect(cover([0, 3, 203, 210], 4, 8, 1)).toHaveLength(3);
    // more groups than heads are clamped to one head per item
    expect(cover([0, 10], 2, -1, 16)).toHaveLength(2);
    expect(() => plan([0, 5, 5], { heads: 2, headDim: 32, window: -1 })).toThrow(/attentionPlan: .*empty/);
  });

  test('varlen flash arguments: int32 offsets, max length, window per side, scale', () => {
    const local = plan([0, 3, 203, 210], { heads: 12, headDim: 64, window: 64, device: 'cuda', dtype: 'bfloat16' });
    expect(local.kernel).toBe('cuda-flash-varlen');
    expect(Array.from(local.flash.cuSeqlens)).toEqual([0, 3, 203, 210]);
    expect(types.isInt32Array(local.flash.cuSeqlens)).toBe(true);
    expect(local.flash.maxLen).toBe(200);
    // ModernBERT's local_attention 128 = 64 tokens on each side, not causal
    expect([local.flash.windowLeft, local.flash.windowRight]).toEqual([64, 64]);
    expect(local.flash.scale).toBeCloseTo(1 / 8, 15);
    const global = plan([0, 7], { heads: 12, headDim: 64, window: -1 });
    expect([global.flash.windowLeft, global.flash.windowRight]).toEqual([-1, -1]); // unlimited
    expect(global.flash.maxLen).toBe(7);
    // an odd local_attention (15) gives 7 on each side, as transformers' local_attention // 2
    expect(plan([0, 20], { heads: 1, headDim: 12, window: Math.floor(15 / 2) }).flash.windowLeft).toBe(7);
    expect(() => plan([1, 5], { heads: 2, headDim: 32, window: -1 })).toThrow(/start at 0/);
    expect(() => plan([0, 5], { heads: 2, headDim: 32.5, window: -1 })).toThrow(/headDim must be an integer/);
  });

  test('version() says which attention kernel each device runs', () => {
    const v = native().version();
    expect(v.attention.cpu).toMatch(/^cpu-flash-packed/);
    expect(v.attention.cuda).toMatch(/cuda-flash-varlen \(bf16\/fp16.*sdpa-per-sequence \(fp32\)/);
  });

  test("device 'cuda' without CUDA rejects with what to do (no abort), and bad numerics options are refused", async () => {
    const cfg = toNativeConfig(classifierConfig(presetConfig('tiny'), ['a', 'b']));
    if (!native().version().cuda)
      await expect(native().createModel(cfg, { device: 'cuda', seed: 0, init: false })).rejects.toThrow(
        /device 'cuda' requested but CUDA is not available.*use device 'cpu'/,
      );
    expect(() => native().createModel(cfg, { device: 'cpu', seed: 0, init: false, deterministic: 'yes' as unknown as boolean })).toThrow(
      /options.deterministic must be a boolean/,
    );
  });

  describe('packed CPU kernel against per-sequence SDPA (child processes, RADBERT_ATTENTION)', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-attn-'));
    afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
    // 4 heads of 16, windows of 8 on each side, a global layer every 3 of 4, captions of 3 to 60 tokens
    const cfg = toNativeConfig({
      ...classifierConfig(presetConfig('tiny'), ['a', 'b', 'c']),
      hidden_size: 64,
      num_attention_heads: 4,
      intermediate_size: 96,
      local_attention: 16,
      global_attn_every_n_layers: 3,
      vocab_size: 512,
      pad_token_id: 0,
    });
    const script = path.join(tmp, 'run.js');
    fs.writeFileSync(
      script,
      `const addon = require(${JSON.stringify(ADDON)});
const [cfg, out, threads] = [JSON.parse(process.argv[2]), process.argv[3], Number(process.argv[4])];
(async () => {
  addon.setNumThreads(threads);
  const m = await addon.createModel(cfg, { device: 'cpu', seed: 7, init: true, deterministic: process.env.DET === '1' });
  const lens = [3, 60, 17, 1, 33, 9];
  const cu = Int32Array.from([0, ...lens.map((s => (l) => (s += l))(0))]);
  const ids = Int32Array.from({ length: cu[cu.length - 1] }, (_, i) => 1 + ((i * 7919) % 500));
  const logits = Array.from(await m.forward(ids, cu));
  const bf16 = Array.from(await m.forward(ids, cu, { bf16: true }));
  const targets = Float32Array.from({ length: lens.length * 3 }, (_, i) => (i % 4 === 0 ? 1 : 0));
  const step = await m.trainStep(ids, cu, targets, { lr: 1e-3, update: false });
  await m.saveWeights(out, { what: 'grads' });
  console.log(JSON.stringify({ logits, bf16, step }));
})().catch((e) => { console.error(e); process.exit(1); });`,
    );
    const run = (name: string, env: Record<string, string>, threads = 2) => {
      const file = path.join(tmp, `${name}.safetensors`);
      const r = execFileSync(process.execPath, [script, JSON.stringify(cfg), file, String(threads)], {
        encoding: 'utf8',
        env: { ...process.env, NODE_OPTIONS: '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      return { ...(JSON.parse(r) as { logits: number[]; bf16: number[]; step: { loss: number; gradNorm: number } }), grads: readSafetensors(file) };
    };

    test('same logits, bf16 logits, loss and every gradient, with 2 threads and 1', () => {
      const packed = run('packed', {});
      const sdpa = run('sdpa', { RADBERT_ATTENTION: 'sdpa' });
      const serial = run('serial', {}, 1);
      for (const other of [sdpa, serial]) {
        expect(maxAbsDiff(packed.logits, other.logits)).toBeLessThanOrEqual(1e-6);
        expect(maxAbsDiff(packed.bf16, other.bf16)).toBeLessThanOrEqual(1e-6);
        expect(Math.abs(packed.step.loss - other.step.loss)).toBeLessThanOrEqual(1e-7);
        expect(Math.abs(packed.step.gradNorm - other.step.gradNorm) / other.step.gradNorm).toBeLessThanOrEqual(1e-6);
        for (const [name, g] of other.grads) {
          const mine = packed.grads.get(name)!;
          const rel = maxAbsDiff(mine.data, g.data) / (maxAbs(g.data) || 1);
          if (rel > 1e-5) throw new Error(`gradient of ${name}: ${rel} relative`);
        }
        expect(other.grads.size).toBe(packed.grads.size);
      }
    });

    test('deterministic: true runs (torch.use_deterministic_algorithms) and two runs agree bit for bit', () => {
      const a = run('det-a', { DET: '1' });
      const b = run('det-b', { DET: '1' });
      expect(a.logits).toEqual(b.logits);
      expect(a.step).toEqual(b.step);
      for (const [name, g] of a.grads) expect([name, maxAbsDiff(g.data, b.grads.get(name)!.data)]).toEqual([name, 0]);
    });

    test('RADBERT_DEBUG=1 prints the kernel once per device and dtype; a bad RADBERT_ATTENTION is a clear error', () => {
      const r = spawnSync(process.execPath, [script, JSON.stringify(cfg), path.join(tmp, 'd.safetensors'), '2'], {
        encoding: 'utf8',
        env: { ...process.env, NODE_OPTIONS: '', RADBERT_DEBUG: '1' },
      });
      expect(r.status).toBe(0);
      const lines = r.stderr.split('\n').filter((l) => l.includes('attention kernel'));
      expect(lines).toEqual(['radbert-native: attention kernel cpu-flash-packed on cpu Float', 'radbert-native: attention kernel cpu-flash-packed on cpu BFloat16']);
      const bad = spawnSync(process.execPath, [script, JSON.stringify(cfg), path.join(tmp, 'b.safetensors'), '2'], {
        encoding: 'utf8',
        env: { ...process.env, NODE_OPTIONS: '', RADBERT_ATTENTION: 'flash' },
      });
      expect(bad.status).toBe(1); // a rejected promise caught by the script, not a signal
      expect(bad.stderr).toMatch(/RADBERT_ATTENTION must be 'auto' or 'sdpa', got 'flash'/);
    });
  });
});
