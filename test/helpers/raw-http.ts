/**
 * Test helper: HTTP/1.1 over a raw TCP socket, for requests no well-behaved client would send (malformed request
 * lines, lying Content-Length, invalid UTF-8, oversized headers, bodies trickled byte by byte, connections dropped
 * half way). Writes exactly the bytes given and reads whatever comes back until the server closes the connection.
 */
import * as net from 'node:net';

/** What came back on one connection. */
export interface RawResponse {
  /** Status code, or 0 when no status line arrived. */
  status: number;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  body: string;
  /** A socket error seen (ECONNRESET, EPIPE...), if any. */
  error?: string;
  /** The connection was still open when the helper gave up (timeoutMs). */
  timedOut: boolean;
  /** Milliseconds from connecting to the end of the response. */
  ms: number;
}

/** One request's bytes as pieces, each sent after the previous one was flushed and `delayMs` passed. */
export interface RawRequest {
  pieces: Buffer[];
  /** Pause before each piece after the first (a slow client). Default 0. */
  delayMs?: number;
  /** Stop writing as soon as the server answered (it refused the body early). Default true. */
  stopOnAnswer?: boolean;
  /** Destroy the connection after the last piece without waiting for an answer (a client that goes away). */
  abortAfterSend?: boolean;
  /** Give up after this long. Default 20 s. */
  timeoutMs?: number;
}

/** A complete request as bytes: request line, Host and Connection: close, the headers given, Content-Length unless given or chunked. */
export function httpRequest(method: string, target: string, headers: Array<[string, string]>, body?: Buffer | string): Buffer {
  const b = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const names = new Set(headers.map(([n]) => n.toLowerCase()));
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', ...(names.has('connection') ? [] : ['Connection: close'])];
  for (const [n, v] of headers) lines.push(`${n}: ${v}`);
  if (!names.has('content-length') && !names.has('transfer-encoding') && (b.length > 0 || method === 'POST')) lines.push(`Content-Length: ${b.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), b]);
}

function parse(raw: Buffer): Pick<RawResponse, 'status' | 'headers' | 'body'> {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return { status: 0, headers: {}, body: raw.toString('latin1') };
  const head = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0])?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = raw.subarray(end + 4);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const eol = body.indexOf('\r\n', at);
      if (eol < 0) break;
      const size = parseInt(body.subarray(at, eol).toString('latin1'), 16);
      if (!(size > 0)) break;
      parts.push(body.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  }
  return { status, headers, body: body.toString('utf8') };
}

/** Send one raw request to port on 127.0.0.1 and collect the answer. */
export function rawHttp(port: number, req: RawRequest): Promise<RawResponse> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let answered = false;
    let settled = false;
    const socket = net.connect(port, '127.0.0.1');
    const finish = (timedOut: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...parse(Buffer.concat(chunks)), error, timedOut, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => finish(true), req.timeoutMs ?? 20_000);
    socket.on('data', (d: Buffer) => {
      answered = true;
      chunks.push(d);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error ??= e.code ?? e.message;
    });
    socket.on('close', () => finish(false));
    socket.on('connect', async () => {
      for (let i = 0; i < req.pieces.length; i++) {
        if (settled || socket.destroyed) return;
        if ((req.stopOnAnswer ?? true) && answered) break;
        if (i > 0 && req.delayMs) await new Promise((r) => setTimeout(r, req.delayMs));
        if (settled || socket.destroyed) return;
        await new Promise<void>((r) => socket.write(req.pieces[i], () => r()));
      }
      if (req.abortAfterSend) {
        socket.destroy();
        finish(false);
      }
    });
  });
}

/** A buffer cut into pieces of `size` bytes. */
export function pieces(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out.length ? out : [buf];
}
