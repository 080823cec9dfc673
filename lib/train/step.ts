/**
 * One optimizer step over a global batch, as HF Trainer runs it with gradient accumulation under DDP: the global batch
 * (per-device batch × world size × accumulation steps rows of the epoch's order) is built once as a whole by the task
 * (so MLM masks are those one process would draw for it), cut into accumulation × world contiguous parts, and part
 * j·world + rank is this rank's j-th micro-batch. A full batch gives every part exactly the per-device batch; a short
 * last batch is split as evenly as possible. Each micro-batch's loss is weighted by its share of the global batch's
 * loss terms (rows for classification, labelled tokens for MLM) before backward, and the gradients add up over the
 * micro-batches (and, through the process group, the ranks) to those of the global batch's mean loss: the update equals
 * one step on the whole batch in one process.
 */
import { IGNORE_INDEX } from '../data/masking';
import type { StepOptions, StepResult } from '../native';
import type { TaskBatch, TrainTask } from './task';

/** How this process takes part in each optimizer step. */
export interface StepShare {
  /** This process's rank and the number of ranks (1 and 0 without a process group). */
  rank: number;
  world: number;
  /** Micro-batches per optimizer step (--gradient-accumulation-steps). */
  accumulation: number;
}

/** The [from, to) row ranges of `parts` contiguous parts of `n` rows, as even as possible (the first n % parts one longer). */
export function splitEvenly(n: number, parts: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const base = Math.floor(n / parts);
  const extra = n % parts;
  for (let p = 0, from = 0; p < parts; p++) {
    const to = from + base + (p < extra ? 1 : 0);
    out.push([from, to]);
    from = to;
  }
  return out;
}

/**
 * The evaluation rows [from, to) of this rank: a contiguous share of the split's batches of `batchSize` rows (the
 * batches one process would run, so every row's logits come from the same batch), or every row without a shard.
 */
export function evalShare(rows: number, batchSize: number, shard?: { rank: number; world: number }): [number, number] {
  if (!shard) return [0, rows];
  const [b0, b1] = splitEvenly(Math.ceil(rows / batchSize), shard.world)[shard.rank];
  return [Math.min(rows, b0 * batchSize), Math.min(rows, b1 * batchSize)];
}

/** Rows [from, to) of a packed task batch (views, no copies). */
export function sliceBatch(b: TaskBatch, from: number, to: number): TaskBatch {
  const c0 = b.cuSeqlens[from];
  const c1 = b.cuSeqlens[to];
  const out: TaskBatch = { ids: b.ids.subarray(c0, c1), cuSeqlens: b.cuSeqlens.slice(from, to + 1).map((c) => c - c0), rows: to - from };
  if (b.targets) {
    const k = b.targets.length / b.rows;
    out.targets = b.targets.subarray(from * k, to * k);
  }
  if (b.labels) out.labels = b.labels.subarray(c0, c1);
  return out;
}

/** How many terms the task's loss averages over in a batch: labelled tokens (MLM labels ≠ -100), else rows. */
export function lossTerms(b: TaskBatch): number {
  if (!b.labels) return b.rows;
  let n = 0;
  for (const l of b.labels) if (l !== IGNORE_INDEX) n++;
  return n;
}

/**
 * Run this rank's micro-batches of the optimizer step on training rows `rows` (0-based optimizer step `step`): the last
 * one updates (after the process group's gradient sum when one is attached to the model). `options.seed` reseeds the
 * dropout generator at the rank's first micro-batch (offset by rank·2^32). `stop`: this rank asks to stop after the
 * step; the result's `stop` is whether any rank asked. A global batch with no loss term skips the step (loss 0).
 */
export async function optimizerStep(task: TrainTask, rows: number[], step: number, options: StepOptions, share: StepShare, stop: boolean): Promise<StepResult & { stop: boolean }> {
  const whole = task.batch(rows, step);
  const { rank, world, accumulation } = share;
  const parts = splitEvenly(rows.length, accumulation * world).map(([from, to]) => sliceBatch(whole, from, to));
  const terms = parts.map(lossTerms);
  const total = terms.reduce((a, t) => a + t, 0);
  if (total === 0) return { loss: 0, gradNorm: 0, stop }; // HF: a NaN loss; nothing to learn from this batch
  let result: StepResult | undefined;
  for (let j = 0; j < accumulation; j++) {
    const p = j * world + rank;
    const update = j === accumulation - 1;
    if (terms[p] === 0 && !update) continue;
    // a rank with nothing (left) to contribute still takes part in the update: an empty batch, no forward
    const batch = terms[p] === 0 ? emptyLike(whole) : parts[p];
    const first = result === undefined;
    result = await task.step(batch, {
      ...options,
      seed: first && options.seed !== undefined ? options.seed + rank * 2 ** 32 : undefined,
      update,
      accumulate: !first,
      lossWeight: terms[p] / total,
      stop: update && stop,
    });
  }
  return { ...result!, stop: result!.stop ?? stop };
}

/** A batch of no rows shaped like `b` (its targets or labels empty too). */
function emptyLike(b: TaskBatch): TaskBatch {
  return {
    ids: new Int32Array(0),
    cuSeqlens: new Int32Array(1),
    rows: 0,
    ...(b.targets ? { targets: new Float32Array(0) } : {}),
    ...(b.labels ? { labels: new Int32Array(0) } : {}),
  };
}
