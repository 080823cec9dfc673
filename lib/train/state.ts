/** What a run leaves on disk besides the weights: our resumable state, HF's trainer_state.json, log_history entries. */
import type { LrSchedulerType } from './lr-schedules';
import type { LogEntry } from './options';
import type { Evaluation } from './task';

/** Our resumable state, saved in each checkpoint as radbert_state.json. */
export interface RadbertState {
  format: 'radbert-train-state';
  version: 1;
  global_step: number;
  /** Epoch (0-based) to continue in, and how many of its batches are done. */
  epoch_index: number;
  step_in_epoch: number;
  steps_per_epoch: number;
  total_steps: number;
  warmup_steps: number;
  base_learning_rate: number;
  scheduler: { type: LrSchedulerType; last_epoch: number };
  prng: { algorithm: string; seed: number; epoch_seed: string };
  /** Row order (indices into the training split) of epoch epoch_index. */
  data_order: number[];
  train_rows: number;
  /** Rows per optimizer step (per-device batch × processes × accumulation); absent in older checkpoints. */
  global_batch_size?: number;
  loss_since_log: number;
  steps_since_log: number;
  total_loss: number;
  last_grad_norm: number | null;
  /** EarlyStoppingCallback's counter of evaluations without improvement (runs with early stopping). */
  early_stopping_patience_counter?: number;
  /** Why this checkpoint was written: the save strategy (epoch end, every save_steps, the last step) or interrupt / crash. */
  reason: 'epoch' | 'steps' | 'last-step' | 'interrupt' | 'crash';
  elapsed_s: number;
}

/** HF's trainer_state.json. */
export interface TrainerState {
  /** The step of the best checkpoint (null before the first evaluation). */
  best_global_step: number | null;
  /** The best value of metric_for_best_model so far. */
  best_metric: number | null;
  /** The folder of the best checkpoint. */
  best_model_checkpoint: string | null;
  /** Epochs done, fractional (global_step / steps per epoch). */
  epoch: number;
  /** Optimizer steps between evaluations (500, HF's default, when evaluating per epoch). */
  eval_steps: number;
  /** Optimizer steps done. */
  global_step: number;
  /** Always false (no hyper-parameter search). */
  is_hyper_param_search: boolean;
  /** Always true: only rank 0 writes the file. */
  is_local_process_zero: boolean;
  /** Always true: only rank 0 writes the file. */
  is_world_process_zero: boolean;
  /** One entry per logging step and per evaluation, HF's keys (loss, grad_norm, learning_rate, eval_*). */
  log_history: LogEntry[];
  /** Optimizer steps between training-loss log entries. */
  logging_steps: number;
  /** Optimizer steps of the whole run. */
  max_steps: number;
  /** Always 0 (HF counts it only with include_num_input_tokens_seen). */
  num_input_tokens_seen: number;
  /** Epochs of the run. */
  num_train_epochs: number;
  /** Optimizer steps between checkpoints (500 when saving per epoch). */
  save_steps: number;
  /** Callback states as HF writes them: EarlyStoppingCallback's arguments and counter with early stopping, else empty. */
  stateful_callbacks: Record<string, unknown>;
  /** Always 0 (not counted). */
  total_flos: number;
  /** The per-device training batch size. */
  train_batch_size: number;
  /** Always null (no hyper-parameter search). */
  trial_name: null;
  /** Always null (no hyper-parameter search). */
  trial_params: null;
}

/** What trainerState() needs of the running loop. */
export interface TrainerStateInput {
  bestStep: number | null;
  bestMetric: number | null;
  bestCheckpoint: string | null;
  epoch: number;
  globalStep: number;
  logHistory: LogEntry[];
  loggingSteps: number;
  totalSteps: number;
  epochs: number;
  batchSize: number;
  /** eval_steps / save_steps of a 'steps' strategy (else HF's default 500 is recorded). */
  evalSteps?: number | null;
  saveSteps?: number | null;
  /** EarlyStoppingCallback's arguments and counter, when the run stops early. */
  earlyStopping?: { patience: number; threshold: number; counter: number };
}

/** HF's trainer_state.json of the run as it stands. */
export function trainerState(s: TrainerStateInput): TrainerState {
  return {
    best_global_step: s.bestStep,
    best_metric: s.bestMetric,
    best_model_checkpoint: s.bestCheckpoint,
    epoch: s.epoch,
    eval_steps: s.evalSteps ?? 500,
    global_step: s.globalStep,
    is_hyper_param_search: false,
    is_local_process_zero: true,
    is_world_process_zero: true,
    log_history: s.logHistory,
    logging_steps: s.loggingSteps,
    max_steps: s.totalSteps,
    num_input_tokens_seen: 0,
    num_train_epochs: s.epochs,
    save_steps: s.saveSteps ?? 500,
    stateful_callbacks: s.earlyStopping
      ? {
          EarlyStoppingCallback: {
            args: { early_stopping_patience: s.earlyStopping.patience, early_stopping_threshold: s.earlyStopping.threshold },
            attributes: { early_stopping_patience_counter: s.earlyStopping.counter },
          },
        }
      : {},
    total_flos: 0,
    train_batch_size: s.batchSize,
    trial_name: null,
    trial_params: null,
  };
}

/** HF Trainer's log_history entry of an evaluation: <prefix>_loss, <prefix>_<metric>, runtime and rates, epoch, step. */
export function evalLogEntry(prefix: 'eval' | 'test', ev: Evaluation, epoch: number, step: number): LogEntry {
  const entry: LogEntry = { [`${prefix}_loss`]: ev.loss };
  for (const [key, v] of Object.entries(ev.metrics)) entry[`${prefix}_${key}`] = v;
  entry[`${prefix}_runtime`] = round(ev.runtime, 4);
  entry[`${prefix}_samples_per_second`] = round(ev.runtime > 0 ? ev.rows / ev.runtime : 0, 3);
  entry[`${prefix}_steps_per_second`] = round(ev.runtime > 0 ? ev.batches / ev.runtime : 0, 3);
  entry.epoch = epoch;
  entry.step = step;
  return entry;
}

/** `x` rounded to `digits` decimals (as HF rounds runtimes and rates). */
export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
