/**
 * The training loop: the seed's recipe (Hugging Face Trainer defaults: AdamW 0.9/0.999/1e-8, linear decay, grad clip
 * 1.0, eval + save every epoch, best checkpoint by the task's metric) on the native model, with HF-shaped checkpoints
 * (trainer_state.json, training_args.json) that also resume bit-exactly (radbert_state.json, optimizer.safetensors).
 * Trainer's other schedules (train/lr-schedules.ts), step-wise evaluation, metric_for_best_model and early stopping
 * (train/callbacks.ts) are options.
 *
 * train() sets a run up (train/setup.ts), builds the task (train/classify.ts) and runs trainLoop(); the loop is
 * task-agnostic (train/task.ts says how a task plugs in) and its named steps live in train/run.ts.
 *
 * Batch order: each epoch shuffles the training rows with NumPy's PCG64 (data/rng.ts) seeded with
 * (seed << 32) + epoch. This is deterministic and resumable, but NOT the order of torch's RandomSampler, so runs
 * match HF Trainer in distribution, not step by step.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import { isMainProcess, withDistributed } from '../dist/run';
import type { Dist } from '../dist/group';
import { UsageError } from '../errors';
import { resolveDevice } from '../model/open';
import { native } from '../native';
import { classificationTask } from './classify';
import { linearProbe } from './probe';
import { resolveTrainOptions, type ResolvedTrainOptions, type TrainOptions, type RunResult, type TrainResult } from './options';
import { Progress } from './progress';
import { bestRule, resolveFlow } from './callbacks';
import { lrSchedule, type LrSchedule } from './lr-schedules';
import { evaluateAndSaveIfDue, finishRun, logTraining, resumeCounters, saveAfterCrash, saveCheckpoint, writeCurves, type Run } from './run';
import { epochOrder, planSteps, warmupStepsFor } from './schedule';
import { inheritedMaxLength, outputOf, prepareRunFolder, trainingArguments, type Output, type RunFolder } from './setup';
import { optimizerStep, type StepShare } from './step';
import type { TrainTask } from './task';

export type { LogEntry, TrainOptions, TrainResult } from './options';
export type { RadbertState, TrainerState } from './state';

/** Fine-tune a ModernBERT classifier with the seed's recipe; writes checkpoints and the best model to outputDir. */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const o = resolveTrainOptions({ ...options, maxLength: inheritedMaxLength(options) });
  const device = resolveDevice(o.device);
  if (o.threads) native().setNumThreads(o.threads);
  if (o.linearProbe && !isMainProcess()) throw new UsageError('--linear-probe runs in one process (no --nproc-per-node, WORLD_SIZE 1)');
  if (o.linearProbe) return linearProbe(o, outputOf(o), device);
  return withDistributed(o, device, async (dist) => {
    const out = outputOf(o, dist);
    const t0 = Date.now();
    const folder = prepareRunFolder(o, { write: dist?.isMain !== false });
    if (folder.removedTemps.length)
      out.info(`removed ${folder.removedTemps.length} temporary file(s) of an interrupted save in ${folder.outputDir}: ${folder.removedTemps.map((p) => path.relative(folder.outputDir, p)).join(', ')}`);
    const task = await classificationTask(o, { info: out.info, resumeDir: folder.resumeDir, device });
    try {
      out.info(`model: ${task.modelDescription}; ${task.model.info().numParameters.toLocaleString('en-US')} parameters on ${device}`);
      const trainingArgs = trainingArguments(o, folder, bestRule(o, task.best, task.metrics), device, task.lossDescription);
      const result = await trainLoop(task, o, folder, out, { t0, trainingArgs, dist });
      return { ...result, labels: task.labels };
    } finally {
      task.close();
    }
  });
}

