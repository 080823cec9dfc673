'use strict';
/**
 * `npm run bench -- --serve [--presets tiny,base] [--duration 30] [--connections 64] [--bf16] [--targets batched,bs1,hf,key]
 * [--cpu-prof DIR]`: HTTP serving side by side on this machine. A load generator (undici, `--connections` keep-alive
 * connections, each request one real caption of roco-radiology-mini) runs against, one at a time:
 *   batched  `radbert-native serve` (dynamic batching, default limits), POST /predict {"inputs": caption}
 *   bs1      `radbert-native serve --max-batch-size 1` (one text per forward: no batching), POST /predict
 *   hf       bench/serve_hf.py: stdlib threaded http.server around transformers.pipeline (sigmoid, top_k=None)
 *   key      `radbert-native serve --api-key K`, POST / (the Hugging Face Inference API format) with
 *            `Authorization: Bearer K`: what HF's clients send, through the key check
 * on the same weights (bench/make_model.py) and threads. Per target: 3 s of warm-up load, then `--duration` seconds
 * measured; requests/s, latency p50/p90/p99 of the requests completed in the window, errors, peak RSS, and for ours
 * the mean texts per forward (from /metrics). Before the load, 8 captions are sent to every target and their scores
 * compared with ours (the servers compute the same thing). `uptime` before and after is recorded: the machine may be
 * shared. With --cpu-prof DIR our servers run under `node --cpu-prof` and the heaviest functions (self time) are
 * printed per target. Results: bench/results/<date>-serve.json and a table on stdout.
 *
 * Both modes record the CPU (model, GEMM flags) and, unless `--no-gemm`, the GEMM GFLOP/s of base's linear layers
 * measured before the load (bench/common.js).
 *
 * `npm run bench -- --budget [--presets base] [--bf16]`: packed-forward throughput (tokens/s) against the token
 * budget of one forward, the measurement behind DEFAULT_MAX_BATCH_TOKENS.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const { cpuInfo, cpuLine, loadavg, measureGemm, formatGemm, pythonRef } = require('./common.js');

const root = path.resolve(__dirname, '..');

function flag(argv, name, def) {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const uptime = () => {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average: ${loadavg().join(', ')}`;
  }
};
/** The API key of the `key` target. */
const BENCH_KEY = 'bench-key-0123456789abcdef';
/** What each target is sent: route, headers, body of one caption. */
const REQUEST = {
  batched: { path: '/predict', headers: {}, body: (t) => ({ inputs: t }) },
  bs1: { path: '/predict', headers: {}, body: (t) => ({ inputs: t }) },
  hf: { path: '/predict', headers: {}, body: (t) => ({ inputs: t }) },
  key: { path: '/', headers: { authorization: `Bearer ${BENCH_KEY}` }, body: (t) => ({ inputs: t }) },
};

