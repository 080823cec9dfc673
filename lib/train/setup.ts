/** Set-up of a run before the loop: where output goes, the run folder (resume or start over), training_args.json. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors';
import { readJsonFile, readJsonObjectIfAny, removeStaleTemps } from '../files';
import { lastCheckpoint, listCheckpoints } from './checkpoints';
import { TRAIN_DEFAULTS, type ResolvedTrainOptions, type TrainOptions } from './options';
import type { RadbertState, TrainerState } from './state';
import { ASL_DEFAULTS, DEFAULT_MAX_POS_WEIGHT } from './losses';
import type { BestRule } from './task';

/** Where table rows / results (print) and notices (info) go. */
export interface Output {
  print: (line: string) => void;
  info: (line: string) => void;
}

/** print → stdout and info → stderr unless the options redirect or silence them (or this is not rank 0 of a run). */
export function outputOf(o: ResolvedTrainOptions, dist?: { isMain: boolean }): Output {
  const quiet = o.quiet === true || dist?.isMain === false;
  const line = (stream: NodeJS.WriteStream) => (l: string) => void stream.write(l.endsWith('\n') ? l : `${l}\n`);
  return {
    print: quiet ? () => undefined : (o.print ?? line(process.stdout)),
    info: quiet ? () => undefined : (o.info ?? line(process.stderr)),
  };
}

/** The run folder and, when resuming, the checkpoint and its two state files. */
export interface RunFolder {
  outputDir: string;
  resumeDir?: string;
  resumeState?: RadbertState;
  resumeTrainerState?: TrainerState;
  /** Temporaries of a killed earlier save that were removed (their process is gone). */
  removedTemps: string[];
  /** The resumed checkpoint's training_args.json (its preset and model carry over), when readable. */
  resumeArgs?: Record<string, unknown>;
}

/**
 * Resume from the last (or the named) checkpoint, or start a new run: an output folder holding an earlier run's
 * checkpoints is refused unless overwriteOutputDir, which deletes them. Either way, temporaries of a save that was
 * killed (by a process no longer alive) are removed first.
 */
export function prepareRunFolder(o: ResolvedTrainOptions, { write = true }: { write?: boolean } = {}): RunFolder {
  const outputDir = path.resolve(o.outputDir);
  // a save killed mid-way leaves checkpoint-N.tmp-PID/ or .<file>.tmp-PID-*: remove those of dead processes
  // (only the process that writes the folder, rank 0 of a data-parallel run, touches it)
  const removedTemps = write ? removeStaleTemps(outputDir) : [];
  let resumeDir: string | undefined;
  if (o.resume) {
    resumeDir = typeof o.resume === 'string' ? path.resolve(o.resume) : lastCheckpoint(outputDir);
    if (!resumeDir) throw new Error(`--resume: no checkpoint-*/radbert_state.json in ${outputDir} (nothing to resume; drop --resume to start a new run)`);
    if (!fs.existsSync(path.join(resumeDir, 'radbert_state.json'))) throw new Error(`${resumeDir}: not a resumable checkpoint (no radbert_state.json)`);
  } else if (listCheckpoints(outputDir).length) {
    if (!o.overwriteOutputDir)
      throw new UsageError(`${outputDir} already holds checkpoints of an earlier run: pass --resume to continue it, --overwrite-output-dir to start over, or another --output-dir`);
    if (write) for (const c of listCheckpoints(outputDir)) fs.rmSync(c.dir, { recursive: true, force: true });
  }
  if (!resumeDir) return { outputDir, removedTemps };
  return {
    outputDir,
    removedTemps,
    resumeDir,
    resumeState: readJsonFile<RadbertState>(path.join(resumeDir, 'radbert_state.json')),
    resumeTrainerState: readJsonFile<TrainerState>(path.join(resumeDir, 'trainer_state.json')),
    resumeArgs: readJsonObjectIfAny(path.join(resumeDir, 'training_args.json')),
  };
}

/**
 * train's max length when none is given: the one the resumed checkpoint, or a local --model folder that radbert-native
 * trained, was trained with (their training_args.json), so a run continues as it began; else undefined (the seed's 256).
 */
export function inheritedMaxLength(options: TrainOptions): number | undefined {
  if (options.maxLength !== undefined) return options.maxLength;
  const from = options.resume
    ? typeof options.resume === 'string'
      ? path.resolve(options.resume)
      : lastCheckpoint(path.resolve(options.outputDir ?? TRAIN_DEFAULTS.outputDir))
    : options.model;
  const file = from ? path.join(from, 'training_args.json') : undefined;
  if (!file || !fs.existsSync(file)) return undefined;
  const v = readJsonFile<Record<string, unknown>>(file).max_length;
  return typeof v === 'number' && Number.isInteger(v) && v >= 3 ? v : undefined;
}

