#!/usr/bin/env node
'use strict';
/**
 * The one libtorch discovery module (CommonJS, no dependencies). Two consumers: scripts/build.js (cmake-js +
 * CMakeLists.txt, which gets -DTorch_DIR/-DCMAKE_PREFIX_PATH from here) and binding.gyp (node-gyp, through the CLI).
 *
 * Order:
 *   1. env LIBTORCH       a libtorch folder: include/, lib/, share/cmake/Torch (a pytorch.org zip, or a torch package dir)
 *   2. env Torch_DIR      a folder holding TorchConfig.cmake (<libtorch>/share/cmake/Torch)
 *   3. python3 on PATH    the folder of its `torch` package (env PYTHON names another interpreter)
 *   4. pip fallback       .libtorch/python/torch inside this package, put there by scripts/install.js
 * LIBTORCH_USE_PYTORCH=1 (tch-rs's convention): use the python torch and nothing else. A LIBTORCH or Torch_DIR that is
 * set but wrong is an error (no silent fallback to another libtorch).
 *
 * CLI (stdout is the answer, stderr says what was tried):
 *   node scripts/libtorch.js [--json | --root | --include | --libdir | --cmake-prefix | --torch-dir | --version |
 *                             --cxx-abi | --defines | --cuda]
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

function readIf(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Compile definitions libtorch's CMake targets hand to their users (so node-gyp compiles as CMake does). */
function interfaceDefines(cmakeShare) {
  const targets = readIf(path.join(cmakeShare, 'Caffe2', 'Caffe2Targets.cmake'));
  const defines = new Set();
  const re = /set_target_properties\((c10|torch_cpu|torch|c10_cuda|torch_cuda) PROPERTIES([\s\S]*?)\n\)/g;
  for (let m; (m = re.exec(targets)); ) {
    const d = /INTERFACE_COMPILE_DEFINITIONS "([^"]*)"/.exec(m[2]);
    if (d) for (const x of d[1].split(';')) if (x && !x.includes('$')) defines.add(x);
  }
  return [...defines];
}

/**
 * Describe a libtorch root (a folder holding include/, lib/, share/cmake/Torch) as
 * {root, includeDirs, libDir, cmakePrefix, torchDir, version, cuda, cxxAbi, defines, source},
 * or return {error} saying why it is not one.
 */
