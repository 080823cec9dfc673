'use strict';
// Memory soak (issue 12 item 8): RSS of one process over many sequential predict() calls and over load/close cycles.
//   node --expose-gc bench/soak.js [--model DIR] [--calls 10000] [--warmup 1000] [--cycles 200] [--json FILE]
// Inputs are real captions of ../shared/datasets/roco-radiology-mini (cycled), so the tokenizer meets new words as a
// real server does. RSS is sampled after a full GC. "Growth after warm-up" = (last sample - sample at the end of the
// warm-up) / that sample; the goal is < 5 % over 10,000 calls. Without --model, a tiny random-init classifier with the
// real tokenizer is created (createClassifier) and saved to a temporary folder first.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { load, createClassifier, presetConfig, classifierConfig, readRows } = require('..');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const rssMb = () => {
  if (global.gc) global.gc();
  return process.memoryUsage().rss / 1048576;
};

async function modelDir() {
  if (arg('model')) return path.resolve(arg('model'));
  const tok = path.resolve(__dirname, '..', '..', 'shared', 'models', 'modernbert-tokenizer');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-soak-'));
  const cfg = classifierConfig(presetConfig('tiny'), Array.from({ length: 50 }, (_, i) => `C${String(i).padStart(7, '0')}`));
  const clf = await createClassifier(cfg, { tokenizer: tok, seed: 1 });
  await clf.save(dir);
  clf.close();
  return dir;
}

(async () => {
  if (!global.gc) console.error('soak: run with node --expose-gc for GC-settled samples');
  const calls = Number(arg('calls', 10000));
  const warmup = Number(arg('warmup', 1000));
  const cycles = Number(arg('cycles', 200));
  const mini = path.resolve(__dirname, '..', '..', 'shared', 'datasets', 'roco-radiology-mini');
  const { splits } = await readRows(mini, { skipBadRows: true });
  const texts = splits.train.map((r) => r.text);
  const dir = await modelDir();
  const result = { model: dir, cpu: os.cpus()[0].model, calls, warmup, cycles, predict: [], cycles_rss: [] };

  const clf = await load(dir);
  const every = Math.max(1, Math.floor(calls / 20));
  for (let i = 0; i < warmup + calls; i++) {
    await clf.predict(texts[i % texts.length]);
    if (i + 1 === warmup || (i >= warmup && (i + 1 - warmup) % every === 0)) result.predict.push({ call: i + 1, rss_mb: rssMb() });
  }
  clf.close();
  const base = result.predict[0].rss_mb;
  const last = result.predict[result.predict.length - 1].rss_mb;
  result.predict_growth_after_warmup = (last - base) / base;
  result.predict_max_growth_after_warmup = Math.max(...result.predict.map((s) => (s.rss_mb - base) / base));

  for (let i = 0; i < cycles; i++) {
    const c = await load(dir);
    await c.predict(texts[i % texts.length]);
    c.close();
    if (i === 0 || (i + 1) % Math.max(1, Math.floor(cycles / 10)) === 0) result.cycles_rss.push({ cycle: i + 1, rss_mb: rssMb() });
  }
  const c0 = result.cycles_rss[0].rss_mb;
  result.cycles_growth = (result.cycles_rss[result.cycles_rss.length - 1].rss_mb - c0) / c0;

  const pct = (x) => `${(100 * x).toFixed(1)} %`;
  console.log(`soak (${result.cpu}): ${calls} predict() calls after ${warmup} warm-up: RSS ${base.toFixed(1)} → ${last.toFixed(1)} MB ` +
    `(${pct(result.predict_growth_after_warmup)}, worst sample ${pct(result.predict_max_growth_after_warmup)})`);
  console.log(`soak: ${cycles} load/predict/close cycles: RSS ${c0.toFixed(1)} → ${result.cycles_rss[result.cycles_rss.length - 1].rss_mb.toFixed(1)} MB (${pct(result.cycles_growth)})`);
  if (arg('json')) fs.writeFileSync(arg('json'), JSON.stringify(result, null, 2));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
