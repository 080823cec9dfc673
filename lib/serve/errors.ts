/**
 * Every error the server answers is JSON `{"error": "...", "error_type": "..."}` (TEI's body) with its status: errors
 * thrown by routes, requests the route schemas refuse (ajv errors turned into sentences), fastify's own errors, and the
 * ones Node's HTTP parser raises before a request exists (bad HTTP, oversized headers, a body that never finishes).
 */
import type { Socket } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { QueueClosedError, QueueFullError } from './queue';

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

/** TEI's error body. */
export function errorBody(message: string, errorType: string): { error: string; error_type: string } {
  return { error: message, error_type: errorType };
}

/** Map anything thrown in a route (or by fastify itself) to a status and TEI's JSON error body. */
export function toHttpError(err: unknown, maxBody: number): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof QueueFullError) return new HttpError(503, err.message, 'Overloaded', { 'retry-after': String(err.retryAfterSeconds) });
  if (err instanceof QueueClosedError) return new HttpError(503, 'the server is shutting down', 'Unhealthy', { 'retry-after': '1' });
  const e = err as { code?: string; statusCode?: number; message?: string };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new HttpError(413, `the request body is larger than the limit of ${maxBody} bytes (--max-body)`);
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new HttpError(415, 'the Content-Type header is not a media type: send application/json, or no Content-Type');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return new HttpError(e.statusCode, e.message ?? 'bad request');
  return new HttpError(500, `radbert-native: ${e.message ?? String(err)}`, 'Backend');
}

/**
 * An onRequest hook for what Node's parser lets through but HTTP/1.1 refuses: a request line without a version (Node
 * reads it as HTTP/0.9: 505) and an HTTP/1.1 request without Host (400, and the connection closed), each answered with
 * a JSON error.
 */
export async function checkProtocol(req: FastifyRequest): Promise<void> {
  if (req.raw.httpVersionMajor !== 1) throw new HttpError(505, `HTTP/${req.raw.httpVersion} is not supported: send HTTP/1.1`);
  if (req.raw.httpVersionMinor === 1 && req.headers.host === undefined) throw new HttpError(400, 'an HTTP/1.1 request needs a Host header', 'Validation', { connection: 'close' });
}

/** The parts of an ajv error (verbose mode) the messages use. */
export interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
  data?: unknown;
  parentSchema?: Record<string, unknown>;
}

/** Where a value sits, as the body spells it: '/inputs/1' → `"inputs"[1]`, '/parameters/top_k' → `"parameters.top_k"`. */
function where(instancePath: string): string {
  const parts = instancePath.split('/').slice(1);
  if (parts.length === 0) return 'the body';
  let named = '';
  let indices = '';
  for (const p of parts) {
    if (/^\d+$/.test(p) && named) indices += `[${p}]`;
    else named += `${named ? '.' : ''}${p}`;
  }
  return `"${named}"${indices}`;
}

/** How a JSON value reads in an error message. */
export function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return v.length > 40 ? 'a text' : JSON.stringify(v);
  return typeof v === 'number' || typeof v === 'boolean' ? `${typeof v} ${String(v)}` : typeof v;
}

const TYPE_WORDS: Record<string, [string, string]> = {
  string: ['a text', 'texts'],
  boolean: ['true or false', 'booleans'],
  number: ['a number', 'numbers'],
  integer: ['an integer', 'integers'],
  object: ['an object', 'objects'],
  null: ['null', 'nulls'],
};

/** What a schema accepts, in words: {type: ['string', 'array'], items: {type: 'string'}} → 'a text or a list of texts'. */
export function expects(schema: Record<string, unknown> | undefined, plural = false): string {
  if (!schema) return 'something else';
  if (Array.isArray(schema.enum)) return `one of ${schema.enum.map((x) => JSON.stringify(x)).join(', ')}`;
  const all = (Array.isArray(schema.type) ? schema.type : [schema.type]).filter((t): t is string => typeof t === 'string');
  // inside a plural only the first type is named: "a list of texts", not "a list of texts or lists of texts"
  const types = plural ? all.slice(0, 1) : all;
  const words = types.map((t) => {
    if (t === 'array') return `${plural ? 'lists' : 'a list'} of ${expects(schema.items as Record<string, unknown> | undefined, true)}`;
    const w = TYPE_WORDS[t];
    return w ? w[plural ? 1 : 0] : t;
  });
  return words.length ? words.join(' or ') : 'something else';
}

