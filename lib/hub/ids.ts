/**
 * "Is this a path or a Hub id?": the one place that decides it. An existing path wins; otherwise `org/name` or
 * `org/name@revision` is a Hub id; anything else is neither.
 */
import * as fs from 'node:fs';

const REPO_ID = /^[A-Za-z0-9_][\w.-]*\/[A-Za-z0-9_][\w.-]*$/;

/** Whether `s` looks like a Hub repo id `org/name` (optionally `org/name@revision`). */
export function isHubId(s: string): boolean {
  return parseHubId(s) !== undefined;
}

/** Split `org/name[@revision]`; undefined when it is not a valid Hub repo id. */
export function parseHubId(s: string):
  | {
      /** `org/name`. */
      repoId: string;
      /** The part after `@`, when given. */
      revision?: string;
    }
  | undefined {
  const at = s.indexOf('@');
  const repoId = at >= 0 ? s.slice(0, at) : s;
  const revision = at >= 0 ? s.slice(at + 1) : undefined;
  if (!REPO_ID.test(repoId) || repoId.length > 96 || repoId.includes('--') || repoId.includes('..') || /[.-]$/.test(repoId)) return undefined;
  if (revision !== undefined && !validRevision(revision)) return undefined;
  return { repoId, revision };
}

/** Whether a branch, tag or commit name is safe to use as a path under refs/. */
export function validRevision(rev: string): boolean {
  return rev.length > 0 && !rev.includes('\\') && !rev.includes('\0') && !rev.startsWith('/') && rev.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}


/** What a model or dataset argument names: an existing local path, or a Hub repo (with an optional revision). */
export type Source = { kind: 'path'; path: string } | { kind: 'hub'; repoId: string; revision?: string };

/** Decide whether `arg` is a local path or a Hub id (the path wins when it exists); undefined when it is neither. */
export function sourceOf(arg: string): Source | undefined {
  if (fs.existsSync(arg)) return { kind: 'path', path: arg };
  const hub = parseHubId(arg);
  return hub ? { kind: 'hub', ...hub } : undefined;
}
