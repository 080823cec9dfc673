#!/usr/bin/env node
'use strict';
/**
 * `npm run bench -- --serve` / `-- --budget`: HTTP serving and the token budget, see bench/serve.js.
 * `npm run bench [-- --quick] [-- --presets tiny,small,base] [-- --no-bf16] [-- --background-load N]`: radbert-native and
 * Hugging Face transformers side by side, in one invocation, on the same machine, threads, weights (written once by HF,
 * loaded by both) and captions (../shared/datasets/roco-radiology-mini). Each figure: warm-up, then median (min–max) of
 * repetitions. `--background-load N`: N busy processes spin on the cores while both sides run (CPU contention).
 * Results: bench/results/<date>.json and a table of ratios on stdout.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync, execFileSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const argv = process.argv.slice(2);
if (argv.includes('--serve') || argv.includes('--budget')) {
  require('./serve.js')
    .main(argv)
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
  return; // eslint-disable-line no-unreachable -- CommonJS allows a top-level return: the serve modes replace the rest
}
const quick = argv.includes('--quick');
const flag = (name, def) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
};
const presets = flag('--presets', quick ? 'tiny,base' : 'tiny,small,base').split(',');
const threads = Number(flag('--threads', String(os.cpus().length)));
const cache = path.join(root, 'bench', '.cache');
const backgroundLoad = Number(flag('--background-load', '0'));
if (!Number.isInteger(backgroundLoad) || backgroundLoad < 0) throw new Error('--background-load must be a non-negative integer');

const python = path.join(execFileSync('bash', [path.join(root, 'scripts', 'pyref-venv.sh')], { encoding: 'utf8' }).trim(), 'bin', 'python');
execFileSync(python, [path.join(__dirname, 'make_model.py'), cache, ...presets], { stdio: ['ignore', 'ignore', 'inherit'] });
const inputs = path.join(cache, 'inputs.json');

// --background-load N: N processes that only spin (no I/O, no memory), started before the first measurement and
// killed when this process exits, so both sides run under the same contention.
const spinners = [];
const stopSpinners = () => spinners.splice(0).forEach((p) => p.kill('SIGKILL'));
for (let i = 0; i < backgroundLoad; i++) spinners.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
spinners.forEach((p) => p.unref()); // they must not keep this process alive
process.on('exit', stopSpinners);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
if (backgroundLoad) process.stderr.write(`bench: ${backgroundLoad} busy background processes (pids ${spinners.map((p) => p.pid).join(', ')})\n`);

function side(which, args) {
  const cmd = which === 'hf' ? [python, path.join(__dirname, 'worker_hf.py')] : [process.execPath, path.join(__dirname, 'worker_ours.js')];
  const r = spawnSync(cmd[0], [cmd[1], JSON.stringify({ inputs, threads, ...args })], { encoding: 'utf8', cwd: root, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${which} ${JSON.stringify(args)} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), min: s[0], max: s[s.length - 1], p50: q(0.5), p95: q(0.95) };
};

const rows = [];
function measure(name, preset, args, unit) {
  const out = {};
  for (const which of ['hf', 'ours']) {
    const r = side(which, { model: path.join(cache, preset), ...args });
    let value;
    if (unit === 'samples/s') {
      const st = stats(r.seconds.map((s) => r.samples / s));
      value = { ...st };
    } else if (unit === 's') value = { median: r.startup_s };
    if (r.latency_s) value.latency_ms = Object.fromEntries(Object.entries(stats(r.latency_s)).map(([k, v]) => [k, v * 1000]));
    value.peak_rss_mb = r.peak_rss_mb;
    out[which] = value;
    process.stderr.write(`  ${name} ${preset} ${which}: ${JSON.stringify(value)}\n`);
  }
  const better = unit === 's' ? out.hf.median / out.ours.median : out.ours.median / out.hf.median;
  rows.push({ name, preset, unit, hf: out.hf, ours: out.ours, ratio: better });
}

const reps = quick ? 1 : 5;
const bf16Preset = presets.includes('base') ? 'base' : presets[presets.length - 1];
for (const preset of presets) {
  process.stderr.write(`bench: ${preset}\n`);
  // training: 2 warm-up steps, then repetitions of the same following batches (one repetition = `steps` steps)
  const train = { mode: 'train', batch_size: 8, warmup: 2, steps: quick ? 4 : 8, reps: quick ? 1 : 3 };
  const infer64 = { mode: 'infer', batch_size: 64, n: quick ? 64 : 128, reps, warmup: 1 };
  const infer1 = { mode: 'infer', batch_size: 1, n: quick ? 16 : 32, reps: quick ? 1 : 3, warmup: 1 };
  measure('train bs8', preset, train, 'samples/s');
  measure('infer bs64', preset, infer64, 'samples/s');
  measure('infer bs1', preset, infer1, 'samples/s');
  if (preset === bf16Preset && !argv.includes('--no-bf16')) {
    // bf16 autocast on both sides (torch.autocast("cpu", dtype=torch.bfloat16) / options.dtype 'bfloat16')
    // (--quick: batch 64 only, to stay under 5 minutes)
    if (!quick) measure('train bs8 bf16', preset, { ...train, bf16: true }, 'samples/s');
    measure('infer bs64 bf16', preset, { ...infer64, bf16: true }, 'samples/s');
    if (!quick) measure('infer bs1 bf16', preset, { ...infer1, bf16: true }, 'samples/s');
  }
  if (preset === bf16Preset) measure('startup', preset, { mode: 'startup' }, 's');
}

const fmt = (v, unit) => (unit === 's' ? `${v.median.toFixed(2)} s` : `${v.median.toFixed(2)} (${v.min.toFixed(2)}–${v.max.toFixed(2)})`);
const lines = [
  '| benchmark | preset | HF transformers | radbert-native | ratio | peak RSS HF / ours (MB) |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) => {
    const lat = r.ours.latency_ms ? ` · p50/p95 ${r.hf.latency_ms.p50.toFixed(0)}/${r.hf.latency_ms.p95.toFixed(0)} vs ${r.ours.latency_ms.p50.toFixed(0)}/${r.ours.latency_ms.p95.toFixed(0)} ms` : '';
    return `| ${r.name}${lat} | ${r.preset} | ${fmt(r.hf, r.unit)} | ${fmt(r.ours, r.unit)} | ${r.ratio.toFixed(2)}× | ${r.hf.peak_rss_mb.toFixed(0)} / ${r.ours.peak_rss_mb.toFixed(0)} |`;
  }),
];
const machine = {
  cpu: os.cpus()[0]?.model,
  cores: os.cpus().length,
  threads,
  background_load: backgroundLoad,
  memory_gb: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  torch: side('ours', { model: path.join(cache, presets[0]), mode: 'startup' }).torch,
};
stopSpinners();
const record = { date: new Date().toISOString(), command: `npm run bench -- ${argv.join(' ')}`.trim(), machine, rows };
fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
const file = path.join(__dirname, 'results', `${record.date.replace(/[:.]/g, '-')}${quick ? '-quick' : ''}${backgroundLoad ? `-load${backgroundLoad}` : ''}.json`);
fs.writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
console.log(`samples/s: median (min–max); ratio > 1 means radbert-native is better. ${machine.cpu}, ${threads} threads${backgroundLoad ? `, ${backgroundLoad} busy background processes` : ''}.`);
console.log(lines.join('\n'));
console.log(`written ${path.relative(root, file)}`);
