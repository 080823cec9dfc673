/**
 * The HTTP face of a classifier, on fastify, with the endpoints of Hugging Face's text-embeddings-inference (TEI):
 * POST /predict, GET /health, GET /info, GET /metrics, plus POST /classify (predict()'s {labels, probabilities}).
 * Every request's texts go through the BatchQueue, so concurrent requests share packed forwards.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { toPrediction } from '../model/classifier';
import { sigmoid, thresholdOf, type Threshold } from '../eval/metrics';
import { ServeMetrics } from './metrics';
import { QueueClosedError, QueueFullError, type BatchQueue } from './queue';

/** What the HTTP layer needs from a model besides its queue. */
export interface ServeModel {
  /** Label names in output order. */
  readonly labels: string[];
  /** Longest input in tokens, special tokens included. */
  readonly maxLength: number;
  /** Token ids with special tokens, truncated to maxLength when it is given. */
  encode(text: string, maxLength?: number): number[];
  /**
   * The model's tuned thresholds (one per label, from thresholds.json): what /predict cuts at when a request gives no
   * `threshold`, and /classify instead of 0.5. Undefined: /predict returns every label, /classify cuts at 0.5.
   */
  thresholds?: ArrayLike<number>;
  /** How those thresholds were tuned ("global 0.2734", "per-label (…)"), for /info. */
  thresholdsDescription?: string;
}

/** Log levels of --log. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
/** The levels --log accepts. */
export const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Default --max-body: 1 MB. */
export const DEFAULT_MAX_BODY = 1_000_000;
/** Default most texts in one request (TEI's max_client_batch_size). */
export const DEFAULT_MAX_CLIENT_BATCH_SIZE = 32;

/** Options of buildServer(). */
export interface HttpOptions {
  model: ServeModel;
  queue: BatchQueue;
  /** Shown by /info (a folder or a Hub id). */
  modelId: string;
  /** 'float32' or 'bfloat16' (autocast), shown by /info. */
  dtype: string;
  /** Largest request body in bytes (413 above it). Default DEFAULT_MAX_BODY. */
  maxBody?: number;
  /** Most texts in one request (413 above it). Default DEFAULT_MAX_CLIENT_BATCH_SIZE. */
  maxClientBatchSize?: number;
  /** One JSON log line per request at 'info' (pino, fastify's logger). Default 'info'. */
  log?: LogLevel;
  /** Where log lines go (default stdout). */
  logStream?: NodeJS.WritableStream;
  /** Package version shown by /info. */
  version?: string;
}

/** An error with its HTTP status and TEI's error_type. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errorType = 'Validation',
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

interface ParsedInputs {
  texts: string[];
  /** true for `"inputs": "text"` (answered with one item); a list is always a batch. */
  single: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `inputs`: "text" → one; ["t1", "t2"] → a batch (as HF pipelines and predict() take it); TEI's batch form
 * [["t1"], ["t2"]] → a batch. Sentence pairs (["a", "b"] inside a batch) are refused: a classifier of single texts.
 */
export function parseInputs(inputs: unknown, maxClientBatchSize: number): ParsedInputs {
  if (inputs === undefined) throw new HttpError(422, 'the body needs "inputs": a text or a list of texts, e.g. {"inputs": "CT of the chest"}');
  if (typeof inputs === 'string') return { texts: [inputs], single: true };
  if (!Array.isArray(inputs)) throw new HttpError(422, `"inputs" must be a text or a list of texts, got ${inputs === null ? 'null' : typeof inputs}`);
  if (inputs.length === 0) throw new HttpError(422, '"inputs" is an empty list: send at least one text');
  if (inputs.length > maxClientBatchSize)
    throw new HttpError(413, `"inputs" holds ${inputs.length} texts, more than the limit of ${maxClientBatchSize} per request (--max-client-batch-size)`);
  const texts = inputs.map((x, i) => {
    if (typeof x === 'string') return x;
    if (Array.isArray(x) && x.length === 1 && typeof x[0] === 'string') return x[0];
    if (Array.isArray(x) && x.length === 2 && x.every((y) => typeof y === 'string'))
      throw new HttpError(422, `"inputs"[${i}] is a sentence pair; this model classifies single texts`);
    throw new HttpError(422, `"inputs"[${i}] must be a text, got ${x === null ? 'null' : Array.isArray(x) ? 'a list' : typeof x}`);
  });
  return { texts, single: false };
}

