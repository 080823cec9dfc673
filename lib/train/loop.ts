/**
 * Fine-tuning: the seed's recipe (Hugging Face Trainer defaults: AdamW 0.9/0.999/1e-8, linear decay, grad clip 1.0,
 * eval + save every epoch, best checkpoint by validation micro-F1) on the native model, with HF-shaped checkpoints
 * (trainer_state.json, training_args.json) that also resume bit-exactly (radbert_state.json, optimizer.safetensors).
 *
 * Batch order: each epoch shuffles the training rows with NumPy's PCG64 (lib/rng.ts) seeded with
 * (seed << 32) + epoch. This is deterministic and resumable, but NOT the order of torch's RandomSampler, so runs
 * match HF Trainer in distribution, not step by step.
 */
import { hubCacheDir, isHubId, resolveDataset, resolveModel } from '../hub/download';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createClassifier, load, readLabelNames, resolveDevice, type Classifier, type DeviceOption } from '../model/classifier';
import { classifierConfig, labelsOf, presetConfig, type HFConfig } from '../model/config';
import { resolveModelFolder, saveModelFolder, writeFileAtomic } from '../model/folder';
import { DataError, fitLabels, formatBadRow, LabelBinarizer, readRows, seedSplit, type Row } from '../data/readers';
import { computeMetrics, type Metrics } from '../eval/metrics';
import { native } from '../native';
import { Progress } from './progress';
import { PCG64 } from '../data/rng';
import { linearScheduleLr, planSteps, warmupStepsFor } from './schedule';
import { packBatch, tokenizerFile } from '../model/tokenize';

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
  scheduler: { type: 'linear'; last_epoch: number };
  prng: { algorithm: string; seed: number; epoch_seed: string };
  /** Row order (indices into the training split) of epoch epoch_index. */
  data_order: number[];
  train_rows: number;
  loss_since_log: number;
  steps_since_log: number;
  total_loss: number;
  last_grad_norm: number | null;
  /** Whether this checkpoint was evaluated (epoch end) or written on interrupt / crash. */
  reason: 'epoch' | 'last-step' | 'interrupt' | 'crash';
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

/** Column titles of the per-epoch table (HF notebook table of the seed). */
export const TABLE_COLUMNS = [
  'Training Loss', 'Epoch', 'Step', 'Validation Loss', 'Precision Micro', 'Recall Micro', 'F1', 'Precision Macro',
  'Recall Macro', 'F1 Macro', 'Exact Match', 'Hamming Loss', 'Label Accuracy',
] as const;
const METRIC_KEYS: Array<keyof Metrics> = [
  'precision_micro', 'recall_micro', 'f1', 'precision_macro', 'recall_macro', 'f1_macro', 'exact_match', 'hamming_loss', 'label_accuracy',
];

function colWidth(title: string): number {
  return Math.max(title.length, 8);
}

/** The table header line (and its rule). */
export function tableHeader(columns: readonly string[] = TABLE_COLUMNS): string {
  return `| ${columns.map((c) => c.padEnd(colWidth(c))).join(' | ')} |\n|${columns.map((c) => '-'.repeat(colWidth(c) + 2)).join('|')}|`;
}

/** One table row, each cell padded to its column title. */
export function tableRow(cells: Array<string | number>, columns: readonly string[] = TABLE_COLUMNS): string {
  return `| ${cells.map((c, i) => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(6)) : c).padEnd(colWidth(columns[i] ?? ''))).join(' | ')} |`;
}

/** The seed's table row of an evaluation: training loss (or "No log"), epoch, step, loss and the nine metrics. */
export function metricsRow(trainingLoss: number | undefined, epoch: number, step: number, loss: number, m: Metrics): string {
  const ep = Number.isInteger(epoch) ? String(epoch) : String(Number(epoch.toFixed(4)));
  return tableRow([trainingLoss === undefined ? 'No log' : trainingLoss, ep, step, loss, ...METRIC_KEYS.map((k) => m[k])]);
}

