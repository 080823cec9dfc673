'use strict';
/**
 * `npm run bench -- --ddp [--presets tiny,base] [--steps N] [--warmup N] [--rounds N]`: data-parallel training on this machine, at
 * one global batch of 8: 1 process × all cores' threads against 2 processes × half the threads each (Gloo over
 * loopback), the latter with both gradient sums (one persistent flattened buffer after backward; DDP's c10d::Reducer
 * during backward). Reports samples/s, the median step, the gradient sum's time per step (flat: copy in, all-reduce,
 * copy out; it includes waiting for the slower rank's backward) and the first one (a new buffer), the all-reduce
 * alone after a barrier (flat: an update on an empty batch), with the load average next to each figure. Writes
 * bench/results/<date>-ddp.json and prints a table.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const { freePort, workerEnv } = require('../dist/dist/launcher');

/** One measurement: `world` workers of bench/worker_ddp.js; resolves to rank 0's JSON. */
async function measure(args, world) {
  const port = await freePort();
  const o = { nprocPerNode: world, nnodes: 1, nodeRank: 0, masterAddr: '127.0.0.1', masterPort: port };
  const load = os.loadavg()[0];
  const outs = await Promise.all(
    Array.from({ length: world }, (_, i) => {
      const env = world > 1 ? workerEnv(o, i) : { ...process.env };
      delete env.RADBERT_LAUNCHER;
      return new Promise((resolve, reject) => {
        const p = spawn(process.execPath, [path.join(__dirname, 'worker_ddp.js'), JSON.stringify(args)], { env, cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        p.stdout.on('data', (d) => (out += d));
        p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`worker ${i} of ${world} exited ${code}`))));
      });
    }),
  );
  const r = JSON.parse(outs[0].trim().split('\n').pop());
  return { ...r, load_before: load, load_after: os.loadavg()[0] };
}

async function main(argv) {
  const flag = (name, def) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : def);
  const presets = flag('--presets', 'tiny,base').split(',');
  const steps = Number(flag('--steps', '6'));
  const rounds = Number(flag('--rounds', '1')); // the three configurations in turn, N times (load drifts between them)
  const warmup = Number(flag('--warmup', '2'));
  const cores = os.availableParallelism();
  const cache = path.join(root, 'bench', '.cache');
  const python = path.join(execFileSync('bash', [path.join(root, 'scripts', 'pyref-venv.sh')], { encoding: 'utf8' }).trim(), 'bin', 'python');
  execFileSync(python, [path.join(__dirname, 'make_model.py'), cache, ...presets], { stdio: ['ignore', 'ignore', 'inherit'] });
  const rows = [];
  for (const preset of presets) {
    const base = { model: path.join(cache, preset), inputs: path.join(cache, 'inputs.json'), global_batch: 8, steps, warmup };
    for (let round = 0; round < rounds; round++)
      for (const [world, gradSync] of [[1, null], [2, 'flat'], [2, 'reducer']]) {
        const r = await measure({ ...base, threads: Math.max(1, Math.floor(cores / world)), grad_sync: gradSync ?? undefined }, world);
        rows.push({ preset, round, ...r });
        const ar = r.allreduce_s != null ? `, all-reduce alone ${r.allreduce_s.toFixed(3)} s` : '';
        process.stderr.write(`bench ddp: ${preset} ${world} x ${r.threads} thread(s)${gradSync ? ` ${gradSync}` : ''}: ${r.samples_per_s.toFixed(2)} samples/s, step ${r.step_s.toFixed(3)} s, gradient sum ${r.sync_s.toFixed(3)} s (first ${r.first_sync_s.toFixed(3)} s)${ar}, load ${r.load_before.toFixed(1)} -> ${r.load_after.toFixed(1)}\n`);
      }
  }
  const lines = [
    '| preset | processes × threads | gradient sum | samples/s | step (s) | gradient sum per step (s) | first gradient sum (s) | all-reduce alone (s) | load (1-min avg, before → after) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.preset} (${(r.parameters / 1e6).toFixed(1)}M) | ${r.world} × ${r.threads} | ${r.grad_sync ?? '—'} | ${r.samples_per_s.toFixed(2)} | ${r.step_s.toFixed(3)} | ${r.world > 1 ? r.sync_s.toFixed(3) : '—'} | ${r.world > 1 ? r.first_sync_s.toFixed(3) : '—'} | ${r.allreduce_s != null ? r.allreduce_s.toFixed(3) : '—'} | ${r.load_before.toFixed(1)} → ${r.load_after.toFixed(1)} |`,
    ),
  ];
  const record = {
    date: new Date().toISOString(),
    command: `npm run bench -- ${argv.join(' ')}`,
    machine: { cpu: os.cpus()[0]?.model, cores, memory_gb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    note: 'global batch 8 in every row; 2 processes: Gloo over loopback; sync_s = the gradient sum after backward (flat: copy in + all-reduce + copy out, including the wait for the slower rank; reducer: what is left after backward); allreduce_s = flat buffer copy + all-reduce alone, after a barrier',
    rows,
  };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  const file = path.join(__dirname, 'results', `${record.date.replace(/[:.]/g, '-')}-ddp.json`);
  fs.writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
  console.log(lines.join('\n'));
  console.log(`written ${path.relative(root, file)}`);
}

module.exports = { main };