function optBool(body: Record<string, unknown>, key: string, def: boolean): boolean {
  const v = body[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') throw new HttpError(422, `"${key}" must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function optNumber(body: Record<string, unknown>, key: string): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new HttpError(422, `"${key}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function optTopK(body: Record<string, unknown>): number | undefined {
  const v = optNumber(body, 'top_k');
  if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new HttpError(422, `"top_k" must be a positive integer, got ${v}`);
  return v;
}

function bodyObject(body: unknown): Record<string, unknown> {
  if (!isObject(body)) throw new HttpError(422, 'the body must be a JSON object, e.g. {"inputs": "CT of the chest"}');
  return body;
}

/** Tokenise one input; over-long texts are cut (truncate) or refused (422). */
function tokenize(model: ServeModel, text: string, index: number, truncate: boolean): number[] {
  const ids = model.encode(text);
  if (ids.length <= model.maxLength) return ids;
  if (!truncate)
    throw new HttpError(
      422,
      `input ${index} has ${ids.length} tokens, more than the model's limit of ${model.maxLength}; send "truncate": true to cut it`,
    );
  return model.encode(text, model.maxLength);
}

/** A JSON number as JSON.stringify writes it (NaN and ±Infinity become null). */
const jsonNumber = (x: number) => (Number.isFinite(x) ? String(x) : 'null');

/**
 * TEI's prediction list of one row as JSON text: every label with its score (sigmoid, or the logit with rawScores),
 * best first; threshold (on the probability) and topK narrow it. Written directly (no intermediate objects): with
 * thousands of labels this is most of a request's time outside the forward.
 */
export function scoredJson(labels: string[], quotedLabels: string[], row: ArrayLike<number>, rawScores: boolean, threshold?: Threshold, topK?: number): string {
  const n = labels.length;
  const score = new Float64Array(n);
  const keep: number[] = [];
  const thr = threshold === undefined ? undefined : thresholdOf(threshold, n);
  for (let i = 0; i < n; i++) {
    const p = sigmoid(row[i]);
    score[i] = rawScores ? row[i] : p;
    if (thr === undefined || p > thr(i)) keep.push(i);
  }
  keep.sort((a, b) => score[b] - score[a] || (labels[a] < labels[b] ? -1 : 1));
  const m = topK === undefined ? keep.length : Math.min(topK, keep.length);
  let out = '[';
  for (let j = 0; j < m; j++) out += `${j ? ',' : ''}{"label":${quotedLabels[keep[j]]},"score":${jsonNumber(score[keep[j]])}}`;
  return out + ']';
}

function errorBody(message: string, errorType: string): { error: string; error_type: string } {
  return { error: message, error_type: errorType };
}

/** Map anything thrown in a route (or by fastify itself) to a status and TEI's JSON error body. */
function toHttpError(err: unknown, maxBody: number): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof QueueFullError) return new HttpError(503, err.message, 'Overloaded', { 'retry-after': String(err.retryAfterSeconds) });
  if (err instanceof QueueClosedError) return new HttpError(503, 'the server is shutting down', 'Unhealthy', { 'retry-after': '1' });
  const e = err as { code?: string; statusCode?: number; message?: string };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new HttpError(413, `the request body is larger than the limit of ${maxBody} bytes (--max-body)`);
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return new HttpError(e.statusCode, e.message ?? 'bad request');
  return new HttpError(500, `radbert-native: ${e.message ?? String(err)}`, 'Backend');
}

