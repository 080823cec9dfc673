'use strict';
/**
 * The radbert-native side of scripts/gpu-check.sh (runs on the carried Node, from dist/).
 *
 * node scripts/gpu/ours_side.js parity DIR --device cuda|cpu
 *   For every DIR/<config>/hf.json written by hf_side.py parity: load DIR/<config>/model on the device and check
 *   fp32 logits, bf16-autocast logits, padding invariance, and (trainable configs) loss, grad norm, every gradient
 *   and the parameters after one clipped AdamW step against transformers. One JSON line: per config, per check,
 *   {observed, bound, pass}.
 * node scripts/gpu/ours_side.js determinism DIR --device cuda|cpu
 *   With deterministic: true, two backward passes of the same batch (fp32 and bf16) give identical loss and gradients.
 * node scripts/gpu/ours_side.js bench DIR --device cuda|cpu [--steps N] [--reps N] [--profile]
 *   Training samples/s (batch 8, bf16 autocast), inference batch 64 samples/s and batch 1 latency (bf16) on
 *   DIR/model with DIR/inputs.json (what hf_side.py bench wrote). --profile: 3 training steps under RADBERT_PROFILE
 *   (set by the caller) and nothing else. One JSON line.
 */
const fs = require('fs');
const path = require('path');
const { load, native, packBatch } = require(path.resolve(__dirname, '..', '..'));

const argv = process.argv.slice(2);
const [mode, dir] = argv;
const flag = (name, def) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
};
const device = flag('--device', 'cuda');
const now = () => Number(process.hrtime.bigint()) / 1e9;

/** F32 tensors of a safetensors file (what save_file/saveWeights write). */
function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString());
  const out = new Map();
  for (const [k, v] of Object.entries(header)) {
    if (k === '__metadata__') continue;
    if (v.dtype !== 'F32') throw new Error(`${file}: ${k} is ${v.dtype}, expected F32`);
    const [a, b] = v.data_offsets;
    const bytes = buf.subarray(8 + n + a, 8 + n + b);
    out.set(k, new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)));
  }
  return out;
}

const maxAbsDiff = (a, b) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const maxAbs = (a) => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
const check = (observed, bound) => ({ observed, bound, pass: observed <= bound });

function packed(ids) {
  const cu = [0];
  for (const x of ids) cu.push(cu[cu.length - 1] + x.length);
  return { ids: Int32Array.from(ids.flat()), cuSeqlens: Int32Array.from(cu) };
}

async function parityOne(name, cfgDir) {
  const hf = JSON.parse(fs.readFileSync(path.join(cfgDir, 'hf.json'), 'utf8'));
  const checks = {};
  const clf = await load(path.join(cfgDir, 'model'), { device });
  const m = clf.model;
  const b = packed(hf.ids);
  const logits = await m.forward(b.ids, b.cuSeqlens);
  checks.logits_fp32 = check(maxAbsDiff(logits, hf.logits.flat()), 1e-4);
  const l16 = await m.forward(b.ids, b.cuSeqlens, { bf16: true });
  checks.logits_bf16 = check(maxAbsDiff(l16, hf.logits_bf16.flat()), 2e-2);
  // padding invariance: each sequence alone gives the logits it has in the batch
  let pad = 0;
  const k = hf.logits[0].length;
  for (let i = 0; i < hf.ids.length; i++) {
    const one = packed([hf.ids[i]]);
    pad = Math.max(pad, maxAbsDiff(await m.forward(one.ids, one.cuSeqlens), logits.subarray(i * k, (i + 1) * k)));
  }
  checks.padding_invariance_fp32 = check(pad, 1e-5);
  if (hf.trainable) {
    const targets = Float32Array.from(hf.targets.flat());
    const s16 = await m.trainStep(b.ids, b.cuSeqlens, targets, { lr: 5e-5, update: false, bf16: true });
    checks.loss_bf16_rel = check(Math.abs(s16.loss - hf.loss_bf16) / Math.abs(hf.loss_bf16), 1e-3);
    checks.grad_norm_bf16_rel = check(Math.abs(s16.gradNorm - hf.grad_norm_bf16) / hf.grad_norm_bf16, 1e-2);
    const s = await m.trainStep(b.ids, b.cuSeqlens, targets, { lr: 5e-5, update: false });
    checks.loss_fp32 = check(Math.abs(s.loss - hf.loss), 1e-5);
    checks.grad_norm_fp32_rel = check(Math.abs(s.gradNorm - hf.grad_norm) / hf.grad_norm, 1e-4);
    const gradsFile = path.join(cfgDir, 'ours_grads.safetensors');
    await m.saveWeights(gradsFile, { what: 'grads' });
    const ours = readSafetensors(gradsFile);
    let worst = 0;
    let worstName = '';
    for (const [key, ref] of readSafetensors(path.join(cfgDir, 'grads.safetensors'))) {
      const mine = ours.get(key);
      if (!mine) throw new Error(`${name}: no gradient for ${key}`);
      const rel = maxAbsDiff(mine, ref) / (maxAbs(ref) || 1);
      if (rel > worst) [worst, worstName] = [rel, key];
    }
    checks.gradients_rel = { ...check(worst, 1e-4), worst: worstName };
    // one clipped AdamW step from the loaded weights (HF Trainer's recipe: clip 1.0, lr 5e-5)
    const fresh = await load(path.join(cfgDir, 'model'), { device });
    await fresh.model.trainStep(b.ids, b.cuSeqlens, targets, { lr: 5e-5, maxGradNorm: 1.0 });
    const paramsFile = path.join(cfgDir, 'ours_params.safetensors');
    await fresh.model.saveWeights(paramsFile);
    const after = readSafetensors(paramsFile);
    let step = 0;
    for (const [key, ref] of readSafetensors(path.join(cfgDir, 'params_after_step.safetensors'))) step = Math.max(step, maxAbsDiff(after.get(key), ref));
    checks.adamw_step_params = check(step, 1e-5);
    fresh.close();
  }
  clf.close();
  return checks;
}

