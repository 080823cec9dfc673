#!/usr/bin/env node
'use strict';
/**
 * The radiology series table (issue 14, protocol in bench/SERIES.md): Part 3 from random init, Part 2 (MLM) → Part 3,
 * Part 1 linear probes, each run from Node (ours) and with transformers (HF), one job at a time, wall time and load
 * average per step. Steps whose result file exists are skipped, so an interrupted run continues where it stopped.
 *
 *   node bench/series.js [--work /tmp/radbert-series] [--only s1,s2-mlm,...] [--sides ours,hf] [--mlm-epochs 10]
 *     [--mlm-lr 1e-3] [--ft-lr 5e-4] [--ft-epochs 20] [--preset tiny] [--add-small-train] [--tag NAME] [--threads N]
 *
 * Writes bench/results/<date>-series[-tag].json and prints the table (markdown).
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync, execFileSync } = require('node:child_process');
const yargs = require('yargs/yargs');

const ROOT = path.resolve(__dirname, '..');
const a = yargs(process.argv.slice(2))
  .option('work', { type: 'string', default: '/tmp/radbert-series', describe: 'folder for the runs (kept for resuming)' })
  .option('only', { type: 'string', describe: 'comma-separated step names (default all)' })
  .option('sides', { type: 'string', default: 'ours,hf' })
  .option('dataset', { type: 'string', default: path.join(ROOT, '../shared/datasets/roco-radiology-mini') })
  .option('big', { type: 'string', default: path.join(ROOT, '../shared/datasets/roco-radiology') })
  .option('tokenizer', { type: 'string', default: path.join(ROOT, '../shared/models/modernbert-tokenizer') })
  .option('preset', { type: 'string', default: 'tiny' })
  .option('mlm-epochs', { type: 'number', default: 10 })
  .option('mlm-lr', { type: 'number', default: 1e-3 })
  .option('ft-lr', { type: 'number', default: 5e-4 })
  .option('ft-epochs', { type: 'number', default: 20 })
  .option('add-small-train', { type: 'boolean', default: false, describe: "add the small dataset's seed-split train captions to the MLM corpus" })
  .option('threads', { type: 'number', default: 0, describe: 'torch threads on both sides (0: the default)' })
  .option('probe-pooling', { type: 'string', default: 'cls', choices: ['cls', 'mean'], describe: 'pooling of the Part 1 probes' })
  .option('seed', { type: 'number', default: 42, describe: 'seed of every run (model init, batch order, masking)' })
  .option('tag', { type: 'string', default: '' })
  .option('python', { type: 'string', describe: 'the reference venv python (default: scripts/pyref-venv.sh)' })
  .strict().help().parse();

const W = path.resolve(a.work);
fs.mkdirSync(W, { recursive: true });
const PY = a.python ?? path.join(execFileSync('bash', [path.join(ROOT, 'scripts/pyref-venv.sh')], { encoding: 'utf8' }).trim(), 'bin/python');
const CLI = path.join(ROOT, 'bin/radbert-native.js');
const D = a.dataset, T = a.tokenizer;
const thr = a.threads ? ['--threads', String(a.threads)] : [];
const seed = String(a.seed);
const ft = ['--epochs', String(a.ftEpochs), '--lr', String(a.ftLr), '--batch-size', '8', '--max-length', '256', '--seed', seed, ...thr];
const mlm = ['--epochs', String(a.mlmEpochs), '--lr', String(a.mlmLr), '--batch-size', '32', '--max-length', '256', '--mlm-probability', '0.3',
  '--validation-split', '0.05', '--seed', seed, ...thr];
const corpus = path.join(W, 'corpus.txt');
const p = (name) => path.join(W, name);

const readJson = (f) => JSON.parse(fs.readFileSync(f, 'utf8'));
const oursFt = (dir) => ({ bestVal: readJson(path.join(dir, 'trainer_state.json')).best_metric, test: readJson(path.join(dir, 'test_results.json')).test_f1 });
const hfFt = (f) => { const j = readJson(f); return { bestVal: j.best_metric, test: j.test.test_f1 }; };
const oursProbe = (dir) => { const j = readJson(path.join(dir, 'probe_results.json')); return { bestVal: j.eval_f1, test: j.test_f1 }; };
const hfProbe = (f) => { const j = readJson(f); return { bestVal: j.validation?.f1 ?? null, test: j.test?.f1 ?? null }; };
const oursMlm = (dir) => {
  const log = readJson(path.join(dir, 'trainer_state.json')).log_history.filter((e) => e.eval_loss !== undefined);
  return { epochs: log.map((e) => ({ epoch: e.epoch, eval_loss: e.eval_loss })), bestEvalLoss: Math.min(...log.map((e) => e.eval_loss)) };
};
const hfMlm = (f) => { const j = readJson(f); return { epochs: j.epochs, bestEvalLoss: j.best_eval_loss }; };

const node = (args) => [process.execPath, [CLI, ...args]];
const py = (script, args) => [PY, [path.join(ROOT, 'bench', script), ...args]];
const STEPS = [
  { name: 's1', side: 'ours', row: '(1) Part 3', run: node(['train', '--dataset', D, '--tokenizer', T, '--init', a.preset, ...ft, '--output-dir', p('s1-ours')]), done: p('s1-ours/test_results.json'), read: () => oursFt(p('s1-ours')) },
  { name: 's1', side: 'hf', row: '(1) Part 3', run: py('hf_train.py', ['--dataset', D, '--tokenizer', T, '--init', a.preset, ...ft, '--output-dir', p('s1-hf'), '--json', p('s1-hf.json')]), done: p('s1-hf.json'), read: () => hfFt(p('s1-hf.json')) },
  { name: 's2-mlm', side: 'ours', row: '(2) Part 2 (MLM)', run: node(['mlm', '--dataset', corpus, '--tokenizer', T, '--init', a.preset, ...mlm, '--output-dir', p('s2-mlm-ours')]), done: p('s2-mlm-ours/trainer_state.json'), read: () => oursMlm(p('s2-mlm-ours')) },
  { name: 's2-mlm', side: 'hf', row: '(2) Part 2 (MLM)', run: py('hf_mlm.py', ['--texts', corpus, '--tokenizer', T, '--init', a.preset, ...mlm, '--output-dir', p('s2-mlm-hf'), '--json', p('s2-mlm-hf.json')]), done: p('s2-mlm-hf.json'), read: () => hfMlm(p('s2-mlm-hf.json')) },
];
for (const pool of ['cls', 'mean']) {
  STEPS.push(
    { name: `s2-${pool}`, side: 'ours', row: `(2) Part 2 → Part 3, ${pool}`, run: node(['train', '--model', p('s2-mlm-ours'), '--dataset', D, '--classifier-pooling', pool, ...ft, '--output-dir', p(`s2-${pool}-ours`)]), done: p(`s2-${pool}-ours/test_results.json`), read: () => oursFt(p(`s2-${pool}-ours`)) },
    { name: `s2-${pool}`, side: 'hf', row: `(2) Part 2 → Part 3, ${pool}`, run: py('hf_train.py', ['--model', p('s2-mlm-hf'), '--dataset', D, '--tokenizer', T, '--classifier-pooling', pool, ...ft, '--output-dir', p(`s2-${pool}-hf`), '--json', p(`s2-${pool}-hf.json`)]), done: p(`s2-${pool}-hf.json`), read: () => hfFt(p(`s2-${pool}-hf.json`)) });
}
for (const [body, src, hfSrc] of [['random', ['--init', a.preset, '--tokenizer', T], ['--init', a.preset, '--tokenizer', T]], ['mlm', ['--model', p('s2-mlm-ours')], ['--model', p('s2-mlm-hf')]]]) {
  const dir = p(`s3-${body}-ours`), emb = p(`s3-${body}-emb.safetensors`);
  STEPS.push(
    { name: `s3-${body}`, side: 'ours', row: `(3) Part 1 probe, ${body} body, ${a.probePooling}`, run: node(['train', '--linear-probe', ...src, '--classifier-pooling', a.probePooling, '--dataset', D, '--max-length', '256', '--seed', seed, ...thr, '--probe-embeddings', emb, '--output-dir', dir]), done: path.join(dir, 'probe_results.json'), read: () => oursProbe(dir) },
    { name: `s3-${body}`, side: 'sklearn-on-ours', row: `(3) Part 1 probe, ${body} body, ${a.probePooling}`, run: py('hf_probe.py', ['--embeddings', emb, ...thr, '--json', p(`s3-${body}-sklearn-on-ours.json`)]), done: p(`s3-${body}-sklearn-on-ours.json`), read: () => hfProbe(p(`s3-${body}-sklearn-on-ours.json`)) },
    { name: `s3-${body}`, side: 'hf', row: `(3) Part 1 probe, ${body} body, ${a.probePooling}`, run: py('hf_probe.py', [...hfSrc, '--pooling', a.probePooling, '--dataset', D, '--seed', seed, ...thr, '--json', p(`s3-${body}-hf.json`)]), done: p(`s3-${body}-hf.json`), read: () => hfProbe(p(`s3-${body}-hf.json`)) });
}

/** The MLM corpus as one .txt both sides read: seriesCorpus (and, with --add-small-train, the seed split's train captions). */
async function writeCorpus() {
  if (fs.existsSync(corpus)) return;
  const rn = require(ROOT);
  const c = await rn.seriesCorpus(a.big, D);
  const texts = c.rows.map((r) => r.text);
  if (a.addSmallTrain) texts.push(...(await rn.readTexts(D, { textColumn: 'caption', splits: ['train'] })).rows.map((r) => r.text));
  if (texts.some((t) => /[\r\n]/.test(t) || t !== t.trim() || !t)) throw new Error('a corpus caption has a line break or outer blanks: the .txt would change it');
  fs.writeFileSync(corpus + '.tmp', texts.join('\n') + '\n');
  fs.renameSync(corpus + '.tmp', corpus);
  console.log(`corpus: ${texts.length} texts (${c.removedIds.length} removed)${a.addSmallTrain ? ' incl. the small train split' : ''} → ${corpus}`);
}