/** Mean BCEWithLogits over all rows and labels, in float64 (equals HF's per-batch means weighted by batch size). */
export function bceWithLogits(logits: ArrayLike<number>, targets: ArrayLike<number>): number {
  if (logits.length !== targets.length) throw new Error(`bceWithLogits: ${logits.length} logits, ${targets.length} targets`);
  let s = 0;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i];
    s += Math.max(x, 0) - x * targets[i] + Math.log1p(Math.exp(-Math.abs(x)));
  }
  return logits.length ? s / logits.length : 0;
}

/** Row order of epoch `epoch`: NumPy PCG64 seeded with (seed << 32) + epoch, permutation of the rows. */
export function epochOrder(rows: number, seed: number, epoch: number): number[] {
  return new PCG64(epochSeed(seed, epoch)).permutation(rows);
}

function epochSeed(seed: number, epoch: number): bigint {
  return (BigInt(seed >>> 0) << 32n) + BigInt(epoch);
}

/** Checkpoint folders `checkpoint-<step>` of a run folder, oldest first. */
export function listCheckpoints(outputDir: string): Array<{ dir: string; step: number }> {
  if (!fs.existsSync(outputDir)) return [];
  return fs
    .readdirSync(outputDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^checkpoint-\d+$/.test(e.name))
    .map((e) => ({ dir: path.join(outputDir, e.name), step: Number(e.name.slice('checkpoint-'.length)) }))
    .sort((a, b) => a.step - b.step);
}

/** The newest checkpoint that holds a complete resumable state (HF's get_last_checkpoint + our state file). */
export function lastCheckpoint(outputDir: string): string | undefined {
  const all = listCheckpoints(outputDir).reverse();
  return all.find((c) => fs.existsSync(path.join(c.dir, 'radbert_state.json')))?.dir;
}

/**
 * HF's rotate_checkpoints (transformers 5.17): keep at most `limit` checkpoints, never deleting the most recent one
 * nor the best; oldest go first. Returns the deleted folders.
 */
export function rotateCheckpoints(outputDir: string, limit: number, bestCheckpoint?: string | null): string[] {
  if (!limit || limit <= 0) return [];
  const all = listCheckpoints(outputDir).map((c) => c.dir);
  if (all.length <= limit) return [];
  const protectedSet = new Set([path.resolve(all[all.length - 1])]);
  if (bestCheckpoint) protectedSet.add(path.resolve(bestCheckpoint));
  const keep = Math.max(limit, protectedSet.size);
  let remaining = all.length;
  const deleted: string[] = [];
  for (const dir of all) {
    if (remaining <= keep) break;
    if (!protectedSet.has(path.resolve(dir))) {
      fs.rmSync(dir, { recursive: true, force: true });
      deleted.push(dir);
      remaining--;
    }
  }
  return deleted;
}

/** Hugging Face cache folder ($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub). */
export function hfHubCache(): string {
  return hubCacheDir();
}

/** The newest snapshot folder of `org/name` in the local HF cache, or undefined. */
export function hfCachedSnapshot(repoId: string, kind: 'model' | 'dataset'): string | undefined {
  const base = path.join(hfHubCache(), `${kind === 'model' ? 'models' : 'datasets'}--${repoId.replace(/\//g, '--')}`, 'snapshots');
  if (!fs.existsSync(base)) return undefined;
  const snaps = fs
    .readdirSync(base)
    .map((n) => path.join(base, n))
    .filter((d) => fs.statSync(d).isDirectory() && (kind === 'model' ? fs.existsSync(path.join(d, 'config.json')) : fs.readdirSync(d).length > 0))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return snaps[0];
}

/** Thrown for bad options (the CLI maps it to exit code 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A local path for a dataset or model argument: the path itself, or for an `org/name[@revision]` Hub id the folder
 * downloaded into the Hugging Face cache (only the files needed; served from the cache when already there).
 */
export async function resolveSource(arg: string, kind: 'model' | 'dataset', options: { revision?: string } = {}): Promise<string> {
  if (fs.existsSync(arg)) return arg;
  if (isHubId(arg)) return kind === 'model' ? resolveModel(arg, options) : resolveDataset(arg, { ...options, splits: ['train', 'test'] });
  throw new UsageError(`${arg}: no such file or folder (and not a Hub id org/name)`);
}

