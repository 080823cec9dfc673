#!/usr/bin/env node
'use strict';
/**
 * `node bench/contention.js [--background-load N] [--rows 640] [--reps 3]`: issue 12's scenario. 640 short rows
 * through `Classifier.logits` (tiny preset, batch 64) with libtorch's default thread count and with `threads: 1`, while N
 * busy processes spin on the cores (default 2). Each configuration runs in its own process (OpenMP's settings are
 * per process): warm-up batch, then the median of `reps` timed passes. Env vars (e.g. OMP_WAIT_POLICY) pass through.
 * Results: bench/results/<date>-contention-load<N>.json and one line per configuration on stdout.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync, execFileSync } = require('child_process');

const argv = process.argv.slice(2);
const flag = (name, def) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
};

if (argv[0] === '--child') {
  // one configuration: node bench/contention.js --child MODEL THREADS ROWS REPS
  const [model, threads, rows, reps] = [argv[1], Number(argv[2]), Number(argv[3]), Number(argv[4])];
  const { load, native } = require('..');
  (async () => {
    const clf = await load(model, { threads: threads > 0 ? threads : undefined, batchSize: 64 });
    const texts = Array.from({ length: rows }, (_, i) => `CT chest ${i}: small nodule`);
    await clf.logits(texts.slice(0, 64));
    const ms = [];
    for (let r = 0; r < reps; r++) {
      const t = process.hrtime.bigint();
      await clf.logits(texts);
      ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    ms.sort((a, b) => a - b);
    const v = native().version();
    console.log(JSON.stringify({ threads: v.threads, ms, median_ms: ms[Math.floor(ms.length / 2)], attention: v.attention ? v.attention.cpu : 'sdpa-per-sequence (before the packed kernel)' }));
    clf.close();
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  const root = path.resolve(__dirname, '..');
  const n = Number(flag('--background-load', '2'));
  const rows = Number(flag('--rows', '640'));
  const reps = Number(flag('--reps', '3'));
  const cache = path.join(root, 'bench', '.cache');
  const python = path.join(execFileSync('bash', [path.join(root, 'scripts', 'pyref-venv.sh')], { encoding: 'utf8' }).trim(), 'bin', 'python');
  execFileSync(python, [path.join(__dirname, 'make_model.py'), cache, 'tiny'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const spinners = [];
  const stopSpinners = () => spinners.splice(0).forEach((p) => p.kill('SIGKILL'));
  for (let i = 0; i < n; i++) spinners.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  spinners.forEach((p) => p.unref()); // they must not keep this process alive
  process.on('exit', stopSpinners);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
  const results = [];
  for (const threads of [0, 1]) {
    const r = spawnSync(process.execPath, [__filename, '--child', path.join(cache, 'tiny'), String(threads), String(rows), String(reps)], {
      encoding: 'utf8',
      timeout: 900_000,
    });
    if (r.status !== 0) throw new Error(`threads ${threads} failed:\n${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop());
    results.push({ config: threads ? 'threads: 1' : 'default threads', ...out });
    console.log(`${rows} rows, ${threads ? 'threads: 1' : `default (${out.threads}) threads`}, ${n} busy processes: ${out.median_ms.toFixed(0)} ms (median of ${reps})`);
  }
  stopSpinners();
  const record = {
    date: new Date().toISOString(),
    command: `node bench/contention.js ${argv.join(' ')}`.trim(),
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, loadavg: os.loadavg() },
    env: { OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? null, GOMP_SPINCOUNT: process.env.GOMP_SPINCOUNT ?? null, RADBERT_NATIVE_ADDON: process.env.RADBERT_NATIVE_ADDON ?? null },
    background_load: n,
    rows,
    results,
  };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  const file = path.join(__dirname, 'results', `${record.date.replace(/[:.]/g, '-')}-contention-load${n}.json`);
  fs.writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
  console.log(`written ${path.relative(root, file)}`);
}
