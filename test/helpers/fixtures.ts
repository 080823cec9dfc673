/**
 * Parity fixtures written by Hugging Face transformers (test/python/make_fixtures.py, run in the reference venv of
 * scripts/pyref-venv.sh) into test/.cache/fixtures-<sha256 of the generator>/, once; regenerated when the generator
 * changes. Plus a tiny safetensors reader and the comparison helpers the parity tests share.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native } from '../../lib/native';
import { pythonRef } from './python';

const REPO = path.resolve(__dirname, '..', '..');
const GENERATORS = path.join(REPO, 'test', 'python');
const CACHE = path.join(REPO, 'test', '.cache');

/**
 * Folder holding the fixtures (generated on first use, ~1 minute). Keyed by the generator and the CPU model: the
 * fixtures record transformers' own rounding noise (hf_padding_dev), which depends on the BLAS kernels of the CPU.
 */
export function ensureFixtures(): string {
  return ensureGenerated('make_fixtures.py', 'fixtures', ['parity_configs.py']);
}

/**
 * Folder holding the masked-LM, embedding and weight-decay fixtures of test/python/make_mlm_fixtures.py (see its
 * docstring; ~1 minute on first use), keyed like ensureFixtures by the generators and the CPU model.
 */
export function ensureMlmFixtures(): string {
  return ensureGenerated('make_mlm_fixtures.py', 'mlm-fixtures', ['make_fixtures.py', 'parity_configs.py']);
}

/** Runs test/python/<generator> into test/.cache/<prefix>-<hash>/ once (hash of the generator, the files it imports, the CPU). */
function ensureGenerated(generator: string, prefix: string, imports: string[]): string {
  const hash = createHash('sha256');
  for (const f of [generator, ...imports]) hash.update(fs.readFileSync(path.join(GENERATORS, f)));
  const key = hash.update(os.cpus()[0]?.model ?? '').digest('hex').slice(0, 12);
  const dir = path.join(CACHE, `${prefix}-${key}`);
  if (fs.existsSync(path.join(dir, 'manifest.json'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    execFileSync(pythonRef(), [path.join(GENERATORS, generator), tmp], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`${generator} failed: ${err.stderr?.toString() || err.message}`);
  }
  if (fs.existsSync(path.join(dir, 'manifest.json'))) {
    fs.rmSync(tmp, { recursive: true, force: true }); // another jest worker finished first
    return dir;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  // fixtures of older generator versions are dead weight
  const stale = new RegExp(`^${prefix}-[0-9a-f]{12}$`);
  for (const name of fs.readdirSync(CACHE)) {
    if (stale.test(name) && name !== path.basename(dir)) fs.rmSync(path.join(CACHE, name), { recursive: true, force: true });
  }
  return dir;
}

/** One model config of the fixtures. */
export interface ConfigFixture {
  num_labels: number;
  trainable: boolean;
  /** HF logits / sigmoid probabilities of batch_a and batch_b (eval, padded batch + attention_mask, sdpa). */
  logits_a: number[][];
  logits_b: number[][];
  probs_a: number[][];
  probs_b: number[][];
  /** HF eager attention vs sdpa on batch_a (the reference's own noise floor). */
  eager_vs_sdpa_max_abs: number;
  /** HF's own max |Δ logit| of a text of batch_a alone vs in batch_a and in batch_b, per attention, on this CPU. */
  hf_padding_dev: { sdpa: number; eager: number };
  /** awkward only: HF float32 on the up-cast bf16 / f16 weights. */
  logits_a_bf16?: number[][];
  logits_a_f16?: number[][];
  /** Trainable configs: 0/1 targets [batch_a, num_labels], BCEWithLogits loss, pre-clip grad norm, the clip. */
  targets?: number[][];
  loss?: number;
  grad_norm?: number;
  max_grad_norm?: number;
  /** HF under torch.autocast("cpu", dtype=torch.bfloat16): logits of batch_a / batch_b (eval). */
  logits_autocast_a: number[][];
  logits_autocast_b: number[][];
  /** Trainable configs: loss (forward under autocast) and pre-clip grad norm of one backward on batch_a. */
  loss_autocast?: number;
  grad_norm_autocast?: number;
}

/** What make_fixtures.py records in manifest.json. */
export interface Manifest {
  batch_a: number[][];
  batch_b: number[][];
  texts_a: string[];
  texts_b: string[];
  max_length: number;
  lr: number;
  versions: { torch: string; transformers: string };
  configs: Record<string, ConfigFixture>;
  mlm: { batch: number[][] };
}

/** Per-tensor statistics of a fresh HF model (init_stats.json). */
export interface InitStats {
  seed: number;
  cutoff_factor: number;
  initializer_range: number;
  pad_token_id: number;
  /** max |tok_embeddings[pad]| in HF's fresh model (HF does not zero the padding row). */
  pad_row_max_abs: number;
  tensors: Record<
    string,
    {
      shape: number[];
      n: number;
      mean: number;
      std: number;
      min: number;
      max: number;
      /** {const} for norm weights (1) and biases (0); else the truncated normal's std and bound (cutoff·nominal). */
      expected: { const: number } | { nominal_std: number; std: number; bound: number };
    }
  >;
}

/** manifest.json of the fixtures. */
export function manifest(dir: string): Manifest {
  return JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
}

/** init_stats.json of the fixtures. */
export function initStats(dir: string): InitStats {
  return JSON.parse(fs.readFileSync(path.join(dir, 'init_stats.json'), 'utf8')) as InitStats;
}

/**
 * Whether the compiled addon loads. Without it the native test files skip with a message saying why; with
 * CI set, a missing addon is an error instead (the CI build must have produced it).
 */
export function addonAvailable(): boolean {
  try {
    native();
    return true;
  } catch (e) {
    if (process.env.CI) throw e;
    console.warn(`SKIPPING native tests: ${(e as Error).message}`);
    return false;
  }
}

/** `describe` when the addon loads, else `describe.skip` (see addonAvailable). */
export function describeNative(): jest.Describe {
  return addonAvailable() ? describe : describe.skip;
}

/** Read every F32 tensor of a safetensors file (8-byte LE header length, JSON header, data). Test helper only. */
export function readSafetensors(file: string): Map<string, { shape: number[]; data: Float32Array }> {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [key, e] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    if (e.dtype !== 'F32') throw new Error(`${file}: ${key} is ${e.dtype}, expected F32`);
    const bytes = buf.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]);
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (bytes.length !== count * 4) throw new Error(`${file}: ${key} has ${bytes.length} bytes for shape [${e.shape}]`);
    let data: Float32Array;
    if (os.endianness() === 'LE') {
      data = new Float32Array(count);
      new Uint8Array(data.buffer).set(bytes);
    } else {
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = bytes.readFloatLE(i * 4);
    }
    out.set(key, { shape: e.shape, data });
  }
  return out;
}

