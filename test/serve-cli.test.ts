/**
 * `npx radbert-native serve` as a process: its --help, bad flags (exit 2), serving a real HF-written model on
 * 127.0.0.1, and SIGTERM with a request in flight: the request is answered, new connections are refused, exit 0.
 */
import { execFile, spawn } from 'node:child_process';
import * as path from 'node:path';
import { describeNative, ensureFixtures, manifest } from './helpers/fixtures';

jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'radbert-native.js');

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: 60_000, env: { ...process.env, RADBERT_QUIET: '1' } }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('radbert-native serve: flags', () => {
  test('--help documents every flag and the endpoints', async () => {
    const r = await runCli(['serve', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--model', '--host', '--port', '--bf16', '--max-batch-tokens', '--max-batch-size', '--max-queue', '--max-client-batch-size', '--max-body', '--log', '--max-length', '--threads',
      '--api-key', '--public-metrics', '--cors-allow-origin', '--request-timeout'])
      expect(r.stdout).toContain(flag);
    expect(r.stdout).toContain('/predict');
    expect(r.stdout).toContain('RADBERT_API_KEY');
    expect(r.stdout).toContain('/openapi.json');
    expect(r.stdout).toContain('/metrics');
    expect(r.stdout).toContain('127.0.0.1');
  });

  test('bad flags are usage errors (exit 2) naming the flag', async () => {
    for (const [args, flag] of [
      [['--port', '70000'], '--port'],
      [['--max-batch-tokens', '0'], '--max-batch-tokens'],
      [['--log', 'loud'], '--log'],
      [['--max-body', 'big'], '--max-body'],
      [['--request-timeout', '0'], '--request-timeout'],
      [['--api-key', ' '], '--api-key'],
    ] as const) {
      const r = await runCli(['serve', '--model', 'nowhere', ...args]);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toContain(flag);
    }
  });
});

describeNative()('radbert-native serve: a real server process', () => {
  test('serves /predict, logs one line per request, and on SIGTERM answers the request in flight, refuses new ones, exits 0', async () => {
    const dir = ensureFixtures();
    const texts = manifest(dir).texts_a;
    const child = spawn(process.execPath, [BIN, 'serve', '--model', path.join(dir, 'awkward', 'model'), '--port', '0', '--log', 'info'], {
      cwd: ROOT,
      env: { ...process.env, RADBERT_QUIET: '1', RADBERT_API_KEY: 'env-key' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const t0 = Date.now();
      let url: string | undefined;
      while (!url) {
        url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1];
        if (child.exitCode !== null) throw new Error(`serve exited early:\n${stderr}`);
        if (Date.now() - t0 > 60_000) throw new Error(`serve did not start:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(stderr).toContain('API key required');
      const keyless = await fetch(`${url}/predict`, { method: 'POST', body: JSON.stringify({ inputs: texts[0] }) });
      expect(keyless.status).toBe(401); // $RADBERT_API_KEY is the key
      const auth = { authorization: 'Bearer env-key' };
      const one = await fetch(`${url}/predict`, { method: 'POST', headers: auth, body: JSON.stringify({ inputs: texts[0], top_k: 3 }) });
      expect(one.status).toBe(200);
      expect(await one.json()).toHaveLength(3);

      // a heavier request (8 texts of 4 captions each), then SIGTERM while it runs
      const long = Array.from({ length: 8 }, (_, i) => Array.from({ length: 4 }, (_, j) => texts[(i + j) % texts.length]).join(' '));
      const inflight = fetch(`${url}/classify`, { method: 'POST', headers: auth, body: JSON.stringify({ inputs: long }) }).then(async (r) => ({ status: r.status, body: await r.json(), at: Date.now() }));
      await new Promise((r) => setTimeout(r, 150));
      const killedAt = Date.now();
      child.kill('SIGTERM');
      const answered = await inflight;
      expect(answered.status).toBe(200);
      expect(answered.body).toHaveLength(8);
      expect(await exited).toBe(0);
      console.log(`the in-flight request was answered ${answered.at - killedAt} ms after SIGTERM`);
      expect(answered.at).toBeGreaterThan(killedAt);
      await expect(fetch(`${url}/health`)).rejects.toThrow();
      expect(stderr).toContain('SIGTERM: not accepting new requests, finishing those in flight');
      const lines = stdout.split('\n').filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l));
      expect(lines.map((l) => [l.method, l.url, l.status, l.inputs])).toEqual([
        ['POST', '/predict', 401, 0],
        ['POST', '/predict', 200, 1],
        ['POST', '/classify', 200, 8],
      ]);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
