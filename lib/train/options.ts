/** train()'s options and result, their defaults and their checks (names follow the CLI flags and HF TrainingArguments). */
import type { DeviceOption } from '../model/open';
import type { HFConfig } from '../model/config';
import type { Metrics } from '../eval/metrics';
import { DEFAULT_MIN_THRESHOLD_SUPPORT, TUNE_METHODS } from '../eval/thresholds';
import { UsageError } from '../errors';
import { checkFlowOptions, type IntervalStrategy } from './callbacks';
import { checkLossOptions, type LossOptions } from './losses';
import { checkSchedule, type LrSchedulerKwargs, type LrSchedulerType } from './lr-schedules';

/** Options of train(); names follow the CLI flags (camelCase) and HF TrainingArguments where they exist. */
export interface TrainOptions extends LossOptions {
  /** Dataset: a local folder in the Hub's parquet layout, a .parquet/.jsonl/.csv file, or a Hub id `org/name`. */
  dataset: string;
  /** Hub revision (branch, tag or commit) of a dataset given as `org/name`. */
  datasetRevision?: string;
  /** Hub revision of a model given as `org/name`. */
  revision?: string;
  /** Text column (default 'caption'). */
  textColumn?: string;
  /** Label column (default 'cui'). */
  labelColumn?: string;
  /** Keep labels seen in at least this many training rows (default 1). */
  minLabelCount?: number;
  /** Drop bad rows (reported) instead of failing (default false). */
  skipBadRows?: boolean;
  /** Seed of the validation split (HF datasets shuffle; default 42, the seed's). */
  splitSeed?: number;
  /** Validation rows: 'resplit' (default: 15% of train, the seed's) or 'dataset' (the dataset's own validation split). */
  validationSplitSource?: 'resplit' | 'dataset';
  /** tokenizer.json or a folder with one (default: the model folder's). */
  tokenizer?: string;
  /** Truncate to this many tokens (default: the resumed checkpoint's or a --model folder's training max_length, else 256). */
  maxLength?: number;
  /** Pretrained model folder (body weights; the classifier head is newly initialised), or `org/name` in the local HF cache. */
  model?: string;
  /**
   * The model is a classifier for other labels: keep its body and head.dense/head.norm, re-initialise classifier.* for
   * this dataset's labels (HF's ignore_mismatched_sizes; default false: other labels are an error).
   */
  newHead?: boolean;
  /** Random initialisation from a preset (when no model is given). */
  init?: 'tiny' | 'small' | 'base' | 'large';
  /** Extra config.json keys for --init (e.g. vocab_size of a small tokenizer). */
  configOverrides?: HFConfig;
  /** CUI → name table (object or label_names.json path), saved as label_names.json. */
  labelNames?: Record<string, string> | string;
  /** Output folder (default 'ModernRadBERT-cui-classifier'). */
  outputDir?: string;
  /** Delete checkpoints of an earlier run in outputDir instead of refusing to start (default false). */
  overwriteOutputDir?: boolean;
  /** num_train_epochs (default 20). */
  epochs?: number;
  /** max_steps: > 0 overrides epochs (default -1). */
  maxSteps?: number;
  /** learning_rate (default 5e-5). */
  learningRate?: number;
  /** per_device_train_batch_size (default 8). */
  batchSize?: number;
  /**
   * gradient_accumulation_steps (default 1): an optimizer step every K batches, each batch's loss weighted by its share
   * so the update equals one step on the K batches together; logging, evaluation and checkpoints count optimizer steps.
   */
  gradientAccumulationSteps?: number;
  /** Data parallel (WORLD_SIZE > 1 in the environment): the process group's backend (default: nccl on CUDA, else gloo). */
  ddpBackend?: 'gloo' | 'nccl';
  /** Data parallel: seconds before the rendezvous or a collective gives up (ddp_timeout, default 1800). */
  ddpTimeout?: number;
  /** per_device_eval_batch_size (default: batchSize). */
  evalBatchSize?: number;
  /** weight_decay (default 0). */
  weightDecay?: number;
  /** adam_beta1 (default 0.9). */
  adamBeta1?: number;
  /** adam_beta2 (default 0.999). */
  adamBeta2?: number;
  /** adam_epsilon (default 1e-8). */
  adamEpsilon?: number;
  /** max_grad_norm (default 1.0; 0 disables clipping). */
  maxGradNorm?: number;
  /** warmup_ratio (default 0). */
  warmupRatio?: number;
  /** warmup_steps (default 0; wins over warmupRatio when > 0). */
  warmupSteps?: number;
  /** lr_scheduler_type: transformers' schedule of the learning rate (default 'linear'). */
  lrSchedulerType?: LrSchedulerType;
  /**
   * lr_scheduler_kwargs (an object or its JSON): cosine `num_cycles` (0.5), cosine_with_restarts `num_cycles` (1),
   * polynomial `lr_end` (1e-7) and `power` (1); the other schedules take none.
   */
  lrSchedulerKwargs?: LrSchedulerKwargs | string;
  /** eval_strategy: evaluate (and keep the best) at each epoch's end (default) or every evalSteps optimizer steps. */
  evalStrategy?: IntervalStrategy;
  /** eval_steps with evalStrategy 'steps': an integer, or a fraction < 1 of the total steps (default: loggingSteps). */
  evalSteps?: number;
  /** save_strategy: must be evalStrategy (HF's rule with load_best_model_at_end, which is always on; default: evalStrategy). */
  saveStrategy?: IntervalStrategy;
  /** save_steps with saveStrategy 'steps': a multiple of evalSteps (default: evalSteps). */
  saveSteps?: number;
  /** metric_for_best_model: 'loss' or a metric of the table, with or without `eval_` (default: train 'f1', mlm 'loss'). */
  metricForBestModel?: string;
  /** greater_is_better (default: false for a metric whose name ends in 'loss' and for perplexity, else true). */
  greaterIsBetter?: boolean;
  /** EarlyStoppingCallback: stop when metricForBestModel has not improved for this many evaluations (default: never). */
  earlyStoppingPatience?: number;
  /** EarlyStoppingCallback: an evaluation improves only when it beats the best by more than this (default 0). */
  earlyStoppingThreshold?: number;
  /** logging_steps (default 100). */
  loggingSteps?: number;
  /** save_total_limit (default 3; 0 = keep all). */
  saveTotalLimit?: number;
  /** seed (default 42): model init, batch order, dropout (seed + step). */
  seed?: number;
  /** Decision threshold of the metrics (default 0.5). */
  threshold?: number;
  /**
   * Tune decision thresholds on the validation split (eval/thresholds.ts): each evaluation reports micro-F1 at the
   * thresholds tuned on it ('F1 Tuned'), and after training the best model's thresholds are saved as thresholds.json,
   * which load()/predict()/serve/eval then use; the test split is reported at both rules. 'global': one threshold,
   * 'per-label': one per label with at least minThresholdSupport validation positives; 'none' keeps p > threshold.
   */
  tuneThresholds?: 'none' | 'global' | 'per-label';
  /** per-label tuning: labels with fewer positives in the validation split keep the global threshold (default 5). */
  minThresholdSupport?: number;
  /** Continue from the last checkpoint in outputDir (true) or from this checkpoint folder (string). */
  resume?: boolean | string;
  /** 'auto' | 'cpu' | 'cuda' (default 'auto'). */
  device?: DeviceOption;
  /** libtorch intra-op threads. */
  threads?: number;
  /** bf16 (HF Trainer's bf16=True): forward and loss under bf16 autocast, fp32 master weights, optimizer and checkpoints; evaluation under autocast too. */
  bf16?: boolean;
  /** Part 1 linear probe: freeze body and head, fit only the classifier layer as one-vs-rest logistic regressions (train/probe.ts). */
  linearProbe?: boolean;
  /** Linear probe: sklearn's C, the inverse L2 strength (default 1). */
  probeC?: number;
  /** Linear probe: write the features and labels it fitted on (train.x, train.y, validation.x, ... float32) to this .safetensors. */
  probeEmbeddings?: string;
  /** classifier_pooling of the classifier built from --model / --init ('cls' or 'mean'; default: the config's). */
  classifierPooling?: 'cls' | 'mean';
  /** Abort (e.g. Ctrl-C): the current step finishes, a checkpoint is saved, train() resolves with interrupted = true. */
  signal?: AbortSignal;
  /** Print nothing (default false). */
  quiet?: boolean;
  /** Progress display: 'auto' (bar on a TTY, else lines), 'bar', 'lines', 'none' (default 'auto'). */
  progress?: 'auto' | 'bar' | 'lines' | 'none';
  /** Where table rows and results go (default: process.stdout.write). */
  print?: (line: string) => void;
  /** Where notices go (default: process.stderr.write). */
  info?: (line: string) => void;
  /** Called with each log_history entry as it is added. */
  onLog?: (entry: LogEntry) => void;
  /** Called after each optimizer step. */
  onStep?: (step: number, result: { loss: number; gradNorm: number; learningRate: number }) => void;
}

