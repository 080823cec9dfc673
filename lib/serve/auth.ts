/**
 * API keys, as TEI's --api-key: every request but the health checks (and the API documentation) must carry
 * `Authorization: Bearer <key>`; anything else is a 401 with a JSON error. Keys are compared as SHA-256 digests with
 * crypto.timingSafeEqual, so the time a comparison takes says nothing about how much of a guess was right (nor its length).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from './errors';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Whether `authorization` (a request's header) carries the key: `Bearer <key>` (scheme case-insensitive), in constant time. */
export function bearerMatches(authorization: string | undefined, keyDigest: Buffer): boolean {
  const m = typeof authorization === 'string' ? /^bearer +(.*)$/i.exec(authorization) : null;
  // always compare (with an empty guess when the header is missing or malformed): one code path for every request
  const ok = timingSafeEqual(digest(m ? m[1] : ''), keyDigest);
  return ok && m !== null;
}

/** Options of apiKeyHook. */
export interface ApiKeyOptions {
  /** The key; requests without it get 401. */
  key: string;
  /** Whether a route (method, and fastify's route url, e.g. '/health') needs no key. */
  isPublic: (method: string, route: string) => boolean;
}

/** An onRequest hook enforcing the API key (CORS preflights pass: browsers send them without credentials). */
export function apiKeyHook(options: ApiKeyOptions) {
  if (typeof options.key !== 'string' || options.key.length === 0) throw new Error('apiKey must be a non-empty string');
  const keyDigest = digest(options.key);
  return async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (req.method === 'OPTIONS') return;
    const route = req.routeOptions.url;
    if (route !== undefined && options.isPublic(req.method, route)) return;
    if (bearerMatches(req.headers.authorization, keyDigest)) return;
    const why = req.headers.authorization === undefined ? 'this server needs an API key' : 'the API key is not valid';
    throw new HttpError(401, `${why}: send the header "Authorization: Bearer <key>"`, 'Unauthorized', { 'www-authenticate': 'Bearer' });
  };
}
