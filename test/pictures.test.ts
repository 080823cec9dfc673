/**
 * The pictures a run leaves, looked at in headless Chromium (test/helpers/chromium.ts): training_curves.svg of a
 * `train` run and of an `mlm` run, and the pr_curve.svg of `eval --report`. Each must render non-blank, with its
 * lines drawn in the chart colours and its axis titles laid out inside the picture. PNG screenshots are kept in
 * test/.cache/pictures for a person to look at.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lookAtSvg, type SvgLook } from './helpers/chromium';
import { REPO, TOKENIZER } from './helpers/paths';

const CLI = path.join(REPO, 'dist', 'cli', 'index.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-pictures-test-'));
const shots = path.join(REPO, 'test', '.cache', 'pictures');
const ds = path.join(tmp, 'ds');
/** Vega's first two category colours: the first and second line of every panel. */
const BLUE = '#4c78a8';
const ORANGE = '#f58518';

beforeAll(() => {
  spawnSync(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: REPO, stdio: 'pipe' });
  fs.mkdirSync(shots, { recursive: true });
  const words = 'chest abdomen axial lesion nodule effusion pneumothorax fracture hepatic renal cyst mass'.split(' ');
  for (const [split, n] of [['train', 60], ['test', 12]] as const) {
    const rows = Array.from({ length: n }, (_, i) => ({
      caption: `${words[i % 12]} ${words[(i * 5) % 12]} ${words[(i * 7 + 3) % 12]} scan ${i % 9}`,
      cui: [`C000000${i % 4}`, ...(i % 3 === 0 ? ['C0000009'] : [])],
    }));
    fs.mkdirSync(path.join(ds, 'data'), { recursive: true });
    fs.writeFileSync(path.join(ds, 'data', `${split}.jsonl`), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[]): void {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: tmp, encoding: 'utf8', timeout: 600_000, env: { ...process.env, HF_HUB_OFFLINE: '1', NODE_OPTIONS: '' } });
  if (r.status !== 0) throw new Error(`radbert-native ${args.join(' ')}: exit ${r.status}\n${r.stderr.slice(-3000)}`);
}

/** The checks every picture passes: drawn (not blank, several colours, lines in the chart colours), the wanted texts laid out inside. */
function expectSeen(look: SvgLook, texts: string[], colours: string[]): void {
  expect(look.width).toBeGreaterThan(300);
  expect(look.height).toBeGreaterThan(200);
  expect(look.painted / look.pixels).toBeGreaterThan(0.02);
  expect(look.colours).toBeGreaterThan(8);
  for (const c of colours) expect([c, look.near[c]]).toEqual([c, expect.any(Number)]);
  for (const c of colours) if (look.near[c] < 40) throw new Error(`only ${look.near[c]} pixels of ${c}: a line is missing`);
  for (const t of texts) {
    const seen = look.texts.filter((x) => x.text === t);
    if (!seen.length) throw new Error(`no text "${t}" in the picture (texts: ${look.texts.map((x) => x.text).slice(0, 40).join(' | ')})`);
    for (const s of seen) expect([t, s.inside, s.width > 5, s.height > 5]).toEqual([t, true, true, true]);
  }
}

test('train: training_curves.svg shows loss and F1 per epoch; eval --report: pr_curve.svg with both operating points', () => {
  const run = path.join(tmp, 'clf');
  cli(['train', '--dataset', ds, '--tokenizer', TOKENIZER, '--init', 'tiny', '--threads', '2', '--max-length', '16', '--epochs', '3', '--batch-size', '8', '--lr', '2e-3', '--logging-steps', '2', '--tune-thresholds', 'global', '--output-dir', run, '--quiet']);
  const curves = path.join(run, 'training_curves.svg');
  expectSeen(lookAtSvg(curves, { colours: [BLUE, ORANGE], png: path.join(shots, 'training_curves.png') }), ['Epoch', 'Loss (BCE with logits)', 'F1', 'training loss', 'validation loss', 'micro-F1', 'macro-F1', 'micro-F1, tuned thresholds'], [BLUE, ORANGE]);

  const report = path.join(tmp, 'report');
  cli(['eval', '--model', run, '--dataset', ds, '--report', report]);
  const look = lookAtSvg(path.join(report, 'pr_curve.svg'), { colours: [BLUE, '#e45756', '#54a24b'], png: path.join(shots, 'pr_curve.png') });
  expectSeen(look, ['Recall', 'Precision'], [BLUE, '#e45756', '#54a24b']);
  const names = look.texts.map((t) => t.text);
  expect(names).toEqual(expect.arrayContaining([expect.stringMatching(/^p > 0\.5: P [\d.]+, R [\d.]+, F1 [\d.]+$/), expect.stringMatching(/^tuned global [\d.]+: P [\d.]+, R [\d.]+, F1 [\d.]+$/)]));
});

test('mlm: training_curves.svg shows loss and perplexity', () => {
  const txt = path.join(tmp, 'texts.txt');
  fs.writeFileSync(txt, Array.from({ length: 48 }, (_, i) => `CT of the chest number ${i} with a small nodule in the ${i % 2 ? 'left' : 'right'} lung`).join('\n') + '\n');
  const out = path.join(tmp, 'mlm');
  cli(['mlm', '--dataset', txt, '--init', 'tiny', '--tokenizer', TOKENIZER, '--epochs', '3', '--batch-size', '8', '--validation-split', '0.25', '--max-length', '32', '--logging-steps', '2', '--threads', '2', '--output-dir', out, '--quiet']);
  expectSeen(lookAtSvg(path.join(out, 'training_curves.svg'), { colours: [BLUE, ORANGE], png: path.join(shots, 'mlm_training_curves.png') }), ['Epoch', 'Loss (masked-token cross-entropy)', 'Perplexity', 'training loss', 'validation loss', 'validation perplexity'], [BLUE, ORANGE]);
});