/**
 * Compares two safetensors files tensor by tensor: both must hold the same names with the same shapes; returns the
 * largest absolute difference and the tensor where it is, and the largest relative one (a tensor's largest absolute
 * difference over its largest magnitude in `b`) and its tensor.
 */
export function maxTensorDiff(a: string, b: string): { diff: number; key: string; rel: number; relKey: string } {
  const ta = readSafetensors(a);
  const tb = readSafetensors(b);
  const names = (m: Map<string, unknown>) => [...m.keys()].sort().join(', ');
  if (names(ta) !== names(tb)) throw new Error(`${a} holds [${names(ta)}], ${b} holds [${names(tb)}]`);
  let diff = 0;
  let key = '';
  let rel = 0;
  let relKey = '';
  for (const [name, t] of tb) {
    const mine = ta.get(name)!;
    if (mine.shape.join() !== t.shape.join()) throw new Error(`${name}: shape [${mine.shape}] in ${a}, [${t.shape}] in ${b}`);
    const d = maxAbsDiff(mine.data, t.data);
    if (d >= diff) [diff, key] = [d, name];
    const r = d === 0 ? 0 : d / maxAbs(t.data);
    if (r >= rel) [rel, relKey] = [r, name];
  }
  return { diff, key, rel, relKey };
}

/** Rows of numbers, flattened. */
export function flat(rows: ArrayLike<number>[]): number[] {
  return rows.flatMap((r) => Array.from(r));
}

/** Largest absolute difference between two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Largest absolute value. */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Mean and (unbiased, like torch.std) standard deviation, in double precision. */
export function meanStd(a: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  const mean = s / a.length;
  let q = 0;
  for (let i = 0; i < a.length; i++) q += (a[i] - mean) ** 2;
  return { mean, std: a.length > 1 ? Math.sqrt(q / (a.length - 1)) : 0 };
}
