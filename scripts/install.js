#!/usr/bin/env node
'use strict';
/**
 * npm `install` hook (runs on `npm install` / `npm ci` in a clone, and when the package is installed as a dependency):
 *   1. find libtorch (scripts/libtorch.js: LIBTORCH → Torch_DIR → python3's torch → .libtorch/);
 *   2. if none and nothing was set explicitly: `pip install --no-deps --target .libtorch/python torch==2.13.0`
 *      (RADBERT_NO_PIP=1 disables it; RADBERT_TORCH_SPEC changes the spec; pip's configured index is used);
 *   3. build the addon with cmake-js (node-gyp when cmake is missing) → build/Release/radbert_native.node;
 *   4. in a source checkout (tsconfig.json + typescript present): `npm run build:ts` (lib/ → dist/).
 * RADBERT_SKIP_BUILD=1 skips steps 1-3.
 */
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { findLibtorch, howToFix, LOCAL_PYTHON_TARGET, PKG_ROOT } = require('./libtorch');
const { buildCmake, buildGyp, hasCmake } = require('./build');

const TORCH_SPEC = process.env.RADBERT_TORCH_SPEC || 'torch==2.13.0';
const secs = (t0) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

function say(msg) {
  process.stderr.write(`radbert-native: ${msg}\n`);
}

/**
 * Index arguments from `pip config get global.extra-index-url`: on machines with a local mirror (and no reachable
 * PyPI) the first URL becomes --index-url and the rest --extra-index-url, so pip never retries an unreachable PyPI.
 * Nothing is added when PIP_INDEX_URL or global.index-url is set (pip uses those itself).
 */
function pipIndexArgs(python) {
  if (process.env.PIP_INDEX_URL) return [];
  const get = (key) => {
    const r = spawnSync(python, ['-m', 'pip', 'config', 'get', key], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim().split(/\s+/).filter(Boolean) : [];
  };
  if (get('global.index-url').length) return [];
  const urls = get('global.extra-index-url');
  if (!urls.length) return [];
  return ['--index-url', urls[0], ...urls.slice(1).flatMap((u) => ['--extra-index-url', u])];
}

/** pip-install torch (wheel only, no python deps: only its libtorch is used) into .libtorch/python, atomically. */
function pipInstallTorch() {
  const python = process.env.PYTHON || 'python3';
  const tmp = `${LOCAL_PYTHON_TARGET}.partial`;
  const args = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--progress-bar', 'off',
    '--no-deps', '--no-compile', '--only-binary', ':all:', '--retries', '2', '--timeout', '60',
    '--target', tmp, ...pipIndexArgs(python), TORCH_SPEC];
  say(`libtorch: installing ${TORCH_SPEC} with pip into ${path.relative(PKG_ROOT, LOCAL_PYTHON_TARGET)}/ (its libtorch ` +
    'is used; RADBERT_NO_PIP=1 disables this):');
  say(`  ${python} ${args.join(' ')}`);
  const t0 = Date.now();
  fs.rmSync(tmp, { recursive: true, force: true });
  const r = spawnSync(python, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error || r.status !== 0) {
    fs.rmSync(tmp, { recursive: true, force: true });
    say(`libtorch: pip could not install ${TORCH_SPEC} (${r.error ? `${python}: ${r.error.message}` : `exit ${r.status}`}).`);
    return false;
  }
  fs.rmSync(LOCAL_PYTHON_TARGET, { recursive: true, force: true });
  fs.renameSync(tmp, LOCAL_PYTHON_TARGET);
  say(`libtorch: pip install took ${secs(t0)}`);
  return true;
}

function buildNative() {
  let lt = findLibtorch();
  const explicit = process.env.LIBTORCH || process.env.Torch_DIR || process.env.LIBTORCH_USE_PYTORCH === '1';
  if (!lt && !explicit) {
    if (process.env.RADBERT_NO_PIP === '1') say('libtorch: RADBERT_NO_PIP=1, so no pip fallback');
    else if (pipInstallTorch()) lt = findLibtorch();
  }
  if (!lt) {
    process.stderr.write(howToFix() + '\n');
    return 1;
  }
  if (!/^2\.13\./.test(lt.version)) say(`libtorch: note: torch ${lt.version} found; radbert-native is tested with 2.13.0`);
  if (hasCmake()) {
    const status = buildCmake(lt);
    if (status !== 0) say('the cmake-js build failed (see above); `npm run build:gyp` is the node-gyp alternative.');
    return status;
  }
  say('cmake not found: building with node-gyp (binding.gyp) instead (install cmake >= 3.18 to use CMakeLists.txt)');
  const status = buildGyp(lt);
  if (status !== 0) return status;
  fs.mkdirSync(path.join(PKG_ROOT, 'build', 'Release'), { recursive: true });
  fs.copyFileSync(path.join(PKG_ROOT, 'build-gyp', 'Release', 'radbert_native.node'),
    path.join(PKG_ROOT, 'build', 'Release', 'radbert_native.node'));
  return 0;
}

/** `npm run build:ts` in a source checkout; a published package ships dist/ (and has no typescript). */
function buildTypeScript() {
  let hasTsc = true;
  try {
    require.resolve('typescript/package.json', { paths: [PKG_ROOT] });
  } catch {
    hasTsc = false;
  }
  if (!fs.existsSync(path.join(PKG_ROOT, 'tsconfig.json')) || !hasTsc) return 0;
  say('compiling TypeScript: npm run build:ts');
  const npm = process.env.npm_execpath;
  const r = npm && /\.[cm]?js$/.test(npm)
    ? spawnSync(process.execPath, [npm, 'run', '--silent', 'build:ts'], { stdio: 'inherit', cwd: PKG_ROOT })
    : spawnSync('npm', ['run', '--silent', 'build:ts'], { stdio: 'inherit', cwd: PKG_ROOT });
  if (r.error || r.status !== 0) {
    say('`npm run build:ts` failed (see above).');
    return r.status || 1;
  }
  return 0;
}

function main() {
  const t0 = Date.now();
  if (process.env.RADBERT_SKIP_BUILD === '1') say('RADBERT_SKIP_BUILD=1: not building the native addon');
  else {
    const status = buildNative();
    if (status !== 0) return status;
  }
  const t1 = Date.now();
  const ts = buildTypeScript();
  if (ts !== 0) return ts;
  say(`install done in ${secs(t0)} (TypeScript ${secs(t1)})`);
  return 0;
}

process.exit(main());
