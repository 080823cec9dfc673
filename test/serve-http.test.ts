/**
 * `serve` over HTTP: a real fastify server on 127.0.0.1 (a free port) around a real HF-written model, queried with
 * a real HTTP client (fetch). TEI-shaped /predict, /classify = predict(), concurrent requests equal solo calls,
 * every error case with its status, back-pressure, /metrics as Prometheus text, graceful shutdown with requests in
 * flight, one log line per request. Loopback only; every request is bounded by the test's timeout.
 */
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { load, sigmoid, toPrediction, type Classifier } from '../lib';
import { parseInputs } from '../lib/serve/inputs';
import { LabelScores } from '../lib/serve/scores';
import { BatchQueue } from '../lib/serve/queue';
import { startServer, type RunningServer } from '../lib/serve/server';
import { describeNative, ensureFixtures, manifest } from './helpers/fixtures';
import { parsePrometheus, sampleValue } from './helpers/prometheus';

jest.setTimeout(120_000);

const MAX_LENGTH = 64;

async function post(url: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const res = await fetch(url, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json: json as any, text };
}

/** A classifier loaded with a short maxLength, so truncation is cheap to exercise. */
async function loadAwkward(): Promise<Classifier> {
  return load(path.join(ensureFixtures(), 'awkward', 'model'), { maxLength: MAX_LENGTH });
}

/** A queue over clf whose forwards wait at a gate until opened (to hold requests in flight deterministically). */
function gatedQueue(clf: Classifier, options: { maxQueue?: number } = {}) {
  let open = false;
  let waiters: Array<() => void> = [];
  let started = 0;
  const queue = new BatchQueue(
    {
      numLabels: clf.nativeConfig.numLabels,
      forward: async (ids, cu) => {
        started++;
        if (!open) await new Promise<void>((r) => waiters.push(r));
        return clf.model.forward(ids, cu);
      },
    },
    options,
  );
  return {
    queue,
    started: () => started,
    open() {
      open = true;
      const w = waiters;
      waiters = [];
      w.forEach((f) => f());
    },
  };
}

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('serve: response and input helpers', () => {
  /** What LabelScores.json must equal: JSON.stringify of the {label, score} list sorted by score, then label. */
  function reference(labels: string[], row: ArrayLike<number>, score: (x: number, i: number) => number, keep: { threshold?: number; topK?: number } = {}) {
    const items = labels
      .map((label, i) => ({ label, score: score(row[i], i), p: sigmoid(row[i]) }))
      .filter((x) => keep.threshold === undefined || x.p > keep.threshold)
      .sort((a, b) => b.score - a.score || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0))
      .map(({ label, score: s }) => ({ label, score: s }));
    return JSON.stringify(keep.topK === undefined ? items : items.slice(0, keep.topK));
  }

  test('LabelScores.json writes exactly JSON.stringify of the sorted {label, score} list, with threshold and top_k', () => {
    const labels = ['C1', 'b"quoted\\', 'é', 'C0'];
    const scores = new LabelScores(labels);
    const row = [0.5, -2, 3, 0.5];
    expect(scores.json(row, 'sigmoid')).toBe(reference(labels, row, sigmoid));
    expect(scores.json(row, 'sigmoid', { threshold: 0.5 })).toBe(reference(labels, row, sigmoid, { threshold: 0.5 }));
    expect(scores.json(row, 'sigmoid', { topK: 2 })).toBe(reference(labels, row, sigmoid, { topK: 2 }));
    expect(JSON.parse(scores.json(row, 'none', { threshold: 0.5 }))).toEqual([{ label: 'é', score: 3 }, { label: 'C0', score: 0.5 }, { label: 'C1', score: 0.5 }]);
    expect(new LabelScores(['x']).json([NaN], 'none')).toBe('[{"label":"x","score":null}]'); // as JSON.stringify writes NaN
  });

  test('LabelScores ranks like a comparator sort on 2000 seeded random rows: ties, saturated sigmoids, softmax underflow, ±0', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const labels = Array.from({ length: 60 }, (_, i) => `C${String((i * 7919) % 1000).padStart(7, '0')}${i % 3 ? '' : 'x'}`);
    const scores = new LabelScores(labels);
    for (let r = 0; r < 2000; r++) {
      const kind = r % 4;
      const row = Float32Array.from(labels, () => {
        if (kind === 0) return (rand() - 0.5) * 8;
        if (kind === 1) return Math.round((rand() - 0.5) * 6); // many exact ties
        if (kind === 2) return (rand() - 0.5) * 200; // sigmoid saturates to 0 / 1 for |logit| > ~37
        return rand() < 0.2 ? (rand() < 0.5 ? 0 : -0) : (rand() - 0.5) * 2000; // softmax underflows; +0 and -0
      });
      const max = Math.max(...row);
      const sum = row.reduce((a, x) => a + Math.exp(x - max), 0);
      const keep = r % 5 === 0 ? { topK: 1 + (r % 7) } : r % 5 === 1 ? { threshold: 0.4 } : {};
      expect(scores.json(row, 'sigmoid', keep)).toBe(reference(labels, row, sigmoid, keep));
      expect(scores.json(row, 'none', keep)).toBe(reference(labels, row, (x) => x, keep));
      expect(scores.json(row, 'softmax', keep)).toBe(reference(labels, row, (x) => Math.exp(x - max) / sum, keep));
    }
  });

  test('parseInputs: a text, a list (a batch), TEI batches; sentence pairs refused', () => {
    expect(parseInputs('a')).toEqual({ texts: ['a'], single: true });
    expect(parseInputs(['a', 'b'])).toEqual({ texts: ['a', 'b'], single: false });
    expect(parseInputs([['a'], ['b']])).toEqual({ texts: ['a', 'b'], single: false });
    expect(() => parseInputs([['a', 'b']])).toThrow('"inputs"[0] is a list of 2 texts: a sentence pair or more');
  });
});

