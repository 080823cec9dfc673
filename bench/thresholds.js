#!/usr/bin/env node
'use strict';
/**
 * Decision thresholds on held-out data (bench/SERIES.md protocol: roco-radiology-mini, the seed's split, tiny preset,
 * the seed recipe for 20 epochs at lr 5e-4, seeds 42-44): for each seed, ours (`train`) and HF Trainer
 * (bench/hf_train.py --save-logits) are trained once, then the same rules are applied to each side's best model:
 *
 *   p > 0.5          the seed's rule
 *   global tuned     one threshold, tuned on the validation split (exact search)
 *   per-label tuned  one threshold per label with >= S validation positives (coordinate ascent), the rest global
 *
 * and scored on the validation split (in-sample, and 5-fold cross-validated: tuned on 4/5, scored on the held-out 1/5)
 * and on the test split (micro-F1 and macro-F1). The tuning is lib/eval/thresholds.ts on both sides' logits, so a gain
 * on HF's predictions shows it is not an artefact of our model.
 *
 *   node bench/thresholds.js [--seeds 42,43,44] [--sides ours,hf] [--work /tmp/radbert-thresholds] [--threads 1]
 *     [--min-support 5] [--also-support 2,10] [--train-args="--loss asl"] [--tag NAME]
 *
 * Training runs are child processes, one at a time, skipped when their results exist (resumable). --train-args adds
 * flags to our `train` only (e.g. another loss; with "=": yargs reads a separate value that starts with -- as a flag),
 * with --tag keeping its runs apart. Writes
 * bench/results/<date>-thresholds[-tag].json and prints the tables (markdown).
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync, execFileSync } = require('node:child_process');
const yargs = require('yargs/yargs');

const ROOT = path.resolve(__dirname, '..');
const a = yargs(process.argv.slice(2))
  .option('work', { type: 'string', default: '/tmp/radbert-thresholds', describe: 'folder for the runs (kept for resuming)' })
  .option('seeds', { type: 'string', default: '42,43,44' })
  .option('sides', { type: 'string', default: 'ours,hf' })
  .option('dataset', { type: 'string', default: path.join(ROOT, '../shared/datasets/roco-radiology-mini') })
  .option('tokenizer', { type: 'string', default: path.join(ROOT, '../shared/models/modernbert-tokenizer') })
  .option('preset', { type: 'string', default: 'tiny' })
  .option('epochs', { type: 'number', default: 20 })
  .option('lr', { type: 'number', default: 5e-4 })
  .option('threads', { type: 'number', default: 1, describe: 'torch threads of every run and of the forwards here' })
  .option('min-support', { type: 'number', default: 5, describe: 'per-label: labels with fewer validation positives keep the global threshold' })
  .option('also-support', { type: 'string', default: '', describe: 'more per-label rows with these supports, e.g. 2,10' })
  .option('train-args', { type: 'string', default: '', describe: 'extra flags for our train, with "=" (e.g. --train-args="--loss asl")' })
  .option('tag', { type: 'string', default: '' })
  .option('python', { type: 'string', describe: 'the reference venv python (default: scripts/pyref-venv.sh)' })
  .strict().help().parse();

const W = path.resolve(a.work);
fs.mkdirSync(W, { recursive: true });
const D = a.dataset, T = a.tokenizer;
const seeds = a.seeds.split(',').map(Number);
const sides = new Set(a.sides.split(','));
const tag = a.tag ? `-${a.tag}` : '';
const recipe = (seed) => ['--epochs', String(a.epochs), '--lr', String(a.lr), '--batch-size', '8', '--max-length', '256', '--seed', String(seed), '--threads', String(a.threads)];
const extra = a.trainArgs ? a.trainArgs.split(/\s+/).filter(Boolean) : [];
const supports = [a.minSupport, ...a.alsoSupport.split(',').filter(Boolean).map(Number)];

/** Run one training step as a child process (skipped when `done` exists); wall time and load average recorded. */
function step(name, cmd, args, done, steps) {
  if (fs.existsSync(done)) return;
  const log = path.join(W, `${name}.log`);
  console.log(`[${new Date().toISOString()}] ${name}: ${[cmd, ...args].join(' ')}`);
  const load0 = os.loadavg()[0], t0 = Date.now();
  const fd = fs.openSync(log, 'w');
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  if (r.status !== 0) throw new Error(`${name} failed (exit ${r.status}, signal ${r.signal}); see ${log}`);
  steps[name] = { wall_s: (Date.now() - t0) / 1000, load_before: load0, load_after: os.loadavg()[0], command: [cmd, ...args].join(' ') };
  console.log(`  ${steps[name].wall_s.toFixed(0)} s, load ${load0.toFixed(2)} -> ${os.loadavg()[0].toFixed(2)}`);
}

