#!/usr/bin/env node
'use strict';
/**
 * The headers the distributed part of the addon (native/distributed*.cpp: c10d's TCPStore, ProcessGroupGloo and, on a
 * CUDA libtorch, ProcessGroupNCCL) needs beyond libtorch's own. Both builds ask this one module (CMakeLists.txt through
 * `--gloo-include` / `--nccl-include`, binding.gyp through `--gyp-include` / `--gyp-defines`).
 *
 * Gloo: the pip torch wheel exports c10d's and gloo's symbols from libtorch_cpu.so and ships c10d's headers, but not
 * gloo's, which ProcessGroupGloo.hpp includes. The addon only holds gloo objects through pointers that libtorch creates
 * (devices, contexts, stores), so any gloo header set that declares those classes compiles against the wheel's gloo.
 * Looked for in this order:
 *   1. env RADBERT_GLOO_INCLUDE          a folder holding gloo/config.h
 *   2. libtorch's own include/           (a libtorch build that ships them)
 *   3. /usr/include, /usr/local/include  (Debian/Ubuntu: `apt-get install libgloo-dev`)
 *   4. .gloo/usr/include here            (step 5 of an earlier build), .device/gloo/usr/include (scripts/gpu/prepare.sh)
 *   5. Debian's libgloo-dev fetched without root: `apt-get download libgloo-dev` + `dpkg-deb -x` into .gloo/ (headers
 *      only; BSD-3-Clause, its copyright file lands in .gloo/usr/share/doc/libgloo-dev/copyright). RADBERT_NO_GLOO_DOWNLOAD=1
 *      skips this step.
 * RADBERT_DISTRIBUTED=0 builds without distributed support. Without gloo headers the addon builds without it, says so
 * here, and `native().version().distributed` lists no backend.
 *
 * NCCL (CMake only, on a CUDA libtorch): nccl.h and the CUDA runtime headers, from env RADBERT_NCCL_INCLUDE, the pip
 * `nvidia-*` packages beside the torch package (site-packages/nvidia/<x>/include), CUDA_HOME or /usr/local/cuda. CMake
 * compiles a probe of ProcessGroupNCCL.hpp with them and enables NCCL only when it compiles.
 *
 * CLI (stdout is the answer, stderr says what was tried):
 *   node scripts/distributed.js [--json | --gloo-include | --nccl-include | --gyp-include | --gyp-defines]
 */
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { findLibtorch, PKG_ROOT } = require('./libtorch');

/** Where step 5 extracts Debian's libgloo-dev (gitignored). */
const GLOO_DIR = path.join(PKG_ROOT, '.gloo');

function log(quiet, msg) {
  if (!quiet) process.stderr.write(`radbert-native: distributed: ${msg}\n`);
}

/** Whether `dir` holds the gloo headers ProcessGroupGloo.hpp includes. */
function hasGloo(dir) {
  return ['config.h', 'algorithm.h', 'context.h', 'rendezvous/store.h', 'transport/device.h'].every((f) => fs.existsSync(path.join(dir, 'gloo', f)));
}

/** `apt-get download libgloo-dev` + `dpkg-deb -x` into .gloo/ (no root needed); the include folder, or undefined. */
function fetchDebianGloo(quiet) {
  const tmp = `${GLOO_DIR}.partial`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const dl = spawnSync('apt-get', ['download', 'libgloo-dev'], { cwd: tmp, encoding: 'utf8', timeout: 600000 });
  const deb = dl.status === 0 && fs.readdirSync(tmp).find((f) => /^libgloo-dev_.*\.deb$/.test(f));
  if (!deb) {
    log(quiet, `apt-get download libgloo-dev failed (${dl.error ? dl.error.message : (dl.stderr || '').trim().split('\n').pop() || `exit ${dl.status}`})`);
    fs.rmSync(tmp, { recursive: true, force: true });
    return undefined;
  }
  const x = spawnSync('dpkg-deb', ['-x', deb, '.'], { cwd: tmp, encoding: 'utf8' });
  if (x.error || x.status !== 0 || !hasGloo(path.join(tmp, 'usr', 'include'))) {
    log(quiet, `dpkg-deb -x ${deb} failed (${x.error ? x.error.message : (x.stderr || '').trim() || 'no gloo headers inside'})`);
    fs.rmSync(tmp, { recursive: true, force: true });
    return undefined;
  }
  fs.rmSync(path.join(tmp, deb));
  fs.writeFileSync(path.join(tmp, 'SOURCE'), `${deb} (Debian's libgloo-dev, fetched with apt-get download; licence: usr/share/doc/libgloo-dev/copyright)\n`);
  fs.rmSync(GLOO_DIR, { recursive: true, force: true });
  fs.renameSync(tmp, GLOO_DIR);
  log(quiet, `fetched ${deb} into ${path.relative(PKG_ROOT, GLOO_DIR)}/ (BSD-3-Clause: .gloo/usr/share/doc/libgloo-dev/copyright)`);
  return path.join(GLOO_DIR, 'usr', 'include');
}