/** One log_history entry (training log, evaluation, or the final summary), HF's keys. */
export type LogEntry = Record<string, number | null>;

/** What a run of the training loop returns (train() and trainMlm() add their own). */
export interface RunResult {
  /** The run's output folder (absolute). */
  outputDir: string;
  /** Optimizer steps done. */
  globalStep: number;
  /** Optimizer steps the run was planned for. */
  totalSteps: number;
  /** True when stopped by the signal; `checkpoint` then holds the resumable state. */
  interrupted: boolean;
  /** True when early stopping (earlyStoppingPatience) ended the run before its planned steps. */
  earlyStopped?: boolean;
  /** The last checkpoint written. */
  checkpoint?: string;
  /** The best checkpoint's folder (the weights loaded at the end and saved at the top of outputDir). */
  bestCheckpoint?: string;
  /** The best checkpoint's metric (metricForBestModel; default train: validation micro-F1, mlm: validation loss). */
  bestMetric?: number;
  /** trainer_state.json's log_history: the training log and every evaluation. */
  logHistory: LogEntry[];
}

/** What train() returns. */
export interface TrainResult extends RunResult {
  /** The labels (CUIs) in output order, as config.json's id2label. */
  labels: string[];
  /**
   * Metrics of the best model on the test split (with `loss`), when it has rows; with tuneThresholds also each metric
   * at the tuned thresholds (`f1_tuned`, …).
   */
  test?: Metrics & {
    /** The evaluation loss on the test split (the training loss's kind). */
    loss: number;
  } & Record<string, number>;
}