describeNative()('serve: HTTP endpoints on a real model', () => {
  let clf: Classifier;
  let server: RunningServer;
  let texts: string[];
  const logs = new PassThrough();
  const logLines: string[] = [];
  /** Solo logits of each text (computed alone, before the server starts). */
  let solo: Float32Array[];

  beforeAll(async () => {
    clf = await loadAwkward();
    const m = manifest(ensureFixtures());
    texts = [...m.texts_a, ...m.texts_b];
    solo = [];
    for (const t of texts) solo.push((await clf.logits([t]))[0]);
    logs.on('data', (d: Buffer) => logLines.push(...d.toString().split('\n').filter(Boolean)));
    server = await startServer(clf, 'fixtures/awkward', { port: 0, maxBody: 20_000, maxClientBatchSize: 8, log: 'info', logStream: logs, version: '0.0.0-test' });
  });
  afterAll(async () => {
    await server?.close();
  });

  test('listens on 127.0.0.1 only; /health and /info', async () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const info = (await (await fetch(`${server.url}/info`)).json()) as { model_type: { classifier: { id2label: Record<string, string> } } };
    expect(info).toMatchObject({
      model_id: 'fixtures/awkward',
      model_dtype: 'float32',
      max_input_length: MAX_LENGTH,
      max_client_batch_size: 8,
      max_body_bytes: 20_000,
      max_batch_tokens: server.queue.maxBatchTokens,
      max_batch_requests: server.queue.maxBatchSize,
      version: '0.0.0-test',
    });
    expect(Object.values(info.model_type.classifier.id2label)).toEqual(clf.labels);
  });

  test('POST /predict: TEI shapes (one text → list, list → list of lists, [["t"]] batches), sigmoid scores sorted', async () => {
    const one = await post(`${server.url}/predict`, { inputs: texts[0] });
    expect(one.status).toBe(200);
    expect(one.json).toHaveLength(clf.labels.length);
    const scores = one.json.map((x: { score: number }) => x.score);
    expect(scores).toEqual([...scores].sort((a: number, b: number) => b - a));
    for (const { label, score } of one.json) expect(Math.abs(score - sigmoid(solo[0][clf.labels.indexOf(label)]))).toBeLessThanOrEqual(1e-6);

    const many = await post(`${server.url}/predict`, { inputs: [texts[1], texts[2]] });
    expect(many.status).toBe(200);
    expect(many.json).toHaveLength(2);
    const tei = await post(`${server.url}/predict`, { inputs: [[texts[1]], [texts[2]]] });
    expect(tei.json.map((r: unknown[]) => r.length)).toEqual([clf.labels.length, clf.labels.length]);
    for (let i = 0; i < 2; i++) {
      expect(tei.json[i].map((x: { label: string }) => x.label)).toEqual(many.json[i].map((x: { label: string }) => x.label));
    }
  });

  test('raw_scores gives logits; threshold and top_k narrow the list', async () => {
    const raw = await post(`${server.url}/predict`, { inputs: texts[3], raw_scores: true });
    for (const { label, score } of raw.json) expect(Math.abs(score - solo[3][clf.labels.indexOf(label)])).toBeLessThanOrEqual(1e-5);
    const top = await post(`${server.url}/predict`, { inputs: texts[3], top_k: 2 });
    expect(top.json).toHaveLength(2);
    const thr = await post(`${server.url}/predict`, { inputs: texts[3], threshold: 0.5 });
    const expected = toPrediction(clf.labels, solo[3], 0.5).labels;
    expect(thr.json.map((x: { label: string }) => x.label)).toEqual(expected);
  });

  test('POST /classify returns exactly predict()’s {labels, probabilities}', async () => {
    const r = await post(`${server.url}/classify`, { inputs: texts[4], threshold: 0.3 });
    expect(r.status).toBe(200);
    const want = await clf.predict(texts[4], { threshold: 0.3 });
    expect(r.json.labels).toEqual(want.labels);
    for (const l of want.labels) expect(Math.abs(r.json.probabilities[l] - want.probabilities[l])).toBeLessThanOrEqual(1e-6);
    const list = await post(`${server.url}/classify`, { inputs: [texts[4], texts[5]] });
    expect(list.json).toHaveLength(2);
    expect(list.json[1].labels).toEqual(toPrediction(clf.labels, solo[5]).labels);
  });

  test('64 concurrent requests are merged into shared forwards and each gets its solo result (≤ 1e-6)', async () => {
    const before = parsePrometheus(await (await fetch(`${server.url}/metrics`)).text());
    const forwardsBefore = sampleValue(before, 'radbert_batch_size', 'radbert_batch_size_count');
    const reqs = Array.from({ length: 64 }, (_, i) => {
      const idx = i % 3 === 0 ? [i % texts.length, (i + 5) % texts.length] : [i % texts.length];
      return { idx, body: { inputs: idx.length === 1 ? texts[idx[0]] : idx.map((j) => texts[j]), raw_scores: true } };
    });
    const results = await Promise.all(reqs.map((r) => post(`${server.url}/predict`, r.body)));
    let worstP = 0;
    results.forEach((res, i) => {
      expect(res.status).toBe(200);
      const lists = reqs[i].idx.length === 1 ? [res.json] : res.json;
      reqs[i].idx.forEach((j, n) => {
        const got = new Float32Array(clf.labels.length);
        for (const { label, score } of lists[n]) got[clf.labels.indexOf(label)] = score;
        worstP = Math.max(worstP, maxAbsDiff(Array.from(got, sigmoid), Array.from(solo[j], sigmoid)));
        expect(toPrediction(clf.labels, got).labels).toEqual(toPrediction(clf.labels, solo[j]).labels);
      });
    });
    const after = parsePrometheus(await (await fetch(`${server.url}/metrics`)).text());
    const forwards = sampleValue(after, 'radbert_batch_size', 'radbert_batch_size_count') - forwardsBefore;
    const textsRun = reqs.reduce((a, r) => a + r.idx.length, 0);
    console.log(`64 concurrent requests (${textsRun} texts) in ${forwards} forwards; max |Δp| vs solo ${worstP.toExponential(2)}`);
    expect(worstP).toBeLessThanOrEqual(1e-6);
    expect(forwards).toBeLessThan(textsRun / 2);
  });

  test('malformed or wrongly typed bodies → 422 with a JSON error naming the problem; the server stays up', async () => {
    const cases: Array<[unknown, string, Record<string, string>?]> = [
      ['{"inputs": "CT', 'the body is not valid JSON'],
      ['', 'the body is empty'],
      [[1, 2], 'the body must be a JSON object, e.g. {"inputs":"CT of the chest with contrast"}, got a list'],
      [{}, 'the body needs "inputs" (a text or a list of texts), e.g. {"inputs":"CT of the chest with contrast"}'],
      [{ inputs: 42 }, '"inputs" must be a text or a list of texts, got number 42'],
      [{ inputs: null }, '"inputs" must be a text or a list of texts, got null'],
      [{ inputs: [] }, '"inputs" is an empty list'],
      [{ inputs: ['ok', 7] }, '"inputs"[1] must be a text or a list of texts, got number 7'],
      [{ inputs: [['a', 'b']] }, '"inputs"[0] is a list of 2 texts: a sentence pair'],
      [{ inputs: 'x', truncate: 'yes' }, '"truncate" must be true or false, got "yes"'],
      [{ inputs: 'x', raw_scores: 1 }, '"raw_scores" must be true or false, got number 1'],
      [{ inputs: 'x', threshold: 'high' }, '"threshold" must be a number, got "high"'],
      [{ inputs: 'x', top_k: 0 }, '"top_k" must be an integer >= 1, got number 0'],
      [{ inputs: 'x', truncation_direction: 'left' }, '"truncation_direction" "left" is not supported'],
      [{ inputs: 'x', truncate: false }, undefined as unknown as string], // fits: fine
    ];
    for (const [body, message] of cases) {
      const r = await post(`${server.url}/predict`, body);
      if (message === undefined) {
        expect(r.status).toBe(200);
        continue;
      }
      expect({ body, status: r.status }).toEqual({ body, status: 422 });
      expect(r.json.error_type).toBe('Validation');
      expect(r.json.error).toContain(message);
    }
    // the same body without a content type (curl -d's default form encoding) is read as JSON
    const plain = await post(`${server.url}/classify`, JSON.stringify({ inputs: texts[0] }), { 'content-type': 'application/x-www-form-urlencoded' });
    expect(plain.status).toBe(200);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });

  test('a text over the model limit: truncated by default (= predict(), which truncates), refused with truncate: false', async () => {
    const long = Array.from({ length: 3 }, () => texts[1]).join(' ');
    expect(clf.tokenizer.encode(long).length).toBeGreaterThan(MAX_LENGTH);
    const refused = await post(`${server.url}/predict`, { inputs: ['short', long], truncate: false });
    expect(refused.status).toBe(422);
    expect(refused.json.error).toBe(`input 1 has more than the model's limit of ${MAX_LENGTH} tokens; send "truncate": true to cut it`);
    const cut = await post(`${server.url}/classify`, { inputs: long, threshold: 0 });
    expect(cut.status).toBe(200);
    const want = await clf.predict(long, { threshold: 0 });
    expect(cut.json.labels).toEqual(want.labels);
    for (const l of want.labels) expect(Math.abs(cut.json.probabilities[l] - want.probabilities[l])).toBeLessThanOrEqual(1e-6);
  });

  test('body over --max-body → 413; more texts than --max-client-batch-size → 413; unknown route → 404', async () => {
    const big = await post(`${server.url}/predict`, { inputs: 'x'.repeat(25_000) });
    expect(big.status).toBe(413);
    expect(big.json).toEqual({ error: 'the request body is larger than the limit of 20000 bytes (--max-body)', error_type: 'Validation' });
    const many = await post(`${server.url}/predict`, { inputs: Array(9).fill('CT') });
    expect(many.status).toBe(413);
    expect(many.json.error).toBe('"inputs" holds 9 items, more than the limit of 8 per request (--max-client-batch-size)');
    const nf = await post(`${server.url}/generate`, { inputs: 'x' });
    expect(nf.status).toBe(404);
    expect(nf.json.error_type).toBe('NotFound');
  });

  test('GET /metrics is valid Prometheus text with requests, queue depth, batch sizes and a latency histogram', async () => {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const fams = parsePrometheus(await res.text());
    expect(fams.get('radbert_requests_total')?.type).toBe('counter');
    expect(fams.get('radbert_request_duration_seconds')?.type).toBe('histogram');
    expect(fams.get('radbert_batch_size')?.type).toBe('histogram');
    expect(fams.get('radbert_batch_tokens')?.type).toBe('histogram');
    expect(fams.get('radbert_queue_sequences')?.type).toBe('gauge');
    expect(sampleValue(fams, 'radbert_queue_sequences', 'radbert_queue_sequences')).toBe(0);
    expect(sampleValue(fams, 'radbert_requests_total', 'radbert_requests_total', { route: '/predict', status: '422' })).toBeGreaterThanOrEqual(14);
    expect(sampleValue(fams, 'radbert_requests_total', 'radbert_requests_total', { route: '/predict', status: '413' })).toBe(2);
    const okPredict = sampleValue(fams, 'radbert_requests_total', 'radbert_requests_total', { route: '/predict', status: '200' });
    expect(sampleValue(fams, 'radbert_request_duration_seconds', 'radbert_request_duration_seconds_count', { route: '/predict' })).toBeGreaterThanOrEqual(okPredict);
    expect(sampleValue(fams, 'radbert_inputs_total', 'radbert_inputs_total')).toBeGreaterThan(64);
  });

  test('one log line per request at --log info (JSON: method, url, status, ms, inputs)', async () => {
    const before = logLines.length;
    await post(`${server.url}/classify`, { inputs: [texts[0], texts[1]] });
    await fetch(`${server.url}/health`);
    await new Promise((r) => setTimeout(r, 50));
    const lines = logLines.slice(before).map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ msg: 'request', method: 'POST', url: '/classify', status: 200, inputs: 2 });
    expect(typeof lines[0].ms).toBe('number');
    expect(lines[1]).toMatchObject({ msg: 'request', method: 'GET', url: '/health', status: 200 });
  });
});

