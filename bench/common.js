'use strict';
/**
 * What every `npm run bench` mode records about the machine: the CPU (model and the instruction-set flags that decide
 * GEMM speed), load averages, and the GEMM GFLOP/s of ModernBERT-base's linear layers per backend measured in the same
 * run (bench/gemm.py: the roofline the ratios are read against). Also the reference venv's python.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync, spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');

/** /proc/cpuinfo flags that decide fp32/bf16/int8 GEMM speed on x86. */
const GEMM_FLAGS = ['avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx512_bf16', 'avx512_fp16', 'avx_vnni', 'amx_tile', 'amx_bf16', 'amx_int8', 'amx_fp16'];

/** The Python reference venv's interpreter (scripts/pyref-venv.sh builds it on first use). */
function pythonRef() {
  const venv = execFileSync('bash', [path.join(root, 'scripts', 'pyref-venv.sh')], { encoding: 'utf8' }).trim().split('\n').pop();
  return path.join(venv, 'bin', 'python');
}

/** The CPU: model name, vendor family/model/stepping, logical cores, and which of GEMM_FLAGS it has (from /proc/cpuinfo). */
function cpuInfo() {
  let text = '';
  try {
    text = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // not Linux: os.cpus() only
  }
  const first = text.split('\n\n')[0];
  const field = (name) => (new RegExp(`^${name}\\s*: (.*)$`, 'm').exec(first) || [])[1];
  const flags = new Set((field('flags') || '').split(/\s+/));
  return {
    model: field('model name') ?? os.cpus()[0]?.model,
    vendor: field('vendor_id'),
    family: field('cpu family') && Number(field('cpu family')),
    model_number: field('model') && Number(field('model')),
    stepping: field('stepping') && Number(field('stepping')),
    cores: os.cpus().length,
    flags: GEMM_FLAGS.filter((f) => flags.has(f)),
  };
}

/** One line naming the CPU and its GEMM flags. */
function cpuLine(cpu) {
  const id = cpu.family !== undefined ? ` (${cpu.vendor} family ${cpu.family} model ${cpu.model_number})` : '';
  return `${cpu.model}${id}, ${cpu.cores} cores; flags: ${cpu.flags.join(' ') || 'none of ' + GEMM_FLAGS.join(' ')}`;
}

/** 1, 5 and 15 minute load averages, rounded (the machine may be shared: record them beside timings). */
const loadavg = () => os.loadavg().map((x) => Number(x.toFixed(2)));

/** Measures GEMM GFLOP/s with bench/gemm.py in the reference venv (tens of seconds; `quick`: shorter timing windows). */
function measureGemm(python, { threads, quick = false }) {
  const args = { threads, min_time: quick ? 0.1 : 0.3, tokens: [32, 512, 4096] };
  // glibc's mmap off for this process: an output over its mmap threshold (base's Wqkv at 4096 tokens: 37 MB) would be
  // fresh pages, first-touch faulted on every call (137 instead of 435 GFLOP/s measured): the kernels are measured, as
  // they run in radbert-native (native/allocator.cpp keeps large blocks) and in ONNX Runtime (a bound output buffer)
  const env = { ...process.env, MALLOC_MMAP_MAX_: '0', MALLOC_TRIM_THRESHOLD_: String(2 ** 32 - 1) };
  const r = spawnSync(python, [path.join(__dirname, 'gemm.py'), JSON.stringify(args)], { encoding: 'utf8', cwd: root, env, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`bench/gemm.py failed:\n${r.stderr}`);
  return { ...JSON.parse(r.stdout.trim().split('\n').pop()), loadavg_after: loadavg() };
}

/** The GEMM table (GFLOP/s per linear shape, token count, backend and dtype) and the roofline lines, as markdown. */
function formatGemm(g) {
  const cols = [];
  for (const dtype of ['fp32', 'bf16']) for (const backend of ['torch-linear', 'onednn-packed', 'onnxruntime']) {
    if (g.results.some((r) => r.backend === backend && r.dtype === dtype)) cols.push({ backend, dtype });
  }
  const names = (k, n) => g.layer_linears.filter((l) => l.in === k && l.out === n).map((l) => l.name).join(', ');
  const shapes = [...new Map(g.results.map((r) => [`${r.in}x${r.out}`, r])).values()];
  const tokens = [...new Set(g.results.map((r) => r.tokens))];
  const cell = (x) => (x === undefined ? '–' : x.gflops.toFixed(0));
  const lines = [
    `GEMM GFLOP/s, ${g.threads} threads, median (bench/gemm.py; torch ${g.versions.torch}, onnxruntime ${g.versions.onnxruntime}):`,
    `| linear (in→out) | tokens | ${cols.map((c) => `${c.backend} ${c.dtype}`).join(' | ')} |`,
    `| --- | --- | ${cols.map(() => '---').join(' | ')} |`,
  ];
  for (const s of shapes) for (const m of tokens) {
    const rs = cols.map((c) => g.results.find((r) => r.backend === c.backend && r.dtype === c.dtype && r.in === s.in && r.out === s.out && r.tokens === m));
    lines.push(`| ${names(s.in, s.out)} ${s.in}→${s.out} | ${m} | ${rs.map(cell).join(' | ')} |`);
  }
  for (const m of tokens) {
    const rs = cols.map((c) => g.layer.find((r) => r.backend === c.backend && r.dtype === c.dtype && r.tokens === m));
    lines.push(`| one layer's 4 linears | ${m} | ${rs.map(cell).join(' | ')} |`);
  }
  for (const [dtype, byTokens] of Object.entries(g.roofline)) {
    lines.push(`roofline ${dtype} (best backend, one layer's linears): ${Object.entries(byTokens).map(([m, r]) => `${m} tokens ${r.gflops.toFixed(0)} GFLOP/s (${r.backend})`).join(' · ')}`);
  }
  for (const [what, why] of Object.entries(g.unsupported || {})) lines.push(`not measured: ${what}: ${why}`);
  return lines;
}

/** The roofline entry of `dtype` at the measured token count nearest (log scale) to `tokens`. */
function rooflineAt(g, dtype, tokens) {
  const byTokens = g?.roofline?.[dtype];
  if (!byTokens || !(tokens > 0)) return undefined;
  const m = Object.keys(byTokens).reduce((a, b) => (Math.abs(Math.log(b / tokens)) < Math.abs(Math.log(a / tokens)) ? b : a));
  return { tokens: Number(m), ...byTokens[m] };
}

module.exports = { cpuInfo, cpuLine, loadavg, measureGemm, formatGemm, rooflineAt, pythonRef };
