/**
 * The state of a running loop and the named steps the loop calls: resume it from a checkpoint, log the training loss,
 * evaluate + report + pick the best + save when the flow says (train/callbacks.ts), save a checkpoint, save after a
 * crash, finish the run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../files';
import type { Progress } from './progress';
import { rotateCheckpoints, writeCheckpoint, writeRunFiles } from './checkpoints';
import type { LogEntry, ResolvedTrainOptions, TrainResult } from './options';
import { TRAINING_CURVES_FILE, writeTrainingCurves } from './curves';
import { metricsRow, splitRowsTable, tableHeader, epochColumns } from './report';
import { dueAfterStep, patienceAfter, type Flow } from './callbacks';
import { epochOrder, epochSeed } from './schedule';
import type { Output, RunFolder } from './setup';
import { evalLogEntry, round, trainerState, type RadbertState, type TrainerState } from './state';
import { bestValue, isBetter, type BestRule, type TrainTask } from './task';
import type { Dist } from '../dist/group';

/** Everything the loop and its steps share: the task, options, plan, output and the counters that resume restores. */
export interface Run {
  task: TrainTask;
  /** This process's part in a data-parallel run (rank 0 writes, every rank evaluates its share), if any. */
  dist?: Dist;
  o: ResolvedTrainOptions;
  folder: RunFolder;
  out: Output;
  progress: Progress;
  trainingArgs: Record<string, unknown>;
  /** The step plan; globalBatch = per-device batch × processes × gradient accumulation steps (rows per optimizer step). */
  plan: { stepsPerEpoch: number; totalSteps: number; epochs: number; warmup: number; globalBatch: number; flow: Flow };
  /** metric_for_best_model and greater_is_better in effect. */
  best: BestRule;
  t0: number;
  elapsedBefore: number;
  globalStep: number;
  epochIndex: number;
  stepInEpoch: number;
  /** Row order of the current epoch. */
  order: number[];
  lossSinceLog: number;
  stepsSinceLog: number;
  totalLoss: number;
  lastGradNorm: number | null;
  lastTrainLoss?: number;
  logHistory: LogEntry[];
  bestMetric: number | null;
  bestCheckpoint: string | null;
  bestStep: number | null;
  /** EarlyStoppingCallback's early_stopping_patience_counter. */
  patienceCounter: number;
  lastSaved?: string;
  headerPrinted: boolean;
}

/** The counters of a new run, or of the checkpoint being resumed (bit-exact: same order, step, losses, best). */
export function resumeCounters(task: TrainTask, o: ResolvedTrainOptions, folder: RunFolder) {
  const rs = folder.resumeState;
  const ts = folder.resumeTrainerState;
  const logHistory: LogEntry[] = ts ? [...ts.log_history] : [];
  let bestCheckpoint = ts?.best_model_checkpoint ?? null;
  if (bestCheckpoint && !fs.existsSync(bestCheckpoint)) {
    // the run folder may have moved: look for the same checkpoint name in this one
    const here = path.join(folder.outputDir, path.basename(bestCheckpoint));
    bestCheckpoint = fs.existsSync(here) ? here : null;
  }
  const epochIndex = rs?.epoch_index ?? 0;
  let lastTrainLoss: number | undefined;
  for (const e of logHistory) if (typeof e.loss === 'number') lastTrainLoss = e.loss;
  return {
    logHistory,
    bestMetric: ts?.best_metric ?? null,
    bestCheckpoint,
    bestStep: ts?.best_global_step ?? null,
    patienceCounter: rs?.early_stopping_patience_counter ?? 0,
    globalStep: rs?.global_step ?? 0,
    epochIndex,
    stepInEpoch: rs?.step_in_epoch ?? 0,
    lossSinceLog: rs?.loss_since_log ?? 0,
    stepsSinceLog: rs?.steps_since_log ?? 0,
    totalLoss: rs?.total_loss ?? 0,
    lastGradNorm: rs?.last_grad_norm ?? null,
    lastTrainLoss,
    order: rs && rs.epoch_index === epochIndex && rs.data_order.length === task.trainRows ? rs.data_order : epochOrder(task.trainRows, o.seed, epochIndex),
    elapsedBefore: rs?.elapsed_s ?? 0,
    headerPrinted: false,
  };
}

/** Print a table line (clearing the progress bar first). */
function print(r: Run, line: string): void {
  r.progress.clear();
  r.out.print(line);
}

/** Add a log_history entry (and tell onLog). */
export function addLog(r: Run, entry: LogEntry): void {
  r.logHistory.push(entry);
  r.o.onLog?.(entry);
}

