/**
 * The JSON schemas of the routes: fastify validates request bodies with them (ajv: no type coercion, defaults filled
 * in), serialises most answers with them (fast-json-stringify) and @fastify/swagger turns them into the OpenAPI
 * document (3.1: `type` may list several types). One place for what every field is, accepts and defaults to.
 */

type Schema = Record<string, unknown>;

/** A text: what every route takes. */
const TEXT: Schema = { type: 'string', description: 'A text (a caption, a report sentence)' };

/** TEI's error body, for every 4xx and 5xx answer. */
export const ERROR: Schema = {
  type: 'object',
  description: 'Every error: a sentence naming the problem, and its kind (Validation, Unauthorized, NotFound, Overloaded, Unhealthy, Backend)',
  properties: { error: { type: 'string' }, error_type: { type: 'string' } },
  required: ['error', 'error_type'],
};

/** Error answers of a route: one schema for 4xx and 5xx. */
export const ERRORS = { '4xx': ERROR, '5xx': ERROR };

/** `inputs`: a text, or a batch of at most maxItems texts (each a text or TEI's ["text"]). */
export function inputs(maxItems: number, what = 'texts'): Schema {
  return {
    type: ['string', 'array'],
    description: `A text, or a list of ${what} (a batch, at most --max-client-batch-size = ${maxItems}); TEI's batch form [["text"], ...] is read as a batch too`,
    minItems: 1,
    maxItems,
    items: { type: ['string', 'array'], items: TEXT, minItems: 1 },
  };
}

const TRUNCATE: Schema = {
  type: 'boolean',
  default: true,
  description: "Cut texts over the model's limit (max_input_length of /info); false: such a text is a 422 error",
};
const TRUNCATION_DIRECTION: Schema = { type: 'string', description: 'TEI\'s truncation side; only "Right" (keep the beginning) is supported' };

const EXAMPLE_TEXT = 'CT of the chest with contrast';

/** A request body of `inputs` (a text or a batch of at most maxItems) and the route's other fields. */
function inputsBody(maxItems: number, properties: Record<string, Schema>, example: Record<string, unknown> = {}): Schema {
  return {
    type: 'object',
    required: ['inputs'],
    examples: [{ inputs: EXAMPLE_TEXT, ...example }],
    properties: { inputs: inputs(maxItems), ...properties },
  };
}

/** One label and its score. */
const SCORED: Schema = {
  type: 'object',
  properties: { label: { type: 'string', description: 'A label (a CUI) of config.json id2label' }, score: { type: 'number' } },
  required: ['label', 'score'],
};
const SCORED_LIST: Schema = { type: 'array', items: SCORED, description: 'Labels with their scores, best first' };

/** POST /predict and /invocations (TEI). */
export function predictSchema(maxItems: number): Schema {
  return {
    summary: "TEI's predict: every label with its sigmoid score (or logit), best first",
    body: inputsBody(
      maxItems,
      {
        raw_scores: { type: 'boolean', default: false, description: 'Scores are the logits instead of sigmoid probabilities' },
        truncate: TRUNCATE,
        truncation_direction: TRUNCATION_DIRECTION,
        threshold: {
          type: 'number',
          description: "Only labels whose sigmoid probability is above it (an extension of TEI); default: the model's thresholds.json when it has one, else every label",
        },
        top_k: { type: 'integer', minimum: 1, description: 'Only the k best labels (an extension of TEI)' },
      },
    ),
    response: {
      200: {
        description: 'One text: a list of {label, score}; a list of texts: one such list per text, in order',
        type: 'array',
        items: { anyOf: [SCORED, SCORED_LIST] },
      },
      ...ERRORS,
    },
  };
}

/** POST / (the Hugging Face Inference API's text-classification task, as @huggingface/inference and huggingface_hub send it). */
export function hfSchema(maxItems: number): Schema {
  return {
    summary: 'The Hugging Face Inference API text-classification task: one list of {label, score} per input, best first',
    body: inputsBody(
      maxItems,
      {
        parameters: {
          type: 'object',
          default: {},
          properties: {
            function_to_apply: {
              type: 'string',
              enum: ['sigmoid', 'softmax', 'none'],
              default: 'sigmoid',
              description: 'sigmoid (the default: the model is multi-label), softmax over the labels, or none (the logits)',
            },
            top_k: { type: 'integer', minimum: 1, description: 'Only the k best labels (default: every label)' },
            truncation: { type: 'boolean', default: true, description: "Cut texts over the model's limit (false: a 422 error)" },
          },
        },
      },
      { parameters: { top_k: 5 } },
    ),
    response: { 200: { type: 'array', items: SCORED_LIST, description: 'One list per input (also for a single text), best first' }, ...ERRORS },
  };
}

const PREDICTION: Schema = {
  type: 'object',
  properties: {
    labels: { type: 'array', items: { type: 'string' }, description: 'Labels with probability above the threshold, most probable first' },
    probabilities: { type: 'object', additionalProperties: { type: 'number' }, description: 'label → sigmoid probability of those labels' },
  },
  required: ['labels', 'probabilities'],
};

