#!/usr/bin/env node
'use strict';
/**
 * Builds the native addon; both builds find libtorch with scripts/libtorch.js.
 *   node scripts/build.js           cmake-js + CMakeLists.txt  → build/Release/radbert_native.node      (npm run build:native)
 *   node scripts/build.js --gyp     node-gyp + binding.gyp     → build-gyp/Release/radbert_native.node  (npm run build:gyp)
 *   --clean                         rebuild from scratch
 * node-gyp always builds into ./build, so the gyp build runs in build-gyp/src (binding.gyp copied, native/, scripts/ and
 * node_modules/ linked) and its result is copied to build-gyp/Release. Load it with RADBERT_NATIVE_ADDON=<that file>.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { findLibtorch, howToFix, PKG_ROOT } = require('./libtorch');

const JOBS = String(Math.max(1, os.cpus().length));

function say(msg) {
  process.stderr.write(`radbert-native: ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: PKG_ROOT, ...opts });
  if (r.error) {
    say(`${cmd}: ${r.error.message}`);
    return 1;
  }
  return r.status === null ? 1 : r.status;
}

function hasCmake() {
  const r = spawnSync('cmake', ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** cmake-js: configure (every time, so a different libtorch is picked up) then build. */
function buildCmake(lt, { clean = false } = {}) {
  if (!hasCmake()) {
    say('cmake not found. Install cmake (>= 3.18, e.g. `apt-get install cmake`), or build with node-gyp: `npm run build:gyp`.');
    return 1;
  }
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  // cmake-js's own chatter (its cmake command line) only with RADBERT_VERBOSE=1; cmake's and ninja's output always.
  const common = ['--out', 'build', '--log-level', process.env.RADBERT_VERBOSE === '1' ? 'info' : 'warn',
    `--CDTorch_DIR=${lt.torchDir}`, `--CDCMAKE_PREFIX_PATH=${lt.cmakePrefix}`];
  // CMake caches what find_package(Torch) found (TORCH_LIBRARY, c10_LIBRARY, ...): another libtorch needs a fresh build dir.
  const cache = path.join(PKG_ROOT, 'build', 'CMakeCache.txt');
  const m = fs.existsSync(cache) && /^Torch_DIR:[A-Z]+=(.*)$/m.exec(fs.readFileSync(cache, 'utf8'));
  const stale = fs.existsSync(cache) && (!m || path.resolve(m[1]) !== path.resolve(lt.torchDir));
  if (stale && !clean) say(`libtorch changed (build/ was configured with Torch_DIR=${m ? m[1] : '?'}): building from scratch`);
  if (clean || stale) fs.rmSync(path.join(PKG_ROOT, 'build'), { recursive: true, force: true });
  const t0 = Date.now();
  say(`cmake-js configure + build (-j${JOBS}), Torch_DIR=${lt.torchDir}`);
  let status = run(process.execPath, [cmakeJs, 'configure', ...common]);
  if (status !== 0) {
    say('cmake configure failed (see above). Is the libtorch above complete? Set LIBTORCH or Torch_DIR to another one.');
    return status;
  }
  const t1 = Date.now();
  status = run(process.execPath, [cmakeJs, 'build', ...common, '--parallel', JOBS]);
  if (status !== 0) return status;
  say(`cmake-js: configure ${((t1 - t0) / 1000).toFixed(1)} s, build ${((Date.now() - t1) / 1000).toFixed(1)} s ` +
    `(-j${JOBS}) → build/Release/radbert_native.node`);
  return 0;
}

/** node-gyp: npm's bundled one (npm_config_node_gyp under npm), else one in node_modules, else next to node's npm. */
function nodeGypPath() {
  const candidates = [
    process.env.npm_config_node_gyp,
    (() => {
      try {
        return require.resolve('node-gyp/bin/node-gyp.js');
      } catch {
        return undefined;
      }
    })(),
    process.env.npm_execpath && path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((f) => f && fs.existsSync(f));
}

/** Node's own headers (so node-gyp downloads nothing): npm's nodedir config, else <prefix>/include/node of this node. */
function nodeDir() {
  const configured = process.env.npm_config_nodedir;
  if (configured && fs.existsSync(path.join(configured, 'include', 'node', 'node_api.h'))) return configured;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'common.gypi'))) return prefix;
  return configured; // node-gyp will download headers (needs the network)
}

function buildGyp(lt, { clean = false } = {}) {
  const gyp = nodeGypPath();
  if (!gyp) {
    say('node-gyp not found (npm bundles it). Install it: `npm install -g node-gyp`, or build with cmake: `npm run build:native`.');
    return 1;
  }
  const top = path.join(PKG_ROOT, 'build-gyp');
  const scratch = path.join(top, 'src');
  if (clean) fs.rmSync(top, { recursive: true, force: true });
  fs.mkdirSync(scratch, { recursive: true });
  fs.copyFileSync(path.join(PKG_ROOT, 'binding.gyp'), path.join(scratch, 'binding.gyp'));
  for (const f of ['native', 'scripts', 'node_modules']) {
    const link = path.join(scratch, f);
    fs.rmSync(link, { recursive: true, force: true });
    // node_modules may be hoisted away when installed as a dependency; require() then finds it further up.
    if (fs.existsSync(path.join(PKG_ROOT, f))) fs.symlinkSync(path.join(PKG_ROOT, f), link, 'dir');
  }
  const dir = nodeDir();
  const args = [gyp, 'configure', 'build', `--jobs=${JOBS}`, '--release'];
  if (dir) args.push(`--nodedir=${dir}`);
  // The `<!(node scripts/libtorch.js ...)` calls in binding.gyp see the libtorch resolved here, and say nothing.
  const env = { ...process.env, RADBERT_LIBTORCH_ROOT: lt.root, RADBERT_LIBTORCH_SOURCE: lt.source };
  const t0 = Date.now();
  const status = run(process.execPath, args, { cwd: scratch, env });
  if (status !== 0) return status;
  const out = path.join(top, 'Release');
  fs.mkdirSync(out, { recursive: true });
  fs.copyFileSync(path.join(scratch, 'build', 'Release', 'radbert_native.node'), path.join(out, 'radbert_native.node'));
  say(`node-gyp: build ${((Date.now() - t0) / 1000).toFixed(1)} s (-j${JOBS}) → build-gyp/Release/radbert_native.node ` +
    '(load it with RADBERT_NATIVE_ADDON=build-gyp/Release/radbert_native.node)');
  return 0;
}

function main(argv) {
  const lt = findLibtorch();
  if (!lt) {
    process.stderr.write(howToFix() + '\n');
    return 1;
  }
  const opts = { clean: argv.includes('--clean') };
  return argv.includes('--gyp') ? buildGyp(lt, opts) : buildCmake(lt, opts);
}

module.exports = { buildCmake, buildGyp, hasCmake };
if (require.main === module) process.exit(main(process.argv.slice(2)));