/** After a step: every loggingSteps steps, log the mean training loss since the last log (HF's `loss` entry). */
export function logTraining(r: Run, gradNorm: number, lr: number, epoch: number): void {
  if (r.globalStep % r.o.loggingSteps !== 0) return;
  const loss = r.lossSinceLog / r.stepsSinceLog;
  r.lastTrainLoss = loss;
  r.lossSinceLog = 0;
  r.stepsSinceLog = 0;
  addLog(r, { loss, grad_norm: gradNorm, learning_rate: lr, epoch, step: r.globalStep });
  r.progress.line(` | logged loss ${loss.toFixed(4)} lr ${lr.toExponential(3)} grad_norm ${gradNorm.toFixed(4)}`);
}

function stateOf(r: Run, reason: RadbertState['reason']): RadbertState {
  return {
    format: 'radbert-train-state',
    version: 1,
    global_step: r.globalStep,
    epoch_index: r.epochIndex,
    step_in_epoch: r.stepInEpoch,
    steps_per_epoch: r.plan.stepsPerEpoch,
    total_steps: r.plan.totalSteps,
    warmup_steps: r.plan.warmup,
    base_learning_rate: r.o.learningRate,
    scheduler: { type: r.o.lrSchedulerType ?? 'linear', last_epoch: r.globalStep },
    prng: { algorithm: 'numpy PCG64 permutation per epoch', seed: r.o.seed, epoch_seed: epochSeed(r.o.seed, r.epochIndex).toString() },
    data_order: r.order,
    train_rows: r.task.trainRows,
    global_batch_size: r.plan.globalBatch,
    loss_since_log: r.lossSinceLog,
    steps_since_log: r.stepsSinceLog,
    total_loss: r.totalLoss,
    last_grad_norm: r.lastGradNorm,
    ...(r.o.earlyStoppingPatience !== undefined ? { early_stopping_patience_counter: r.patienceCounter } : {}),
    reason,
    elapsed_s: r.elapsedBefore + (Date.now() - r.t0) / 1000,
  };
}

function trainerStateOf(r: Run, epoch: number): TrainerState {
  return trainerState({
    bestStep: r.bestStep, bestMetric: r.bestMetric, bestCheckpoint: r.bestCheckpoint, epoch, globalStep: r.globalStep, logHistory: r.logHistory,
    loggingSteps: r.o.loggingSteps, totalSteps: r.plan.totalSteps, epochs: r.plan.epochs, batchSize: r.o.batchSize,
    evalSteps: r.plan.flow.evalSteps, saveSteps: r.plan.flow.saveSteps,
    earlyStopping: r.o.earlyStoppingPatience === undefined ? undefined : {
      patience: r.o.earlyStoppingPatience, threshold: r.o.earlyStoppingThreshold ?? 0, counter: r.patienceCounter,
    },
  });
}

/** Whether this process writes the run's files: alone, or rank 0 of a data-parallel run. */
function writes(r: Run): boolean {
  return !r.dist || r.dist.isMain;
}

/**
 * Save checkpoint-<step> and rotate old ones (save_total_limit, never the best nor the newest). In a data-parallel run
 * rank 0 writes and the others wait at a barrier (not after a crash: the others may be gone).
 */
export async function saveCheckpoint(r: Run, epoch: number, reason: RadbertState['reason']): Promise<string> {
  // HF's _save_checkpoint: the best model checkpoint is checkpoint-<best step> once that folder exists (an evaluation
  // between two saves can be best without a checkpoint of its own)
  if (r.bestStep !== null) {
    const best = path.join(r.folder.outputDir, `checkpoint-${r.bestStep}`);
    if (r.bestStep === r.globalStep || fs.existsSync(best)) r.bestCheckpoint = best;
  }
  let dir = path.join(r.folder.outputDir, `checkpoint-${r.globalStep}`);
  if (writes(r)) {
    dir = await writeCheckpoint(r.folder.outputDir, r.task, stateOf(r, reason), trainerStateOf(r, epoch), r.trainingArgs);
    const deleted = rotateCheckpoints(r.folder.outputDir, r.o.saveTotalLimit, r.bestCheckpoint);
    if (deleted.length) {
      r.progress.clear();
      r.out.info(`deleted ${deleted.map((d) => path.basename(d)).join(', ')} (save_total_limit ${r.o.saveTotalLimit})`);
    }
  }
  if (r.dist && reason !== 'crash') await r.dist.barrier();
  r.lastSaved = dir;
  return dir;
}

/**
 * After an optimizer step: evaluate and save when the flow says so (HF's DefaultFlowCallback; `epochEnd`: an epoch
 * just ended, or the run's last step ends inside one). Returns whether it saved and whether early stopping ends the run.
 */
export async function evaluateAndSaveIfDue(r: Run, epoch: number, epochEnd: boolean): Promise<{ saved: boolean; stop: boolean }> {
  const due = dueAfterStep(r.plan.flow, r.globalStep, r.plan.totalSteps, epochEnd);
  const stop = due.evaluate ? await evaluate(r, epoch) : false;
  if (due.save) await saveCheckpoint(r, epoch, r.plan.flow.saveStrategy === 'steps' ? 'steps' : r.stepInEpoch === 0 ? 'epoch' : 'last-step');
  return { saved: due.save, stop };
}