/** Validation and test logits + targets of our model folder (the seed's split, the model's labels). */
async function oursLogits(rn, dir) {
  const read = await rn.readRows(D, { textColumn: 'caption', labelColumn: 'cui' });
  const split = rn.seedSplit(read.splits, { seed: 42 });
  const clf = await rn.load(dir, { batchSize: 64 });
  try {
    const out = { k: clf.labels.length };
    for (const name of ['validation', 'test']) {
      const rows = split[name];
      out[name] = { logits: await clf.logitsMatrix(clf.encode(rows.map((r) => r.text))), targets: new rn.LabelBinarizer(clf.labels).transform(rows).data };
    }
    return out;
  } finally {
    await clf.close();
  }
}

/** Validation and test logits + targets that bench/hf_train.py --save-logits wrote. */
function hfLogits(file) {
  const { readSafetensorsF32 } = require(path.join(ROOT, 'dist/model/safetensors.js'));
  const t = readSafetensorsF32(file);
  const k = t.get('validation.logits').shape[1];
  const part = (name) => ({ logits: t.get(`${name}.logits`).data, targets: t.get(`${name}.labels`).data });
  return { k, validation: part('validation'), test: part('test') };
}

/** Every rule's numbers on one model's logits. */
function rules(rn, p) {
  const { k } = p;
  const v = p.validation, t = p.test;
  const rows = [];
  const score = (name, rule, cv) => {
    const mv = rn.computeMetrics(v.logits, v.targets, rule, k);
    const mt = rn.computeMetrics(t.logits, t.targets, rule, k);
    rows.push({ rule: name, val_f1: mv.f1, val_f1_cv: cv, test_f1: mt.f1, test_f1_macro: mt.f1_macro, test_precision: mt.precision_micro, test_recall: mt.recall_micro });
  };
  const g = rn.tuneThresholds(v.logits, v.targets, k, { method: 'global', minSupport: a.minSupport });
  score('p > 0.5', 0.5, g.crossValidated.baseline);
  score('global tuned', g.perLabel, g.crossValidated.global);
  rows[rows.length - 1].threshold = g.global;
  for (const s of supports) {
    const pl = rn.tuneThresholds(v.logits, v.targets, k, { method: 'per-label', minSupport: s });
    score(`per-label tuned (support >= ${s})`, pl.perLabel, pl.crossValidated.perLabel);
    Object.assign(rows[rows.length - 1], { tuned_labels: pl.tunedLabels.length, sweeps: pl.sweeps });
  }
  return rows;
}

const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
const sd = (xs) => (xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean(xs)) ** 2, 0) / (xs.length - 1)) : 0);

