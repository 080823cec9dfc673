/** `radbert-native serve --model DIR|org/name`: an HTTP server with TEI's endpoints and dynamic batching. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sourceOf } from '../hub/ids';
import { DEFAULT_OUTPUT, DEVICE_OPTION, err, num, str } from './common';
import type { CommandSpec, Parsed } from './options';
import { UsageError } from '../errors';
import { DEFAULT_MAX_BODY, DEFAULT_MAX_CLIENT_BATCH_SIZE, DEFAULT_REQUEST_TIMEOUT_S, LOG_LEVELS, type LogLevel } from '../serve/http';
import { DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_TOKENS } from '../serve/queue';
import { closeOnSignals, DEFAULT_MAX_QUEUE, serve } from '../serve/server';

/** The serve command's flags. */
export const SERVE: CommandSpec = {
  name: 'serve',
  usage: 'usage: npx radbert-native serve --model DIR|org/name [options]',
  epilog: [
    'routes (Hugging Face text-embeddings-inference compatible; the full list with schemas: GET /docs, /openapi.json):',
    '  POST /predict, /invocations  {"inputs": "text" | ["t1", "t2"], "raw_scores", "truncate", "threshold", "top_k"}',
    '                  -> [{"label", "score"}, ...] best first (sigmoid scores), a list of those for a list',
    '  POST /          the Hugging Face Inference API (what @huggingface/inference and huggingface_hub send):',
    '                  {"inputs", "parameters": {"function_to_apply", "top_k"}} -> one list of {label, score} per input',
    '  POST /classify  {"inputs": ..., "threshold": 0.5} -> predict()\'s {labels, probabilities}',
    '  POST /embed, /tokenize, /decode (TEI\'s shapes)',
    '  GET /health, GET /, GET /ping (never need the key), GET /info, GET /metrics (Prometheus text)',
    'errors are JSON {"error", "error_type"}: 401 without the API key, 408 a request slower than --request-timeout,',
    '413 body or batch too large, 422 bad input, 503 + Retry-After when the queue is full.',
    'SIGTERM / Ctrl-C: stop accepting, answer the requests in flight, exit 0.',
  ].join('\n'),
  options: {
    model: { type: 'string', desc: `model folder or Hub id org/name (default: $RADBERT_MODEL or ./${DEFAULT_OUTPUT})` },
    revision: { type: 'string', desc: 'Hub revision of --model org/name' },
    host: { type: 'string', desc: 'interface to listen on (0.0.0.0: every interface)', default: '127.0.0.1' },
    port: { type: 'integer', desc: 'port (0: any free port)', default: 8080, min: 0, max: 65535 },
    bf16: { type: 'boolean', desc: 'bf16 autocast (fp32 weights, bf16 matmuls): faster where the CPU has bf16 instructions' },
    device: DEVICE_OPTION,
    threads: { type: 'integer', desc: "libtorch intra-op threads (default: libtorch's choice)", min: 1 },
    'max-length': { type: 'integer', desc: "longest input in tokens (default: the model's)", min: 3 },
    'max-batch-tokens': { type: 'integer', desc: 'most tokens in one forward', default: DEFAULT_MAX_BATCH_TOKENS, min: 1 },
    'max-batch-size': { type: 'integer', desc: 'most texts in one forward (1: no batching)', default: DEFAULT_MAX_BATCH_SIZE, min: 1 },
    'max-queue': { type: 'integer', desc: 'most texts waiting before requests get 503', default: DEFAULT_MAX_QUEUE, min: 1 },
    'max-client-batch-size': { type: 'integer', desc: 'most texts in one request (413 above)', default: DEFAULT_MAX_CLIENT_BATCH_SIZE, min: 1 },
    'max-body': { type: 'integer', desc: 'largest request body in bytes (413 above)', default: DEFAULT_MAX_BODY, min: 1 },
    'api-key': { type: 'string', desc: 'require "Authorization: Bearer KEY" on every route but the health checks and /docs (default: $RADBERT_API_KEY; none: open)' },
    'public-metrics': { type: 'boolean', desc: 'with an API key: GET /metrics without it' },
    'cors-allow-origin': { type: 'string', desc: 'origins browsers may call from, comma-separated, or * for any (default: none)' },
    'request-timeout': { type: 'number', desc: 'seconds a client has to send a whole request (408 after)', default: DEFAULT_REQUEST_TIMEOUT_S, min: 0, minExclusive: true },
    log: { type: 'string', desc: 'log level; info: one JSON line per request', choices: LOG_LEVELS, default: 'info' },
  },
};

/** Run serve with parsed flags: resolves with the exit code once a signal has shut the server down. */
export async function serveCommand({ values }: Parsed): Promise<number> {
  const arg = str(values, 'model') ?? process.env.RADBERT_MODEL;
  const hub = arg !== undefined && sourceOf(arg)?.kind === 'hub';
  const model = hub ? arg : path.resolve(arg ?? DEFAULT_OUTPUT);
  const apiKey = str(values, 'api-key') ?? (process.env.RADBERT_API_KEY || undefined);
  if (apiKey !== undefined && apiKey.trim() === '') throw new UsageError('--api-key is empty; pass a key or leave the flag out');
  const cors = str(values, 'cors-allow-origin')
    ?.split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  if (!hub && !fs.existsSync(model)) throw new Error(`${model}: no model here; train one with \`npx radbert-native train\` or pass --model DIR (or a Hub id org/name)`);
  const server = await serve({
    model,
    revision: str(values, 'revision'),
    host: str(values, 'host'),
    port: num(values, 'port'),
    bf16: values.bf16 === true,
    device: str(values, 'device') as 'auto' | 'cpu' | 'cuda' | undefined,
    threads: num(values, 'threads'),
    maxLength: num(values, 'max-length'),
    maxBatchTokens: num(values, 'max-batch-tokens'),
    maxBatchSize: num(values, 'max-batch-size'),
    maxQueue: num(values, 'max-queue'),
    maxClientBatchSize: num(values, 'max-client-batch-size'),
    maxBody: num(values, 'max-body'),
    log: (str(values, 'log') ?? 'info') as LogLevel,
    apiKey,
    publicMetrics: values['public-metrics'] === true,
    corsAllowOrigin: cors,
    requestTimeoutS: num(values, 'request-timeout'),
  });
  const q = server.queue;
  err(
    `radbert-native serve: listening on ${server.url} (model ${model}, ${server.classifier.dtype}, ${server.classifier.labels.length} labels; ` +
      `batches of at most ${q.maxBatchTokens} tokens / ${q.maxBatchSize} texts; ${apiKey ? 'API key required' : 'no API key'})`,
  );
  return new Promise<number>((resolve) => {
    closeOnSignals(
      server,
      (e) => {
        if (e) err(`radbert-native serve: shutdown failed: ${e.message}`);
        resolve(e ? 1 : 0);
      },
      err,
    );
  });
}