/** Evaluate on validation, print the table row, count patience, keep the best; returns whether early stopping stops the run. */
async function evaluate(r: Run, epoch: number): Promise<boolean> {
  const ev = await r.task.evaluate('validation', r.dist);
  addLog(r, evalLogEntry('eval', ev, epoch, r.globalStep));
  if (!r.headerPrinted) {
    print(r, tableHeader(epochColumns(r.task.metrics)));
    r.headerPrinted = true;
  }
  print(r, metricsRow(r.lastTrainLoss, epoch, r.globalStep, ev.loss, ev.metrics, r.task.metrics));
  if (!r.task.evalRows) return false;
  const value = bestValue(r.best, ev);
  // as HF: EarlyStoppingCallback.on_evaluate sees the best metric before Trainer._determine_best_metric updates it
  const patience = r.o.earlyStoppingPatience;
  if (patience !== undefined) r.patienceCounter = patienceAfter(r.patienceCounter, value, r.bestMetric, r.best.greaterIsBetter, r.o.earlyStoppingThreshold ?? 0);
  if (isBetter(r.best, value, r.bestMetric)) {
    r.bestMetric = value;
    r.bestStep = r.globalStep;
  }
  return patience !== undefined && r.patienceCounter >= patience;
}

/** A step threw: save what there is (resumable with --resume) when the run got past where it started, then rethrow. */
export async function saveAfterCrash(r: Run, err: unknown, epoch: number): Promise<never> {
  if (r.globalStep > (r.folder.resumeState?.global_step ?? 0)) {
    try {
      const dir = await saveCheckpoint(r, epoch, 'crash');
      r.out.info(`training failed at step ${r.globalStep}; saved ${dir} (weights as they were when it failed; resume with --resume)`);
    } catch (saveErr) {
      r.out.info(`training failed, and saving a checkpoint failed too: ${(saveErr as Error).message}`);
    }
  }
  throw err;
}

/** End of training: the summary log entry, the best weights back, the test split, the final model folder. */
export async function finishRun(r: Run, epoch: number, result: Omit<TrainResult, 'labels'>): Promise<void> {
  const runtime = r.elapsedBefore + (Date.now() - r.t0) / 1000;
  addLog(r, {
    train_runtime: round(runtime, 4),
    train_samples_per_second: round((r.plan.totalSteps * r.plan.globalBatch) / runtime, 3),
    train_steps_per_second: round(r.plan.totalSteps / runtime, 3),
    total_flos: 0,
    train_loss: r.globalStep ? r.totalLoss / r.globalStep : 0,
    epoch,
    step: r.globalStep,
  });
  if (r.bestCheckpoint && fs.existsSync(path.join(r.bestCheckpoint, 'model.safetensors'))) {
    r.out.info(`Loading best model from ${r.bestCheckpoint} (score: ${r.bestMetric}).`);
    const rep = await r.task.model.loadWeights([path.join(r.bestCheckpoint, 'model.safetensors')]);
    if (rep.missing.length) throw new Error(`${r.bestCheckpoint}: ${rep.missing.length} tensors missing`);
  }
  for (const line of (await r.task.finalize?.(r.dist)) ?? []) r.out.info(line);
  if (r.task.testRows) {
    const ev = await r.task.evaluate('test', r.dist);
    const entry = evalLogEntry('test', ev, epoch, r.globalStep);
    addLog(r, entry);
    print(r, `test split (${ev.rows} rows), best model${r.bestStep !== null ? ` (checkpoint-${r.bestStep})` : ''}:`);
    const rows = r.task.splitRows?.('test', ev) ?? [{ split: 'test', loss: ev.loss, metrics: ev.metrics }];
    for (const line of splitRowsTable(rows, r.task.metrics.filter((c) => rows.every((row) => typeof row.metrics[c.key] === 'number')))) print(r, line);
    result.test = { ...ev.metrics, loss: ev.loss } as TrainResult['test'];
    if (writes(r)) writeFileAtomic(path.join(r.folder.outputDir, 'test_results.json'), JSON.stringify(entry, null, 2) + '\n');
  }
  if (!writes(r)) return;
  await r.task.save(r.folder.outputDir);
  writeRunFiles(r.folder.outputDir, trainerStateOf(r, epoch), r.trainingArgs);
  await writeCurves(r);
  r.out.info(`saved the best model to ${r.folder.outputDir}`);
}

/** training_curves.svg in the run folder, from the log history so far; a chart that fails is a notice, never a lost run. */
export async function writeCurves(r: Run): Promise<void> {
  try {
    await writeTrainingCurves(r.folder.outputDir, r.logHistory, r.task.kind, r.task.lossName);
  } catch (err) {
    r.out.info(`note: could not draw ${TRAINING_CURVES_FILE}: ${(err as Error).message}`);
  }
}