async function parity() {
  const out = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const cfgDir = path.join(dir, name);
    if (!fs.existsSync(path.join(cfgDir, 'hf.json'))) continue;
    try {
      out[name] = await parityOne(name, cfgDir);
    } catch (e) {
      out[name] = { error: { observed: String(e.message || e), pass: false } };
    }
    process.stderr.write(`ours parity ${name}: ${Object.entries(out[name]).map(([k, v]) => `${k} ${v.pass ? 'ok' : 'FAIL'} ${typeof v.observed === 'number' ? v.observed.toExponential(2) : v.observed}`).join(', ')}\n`);
  }
  return { attention: native().version().attention, configs: out };
}

/** deterministic: true on the device: two backward passes of the same batch give the same loss and gradients, bit for bit. */
async function determinism() {
  const name = fs.readdirSync(dir).sort().find((n) => fs.existsSync(path.join(dir, n, 'hf.json')) && JSON.parse(fs.readFileSync(path.join(dir, n, 'hf.json'), 'utf8')).trainable);
  const cfgDir = path.join(dir, name);
  const hf = JSON.parse(fs.readFileSync(path.join(cfgDir, 'hf.json'), 'utf8'));
  const b = packed(hf.ids);
  const targets = Float32Array.from(hf.targets.flat());
  const out = { config: name };
  for (const bf16 of [false, true]) {
    const clf = await load(path.join(cfgDir, 'model'), { device, deterministic: true });
    const runs = [];
    for (let r = 0; r < 2; r++) {
      const s = await clf.model.trainStep(b.ids, b.cuSeqlens, targets, { lr: 5e-5, update: false, bf16 });
      const file = path.join(cfgDir, `det_${bf16}_${r}.safetensors`);
      await clf.model.saveWeights(file, { what: 'grads' });
      runs.push({ loss: s.loss, grads: readSafetensors(file) });
    }
    let diff = Math.abs(runs[0].loss - runs[1].loss);
    for (const [k, g] of runs[0].grads) diff = Math.max(diff, maxAbsDiff(g, runs[1].grads.get(k)));
    out[bf16 ? 'bf16' : 'fp32'] = check(diff, 0);
    clf.close();
  }
  return out;
}

async function bench() {
  const steps = Number(flag('--steps', '20'));
  const reps = Number(flag('--reps', '3'));
  const inputs = JSON.parse(fs.readFileSync(path.join(dir, 'inputs.json'), 'utf8'));
  const clf = await load(path.join(dir, 'model'), { device, dtype: 'bfloat16', maxLength: 256 });
  const res = { side: 'ours', torch: native().version().torch, attention: native().version().attention };
  const bs = 8;
  const texts = inputs.train;
  const k = clf.labels.length;
  const step = async (i) => {
    const j = (i * bs) % (texts.length - bs);
    const batch = packBatch(clf.encode(texts.slice(j, j + bs)));
    const targets = Float32Array.from(inputs.targets.slice(j, j + bs).flat());
    if (targets.length !== bs * k) throw new Error('targets/labels mismatch');
    return clf.model.trainStep(batch.ids, batch.cuSeqlens, targets, { lr: 5e-5, maxGradNorm: 1.0, bf16: true });
  };
  if (argv.includes('--profile')) {
    for (let i = 0; i < 3; i++) await step(i);
    clf.close();
    return res;
  }
  for (let i = 0; i < 3; i++) await step(i);
  let t = now();
  for (let i = 3; i < 3 + steps; i++) await step(i); // each step ends with loss.item(): synchronised
  res.train_samples_per_s = (steps * bs) / (now() - t);
  const infer = inputs.infer;
  const n64 = Math.min(infer.length, 256);
  await clf.logits(infer.slice(0, 64));
  t = now();
  for (let r = 0; r < reps; r++) for (let i = 0; i < n64; i += 64) await clf.logits(infer.slice(i, i + 64));
  res.infer64_samples_per_s = (reps * n64) / (now() - t);
  const lat = [];
  for (const x of infer.slice(0, 32)) {
    const s = now();
    await clf.logits([x]);
    lat.push((now() - s) * 1000);
  }
  lat.sort((a, b) => a - b);
  res.infer1_latency_ms = { p50: lat[Math.floor(lat.length / 2)], p95: lat[Math.min(lat.length - 1, Math.floor(0.95 * lat.length))] };
  clf.close();
  return res;
}

({ parity, bench, determinism }[mode] ?? (() => Promise.reject(new Error(`unknown mode ${mode}`))))()
  .then((r) => process.stdout.write(JSON.stringify(r) + '\n'))
  .catch((e) => {
    console.error(e);
    process.exit(1);
  });
