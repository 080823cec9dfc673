/**
 * Fuzz suite (issue 12): >= 500 seeded malformed inputs (safetensors checkpoints, optimizer states, config.json,
 * tokenizer.json, label files, jsonl/csv/parquet datasets, direct native calls, CLI flags), run in child processes
 * (test/fuzz/runner.js) that must end each case with a JS error or a clean result: no signal, no abort, no hang, RSS
 * under 2 GB. Any crash fails, and so does an error that does not name its input (an internal such as "stoul").
 */
import * as path from 'node:path';
import { REPO } from './helpers/paths';
import { compileDist } from './helpers/build';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { runFuzz } = require('./fuzz/runner.js') as { runFuzz: (o?: object) => Promise<FuzzReport> };

interface CaseResult {
  id: string;
  outcome: 'ok' | 'error' | 'nonerror' | 'crash';
  message: string;
  rssMB?: number;
}
interface FuzzReport {
  totals: { cases: number; ok: number; errors: number; unclear: number; nonErrors: number; crashes: number; peakCaseRssMB: number; children: number };
  crashes: CaseResult[];
  unclear: CaseResult[];
}

beforeAll(() => {
  // the children run the compiled package (dist/), as users do
  compileDist();
});

test('>= 500 malformed inputs end in a JS error or a clean result, never a crash', async () => {
  const t0 = Date.now();
  const r = await runFuzz();
  const t = r.totals;
  console.log(
    [
      `fuzz: ${t.cases} cases in ${((Date.now() - t0) / 1000).toFixed(0)} s (${t.children} child processes): ${t.ok} clean results, ${t.errors} JS errors (${t.unclear} not naming the input), ${t.crashes} crashes, ${t.nonErrors} non-Error throws; peak RSS of a case ${t.peakCaseRssMB} MB`,
      ...r.crashes.map((c) => `  CRASH ${c.id}: ${c.message}`),
      ...r.unclear.map((c) => `  unclear error ${c.id}: ${c.message}`),
    ].join('\n'),
  );
  expect(t.cases).toBeGreaterThanOrEqual(500);
  expect(t.nonErrors).toBe(0);
  expect(r.crashes.map((c) => `${c.id}: ${c.message}`)).toEqual([]);
  expect(r.unclear.map((c) => `${c.id}: ${c.message}`)).toEqual([]);
});