function readJsonFile<T>(file: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
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

/** HF Trainer's log_history entry of an evaluation: <prefix>_loss, <prefix>_<metric>, runtime and rates, epoch, step. */
function evalLogEntry(
  prefix: 'eval' | 'test',
  ev: { loss: number; metrics: Metrics; runtime: number; batches: number },
  rows: number,
  epoch: number,
  step: number,
): LogEntry {
  const entry: LogEntry = { [`${prefix}_loss`]: ev.loss };
  for (const key of METRIC_KEYS) entry[`${prefix}_${key}`] = ev.metrics[key];
  entry[`${prefix}_runtime`] = round(ev.runtime, 4);
  entry[`${prefix}_samples_per_second`] = round(ev.runtime > 0 ? rows / ev.runtime : 0, 3);
  entry[`${prefix}_steps_per_second`] = round(ev.runtime > 0 ? ev.batches / ev.runtime : 0, 3);
  entry.epoch = epoch;
  entry.step = step;
  return entry;
}

/** Fine-tune a ModernBERT classifier with the seed's recipe; writes checkpoints and the best model to outputDir. */
export async function train(options: TrainOptions): Promise<TrainResult> {
  checkOptions(options);
  const o = {
    textColumn: 'caption', labelColumn: 'cui', minLabelCount: 1, skipBadRows: false, splitSeed: 42, maxLength: 256,
    outputDir: 'ModernRadBERT-cui-classifier', epochs: 20, maxSteps: -1, learningRate: 5e-5, batchSize: 8, weightDecay: 0,
    adamBeta1: 0.9, adamBeta2: 0.999, adamEpsilon: 1e-8, maxGradNorm: 1.0, warmupRatio: 0, warmupSteps: 0, loggingSteps: 100,
    saveTotalLimit: 3, seed: 42, threshold: 0.5, device: 'auto' as DeviceOption, progress: 'auto' as const,
    ...stripUndefined(options),
  };
  const evalBatchSize = o.evalBatchSize ?? o.batchSize;
  const quiet = o.quiet === true;
  const print = quiet ? () => undefined : (o.print ?? ((l: string) => void process.stdout.write(l.endsWith('\n') ? l : `${l}\n`)));
  const info = quiet ? () => undefined : (o.info ?? ((l: string) => void process.stderr.write(l.endsWith('\n') ? l : `${l}\n`)));
  const outputDir = path.resolve(o.outputDir);
  const t0 = Date.now();

  // ---- resume state ----
  let resumeDir: string | undefined;
  if (o.resume) {
    resumeDir = typeof o.resume === 'string' ? path.resolve(o.resume) : lastCheckpoint(outputDir);
    if (!resumeDir) throw new Error(`--resume: no checkpoint-*/radbert_state.json in ${outputDir} (nothing to resume; drop --resume to start a new run)`);
    if (!fs.existsSync(path.join(resumeDir, 'radbert_state.json')))
      throw new Error(`${resumeDir}: not a resumable checkpoint (no radbert_state.json)`);
  } else if (listCheckpoints(outputDir).length) {
    if (!o.overwriteOutputDir)
      throw new UsageError(`${outputDir} already holds checkpoints of an earlier run: pass --resume to continue it, --overwrite-output-dir to start over, or another --output-dir`);
    for (const c of listCheckpoints(outputDir)) fs.rmSync(c.dir, { recursive: true, force: true });
  }
  const rs: RadbertState | undefined = resumeDir ? readJsonFile<RadbertState>(path.join(resumeDir, 'radbert_state.json')) : undefined;
  const ts: TrainerState | undefined = resumeDir ? readJsonFile<TrainerState>(path.join(resumeDir, 'trainer_state.json')) : undefined;

  // ---- data ----
  if (typeof options.dataset !== "string" || !options.dataset) throw new UsageError("dataset is required");
  const datasetPath = await resolveSource(options.dataset, 'dataset', { revision: options.datasetRevision });
  const read = await readRows(datasetPath, { textColumn: o.textColumn, labelColumn: o.labelColumn, skipBadRows: o.skipBadRows });
  if (read.skipped.length) {
    const bySplit: Record<string, number> = {};
    for (const b of read.skipped) bySplit[b.split] = (bySplit[b.split] ?? 0) + 1;
    info(`skipped ${read.skipped.length} bad row(s) (${Object.entries(bySplit).map(([s, n]) => `${s}: ${n}`).join(', ')}):`);
    for (const b of read.skipped.slice(0, 20)) info(`  ${formatBadRow(b)}`);
    if (read.skipped.length > 20) info(`  ... and ${read.skipped.length - 20} more`);
  }
  const split = seedSplit(read.splits, { seed: o.splitSeed });
  if (!split.train.length) throw new DataError(`${o.dataset}: the training split is empty`);
  let binarizer: LabelBinarizer;
  if (resumeDir) {
    const labels = labelsOf(readJsonFile<HFConfig>(path.join(resumeDir, 'config.json')));
    if (!labels) throw new Error(`${resumeDir}/config.json: no id2label`);
    binarizer = new LabelBinarizer(labels);
    const fresh = fitLabels(split.train, { minLabelCount: o.minLabelCount });
    if (fresh.classes.join('\n') !== labels.join('\n'))
      throw new Error(`${resumeDir}: its ${labels.length} labels differ from the ${fresh.numLabels} of this dataset's train split (resume with the same --dataset and --min-label-count)`);
  } else {
    binarizer = fitLabels(split.train, { minLabelCount: o.minLabelCount });
  }
  const labels = [...binarizer.classes];
  if (!labels.length) throw new DataError(`${o.dataset}: no labels in the train split (column '${o.labelColumn}')`);
  const yTrain = binarizer.transform(split.train);
  const yVal = binarizer.transform(split.validation);
  const yTest = binarizer.transform(split.test);
  info(
    `data: train ${split.train.length}, validation ${split.validation.length}, test ${split.test.length} rows; ` +
      `${labels.length} labels (sorted CUIs of the train split${binarizer.dropped.length ? `, ${binarizer.dropped.length} rarer than --min-label-count ${o.minLabelCount} dropped` : ''})`,
  );
  const ignoredOutside = new Set([...yVal.ignoredLabels, ...yTest.ignoredLabels]);
  if (yVal.ignored || yTest.ignored)
    info(`labels not in the train split ignored: ${ignoredOutside.size} distinct CUIs (${yVal.ignored} occurrences in validation, ${yTest.ignored} in test)`);

  // ---- model ----
  let labelNames: Record<string, string> | undefined =
    typeof o.labelNames === 'string' ? readLabelNames(o.labelNames) : o.labelNames;
  const device = resolveDevice(o.device);
  if (o.threads) native().setNumThreads(o.threads);
  let clf: Classifier;
  let tokenizerSource: string;
  let modelDesc: string;
  if (resumeDir) {
    tokenizerSource = o.tokenizer ?? resumeDir;
    clf = await load(resumeDir, { tokenizer: tokenizerSource, maxLength: o.maxLength, device, batchSize: evalBatchSize });
    await clf.model.loadOptimizer(path.join(resumeDir, 'optimizer.safetensors'));
    modelDesc = `resumed from ${resumeDir}`;
    if (!labelNames && Object.keys(clf.labelNames).length) labelNames = clf.labelNames;
  } else if (o.model) {
    const folder = resolveModelFolder(await resolveSource(o.model, 'model', { revision: o.revision }));
    const tok = o.tokenizer ?? folder.tokenizerFile;
    if (!tok) throw new UsageError(`${o.model} has no tokenizer.json: pass --tokenizer`);
    tokenizerSource = tok;
    const cfg = classifierConfig({ ...folder.config }, labels);
    delete cfg.num_labels;
    clf = await createClassifier(cfg, { tokenizer: tok, seed: o.seed, maxLength: o.maxLength, device, batchSize: evalBatchSize });
    const report = await clf.model.loadWeights(folder.weightFiles);
    if (!report.loaded.length) throw new Error(`${o.model}: none of its tensors fit ModernBertForSequenceClassification`);
    if (report.missing.length)
      info(
        `Some weights of ModernBertForSequenceClassification were not initialized from the model checkpoint at ${o.model} and are newly initialized: ` +
          `[${report.missing.join(', ')}]\nYou should probably TRAIN this model on a down-stream task to be able to use it for predictions and inference.`,
      );
    if (report.unexpected.length) info(`unused weights of ${o.model}: ${report.unexpected.length} (e.g. ${report.unexpected.slice(0, 3).join(', ')})`);
    if (!labelNames && folder.labelNamesFile) labelNames = readLabelNames(folder.labelNamesFile);
    modelDesc = `${o.model} (${report.loaded.length} tensors loaded, ${report.missing.length} newly initialized)`;
  } else {
    const preset = o.init ?? 'tiny';
    const tok = o.tokenizer;
    if (!tok) throw new UsageError('--init needs --tokenizer (a tokenizer.json or a folder with one)');
    if (!tokenizerFile(tok)) throw new Error(`${tok}: no tokenizer.json here`);
    tokenizerSource = tok;
    const cfg = classifierConfig({ ...presetConfig(preset), ...(o.configOverrides ?? {}) }, labels);
    clf = await createClassifier(cfg, { tokenizer: tok, seed: o.seed, maxLength: o.maxLength, device, batchSize: evalBatchSize });
    modelDesc = `${preset} preset, random init (seed ${o.seed})`;
  }
  clf.dtype = o.bf16 === true ? 'bfloat16' : 'float32';
  const config = clf.config;
  const k = labels.length;
  const model = clf.model;
  info(`model: ${modelDesc}; ${model.info().numParameters.toLocaleString('en-US')} parameters on ${device}`);

  try {
    // ---- tokenize ----
    const encode = (rows: Row[]) => clf.encode(rows.map((r) => r.text));
    const idsTrain = encode(split.train);
    const idsVal = encode(split.validation);
    const idsTest = encode(split.test);
    const vocab = clf.nativeConfig.vocabSize;
    for (const [name, seqs] of [['train', idsTrain], ['validation', idsVal], ['test', idsTest]] as const) {
      for (const s of seqs) for (const id of s) if (id >= vocab || id < 0) throw new Error(`${name}: token id ${id} is outside the model's vocabulary (${vocab}); is --tokenizer the model's tokenizer?`);
    }

    // ---- plan ----
    const plan = planSteps(split.train.length, o.batchSize, o.epochs, o.maxSteps);
    const totalSteps = plan.totalSteps;
    const warmup = warmupStepsFor(totalSteps, o.warmupRatio, o.warmupSteps);
    if (rs && rs.total_steps !== totalSteps) info(`note: the checkpoint planned ${rs.total_steps} steps, this run plans ${totalSteps} (the schedule follows this run)`);
    if (rs && rs.train_rows !== split.train.length) throw new Error(`${resumeDir}: it was trained on ${rs.train_rows} rows, this train split has ${split.train.length}`);

    fs.mkdirSync(outputDir, { recursive: true });
    const trainingArgs = {
      output_dir: outputDir,
      num_train_epochs: o.epochs,
      max_steps: o.maxSteps,
      learning_rate: o.learningRate,
      per_device_train_batch_size: o.batchSize,
      per_device_eval_batch_size: evalBatchSize,
      weight_decay: o.weightDecay,
      adam_beta1: o.adamBeta1,
      adam_beta2: o.adamBeta2,
      adam_epsilon: o.adamEpsilon,
      max_grad_norm: o.maxGradNorm,
      lr_scheduler_type: 'linear',
      warmup_ratio: o.warmupRatio,
      warmup_steps: o.warmupSteps,
      optim: 'adamw_torch_fused',
      bf16: o.bf16 === true,
      logging_strategy: 'steps',
      logging_steps: o.loggingSteps,
      eval_strategy: 'epoch',
      save_strategy: 'epoch',
      save_total_limit: o.saveTotalLimit,
      load_best_model_at_end: true,
      metric_for_best_model: 'f1',
      greater_is_better: true,
      seed: o.seed,
      data_seed: null,
      // ours
      dataset: o.dataset,
      text_column: o.textColumn,
      label_column: o.labelColumn,
      min_label_count: o.minLabelCount,
      skip_bad_rows: o.skipBadRows,
      split_seed: o.splitSeed,
      validation_fraction: 0.15,
      tokenizer: o.tokenizer ?? null,
      max_length: o.maxLength,
      model: o.model ?? null,
      init: o.model || resumeDir ? null : (o.init ?? 'tiny'),
      threshold: o.threshold,
      device,
      batch_order: 'numpy PCG64 permutation per epoch, seeded (seed << 32) + epoch (not torch RandomSampler order)',
      eval_loss: 'BCEWithLogits mean over all eval rows and labels, float64 from the logits',
    };

    // ---- state ----
    const logHistory: LogEntry[] = ts ? [...ts.log_history] : [];
    let bestMetric: number | null = ts?.best_metric ?? null;
    let bestCheckpoint: string | null = ts?.best_model_checkpoint ?? null;
    let bestStep: number | null = ts?.best_global_step ?? null;
    if (bestCheckpoint && !fs.existsSync(bestCheckpoint)) {
      // the run folder may have moved: look for the same checkpoint name in this one
      const here = path.join(outputDir, path.basename(bestCheckpoint));
      bestCheckpoint = fs.existsSync(here) ? here : null;
    }
    let globalStep = rs?.global_step ?? 0;
    let epochIndex = rs?.epoch_index ?? 0;
    let stepInEpoch = rs?.step_in_epoch ?? 0;
    let lossSinceLog = rs?.loss_since_log ?? 0;
    let stepsSinceLog = rs?.steps_since_log ?? 0;
    let totalLoss = rs?.total_loss ?? 0;
    let lastGradNorm: number | null = rs?.last_grad_norm ?? null;
    let lastTrainLoss: number | undefined;
    for (const e of logHistory) if (typeof e.loss === 'number') lastTrainLoss = e.loss;
    let order = rs && rs.epoch_index === epochIndex && rs.data_order.length === split.train.length ? rs.data_order : epochOrder(split.train.length, o.seed, epochIndex);
    const elapsedBefore = rs?.elapsed_s ?? 0;
    let lastSaved: string | undefined;
    let headerPrinted = false;

    const mode = o.progress === 'auto' ? (process.stderr.isTTY ? 'bar' : 'lines') : o.progress;
    const progress = new Progress(totalSteps, { tty: mode === 'bar', quiet: quiet || mode === 'none' });
    const out = (line: string) => {
      progress.clear();
      print(line);
    };
    const addLog = (entry: LogEntry) => {
      logHistory.push(entry);
      o.onLog?.(entry);
    };

    const trainerState = (epoch: number): TrainerState => ({
      best_global_step: bestStep,
      best_metric: bestMetric,
      best_model_checkpoint: bestCheckpoint,
      epoch,
      eval_steps: 500,
      global_step: globalStep,
      is_hyper_param_search: false,
      is_local_process_zero: true,
      is_world_process_zero: true,
      log_history: logHistory,
      logging_steps: o.loggingSteps,
      max_steps: totalSteps,
      num_input_tokens_seen: 0,
      num_train_epochs: plan.epochs,
      save_steps: 500,
      stateful_callbacks: {},
      total_flos: 0,
      train_batch_size: o.batchSize,
      trial_name: null,
      trial_params: null,
    });

    const evaluate = async (seqs: number[][], y: Float32Array): Promise<{ loss: number; metrics: Metrics; runtime: number; batches: number }> => {
      const start = Date.now();
      const logits = await clf.logitsMatrix(seqs); // evalBatchSize rows per call, under autocast with --bf16
      const batches = Math.ceil(seqs.length / evalBatchSize);
      return { loss: bceWithLogits(logits, y), metrics: computeMetrics(logits, y, o.threshold, k), runtime: (Date.now() - start) / 1000, batches };
    };

    const saveCheckpoint = async (epochFloat: number, reason: RadbertState['reason']): Promise<string> => {
      const dir = path.join(outputDir, `checkpoint-${globalStep}`);
      const tmp = `${dir}.tmp-${process.pid}`;
      fs.rmSync(tmp, { recursive: true, force: true });
      await saveModelFolder(tmp, { config, model, tokenizerFrom: tokenizerSource, labelNames });
      await model.saveOptimizer(path.join(tmp, 'optimizer.safetensors'));
      const state: RadbertState = {
        format: 'radbert-train-state',
        version: 1,
        global_step: globalStep,
        epoch_index: epochIndex,
        step_in_epoch: stepInEpoch,
        steps_per_epoch: plan.stepsPerEpoch,
        total_steps: totalSteps,
        warmup_steps: warmup,
        base_learning_rate: o.learningRate,
        scheduler: { type: 'linear', last_epoch: globalStep },
        prng: { algorithm: 'numpy PCG64 permutation per epoch', seed: o.seed, epoch_seed: epochSeed(o.seed, epochIndex).toString() },
        data_order: order,
        train_rows: split.train.length,
        loss_since_log: lossSinceLog,
        steps_since_log: stepsSinceLog,
        total_loss: totalLoss,
        last_grad_norm: lastGradNorm,
        reason,
        elapsed_s: elapsedBefore + (Date.now() - t0) / 1000,
      };
      writeFileAtomic(path.join(tmp, 'radbert_state.json'), JSON.stringify(state) + '\n');
      writeFileAtomic(path.join(tmp, 'trainer_state.json'), JSON.stringify(trainerState(epochFloat), null, 2) + '\n');
      writeFileAtomic(path.join(tmp, 'training_args.json'), JSON.stringify(trainingArgs, null, 2) + '\n');
      fs.rmSync(dir, { recursive: true, force: true });
      fs.renameSync(tmp, dir);
      lastSaved = dir;
      const deleted = rotateCheckpoints(outputDir, o.saveTotalLimit, bestCheckpoint);
      if (deleted.length) progress.clear();
      if (deleted.length) info(`deleted ${deleted.map((d) => path.basename(d)).join(', ')} (save_total_limit ${o.saveTotalLimit})`);
      return dir;
    };

    const evalAndSave = async (epochFloat: number, reason: 'epoch' | 'last-step') => {
      const ev = await evaluate(idsVal, yVal.data);
      addLog(evalLogEntry('eval', ev, idsVal.length, epochFloat, globalStep));
      if (!headerPrinted) {
        out(tableHeader());
        headerPrinted = true;
      }
      out(metricsRow(lastTrainLoss, epochFloat, globalStep, ev.loss, ev.metrics));
      if (idsVal.length && (bestMetric === null || ev.metrics.f1 > bestMetric)) {
        bestMetric = ev.metrics.f1;
        bestStep = globalStep;
        bestCheckpoint = path.join(outputDir, `checkpoint-${globalStep}`);
      }
      await saveCheckpoint(epochFloat, reason);
    };

    if (!idsVal.length) info('note: the validation split is empty; no best-model selection (the last checkpoint is kept)');
    info(
      `training: ${totalSteps} steps (${plan.stepsPerEpoch} per epoch, ${plan.epochs} epoch(s)), batch ${o.batchSize}, lr ${o.learningRate} linear decay` +
        `${warmup ? `, ${warmup} warmup steps` : ''}, seed ${o.seed}${globalStep ? `; resuming at step ${globalStep}` : ''}`,
    );
    progress.start(globalStep);
    let interrupted = false;
    let crashed: unknown;
    let currentEpochFloat = globalStep / plan.stepsPerEpoch;
    try {
      outer: while (globalStep < totalSteps && epochIndex < plan.epochs) {
        while (stepInEpoch < plan.stepsPerEpoch && globalStep < totalSteps) {
          const idx = order.slice(stepInEpoch * o.batchSize, (stepInEpoch + 1) * o.batchSize);
          const batch = packBatch(idx.map((i) => idsTrain[i]));
          const targets = new Float32Array(idx.length * k);
          idx.forEach((r, j) => targets.set(yTrain.data.subarray(r * k, (r + 1) * k), j * k));
          const lr = linearScheduleLr(o.learningRate, globalStep, totalSteps, warmup);
          const res = await model.trainStep(batch.ids, batch.cuSeqlens, targets, {
            lr,
            beta1: o.adamBeta1,
            beta2: o.adamBeta2,
            eps: o.adamEpsilon,
            weightDecay: o.weightDecay,
            maxGradNorm: o.maxGradNorm,
            seed: o.seed + globalStep,
            bf16: o.bf16 === true,
          });
          globalStep++;
          stepInEpoch++;
          lossSinceLog += res.loss;
          stepsSinceLog++;
          totalLoss += res.loss;
          lastGradNorm = res.gradNorm;
          currentEpochFloat = epochIndex + stepInEpoch / plan.stepsPerEpoch;
          progress.tick(globalStep, res.loss, idx.length);
          o.onStep?.(globalStep, { loss: res.loss, gradNorm: res.gradNorm, learningRate: lr });
          if (globalStep % o.loggingSteps === 0) {
            const entry: LogEntry = { loss: lossSinceLog / stepsSinceLog, grad_norm: res.gradNorm, learning_rate: lr, epoch: currentEpochFloat, step: globalStep };
            lastTrainLoss = entry.loss as number;
            lossSinceLog = 0;
            stepsSinceLog = 0;
            addLog(entry);
            progress.line(` | logged loss ${(entry.loss as number).toFixed(4)} lr ${lr.toExponential(3)} grad_norm ${res.gradNorm.toFixed(4)}`);
          }
          const epochDone = stepInEpoch >= plan.stepsPerEpoch;
          if (epochDone) {
            epochIndex++;
            stepInEpoch = 0;
            order = epochOrder(split.train.length, o.seed, epochIndex);
            await evalAndSave(epochIndex, 'epoch');
          } else if (globalStep >= totalSteps) {
            await evalAndSave(currentEpochFloat, 'last-step');
          }
          if (o.signal?.aborted) {
            if (!(epochDone || globalStep >= totalSteps)) await saveCheckpoint(currentEpochFloat, 'interrupt');
            interrupted = true;
            break outer;
          }
        }
      }
    } catch (err) {
      crashed = err;
    }
    progress.done();
    if (crashed !== undefined) {
      if (globalStep > (rs?.global_step ?? 0)) {
        try {
          const dir = await saveCheckpoint(currentEpochFloat, 'crash');
          info(`training failed at step ${globalStep}; saved ${dir} (weights as they were when it failed; resume with --resume)`);
        } catch (saveErr) {
          info(`training failed, and saving a checkpoint failed too: ${(saveErr as Error).message}`);
        }
      }
      throw crashed;
    }
    const result: TrainResult = {
      outputDir,
      globalStep,
      totalSteps,
      interrupted,
      checkpoint: lastSaved ?? resumeDir,
      bestCheckpoint: bestCheckpoint ?? undefined,
      bestMetric: bestMetric ?? undefined,
      labels,
      logHistory,
    };
    if (interrupted) return result;

    // ---- end of training: summary log, best model, test, final folder ----
    const runtime = elapsedBefore + (Date.now() - t0) / 1000;
    addLog({
      train_runtime: round(runtime, 4),
      train_samples_per_second: round((totalSteps * o.batchSize) / runtime, 3),
      train_steps_per_second: round(totalSteps / runtime, 3),
      total_flos: 0,
      train_loss: globalStep ? totalLoss / globalStep : 0,
      epoch: currentEpochFloat,
      step: globalStep,
    });
    if (bestCheckpoint && fs.existsSync(path.join(bestCheckpoint, 'model.safetensors'))) {
      info(`Loading best model from ${bestCheckpoint} (score: ${bestMetric}).`);
      const rep = await model.loadWeights([path.join(bestCheckpoint, 'model.safetensors')]);
      if (rep.missing.length) throw new Error(`${bestCheckpoint}: ${rep.missing.length} tensors missing`);
    }
    if (idsTest.length) {
      const ev = await evaluate(idsTest, yTest.data);
      const entry = evalLogEntry('test', ev, idsTest.length, currentEpochFloat, globalStep);
      addLog(entry);
      const cols = ['Split', 'Loss', ...TABLE_COLUMNS.slice(4)];
      out(`test split (${idsTest.length} rows), best model${bestStep !== null ? ` (checkpoint-${bestStep})` : ''}:`);
      out(tableHeader(cols));
      out(tableRow(['test', ev.loss, ...METRIC_KEYS.map((m) => ev.metrics[m])], cols));
      result.test = { ...ev.metrics, loss: ev.loss };
      writeFileAtomic(path.join(outputDir, 'test_results.json'), JSON.stringify(entry, null, 2) + '\n');
    }
    await saveModelFolder(outputDir, { config, model, tokenizerFrom: tokenizerSource, labelNames });
    writeFileAtomic(path.join(outputDir, 'trainer_state.json'), JSON.stringify(trainerState(currentEpochFloat), null, 2) + '\n');
    writeFileAtomic(path.join(outputDir, 'training_args.json'), JSON.stringify(trainingArgs, null, 2) + '\n');
    info(`saved the best model to ${outputDir}`);
    return result;
  } finally {
    clf.close();
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [key, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[key] = v;
  return out;
}
