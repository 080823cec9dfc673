/**
 * Operations routes: health checks (GET /health, and TEI's GET / and GET /ping, which load balancers and SageMaker
 * probe), GET /info (the model and the limits, TEI's fields) and GET /metrics (Prometheus).
 */
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './context';
import type { ServeMetrics } from './metrics';
import { healthSchema, infoSchema, metricsSchema } from './schemas';

/** Routes that answer health checks: never behind the API key. */
export const HEALTH_ROUTES = ['/health', '/', '/ping'];

/** What /info shows besides the model. */
export interface InfoOptions {
  modelId: string;
  dtype: string;
  maxBody: number;
  version?: string;
}

/** The operations route family (a fastify plugin). */
export async function opsRoutes(app: FastifyInstance, opts: { ctx: RouteContext; metrics: ServeMetrics; info: InfoOptions }): Promise<void> {
  const { ctx, metrics, info } = opts;
  for (const url of HEALTH_ROUTES) app.get(url, { schema: healthSchema }, async () => ({ status: 'ok' }));

  const { model, queue } = ctx;
  const body = {
    model_id: info.modelId,
    model_sha: null,
    model_dtype: info.dtype,
    model_type: {
      classifier: {
        id2label: Object.fromEntries(model.labels.map((l, i) => [String(i), l])),
        label2id: Object.fromEntries(model.labels.map((l, i) => [l, i])),
      },
    },
    max_queue: Number.isFinite(queue.maxQueue) ? queue.maxQueue : null,
    max_input_length: model.maxLength,
    max_batch_tokens: queue.maxBatchTokens,
    max_batch_requests: queue.maxBatchSize,
    max_client_batch_size: ctx.maxClientBatchSize,
    max_body_bytes: info.maxBody,
    auto_truncate: true,
    tokenization_workers: 1,
    version: info.version ?? null,
    router: 'radbert-native',
    decision_thresholds: model.thresholdsDescription ?? null,
  };
  app.get('/info', { schema: infoSchema }, async () => body);

  app.get('/metrics', { schema: metricsSchema }, async (_req, reply) => {
    void reply.header('content-type', metrics.contentType);
    return metrics.text();
  });
}
