/** The package as users consume it: require and import of dist/, prediction semantics. */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { toPrediction } from '../lib';

const ROOT = path.resolve(__dirname, '..');

test('CommonJS require and ESM import expose the same API', () => {
  const cjs = execFileSync(process.execPath, ['-e', "const r = require('radbert-native'); console.log(Object.keys(r).sort().join(','))"], { cwd: ROOT, encoding: 'utf8' });
  const esm = execFileSync(process.execPath, ['--input-type=module', '-e', "import * as r from 'radbert-native'; console.log(Object.keys(r).filter(k => k !== 'default').sort().join(','))"], { cwd: ROOT, encoding: 'utf8' });
  expect(esm).toEqual(cjs);
  for (const name of ['load', 'predict', 'createClassifier', 'computeMetrics', 'packBatch', 'loadTokenizer']) expect(cjs.split(',').map((s) => s.trim())).toContain(name);
});

test('predictions: labels above the threshold, most probable first; threshold 0 gives every label', () => {
  const labels = ['C1', 'C2', 'C3', 'C4'];
  const p = toPrediction(labels, [2, -1, 0.5, 0]);
  expect(p.labels).toEqual(['C1', 'C3']);
  expect(Object.keys(p.probabilities)).toEqual(['C1', 'C3']);
  expect(p.probabilities.C1).toBeCloseTo(1 / (1 + Math.exp(-2)), 12);
  expect(toPrediction(labels, [0, 0, 0, 0]).labels).toEqual([]); // p = 0.5 is not > 0.5
  expect(toPrediction(labels, [2, -1, 0.5, 0], 0).labels).toEqual(['C1', 'C3', 'C4', 'C2']);
  expect(toPrediction(labels, [2, -1, 0.5, 0], 0.9).labels).toEqual([]);
});

test('the bin is executable by construction: committed with mode 755, runs directly and through npx', () => {
  const pkg = JSON.parse(require('node:fs').readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const bin = pkg.bin['radbert-native'];
  expect(bin).toBe('bin/radbert-native.js');
  // the mode git records is what every fresh clone gets, whatever tsc or npm's lockfile state do to dist/
  const staged = execFileSync('git', ['ls-files', '-s', bin], { cwd: ROOT, encoding: 'utf8' });
  expect(staged).toMatch(/^100755 /);
  expect(require('node:fs').statSync(path.join(ROOT, bin)).mode & 0o111).toBe(0o111);
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'pipe' });
  const env = { ...process.env, NODE_OPTIONS: '' };
  const direct = execFileSync(path.join(ROOT, bin), ['--help'], { cwd: ROOT, encoding: 'utf8', env });
  expect(direct).toMatch(/usage/);
  // npx links the root package into its own cache (~/.npm/_npx/<hash of the path>) and runs the bin through the shell,
  // which is where a 0644 bin failed: a fresh npm cache (as on a new machine), and no install scripts (no rebuild)
  const cache = require('node:fs').mkdtempSync(path.join(require('node:os').tmpdir(), 'radbert-npx-'));
  try {
    const viaNpx = execFileSync('npx', ['--no-install', 'radbert-native', '--help'], {
      cwd: ROOT, encoding: 'utf8', env: { ...env, npm_config_cache: cache, npm_config_ignore_scripts: 'true' },
    });
    expect(viaNpx).toMatch(/usage/);
  } finally {
    require('node:fs').rmSync(cache, { recursive: true, force: true });
  }
}, 120000);
