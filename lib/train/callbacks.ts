/**
 * What HF Trainer's callbacks decide around each optimizer step, with transformers 5.17's semantics:
 * - when to evaluate and save (DefaultFlowCallback, `eval_strategy`/`eval_steps`, `save_strategy`/`save_steps`);
 * - which checkpoint is best (`metric_for_best_model`, `greater_is_better`, Trainer._determine_best_metric);
 * - when to stop early (EarlyStoppingCallback, `early_stopping_patience`, `early_stopping_threshold`).
 * `load_best_model_at_end` is always on here, so HF's rule applies: the save strategy is the eval strategy, and with
 * 'steps' save_steps is a multiple of eval_steps.
 */
import { UsageError } from '../errors';
import type { BestRule, MetricColumn } from './task';

/** `--eval-strategy` / `--save-strategy`: at each epoch's end, or every N optimizer steps. */
export const INTERVAL_STRATEGIES = ['epoch', 'steps'] as const;
/** One of INTERVAL_STRATEGIES. */
export type IntervalStrategy = (typeof INTERVAL_STRATEGIES)[number];

/** The options this module reads (a subset of TrainOptions). */
export interface FlowOptions {
  evalStrategy?: IntervalStrategy;
  evalSteps?: number;
  saveStrategy?: IntervalStrategy;
  saveSteps?: number;
  loggingSteps?: number;
  metricForBestModel?: string;
  greaterIsBetter?: boolean;
  earlyStoppingPatience?: number;
  earlyStoppingThreshold?: number;
}

/** When a run evaluates and saves: the strategies and, for 'steps', every how many optimizer steps. */
export interface Flow {
  evalStrategy: IntervalStrategy;
  saveStrategy: IntervalStrategy;
  /** Absolute steps (fractions resolved against the run's total steps, as TrainerState.compute_steps); null for 'epoch'. */
  evalSteps: number | null;
  saveSteps: number | null;
}

const stepsProblem = (v: number) => (v >= 1 && !Number.isInteger(v) ? `must be an integer if bigger than 1, got ${v}` : undefined);

/** Throws a UsageError for strategy options that do not go together (HF's TrainingArguments checks). */
export function checkFlowOptions(o: FlowOptions): void {
  const evalStrategy = o.evalStrategy ?? 'epoch';
  for (const [key, v] of [['eval strategy', o.evalStrategy], ['save strategy', o.saveStrategy]] as const)
    if (v !== undefined && !INTERVAL_STRATEGIES.includes(v)) throw new UsageError(`${key} must be epoch or steps, got ${v}`);
  const saveStrategy = o.saveStrategy ?? evalStrategy;
  if (saveStrategy !== evalStrategy)
    throw new UsageError(`the best model is loaded at the end, which requires the save and eval strategy to match, but found eval strategy ${evalStrategy}, save strategy ${saveStrategy}`);
  if (o.evalSteps !== undefined && evalStrategy !== 'steps') throw new UsageError('eval steps applies to --eval-strategy steps');
  if (o.saveSteps !== undefined && saveStrategy !== 'steps') throw new UsageError('save steps applies to --save-strategy steps');
  for (const [key, v] of [['eval steps', o.evalSteps], ['save steps', o.saveSteps]] as const) {
    const problem = v === undefined ? undefined : stepsProblem(v);
    if (problem) throw new UsageError(`${key} ${problem}`);
  }
  if (evalStrategy === 'steps') {
    const e = o.evalSteps ?? o.loggingSteps ?? 100;
    const s = o.saveSteps ?? e;
    if ((e < 1) !== (s < 1))
      throw new UsageError(`save steps must be a multiple of eval steps, which cannot be guaranteed when mixing a fraction and absolute steps (save steps ${s}, eval steps ${e})`);
    // HF compares fractions as integers scaled by 1e6
    const [ie, is] = e < 1 ? [Math.round(e * 1e6), Math.round(s * 1e6)] : [e, s];
    if (is % ie !== 0) throw new UsageError(`save steps must be a multiple of eval steps, but found ${s}, which is not a multiple of ${e}`);
  }
  if (o.earlyStoppingThreshold !== undefined && o.earlyStoppingPatience === undefined) throw new UsageError('early stopping threshold applies with --early-stopping-patience');
}

/** The run's flow: defaults filled in (eval_steps: logging_steps; save_steps: eval_steps) and fractions resolved. */
export function resolveFlow(o: FlowOptions, totalSteps: number): Flow {
  const evalStrategy = o.evalStrategy ?? 'epoch';
  const saveStrategy = o.saveStrategy ?? evalStrategy;
  const absolute = (v: number) => (v < 1 ? Math.ceil(totalSteps * v) : v);
  const evalSteps = evalStrategy === 'steps' ? (o.evalSteps ?? o.loggingSteps ?? 100) : null;
  const saveSteps = saveStrategy === 'steps' ? (o.saveSteps ?? evalSteps!) : null;
  return { evalStrategy, saveStrategy, evalSteps: evalSteps === null ? null : absolute(evalSteps), saveSteps: saveSteps === null ? null : absolute(saveSteps) };
}

/**
 * DefaultFlowCallback after optimizer step `step` (1-based: the global step just reached): whether to evaluate and to
 * save. `epochEnd`: an epoch just ended or training stops inside one (HF runs on_epoch_end after the last step too).
 */
export function dueAfterStep(flow: Flow, step: number, totalSteps: number, epochEnd: boolean): { evaluate: boolean; save: boolean } {
  const last = step >= totalSteps;
  const evaluate = flow.evalStrategy === 'epoch' ? epochEnd : step % flow.evalSteps! === 0 || last;
  const save = flow.saveStrategy === 'epoch' ? epochEnd : step % flow.saveSteps! === 0 || last;
  return { evaluate, save };
}

/** The metric a run keeps the best checkpoint by: the task's, or metric_for_best_model checked against the task's metrics. */
export function bestRule(o: FlowOptions, taskDefault: BestRule, metrics: ReadonlyArray<MetricColumn>): BestRule {
  if (o.metricForBestModel === undefined) return o.greaterIsBetter === undefined ? taskDefault : { ...taskDefault, greaterIsBetter: o.greaterIsBetter };
  const metric = o.metricForBestModel.replace(/^eval_/, '');
  const scores = metrics.filter((m) => !m.notAScore);
  const column = scores.find((m) => m.key === metric);
  if (metric !== 'loss' && !column) {
    const hint = metric === 'f1_tuned' ? ' (f1_tuned is a column of runs with --tune-thresholds)' : '';
    throw new UsageError(`metric for best model must be loss or one of the table's metrics (${scores.map((m) => m.key).join(', ')}), with or without eval_; got ${o.metricForBestModel}${hint}`);
  }
  // HF's default: lower is better for a name ending in "loss"; ours also knows the task's lower-is-better metrics (perplexity)
  const greaterIsBetter = o.greaterIsBetter ?? !(metric.endsWith('loss') || column?.lowerIsBetter === true);
  return { metric, greaterIsBetter };
}

/**
 * EarlyStoppingCallback.check_metric_value: the patience counter after an evaluation scoring `value`, against the best
 * metric before that evaluation (null before the first): reset on an improvement by more than `threshold`, else + 1.
 */
export function patienceAfter(counter: number, value: number, best: number | null, greaterIsBetter: boolean, threshold: number): number {
  const better = best === null || ((greaterIsBetter ? value > best : value < best) && Math.abs(value - best) > threshold);
  return better ? 0 : counter + 1;
}
