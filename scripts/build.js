#!/usr/bin/env node
'use strict';
/**
 * Builds the native addon.
 *   node scripts/build.js            cmake-js + CMakeLists.txt   → build/Release/radbert_native.node
 *   node scripts/build.js --gyp      node-gyp + binding.gyp      → build-gyp/Release/radbert_native.node
 * Both use scripts/libtorch.js to find libtorch (and install.js has already run its pip fallback if needed).
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { findLibtorch, howToFix, PKG_ROOT } = require('./libtorch');

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: PKG_ROOT, ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  return r.status;
}

function has(cmd) {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

function buildCmake(lt) {
  if (!has('cmake')) {
    console.error('radbert-native: cmake not found. Install cmake (>= 3.18), or build with node-gyp: `npm run build:gyp`.');
    return 1;
  }
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const jobs = String(Math.max(1, os.cpus().length));
  return run(process.execPath, [cmakeJs, 'build', '--out', 'build', '--parallel', jobs, `--CDCMAKE_PREFIX_PATH=${lt.cmakePrefix}`]);
}

function buildGyp(lt) {
  // node-gyp always builds into ./build; build in a scratch copy so the cmake build is left alone.
  const scratch = path.join(PKG_ROOT, 'build-gyp', 'src');
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.mkdirSync(scratch, { recursive: true });
  for (const f of ['binding.gyp', 'package.json', 'native', 'scripts']) fs.cpSync(path.join(PKG_ROOT, f), path.join(scratch, f), { recursive: true });
  fs.symlinkSync(path.join(PKG_ROOT, 'node_modules'), path.join(scratch, 'node_modules'));
  let gyp;
  try {
    gyp = require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    gyp = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  }
  const env = { ...process.env, RADBERT_LIBTORCH_ROOT: lt.root };
  const status = run(process.execPath, [gyp, 'rebuild', `--jobs=${os.cpus().length}`], { cwd: scratch, env });
  if (status !== 0) return status;
  const out = path.join(PKG_ROOT, 'build-gyp', 'Release');
  fs.mkdirSync(out, { recursive: true });
  fs.copyFileSync(path.join(scratch, 'build', 'Release', 'radbert_native.node'), path.join(out, 'radbert_native.node'));
  console.error(`radbert-native: node-gyp build written to ${path.relative(process.cwd(), out)}/radbert_native.node`);
  return 0;
}

function main() {
  const lt = findLibtorch();
  if (!lt) {
    console.error(howToFix());
    return 1;
  }
  const t0 = Date.now();
  const status = process.argv.includes('--gyp') ? buildGyp(lt) : buildCmake(lt);
  if (status === 0) console.error(`radbert-native: native build finished in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return status;
}

if (require.main === module) process.exit(main());
module.exports = { buildCmake, buildGyp };
