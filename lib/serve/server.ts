/**
 * `radbert-native serve`: load a classifier, put a BatchQueue in front of it, listen with the fastify app of
 * http.ts, and shut down gracefully (stop accepting, finish what is in flight, free the model).
 */
import type { FastifyInstance } from 'fastify';
import { load, resolveDtype, type BatchingOptions, type Classifier } from '../model/classifier';
import { embedSequences } from '../model/embed';
import { describeThresholds } from '../model/thresholds';
import { buildServer, type HttpOptions, type ServeModel } from './http';
import type { ServeMetrics } from './metrics';
import type { BatchQueue } from './queue';

/** Default --max-queue: texts waiting for a forward before requests get 503 + Retry-After. */
export const DEFAULT_MAX_QUEUE = 1024;

/** Options of startServer(). */
export interface StartOptions extends Omit<HttpOptions, 'model' | 'queue' | 'modelId' | 'dtype'> {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 8080; 0 = any free port). */
  port?: number;
  /** Serve through this queue instead of the classifier's own (clf.queue, whose limits load() set). */
  queue?: BatchQueue;
}

/** Options of serve(): a model to load, how, and the server's. */
export interface ServeOptions extends StartOptions, BatchingOptions {
  /** A model folder or a Hub id org/name. */
  model: string;
  /** Hub revision of an org/name model. */
  revision?: string;
  /** bf16 autocast. */
  bf16?: boolean;
  /** 'auto' (default: CUDA when available), 'cpu' or 'cuda'. */
  device?: 'auto' | 'cpu' | 'cuda';
  /** libtorch intra-op threads. */
  threads?: number;
  /** Longest input in tokens (default: the model's). */
  maxLength?: number;
}

/** A listening server. */
export interface RunningServer {
  /** http://host:port */
  url: string;
  /** The interface it listens on. */
  host: string;
  /** The port it listens on (the one picked when 0 was asked for). */
  port: number;
  /** The fastify instance (to add routes or hooks of your own). */
  app: FastifyInstance;
  /** The Prometheus metrics behind `GET /metrics`. */
  metrics: ServeMetrics;
  /** The classifier served. */
  classifier: Classifier;
  /** The batching queue requests go through. */
  queue: BatchQueue;
  /** Stop accepting, answer the requests in flight, then free the model. Idempotent. */
  close(): Promise<void>;
}

/** The tokenizer, labels and body of a classifier, as the HTTP layer sees them. */
export function serveModel(clf: Classifier): ServeModel {
  const hidden = clf.nativeConfig.hiddenSize;
  return {
    labels: clf.labels,
    maxLength: clf.maxLength,
    hiddenSize: hidden,
    encode: (text, maxLength) => clf.tokenizer.encode(text, maxLength),
    spans: (text, addSpecialTokens) => clf.tokenizer.spans(text, addSpecialTokens),
    decode: (ids, skipSpecialTokens) => clf.tokenizer.decode(ids, { skipSpecialTokens }),
    thresholds: clf.thresholds?.perLabel,
    thresholdsDescription: clf.thresholds ? `thresholds.json: ${describeThresholds(clf.thresholds.json)}` : undefined,
    embed: (seqs) =>
      embedSequences(clf.model, seqs, {
        pooling: clf.nativeConfig.classifierPooling,
        hidden,
        batchSize: Math.max(1, seqs.length),
        bf16: resolveDtype(clf.dtype) === 'bfloat16',
      }),
  };
}

/** Serve an already loaded classifier (through clf.queue, or options.queue); close() frees it. */
export async function startServer(clf: Classifier, modelId: string, options: StartOptions = {}): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8080;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new Error(`port must be an integer 0-65535, got ${port}`);
  const queue = options.queue ?? clf.queue;
  const { app, metrics } = await buildServer({ ...options, model: serveModel(clf), queue, modelId, dtype: clf.dtype });
  try {
    await app.listen({ host, port });
  } catch (err) {
    await app.close();
    throw err;
  }
  const addr = app.server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  const shown = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shown}:${bound}`,
    host,
    port: bound,
    app,
    metrics,
    classifier: clf,
    queue,
    close() {
      closing ??= (async () => {
        await app.close(); // stops listening; waits for the requests in flight (new ones on open connections get 503)
        await queue.close(); // nothing should be left; rejects stragglers, waits for a running forward
        await clf.close();
      })();
      return closing;
    },
  };
}

/** Load a model folder or Hub id (org/name) and serve it (batching limits as load()'s, queue limit DEFAULT_MAX_QUEUE). */
export async function serve(options: ServeOptions): Promise<RunningServer> {
  const clf = await load(options.model, {
    revision: options.revision,
    dtype: options.bf16 ? 'bfloat16' : 'float32',
    device: options.device,
    threads: options.threads,
    maxLength: options.maxLength,
    maxBatchTokens: options.maxBatchTokens,
    maxBatchSize: options.maxBatchSize,
    maxQueue: options.maxQueue ?? DEFAULT_MAX_QUEUE,
  });
  try {
    return await startServer(clf, options.model, options);
  } catch (err) {
    await clf.close();
    throw err;
  }
}

/**
 * On SIGTERM or SIGINT: log, close the server gracefully, then call onClosed (the CLI exits 0 there). A second
 * signal while draining exits at once (code 130). Returns a function that removes the handlers.
 */
export function closeOnSignals(server: RunningServer, onClosed: (err?: Error) => void, log: (line: string) => void = () => undefined): () => void {
  let draining = false;
  const handler = (signal: NodeJS.Signals) => {
    if (draining) {
      log(`radbert-native serve: ${signal} again, exiting without waiting`);
      process.exit(130);
    }
    draining = true;
    log(`radbert-native serve: ${signal}: not accepting new requests, finishing those in flight`);
    server.close().then(
      () => onClosed(),
      (err: Error) => onClosed(err),
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}
