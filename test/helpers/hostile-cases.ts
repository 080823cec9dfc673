/**
 * Seeded hostile requests for `serve` (test/serve-hostility.test.ts): each case is the raw bytes of a request (or a
 * way of sending them) and the statuses a correct server answers it with. Same seed, same cases.
 */
import { mulberry32 } from '../../lib/data/demo';
import { httpRequest, pieces, type RawRequest } from './raw-http';

/** One hostile request and what must come back. */
export interface HostileCase {
  category: string;
  name: string;
  request: RawRequest;
  /** Acceptable statuses; [] = no answer expected (the client went away). */
  expect: number[];
}

/** What the generator needs to know about the server under test. */
export interface HostileTarget {
  apiKey: string;
  maxBody: number;
  maxClientBatchSize: number;
  /** Seconds the server gives a client to send a request. */
  requestTimeoutS: number;
  /** Real captions (valid inputs). */
  texts: string[];
}

/** Generate the cases. */
export function hostileCases(seed: number, target: HostileTarget): HostileCase[] {
  const rand = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const auth: Array<[string, string]> = [['Authorization', `Bearer ${target.apiKey}`]];
  const json: Array<[string, string]> = [...auth, ['Content-Type', 'application/json']];
  const cases: HostileCase[] = [];
  const add = (category: string, name: string, bytes: Buffer | RawRequest, expect: number[]) =>
    cases.push({ category, name, request: Buffer.isBuffer(bytes) ? { pieces: [bytes] } : bytes, expect });
  const post = (route: string, body: string | Buffer, headers = json) => httpRequest('POST', route, headers, body);
  const text = () => pick(target.texts);
  const POST_ROUTES = ['/predict', '/invocations', '/', '/classify', '/embed', '/tokenize'] as const;

  // 1. bodies that are not JSON: mutations of valid ones (only those JSON.parse refuses), and junk
  for (let i = 0; i < 150; i++) {
    const valid = JSON.stringify({ inputs: rand() < 0.5 ? text() : [text(), text()], ...(rand() < 0.3 ? { top_k: 3 } : {}) });
    let bad: string;
    do {
      const at = int(0, valid.length - 1);
      const op = int(0, 4);
      bad =
        op === 0 ? valid.slice(0, at) // truncated
        : op === 1 ? valid.slice(0, at) + pick(['{', '}', '[', ']', ',', ':', '"', '\\', "'", 'NaN', 'undefined', '//']) + valid.slice(at)
        : op === 2 ? valid.slice(0, at) + valid.slice(at + 1) // a character dropped
        : op === 3 ? valid + pick(['}', ' x', ',', ']', '{}', '\u0000'])
        : valid.replace(/"/g, "'");
    } while (parses(bad) || bad.trim() === '');
    add('invalid JSON', `mutation ${i}`, post(pick(POST_ROUTES), bad), [422]);
  }
  for (const junk of ['{', '[]]', 'null', 'nul', 'true', '"inputs"', '1e999999', '{"inputs": "a",}', '{inputs: "a"}', '\u0000\u0001']) {
    add('invalid JSON', `junk ${JSON.stringify(junk)}`, post('/predict', junk), [422]);
  }

  // 2. well-formed JSON of the wrong shape or types, route by route
  const wrong: unknown[] = [42, -1, 0.5, true, false, null, {}, { a: 1 }, [], [1], [[]], [null], [{}], [[1]], [['a', 'b']], [['a', 'b', 'c']], ''];
  const notText = wrong.filter((v) => v !== '');
  const notBool = [0, 1, 'true', 'yes', null, [], {}];
  const notPositiveInt = [0, -3, 1.5, '3', null, true, [], {}, 1e400];
  for (let i = 0; i < 220; i++) {
    const route = pick(POST_ROUTES);
    const kind = int(0, 5);
    let body: Record<string, unknown> | unknown;
    if (kind === 0) body = pick([42, 'text', null, true, [], [1, 2]]); // not an object
    else if (kind === 1) body = { [pick(['input', 'text', 'Inputs', 'data', 'ids'])]: text() }; // no "inputs"
    else if (kind === 2) body = { inputs: pick(notText) };
    else if (kind === 3 && (route === '/predict' || route === '/invocations'))
      body = { inputs: text(), ...pick([{ raw_scores: pick(notBool) }, { truncate: pick(notBool) }, { top_k: pick(notPositiveInt) }, { threshold: pick(['0.5', null, [], {}]) }, { truncation_direction: pick(['Left', 'left', 'middle']) }]) };
    else if (kind === 3 && route === '/')
      body = { inputs: text(), parameters: pick([42, 'x', [], { function_to_apply: pick(['tanh', 'SIGMOID', 1, null]) }, { top_k: pick(notPositiveInt) }, { truncation: pick(notBool) }]) };
    else if (kind === 3 && route === '/embed') body = { inputs: text(), ...pick([{ normalize: pick(notBool) }, { truncate: pick(notBool) }]) };
    else if (kind === 3 && route === '/tokenize') body = { inputs: text(), add_special_tokens: pick(notBool) };
    else if (kind === 3) body = { inputs: text(), threshold: pick(['high', null, [], {}]) };
    else if (kind === 4) body = { inputs: [text(), pick(notText)] };
    else body = { inputs: text(), truncate: false, ...(route === '/' ? { parameters: { truncation: false } } : {}), long: true };
    if (kind === 5) {
      // a text far over the model's limit with truncation off (only the routes that tokenise for the model check it)
      const long = Array.from({ length: 40 }, text).join(' ');
      const b = route === '/' ? { inputs: long, parameters: { truncation: false } } : { inputs: long, truncate: false };
      add('wrong types', `${route} over the limit, truncate off`, post(route, JSON.stringify(b)), route === '/tokenize' ? [200] : [422]);
      continue;
    }
    add('wrong types', `${route} ${JSON.stringify(body).slice(0, 60)}`, post(route, JSON.stringify(body)), [422]);
  }
  const decodeWrong: unknown[] = [{ ids: [] }, { ids: 'x' }, { ids: [1, 'a'] }, { ids: [1, [2]] }, { ids: [-1] }, { ids: [1.5] }, { ids: [[]] }, { ids: null }, { id: [1] }, { ids: [1], skip_special_tokens: 'no' }];
  for (const b of decodeWrong) add('wrong types', `/decode ${JSON.stringify(b)}`, post('/decode', JSON.stringify(b)), [422]);

  // 3. valid but odd inputs: every route answers 200 with JSON
  const odd = ['', ' ', '\u0000', '\ud800', '\udfff x', 'x\ud83d', '🫁🩻 CT', 'تصوير مقطعي', '\u202e\u202d', 'a\r\nb\tc', '[CLS] [SEP] [MASK] [PAD]', '\\', '"', 'é'.normalize('NFD'), '\ufeff', `${'x'.repeat(4000)} ${'y'.repeat(4000)}`, '😀'.repeat(2000), 'the chest x ray '.repeat(1500)];
  for (let i = 0; i < 120; i++) {
    const route = pick([...POST_ROUTES, '/decode'] as const);
    const t = rand() < 0.6 ? pick(odd) : text();
    const body = route === '/decode' ? { ids: rand() < 0.5 ? [int(0, 60000), int(0, 2 ** 31 - 1)] : [[int(0, 50367)], [1, 2, 3]] } : route === '/' ? { inputs: rand() < 0.5 ? t : [t, text()], parameters: { function_to_apply: pick(['sigmoid', 'softmax', 'none']), top_k: int(1, 12) } } : { inputs: rand() < 0.5 ? t : [t, text()] };
    add('odd but valid', `${route} ${JSON.stringify(body).slice(0, 50)}`, post(route, JSON.stringify(body)), [200]);
  }

  // 3b. a run of more than 4096 characters without whitespace (the tokenizer's BPE is superlinear on one): 422
  for (let i = 0; i < 20; i++) {
    const unit = pick(['x', 'ab', '7', '°', '😀', 'é']);
    const len = int(4097, 50_000);
    const run = unit.repeat(Math.ceil(len / unit.length)).slice(0, len);
    const route = pick(POST_ROUTES);
    const body = JSON.stringify(route === '/' ? { inputs: `CT ${run} chest`, parameters: {} } : { inputs: `CT ${run} chest` });
    add('long runs', `${route} a run of ${run.length} characters`, post(route, body), Buffer.byteLength(body) > target.maxBody ? [413] : [422]);
  }

  // 4. huge arrays: over --max-client-batch-size (413), over --max-body (413), huge id lists
  for (let i = 0; i < 80; i++) {
    const n = pick([target.maxClientBatchSize + 1, int(target.maxClientBatchSize + 1, 200), int(1000, 20_000)]);
    const route = pick(POST_ROUTES);
    const body = JSON.stringify(route === '/' ? { inputs: Array(n).fill('CT'), parameters: {} } : { inputs: Array(n).fill('CT') });
    add('huge arrays', `${route} ${n} inputs (${body.length} bytes)`, post(route, body), [413]);
  }
  for (let i = 0; i < 20; i++) {
    const n = int(10, 40_000);
    const body = JSON.stringify({ ids: Array.from({ length: n }, () => int(0, 50000)) });
    add('huge arrays', `/decode ${n} ids (${body.length} bytes)`, post('/decode', body), body.length > target.maxBody ? [413] : [200]);
  }
  for (let i = 0; i < 10; i++) {
    const n = int(target.maxClientBatchSize + 1, 500);
    add('huge arrays', `/decode ${n} lists`, post('/decode', JSON.stringify({ ids: Array(n).fill([1]) })), [413]);
  }

  // 5. deep nesting: in inputs (422), in parameters (422), in an unknown field (ignored: 200), or too big (413)
  for (let i = 0; i < 60; i++) {
    const depth = pick([int(3, 50), int(100, 5000), int(10_000, 60_000)]);
    const nested = '['.repeat(depth) + '"x"' + ']'.repeat(depth);
    const where = int(0, 2);
    const body = where === 0 ? `{"inputs": ${nested}}` : where === 1 ? `{"inputs": "x", "parameters": ${nested}}` : `{"inputs": "x", "extra": ${nested}}`;
    const route = where === 1 ? '/' : '/predict';
    const expect = body.length > target.maxBody ? [413] : where === 2 ? [200] : [422];
    add('deep nesting', `${route} depth ${depth} in ${['inputs', 'parameters', 'an unknown field'][where]}`, post(route, body), expect);
  }

  // 6. invalid UTF-8 inside otherwise valid bodies
  const badUtf8 = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0x80], [0xe2, 0x82], [0xf5, 0x80, 0x80, 0x80], [0xf0, 0x9f, 0x98], [0xc3], [0xfe, 0xff]];
  for (let i = 0; i < 100; i++) {
    const t = text();
    const at = int(0, t.length);
    const seq = Buffer.from(pick(badUtf8));
    const body = Buffer.concat([Buffer.from(`{"inputs": "${t.slice(0, at).replace(/["\\]/g, '')}`), seq, Buffer.from(`${t.slice(at).replace(/["\\]/g, '')}"}`)]);
    add('invalid UTF-8', `bytes ${seq.toString('hex')} in a text`, post(pick(POST_ROUTES), body), [422]);
  }

  // 7. authentication: missing, wrong, other schemes, near misses (401); variants of the right key (200)
  const key = target.apiKey;
  const wrongAuth = [
    undefined, '', 'Bearer', 'Bearer ', `Basic ${Buffer.from(`user:${key}`).toString('base64')}`, `Token ${key}`, key, `Bearer ${key}x`, `Bearer x${key}`,
    `Bearer ${key.slice(0, -1)}`, `Bearer ${key.toUpperCase()}`, `Bearer ${key} extra`, `Bearer  ${key}\u0000`, `Bearer ${'k'.repeat(4000)}`, `Bearer "${key}"`, `Bearer ${encodeURIComponent(key + '/')}`, `Bearer${key}`,
  ];
  for (let i = 0; i < 130; i++) {
    const route = pick([...POST_ROUTES, '/decode', '/info', '/metrics'] as const);
    const a = rand() < 0.15 ? pick([`bearer ${key}`, `BEARER ${key}`, `Bearer   ${key}`]) : pick(wrongAuth);
    const headers: Array<[string, string]> = [['Content-Type', 'application/json'], ...(a === undefined ? [] : [['Authorization', a] as [string, string]])];
    const ok = a !== undefined && /^bearer +/i.test(a) && a.replace(/^bearer +/i, '') === key;
    const get = route === '/info' || route === '/metrics';
    const body = route === '/decode' ? '{"ids": [1, 2]}' : route === '/' ? `{"inputs": ${JSON.stringify(text())}, "parameters": {"top_k": 2}}` : `{"inputs": ${JSON.stringify(text())}}`;
    // a control character in a header value is malformed HTTP (400 from Node's parser) before any key check
    const expect = a !== undefined && /[\u0000-\u0008\u000a-\u001f]/.test(a) ? [400] : ok ? [200] : [401];
    add('bad auth', `${route} with ${a === undefined ? 'no header' : JSON.stringify(a.slice(0, 30))}`, get ? httpRequest('GET', route, headers) : post(route, body, headers), expect);
  }

  // 8. oversized headers and request lines (Node's limit is 16 KiB): 431
  for (let i = 0; i < 40; i++) {
    const size = int(17_000, 80_000);
    const kind = int(0, 2);
    const headers: Array<[string, string]> = kind === 0 ? [...json, ['X-Big', 'a'.repeat(size)]] : kind === 1 ? [...json, ...Array.from({ length: Math.ceil(size / 1000) }, (_, j) => [`X-H${j}`, 'b'.repeat(990)] as [string, string])] : json;
    const target_ = kind === 2 ? `/predict?${'q'.repeat(size)}` : '/predict';
    add('oversized headers', `${['one header', 'many headers', 'a long URL'][kind]} of ${size} bytes`, httpRequest('POST', target_, headers, '{"inputs": "CT"}'), [431]);
  }

  // 9. wrong methods and unknown routes: 404 (HEAD of a GET route: 200); with the key, so the route is what fails
  const paths = ['/predictt', '/Predict', '/predict/', '/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/%00', '/predict%00', '/docs/../openapi.json/x', '/metrics/x', '/v1/embeddings', '/rerank', '/generate', '/index.html', '/' + 'x'.repeat(3000)];
  for (let i = 0; i < 80; i++) {
    const kind = int(0, 2);
    if (kind === 0) add('routes and methods', `POST ${pick(paths).slice(0, 40)}`, post(pick(paths), '{"inputs": "CT"}'), [404]);
    else if (kind === 1) {
      const [m, p] = pick([['GET', '/predict'], ['PUT', '/predict'], ['DELETE', '/'], ['PATCH', '/classify'], ['GET', '/embed'], ['POST', '/health'], ['POST', '/info'], ['DELETE', '/metrics'], ['OPTIONS', '/predict']] as const);
      add('routes and methods', `${m} ${p}`, httpRequest(m, p, json, m === 'GET' ? undefined : '{"inputs": "CT"}'), [404]);
    } else add('routes and methods', 'HEAD /health', httpRequest('HEAD', '/health', []), [200]);
  }

  // 10. malformed HTTP: Node's parser refuses these before any route (400, as JSON)
  const malformed = [
    'GARBAGE\r\n\r\n', 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n',
    'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{"a":1}', 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n', 'POST /predict HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n', 'POST /predict HTTP/1.1\r\nHost: x\r\nX: a\u0000b\r\n\r\n',
    'POST /predict HTTP/9.9\r\nHost: x\r\n\r\n', 'POST /predict\r\n\r\n', 'POST /predict HTTP/1.1\r\n\r\n', ' / HTTP/1.1\r\nHost: x\r\n\r\n', 'POST /predict HTTP/1.1\nHost: x\n\n\u0001\u0002',
    'POST http://evil.example/predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}', 'POST /pre dict HTTP/1.1\r\nHost: x\r\n\r\n', 'POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked, identity\r\n\r\n',
  ];
  // what Node's parser accepts but HTTP/1.1 does not, answered by the server: no version (read as HTTP/0.9) 505, no Host
  // 400; an absolute URL is a valid request line (routed by its path, so without the key: 401)
  const status = (m: string) => (m.startsWith('POST /predict\r\n') ? [505] : m.startsWith('POST http://') ? [401] : [400]);
  for (let i = 0; i < 64; i++) {
    const m = malformed[i % malformed.length];
    add('malformed HTTP', JSON.stringify(m.slice(0, 50)), Buffer.from(m, 'latin1'), status(m));
  }

  // 11. content types: whatever media type the header names, the body is read as JSON; a header that is no media type: 415
  const notMediaTypes = [';;;', 'application/json'.repeat(50)];
  for (let i = 0; i < 40; i++) {
    const ct = pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/json; charset=latin1', 'image/png', '*/*', ...notMediaTypes]);
    add('content types', ct.slice(0, 40), post('/predict', JSON.stringify({ inputs: text() }), [...auth, ['Content-Type', ct]]), notMediaTypes.includes(ct) ? [415] : [200]);
  }

  // 12. slow clients: a body trickled past --request-timeout, headers that never end, a Content-Length never met (408)
  const slowMs = Math.ceil((target.requestTimeoutS * 1000) / 6);
  for (let i = 0; i < 4; i++) {
    const req = post('/predict', JSON.stringify({ inputs: text().slice(0, 30) }));
    const headEnd = req.indexOf('\r\n\r\n') + 4;
    add('slow clients', `body trickled one byte every ${slowMs} ms`, { pieces: [req.subarray(0, headEnd), ...pieces(req.subarray(headEnd), 1)], delayMs: slowMs, timeoutMs: 30_000 }, [408]);
  }
  for (let i = 0; i < 3; i++) {
    const req = post('/predict', '{"inputs": "CT"}');
    add('slow clients', 'headers trickled', { pieces: pieces(req, 3), delayMs: slowMs, timeoutMs: 30_000 }, [408]);
  }
  for (let i = 0; i < 3; i++) {
    add('slow clients', 'Content-Length never met', { pieces: [httpRequest('POST', '/predict', [...json, ['Content-Length', '100']], '{"inputs": "C')], timeoutMs: 30_000 }, [408]);
  }

  // 13. clients that go away half way: no answer expected, nothing may break
  for (let i = 0; i < 20; i++) {
    const req = post(pick(POST_ROUTES), JSON.stringify({ inputs: [text(), text()] }));
    add('dropped connections', `after ${i % 2 ? 'half the body' : 'the headers'}`, { pieces: [req.subarray(0, i % 2 ? Math.floor(req.length * 0.7) : req.indexOf('\r\n\r\n') + 4)], abortAfterSend: true }, []);
  }
  return cases;
}

function parses(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}