/** Captions: the bench inputs (test then train captions of roco-radiology-mini), in a fixed shuffled order. */
function captions(inputsFile) {
  const inputs = JSON.parse(fs.readFileSync(inputsFile, 'utf8'));
  const all = [...inputs.infer, ...inputs.train];
  let seed = 12345;
  for (let i = all.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all;
}

async function freePort() {
  const net = require('net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function peakRssMb(pid) {
  try {
    const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
    return Number(line.split(/\s+/)[1]) / 1024;
  } catch {
    return null;
  }
}

/** Start a server process; resolves when GET /health answers 200. */
async function startServer(target, model, port, { threads, bf16, python, cpuProf }) {
  let cmd;
  if (target === 'hf') cmd = [python, [path.join(__dirname, 'serve_hf.py'), model, String(port), '--threads', String(threads), ...(bf16 ? ['--bf16'] : [])]];
  else {
    const args = ['serve', '--model', model, '--port', String(port), '--log', 'warn', '--threads', String(threads), ...(bf16 ? ['--bf16'] : [])];
    if (target === 'bs1') args.push('--max-batch-size', '1');
    if (target === 'key') args.push('--api-key', BENCH_KEY);
    const prof = cpuProf ? ['--cpu-prof', '--cpu-prof-dir', cpuProf, '--cpu-prof-name', `${target}-${port}.cpuprofile`] : [];
    cmd = [process.execPath, [...prof, path.join(root, 'bin', 'radbert-native.js'), ...args]];
  }
  const child = spawn(cmd[0], cmd[1], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RADBERT_QUIET: '1' } });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${target} server exited early:\n${output}`);
    try {
      const r = await fetch(`${url}/health`);
      if (r.status === 200) break;
    } catch {
      // not up yet
    }
    if (Date.now() - t0 > 180_000) {
      child.kill('SIGKILL');
      throw new Error(`${target} server did not come up in 180 s:\n${output}`);
    }
    await sleep(200);
  }
  return { child, url, exited, output: () => output };
}

/** SIGTERM, then wait for the exit (SIGKILL after 30 s). */
async function stopServer(server) {
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 30_000);
  const r = await server.exited;
  clearTimeout(timer);
  return r;
}

/** Closed-loop load: `connections` workers, each POSTing one caption at a time; stats of the measured window. */
async function load(url, texts, { connections, warmupS, durationS, request }) {
  const { Pool } = require('undici');
  const pool = new Pool(url, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const now = () => Number(process.hrtime.bigint()) / 1e9;
  const t0 = now();
  const start = t0 + warmupS;
  const end = start + durationS;
  const latencies = [];
  let errors = 0;
  let firstError;
  let next = 0;
  async function worker() {
    while (now() < end) {
      const text = texts[next++ % texts.length];
      const t = now();
      let ok = false;
      try {
        const res = await pool.request({ path: request.path, method: 'POST', headers: { 'content-type': 'application/json', ...request.headers }, body: JSON.stringify(request.body(text)) });
        const body = await res.body.text();
        ok = res.statusCode === 200;
        if (!ok) firstError ??= `${res.statusCode} ${body.slice(0, 200)}`;
      } catch (e) {
        firstError ??= e.message;
      }
      const done = now();
      if (done >= start && done <= end) {
        if (ok) latencies.push(done - t);
        else errors++;
      }
    }
  }
  await Promise.all(Array.from({ length: connections }, worker));
  await pool.close();
  latencies.sort((a, b) => a - b);
  const q = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] * 1000 : null);
  return {
    requests: latencies.length,
    errors,
    first_error: firstError,
    requests_per_s: latencies.length / durationS,
    latency_ms: { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: latencies.length ? latencies[latencies.length - 1] * 1000 : null },
  };
}

async function scores(url, texts, request) {
  const out = [];
  for (const t of texts) {
    const r = await fetch(`${url}${request.path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...request.headers }, body: JSON.stringify(request.body(t)) });
    if (r.status !== 200) throw new Error(`${url}${request.path}: ${r.status} ${await r.text()}`);
    const answer = await r.json();
    const list = Array.isArray(answer[0]) ? answer[0] : answer; // POST / answers one list per input
    out.push(Object.fromEntries(list.map((x) => [x.label, x.score])));
  }
  return out;
}