/** Build the fastify app (not listening yet): routes, JSON errors, metrics, one log line per request. */
export function buildServer(options: HttpOptions): { app: FastifyInstance; metrics: ServeMetrics } {
  const { model, queue } = options;
  const maxBody = options.maxBody ?? DEFAULT_MAX_BODY;
  const maxClientBatchSize = options.maxClientBatchSize ?? DEFAULT_MAX_CLIENT_BATCH_SIZE;
  if (!(Number.isInteger(maxBody) && maxBody >= 1)) throw new Error(`maxBody must be a positive integer (bytes), got ${maxBody}`);
  if (!(Number.isInteger(maxClientBatchSize) && maxClientBatchSize >= 1))
    throw new Error(`maxClientBatchSize must be a positive integer, got ${maxClientBatchSize}`);
  const level = options.log ?? 'info';
  if (!LOG_LEVELS.includes(level)) throw new Error(`log must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);

  const app = Fastify({
    logger: level === 'silent' ? false : { level, base: null, ...(options.logStream ? { stream: options.logStream } : {}) },
    logController: new LogController({ disableRequestLogging: true }), // our onResponse hook writes one line per request
    bodyLimit: maxBody,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  const metrics = new ServeMetrics(queue);
  const unsubscribe = queue.onBatch((s) => metrics.observeBatch(s));
  app.addHook('onClose', async () => {
    unsubscribe();
  });
  const inputsOf = new WeakMap<FastifyRequest, number>();

  // Any content type is read as JSON (curl -d sends form-urlencoded by default); a parse failure is a 422.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(new HttpError(422, 'the body is empty: send a JSON object, e.g. {"inputs": "CT of the chest"}'), undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new HttpError(422, `the body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  });

  app.setErrorHandler((err, _req, reply) => {
    const h = toHttpError(err, maxBody);
    if (h.status >= 500 && h.errorType === 'Backend') reply.log.error({ err }, 'request failed');
    void reply.code(h.status).headers(h.headers).send(errorBody(h.message, h.errorType));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody(`no route ${req.method} ${req.url}; see GET /info and the README`, 'NotFound'));
  });

  // While closing, answer in-flight requests with Connection: close, so kept-alive sockets end and close() returns
  // without waiting for their keep-alive timeout.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    if (closing) void reply.header('connection', 'close');
    return payload;
  });

  app.addHook('onResponse', (req: FastifyRequest, reply: FastifyReply, done) => {
    const seconds = reply.elapsedTime / 1000;
    const route = req.routeOptions.url ?? 'other';
    const inputs = inputsOf.get(req) ?? 0;
    metrics.observeRequest(route, reply.statusCode, seconds, inputs);
    req.log.info({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(seconds * 1e4) / 10, inputs }, 'request');
    done();
  });

  async function logitsOf(req: FastifyRequest, texts: string[], truncate: boolean): Promise<Float32Array> {
    const seqs = texts.map((t, i) => tokenize(model, t, i, truncate));
    inputsOf.set(req, texts.length);
    return queue.run(seqs);
  }

  const k = model.labels.length;
  const rows = (logits: Float32Array, n: number) => Array.from({ length: n }, (_, i) => logits.subarray(i * k, (i + 1) * k));

  const quotedLabels = model.labels.map((l) => JSON.stringify(l));
  app.post('/predict', async (req, reply) => {
    const body = bodyObject(req.body);
    const { texts, single } = parseInputs(body.inputs, maxClientBatchSize);
    const truncate = optBool(body, 'truncate', true);
    const direction = body.truncation_direction;
    if (direction !== undefined && direction !== null && !(typeof direction === 'string' && /^right$/i.test(direction)))
      throw new HttpError(422, `"truncation_direction" ${JSON.stringify(direction)} is not supported (only "right")`);
    const rawScores = optBool(body, 'raw_scores', false);
    const threshold = optNumber(body, 'threshold') ?? model.thresholds;
    const topK = optTopK(body);
    const logits = await logitsOf(req, texts, truncate);
    const out = rows(logits, texts.length).map((r) => scoredJson(model.labels, quotedLabels, r, rawScores, threshold, topK));
    return reply.type('application/json; charset=utf-8').send(single ? out[0] : `[${out.join(',')}]`);
  });

  app.post('/classify', async (req) => {
    const body = bodyObject(req.body);
    const { texts, single } = parseInputs(body.inputs, maxClientBatchSize);
    const truncate = optBool(body, 'truncate', true);
    const threshold = optNumber(body, 'threshold') ?? model.thresholds ?? 0.5;
    const logits = await logitsOf(req, texts, truncate);
    const out = rows(logits, texts.length).map((r) => toPrediction(model.labels, r, threshold));
    return single ? out[0] : out;
  });

  app.get('/health', async () => ({ status: 'ok' }));

  const id2label = Object.fromEntries(model.labels.map((l, i) => [String(i), l]));
  const label2id = Object.fromEntries(model.labels.map((l, i) => [l, i]));
  app.get('/info', async () => ({
    model_id: options.modelId,
    model_sha: null,
    model_dtype: options.dtype,
    model_type: { classifier: { id2label, label2id } },
    max_queue: Number.isFinite(queue.maxQueue) ? queue.maxQueue : null,
    max_input_length: model.maxLength,
    max_batch_tokens: queue.maxBatchTokens,
    max_batch_requests: queue.maxBatchSize,
    max_client_batch_size: maxClientBatchSize,
    max_body_bytes: maxBody,
    auto_truncate: true,
    tokenization_workers: 1,
    version: options.version ?? null,
    router: 'radbert-native',
    decision_thresholds: model.thresholdsDescription ?? null,
  }));

  app.get('/metrics', async (_req, reply) => {
    void reply.header('content-type', metrics.contentType);
    return metrics.text();
  });

  return { app, metrics };
}
