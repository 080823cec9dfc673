/**
 * Test helper: run snippets in the Python reference venv (numpy, scikit-learn, pyarrow, torch,
 * transformers) built by scripts/pyref-venv.sh. The venv is built on first use (minutes on a
 * fresh machine, cached afterwards under $RADBERT_PYREF or ~/.cache/radbert-native/), so a test
 * that calls these needs a generous timeout (jest.config.js sets 600 s).
 *
 *   import { runPython, runPythonJson } from './helpers/python';
 *   const out = runPythonJson<number[]>('import numpy as np, json; print(json.dumps(np.arange(3).tolist()))');
 *
 * Python is a test-time reference only; the package never needs it at run time.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
let cachedPython: string | undefined;

/** Path of the reference venv's python executable; builds the venv via scripts/pyref-venv.sh on first call. */
export function pythonRef(): string {
  if (cachedPython) return cachedPython;
  const venv = execFileSync('bash', [path.join(REPO_ROOT, 'scripts', 'pyref-venv.sh')], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
  }).trim().split('\n').pop()!;
  cachedPython = path.join(venv, 'bin', 'python');
  return cachedPython;
}

/**
 * Runs `code` with the reference python (cwd = repo root, `input` on stdin) and returns its stdout.
 * Throws with python's stderr if it exits non-zero.
 */
export function runPython(code: string, input?: string): string {
  try {
    return execFileSync(pythonRef(), ['-c', code], {
      cwd: REPO_ROOT,
      input: input ?? '',
      encoding: 'utf8',
      maxBuffer: 1 << 30,
      env: { ...process.env, PYTHONHASHSEED: '0', PYTHONIOENCODING: 'utf-8' },
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`python failed: ${err.stderr || err.message}`);
  }
}

/** Like runPython, with `input` JSON-encoded on stdin and the last stdout line parsed as JSON. */
export function runPythonJson<T = unknown>(code: string, input?: unknown): T {
  const out = runPython(code, input === undefined ? undefined : JSON.stringify(input)).trim().split('\n');
  return JSON.parse(out[out.length - 1]) as T;
}
