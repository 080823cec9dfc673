/**
 * The one place that loads the C++ addon. Everything else imports the typed surface from here (the types live in
 * native-types.ts and are re-exported).
 *
 * Contract of the native layer (native/addon.cpp). All heavy calls run on a worker thread and return a
 * Promise; calls on one model are serialised by the model itself, so concurrent calls queue rather than race.
 */
import * as fs from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import * as path from 'node:path';
import type { NativeAddon } from './native-types';

export type * from './native-types';

let cached: NativeAddon | undefined;

/** Candidate locations of the compiled addon, in search order. */
export function addonCandidates(): string[] {
  const root = path.resolve(__dirname, '..');
  const list: string[] = [];
  if (process.env.RADBERT_NATIVE_ADDON) list.push(path.resolve(process.env.RADBERT_NATIVE_ADDON));
  list.push(path.join(root, 'build', 'Release', 'radbert_native.node'));
  list.push(path.join(root, 'build', 'Debug', 'radbert_native.node'));
  return list;
}

/** Load (once) and return the native addon, or throw an Error that says how to build it. */
export function native(): NativeAddon {
  if (cached) return cached;
  const tried: string[] = [];
  const restoreEnv = passiveOpenMP();
  try {
    return loadFirst(tried);
  } finally {
    restoreEnv();
  }
}

/**
 * On process.exit(), wait for the native job that runs (see NativeAddon.quiesce); registered once per process, on the
 * main thread only (a worker thread's exit ends the worker, not the process: the compute thread serves the others).
 */
function quiesceAtExit(addon: NativeAddon): void {
  const key = Symbol.for('radbert-native.quiesceAtExit');
  const g = globalThis as unknown as Record<symbol, boolean>;
  if (g[key] || !isMainThread) return;
  g[key] = true;
  process.on('exit', () => addon.quiesce());
}

/**
 * libtorch's OpenMP (GNU libgomp) reads its wait policy once, when the addon loads it. Its default spins up to 300,000
 * times at every barrier: when other processes share the cores, a spinning thread holds the core that the thread it
 * waits for needs, and a model call took 150x longer (issue 12). Passive waiting sleeps at once instead. Applied only
 * when the user set neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT, and only while the addon loads (child processes do
 * not inherit it). Returns the function that restores the environment.
 */
function passiveOpenMP(): () => void {
  if (process.env.OMP_WAIT_POLICY !== undefined || process.env.GOMP_SPINCOUNT !== undefined) return () => {};
  process.env.OMP_WAIT_POLICY = 'passive';
  return () => {
    delete process.env.OMP_WAIT_POLICY;
  };
}

/** The first loadable addon of addonCandidates(); throws an Error that says how to build it. */
function loadFirst(tried: string[]): NativeAddon {
  for (const file of addonCandidates()) {
    if (!fs.existsSync(file)) {
      tried.push(`${file} (not found)`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      cached = require(file) as NativeAddon;
      quiesceAtExit(cached);
      return cached;
    } catch (err) {
      tried.push(`${file} (${(err as Error).message})`);
    }
  }
  throw new Error(
    'radbert-native: the native addon could not be loaded.\n  tried:\n    ' +
      tried.join('\n    ') +
      '\n  Build it with `npm run build` (docs/architecture.md: "How libtorch is found"), or set RADBERT_NATIVE_ADDON to a built radbert_native.node.',
  );
}