/** The options train() has a default for. */
type DefaultedKey =
  | 'textColumn' | 'labelColumn' | 'minLabelCount' | 'skipBadRows' | 'splitSeed' | 'maxLength' | 'outputDir' | 'epochs' | 'maxSteps'
  | 'learningRate' | 'batchSize' | 'weightDecay' | 'adamBeta1' | 'adamBeta2' | 'adamEpsilon' | 'maxGradNorm' | 'warmupRatio'
  | 'warmupSteps' | 'loggingSteps' | 'saveTotalLimit' | 'seed' | 'threshold' | 'tuneThresholds' | 'minThresholdSupport' | 'device' | 'progress'
  | 'gradientAccumulationSteps' | 'ddpTimeout';

/** Defaults of train() (HF Trainer's and the seed's). */
export const TRAIN_DEFAULTS: Required<Pick<TrainOptions, DefaultedKey>> = {
  textColumn: 'caption', labelColumn: 'cui', minLabelCount: 1, skipBadRows: false, splitSeed: 42, maxLength: 256,
  outputDir: 'ModernRadBERT-cui-classifier', epochs: 20, maxSteps: -1, learningRate: 5e-5, batchSize: 8, weightDecay: 0,
  adamBeta1: 0.9, adamBeta2: 0.999, adamEpsilon: 1e-8, maxGradNorm: 1.0, warmupRatio: 0, warmupSteps: 0, loggingSteps: 100,
  saveTotalLimit: 3, seed: 42, threshold: 0.5, tuneThresholds: 'none', minThresholdSupport: DEFAULT_MIN_THRESHOLD_SUPPORT,
  device: 'auto', progress: 'auto', gradientAccumulationSteps: 1, ddpTimeout: 1800,
};

/** TrainOptions with every default filled in. */
export type ResolvedTrainOptions = Omit<TrainOptions, DefaultedKey | 'evalBatchSize'> & Required<Pick<TrainOptions, DefaultedKey | 'evalBatchSize'>>;

/** Check the options (UsageError naming the bad one) and fill in the defaults. */
export function resolveTrainOptions(options: TrainOptions): ResolvedTrainOptions {
  checkOptions(options);
  const o = { ...TRAIN_DEFAULTS, ...stripUndefined(options) } as TrainOptions & Required<Pick<TrainOptions, DefaultedKey>>;
  return { ...o, evalBatchSize: o.evalBatchSize ?? o.batchSize };
}

/** The type and range of a numeric option: one rule checks both train()'s options and the CLI's flags. */
export interface NumberRule {
  type: 'number' | 'integer';
  /** Smallest accepted value, and whether it is excluded (> rather than >=). */
  min?: number;
  minExclusive?: boolean;
  /** Largest accepted value, and whether it is excluded (< rather than <=). */
  max?: number;
  maxExclusive?: boolean;
}

const positive: NumberRule = { type: 'number', min: 0, minExclusive: true };
const nonNegative: NumberRule = { type: 'number', min: 0 };
/** AdamW's betas: [0, 1) as torch.optim.AdamW requires. */
const beta: NumberRule = { type: 'number', min: 0, max: 1, maxExclusive: true };

