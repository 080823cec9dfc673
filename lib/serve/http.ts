/**
 * The HTTP face of a classifier, on fastify: the route families (tei.ts, hf.ts, ops.ts) registered as plugins around
 * one RouteContext, and what applies to all of them: JSON bodies (read as UTF-8 JSON whatever the content type),
 * schema errors as sentences, JSON errors for everything, the API key, CORS, the OpenAPI document, metrics, one log
 * line per request, and limits on bodies, headers and slow clients. Every request's texts go through the BatchQueue,
 * so concurrent requests share packed forwards.
 */
import { isUtf8 } from 'node:buffer';
import cors from '@fastify/cors';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { apiKeyHook } from './auth';
import type { RouteContext, ServeModel } from './context';
import { checkProtocol, errorBody, HttpError, schemaError, toHttpError, writeClientError, type SchemaError } from './errors';
import { hfRoutes } from './hf';
import { tokenizeAll } from './inputs';
import { ServeMetrics } from './metrics';
import { isDocsRoute, registerOpenApi } from './openapi';
import { HEALTH_ROUTES, opsRoutes } from './ops';
import type { BatchQueue } from './queue';
import { LabelScores } from './scores';
import { teiRoutes } from './tei';

export type { ServeModel } from './context';
export { HttpError } from './errors';
export { parseInputs } from './inputs';

/** Log levels of --log. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
/** The levels --log accepts. */
export const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Default --max-body: 1 MB. */
export const DEFAULT_MAX_BODY = 1_000_000;
/** Default most texts in one request (TEI's max_client_batch_size). */
export const DEFAULT_MAX_CLIENT_BATCH_SIZE = 32;
/** Default --request-timeout: seconds a client has to send a whole request (headers and body). */
export const DEFAULT_REQUEST_TIMEOUT_S = 30;

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
  /** Every route but the health checks and the API docs needs `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey?: string;
  /** With apiKey: GET /metrics without the key too (a Prometheus scraper without credentials). Default false. */
  publicMetrics?: boolean;
  /** Origins browsers may call from (Access-Control-Allow-Origin): a list, or ['*'] for any. Default none (no CORS headers). */
  corsAllowOrigin?: string[];
  /** Seconds a client has to send a whole request; slower ones get 408 and are disconnected. Default DEFAULT_REQUEST_TIMEOUT_S. */
  requestTimeoutS?: number;
  /** One JSON log line per request at 'info' (pino, fastify's logger). Default 'info'. */
  log?: LogLevel;
  /** Where log lines go (default stdout). */
  logStream?: NodeJS.WritableStream;
  /** Package version shown by /info and the OpenAPI document. */
  version?: string;
}

function positiveInt(name: string, v: number): number {
  if (!(Number.isInteger(v) && v >= 1)) throw new Error(`${name} must be a positive integer, got ${v}`);
  return v;
}

