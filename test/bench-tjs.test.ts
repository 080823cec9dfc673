/**
 * The benchmark's transformers.js peer (docs/benchmarks.md): bench/make_model.py's tiny model, exported to ONNX by
 * bench/export_onnx.py (torch.onnx.export in the reference venv), run by bench/worker_tjs.js through transformers.js'
 * own AutoTokenizer + AutoModelForSequenceClassification, gives transformers' logits; so do the other two workers.
 * The comparison `npm run bench` makes before timing, on the same captions (one padded batch of 8).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeNative } from './helpers/fixtures';
import { REPO } from './helpers/paths';
import { pythonRef } from './helpers/python';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const report = require('../bench/report.js') as { parityTexts(infer: string[]): string[]; maxAbsDiff(a: number[][], b: number[][]): number };

/** Why the peer cannot run here (a dependency missing), or null. Under CI a missing dependency is an error. */
function missingDependency(): string | null {
  let why: string | null = null;
  try {
    require.resolve('@huggingface/transformers', { paths: [REPO] });
  } catch {
    why = '@huggingface/transformers is not installed (a devDependency: ONNXRUNTIME_NODE_INSTALL=skip npm ci)';
  }
  if (!why) {
    try {
      execFileSync(pythonRef(), ['-c', 'import onnx, onnxscript, onnxruntime'], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      why = `the reference venv lacks onnx/onnxscript/onnxruntime (scripts/pyref-venv.sh): ${(e as { stderr?: Buffer }).stderr?.toString().trim().split('\n').pop()}`;
    }
  }
  if (why && process.env.CI) throw new Error(why);
  if (why) console.warn(`SKIPPING the transformers.js benchmark peer test: ${why}`);
  return why;
}

const describePeer = (): jest.Describe => (missingDependency() ? describe.skip : describeNative());

/** Runs a bench worker with its JSON arguments and parses its JSON line. */
function worker(cmd: string, script: string, args: object): Record<string, unknown> {
  const out = execFileSync(cmd, [path.join(REPO, 'bench', script), JSON.stringify(args)], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
}

describePeer()('transformers.js benchmark peer (bench/export_onnx.py + bench/worker_tjs.js)', () => {
  let tmp: string;
  let model: string;
  let inputs: string;
  let texts: string[];
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-tjs-'));
    execFileSync(pythonRef(), [path.join(REPO, 'bench', 'make_model.py'), tmp, 'tiny'], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    model = path.join(tmp, 'tiny');
    inputs = path.join(tmp, 'inputs.json');
    texts = report.parityTexts((JSON.parse(fs.readFileSync(inputs, 'utf8')) as { infer: string[] }).infer);
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('the ONNX export has dynamic batch and sequence axes and matches transformers under onnxruntime', () => {
    const out = execFileSync(pythonRef(), [path.join(REPO, 'bench', 'export_onnx.py'), model], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const meta = JSON.parse(out.trim().split('\n').pop()!) as { max_abs_diff_onnxruntime_vs_transformers: number; checked_shapes: number[][] };
    expect(fs.existsSync(path.join(model, 'onnx', 'model.onnx'))).toBe(true);
    // batches of 4 and 1, sequences of 10 and 256 tokens (over the 128-token local attention window) through one graph
    expect(meta.checked_shapes).toEqual([[4, 256], [1, 10], [1, 256]]);
    expect(meta.max_abs_diff_onnxruntime_vs_transformers).toBeLessThanOrEqual(2e-6);
  });

  test('transformers.js and radbert-native give transformers logits within 2e-6 on 8 captions in one padded batch', () => {
    const common = { model, inputs, threads: 1, mode: 'logits', texts };
    const hf = worker(pythonRef(), 'worker_hf.py', common).logits as number[][];
    const tjs = worker(process.execPath, 'worker_tjs.js', common);
    const ours = worker(process.execPath, 'worker_ours.js', common);
    expect(hf).toHaveLength(8);
    expect(hf[0]).toHaveLength(1987);
    expect(tjs.transformers_js).toMatch(/^\d+\.\d+/);
    const dTjs = report.maxAbsDiff(tjs.logits as number[][], hf);
    const dOurs = report.maxAbsDiff(ours.logits as number[][], hf);
    console.log(`logits max |diff| vs transformers: transformers.js ${dTjs.toExponential(2)}, radbert-native ${dOurs.toExponential(2)}`);
    expect(dTjs).toBeLessThanOrEqual(2e-6);
    expect(dOurs).toBeLessThanOrEqual(2e-6);
    // logits differ between captions: the check compares something
    expect(report.maxAbsDiff([hf[0]], [hf[1]])).toBeGreaterThan(1e-2);
  });

  test('worker_tjs.js follows the benchmark protocol (batch-1 latencies, peak RSS, start-up) and refuses bf16', () => {
    const r = worker(process.execPath, 'worker_tjs.js', { model, inputs, threads: 1, mode: 'infer', batch_size: 1, n: 3, reps: 1, warmup: 1 });
    expect(r.samples).toBe(3);
    expect(r.seconds).toHaveLength(1);
    expect(r.latency_s).toHaveLength(3);
    expect(r.peak_rss_mb).toBeGreaterThan(10);
    const s = worker(process.execPath, 'worker_tjs.js', { model, inputs, threads: 1, mode: 'startup' });
    expect(s.startup_s).toBeGreaterThan(0);
    expect(() => worker(process.execPath, 'worker_tjs.js', { model, inputs, threads: 1, mode: 'infer', batch_size: 1, bf16: true })).toThrow(/fp32 only/);
  });
});
