#!/usr/bin/env node
'use strict';
/**
 * The one libtorch discovery module, used by the CMake build (via scripts/build.js → cmake-js) and by binding.gyp.
 *
 * Order: env LIBTORCH (a libtorch folder) → env Torch_DIR (folder with TorchConfig.cmake) → the `torch` package of the
 * `python3` on PATH (LIBTORCH_USE_PYTORCH=1 makes it the only python source tried, as in tch-rs) → a torch installed
 * by scripts/install.js into .libtorch/ inside this package (pip fallback, see install.js).
 *
 * CLI: node scripts/libtorch.js --json | --root | --include | --libdir | --cmake-prefix | --cxx-abi | --cuda
 */
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const PKG_ROOT = path.resolve(__dirname, '..');
/** Folder of the pip fallback install (gitignored). */
const LOCAL_DIR = path.join(PKG_ROOT, '.libtorch');
const LOCAL_PYTHON_TARGET = path.join(LOCAL_DIR, 'python');

function log(quiet, msg) {
  if (!quiet) process.stderr.write(`radbert-native: libtorch: ${msg}\n`);
}

/** Describe a libtorch root (folder holding include/, lib/, share/cmake/Torch) or return a reason it is not one. */
function describeRoot(root, source) {
  const includeDir = path.join(root, 'include');
  const libDir = path.join(root, 'lib');
  const cmakeDir = path.join(root, 'share', 'cmake', 'Torch');
  const missing = [];
  if (!fs.existsSync(path.join(includeDir, 'torch', 'csrc', 'api', 'include', 'torch', 'torch.h'))) missing.push('include/torch/csrc/api/include/torch/torch.h');
  if (!fs.existsSync(path.join(cmakeDir, 'TorchConfig.cmake'))) missing.push('share/cmake/Torch/TorchConfig.cmake');
  const libs = fs.existsSync(libDir) ? fs.readdirSync(libDir) : [];
  if (!libs.some((f) => /^libtorch_cpu\.(so|dylib)/.test(f) || f === 'torch_cpu.lib')) missing.push('lib/libtorch_cpu.so');
  if (missing.length) return { error: `${root} is not a libtorch folder (missing ${missing.join(', ')})` };
  let version = 'unknown';
  const candidates = [
    [path.join(root, 'build-version'), /^(\S+)/], // a libtorch zip from pytorch.org
    [path.join(root, 'version.py'), /__version__ = '([^']+)'/], // the torch python package
    [path.join(includeDir, 'torch', 'headeronly', 'version.h'), /#define TORCH_VERSION "([^"]+)"/],
    [path.join(includeDir, 'torch', 'version.h'), /#define TORCH_VERSION "([^"]+)"/],
  ];
  for (const [file, re] of candidates) {
    const m = fs.existsSync(file) && re.exec(fs.readFileSync(file, 'utf8'));
    if (m) {
      version = m[1];
      break;
    }
  }
  const cuda = libs.some((f) => /^libtorch_cuda\.so/.test(f) || f === 'torch_cuda.lib');
  // The C++ ABI flag must match libtorch's; TorchConfig.cmake records it in TORCH_CXX_FLAGS.
  let cxxAbi = '1';
  const cfg = fs.readFileSync(path.join(cmakeDir, 'TorchConfig.cmake'), 'utf8');
  const abi = /_GLIBCXX_USE_CXX11_ABI=(\d)/.exec(cfg);
  if (abi) cxxAbi = abi[1];
  return {
    root,
    includeDirs: [includeDir, path.join(includeDir, 'torch', 'csrc', 'api', 'include')],
    libDir,
    cmakePrefix: path.join(root, 'share', 'cmake'),
    torchDir: cmakeDir,
    version,
    cuda,
    cxxAbi,
    source,
  };
}

/** Ask a python interpreter where its torch package lives; returns the folder or an error string. */
function pythonTorchRoot(python, extraEnv) {
  const r = spawnSync(python, ['-c', 'import os, torch; print(os.path.dirname(torch.__file__))'], {
    encoding: 'utf8',
    env: { ...process.env, ...extraEnv },
  });
  if (r.error) return { error: `${python} not runnable (${r.error.code || r.error.message})` };
  if (r.status !== 0) {
    const last = (r.stderr || '').trim().split('\n').pop();
    return { error: `${python} has no usable torch (${last})` };
  }
  return { root: r.stdout.trim() };
}

/**
 * Find libtorch. Returns {root, includeDirs, libDir, cmakePrefix, torchDir, version, cuda, cxxAbi, source} or null
 * (with the reasons logged) when nothing was found.
 */
function findLibtorch({ quiet = false } = {}) {
  const tried = [];
  const attempt = (label, fn) => {
    const r = fn();
    if (r && !r.error) {
      log(quiet, `using ${label}: ${r.root} (torch ${r.version}${r.cuda ? ', CUDA' : ', CPU'})`);
      return r;
    }
    const reason = r ? r.error : 'not set';
    tried.push(`${label}: ${reason}`);
    log(quiet, `${label}: ${reason}`);
    return null;
  };

  // Internal: the build scripts pin the root they resolved for a node-gyp build in a scratch folder.
  if (process.env.RADBERT_LIBTORCH_ROOT) {
    const pinned = describeRoot(process.env.RADBERT_LIBTORCH_ROOT, 'pinned');
    if (!pinned.error) return pinned;
  }

  let found = attempt('env LIBTORCH', () => (process.env.LIBTORCH ? describeRoot(path.resolve(process.env.LIBTORCH), 'LIBTORCH') : null));
  if (found) return found;

  found = attempt('env Torch_DIR', () => {
    if (!process.env.Torch_DIR) return null;
    // Torch_DIR is <root>/share/cmake/Torch
    const root = path.resolve(process.env.Torch_DIR, '..', '..', '..');
    return describeRoot(root, 'Torch_DIR');
  });
  if (found) return found;

  found = attempt('python3 on PATH (torch package)', () => {
    const python = process.env.PYTHON || 'python3';
    const r = pythonTorchRoot(python);
    return r.error ? r : describeRoot(r.root, 'python3');
  });
  if (found) return found;

  if (process.env.LIBTORCH_USE_PYTORCH === '1') {
    log(quiet, 'LIBTORCH_USE_PYTORCH=1: not looking anywhere else');
    return null;
  }

  found = attempt(`pip fallback in ${path.relative(process.cwd(), LOCAL_PYTHON_TARGET) || LOCAL_PYTHON_TARGET}`, () => {
    const root = path.join(LOCAL_PYTHON_TARGET, 'torch');
    if (!fs.existsSync(root)) return { error: 'not installed yet' };
    return describeRoot(root, 'pip');
  });
  return found;
}

/** The message printed when no libtorch can be found or installed. */
function howToFix() {
  return [
    'radbert-native could not find libtorch. Do one of:',
    '  - export LIBTORCH=/path/to/libtorch            (an unzipped libtorch from pytorch.org, or a torch package folder)',
    '  - export Torch_DIR=/path/to/share/cmake/Torch  (a folder with TorchConfig.cmake)',
    '  - pip install torch==2.13.0 for the python3 on your PATH',
    'then run `npm rebuild radbert-native` (or `npm run build` in a clone).',
  ].join('\n');
}

module.exports = { findLibtorch, describeRoot, howToFix, LOCAL_DIR, LOCAL_PYTHON_TARGET, PKG_ROOT };

if (require.main === module) {
  const flag = process.argv[2] || '--json';
  const lt = findLibtorch({ quiet: flag !== '--json' || process.env.RADBERT_QUIET === '1' });
  if (!lt) {
    process.stderr.write(howToFix() + '\n');
    process.exit(1);
  }
  const out = {
    '--json': () => JSON.stringify(lt, null, 2),
    '--root': () => lt.root,
    '--include': () => lt.includeDirs.join(' '),
    '--libdir': () => lt.libDir,
    '--cmake-prefix': () => lt.cmakePrefix,
    '--cxx-abi': () => lt.cxxAbi,
    '--cuda': () => (lt.cuda ? '1' : '0'),
  }[flag];
  if (!out) {
    process.stderr.write(`unknown flag ${flag}\n`);
    process.exit(2);
  }
  process.stdout.write(out() + '\n');
}
