/** train()'s options and result, their defaults and their checks (names follow the CLI flags and HF TrainingArguments). */
import type { DeviceOption } from '../model/classifier';
import type { HFConfig } from '../model/config';
import type { Metrics } from '../eval/metrics';
import { UsageError } from '../errors';

/** Options of train(); names follow the CLI flags (camelCase) and HF TrainingArguments where they exist. */
export interface TrainOptions {
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
  /** tokenizer.json or a folder with one (default: the model folder's). */
  tokenizer?: string;
  /** Truncate to this many tokens (default 256). */
  maxLength?: number;
  /** Pretrained model folder (body weights; the classifier head is newly initialised), or `org/name` in the local HF cache. */
  model?: string;
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
  /** per_device_eval_batch_size (default: batchSize). */
  evalBatchSize?: number;
  /** weight_decay (default 0). */
  weightDecay?: number;
  /** adam_beta1 (0.9), adam_beta2 (0.999), adam_epsilon (1e-8). */
  adamBeta1?: number;
  adamBeta2?: number;
  adamEpsilon?: number;
  /** max_grad_norm (default 1.0; 0 disables clipping). */
  maxGradNorm?: number;
  /** warmup_ratio (default 0). */
  warmupRatio?: number;
  /** warmup_steps (default 0; wins over warmupRatio when > 0). */
  warmupSteps?: number;
  /** logging_steps (default 100). */
  loggingSteps?: number;
  /** save_total_limit (default 3; 0 = keep all). */
  saveTotalLimit?: number;
  /** seed (default 42): model init, batch order, dropout (seed + step). */
  seed?: number;
  /** Decision threshold of the metrics (default 0.5). */
  threshold?: number;
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

/** What train() returns. */
export interface TrainResult {
  outputDir: string;
  globalStep: number;
  totalSteps: number;
  /** True when stopped by the signal; `checkpoint` then holds the resumable state. */
  interrupted: boolean;
  /** The last checkpoint written. */
  checkpoint?: string;
  bestCheckpoint?: string;
  bestMetric?: number;
  labels: string[];
  /** Metrics of the best model on the test split (with `loss`), when it has rows. */
  test?: Metrics & { loss: number };
  logHistory: LogEntry[];
}


/** The options train() has a default for. */
type DefaultedKey =
  | 'textColumn' | 'labelColumn' | 'minLabelCount' | 'skipBadRows' | 'splitSeed' | 'maxLength' | 'outputDir' | 'epochs' | 'maxSteps'
  | 'learningRate' | 'batchSize' | 'weightDecay' | 'adamBeta1' | 'adamBeta2' | 'adamEpsilon' | 'maxGradNorm' | 'warmupRatio'
  | 'warmupSteps' | 'loggingSteps' | 'saveTotalLimit' | 'seed' | 'threshold' | 'device' | 'progress';

/** Defaults of train() (HF Trainer's and the seed's). */
export const TRAIN_DEFAULTS: Required<Pick<TrainOptions, DefaultedKey>> = {
  textColumn: 'caption', labelColumn: 'cui', minLabelCount: 1, skipBadRows: false, splitSeed: 42, maxLength: 256,
  outputDir: 'ModernRadBERT-cui-classifier', epochs: 20, maxSteps: -1, learningRate: 5e-5, batchSize: 8, weightDecay: 0,
  adamBeta1: 0.9, adamBeta2: 0.999, adamEpsilon: 1e-8, maxGradNorm: 1.0, warmupRatio: 0, warmupSteps: 0, loggingSteps: 100,
  saveTotalLimit: 3, seed: 42, threshold: 0.5, device: 'auto', progress: 'auto',
};

/** TrainOptions with every default filled in. */
export type ResolvedTrainOptions = Omit<TrainOptions, DefaultedKey | 'evalBatchSize'> & Required<Pick<TrainOptions, DefaultedKey | 'evalBatchSize'>>;

/** Check the options (UsageError naming the bad one) and fill in the defaults. */
export function resolveTrainOptions(options: TrainOptions): ResolvedTrainOptions {
  checkOptions(options);
  const o = { ...TRAIN_DEFAULTS, ...stripUndefined(options) } as TrainOptions & Required<Pick<TrainOptions, DefaultedKey>>;
  return { ...o, evalBatchSize: o.evalBatchSize ?? o.batchSize };
}

function checkOptions(o: TrainOptions): void {
  const pos = (v: number | undefined, name: string, int = false, allowZero = false) => {
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isFinite(v) || (allowZero ? v < 0 : v <= 0) || (int && !Number.isInteger(v)))
      throw new UsageError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} ${int ? 'integer' : 'number'}, got ${v}`);
  };
  pos(o.epochs, 'epochs');
  pos(o.learningRate, 'learning rate');
  pos(o.batchSize, 'batch size', true);
  pos(o.evalBatchSize, 'eval batch size', true);
  pos(o.loggingSteps, 'logging steps', true);
  pos(o.maxLength, 'max length', true);
  pos(o.minLabelCount, 'min label count', true);
  pos(o.weightDecay, 'weight decay', false, true);
  pos(o.maxGradNorm, 'max grad norm', false, true);
  pos(o.warmupRatio, 'warmup ratio', false, true);
  pos(o.warmupSteps, 'warmup steps', true, true);
  pos(o.saveTotalLimit, 'save total limit', true, true);
  pos(o.adamEpsilon, 'adam epsilon');
  if (o.maxSteps !== undefined && o.maxSteps !== -1) pos(o.maxSteps, 'max steps', true);
  if (o.seed !== undefined && (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff)) throw new UsageError(`seed must be an integer in [0, 2^32), got ${o.seed}`);
  if (o.maxLength !== undefined && o.maxLength < 3) throw new UsageError('max length must be at least 3');
  if (o.init !== undefined && !['tiny', 'small', 'base', 'large'].includes(o.init)) throw new UsageError(`init must be tiny, small, base or large, got ${o.init}`);
  if (o.model !== undefined && o.init !== undefined) throw new UsageError('pass either a model (--model) or a preset (--init), not both');
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [key, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[key] = v;
  return out;
}
