#!/usr/bin/env node
'use strict';
/**
 * npm install hook: find libtorch (scripts/libtorch.js), else pip-install torch==2.13.0 into .libtorch/ (unless
 * RADBERT_NO_PIP=1), build the addon with cmake-js (node-gyp when cmake is missing), and compile the TypeScript
 * when this is a source checkout. Set RADBERT_SKIP_BUILD=1 to skip the native build.
 */
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { findLibtorch, howToFix, LOCAL_PYTHON_TARGET, PKG_ROOT } = require('./libtorch');
const { buildCmake, buildGyp } = require('./build');

const TORCH_SPEC = process.env.RADBERT_TORCH_SPEC || 'torch==2.13.0';

function say(msg) {
  process.stderr.write(`radbert-native: ${msg}\n`);
}

/** pip's index arguments from `pip config` (this machine's offline mirror), so pip never waits on an unreachable index. */
function pipIndexArgs(python) {
  const r = spawnSync(python, ['-m', 'pip', 'config', 'get', 'global.extra-index-url'], { encoding: 'utf8' });
  const urls = r.status === 0 ? r.stdout.trim().split(/\s+/).filter(Boolean) : [];
  if (!urls.length) return [];
  return ['--index-url', urls[0], ...urls.slice(1).flatMap((u) => ['--extra-index-url', u])];
}

function pipInstallTorch() {
  const python = process.env.PYTHON || 'python3';
  const args = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-deps', '--target', LOCAL_PYTHON_TARGET,
    ...pipIndexArgs(python), TORCH_SPEC];
  say(`installing ${TORCH_SPEC} (for its libtorch) into ${path.relative(PKG_ROOT, LOCAL_PYTHON_TARGET)}: ${python} ${args.join(' ')}`);
  fs.rmSync(LOCAL_PYTHON_TARGET, { recursive: true, force: true });
  const r = spawnSync(python, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error || r.status !== 0) {
    say(`pip could not install ${TORCH_SPEC} (${r.error ? r.error.message : `exit ${r.status}`}).`);
    return false;
  }
  return true;
}

function buildTypeScript() {
  const tsc = path.join(PKG_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!fs.existsSync(path.join(PKG_ROOT, 'lib')) || !fs.existsSync(tsc)) return 0; // published package: dist/ ships built
  say('compiling TypeScript (lib/ → dist/)');
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit', cwd: PKG_ROOT });
  if (r.status !== 0) return r.status || 1;
  const w = spawnSync(process.execPath, [path.join(__dirname, 'write-esm-wrapper.js')], { stdio: 'inherit', cwd: PKG_ROOT });
  return w.status || 0;
}

function main() {
  const t0 = Date.now();
  if (process.env.RADBERT_SKIP_BUILD !== '1') {
    let lt = findLibtorch();
    if (!lt && process.env.LIBTORCH_USE_PYTORCH !== '1') {
      if (process.env.RADBERT_NO_PIP === '1') say('RADBERT_NO_PIP=1: not installing torch with pip');
      else if (pipInstallTorch()) lt = findLibtorch();
    }
    if (!lt) {
      say(howToFix());
      return 1;
    }
    const hasCmake = !spawnSync('cmake', ['--version'], { stdio: 'ignore' }).error;
    if (!hasCmake) say('cmake not found: building with node-gyp (binding.gyp) instead');
    const status = hasCmake ? buildCmake(lt) : buildGyp(lt);
    if (status !== 0) {
      say('the native build failed (see above). Check the compiler (g++ >= 10 with C++20) and the libtorch found.');
      return status;
    }
    if (!hasCmake) {
      fs.mkdirSync(path.join(PKG_ROOT, 'build', 'Release'), { recursive: true });
      fs.copyFileSync(path.join(PKG_ROOT, 'build-gyp', 'Release', 'radbert_native.node'), path.join(PKG_ROOT, 'build', 'Release', 'radbert_native.node'));
    }
  }
  const ts = buildTypeScript();
  if (ts !== 0) return ts;
  say(`install finished in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}

process.exit(main());
