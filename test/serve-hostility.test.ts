/**
 * HTTP hostility: more than 1,000 seeded malformed or hostile requests (test/helpers/hostile-cases.ts: bad JSON, wrong
 * types, odd but valid texts, huge arrays, deep nesting, invalid UTF-8, bad auth, oversized headers, wrong routes,
 * malformed HTTP, odd content types, slow clients, dropped connections) against a live `radbert-native serve`
 * process on 127.0.0.1 (a tiny HF-written model, an API key, a 5 s --request-timeout). Every answer must have the
 * expected status and be JSON ({error, error_type} for errors); the process must not crash or log a server error;
 * afterwards it must answer /health and give the same /predict scores as before. Bodies trickled past the timeout
 * must get 408 without a forward being run for them, while other requests are served.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { describeNative, ensureFixtures, manifest } from './helpers/fixtures';
import { hostileCases, type HostileCase } from './helpers/hostile-cases';
import { httpRequest, pieces, rawHttp, type RawResponse } from './helpers/raw-http';
import { parsePrometheus, sampleValue } from './helpers/prometheus';

jest.setTimeout(240_000);

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'radbert-native.js');
const KEY = 'hostility-key-7f3a';
const MAX_BODY = 65_536;
const MAX_CLIENT_BATCH = 8;
const TIMEOUT_S = 5;
const SEED = 20261203;

/** The problems with one answer (none: it is what the case expects). */
function problems(c: HostileCase, r: RawResponse): string[] {
  const out: string[] = [];
  if (c.expect.length === 0) return out; // the client went away: nothing to check but the server's health afterwards
  if (r.timedOut) out.push('no answer before the helper gave up');
  if (!c.expect.includes(r.status)) out.push(`status ${r.status}, expected ${c.expect.join(' or ')}${r.error ? ` (${r.error})` : ''}`);
  if (c.request.pieces[0].subarray(0, 5).toString() === 'HEAD ') return out;
  if (!/^application\/json/.test(r.headers['content-type'] ?? '')) out.push(`content-type ${r.headers['content-type']}`);
  let body: unknown;
  try {
    body = JSON.parse(r.body);
  } catch {
    out.push(`body is not JSON: ${r.body.slice(0, 80)}`);
    return out;
  }
  if (r.status >= 400) {
    const e = body as { error?: unknown; error_type?: unknown };
    if (typeof e?.error !== 'string' || typeof e.error_type !== 'string' || e.error.length === 0) out.push(`error body ${r.body.slice(0, 80)}`);
  }
  return out;
}

async function inPool<T, R>(items: T[], size: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: size }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]);
    }
  }));
  return out;
}

