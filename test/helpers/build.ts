/** dist/ compiled from the current lib/, for tests that run the package as a user does (CLI, examples, npm pack). */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { REPO } from './paths';

/** Compiles lib/ into dist/ with the repository's tsc; with esm, also writes the ESM entry (as `npm run build:ts`). */
export function compileDist(options: { esm?: boolean } = {}): void {
  execFileSync(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: REPO, stdio: 'pipe' });
  if (options.esm) execFileSync(process.execPath, [path.join(REPO, 'scripts', 'write-esm-wrapper.js')], { cwd: REPO, stdio: 'pipe' });
}
