/**
 * The task a training run serves, handed to the loop (train/loop.ts) as one small object. The loop owns what every
 * task shares (the step plan and lr schedule, batch order, AdamW settings, logging, checkpoints and their rotation,
 * resume, Ctrl-C, trainer_state.json, the best-checkpoint bookkeeping); the task owns its data, batches, loss,
 * metrics, best-checkpoint rule, report row and the files it saves next to the weights.
 *
 * Classification (train/classify.ts) and masked-language-model training (train/mlm.ts) are the two tasks:
 *   - `trainRows` / `evalRows` / `testRows`: its text rows (a held-out `--validation-split` slice; testRows 0);
 *   - `batch(rows, step)`: tokenised texts → packed ids + cu_seqlens, masked as DataCollatorForLanguageModeling does
 *     (80 % [MASK], 10 % random, 10 % kept, specials never masked) with the generator of (seed, step); `labels` holds the token
 *     ids at masked positions and -100 elsewhere (`targets` stays unset);
 *   - `step(batch, opts)`: calls the native MLM step (masked-position cross-entropy) instead of the BCE step;
 *   - `evaluate('validation')`: `{ loss, metrics: { perplexity } }`; `metrics` columns [{ key: 'perplexity', title: 'Perplexity' }];
 *   - `best`: `{ metric: 'loss', greaterIsBetter: false }` (HF's metric_for_best_model 'loss');
 *   - `save(dir)`: a ModernBertForMaskedLM folder (config.json, weights, tokenizer files; no label_names.json).
 */
import type { NativeModel, StepOptions, StepResult } from '../native';
import type { PackedBatch } from '../model/tokenize';

/** One metric of a task: its key (as in log_history, after the `eval_`/`test_` prefix) and its table title. */
export interface MetricColumn<K extends string = string> {
  key: K;
  title: string;
  /** A lower value is better though the name does not end in "loss" (perplexity): metric_for_best_model's default direction. */
  lowerIsBetter?: boolean;
  /** Not a score of the model (the tuned threshold itself): never a metric_for_best_model. */
  notAScore?: boolean;
}

/** A training batch: the packed token ids, and the task's targets (float targets or token labels). */
export interface TaskBatch extends PackedBatch {
  /** Rows in the batch (for the progress rate). */
  rows: number;
  /** Classification: multi-hot targets, rows × labels. */
  targets?: Float32Array;
  /** Token-level tasks (MLM): the label of each packed token, -100 where no loss is taken. */
  labels?: Int32Array;
}

/** An evaluation of one split. */
export interface Evaluation {
  /** The task's loss, averaged as HF Trainer reports it. */
  loss: number;
  /** The task's metrics, keyed as `metrics` declares them (in that order). */
  metrics: Record<string, number>;
  /** Wall seconds, rows and forward batches (for HF's runtime / samples_per_second / steps_per_second). */
  runtime: number;
  rows: number;
  batches: number;
}

/**
 * A data-parallel evaluation: this rank evaluates its contiguous share of the split's batches (train/step.ts
 * evalShare) and the shares are gathered in rank order, so every rank gets one process's numbers.
 */
export interface EvalShard {
  rank: number;
  world: number;
  /** Every rank's values, in rank order. */
  allGather<T extends Float32Array | Float64Array>(values: T): Promise<T[]>;
}

/** HF's metric_for_best_model and greater_is_better: which checkpoint is best. */
export interface BestRule {
  /** 'loss' (the eval loss) or a key of `metrics`. */
  metric: string;
  greaterIsBetter: boolean;
}

/** A training task: data, batches, loss step, metrics, best-checkpoint rule, report and saved files. */
export interface TrainTask {
  /** What is trained (which training curves the run draws). */
  readonly kind: 'classification' | 'mlm';
  /** The loss's short name for the training curves' axis (default: the kind's usual loss). */
  readonly lossName?: string;
  /** The native model being trained (the loop saves its optimizer and loads the best weights at the end). */
  readonly model: NativeModel;
  /** Rows of the training split; the loop shuffles indices 0..trainRows-1 each epoch. */
  readonly trainRows: number;
  /** Rows of the validation split (0: no best-model selection, the last checkpoint is kept). */
  readonly evalRows: number;
  /** Rows of the test split, evaluated with the best model at the end (0: none). */
  readonly testRows: number;
  /** The metrics of evaluate(), in table order, with their column titles. */
  readonly metrics: ReadonlyArray<MetricColumn>;
  /** Which checkpoint is best. */
  readonly best: BestRule;
  /** The packed batch of these training-row indices at 0-based optimizer step `step` (MLM masks with (seed, step): resume is exact). */
  batch(rows: number[], step: number): TaskBatch;
  /** One optimizer step on a batch: the task's loss, backward, clipping and AdamW in the native model. */
  step(batch: TaskBatch, options: StepOptions): Promise<StepResult>;
  /** Loss and metrics of the current weights on a split (sharded over the ranks of a data-parallel run). */
  evaluate(split: 'validation' | 'test', shard?: EvalShard): Promise<Evaluation>;
  /**
   * After training, with the best weights loaded, before the test split and the final save: e.g. tune the decision
   * thresholds on the validation split (its predictions sharded like evaluate's). Returns notices to print.
   */
  finalize?(shard?: EvalShard): Promise<string[]>;
  /** The rows of a split's table (one per decision rule); default one row of `metrics`. */
  splitRows?(split: string, ev: Evaluation): Array<{ split: string; loss: number; metrics: Record<string, number> }>;
  /** Write the model folder into `dir`: config.json, the weights, tokenizer files and the task's extra files. */
  save(dir: string): Promise<void>;
  /** Free the model (the loop calls it once, whatever happened). */
  close(): void;
}

/** The value a BestRule compares. */
export function bestValue(rule: BestRule, ev: Evaluation): number {
  return rule.metric === 'loss' ? ev.loss : ev.metrics[rule.metric];
}

/** Whether `value` beats the best so far under the rule. */
export function isBetter(rule: BestRule, value: number, best: number | null): boolean {
  return best === null || (rule.greaterIsBetter ? value > best : value < best);
}