/**
 * training_args.json: HF TrainingArguments' names for the recipe (and EarlyStoppingCallback's for early stopping), then
 * ours (data, model, loss, batch order, eval loss). `evalLoss` says what the classification eval loss is.
 */
export function trainingArguments(o: ResolvedTrainOptions, run: RunFolder, best: BestRule, device: string, evalLoss = 'BCEWithLogits mean over all eval rows and labels'): Record<string, unknown> {
  const evalStrategy = o.evalStrategy ?? 'epoch';
  const evalSteps = evalStrategy === 'steps' ? (o.evalSteps ?? o.loggingSteps) : null;
  const lrSchedulerType = o.lrSchedulerType ?? 'linear';
  return {
    output_dir: run.outputDir,
    num_train_epochs: o.epochs,
    max_steps: o.maxSteps,
    learning_rate: o.learningRate,
    per_device_train_batch_size: o.batchSize,
    per_device_eval_batch_size: o.evalBatchSize,
    gradient_accumulation_steps: o.gradientAccumulationSteps,
    ddp_backend: o.ddpBackend ?? null,
    ddp_timeout: o.ddpTimeout,
    weight_decay: o.weightDecay,
    adam_beta1: o.adamBeta1,
    adam_beta2: o.adamBeta2,
    adam_epsilon: o.adamEpsilon,
    max_grad_norm: o.maxGradNorm,
    lr_scheduler_type: lrSchedulerType,
    lr_scheduler_kwargs: typeof o.lrSchedulerKwargs === 'string' ? JSON.parse(o.lrSchedulerKwargs) : (o.lrSchedulerKwargs ?? {}),
    warmup_ratio: o.warmupRatio,
    warmup_steps: o.warmupSteps,
    optim: 'adamw_torch_fused',
    bf16: o.bf16 === true,
    logging_strategy: 'steps',
    logging_steps: o.loggingSteps,
    eval_strategy: evalStrategy,
    eval_steps: evalSteps,
    save_strategy: o.saveStrategy ?? evalStrategy,
    // HF's default save_steps (500) when the save strategy is epoch
    save_steps: (o.saveStrategy ?? evalStrategy) === 'steps' ? (o.saveSteps ?? evalSteps) : 500,
    save_total_limit: o.saveTotalLimit,
    load_best_model_at_end: true,
    metric_for_best_model: o.metricForBestModel ?? best.metric,
    greater_is_better: best.greaterIsBetter,
    early_stopping_patience: o.earlyStoppingPatience ?? null,
    early_stopping_threshold: o.earlyStoppingPatience === undefined ? null : (o.earlyStoppingThreshold ?? 0),
    seed: o.seed,
    data_seed: null,
    // ours
    dataset: o.dataset,
    text_column: o.textColumn,
    label_column: o.labelColumn,
    min_label_count: o.minLabelCount,
    skip_bad_rows: o.skipBadRows,
    split_seed: o.splitSeed,
    validation_split_source: o.validationSplitSource ?? 'resplit',
    validation_fraction: o.validationSplitSource === 'dataset' ? null : 0.15,
    tokenizer: o.tokenizer ?? null,
    max_length: o.maxLength,
    model: o.model ?? stringOrNull(run.resumeArgs?.model),
    new_head: o.newHead === true,
    // a resumed run keeps the preset it started from (the model card names it)
    init: o.model ? null : run.resumeDir ? stringOrNull(run.resumeArgs?.init) : (o.init ?? 'tiny'),
    threshold: o.threshold,
    tune_thresholds: o.tuneThresholds,
    min_threshold_support: o.minThresholdSupport,
    loss: o.loss ?? 'bce',
    pos_weight: typeof o.posWeight === 'string' ? o.posWeight : o.posWeight === undefined ? 'none' : 'values passed to train()',
    max_pos_weight: o.posWeight === 'auto' ? (o.maxPosWeight ?? DEFAULT_MAX_POS_WEIGHT) : null,
    ...(o.loss === 'asl'
      ? { asl_gamma_neg: o.aslGammaNeg ?? ASL_DEFAULTS.gammaNeg, asl_gamma_pos: o.aslGammaPos ?? ASL_DEFAULTS.gammaPos, asl_clip: o.aslClip ?? ASL_DEFAULTS.clip }
      : {}),
    device,
    batch_order: 'numpy PCG64 permutation per epoch, seeded (seed << 32) + epoch (not torch RandomSampler order)',
    eval_loss: `${evalLoss}, float64 from the logits`,
  };
}

function stringOrNull(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}
