/** What the route plugins share: the model as HTTP sees it, the batching queue, the label scorer and the limits. */
import type { FastifyRequest } from 'fastify';
import type { TokenSpan } from '../model/tokenize-offsets';
import type { ServeTokenizer } from './inputs';
import type { BatchQueue } from './queue';
import type { LabelScores } from './scores';

/** What the HTTP layer needs from a model besides its queue. */
export interface ServeModel extends ServeTokenizer {
  /** Label names in output order. */
  readonly labels: string[];
  /** Tokens of a text (not truncated) with their byte offsets (/tokenize). */
  spans(text: string, addSpecialTokens: boolean): TokenSpan[];
  /** Text of token ids (/decode); throws on an id outside the vocabulary. */
  decode(ids: number[], skipSpecialTokens: boolean): string;
  /** Pooled hidden states of token-id sequences, row-major [sequences, hiddenSize] (/embed). */
  embed(seqs: number[][]): Promise<Float32Array>;
  /** Width of an embedding. */
  readonly hiddenSize: number;
  /**
   * The model's tuned thresholds (one per label, from thresholds.json): what /predict cuts at when a request gives no
   * `threshold`, and /classify instead of 0.5. Undefined: /predict returns every label, /classify cuts at 0.5.
   */
  readonly thresholds?: ArrayLike<number>;
  /** How those thresholds were tuned ("global 0.2734", "per-label (…)"), for /info. */
  readonly thresholdsDescription?: string;
}

/** The state every route plugin gets (fastify plugin options). */
export interface RouteContext {
  model: ServeModel;
  queue: BatchQueue;
  scores: LabelScores;
  /** Most texts in one request. */
  maxClientBatchSize: number;
  /** Logits [texts, labels] of a request's texts (tokenised, cut or refused per truncate), counted for metrics and the log. */
  logits(req: FastifyRequest, texts: string[], truncate: boolean): Promise<Float32Array>;
  /** Count a request's inputs (metrics and the log line) for routes that do not go through logits(). */
  countInputs(req: FastifyRequest, n: number): void;
}

/** The JSON content type of answers written as text. */
export const JSON_TYPE = 'application/json; charset=utf-8';
