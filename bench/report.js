'use strict';
// `npm run bench`'s arithmetic and table: the parity check's captions and differences, the linear-layer GFLOP/s each
// side reaches on an inference row (read against the GEMM roofline of bench/gemm.py), and the printed markdown table.
const fs = require('fs');
const path = require('path');
const { rooflineAt } = require('./common.js');

/** Largest |logit difference| allowed between the sides before timing (the README's logits parity bound). */
const PARITY_BOUND = 1e-5;

/** The parity check's captions: the first 7 test captions and the longest one (one padded batch of 8). */
function parityTexts(infer) {
  const longest = infer.reduce((a, b) => (b.length > a.length ? b : a));
  const texts = infer.slice(0, 7);
  return texts.includes(longest) ? infer.slice(0, 8) : [...texts, longest];
}

/** max |a[i][j] - b[i][j]| over two equally shaped matrices (arrays of rows). */
function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`parity: ${a.length} rows vs ${b.length}`);
  let worst = 0;
  a.forEach((row, i) => {
    if (row.length !== b[i].length) throw new Error(`parity: row ${i} has ${row.length} logits vs ${b[i].length}`);
    row.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - b[i][j]))));
  });
  return worst;
}

/** The model's linear-layer sizes from its config.json. */
function linearDims(modelDir) {
  const c = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
  return { hidden: c.hidden_size, intermediate: c.intermediate_size, layers: c.num_hidden_layers, labels: Object.keys(c.id2label).length };
}

/**
 * FLOPs of the linear layers (Wqkv, attn.Wo, mlp.Wi, mlp.Wo per token and layer; head dense and classifier per
 * sequence) for `tokens` real tokens in `sequences` texts. Attention, norms and padding are not counted.
 */
function linearFlops(d, tokens, sequences) {
  const perToken = d.layers * (d.hidden * 3 * d.hidden + d.hidden * d.hidden + d.hidden * 2 * d.intermediate + d.intermediate * d.hidden);
  return 2 * (tokens * perToken + sequences * (d.hidden * d.hidden + d.hidden * d.labels));
}

/**
 * Linear-layer FLOPs per second of one side's inference row (real tokens only, whole call time): batch 1 from the
 * per-caption latencies, larger batches from the median pass.
 */
function inferenceFlops(modelDir, lengths, args, r) {
  const d = linearDims(modelDir);
  const n = r.samples;
  if (r.latency_s) {
    const flops = lengths.slice(0, n).reduce((s, len) => s + linearFlops(d, len, 1), 0);
    return flops / r.latency_s.reduce((a, b) => a + b, 0);
  }
  const tokens = lengths.slice(0, n).reduce((a, b) => a + b, 0);
  const median = [...r.seconds].sort((a, b) => a - b)[Math.floor(r.seconds.length / 2)];
  return linearFlops(d, tokens, n) / median;
}

/** The roofline an inference row's ours is read against: same linear shapes as bench/gemm.py's, nearest token count. */
function rowRoofline(record, row, modelDir, args) {
  const g = record.gemm;
  if (!g || !row.name.startsWith('infer')) return undefined;
  const d = linearDims(modelDir);
  if (!g.layer_linears.some((l) => l.in === d.hidden && l.out === 3 * d.hidden) || !g.layer_linears.some((l) => l.in === d.intermediate)) return undefined;
  const lengths = record.parity[row.preset].lengths.slice(0, args.n);
  const tokensPerForward = lengths.reduce((a, b) => a + b, 0) / Math.ceil(lengths.length / args.batch_size);
  return rooflineAt(g, row.name.includes('bf16') ? 'bf16' : 'fp32', tokensPerForward);
}

/** The results table as markdown lines (ratios > 1: radbert-native better). */
function formatRows(record) {
  const hasTjs = record.rows.some((r) => r.tjs);
  const sides = hasTjs ? ['hf', 'tjs', 'ours'] : ['hf', 'ours'];
  const cell = (r, v) => {
    if (!v) return '–';
    if (r.unit === 's') return `${v.median.toFixed(2)} s`;
    if (v.latency_ms) return `${v.latency_ms.p50.toFixed(1)} / ${v.latency_ms.p90.toFixed(1)} ms`;
    return `${v.median.toFixed(1)} (${v.min.toFixed(1)}–${v.max.toFixed(1)})`;
  };
  const ratio = (r, w) => {
    if (!r[w]) return '–';
    if (r.p50_ratio) return `${r.p50_ratio[w].toFixed(2)}× (p50)`;
    return `${(w === 'hf' ? r.ratio : r.ratio_tjs).toFixed(2)}×`;
  };
  const gflops = (r) => {
    if (!r.ours.linear_gflops) return '–';
    const own = sides.map((w) => (r[w] ? r[w].linear_gflops.toFixed(0) : '–')).join(' / ');
    return r.roofline ? `${own} (${((100 * r.ours.linear_gflops) / r.roofline.gflops).toFixed(0)} % of ${r.roofline.gflops.toFixed(0)})` : own;
  };
  const names = { hf: 'HF transformers', tjs: 'transformers.js', ours: 'radbert-native' };
  const lines = [
    'Throughput: texts/s, median (min–max) of repetitions; batch 1: p50 / p90 ms of one call per caption; start-up: s.',
    `Ratios > 1: radbert-native better (batch 1: the other's p50 ÷ ours). Linear GFLOP/s: the linear layers' FLOPs on real tokens ÷ the whole call time${hasTjs ? ' (HF / tjs / ours)' : ' (HF / ours)'}, and ours as % of the best backend's GEMM GFLOP/s at that many tokens per forward (base's shapes).`,
    `| benchmark | preset | ${sides.map((w) => names[w]).join(' | ')} | ours ÷ HF |${hasTjs ? ' ours ÷ tjs |' : ''} linear GFLOP/s | peak RSS MB ${sides.map((w) => w).join(' / ')} |`,
    `| --- | --- | ${sides.map(() => '---').join(' | ')} | --- |${hasTjs ? ' --- |' : ''} --- | --- |`,
  ];
  for (const r of record.rows) {
    const rss = sides.map((w) => (r[w] ? r[w].peak_rss_mb.toFixed(0) : '–')).join(' / ');
    lines.push(`| ${r.name} | ${r.preset} | ${sides.map((w) => cell(r, r[w])).join(' | ')} | ${ratio(r, 'hf')} |${hasTjs ? ` ${ratio(r, 'tjs')} |` : ''} ${gflops(r)} | ${rss} |`);
  }
  const diffs = Object.entries(record.parity || {}).map(([p, v]) => `${p} ${Object.entries(v.max_abs_diff).map(([k, x]) => `${k.replace(/_/g, ' ')} ${x.toExponential(1)}`).join(', ')}`);
  if (diffs.length) lines.push(`logits max |diff| before timing (8 test captions, one batch): ${diffs.join('; ')}`);
  return lines;
}

module.exports = { PARITY_BOUND, parityTexts, maxAbsDiff, inferenceFlops, rowRoofline, formatRows };