/** POST /classify: predict()'s answer. */
export function classifySchema(maxItems: number): Schema {
  return {
    summary: "The JavaScript API's predict(): labels above a threshold with their probabilities",
    body: inputsBody(
      maxItems,
      {
        threshold: { type: 'number', description: "A label is predicted when its sigmoid probability is above it; default: the model's thresholds.json when it has one, else 0.5" },
        truncate: TRUNCATE,
      },
      { threshold: 0.5 },
    ),
    response: { 200: { anyOf: [PREDICTION, { type: 'array', items: PREDICTION }] }, ...ERRORS },
  };
}

/** POST /embed (TEI): the body's pooled hidden states. */
export function embedSchema(maxItems: number): Schema {
  return {
    summary: "TEI's embed: the pooled hidden state of the model's body (config.json classifier_pooling: cls or mean) per input",
    body: inputsBody(
      maxItems,
      {
        normalize: { type: 'boolean', default: true, description: 'Scale each embedding to length 1 (L2)' },
        truncate: TRUNCATE,
        truncation_direction: TRUNCATION_DIRECTION,
      },
    ),
    response: { 200: { type: 'array', items: { type: 'array', items: { type: 'number' } }, description: 'One embedding per input' }, ...ERRORS },
  };
}

/** POST /tokenize (TEI). */
export function tokenizeSchema(maxItems: number): Schema {
  return {
    summary: "TEI's tokenize: the tokens of each input, with their byte offsets in it",
    body: inputsBody(
      maxItems,
      {
        add_special_tokens: { type: 'boolean', default: true, description: 'Include [CLS] and [SEP]' },
      },
    ),
    response: {
      200: {
        type: 'array',
        description: 'One list of tokens per input (also for a single text)',
        items: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              id: { type: 'integer' },
              text: { type: 'string', description: "The input's bytes start..stop as text (the token itself for special tokens)" },
              special: { type: 'boolean' },
              start: { type: ['integer', 'null'], description: 'UTF-8 byte offset in the input (null for special tokens)' },
              stop: { type: ['integer', 'null'] },
            },
            required: ['id', 'text', 'special', 'start', 'stop'],
          },
        },
      },
      ...ERRORS,
    },
  };
}

/** POST /decode (TEI). */
export function decodeSchema(maxItems: number): Schema {
  return {
    summary: "TEI's decode: the text of token ids",
    body: {
      type: 'object',
      required: ['ids'],
      examples: [{ ids: [50281, 1843, 50282] }],
      properties: {
        ids: {
          type: 'array',
          description: `Token ids, or a list of such lists (at most ${maxItems}, --max-client-batch-size)`,
          minItems: 1,
          items: { type: ['integer', 'array'], minimum: 0, minItems: 1, items: { type: 'integer', minimum: 0 } },
        },
        skip_special_tokens: { type: 'boolean', default: true, description: 'Leave [CLS], [SEP] and the like out' },
      },
    },
    response: { 200: { type: 'array', items: { type: 'string' }, description: 'One text per list of ids' }, ...ERRORS },
  };
}

const HEALTH_SCHEMA: Schema = {
  type: 'object',
  properties: { status: { type: 'string', enum: ['ok'] } },
  required: ['status'],
};

/** GET /health, GET /, GET /ping. */
export const healthSchema: Schema = {
  summary: 'Liveness and readiness: 200 while serving, 503 while shutting down (never needs the API key)',
  security: [],
  response: { 200: HEALTH_SCHEMA, ...ERRORS },
};

/** GET /info (TEI's fields and ours). */
export const infoSchema: Schema = {
  summary: "The model and the server's limits (TEI's fields, plus max_queue and max_body_bytes)",
  response: {
    200: {
      type: 'object',
      properties: {
        model_id: { type: 'string' },
        model_sha: { type: ['string', 'null'] },
        model_dtype: { type: 'string' },
        model_type: {
          type: 'object',
          properties: {
            classifier: {
              type: 'object',
              properties: {
                id2label: { type: 'object', additionalProperties: { type: 'string' } },
                label2id: { type: 'object', additionalProperties: { type: 'integer' } },
              },
            },
          },
        },
        max_queue: { type: ['integer', 'null'] },
        max_input_length: { type: 'integer' },
        max_batch_tokens: { type: 'integer' },
        max_batch_requests: { type: 'integer' },
        max_client_batch_size: { type: 'integer' },
        max_body_bytes: { type: 'integer' },
        auto_truncate: { type: 'boolean' },
        tokenization_workers: { type: 'integer' },
        version: { type: ['string', 'null'] },
        router: { type: 'string' },
        decision_thresholds: { type: ['string', 'null'], description: "How the model's thresholds.json was tuned (null: none; /predict returns every label, /classify cuts at 0.5)" },
      },
    },
    ...ERRORS,
  },
};

/** GET /metrics. */
export const metricsSchema: Schema = {
  summary: 'Prometheus text exposition: requests, queue depth, batch sizes, latencies',
  response: { 200: { type: 'string', description: 'text/plain; version=0.0.4' }, ...ERRORS },
};