/** Rules of train()'s numeric options (the CLI's flags spread these into their table). */
export const TRAIN_NUMBER_RULES = {
  epochs: positive,
  learningRate: positive,
  batchSize: { type: 'integer', min: 1 },
  gradientAccumulationSteps: { type: 'integer', min: 1 },
  ddpTimeout: positive,
  evalBatchSize: { type: 'integer', min: 1 },
  loggingSteps: { type: 'integer', min: 1 },
  maxLength: { type: 'integer', min: 3 },
  minLabelCount: { type: 'integer', min: 1 },
  splitSeed: { type: 'integer', min: 0, max: 0xffffffff },
  weightDecay: nonNegative,
  maxGradNorm: nonNegative,
  warmupRatio: { type: 'number', min: 0, max: 1 },
  warmupSteps: { type: 'integer', min: 0 },
  saveTotalLimit: { type: 'integer', min: 0 },
  adamBeta1: beta,
  adamBeta2: beta,
  adamEpsilon: positive,
  seed: { type: 'integer', min: 0, max: 0xffffffff },
  threshold: { type: 'number', min: 0, max: 1 },
  minThresholdSupport: { type: 'integer', min: 1 },
  threads: { type: 'integer', min: 1 },
  evalSteps: positive,
  saveSteps: positive,
  earlyStoppingPatience: { type: 'integer', min: 1 },
  earlyStoppingThreshold: nonNegative,
  maxPosWeight: positive,
  aslGammaNeg: nonNegative,
  aslGammaPos: nonNegative,
  aslClip: { type: 'number', min: 0, max: 1, maxExclusive: true },
} satisfies Partial<Record<keyof TrainOptions, NumberRule>>;

/** What is wrong with a value under a rule ("must be an integer", "must be >= 1", ...), or undefined when it is fine. */
export function numberProblem(v: unknown, rule: NumberRule): string | undefined {
  if (typeof v !== 'number' || !Number.isFinite(v)) return `must be a finite number, got ${typeof v === 'number' ? v : JSON.stringify(v)}`;
  if (rule.type === 'integer' && !Number.isInteger(v)) return `must be an integer, got ${v}`;
  const lo = rule.min === undefined ? '' : `${rule.minExclusive ? '>' : '>='} ${rule.min}`;
  const hi = rule.max === undefined ? '' : `${rule.maxExclusive ? '<' : '<='} ${rule.max}`;
  const below = rule.min !== undefined && (rule.minExclusive ? v <= rule.min : v < rule.min);
  const above = rule.max !== undefined && (rule.maxExclusive ? v >= rule.max : v > rule.max);
  if (below) return `must be ${lo}${hi ? ` and ${hi}` : ''}, got ${v}`;
  if (above) return `must be ${hi}${lo ? ` and ${lo}` : ''}, got ${v}`;
  return undefined;
}

/** The option's name as messages say it ("learningRate" -> "learning rate"). */
function spoken(key: string): string {
  return key.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`);
}

/** Throws a UsageError naming the first of `o`'s options that breaks its rule ("learning rate must be > 0, got 0"); absent ones pass. */
export function checkNumberOptions(o: object, rules: Record<string, NumberRule>): void {
  for (const [key, rule] of Object.entries(rules)) {
    const v = (o as Record<string, unknown>)[key];
    if (v === undefined) continue;
    const problem = numberProblem(v, rule);
    if (problem) throw new UsageError(`${spoken(key)} ${problem}`);
  }
}

function checkOptions(o: TrainOptions): void {
  checkNumberOptions(o, TRAIN_NUMBER_RULES);
  if (o.maxSteps !== undefined && o.maxSteps !== -1) {
    const problem = numberProblem(o.maxSteps, { type: 'integer', min: 1 });
    if (problem) throw new UsageError(`max steps ${problem} (or -1)`);
  }
  if (o.tuneThresholds !== undefined && !(TUNE_METHODS as readonly string[]).includes(o.tuneThresholds))
    throw new UsageError(`tune thresholds must be ${TUNE_METHODS.join(', ').replace(/, ([^,]+)$/, ' or $1')}, got ${o.tuneThresholds}`);
  if (o.ddpBackend !== undefined && !['gloo', 'nccl'].includes(o.ddpBackend)) throw new UsageError(`ddp backend must be gloo or nccl, got ${o.ddpBackend}`);
  if (o.init !== undefined && !['tiny', 'small', 'base', 'large'].includes(o.init)) throw new UsageError(`init must be tiny, small, base or large, got ${o.init}`);
  if (o.validationSplitSource !== undefined && !['resplit', 'dataset'].includes(o.validationSplitSource))
    throw new UsageError(`validation split source must be resplit or dataset, got ${o.validationSplitSource}`);
  if (o.model !== undefined && o.init !== undefined) throw new UsageError('pass either a model (--model) or a preset (--init), not both');
  checkFlowOptions(o);
  checkLossOptions(o);
  checkSchedule(o.lrSchedulerType ?? 'linear', o.learningRate ?? TRAIN_DEFAULTS.learningRate, o.lrSchedulerKwargs);
  // checked here, before any data is read: a preset has no tokenizer of its own
  if (o.model === undefined && !o.resume && !o.tokenizer) throw new UsageError('--init needs --tokenizer (a tokenizer.json or a folder with one)');
}

/** `o` without its undefined-valued keys (so spreading it over defaults keeps the defaults). */
export function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [key, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[key] = v;
  return out;
}