/**
 * The gloo include folder to build with: {include, source} or {error} (distributed support off). `lt` is the libtorch
 * of the build (scripts/libtorch.js); its c10d headers must include ProcessGroupGloo.hpp.
 */
function findGloo(lt, { quiet = false, download = true } = {}) {
  if (process.env.RADBERT_DISTRIBUTED === '0') return { error: 'RADBERT_DISTRIBUTED=0' };
  const c10d = lt && path.join(lt.includeDirs[0], 'torch', 'csrc', 'distributed', 'c10d', 'ProcessGroupGloo.hpp');
  if (!c10d || !fs.existsSync(c10d)) return { error: `this libtorch has no c10d headers (${c10d || 'no libtorch'})` };
  const candidates = [
    ['RADBERT_GLOO_INCLUDE', process.env.RADBERT_GLOO_INCLUDE],
    ['libtorch', lt.includeDirs[0]],
    ['system', '/usr/include'],
    ['system', '/usr/local/include'],
    ['.gloo', path.join(GLOO_DIR, 'usr', 'include')],
    ['.device', path.join(PKG_ROOT, '.device', 'gloo', 'usr', 'include')],
  ];
  for (const [source, dir] of candidates) {
    if (!dir) continue;
    if (hasGloo(dir)) return { include: dir, source };
    if (source === 'RADBERT_GLOO_INCLUDE') return { error: `RADBERT_GLOO_INCLUDE=${dir} holds no gloo/config.h, gloo/context.h, ...` };
  }
  if (!download || process.env.RADBERT_NO_GLOO_DOWNLOAD === '1') return { error: 'no gloo headers (install libgloo-dev, or set RADBERT_GLOO_INCLUDE)' };
  log(quiet, 'no gloo headers found: fetching Debian\'s libgloo-dev (apt-get download; RADBERT_NO_GLOO_DOWNLOAD=1 skips this)');
  const fetched = fetchDebianGloo(quiet);
  return fetched ? { include: fetched, source: 'debian' } : { error: 'no gloo headers and apt-get download libgloo-dev failed (install libgloo-dev, or set RADBERT_GLOO_INCLUDE)' };
}

/** Include folders for ProcessGroupNCCL.hpp on a CUDA libtorch (nccl.h + CUDA runtime headers), or [] when not found. */
function findNcclIncludes(lt) {
  if (!lt || !lt.cuda || process.env.RADBERT_DISTRIBUTED === '0') return [];
  const dirs = [];
  if (process.env.RADBERT_NCCL_INCLUDE) dirs.push(...process.env.RADBERT_NCCL_INCLUDE.split(path.delimiter));
  // the pip nvidia-* packages beside a pip torch: site-packages/nvidia/<pkg>/include (and nvidia/<cuXX>/include)
  const nvidia = path.join(lt.root, '..', 'nvidia');
  if (fs.existsSync(nvidia))
    for (const p of fs.readdirSync(nvidia).sort()) {
      const inc = path.join(nvidia, p, 'include');
      if (fs.existsSync(inc)) dirs.push(inc);
    }
  for (const cuda of [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda']) if (cuda) dirs.push(path.join(cuda, 'include'));
  const found = dirs.filter((d) => fs.existsSync(d));
  return found.some((d) => fs.existsSync(path.join(d, 'nccl.h'))) || fs.existsSync('/usr/include/nccl.h') ? found : [];
}

module.exports = { findGloo, findNcclIncludes, GLOO_DIR };

if (require.main === module) {
  const flag = process.argv[2] || '--json';
  const quiet = flag !== '--json' && flag !== '--gloo-include';
  const lt = findLibtorch({ quiet: true });
  const gloo = findGloo(lt, { quiet });
  if (gloo.error) log(quiet && flag !== '--gyp-include', `building without the Gloo backend: ${gloo.error}`);
  else log(quiet, `gloo headers: ${gloo.include} (${gloo.source})`);
  const out = {
    '--json': () => JSON.stringify({ gloo, nccl: findNcclIncludes(lt) }, null, 2),
    '--gloo-include': () => gloo.include || '',
    '--nccl-include': () => findNcclIncludes(lt).join(';'),
    '--gyp-include': () => gloo.include || '',
    '--gyp-defines': () => (gloo.include ? 'USE_C10D_GLOO RADBERT_WITH_GLOO' : ''),
  }[flag];
  if (!out) {
    process.stderr.write(`radbert-native: distributed.js: unknown flag ${flag}\n`);
    process.exit(2);
  }
  process.stdout.write(out() + '\n');
}