async function main() {
  const only = a.only ? new Set(a.only.split(',')) : null;
  const sides = new Set(a.sides.split(','));
  if (sides.has('ours')) sides.add('sklearn-on-ours');
  const summaryFile = p('series-steps.json');
  const steps = fs.existsSync(summaryFile) ? readJson(summaryFile) : {};
  for (const s of STEPS) {
    if ((only && !only.has(s.name)) || !sides.has(s.side)) continue;
    const key = `${s.name}/${s.side}`;
    if (!fs.existsSync(s.done)) {
      if (s.name === 's2-mlm') await writeCorpus();
      const [cmd, args] = s.run;
      const log = p(`${s.name}-${s.side}.log`);
      console.log(`[${new Date().toISOString()}] ${key}: ${[cmd, ...args].map((x) => path.relative(ROOT, x).startsWith('..') ? x : path.relative(ROOT, x)).join(' ')}`);
      const load0 = os.loadavg()[0], t0 = Date.now();
      const fd = fs.openSync(log, 'w');
      const r = spawnSync(cmd, args, { cwd: ROOT, stdio: ['ignore', fd, fd] });
      fs.closeSync(fd);
      const wall = (Date.now() - t0) / 1000;
      if (r.status !== 0) { console.error(`${key} failed (exit ${r.status}, signal ${r.signal}); see ${log}`); process.exit(1); }
      steps[key] = { wall_s: wall, load_before: load0, load_after: os.loadavg()[0], finished: new Date().toISOString(), command: [cmd, ...args].join(' ') };
      fs.writeFileSync(summaryFile, JSON.stringify(steps, null, 2));
      console.log(`  ${wall.toFixed(0)} s, load ${load0.toFixed(2)} → ${os.loadavg()[0].toFixed(2)}`);
    }
    steps[key] = { ...steps[key], ...s.read() };
    fs.writeFileSync(summaryFile, JSON.stringify(steps, null, 2));
  }
  report(steps);
}