describeNative()('serve: back-pressure and graceful shutdown', () => {
  let clf: Classifier;
  let texts: string[];
  beforeAll(async () => {
    clf = await loadAwkward();
    const m = manifest(ensureFixtures());
    texts = m.texts_a;
  });
  afterAll(() => clf.close());

  test('a full queue → 503 with Retry-After and a JSON error; served normally once it drains', async () => {
    const gate = gatedQueue(clf, { maxQueue: 3 });
    const server = await startServer(clf, 'awkward', { port: 0, log: 'silent', queue: gate.queue });
    try {
      const first = post(`${server.url}/predict`, { inputs: texts[0] });
      await until(() => gate.started() === 1, 'the first forward');
      const queued = post(`${server.url}/predict`, { inputs: [texts[1], texts[2], texts[3]] });
      await until(() => server.queue.waitingSequences === 3, 'three waiting texts');
      const refused = await post(`${server.url}/predict`, { inputs: texts[4] });
      expect(refused.status).toBe(503);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(refused.json.error_type).toBe('Overloaded');
      expect(refused.json.error).toContain('the batching queue is full (3 sequences waiting, limit 3)');
      gate.open();
      expect((await first).status).toBe(200);
      expect((await queued).status).toBe(200);
      expect((await post(`${server.url}/predict`, { inputs: texts[4] })).status).toBe(200);
    } finally {
      gate.open();
      await server.app.close();
    }
  });

  test('close(): stops accepting, answers the requests in flight with their results, then frees the model', async () => {
    const own = await loadAwkward();
    const gate = gatedQueue(own);
    const server = await startServer(own, 'awkward', { port: 0, log: 'silent', queue: gate.queue });
    const want = await Promise.all(texts.slice(0, 3).map((t) => own.predict(t)));
    const inflight = texts.slice(0, 3).map((t) => post(`${server.url}/classify`, { inputs: t }));
    await until(() => gate.started() === 1 && server.queue.waitingSequences === 2, 'one running and two waiting requests');
    let closed = false;
    const closing = server.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));
    // no new connections (or, on a kept-alive one, a 503)
    const late = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(5000) }).then(
      (r) => r.status,
      (e: Error & { cause?: { code?: string } }) => e.cause?.code ?? e.message,
    );
    expect([503, 'ECONNREFUSED']).toContain(late);
    expect(closed).toBe(false);
    const t0 = Date.now();
    gate.open();
    const done = await Promise.all(inflight);
    done.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.json.labels).toEqual(want[i].labels);
    });
    await closing;
    expect(Date.now() - t0).toBeLessThan(10_000); // kept-alive sockets were ended, not waited out
    expect(own.closed).toBe(true);
  });
});