function report(results, steps) {
  const f = (x) => x.toFixed(4);
  const ms = (xs) => `${f(mean(xs))} ± ${f(sd(xs))}`;
  console.log(`\n${os.cpus()[0].model}, ${os.cpus().length} cores; ${a.preset}, ${a.epochs} epochs at lr ${a.lr}, seeds ${seeds.join(', ')}, ${a.threads} thread(s)${extra.length ? `; ours with ${extra.join(' ')}` : ''}\n`);
  for (const side of ['ours', 'hf']) {
    const per = seeds.map((s) => results[`${side}-${s}`]).filter(Boolean);
    if (!per.length) continue;
    console.log(`${side === 'ours' ? 'radbert-native' : 'HF Trainer (bench/hf_train.py)'}, mean ± sd over ${per.length} seed(s):\n`);
    console.log('| rule | val micro-F1 (in-sample) | val micro-F1 (5-fold CV) | test micro-F1 | test macro-F1 | test micro-F1 − p > 0.5 |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    for (let i = 0; i < per[0].length; i++) {
      const col = (key) => per.map((r) => r[i][key]);
      const gain = per.map((r) => r[i].test_f1 - r[0].test_f1);
      console.log(`| ${per[0][i].rule} | ${ms(col('val_f1'))} | ${ms(col('val_f1_cv'))} | ${ms(col('test_f1'))} | ${ms(col('test_f1_macro'))} | ${i ? `${gain[0] >= 0 ? '+' : ''}${ms(gain)}` : ''} |`);
    }
    console.log(`\nper seed (test micro-F1: ${per[0].map((r) => r.rule).join(' / ')}): ${seeds.filter((s) => results[`${side}-${s}`]).map((s) => `${s}: ${results[`${side}-${s}`].map((r) => f(r.test_f1)).join(' / ')}`).join('; ')}`);
    const thr = per.map((r) => r[1].threshold);
    console.log(`global thresholds: ${thr.map((x) => x.toFixed(4)).join(', ')}\n`);
  }
  const out = path.join(ROOT, 'bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}-thresholds${tag}.json`);
  fs.writeFileSync(out, JSON.stringify({ machine: { cpu: os.cpus()[0].model, cores: os.cpus().length }, args: a, steps, results }, null, 2) + '\n');
  console.log(path.relative(ROOT, out));
}

async function main() {
  const stepsFile = path.join(W, `steps${tag}.json`);
  const steps = fs.existsSync(stepsFile) ? JSON.parse(fs.readFileSync(stepsFile, 'utf8')) : {};
  const PY = a.python ?? path.join(execFileSync('bash', [path.join(ROOT, 'scripts/pyref-venv.sh')], { encoding: 'utf8' }).trim().split('\n').pop(), 'bin/python');
  for (const seed of seeds) {
    if (sides.has('ours')) {
      const dir = path.join(W, `ours${tag}-${seed}`);
      step(`ours${tag}-${seed}`, process.execPath, [path.join(ROOT, 'bin/radbert-native.js'), 'train', '--dataset', D, '--tokenizer', T, '--init', a.preset, ...recipe(seed), '--tune-thresholds', 'global', ...extra, '--output-dir', dir, '--overwrite-output-dir'], path.join(dir, 'test_results.json'), steps);
    }
    if (sides.has('hf')) {
      const f = path.join(W, `hf-${seed}.safetensors`);
      step(`hf-${seed}`, PY, [path.join(ROOT, 'bench/hf_train.py'), '--dataset', D, '--tokenizer', T, '--init', a.preset, ...recipe(seed), '--output-dir', path.join(W, `hf-${seed}`), '--json', path.join(W, `hf-${seed}.json`), '--save-logits', f], f, steps);
    }
    fs.writeFileSync(stepsFile, JSON.stringify(steps, null, 2));
  }
  const rn = require(ROOT);
  rn.native().setNumThreads(a.threads);
  const results = {};
  for (const seed of seeds) {
    if (sides.has('ours')) results[`ours-${seed}`] = rules(rn, await oursLogits(rn, path.join(W, `ours${tag}-${seed}`)));
    if (sides.has('hf')) results[`hf-${seed}`] = rules(rn, hfLogits(path.join(W, `hf-${seed}.safetensors`)));
  }
  report(results, steps);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
