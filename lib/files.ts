/** File helpers used everywhere: reading a JSON file with errors that name it, and atomic writes. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileError } from './errors';

/** Options of readJsonFile(). */
export interface ReadJsonOptions {
  /** What to say when the file is missing (default 'not found'). */
  missing?: string;
  /** Require a JSON object (not an array or a scalar). */
  object?: boolean;
  /** What to call unparsable contents (default 'malformed JSON'). */
  malformed?: string;
}

/** Read and parse a JSON file; a missing file, malformed JSON or (with `object`) a non-object throw a FileError naming it. */
export function readJsonFile<T = unknown>(file: string, options: ReadJsonOptions = {}): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new FileError(file, e.code === 'ENOENT' ? (options.missing ?? 'not found') : e.message);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new FileError(file, `${options.malformed ?? 'malformed JSON'}: ${(err as Error).message}`);
  }
  if (options.object && (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))) throw new FileError(file, 'must hold a JSON object');
  return parsed as T;
}

/** readJsonFile() of a JSON object, or undefined when the file is missing or is not one. */
export function readJsonObjectIfAny(file: string): Record<string, unknown> | undefined {
  try {
    return readJsonFile<Record<string, unknown>>(file, { object: true });
  } catch {
    return undefined;
  }
}

/** A temporary name next to `file` (same folder, so a rename is atomic). */
export function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`);
}

/** Write a file atomically (temp file + rename), so a crash never leaves a half-written file under the real name. */
export function writeFileAtomic(file: string, data: string | Uint8Array, options: { mkdir?: boolean } = {}): void {
  if (options.mkdir) fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = tempName(file);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Whether a process with this id is alive (EPERM: alive, another user's). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The writer's process id in a temporary name: `.<file>.tmp-<pid>-...` (tempName) or `<folder>.tmp-<pid>` (checkpoints). */
export function tempOwner(name: string): number | undefined {
  const m = /^\..+\.tmp-(\d+)-\d+-[0-9a-z]+$/.exec(name) ?? /^checkpoint-\d+\.tmp-(\d+)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Remove the temporaries a killed save left in `dir` (and in its checkpoint-* folders): files of tempName() and
 * checkpoint-N.tmp-PID folders whose writing process is no longer alive. A live writer's are never touched.
 * Returns the removed paths.
 */
export function removeStaleTemps(dir: string): string[] {
  const removed: string[] = [];
  const sweep = (d: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      const owner = tempOwner(e.name);
      if (owner !== undefined && !pidAlive(owner)) {
        fs.rmSync(p, { recursive: true, force: true });
        removed.push(p);
      } else if (depth > 0 && e.isDirectory() && /^checkpoint-\d+$/.test(e.name)) sweep(p, depth - 1);
    }
  };
  sweep(dir, 1);
  return removed;
}