function report(steps) {
  const f = (x) => (typeof x === 'number' ? x.toFixed(4) : '–');
  const w = (x) => (x && x.wall_s ? `${x.wall_s.toFixed(0)} s` : '–');
  console.log(`\n${os.cpus()[0].model}, ${os.cpus().length} cores; recipe: preset ${a.preset}, seed ${a.seed}, fine-tune ${a.ftEpochs} epochs lr ${a.ftLr}, MLM ${a.mlmEpochs} epochs lr ${a.mlmLr}${a.addSmallTrain ? ' + small train captions' : ''}\n`);
  console.log('| pipeline | ours: best val micro-F1 | ours: test micro-F1 | ours: wall | HF: best val micro-F1 | HF: test micro-F1 | HF: wall |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  const rows = [...new Set(STEPS.map((s) => s.name))];
  for (const name of rows) {
    const o = steps[`${name}/ours`], h = steps[`${name}/hf`];
    if (!o && !h) continue;
    const row = STEPS.find((s) => s.name === name).row;
    if (name === 's2-mlm') {
      const l = (x) => (x?.bestEvalLoss !== undefined ? `best val loss ${x.bestEvalLoss.toFixed(4)} (ppl ${Math.exp(x.bestEvalLoss).toFixed(1)})` : '–');
      console.log(`| ${row} | ${l(o)} | | ${w(o)} | ${l(h)} | | ${w(h)} |`);
    } else console.log(`| ${row} | ${f(o?.bestVal)} | ${f(o?.test)} | ${w(o)} | ${f(h?.bestVal)} | ${f(h?.test)} | ${w(h)} |`);
    const sk = steps[`${name}/sklearn-on-ours`];
    if (sk) console.log(`|   sklearn on our features | ${f(sk.bestVal)} | ${f(sk.test)} | ${w(sk)} | | | |`);
  }
  const out = path.join(ROOT, 'bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}-series${a.tag ? '-' + a.tag : ''}.json`);
  fs.writeFileSync(out, JSON.stringify({ machine: { cpu: os.cpus()[0].model, cores: os.cpus().length }, args: a, steps }, null, 2));
  console.log(`\n${path.relative(ROOT, out)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
