/**
 * `serve`'s full route set on a real HF-written model: TEI's POST / health checks, /invocations, /embed, /tokenize
 * and /decode (tokens, offsets and texts against Python's tokenizers, the Rust library TEI runs), the API key
 * (401s, public health checks, --public-metrics, constant-time comparison of digests), CORS (@fastify/cors) and the
 * OpenAPI document (@fastify/swagger, built from the schemas that validate the requests).
 */
import * as path from 'node:path';
import { load, type Classifier } from '../lib';
import { bearerMatches } from '../lib/serve/auth';
import { startServer, type RunningServer } from '../lib/serve/server';
import { describeNative, ensureFixtures, manifest } from './helpers/fixtures';
import { runPythonJson } from './helpers/python';

jest.setTimeout(180_000);

const KEY = 'test-key-0123456789';

async function call(url: string, init: { method?: string; body?: unknown; key?: string | null; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(init.headers ?? {}) };
  if (init.key !== null) headers.authorization = `Bearer ${init.key ?? KEY}`;
  const res = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

describe('serve: API key comparison', () => {
  test('bearerMatches: the exact key after "Bearer " (scheme in any case); anything else is refused', () => {
    const { createHash } = require('node:crypto') as typeof import('node:crypto');
    const d = createHash('sha256').update('k3y').digest();
    expect(bearerMatches('Bearer k3y', d)).toBe(true);
    expect(bearerMatches('bearer k3y', d)).toBe(true);
    expect(bearerMatches('BEARER   k3y', d)).toBe(true);
    for (const bad of [undefined, '', 'Bearer', 'Bearer ', 'k3y', 'Basic k3y', 'Bearer k3y ', 'Bearer K3Y', 'Bearer k3', 'Bearer k3yy', 'Bearer  k3y x'])
      expect({ bad, ok: bearerMatches(bad, d) }).toEqual({ bad, ok: false });
  });
});

describeNative()('serve: TEI routes, API key, CORS and OpenAPI on a real model', () => {
  let clf: Classifier;
  let server: RunningServer;
  let texts: string[];
  const dir = () => path.join(ensureFixtures(), 'awkward', 'model');

  beforeAll(async () => {
    clf = await load(dir(), { maxLength: 64 });
    texts = manifest(ensureFixtures()).texts_a;
    server = await startServer(clf, 'fixtures/awkward', {
      port: 0,
      log: 'silent',
      apiKey: KEY,
      corsAllowOrigin: ['https://viewer.example', 'http://localhost:3000'],
      maxClientBatchSize: 8,
      version: '0.0.0-test',
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  test('health checks: GET /health, GET /, GET /ping answer 200 without the key; everything else needs it (401, JSON)', async () => {
    for (const route of ['/health', '/', '/ping']) {
      const r = await call(`${server.url}${route}`, { key: null });
      expect({ route, status: r.status, json: r.json }).toEqual({ route, status: 200, json: { status: 'ok' } });
    }
    const protectedRoutes: Array<[string, unknown]> = [
      ['/predict', { inputs: 'x' }], ['/invocations', { inputs: 'x' }], ['/', { inputs: 'x' }], ['/classify', { inputs: 'x' }],
      ['/embed', { inputs: 'x' }], ['/tokenize', { inputs: 'x' }], ['/decode', { ids: [1] }], ['/info', undefined], ['/metrics', undefined],
    ];
    for (const [route, body] of protectedRoutes) {
      for (const key of [null, 'wrong', `${KEY}x`]) {
        const r = await call(`${server.url}${route}`, { body, key });
        expect({ route, key, status: r.status }).toEqual({ route, key, status: 401 });
        expect(r.json.error_type).toBe('Unauthorized');
        expect(r.json.error).toContain(key === null ? 'this server needs an API key' : 'the API key is not valid');
        expect(r.headers.get('www-authenticate')).toBe('Bearer');
      }
      expect((await call(`${server.url}${route}`, { body })).status).toBe(200);
    }
    // an unknown route is a 401 too without the key (it reveals nothing), a 404 with it
    expect((await call(`${server.url}/nope`, { key: null })).status).toBe(401);
    expect((await call(`${server.url}/nope`)).status).toBe(404);
  });

  test('--public-metrics: /metrics without the key, the rest still needs it', async () => {
    const open = await startServer(clf, 'awkward', { port: 0, log: 'silent', apiKey: KEY, publicMetrics: true, queue: server.queue });
    try {
      expect((await call(`${open.url}/metrics`, { key: null })).status).toBe(200);
      expect((await call(`${open.url}/info`, { key: null })).status).toBe(401);
    } finally {
      await open.app.close();
    }
  });

  test('POST /invocations = /predict; POST / is the HF task format (one list per input)', async () => {
    const p = await call(`${server.url}/predict`, { body: { inputs: texts[0] } });
    const inv = await call(`${server.url}/invocations`, { body: { inputs: texts[0] } });
    expect(inv.json).toEqual(p.json);
    const hf = await call(`${server.url}/`, { body: { inputs: texts[0] } });
    expect(hf.json).toEqual([p.json]);
    const hf2 = await call(`${server.url}/`, { body: { inputs: [texts[0], texts[1]], parameters: { top_k: 2 } } });
    expect(hf2.json).toHaveLength(2);
    // in a batch of two: the same labels, scores within the batching bound (1e-6)
    expect(hf2.json[0].map((x: { label: string }) => x.label)).toEqual(p.json.slice(0, 2).map((x: { label: string }) => x.label));
    hf2.json[0].forEach((x: { score: number }, i: number) => expect(Math.abs(x.score - p.json[i].score)).toBeLessThanOrEqual(1e-6));
  });

  test('POST /embed: the body\'s pooled hidden state (= Classifier.embed), L2-normalised unless normalize: false', async () => {
    const want = await clf.embed([texts[0], texts[1]]);
    const raw = await call(`${server.url}/embed`, { body: { inputs: [texts[0], texts[1]], normalize: false } });
    expect(raw.status).toBe(200);
    expect(raw.json).toHaveLength(2);
    raw.json.forEach((row: number[], i: number) => {
      expect(row).toHaveLength(clf.nativeConfig.hiddenSize);
      row.forEach((x, j) => expect(Math.abs(x - want[i][j])).toBeLessThanOrEqual(1e-6));
    });
    const unit = await call(`${server.url}/embed`, { body: { inputs: texts[0] } });
    expect(unit.json).toHaveLength(1); // TEI: always a list of embeddings
    const norm = Math.hypot(...want[0]);
    unit.json[0].forEach((x: number, j: number) => expect(Math.abs(x - want[0][j] / norm)).toBeLessThanOrEqual(1e-6));
    expect(Math.abs(Math.hypot(...unit.json[0]) - 1)).toBeLessThanOrEqual(1e-6);
  });

  test('POST /tokenize and /decode agree with Python tokenizers (ids, special flags, UTF-8 byte offsets, texts)', async () => {
    const samples = [texts[0], texts[3], '  CT of the chest [MASK] café', 'Ångström µm 🫁 肺', 'cafe\u0301 NFD', 'x'.repeat(300), ''];
    const ref = runPythonJson<Array<{ ids: number[]; special: number[]; offsets: Array<[number, number]>; plain: number[]; decoded: string; decoded_all: string }>>(
      `
import json, sys
from tokenizers import Tokenizer
tok = Tokenizer.from_file(${JSON.stringify(path.join(dir(), 'tokenizer.json'))})
out = []
for text in json.load(sys.stdin):
    e = tok.encode(text, add_special_tokens=True)
    # Python reports character offsets; TEI (Rust) reports UTF-8 byte offsets
    b = lambda i: len(text[:i].encode('utf-8'))
    out.append(dict(ids=e.ids, special=e.special_tokens_mask, offsets=[[b(s), b(t)] for s, t in e.offsets],
                    plain=tok.encode(text, add_special_tokens=False).ids,
                    decoded=tok.decode(e.ids, skip_special_tokens=True), decoded_all=tok.decode(e.ids, skip_special_tokens=False)))
print(json.dumps(out))
`,
      samples,
    );
    const r = await call(`${server.url}/tokenize`, { body: { inputs: samples } });
    expect(r.status).toBe(200);
    const unlocated: string[] = [];
    r.json.forEach((tokens: Array<{ id: number; text: string; special: boolean; start: number | null; stop: number | null }>, i: number) => {
      const want = ref[i];
      const bytes = Buffer.from(samples[i], 'utf8');
      expect(tokens.map((t) => t.id)).toEqual(want.ids);
      expect(tokens.map((t) => (t.special ? 1 : 0))).toEqual(want.special);
      tokens.forEach((t, j) => {
        if (t.special) {
          expect([t.start, t.stop]).toEqual([null, null]);
          return;
        }
        if (t.start === null) {
          unlocated.push(`${i}:${j}`);
          return;
        }
        expect({ sample: i, token: j, offsets: [t.start, t.stop] }).toEqual({ sample: i, token: j, offsets: want.offsets[j] });
        expect(t.text).toBe(bytes.subarray(t.start!, t.stop!).toString('utf8'));
      });
    });
    // only the token NFC rewrote (e + U+0301 → é: its bytes are not in the input) has no offsets
    expect(unlocated).toEqual([`4:3`]);
    const plain = await call(`${server.url}/tokenize`, { body: { inputs: samples[2], add_special_tokens: false } });
    expect(plain.json[0].map((t: { id: number }) => t.id)).toEqual(ref[2].plain);
    const dec = await call(`${server.url}/decode`, { body: { ids: ref.slice(0, 4).map((x) => x.ids) } });
    expect(dec.json).toEqual(ref.slice(0, 4).map((x) => x.decoded));
    const decAll = await call(`${server.url}/decode`, { body: { ids: ref[0].ids, skip_special_tokens: false } });
    expect(decAll.json).toEqual([ref[0].decoded_all]);
  });

  test('CORS: preflights from an allowed origin pass without the key; other origins get no CORS headers', async () => {
    const pre = await fetch(`${server.url}/predict`, {
      method: 'OPTIONS',
      headers: { origin: 'https://viewer.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://viewer.example');
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    const ok = await call(`${server.url}/predict`, { body: { inputs: 'x', top_k: 1 }, headers: { origin: 'http://localhost:3000' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
    // a 401 carries the CORS headers too, so a browser app can read why
    const denied = await call(`${server.url}/predict`, { body: { inputs: 'x' }, key: null, headers: { origin: 'https://viewer.example' } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe('https://viewer.example');
    const other = await call(`${server.url}/predict`, { body: { inputs: 'x', top_k: 1 }, headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  test('GET /openapi.json (no key): OpenAPI 3.1 from the route schemas, bearer security; GET /docs serves Swagger UI', async () => {
    const r = await call(`${server.url}/openapi.json`, { key: null });
    expect(r.status).toBe(200);
    const doc = r.json;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.version).toBe('0.0.0-test');
    expect(Object.keys(doc.paths).sort()).toEqual(['/', '/classify', '/decode', '/embed', '/health', '/info', '/invocations', '/metrics', '/ping', '/predict', '/tokenize'].sort());
    expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
    expect(doc.paths['/health'].get.security).toEqual([]);
    const predict = doc.paths['/predict'].post;
    const body = predict.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(['inputs']);
    expect(body.properties.inputs.maxItems).toBe(8);
    expect(Object.keys(body.properties).sort()).toEqual(['inputs', 'raw_scores', 'threshold', 'top_k', 'truncate', 'truncation_direction']);
    expect(predict.responses['4XX'] ?? predict.responses['4xx']).toBeDefined();
    const hfParams = doc.paths['/'].post.requestBody.content['application/json'].schema.properties.parameters.properties;
    expect(hfParams.function_to_apply.enum).toEqual(['sigmoid', 'softmax', 'none']);
    const ui = await fetch(`${server.url}/docs/`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger-ui');
  });
});