/** Build the fastify app (not listening yet): plugins, routes, JSON errors, metrics, one log line per request. */
export async function buildServer(options: HttpOptions): Promise<{ app: FastifyInstance; metrics: ServeMetrics }> {
  const { model, queue } = options;
  const maxBody = positiveInt('maxBody', options.maxBody ?? DEFAULT_MAX_BODY);
  const maxClientBatchSize = positiveInt('maxClientBatchSize', options.maxClientBatchSize ?? DEFAULT_MAX_CLIENT_BATCH_SIZE);
  const requestTimeoutS = options.requestTimeoutS ?? DEFAULT_REQUEST_TIMEOUT_S;
  if (!(requestTimeoutS > 0 && Number.isFinite(requestTimeoutS))) throw new Error(`requestTimeoutS must be a positive number of seconds, got ${requestTimeoutS}`);
  const level = options.log ?? 'info';
  if (!LOG_LEVELS.includes(level)) throw new Error(`log must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  if (options.apiKey !== undefined && (typeof options.apiKey !== 'string' || options.apiKey.length === 0)) throw new Error('apiKey must be a non-empty string');
  const requestTimeout = Math.round(requestTimeoutS * 1000);

  const app = Fastify({
    logger: level === 'silent' ? false : { level, base: null, ...(options.logStream ? { stream: options.logStream } : {}) },
    logController: new LogController({ disableRequestLogging: true }), // our onResponse hook writes one line per request
    bodyLimit: maxBody,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Node checks its request timeouts every connectionsCheckingInterval (default 30 s): check often enough to honour ours
    requestTimeout,
    // requireHostHeader off: Node's own 400 for a missing Host has no body; checkProtocol answers it as JSON instead
    http: { connectionsCheckingInterval: Math.min(1000, requestTimeout), headersTimeout: requestTimeout, requireHostHeader: false },
    clientErrorHandler: writeClientError,
    // no coercion ("inputs": 42 is an error, not "42"), defaults from the schemas, ajv's data in errors for the messages
    ajv: { customOptions: { allowUnionTypes: true, coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false, verbose: true } },
    schemaErrorFormatter: (errors) => schemaError(errors as unknown as SchemaError[], '--max-client-batch-size'),
  });
  const metrics = new ServeMetrics(queue);
  const unsubscribe = queue.onBatch((s) => metrics.observeBatch(s));
  app.addHook('onClose', async () => {
    unsubscribe();
  });

  // Any content type is read as JSON (curl -d sends form-urlencoded by default); bad UTF-8 or JSON is a 422.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => {
    const buf = body as Buffer;
    if (!isUtf8(buf)) return done(new HttpError(422, 'the body is not valid UTF-8'), undefined);
    const text = buf.toString('utf8');
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
    void reply.code(404).send(errorBody(`no route ${req.method} ${req.url}; see GET /docs or /openapi.json`, 'NotFound'));
  });

  app.addHook('onRequest', checkProtocol);
  if (options.corsAllowOrigin?.length) {
    const origins = options.corsAllowOrigin;
    await app.register(cors, { origin: origins.includes('*') ? '*' : origins, methods: ['GET', 'POST'], exposedHeaders: ['retry-after'], maxAge: 600 });
  }
  if (options.apiKey !== undefined) {
    // GET (and HEAD) of the health checks, the docs and optionally /metrics; POST / is the HF task, behind the key
    const open = new Set([...HEALTH_ROUTES, ...(options.publicMetrics ? ['/metrics'] : [])]);
    const isPublic = (method: string, url: string) => (method === 'GET' || method === 'HEAD') && (open.has(url) || isDocsRoute(url));
    app.addHook('onRequest', apiKeyHook({ key: options.apiKey, isPublic }));
  }
  await registerOpenApi(app, { version: options.version, apiKey: options.apiKey !== undefined });

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

  const inputsOf = new WeakMap<FastifyRequest, number>();
  app.addHook('onResponse', (req: FastifyRequest, reply: FastifyReply, done) => {
    const seconds = reply.elapsedTime / 1000;
    const route = req.routeOptions.url ?? 'other';
    const inputs = inputsOf.get(req) ?? 0;
    metrics.observeRequest(route, reply.statusCode, seconds, inputs);
    req.log.info({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(seconds * 1e4) / 10, inputs }, 'request');
    done();
  });

  const ctx: RouteContext = {
    model,
    queue,
    scores: new LabelScores(model.labels),
    maxClientBatchSize,
    countInputs: (req, n) => inputsOf.set(req, n),
    logits(req, texts, truncate) {
      const seqs = tokenizeAll(model, texts, truncate);
      inputsOf.set(req, texts.length);
      return queue.run(seqs);
    },
  };
  await app.register(opsRoutes, { ctx, metrics, info: { modelId: options.modelId, dtype: options.dtype, maxBody, version: options.version } });
  await app.register(teiRoutes, ctx);
  await app.register(hfRoutes, ctx);
  return { app, metrics };
}