/**
 * One readable sentence (and status) for the first error ajv found in a request: 422 (TEI's status for invalid input),
 * or 413 when a list is longer than a limit of the server (`maxItems` on a top-level list: --max-client-batch-size).
 */
export function schemaError(errors: SchemaError[], limitFlag: string): HttpError {
  const e = errors[0];
  if (!e) return new HttpError(422, 'the request is invalid');
  const at = where(e.instancePath);
  const schema = e.parentSchema;
  switch (e.keyword) {
    case 'type':
      if (e.instancePath === '') return new HttpError(422, `the body must be a JSON object${example(schema)}, got ${kindOf(e.data)}`);
      return new HttpError(422, `${at} must be ${expects(schema)}, got ${kindOf(e.data)}`);
    case 'required': {
      const missing = String(e.params.missingProperty);
      const props = schema?.properties as Record<string, Record<string, unknown>> | undefined;
      const inner = e.instancePath === '' ? 'the body' : at;
      return new HttpError(422, `${inner} needs "${missing}" (${expects(props?.[missing])})${example(schema)}`);
    }
    case 'minItems':
      return new HttpError(422, Number(e.params.limit) === 1 ? `${at} is an empty list: send at least one item` : `${at} must hold at least ${e.params.limit} items`);
    case 'maxItems': {
      const n = Array.isArray(e.data) ? e.data.length : '?';
      if (e.instancePath.split('/').length === 2)
        return new HttpError(413, `${at} holds ${n} items, more than the limit of ${e.params.limit} per request (${limitFlag})`);
      return new HttpError(422, `${at} holds ${n} items, more than ${e.params.limit}`);
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return new HttpError(422, `${at} must be ${expects(schema)} ${e.params.comparison} ${e.params.limit}, got ${kindOf(e.data)}`);
    case 'enum':
      return new HttpError(422, `${at} must be ${expects(schema)}, got ${kindOf(e.data)}`);
    case 'additionalProperties':
      return new HttpError(422, `${at} has an unknown field "${String(e.params.additionalProperty)}"`);
    default:
      return new HttpError(422, `${at} ${e.message ?? 'is invalid'}`);
  }
}

/** ', e.g. {...}' from a schema's first example, or ''. */
function example(schema: Record<string, unknown> | undefined): string {
  const ex = Array.isArray(schema?.examples) ? schema.examples[0] : undefined;
  return ex === undefined ? '' : `, e.g. ${JSON.stringify(ex)}`;
}

/** Node's HTTP parser errors that never reach a route, with the status and sentence we answer them with. */
const CLIENT_ERRORS: Record<string, [number, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'the request did not arrive in time (--request-timeout)'],
  HPE_HEADER_OVERFLOW: [431, 'the request headers are larger than the limit of this server'],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'the chunk extensions are too large'],
};

/**
 * fastify's clientErrorHandler: a JSON error on the raw socket for requests Node's parser refused (malformed HTTP 400,
 * oversized headers 431, a request not received within --request-timeout 408), then close the connection.
 */
export function writeClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] = CLIENT_ERRORS[err.code ?? ''] ?? [400, `malformed HTTP request (${err.code ?? err.message})`];
  const body = JSON.stringify(errorBody(message, 'Validation'));
  const reason = status === 408 ? 'Request Timeout' : status === 431 ? 'Request Header Fields Too Large' : status === 413 ? 'Payload Too Large' : 'Bad Request';
  // as Node itself: no error text once a response has started on this socket (it would corrupt that response)
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent)
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  socket.destroy();
}
