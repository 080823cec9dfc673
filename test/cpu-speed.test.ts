/**
 * The CPU fast paths keep the numerics contract: the GEMM library per CPU (MKL or oneDNN, linear.h), the weights
 * reordered once for inference, the training nodes (fp32 and bf16), the per-op thread budget of short inputs
 * (threads.h), and the compute-thread hand-off (task.cpp). Timings are the benchmark's business (npm run bench); these
 * tests check behaviour: each path against the other and against libtorch's own, and what the process sees.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createClassifier, classifierConfig, presetConfig, packBatch, native, type Classifier } from '../lib';
import { describeNative, maxAbsDiff, flat } from './helpers/fixtures';
import { REPO, TOKENIZER } from './helpers/paths';

const TEXTS = ['CT of Chest with pneumothorax', 'MRI of the brain showing a lesion in the left temporal lobe', 'Chest radiograph'];
const LABELS = ['C0040405', 'C0024485', 'C0817096', 'C0032326'];

describeNative()('CPU fast paths', () => {
  let clf: Classifier;
  let threads = 0;
  let gemm: 'mkl' | 'onednn' | 'libtorch' = 'mkl';

  beforeAll(async () => {
    ({ threads, gemm: { mode: gemm } } = native().version());
    const cfg = classifierConfig({ ...presetConfig('small'), num_hidden_layers: 3 }, LABELS);
    clf = await createClassifier(cfg, { tokenizer: TOKENIZER, seed: 11 });
  });
  afterAll(() => {
    clf.close();
    native().setGemm(gemm);
    native().setNumThreads(threads);
  });

  test('version() names the CPU and the GEMM library of each dtype, with the reason', () => {
    const v = native().version();
    expect(['mkl', 'onednn']).toContain(v.gemm.fp32);
    expect(v.gemm.bf16).toBe(v.gemm.mode === 'libtorch' ? 'libtorch-autocast' : 'onednn');
    expect(v.gemm.reason.length).toBeGreaterThan(0);
    expect(typeof v.cpu.vendor).toBe('string');
    expect(typeof v.cpu.name).toBe('string');
    expect(typeof v.cpu.flags).toBe('string');
    if (v.cpu.vendor === 'GenuineIntel' && !process.env.RADBERT_GEMM) expect(v.gemm.fp32).toBe('mkl');
    if (v.cpu.vendor === 'AuthenticAMD' && !process.env.RADBERT_GEMM) expect(v.gemm.fp32).toBe('onednn');
  });

  test('setGemm switches the library process-wide and refuses other names', () => {
    native().setGemm('onednn');
    expect(native().version().gemm).toMatchObject({ fp32: 'onednn', reason: 'setGemm=onednn' });
    native().setGemm('mkl');
    expect(native().version().gemm).toMatchObject({ fp32: 'mkl', reason: 'setGemm=mkl' });
    native().setGemm('libtorch');
    expect(native().version().gemm).toMatchObject({ fp32: 'mkl', bf16: 'libtorch-autocast', mode: 'libtorch' });
    native().setGemm('auto');
    expect(native().version().gemm.reason).not.toMatch(/setGemm/);
    expect(() => native().setGemm('blas' as 'mkl')).toThrow("setGemm must be 'auto', 'mkl', 'onednn' or 'libtorch', got 'blas'");
  });

  test('a bad RADBERT_GEMM is a clear error, not a crash', () => {
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(REPO)}).native().version()`], {
      env: { ...process.env, RADBERT_GEMM: 'fast' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("RADBERT_GEMM must be 'auto', 'mkl', 'onednn' or 'libtorch', got 'fast'");
  });

  test('inference: oneDNN with reordered weights and libtorch give the same logits (fp32 ≤ 1e-5, bf16 ≤ 2e-2)', async () => {
    const logits = async (mode: 'libtorch' | 'onednn', dtype: 'float32' | 'bfloat16') => {
      native().setGemm(mode);
      clf.dtype = dtype;
      const out = flat(await clf.logits(TEXTS));
      clf.dtype = 'float32';
      return out;
    };
    const ref = await logits('libtorch', 'float32');
    const onednn = await logits('onednn', 'float32');
    expect(await logits('onednn', 'float32')).toEqual(onednn); // the reordered weights are reused
    const refBf16 = await logits('libtorch', 'bfloat16');
    const oursBf16 = await logits('onednn', 'bfloat16');
    const [d, d16] = [maxAbsDiff(onednn, ref), maxAbsDiff(oursBf16, refBf16)];
    console.log(`forward: oneDNN vs libtorch max |Δlogit| fp32 ${d.toExponential(2)}, bf16 autocast ${d16.toExponential(2)}`);
    expect(d).toBeLessThan(1e-5);
    expect(d16).toBeLessThan(2e-2); // the documented bound of bf16 autocast logits against a reference
  });

  test('training: the oneDNN node and libtorch (MKL) give the same loss and gradients, fp32 and bf16', async () => {
    const enc = clf.encode(TEXTS);
    const { ids, cuSeqlens } = packBatch(enc);
    const targets = Float32Array.from([1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0]);
    const step = async (bf16: boolean) => clf.model.trainStep(ids, cuSeqlens, targets, { lr: 1e-3, update: false, bf16 });
    for (const bf16 of [false, true]) {
      native().setGemm('libtorch');
      const a = await step(bf16);
      native().setGemm('onednn');
      const b = await step(bf16);
      const rel = (x: number, y: number) => Math.abs(x - y) / Math.abs(y);
      console.log(`train step ${bf16 ? 'bf16' : 'fp32'}: loss rel ${rel(b.loss, a.loss).toExponential(2)}, grad norm rel ${rel(b.gradNorm, a.gradNorm).toExponential(2)}`);
      // fp32: two summation orders; bf16: our node vs libtorch's autocast linear (the documented bf16 bound vs HF)
      expect(rel(b.loss, a.loss)).toBeLessThan(bf16 ? 1e-3 : 1e-6);
      expect(rel(b.gradNorm, a.gradNorm)).toBeLessThan(bf16 ? 1e-3 : 1e-5);
    }
  });

  test('a short input runs under the thread budget and leaves the thread setting as it was; results equal a 1-thread run', async () => {
    native().setNumThreads(2);
    const two = flat(await clf.logits(TEXTS.slice(0, 1)));
    expect(native().version().threads).toBe(2);
    native().setNumThreads(1);
    const one = flat(await clf.logits(TEXTS.slice(0, 1)));
    native().setNumThreads(threads);
    expect(maxAbsDiff(two, one)).toBeLessThan(1e-6);
  });

  test('worker threads that close, are terminated or exit mid-call leave the main thread working; exit mid-call is clean', () => {
    const script = `
const { Worker, isMainThread, parentPort } = require('node:worker_threads');
const lib = require(${JSON.stringify(REPO)});
const cfg = lib.classifierConfig(lib.presetConfig('tiny'), ['A', 'B']);
if (isMainThread) {
  (async () => {
    for (const mode of ['close', 'terminate', 'exit']) {
      const w = new Worker(__filename, { workerData: mode });
      w.on('message', () => { if (mode === 'terminate') w.terminate(); });
      const code = await new Promise((r) => w.on('exit', r));
      console.log(mode, code);
    }
    const clf = await lib.createClassifier(cfg, { tokenizer: ${JSON.stringify(TOKENIZER)}, seed: 1 });
    console.log('main', (await clf.logits(['CT of chest']))[0].length);
    clf.model.forward(Int32Array.from([50281, 50282]), Int32Array.from([0, 2])); // still in flight at exit
    setImmediate(() => process.exit(0));
  })();
} else {
  (async () => {
    const clf = await lib.createClassifier(cfg, { tokenizer: ${JSON.stringify(TOKENIZER)}, seed: 2 });
    const r = await clf.logits(['CT of chest', 'MRI']);
    parentPort.postMessage(r.length);
    const mode = require('node:worker_threads').workerData;
    if (mode === 'terminate') for (let i = 0; i < 20; i++) clf.logits(['x ' + i]).catch(() => {});
    else if (mode === 'exit') { clf.logits(['y']).catch(() => {}); process.exit(0); } // ends the worker, not the compute thread
    else clf.close();
  })();
}`;
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-worker-')), 'worker.js');
    fs.writeFileSync(file, script);
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 120_000 });
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['close 0', 'terminate 1', 'exit 0', 'main 2']);
    expect(r.status).toBe(0);
  });
});
