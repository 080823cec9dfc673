/**
 * POST /: the Hugging Face Inference API's text-classification task, which is what Hugging Face's own clients send to
 * an endpoint's base URL (`@huggingface/inference`'s textClassification({endpointUrl}), huggingface_hub's
 * InferenceClient(url).text_classification): `{"inputs": text | [texts], "parameters": {"function_to_apply",
 * "top_k"}}` → one list of {label, score} per input, best first, also for a single text (the clients read element 0).
 */
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './context';
import { JSON_TYPE } from './context';
import { parseInputs } from './inputs';
import { hfSchema } from './schemas';
import type { ScoreFunction } from './scores';

interface HfBody {
  inputs: string | Array<string | string[]>;
  parameters: { function_to_apply: ScoreFunction; top_k?: number; truncation: boolean };
}

/** The Hugging Face Inference API route (a fastify plugin; options: the shared RouteContext). */
export async function hfRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  app.post<{ Body: HfBody }>('/', { schema: hfSchema(ctx.maxClientBatchSize) }, async (req, reply) => {
    const { inputs, parameters: p } = req.body;
    const { texts } = parseInputs(inputs);
    const logits = await ctx.logits(req, texts, p.truncation);
    return reply.type(JSON_TYPE).send(ctx.scores.jsonRows(logits, texts.length, p.function_to_apply, { topK: p.top_k }));
  });
}
