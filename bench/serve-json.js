'use strict';
/**
 * `node bench/serve-json.js [--labels 1987] [--answers 1500]`: the event-loop cost of writing one /predict answer
 * (every label with its sigmoid score, best first) three ways, on seeded logits: serve's LabelScores.json (ranking by
 * packed sort keys, JSON concatenated from precomputed label prefixes), {label, score} objects sorted and written by
 * fastify's schema-compiled serializer (fast-json-stringify), and the same objects through JSON.stringify; plus
 * String() of the scores alone, the floor every way shares. All three must write the same text. Needs `npm run build`.
 */
const path = require('path');
const os = require('os');
const fjs = require('fast-json-stringify');
const root = path.resolve(__dirname, '..');
const { LabelScores } = require(path.join(root, 'dist', 'serve', 'scores.js'));
const { sigmoid } = require(path.join(root, 'dist', 'eval', 'metrics.js'));

function flag(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const n = flag('--labels', 1987);
const answers = flag('--answers', 1500);
const labels = Array.from({ length: n }, (_, i) => `C${String((i * 7919) % 9999999).padStart(7, '0')}`);
let seed = 1;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const rows = Array.from({ length: 64 }, () => Float32Array.from(labels, () => (rand() - 0.5) * 8));

const scores = new LabelScores(labels);
const scored = { type: 'array', items: { type: 'object', properties: { label: { type: 'string' }, score: { type: 'number' } }, required: ['label', 'score'] } };
const compiled = fjs(scored);
const objects = (row) => labels.map((label, i) => ({ label, score: sigmoid(row[i]) })).sort((a, b) => b.score - a.score || (a.label < b.label ? -1 : 1));
const ways = {
  'LabelScores.json (serve)': (r) => scores.json(r, 'sigmoid'),
  'objects + sort + fast-json-stringify': (r) => compiled(objects(r)),
  'objects + sort + JSON.stringify': (r) => JSON.stringify(objects(r)),
  'String() of the scores only': (r) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += String(sigmoid(r[i])).length;
    return s;
  },
};
const text = ways['LabelScores.json (serve)'](rows[0]);
for (const name of Object.keys(ways).slice(1, 3)) if (ways[name](rows[0]) !== text) throw new Error(`${name} wrote a different text`);
console.log(`${os.cpus()[0]?.model}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${n} labels, ${text.length} bytes per answer`);
for (const [name, f] of Object.entries(ways)) {
  for (let i = 0; i < 200; i++) f(rows[i % rows.length]);
  const t = process.hrtime.bigint();
  for (let i = 0; i < answers; i++) f(rows[i % rows.length]);
  console.log(`${name.padEnd(40)} ${(Number(process.hrtime.bigint() - t) / 1e3 / answers).toFixed(0).padStart(6)} us per answer`);
}