/** Run the loop of any TrainTask from where `folder` says (fresh or resumed) to the end, an interrupt, or a crash. */
export async function trainLoop(
  task: TrainTask,
  o: ResolvedTrainOptions,
  folder: RunFolder,
  out: Output,
  extra: { t0: number; trainingArgs: Record<string, unknown>; dist?: Dist },
): Promise<RunResult> {
  const { dist } = extra;
  const share: StepShare = { rank: dist?.rank ?? 0, world: dist?.world ?? 1, accumulation: o.gradientAccumulationSteps };
  const globalBatch = o.batchSize * share.world * share.accumulation;
  const { stepsPerEpoch, totalSteps, epochs } = planSteps(task.trainRows, globalBatch, o.epochs, o.maxSteps);
  const warmup = warmupStepsFor(totalSteps, o.warmupRatio, o.warmupSteps);
  const schedule = lrSchedule(o.lrSchedulerType ?? 'linear', o.learningRate, totalSteps, warmup, o.lrSchedulerKwargs);
  const flow = resolveFlow(o, totalSteps);
  const best = bestRule(o, task.best, task.metrics);
  if (o.earlyStoppingPatience !== undefined && !task.evalRows) throw new UsageError('early stopping needs a validation split, and this one is empty');
  const rs = folder.resumeState;
  if (rs && rs.total_steps !== totalSteps) out.info(`note: the checkpoint planned ${rs.total_steps} steps, this run plans ${totalSteps} (the schedule follows this run)`);
  if (rs && rs.scheduler.type !== schedule.type) out.info(`note: the checkpoint was trained with the ${rs.scheduler.type} schedule, this run continues with ${schedule.type}`);
  if (rs && rs.train_rows !== task.trainRows) throw new Error(`${folder.resumeDir}: it was trained on ${rs.train_rows} rows, this train split has ${task.trainRows}`);
  if (rs?.global_batch_size !== undefined && rs.global_batch_size !== globalBatch)
    throw new UsageError(`${folder.resumeDir}: it was trained with ${rs.global_batch_size} rows per optimizer step, this run takes ${describeBatch(o.batchSize, share)}: resume with the same per-device batch × processes × gradient accumulation steps`);
  fs.mkdirSync(folder.outputDir, { recursive: true });
  await dist?.joinModel(task.model); // rank 0's weights everywhere; updates sum the gradients over the ranks

  const mode = o.progress === 'auto' ? (process.stderr.isTTY ? 'bar' : 'lines') : o.progress;
  const progress = new Progress(totalSteps, { tty: mode === 'bar', quiet: o.quiet === true || mode === 'none' || dist?.isMain === false });
  const r: Run = { task, o, folder, out, progress, ...extra, plan: { stepsPerEpoch, totalSteps, epochs, warmup, globalBatch, flow }, best, ...resumeCounters(task, o, folder) };
  if (!task.evalRows) out.info('note: the validation split is empty; no best-model selection (the last checkpoint is kept)');
  out.info(
    `training: ${totalSteps} steps (${stepsPerEpoch} per epoch, ${epochs} epoch(s)), batch ${describeBatch(o.batchSize, share)}, lr ${o.learningRate} ${scheduleWords(schedule)}` +
      `${warmup ? `, ${warmup} warmup steps` : ''}, seed ${o.seed}${r.globalStep ? `; resuming at step ${r.globalStep}` : ''}`,
  );
  if (flow.evalStrategy === 'steps') out.info(`evaluating every ${flow.evalSteps} steps, saving every ${flow.saveSteps}; best checkpoint by eval_${best.metric} (${best.greaterIsBetter ? 'higher' : 'lower'} is better)`);

  progress.start(r.globalStep);
  let interrupted = false;
  let earlyStopped = false;
  let epoch = r.globalStep / stepsPerEpoch; // fractional, as HF logs it
  try {
    while (r.globalStep < totalSteps && r.epochIndex < epochs && !interrupted && !earlyStopped) {
      const rows = r.order.slice(r.stepInEpoch * globalBatch, (r.stepInEpoch + 1) * globalBatch);
      const lr = schedule.lr(r.globalStep);
      const res = await optimizerStep(task, rows, r.globalStep, {
        lr, beta1: o.adamBeta1, beta2: o.adamBeta2, eps: o.adamEpsilon, weightDecay: o.weightDecay, maxGradNorm: o.maxGradNorm,
        seed: o.seed + r.globalStep, bf16: o.bf16 === true,
      }, share, o.signal?.aborted === true);
      r.globalStep++;
      r.stepInEpoch++;
      r.lossSinceLog += res.loss;
      r.stepsSinceLog++;
      r.totalLoss += res.loss;
      r.lastGradNorm = res.gradNorm;
      epoch = r.epochIndex + r.stepInEpoch / stepsPerEpoch;
      progress.tick(r.globalStep, res.loss, rows.length);
      o.onStep?.(r.globalStep, { loss: res.loss, gradNorm: res.gradNorm, learningRate: lr });
      logTraining(r, res.gradNorm, lr, epoch);

      const epochDone = r.stepInEpoch >= stepsPerEpoch;
      if (epochDone) {
        r.epochIndex++;
        r.stepInEpoch = 0;
        r.order = epochOrder(task.trainRows, o.seed, r.epochIndex);
      }
      const due = await evaluateAndSaveIfDue(r, epoch, epochDone || r.globalStep >= totalSteps);
      if (due.stop) {
        earlyStopped = true;
        if (r.globalStep < totalSteps)
          out.info(`early stopping at step ${r.globalStep}: eval_${best.metric} did not improve for ${o.earlyStoppingPatience} evaluation(s) (best ${r.bestMetric} at step ${r.bestStep})`);
      }
      if (dist ? res.stop : o.signal?.aborted) { // data parallel: every rank stops after the step one of them was asked to
        if (!due.saved) await saveCheckpoint(r, epoch, 'interrupt');
        interrupted = true;
      }
    }
  } catch (err) {
    progress.done();
    await saveAfterCrash(r, err, epoch);
  }
  progress.done();

  const result: Omit<TrainResult, 'labels'> = {
    outputDir: folder.outputDir,
    globalStep: r.globalStep,
    totalSteps,
    interrupted,
    ...(earlyStopped && r.globalStep < totalSteps ? { earlyStopped: true } : {}),
    checkpoint: r.lastSaved ?? folder.resumeDir,
    bestCheckpoint: r.bestCheckpoint ?? undefined,
    bestMetric: r.bestMetric ?? undefined,
    logHistory: r.logHistory,
  };
  if (!interrupted) await finishRun(r, epoch, result);
  else if (!dist || dist.isMain) await writeCurves(r);
  return result;
}

/** "8" or "8 per device × 2 processes × 2 accumulation steps = 32" for the start line. */
function describeBatch(perDevice: number, share: StepShare): string {
  if (share.world === 1 && share.accumulation === 1) return String(perDevice);
  const parts = [`${perDevice} per device`];
  if (share.world > 1) parts.push(`${share.world} processes`);
  if (share.accumulation > 1) parts.push(`${share.accumulation} accumulation steps`);
  return `${parts.join(' × ')} = ${perDevice * share.world * share.accumulation}`;
}

/** The schedule as the start line says it ("linear decay", "cosine schedule (num_cycles 0.5)"). */
function scheduleWords(s: LrSchedule): string {
  if (s.type === 'linear') return 'linear decay';
  const kw = Object.entries(s.kwargs).map(([k, v]) => `${k} ${v}`).join(', ');
  return `${s.type} schedule${kw ? ` (${kw})` : ''}`;
}
