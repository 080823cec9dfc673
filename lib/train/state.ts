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
  best_global_step: number | null;
  best_metric: number | null;
  best_model_checkpoint: string | null;
  epoch: number;
  eval_steps: number;
  global_step: number;
  is_hyper_param_search: boolean;
  is_local_process_zero: boolean;
  is_world_process_zero: boolean;
  log_history: LogEntry[];
  logging_steps: number;
  max_steps: number;
  num_input_tokens_seen: number;
  num_train_epochs: number;
  save_steps: number;
  stateful_callbacks: Record<string, unknown>;
  total_flos: number;
  train_batch_size: number;
  trial_name: null;
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
