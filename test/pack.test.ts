/**
 * What `npm pack` would publish (`npm pack --dry-run --json`, no scripts run): the built JavaScript with its types and
 * the ESM entry, the bin, what `npm install` needs to build the addon from source (native/, the build scripts, both
 * build files), the docs the README links to, LICENSE and CHANGELOG.md; and none of the repository's own material:
 * tests, benchmarks and their results, data, local builds, libtorch, the generated API reference, tsconfig.json (whose
 * presence makes scripts/install.js compile TypeScript, which an installed package cannot).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO } from './helpers/paths';
import { compileDist } from './helpers/build';

interface PackResult {
  files: Array<{ path: string; size: number }>;
  unpackedSize: number;
}

let files: string[] = [];
let unpackedSize = 0;

beforeAll(() => {
  compileDist({ esm: true }); // dist/ as `npm run build:ts` makes it
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: REPO, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'silent' }, maxBuffer: 1 << 26,
  });
  const [result] = JSON.parse(out) as PackResult[];
  files = result.files.map((f) => f.path);
  unpackedSize = result.unpackedSize;
}, 120000);

test('ships the entry points, their types, the bin, the install-time build and the docs', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  const entries = [pkg.main, pkg.types, pkg.exports['.'].import, pkg.exports['.'].require, pkg.exports['.'].types, pkg.bin['radbert-native']];
  const install = /^node (\S+)$/.exec(pkg.scripts.install)![1];
  for (const f of [...entries, install, 'package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'CMakeLists.txt', 'binding.gyp', 'native/addon.cpp'])
    expect([f, files.includes(f.replace(/^\.\//, ''))]).toEqual([f, true]);
  // every compiled module comes with its declarations
  const js = files.filter((f) => /^dist\/.*\.js$/.test(f));
  expect(js.length).toBeGreaterThan(50);
  expect(js.filter((f) => !files.includes(f.replace(/\.js$/, '.d.ts')))).toEqual([]);
  // every guide the README links to travels with it
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const guides = [...readme.matchAll(/\]\((docs\/[^)#\s]+)/g)].map((m) => m[1]).filter((g) => fs.existsSync(path.join(REPO, g))); // test/docs-links.test.ts checks they exist
  expect(guides.length).toBeGreaterThan(5);
  expect(guides.filter((g) => !files.includes(g))).toEqual([]);
});

test('the shipped build scripts require only shipped files', () => {
  for (const script of files.filter((f) => /^scripts\/.*\.js$/.test(f))) {
    const src = fs.readFileSync(path.join(REPO, script), 'utf8');
    for (const m of src.matchAll(/require\('(\.\.?\/[^']+)'\)/g)) {
      const target = path.posix.join(path.posix.dirname(script), m[1]).replace(/(\.js)?$/, '.js');
      expect([script, target, files.includes(target)]).toEqual([script, target, true]);
    }
  }
});

test('ships none of the repository\'s own material', () => {
  const forbidden = [
    /^test\//, /^bench\//, /^examples\//, /^\.ci\//, /^\.github\//, /^docs\/api\//, /^node_modules\//,
    /^build(-gyp)?\//, /^\.libtorch\//, /^\.gloo\//, /^\.device\//, /^ModernRadBERT-/,
    /\.node$/, /\.parquet$/, /\.safetensors$/, /\.log$/, /(^|\/)tsconfig[^/]*\.json$/, /^jest\.config\.js$/, /^typedoc\.json$/,
    /^scripts\/(gpu|pyref)/,
  ];
  expect(files.filter((f) => forbidden.some((re) => re.test(f)))).toEqual([]);
  expect(unpackedSize).toBeLessThan(5 * 1024 * 1024);
});