function describeRoot(root, source) {
  const includeDir = path.join(root, 'include');
  const libDir = path.join(root, 'lib');
  const cmakePrefix = path.join(root, 'share', 'cmake');
  const torchDir = path.join(cmakePrefix, 'Torch');
  if (!fs.existsSync(root)) return { error: `${root} does not exist` };
  const missing = [];
  if (!fs.existsSync(path.join(includeDir, 'torch', 'csrc', 'api', 'include', 'torch', 'torch.h')))
    missing.push('include/torch/csrc/api/include/torch/torch.h');
  if (!fs.existsSync(path.join(torchDir, 'TorchConfig.cmake'))) missing.push('share/cmake/Torch/TorchConfig.cmake');
  const libs = fs.existsSync(libDir) ? fs.readdirSync(libDir) : [];
  if (!libs.some((f) => /^libtorch_cpu\.(so|dylib)/.test(f) || f === 'torch_cpu.lib')) missing.push('lib/libtorch_cpu.so');
  if (missing.length) return { error: `${root} is not a libtorch folder (no ${missing.join(', no ')})` };
  let version = 'unknown';
  const candidates = [
    [path.join(root, 'build-version'), /^(\S+)/], // a libtorch zip from pytorch.org
    [path.join(root, 'version.py'), /__version__ = '([^']+)'/], // the torch python package
    [path.join(includeDir, 'torch', 'headeronly', 'version.h'), /#define TORCH_VERSION "([^"]+)"/],
    [path.join(includeDir, 'torch', 'version.h'), /#define TORCH_VERSION "([^"]+)"/],
  ];
  for (const [file, re] of candidates) {
    const m = re.exec(readIf(file));
    if (m) {
      version = m[1];
      break;
    }
  }
  const cuda = libs.some((f) => /^libtorch_cuda\.so/.test(f) || f === 'torch_cuda.lib');
  // The C++ ABI must match libtorch's: TorchConfig.cmake records it in TORCH_CXX_FLAGS (torch >= 2.7: always 1).
  const abi = /_GLIBCXX_USE_CXX11_ABI=(\d)/.exec(readIf(path.join(torchDir, 'TorchConfig.cmake')));
  return {
    root,
    includeDirs: [includeDir, path.join(includeDir, 'torch', 'csrc', 'api', 'include')],
    libDir,
    cmakePrefix,
    torchDir,
    version,
    cuda,
    cxxAbi: abi ? abi[1] : '1',
    defines: interfaceDefines(cmakePrefix),
    source,
  };
}

/**
 * The folder of the `torch` package of a python interpreter, found without importing torch (fast, and works even when
 * torch's python deps such as numpy are absent; for libtorch only the folder matters: it is what
 * torch.utils.cmake_prefix_path points into).
 */
function pythonTorchRoot(python) {
  const code =
    'import importlib.util as u, sys\n' +
    's = u.find_spec("torch")\n' +
    'sys.exit(3) if s is None or not s.submodule_search_locations else print(list(s.submodule_search_locations)[0])';
  const r = spawnSync(python, ['-c', code], { encoding: 'utf8', timeout: 60000 });
  if (r.error) return { error: `${python} not found on PATH (${r.error.code || r.error.message})` };
  if (r.status === 3) return { error: `${python} has no torch (${whichPython(python)})` };
  if (r.status !== 0) return { error: `${python} failed: ${(r.stderr || '').trim().split('\n').pop()}` };
  return { root: r.stdout.trim() };
}

function whichPython(python) {
  const r = spawnSync(python, ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : python;
}

/**
 * Find libtorch. Returns {root, includeDirs, libDir, cmakePrefix, torchDir, version, cuda, cxxAbi, defines, source}
 * (source: 'LIBTORCH' | 'Torch_DIR' | 'python3' | 'pip') or null, with every step logged on stderr unless quiet.
 */
function findLibtorch({ quiet = false } = {}) {
  // Internal: scripts/build.js pins the root it resolved, so binding.gyp's many `<!(...)` calls agree and are fast.
  if (process.env.RADBERT_LIBTORCH_ROOT) {
    const pinned = describeRoot(process.env.RADBERT_LIBTORCH_ROOT, process.env.RADBERT_LIBTORCH_SOURCE || 'LIBTORCH');
    if (!pinned.error) return pinned;
  }
  const use = (r, what) => {
    log(quiet, `using ${what}: ${r.root} (torch ${r.version}, ${r.cuda ? 'CUDA' : 'CPU'})`);
    return r;
  };
  const usePytorch = process.env.LIBTORCH_USE_PYTORCH === '1';
  const python = process.env.PYTHON || 'python3';

  if (usePytorch) {
    log(quiet, 'LIBTORCH_USE_PYTORCH=1: using the torch of python3 only');
  } else {
    if (process.env.LIBTORCH) {
      const r = describeRoot(path.resolve(process.env.LIBTORCH), 'LIBTORCH');
      if (!r.error) return use(r, 'LIBTORCH');
      log(quiet, `LIBTORCH=${process.env.LIBTORCH}: ${r.error}; fix or unset LIBTORCH`);
      return null; // an explicit setting that is wrong is an error, not a reason to pick another libtorch
    } else log(quiet, 'LIBTORCH not set');

    if (process.env.Torch_DIR) {
      // Torch_DIR is <root>/share/cmake/Torch
      const r = describeRoot(path.resolve(process.env.Torch_DIR, '..', '..', '..'), 'Torch_DIR');
      if (!r.error) return use(r, 'Torch_DIR');
      log(quiet, `Torch_DIR=${process.env.Torch_DIR}: ${r.error} (Torch_DIR must be <libtorch>/share/cmake/Torch); fix or unset Torch_DIR`);
      return null;
    } else log(quiet, 'Torch_DIR not set');
  }

  const py = pythonTorchRoot(python);
  if (!py.error) {
    const r = describeRoot(py.root, 'python3');
    if (!r.error) return use(r, `the torch of ${python}`);
    log(quiet, `the torch of ${python}: ${r.error}`);
  } else log(quiet, py.error);
  if (usePytorch) return null;

  const local = describeRoot(path.join(LOCAL_PYTHON_TARGET, 'torch'), 'pip');
  if (!local.error) return use(local, `the pip-installed torch in ${path.relative(PKG_ROOT, LOCAL_PYTHON_TARGET)}`);
  log(quiet, `no pip-installed torch in ${LOCAL_PYTHON_TARGET} (yet)`);
  return null;
}

/** The message printed when no libtorch can be found or installed. */
function howToFix() {
  return [
    'radbert-native: could not find libtorch. Set one of these and run `npm rebuild radbert-native` (`npm run build` in a clone):',
    '  export LIBTORCH=/path/to/libtorch              # unzipped libtorch (pytorch.org) or a torch package folder',
    '  export Torch_DIR=/path/to/share/cmake/Torch    # a folder with TorchConfig.cmake',
    '  python3 -m pip install torch==2.13.0           # the torch of the python3 on PATH is used',
    '(without any of these, `npm install` pip-installs torch into .libtorch/ unless RADBERT_NO_PIP=1)',
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
    '--torch-dir': () => lt.torchDir,
    '--version': () => lt.version,
    '--cxx-abi': () => lt.cxxAbi,
    '--defines': () => lt.defines.join(' '),
    '--cuda': () => (lt.cuda ? '1' : '0'),
  }[flag];
  if (!out) {
    process.stderr.write(`radbert-native: libtorch.js: unknown flag ${flag}\n`);
    process.exit(2);
  }
  process.stdout.write(out() + '\n');
}
