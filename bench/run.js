#!/usr/bin/env node
'use strict';
/**
 * `npm run bench -- --serve` / `-- --budget`: HTTP serving and the token budget, see bench/serve.js.
 * `npm run bench -- --ddp`: data-parallel training, 1 process against 2 (Gloo), see bench/ddp.js.
 * `npm run bench -- --gemm [--threads N] [--quick]`: only the CPU and its GEMM GFLOP/s (bench/gemm.py, bench/common.js).
 * `npm run bench [-- --quick] [-- --presets tiny,small,base] [-- --no-bf16] [-- --no-tjs] [-- --no-gemm]
 * [-- --background-load N]`: radbert-native, Hugging Face transformers and transformers.js (fp32 inference and start-up;
 * bench/worker_tjs.js on the ONNX export of bench/export_onnx.py) side by side, in one invocation, on the same machine,
 * threads, weights (written once by HF, loaded by all) and captions (../shared/datasets/roco-radiology-mini). Before
 * timing, the logits of the three on the same captions are compared (max |diff| recorded; over 1e-5 stops the run).
 * Each figure: warm-up, then median (min–max) of repetitions; batch-1 rows also latency percentiles of one call per
 * caption. `--background-load N`: N busy processes spin on the cores while all sides run (CPU contention). The CPU
 * (model, GEMM flags), load averages and the GEMM GFLOP/s of base's linear layers per backend (the roofline) are
 * measured in the same run. Results: bench/results/<date>.json and tables of ratios on stdout (docs/benchmarks.md).
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync, execFileSync } = require('child_process');
const { cpuInfo, cpuLine, loadavg, measureGemm, formatGemm, pythonRef } = require('./common.js');
const { parityTexts, maxAbsDiff, inferenceFlops, rowRoofline, formatRows, PARITY_BOUND } = require('./report.js');

const root = path.resolve(__dirname, '..');
const argv = process.argv.slice(2);
if (argv.includes('--serve') || argv.includes('--budget') || argv.includes('--ddp')) {
  require(argv.includes('--ddp') ? './ddp.js' : './serve.js')
    .main(argv)
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
  return; // eslint-disable-line no-unreachable -- CommonJS allows a top-level return: these modes replace the rest
}
const quick = argv.includes('--quick');
const flag = (name, def) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
};
const threads = Number(flag('--threads', String(os.cpus().length)));
const stamp = () => new Date().toISOString();
const resultFile = (date, suffix) => path.join(__dirname, 'results', `${date.replace(/[:.]/g, '-')}${suffix}.json`);
const writeRecord = (file, record) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
};
const python = pythonRef();
const cpu = cpuInfo();

if (argv.includes('--gemm')) {
  // the machine's GEMM roofline only
  const record = { date: stamp(), command: `npm run bench -- ${argv.join(' ')}`.trim(), machine: { cpu: cpu.model, cpu_info: cpu, threads }, loadavg_before: loadavg() };
  record.gemm = measureGemm(python, { threads, quick });
  record.loadavg_after = loadavg();
  const file = resultFile(record.date, '-gemm');
  writeRecord(file, record);
  console.log(`${cpuLine(cpu)}; load average before ${record.loadavg_before.join(' ')}, after ${record.loadavg_after.join(' ')}`);
  console.log(formatGemm(record.gemm).join('\n'));
  console.log(`written ${path.relative(root, file)}`);
  return; // eslint-disable-line no-unreachable
}

const presets = flag('--presets', quick ? 'tiny,base' : 'tiny,small,base').split(',');
const withTjs = !argv.includes('--no-tjs');
const cache = path.join(root, 'bench', '.cache');
const backgroundLoad = Number(flag('--background-load', '0'));
if (!Number.isInteger(backgroundLoad) || backgroundLoad < 0) throw new Error('--background-load must be a non-negative integer');
const loadavgBefore = loadavg();

execFileSync(python, [path.join(__dirname, 'make_model.py'), cache, ...presets], { stdio: ['ignore', 'ignore', 'inherit'] });
if (withTjs) {
  // transformers.js reads DIR/onnx/model.onnx; exported once per preset's weights
  const r = spawnSync(python, [path.join(__dirname, 'export_onnx.py'), ...presets.map((p) => path.join(cache, p))], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`bench/export_onnx.py failed (or run with --no-tjs):\n${r.stderr}`);
  for (const line of r.stdout.trim().split('\n')) {
    const m = JSON.parse(line);
    process.stderr.write(`bench: ${path.basename(m.dir)}/onnx/model.onnx (${m.exporter} exporter, opset ${m.opset}; onnxruntime vs transformers ${m.max_abs_diff_onnxruntime_vs_transformers.toExponential(1)})\n`);
  }
}
const inputs = path.join(cache, 'inputs.json');

// --background-load N: N processes that only spin (no I/O, no memory), started before the first measurement and
// killed when this process exits, so all sides run under the same contention.
const spinners = [];
const stopSpinners = () => spinners.splice(0).forEach((p) => p.kill('SIGKILL'));
for (let i = 0; i < backgroundLoad; i++) spinners.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
spinners.forEach((p) => p.unref()); // they must not keep this process alive
process.on('exit', stopSpinners);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
if (backgroundLoad) process.stderr.write(`bench: ${backgroundLoad} busy background processes (pids ${spinners.map((p) => p.pid).join(', ')})\n`);

const WORKERS = {
  hf: [python, path.join(__dirname, 'worker_hf.py')],
  tjs: [process.execPath, path.join(__dirname, 'worker_tjs.js')],
  ours: [process.execPath, path.join(__dirname, 'worker_ours.js')],
};
function side(which, args) {
  const [cmd, script] = WORKERS[which];
  const r = spawnSync(cmd, [script, JSON.stringify({ inputs, threads, ...args })], { encoding: 'utf8', cwd: root, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${which} ${JSON.stringify(args).slice(0, 300)} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), min: s[0], max: s[s.length - 1], p50: q(0.5), p90: q(0.9), p95: q(0.95) };
};

const gemm = argv.includes('--no-gemm') ? null : measureGemm(python, { threads, quick });
if (gemm) process.stderr.write(`bench: ${formatGemm(gemm).filter((l) => l.startsWith('roofline')).join('; ')}\n`);

// the same logits on every side before anything is timed
const parity = {};
const versions = {};
const allInputs = JSON.parse(fs.readFileSync(inputs, 'utf8'));
for (const preset of presets) {
  const texts = parityTexts(allInputs.infer);
  const model = path.join(cache, preset);
  const got = Object.fromEntries(['hf', ...(withTjs ? ['tjs'] : []), 'ours'].map((w) => [w, side(w, { model, mode: 'logits', texts })]));
  Object.assign(versions, { torch: got.ours.torch, ours_gemm: got.ours.gemm });
  if (got.tjs) Object.assign(versions, { onnxruntime_node: got.tjs.onnxruntime, transformers_js: got.tjs.transformers_js });
  const diff = { ours_vs_hf: maxAbsDiff(got.ours.logits, got.hf.logits) };
  if (got.tjs) Object.assign(diff, { tjs_vs_hf: maxAbsDiff(got.tjs.logits, got.hf.logits), ours_vs_tjs: maxAbsDiff(got.ours.logits, got.tjs.logits) });
  parity[preset] = { texts: texts.length, tokens: texts.map((t) => got.ours.lengths[allInputs.infer.indexOf(t)]), max_abs_diff: diff, lengths: got.ours.lengths };
  process.stderr.write(`bench: ${preset} logits max |diff| ${JSON.stringify(diff)}\n`);
  const worst = Math.max(...Object.values(diff));
  if (!(worst <= PARITY_BOUND)) throw new Error(`${preset}: the sides' logits differ by ${worst} (> ${PARITY_BOUND}): not the same model, nothing timed`);
}

const rows = [];
function measure(name, preset, args, unit, sides) {
  const out = {};
  for (const which of sides) {
    const r = side(which, { model: path.join(cache, preset), ...args });
    let value;
    if (unit === 'samples/s') value = { ...stats(r.seconds.map((s) => r.samples / s)) };
    else if (unit === 's') value = { median: r.startup_s };
    if (r.latency_s) value.latency_ms = Object.fromEntries(Object.entries(stats(r.latency_s)).map(([k, v]) => [k, v * 1000]));
    value.peak_rss_mb = r.peak_rss_mb;
    if (args.mode === 'infer') value.linear_gflops = inferenceFlops(path.join(cache, preset), parity[preset].lengths, args, r) / 1e9;
    out[which] = value;
    process.stderr.write(`  ${name} ${preset} ${which}: ${JSON.stringify(value)}\n`);
  }
  const better = (other) => (unit === 's' ? other.median / out.ours.median : out.ours.median / other.median);
  const row = { name, preset, unit, ...out, ratio: better(out.hf) };
  if (out.tjs) row.ratio_tjs = better(out.tjs);
  const roofline = rowRoofline({ gemm, parity }, row, path.join(cache, preset), args);
  if (roofline) row.roofline = roofline;
  if (out.ours.latency_ms) row.p50_ratio = Object.fromEntries(Object.keys(out).filter((w) => w !== 'ours').map((w) => [w, out[w].latency_ms.p50 / out.ours.latency_ms.p50]));
  rows.push(row);
}

const reps = quick ? 1 : 5;
const bf16Preset = presets.includes('base') ? 'base' : presets[presets.length - 1];
const fp32Sides = withTjs ? ['hf', 'tjs', 'ours'] : ['hf', 'ours'];
for (const preset of presets) {
  process.stderr.write(`bench: ${preset}\n`);
  // training: 2 warm-up steps, then repetitions of the same following batches (one repetition = `steps` steps)
  const train = { mode: 'train', batch_size: 8, warmup: 2, steps: quick ? 4 : 8, reps: quick ? 1 : 3 };
  const infer64 = { mode: 'infer', batch_size: 64, n: quick ? 64 : 128, reps, warmup: 1 };
  const infer1 = { mode: 'infer', batch_size: 1, n: quick ? 16 : 32, reps: quick ? 1 : 3, warmup: 1 };
  measure('train bs8', preset, train, 'samples/s', ['hf', 'ours']);
  // masked-LM training (the mlm command's step): ModernBertForMaskedLM from the same weights' config, sparse
  // prediction on both sides, 30 % of tokens masked as DataCollatorForLanguageModeling masks them
  if (!argv.includes('--no-mlm')) measure('mlm bs16', preset, { ...train, mode: 'mlm', batch_size: 16 }, 'samples/s', ['hf', 'ours']);
  measure('infer bs64', preset, infer64, 'samples/s', fp32Sides);
  measure('infer bs1', preset, infer1, 'samples/s', fp32Sides);
  if (preset === bf16Preset && !argv.includes('--no-bf16')) {
    // bf16 autocast on both sides (torch.autocast("cpu", dtype=torch.bfloat16) / options.dtype 'bfloat16')
    // (--quick: batch 64 only, to stay under 5 minutes); transformers.js: no bf16 on CPU
    if (!quick) measure('train bs8 bf16', preset, { ...train, bf16: true }, 'samples/s', ['hf', 'ours']);
    measure('infer bs64 bf16', preset, { ...infer64, bf16: true }, 'samples/s', ['hf', 'ours']);
    if (!quick) measure('infer bs1 bf16', preset, { ...infer1, bf16: true }, 'samples/s', ['hf', 'ours']);
  }
  if (preset === bf16Preset) measure('startup', preset, { mode: 'startup' }, 's', fp32Sides);
}

const machine = {
  cpu: cpu.model,
  cpu_info: cpu,
  cores: os.cpus().length,
  threads,
  background_load: backgroundLoad,
  memory_gb: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  ...versions,
};
stopSpinners();
const record = { date: stamp(), command: `npm run bench -- ${argv.join(' ')}`.trim(), machine, loadavg_before: loadavgBefore, loadavg_after: loadavg(), gemm, parity, rows };
const file = resultFile(record.date, `${quick ? '-quick' : ''}${backgroundLoad ? `-load${backgroundLoad}` : ''}`);
writeRecord(file, record);
console.log(`${cpuLine(cpu)}; ${threads} threads${backgroundLoad ? `, ${backgroundLoad} busy background processes` : ''}; load average before ${record.loadavg_before.join(' ')}, after ${record.loadavg_after.join(' ')}`);
if (versions.ours_gemm) console.log(`radbert-native's linear layers: fp32 ${versions.ours_gemm.fp32}, bf16 ${versions.ours_gemm.bf16} (${versions.ours_gemm.reason})`);
console.log(formatRows(record).join('\n'));
if (gemm) console.log(['', ...formatGemm(gemm)].join('\n'));
console.log(`written ${path.relative(root, file)}`);