/** The functions with the most self time in a .cpuprofile, as [ms, share, 'function file:line']. */
function profileTop(file, n = 15) {
  const p = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const self = new Map();
  let total = 0;
  p.samples.forEach((id, i) => {
    const f = byId.get(id).callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url ? `${f.url.replace(/^.*node_modules\//, '').replace(root + '/', '')}:${f.lineNumber + 1}` : ''}`.trim();
    const dt = p.timeDeltas[i] / 1000;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, ms]) => [Number(ms.toFixed(0)), Number((ms / total).toFixed(3)), k]);
}

const maxDiff = (a, b) => Math.max(...a.flatMap((row, i) => Object.keys(row).map((l) => Math.abs(row[l] - b[i][l]))));

async function metricMean(url, headers = {}) {
  const text = await (await fetch(`${url}/metrics`, { headers })).text();
  const get = (name) => Number((new RegExp(`^${name} (\\S+)$`, 'm').exec(text) || [])[1]);
  const sum = get('radbert_batch_size_sum');
  const count = get('radbert_batch_size_count');
  return { forwards: count, mean_batch_size: count ? sum / count : null, mean_batch_tokens: count ? get('radbert_batch_tokens_sum') / count : null };
}

async function serveBench(argv) {
  const presets = flag(argv, '--presets', 'tiny,base').split(',');
  const durationS = Number(flag(argv, '--duration', '30'));
  const warmupS = Number(flag(argv, '--warmup', '3'));
  const connections = Number(flag(argv, '--connections', '64'));
  const threads = Number(flag(argv, '--threads', String(os.cpus().length)));
  const targets = flag(argv, '--targets', 'batched,bs1,hf,key').split(',');
  for (const t of targets) if (!REQUEST[t]) throw new Error(`--targets: unknown target ${t} (batched, bs1, hf, key)`);
  const cpuProf = flag(argv, '--cpu-prof');
  if (cpuProf) fs.mkdirSync(cpuProf, { recursive: true });
  const dtypes = argv.includes('--bf16') ? ['float32', 'bfloat16'] : ['float32'];
  const python = pythonRef();
  const cache = path.join(root, 'bench', '.cache');
  execFileSync(python, [path.join(__dirname, 'make_model.py'), cache, ...presets], { stdio: ['ignore', 'ignore', 'inherit'] });
  const texts = captions(path.join(cache, 'inputs.json'));
  const record = {
    date: new Date().toISOString(),
    command: `npm run bench -- ${argv.join(' ')}`,
    machine: { cpu: os.cpus()[0]?.model, cpu_info: cpuInfo(), cores: os.cpus().length, threads, memory_gb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    load: { connections, duration_s: durationS, warmup_s: warmupS, request: 'POST /predict {"inputs": one caption} (key: POST / with Authorization: Bearer)', captions: texts.length },
    loadavg_before: loadavg(),
    uptime_before: uptime(),
    rows: [],
  };
  process.stderr.write(`serve bench: ${record.uptime_before}\n`);
  record.gemm = argv.includes('--no-gemm') ? null : measureGemm(python, { threads });
  for (const preset of presets) {
    for (const dtype of dtypes) {
      const model = path.join(cache, preset);
      let reference;
      for (const target of targets) {
        const port = await freePort();
        process.stderr.write(`  ${preset} ${dtype} ${target}: starting on ${port}\n`);
        const server = await startServer(target, model, port, { threads, bf16: dtype === 'bfloat16', python, cpuProf });
        const check = await scores(server.url, texts.slice(0, 8), REQUEST[target]);
        reference ??= check;
        const row = { preset, dtype, target, max_abs_score_diff_vs_first_target: maxDiff(check, reference) };
        const before = target === 'hf' ? null : await metricMean(server.url, REQUEST[target].headers);
        Object.assign(row, await load(server.url, texts, { connections, warmupS, durationS, request: REQUEST[target] }));
        if (before) {
          const after = await metricMean(server.url, REQUEST[target].headers);
          const forwards = after.forwards - before.forwards;
          row.mean_batch_size = forwards ? (after.mean_batch_size * after.forwards - before.mean_batch_size * before.forwards) / forwards : null;
        }
        row.peak_rss_mb = peakRssMb(server.child.pid);
        const exit = await stopServer(server);
        row.exit_on_sigterm = exit;
        if (cpuProf && target !== 'hf') {
          row.cpu_profile = path.join(cpuProf, `${target}-${port}.cpuprofile`);
          row.profile_top = profileTop(row.cpu_profile);
          process.stderr.write(`  ${preset} ${dtype} ${target}: self time\n${row.profile_top.map(([ms, share, k]) => `    ${String(ms).padStart(7)} ms ${(share * 100).toFixed(1).padStart(5)}%  ${k}`).join('\n')}\n`);
        }
        record.rows.push(row);
        process.stderr.write(`  ${preset} ${dtype} ${target}: ${JSON.stringify(row)}\n`);
      }
    }
  }
  record.loadavg_after = loadavg();
  record.uptime_after = uptime();
  const ratioRows = [];
  for (const r of record.rows) {
    const base = (t) => record.rows.find((x) => x.preset === r.preset && x.dtype === r.dtype && x.target === t);
    r.vs_bs1 = base('bs1') ? r.requests_per_s / base('bs1').requests_per_s : null;
    r.vs_hf = base('hf') ? r.requests_per_s / base('hf').requests_per_s : null;
    r.vs_batched = base('batched') ? r.requests_per_s / base('batched').requests_per_s : null;
    ratioRows.push(r);
  }
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  const file = path.join(__dirname, 'results', `${record.date.replace(/[:.]/g, '-')}-serve.json`);
  fs.writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
  const f = (x, d = 1) => (x === null || x === undefined ? '–' : x.toFixed(d));
  console.log(`${cpuLine(record.machine.cpu_info)}; ${threads} threads; ${connections} connections, ${durationS} s`);
  console.log(`before: ${record.uptime_before}\nafter:  ${record.uptime_after}`);
  console.log('| preset | dtype | server | requests/s | p50 ms | p99 ms | texts/forward | errors | × bs1 | × HF | × batched | peak RSS MB |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of ratioRows) {
    console.log(
      `| ${r.preset} | ${r.dtype} | ${r.target} | ${f(r.requests_per_s)} | ${f(r.latency_ms.p50, 0)} | ${f(r.latency_ms.p99, 0)} | ${f(r.mean_batch_size)} | ${r.errors} | ${f(r.vs_bs1, 2)} | ${f(r.vs_hf, 2)} | ${f(r.vs_batched, 2)} | ${f(r.peak_rss_mb, 0)} |`,
    );
  }
  if (record.gemm) console.log(['', ...formatGemm(record.gemm)].join('\n'));
  console.log(`written ${path.relative(root, file)}`);
}

/** tokens/s of one packed forward against its token budget (captions packed up to the budget). */
async function budgetBench(argv) {
  const presets = flag(argv, '--presets', 'base').split(',');
  const budgets = flag(argv, '--budgets', '256,512,1024,2048,4096,8192,16384').split(',').map(Number);
  const reps = Number(flag(argv, '--reps', '3'));
  const threads = Number(flag(argv, '--threads', String(os.cpus().length)));
  const python = pythonRef();
  const cache = path.join(root, 'bench', '.cache');
  execFileSync(python, [path.join(__dirname, 'make_model.py'), cache, ...presets], { stdio: ['ignore', 'ignore', 'inherit'] });
  const { load: loadModel, native, packBatch } = require(root);
  native().setNumThreads(threads);
  const texts = captions(path.join(cache, 'inputs.json'));
  const record = { date: new Date().toISOString(), command: `npm run bench -- ${argv.join(' ')}`, cpu: os.cpus()[0]?.model, cpu_info: cpuInfo(), threads, loadavg_before: loadavg(), rows: [] };
  record.gemm = argv.includes('--no-gemm') ? null : measureGemm(python, { threads });
  for (const preset of presets) {
    for (const dtype of argv.includes('--bf16') ? ['float32', 'bfloat16'] : ['float32']) {
      const clf = await loadModel(path.join(cache, preset), { dtype });
      const seqs = clf.encode(texts);
      for (const budget of budgets) {
        // consecutive captions packed up to the budget, several different batches per budget
        const batches = [];
        let i = 0;
        while (batches.length < reps + 1) {
          const b = [];
          let tokens = 0;
          while (tokens + seqs[i % seqs.length].length <= budget || b.length === 0) {
            tokens += seqs[i % seqs.length].length;
            b.push(seqs[i++ % seqs.length]);
          }
          batches.push(b);
        }
        const times = [];
        let tokens = 0;
        for (const [j, b] of batches.entries()) {
          const packed = packBatch(b);
          const t = process.hrtime.bigint();
          await clf.model.forward(packed.ids, packed.cuSeqlens, { bf16: dtype === 'bfloat16' });
          const s = Number(process.hrtime.bigint() - t) / 1e9;
          if (j > 0) {
            times.push(s);
            tokens += packed.ids.length;
          }
        }
        const seconds = times.reduce((a, b) => a + b, 0);
        const row = { preset, dtype, budget, texts_per_forward: batches.slice(1).reduce((a, b) => a + b.length, 0) / reps, tokens_per_s: tokens / seconds, forward_ms: (seconds / reps) * 1000 };
        record.rows.push(row);
        process.stderr.write(`  ${JSON.stringify(row)}\n`);
      }
      clf.close();
    }
  }
  record.loadavg_after = loadavg();
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  const file = path.join(__dirname, 'results', `${record.date.replace(/[:.]/g, '-')}-budget.json`);
  fs.writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
  console.log(`${cpuLine(record.cpu_info)}; ${threads} threads; load average before ${record.loadavg_before.join(' ')}, after ${record.loadavg_after.join(' ')}`);
  console.log('| preset | dtype | token budget | texts/forward | forward ms | tokens/s |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of record.rows) console.log(`| ${r.preset} | ${r.dtype} | ${r.budget} | ${r.texts_per_forward.toFixed(1)} | ${r.forward_ms.toFixed(0)} | ${r.tokens_per_s.toFixed(0)} |`);
  if (record.gemm) console.log(['', ...formatGemm(record.gemm)].join('\n'));
  console.log(`written ${path.relative(root, file)}`);
}

/** Entry point from bench/run.js. */
async function main(argv) {
  if (argv.includes('--budget')) return budgetBench(argv);
  return serveBench(argv);
}

module.exports = { main };
