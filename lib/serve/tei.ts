/**
 * Hugging Face text-embeddings-inference's routes for a classifier: POST /predict and /invocations (SageMaker's name
 * for it), /embed, /tokenize, /decode; plus /classify, predict()'s answer over HTTP. Each route's schema (schemas.ts)
 * validates its body and documents it.
 */
import type { FastifyInstance } from 'fastify';
import { toPrediction } from '../model/classifier';
import type { RouteContext } from './context';
import { JSON_TYPE } from './context';
import { HttpError } from './errors';
import { checkDirection, checkRuns, parseInputs, tokenizeAll } from './inputs';
import { classifySchema, decodeSchema, embedSchema, predictSchema, tokenizeSchema } from './schemas';

type Inputs = string | Array<string | string[]>;

interface PredictBody {
  inputs: Inputs;
  raw_scores: boolean;
  truncate: boolean;
  truncation_direction?: string;
  threshold?: number;
  top_k?: number;
}

interface ClassifyBody {
  inputs: Inputs;
  threshold?: number;
  truncate: boolean;
}

interface EmbedBody {
  inputs: Inputs;
  normalize: boolean;
  truncate: boolean;
  truncation_direction?: string;
}

interface TokenizeBody {
  inputs: Inputs;
  add_special_tokens: boolean;
}

interface DecodeBody {
  ids: Array<number | number[]>;
  skip_special_tokens: boolean;
}

/** The TEI route family (a fastify plugin; options: the shared RouteContext). */
export async function teiRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { model, scores } = ctx;
  const k = model.labels.length;

  const predict = predictSchema(ctx.maxClientBatchSize);
  for (const url of ['/predict', '/invocations']) {
    app.post<{ Body: PredictBody }>(url, { schema: { ...predict, ...(url === '/invocations' ? { summary: 'SageMaker\'s name for /predict' } : {}) } }, async (req, reply) => {
      const b = req.body;
      const { texts, single } = parseInputs(b.inputs);
      checkDirection(b.truncation_direction);
      const logits = await ctx.logits(req, texts, b.truncate);
      const fn = b.raw_scores ? 'none' : 'sigmoid';
      const keep = { threshold: b.threshold ?? model.thresholds, topK: b.top_k };
      return reply.type(JSON_TYPE).send(single ? scores.json(logits, fn, keep) : scores.jsonRows(logits, texts.length, fn, keep));
    });
  }

  app.post<{ Body: ClassifyBody }>('/classify', { schema: classifySchema(ctx.maxClientBatchSize) }, async (req) => {
    const b = req.body;
    const { texts, single } = parseInputs(b.inputs);
    const threshold = b.threshold ?? model.thresholds ?? 0.5;
    const logits = await ctx.logits(req, texts, b.truncate);
    const out = texts.map((_, i) => toPrediction(model.labels, logits.subarray(i * k, (i + 1) * k), threshold));
    return single ? out[0] : out;
  });

  app.post<{ Body: EmbedBody }>('/embed', { schema: embedSchema(ctx.maxClientBatchSize) }, async (req) => {
    const b = req.body;
    const { texts } = parseInputs(b.inputs);
    checkDirection(b.truncation_direction);
    const seqs = tokenizeAll(model, texts, b.truncate);
    ctx.countInputs(req, texts.length);
    const h = model.hiddenSize;
    const m = await model.embed(seqs);
    return texts.map((_, i) => {
      const row = Array.from(m.subarray(i * h, (i + 1) * h));
      if (!b.normalize) return row;
      const norm = Math.sqrt(row.reduce((a, x) => a + x * x, 0));
      return norm > 0 ? row.map((x) => x / norm) : row;
    });
  });

  app.post<{ Body: TokenizeBody }>('/tokenize', { schema: tokenizeSchema(ctx.maxClientBatchSize) }, async (req) => {
    const b = req.body;
    const { texts } = parseInputs(b.inputs);
    checkRuns(texts);
    ctx.countInputs(req, texts.length);
    return texts.map((t) => model.spans(t, b.add_special_tokens));
  });

  app.post<{ Body: DecodeBody }>('/decode', { schema: decodeSchema(ctx.maxClientBatchSize) }, async (req) => {
    const b = req.body;
    const batch = Array.isArray(b.ids[0]);
    if (b.ids.some((x) => Array.isArray(x) !== batch))
      throw new HttpError(422, '"ids" must be a list of token ids or a list of such lists, not a mix of ids and lists');
    const seqs = batch ? (b.ids as number[][]) : [b.ids as number[]];
    if (seqs.length > ctx.maxClientBatchSize)
      throw new HttpError(413, `"ids" holds ${seqs.length} lists, more than the limit of ${ctx.maxClientBatchSize} per request (--max-client-batch-size)`);
    ctx.countInputs(req, seqs.length);
    return seqs.map((ids) => model.decode(ids, b.skip_special_tokens));
  });
}