describeNative()('serve under hostile HTTP (a live server process)', () => {
  let child: ChildProcess;
  let port: number;
  let stdout = '';
  let stderr = '';
  let texts: string[];

  const auth: Array<[string, string]> = [['Authorization', `Bearer ${KEY}`], ['Content-Type', 'application/json']];
  const predict = async (inputs: string[]) => {
    const r = await rawHttp(port, { pieces: [httpRequest('POST', '/predict', auth, JSON.stringify({ inputs, raw_scores: true }))] });
    expect(r.status).toBe(200);
    return JSON.parse(r.body) as Array<Array<{ label: string; score: number }>>;
  };
  const forwards = async () => {
    const r = await rawHttp(port, { pieces: [httpRequest('GET', '/metrics', auth)] });
    return sampleValue(parsePrometheus(r.body), 'radbert_batch_size', 'radbert_batch_size_count');
  };

  beforeAll(async () => {
    const dir = ensureFixtures();
    texts = [...manifest(dir).texts_a, ...manifest(dir).texts_b];
    child = spawn(
      process.execPath,
      [BIN, 'serve', '--model', path.join(dir, 'awkward', 'model'), '--port', '0', '--log', 'error', '--api-key', KEY, '--max-length', '64',
        '--max-body', String(MAX_BODY), '--max-client-batch-size', String(MAX_CLIENT_BATCH), '--request-timeout', String(TIMEOUT_S)],
      { cwd: ROOT, env: { ...process.env, RADBERT_QUIET: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const t0 = Date.now();
    for (;;) {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
      if (m) {
        port = Number(m[1]);
        break;
      }
      if (child.exitCode !== null) throw new Error(`serve exited early:\n${stderr}`);
      if (Date.now() - t0 > 120_000) throw new Error(`serve did not start:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  test('≥ 1,000 seeded hostile requests: expected statuses, JSON errors, no crash, same scores afterwards', async () => {
    const probe = [texts[0], texts[5], 'CT of the chest'];
    const before = await predict(probe);
    const cases = hostileCases(SEED, { apiKey: KEY, maxBody: MAX_BODY, maxClientBatchSize: MAX_CLIENT_BATCH, requestTimeoutS: TIMEOUT_S, texts });
    expect(cases.length).toBeGreaterThanOrEqual(1000);
    const t0 = Date.now();
    const results = await inPool(cases, 16, (c) => rawHttp(port, c.request));
    const seconds = (Date.now() - t0) / 1000;
    const failures: string[] = [];
    const byCategory = new Map<string, { cases: number; statuses: Map<number, number> }>();
    cases.forEach((c, i) => {
      const p = problems(c, results[i]);
      if (p.length) failures.push(`${c.category} / ${c.name}: ${p.join('; ')}`);
      const cat = byCategory.get(c.category) ?? { cases: 0, statuses: new Map() };
      cat.cases++;
      cat.statuses.set(results[i].status, (cat.statuses.get(results[i].status) ?? 0) + 1);
      byCategory.set(c.category, cat);
    });
    const table = [...byCategory].map(([name, c]) => `${name}: ${c.cases} (${[...c.statuses].map(([s, n]) => `${s || 'none'}×${n}`).join(', ')})`);
    console.log(`${cases.length} hostile requests in ${seconds.toFixed(1)} s, ${failures.length} unexpected answers:\n  ${table.join('\n  ')}`);
    expect(failures.slice(0, 20)).toEqual([]);

    // the process is the same one, it logged no server error, it is healthy, and it computes the same scores
    expect(child.exitCode).toBeNull();
    expect(stdout + stderr).not.toMatch(/"level":50|request failed|Error:/);
    const health = await rawHttp(port, { pieces: [httpRequest('GET', '/health', [])] });
    expect([health.status, health.body]).toEqual([200, '{"status":"ok"}']);
    const after = await predict(probe);
    let worst = 0;
    after.forEach((row, i) => {
      expect(row.map((x) => x.label)).toEqual(before[i].map((x) => x.label));
      row.forEach((x, j) => (worst = Math.max(worst, Math.abs(x.score - before[i][j].score))));
    });
    expect(worst).toBeLessThanOrEqual(1e-6);
  });

  test('bodies trickled past --request-timeout: 408 as JSON, no forward run for them, other requests served meanwhile', async () => {
    const before = await forwards();
    const body = JSON.stringify({ inputs: texts[1] });
    const req = httpRequest('POST', '/predict', auth, body);
    const headEnd = req.indexOf('\r\n\r\n') + 4;
    const slow = Array.from({ length: 6 }, () => rawHttp(port, { pieces: [req.subarray(0, headEnd), ...pieces(req.subarray(headEnd), 1)], delayMs: 500, timeoutMs: 30_000 }));
    // while they trickle, the server answers: a forward of another request
    await new Promise((r) => setTimeout(r, 1000));
    const t = Date.now();
    const served = await predict([texts[2]]);
    const servedMs = Date.now() - t;
    expect(served).toHaveLength(1);
    const answers = await Promise.all(slow);
    for (const a of answers) {
      expect(a.status).toBe(408);
      expect(JSON.parse(a.body)).toEqual({ error: 'the request did not arrive in time (--request-timeout)', error_type: 'Validation' });
      expect(a.ms).toBeLessThan(TIMEOUT_S * 1000 + 2500); // the timeout is checked every second at most
    }
    // exactly one forward ran meanwhile: the served request's
    expect((await forwards()) - before).toBe(1);
    console.log(`6 trickled bodies got 408 after ${answers.map((a) => a.ms).join(', ')} ms; a request meanwhile took ${servedMs} ms`);
  });
});
