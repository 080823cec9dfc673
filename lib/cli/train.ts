/**
 * `radbert-native train`: fine-tune with the seed's recipe. With no options: the seed's model and dataset from the HF
 * cache or the Hub, else the built-in demo. Ctrl-C saves a resumable checkpoint and exits 130.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemo } from '../data/demo';
import { UsageError } from '../errors';
import { cachedSnapshot } from '../hub/cache';
import { hubCacheDir, hubEndpoint, hubOffline } from '../hub/env';
import { checkPushAccess, pushToHub } from '../hub/push';
import { load } from '../model/classifier';
import { train, type TrainOptions } from '../train/loop';
import { INTERVAL_STRATEGIES } from '../train/callbacks';
import { ASL_DEFAULTS, DEFAULT_MAX_POS_WEIGHT, LOSS_TYPES } from '../train/losses';
import { LR_SCHEDULER_TYPES } from '../train/lr-schedules';
import { TRAIN_DEFAULTS, TRAIN_NUMBER_RULES } from '../train/options';
import { TUNE_METHODS } from '../eval/thresholds';
import { isMainProcess } from '../dist/run';
import { DEFAULT_DATASET, DEFAULT_MODEL, DEFAULT_OUTPUT, DEVICE_OPTION, DISTRIBUTED_OPTIONS, err, launchIfAsked, num, out, resumeArgs, shellQuote, str, withInterrupt } from './common';
import type { CommandSpec, Parsed } from './options';

/** The numeric flags' types and ranges: the same rules train() checks its options with. */
const R = TRAIN_NUMBER_RULES;
const D = TRAIN_DEFAULTS;
/** 5e-5 as help shows it (not 0.00005). */
const sci = (x: number) => (x < 1e-3 ? x.toExponential() : String(x));

/** The train command's flags (HF TrainingArguments' names where they exist). */
export const TRAIN: CommandSpec = {
  name: 'train',
  usage: `usage: npx radbert-native train [options]

With no options: trains ${DEFAULT_MODEL} on ${DEFAULT_DATASET} if both are in the
local Hugging Face cache ($HF_HUB_CACHE, default ~/.cache/huggingface/hub) or the Hub is reachable,
otherwise runs a small built-in demo (tiny model, generated captions; a few minutes on a CPU).`,
  epilog: 'Ctrl-C finishes the current step, saves checkpoint-<step> and exits 130; --resume continues to the same result.',
  options: {
    dataset: { group: 'data', type: 'string', desc: `local parquet folder (Hub layout data/<split>-*.parquet), a .parquet/.jsonl/.csv file, or a Hub dataset id org/name (default ${DEFAULT_DATASET})` },
    'dataset-revision': { group: 'data', type: 'string', desc: 'Hub revision of --dataset org/name' },
    'text-column': { group: 'data', type: 'string', desc: 'text column', default: D.textColumn },
    'label-column': { group: 'data', type: 'string', desc: "label column: list of CUIs (parquet/jsonl) or ';'-separated (csv)", default: D.labelColumn },
    'min-label-count': { group: 'data', desc: 'keep CUIs seen in at least N training rows', default: D.minLabelCount, ...R.minLabelCount },
    'skip-bad-rows': { group: 'data', type: 'boolean', desc: 'drop (and list) malformed rows instead of failing' },
    'split-seed': { group: 'data', desc: 'seed of the 15% validation split', default: D.splitSeed, ...R.splitSeed },
    'validation-split-source': { group: 'data', type: 'string', desc: "validation rows: 15% of train re-split (the seed's), or the dataset's own validation split", choices: ['resplit', 'dataset'], default: 'resplit' },
    model: { group: 'model', type: 'string', desc: `pretrained ModernBERT folder or Hub id (default ${DEFAULT_MODEL})` },
    revision: { group: 'model', type: 'string', desc: 'Hub revision of --model org/name' },
    'new-head': { group: 'model', type: 'boolean', desc: "--model is a classifier for other labels: keep its body and head.dense/norm, re-initialise classifier.* for this dataset's (HF's ignore_mismatched_sizes)" },
    init: { group: 'model', type: 'string', desc: 'random initialisation from a preset instead of --model', choices: ['tiny', 'small', 'base', 'large'] },
    tokenizer: { group: 'model', type: 'string', desc: "tokenizer.json or folder (default: the model's)" },
    'max-length': { group: 'model', desc: 'truncate to N tokens (default 256, or what the resumed checkpoint / a --model folder trained here was trained with)', ...R.maxLength },
    'label-names': { group: 'model', type: 'string', desc: 'CUI -> name JSON, saved as label_names.json' },
    'classifier-pooling': { group: 'model', type: 'string', desc: "pooling of the new classifier (default: the model config's classifier_pooling)", choices: ['cls', 'mean'] },
    'linear-probe': { group: 'probe', type: 'boolean', desc: 'Part 1: freeze body and head, fit only the classifier layer as one-vs-rest logistic regressions (sklearn LogisticRegression objective) on features computed once' },
    'probe-c': { group: 'probe', type: 'number', desc: "the probe's inverse L2 strength (sklearn's C)", default: 1, min: 0, minExclusive: true },
    'probe-embeddings': { group: 'probe', type: 'string', desc: "write the probe's features and labels (train.x, train.y, validation.x, ...) to this .safetensors (for bench/hf_probe.py --embeddings)" },
    epochs: { group: 'recipe', alias: ['num-train-epochs'], desc: 'epochs', default: D.epochs, ...R.epochs },
    'max-steps': { group: 'recipe', type: 'integer', desc: 'stop after N steps (overrides --epochs)' },
    lr: { group: 'recipe', alias: ['learning-rate'], desc: 'learning rate', default: sci(D.learningRate), ...R.learningRate },
    'batch-size': { group: 'recipe', alias: ['per-device-train-batch-size'], desc: 'train batch size', default: D.batchSize, ...R.batchSize },
    'gradient-accumulation-steps': { group: 'recipe', desc: 'an optimizer step every N batches (the update equals one step on the N batches together)', default: D.gradientAccumulationSteps, ...R.gradientAccumulationSteps },
    'eval-batch-size': { group: 'recipe', alias: ['per-device-eval-batch-size'], desc: 'eval batch size (default: batch size)', ...R.evalBatchSize },
    'weight-decay': { group: 'recipe', desc: 'AdamW weight decay', default: D.weightDecay, ...R.weightDecay },
    'warmup-ratio': { group: 'recipe', desc: 'warm-up as a fraction of the steps', default: D.warmupRatio, ...R.warmupRatio },
    'warmup-steps': { group: 'recipe', desc: 'warm-up steps (wins over --warmup-ratio)', default: D.warmupSteps, ...R.warmupSteps },
    'max-grad-norm': { group: 'recipe', desc: 'gradient clipping (0 disables)', default: D.maxGradNorm, ...R.maxGradNorm },
    'lr-scheduler-type': { group: 'recipe', type: 'string', desc: "transformers' learning-rate schedule", choices: LR_SCHEDULER_TYPES, default: 'linear' },
    'lr-scheduler-kwargs': { group: 'recipe', type: 'string', desc: 'the schedule\'s parameters as JSON: cosine / cosine_with_restarts {"num_cycles": N}, polynomial {"lr_end": x, "power": p}' },
    'adam-beta1': { group: 'recipe', desc: 'AdamW beta1', default: D.adamBeta1, ...R.adamBeta1 },
    'adam-beta2': { group: 'recipe', desc: 'AdamW beta2', default: D.adamBeta2, ...R.adamBeta2 },
    'adam-epsilon': { group: 'recipe', desc: 'AdamW epsilon', default: sci(D.adamEpsilon), ...R.adamEpsilon },
    seed: { group: 'recipe', desc: 'model init, batch order, dropout', default: D.seed, ...R.seed },
    loss: { group: 'loss', type: 'string', desc: 'BCEWithLogits, or the asymmetric loss of Ridnik et al. (ICCV 2021) for imbalanced multi-label data', choices: LOSS_TYPES, default: 'bce' },
    'pos-weight': { group: 'loss', type: 'string', desc: "BCEWithLogits' pos_weight: none, auto (negatives / positives of each label in the training split), or a JSON file {\"CUI\": weight} / [weights in label order]", default: 'none' },
    'max-pos-weight': { group: 'loss', desc: 'cap of --pos-weight auto', default: DEFAULT_MAX_POS_WEIGHT, ...R.maxPosWeight },
    'asl-gamma-neg': { group: 'loss', desc: "ASL's focusing exponent of the negatives", default: ASL_DEFAULTS.gammaNeg, ...R.aslGammaNeg },
    'asl-gamma-pos': { group: 'loss', desc: "ASL's focusing exponent of the positives", default: ASL_DEFAULTS.gammaPos, ...R.aslGammaPos },
    'asl-clip': { group: 'loss', desc: "ASL's probability margin m (negatives with p <= m cost nothing)", default: ASL_DEFAULTS.clip, ...R.aslClip },
    threshold: { group: 'recipe', desc: 'decision threshold of the metrics', default: D.threshold, ...R.threshold },
    'tune-thresholds': {
      group: 'thresholds',
      type: 'string',
      desc: 'tune decision thresholds on the validation split (best model): one global threshold, or one per label; saved as thresholds.json, used by predict/serve/eval, reported beside p > --threshold',
      choices: TUNE_METHODS,
      default: D.tuneThresholds,
    },
    'min-threshold-support': { group: 'thresholds', desc: 'per-label: labels with fewer validation positives keep the global threshold', default: D.minThresholdSupport, ...R.minThresholdSupport },
    'output-dir': { group: 'output', type: 'string', desc: 'run folder', default: DEFAULT_OUTPUT },
    'logging-steps': { group: 'output', desc: 'log the training loss every N steps', default: D.loggingSteps, ...R.loggingSteps },
    'eval-strategy': { group: 'evaluation', alias: ['evaluation-strategy'], type: 'string', desc: 'evaluate at each epoch end or every --eval-steps steps', choices: INTERVAL_STRATEGIES, default: 'epoch' },
    'eval-steps': { group: 'evaluation', desc: 'with --eval-strategy steps: evaluate every N steps (a fraction < 1: of the total steps; default: --logging-steps)', ...R.evalSteps },
    'save-strategy': { group: 'evaluation', type: 'string', desc: 'save a checkpoint at each epoch end or every --save-steps steps (must be the eval strategy)', choices: INTERVAL_STRATEGIES, default: 'the eval strategy' },
    'save-steps': { group: 'evaluation', desc: 'with --save-strategy steps: save every N steps, a multiple of --eval-steps (default: --eval-steps)', ...R.saveSteps },
    'metric-for-best-model': { group: 'evaluation', type: 'string', desc: 'the best checkpoint by this metric of the table (loss, f1, f1_macro, precision_micro, ..., f1_tuned with --tune-thresholds; with or without eval_)', default: 'f1' },
    'greater-is-better': { group: 'evaluation', type: 'boolean', desc: 'whether a higher --metric-for-best-model is better (default: false for *loss and perplexity, else true; --greater-is-better false to say so)' },
    'early-stopping-patience': { group: 'evaluation', desc: 'stop when the metric for best model has not improved for N evaluations (the best checkpoint is still the one kept)', ...R.earlyStoppingPatience },
    'early-stopping-threshold': { group: 'evaluation', desc: 'an evaluation improves only when it beats the best by more than this', default: 0, ...R.earlyStoppingThreshold },
    'save-total-limit': { group: 'output', desc: 'checkpoints kept (0 = all)', default: D.saveTotalLimit, ...R.saveTotalLimit },
    'overwrite-output-dir': { group: 'output', type: 'boolean', desc: 'delete checkpoints of an earlier run in the output dir' },
    resume: { group: 'output', type: 'boolean', desc: 'continue from the last checkpoint in the output dir' },
    'resume-from-checkpoint': { group: 'output', type: 'string', desc: 'continue from this checkpoint' },
    'push-to-hub': { group: 'output', type: 'boolean', desc: 'push the final model to the Hub (needs HF_TOKEN or huggingface-cli login)' },
    'hub-model-id': { group: 'output', type: 'string', desc: 'repo to push to (default: <your user>/<output dir name>)' },
    'hub-private-repo': { group: 'output', type: 'boolean', desc: 'create the pushed repo private' },
    demo: { group: 'run', type: 'boolean', desc: 'run the built-in demo' },
    device: { group: 'run', ...DEVICE_OPTION },
    threads: { group: 'run', desc: 'libtorch threads', ...R.threads },
    bf16: { group: 'run', type: 'boolean', desc: 'bf16 autocast (HF Trainer bf16=True): fp32 weights, bf16 matmuls; faster on CPUs with AVX512-BF16/AMX and on GPUs' },
    quiet: { group: 'run', type: 'boolean', desc: 'print nothing' },
    ...DISTRIBUTED_OPTIONS,
  },
};

/** train()'s options from the parsed flags. */
export function trainOptions(values: Parsed["values"]): TrainOptions {
  return {
    dataset: str(values, 'dataset') ?? DEFAULT_DATASET,
    datasetRevision: str(values, 'dataset-revision'),
    revision: str(values, 'revision'),
    textColumn: str(values, 'text-column'),
    labelColumn: str(values, 'label-column'),
    minLabelCount: num(values, 'min-label-count'),
    skipBadRows: values['skip-bad-rows'] === true,
    splitSeed: num(values, 'split-seed'),
    validationSplitSource: str(values, 'validation-split-source') as TrainOptions['validationSplitSource'],
    tokenizer: str(values, 'tokenizer'),
    maxLength: num(values, 'max-length'),
    model: str(values, 'model'),
    init: str(values, 'init') as TrainOptions['init'],
    newHead: values['new-head'] === true,
    labelNames: str(values, 'label-names'),
    classifierPooling: str(values, 'classifier-pooling') as TrainOptions['classifierPooling'],
    linearProbe: values['linear-probe'] === true,
    probeC: num(values, 'probe-c'),
    probeEmbeddings: str(values, 'probe-embeddings'),
    outputDir: str(values, 'output-dir') ?? DEFAULT_OUTPUT,
    overwriteOutputDir: values['overwrite-output-dir'] === true,
    epochs: num(values, 'epochs'),
    maxSteps: num(values, 'max-steps'),
    learningRate: num(values, 'lr'),
    batchSize: num(values, 'batch-size'),
    gradientAccumulationSteps: num(values, 'gradient-accumulation-steps'),
    evalBatchSize: num(values, 'eval-batch-size'),
    weightDecay: num(values, 'weight-decay'),
    warmupRatio: num(values, 'warmup-ratio'),
    warmupSteps: num(values, 'warmup-steps'),
    ...trainerFlags(values),
    loss: str(values, 'loss') as TrainOptions['loss'],
    posWeight: str(values, 'pos-weight'),
    maxPosWeight: num(values, 'max-pos-weight'),
    aslGammaNeg: num(values, 'asl-gamma-neg'),
    aslGammaPos: num(values, 'asl-gamma-pos'),
    aslClip: num(values, 'asl-clip'),
    maxGradNorm: num(values, 'max-grad-norm'),
    adamBeta1: num(values, 'adam-beta1'),
    adamBeta2: num(values, 'adam-beta2'),
    adamEpsilon: num(values, 'adam-epsilon'),
    seed: num(values, 'seed'),
    threshold: num(values, 'threshold'),
    tuneThresholds: str(values, 'tune-thresholds') as TrainOptions['tuneThresholds'],
    minThresholdSupport: num(values, 'min-threshold-support'),
    loggingSteps: num(values, 'logging-steps'),
    saveTotalLimit: num(values, 'save-total-limit'),
    resume: values.resume === true ? true : str(values, 'resume-from-checkpoint'),
    device: str(values, 'device') as TrainOptions['device'],
    threads: num(values, 'threads'),
    bf16: values.bf16 === true,
    quiet: values.quiet === true,
    ddpBackend: str(values, 'ddp-backend') as TrainOptions['ddpBackend'],
    ddpTimeout: num(values, 'ddp-timeout'),
  };
}

/** The Trainer options `train` and `mlm` share: schedule, eval/save strategies, best metric, early stopping. */
function trainerFlags(values: Parsed['values']): Partial<TrainOptions> {
  return {
    lrSchedulerType: str(values, 'lr-scheduler-type') as TrainOptions['lrSchedulerType'],
    lrSchedulerKwargs: str(values, 'lr-scheduler-kwargs'),
    evalStrategy: str(values, 'eval-strategy') as TrainOptions['evalStrategy'],
    evalSteps: num(values, 'eval-steps'),
    saveStrategy: str(values, 'save-strategy') as TrainOptions['saveStrategy'],
    saveSteps: num(values, 'save-steps'),
    metricForBestModel: str(values, 'metric-for-best-model'),
    greaterIsBetter: typeof values['greater-is-better'] === 'boolean' ? values['greater-is-better'] : undefined,
    earlyStoppingPatience: num(values, 'early-stopping-patience'),
    earlyStoppingThreshold: num(values, 'early-stopping-threshold'),
  };
}

/** Whether the Hub answers (quickly) — used only to choose between the seed's defaults and the demo. */
async function hubReachable(): Promise<boolean> {
  if (hubOffline()) return false;
  try {
    const r = await fetch(`${hubEndpoint()}/api/models/${DEFAULT_MODEL}`, { method: 'HEAD', signal: AbortSignal.timeout(5000) });
    return r.ok;
  } catch {
    return false;
  }
}

/** With no options: the seed's model + dataset (from the cache, else the Hub), else the demo. Returns whether to run the demo. */
async function chooseDefaults(opts: TrainOptions): Promise<boolean> {
  const m = cachedSnapshot(DEFAULT_MODEL, 'model');
  const d = cachedSnapshot(DEFAULT_DATASET, 'dataset');
  if (m && d) {
    opts.model = m;
    opts.dataset = d;
    err(`training ${DEFAULT_MODEL} on ${DEFAULT_DATASET} from the local HF cache (${hubCacheDir()})`);
    return false;
  }
  if (await hubReachable()) {
    err(`training ${DEFAULT_MODEL} on ${DEFAULT_DATASET} from ${hubEndpoint()}`);
    return false;
  }
  err(`${DEFAULT_MODEL} / ${DEFAULT_DATASET} are not in the local HF cache (${hubCacheDir()}): running the built-in demo instead (tiny model, generated captions; see --help)`);
  return true;
}

/** The demo's data, tokenizer and recipe; a previous demo run in the same folder is replaced rather than refused. */
function useDemo(opts: TrainOptions): void {
  const files = writeDemo();
  Object.assign(opts, {
    dataset: files.dataset,
    tokenizer: opts.tokenizer ?? files.tokenizer,
    init: opts.model ? undefined : (opts.init ?? 'tiny'),
    configOverrides: files.configOverrides,
    labelNames: opts.labelNames ?? files.labelNames,
    maxLength: opts.maxLength ?? 64,
    epochs: opts.epochs ?? 8,
    learningRate: opts.learningRate ?? 1e-3,
    loggingSteps: opts.loggingSteps ?? 50,
  });
  const dir = path.resolve(opts.outputDir!);
  const prevCk = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => /^checkpoint-\d+$/.test(n)).map((n) => path.join(dir, n, 'training_args.json')) : [];
  for (const f of [path.join(dir, 'training_args.json'), ...prevCk]) {
    try {
      if (JSON.parse(fs.readFileSync(f, 'utf8')).dataset === files.dataset && !opts.resume) opts.overwriteOutputDir = true;
    } catch {
      /* not there */
    }
  }
}

/** After the demo: a prediction with the model just trained. */
async function showDemoPrediction(outputDir: string): Promise<void> {
  using clf = await load(outputDir);
  const text = 'CT of Chest with pneumothorax';
  const p = await clf.predict(text);
  out(`\npredict "${text}":`);
  for (const l of p.labels) out(`  ${p.probabilities[l].toFixed(4)}  ${clf.labelName(l)}`);
  out(`\nthe demo model is in ${outputDir}; try: npx radbert-native predict "MRI of the brain with a cyst" --model ${shellQuote(path.relative(process.cwd(), outputDir) || '.')}`);
}

/** Run train with parsed flags (`args` as given, for the resume hint). */
export async function trainCommand({ values }: Parsed, args: string[]): Promise<number> {
  if (values.resume && values['resume-from-checkpoint']) throw new UsageError('pass --resume or --resume-from-checkpoint, not both');
  const launched = launchIfAsked('train', values, args);
  if (launched) return launched;
  const opts = trainOptions(values);
  let demo = values.demo === true;
  if (args.length === 0) demo = await chooseDefaults(opts);
  else if (!opts.model && !opts.init && !demo && !opts.resume) opts.model = DEFAULT_MODEL;
  if (demo) useDemo(opts);

  // as Trainer does at start: a push at the end needs a working token, checked before any training
  const main = isMainProcess();
  const pushRepoId = values['push-to-hub'] && main ? await checkPushAccess(opts.outputDir!, { repoId: str(values, 'hub-model-id') }) : undefined;

  return withInterrupt(async (signal) => {
    const result = await train({ ...opts, signal });
    if (result.interrupted) {
      if (main) err(`interrupted at step ${result.globalStep}; saved ${result.checkpoint}`);
      if (main) err(`resume with: npx radbert-native train ${resumeArgs(args).map(shellQuote).join(' ')}`);
      return 130;
    }
    if (pushRepoId) {
      const pushed = await pushToHub(result.outputDir, { repoId: pushRepoId, private: values['hub-private-repo'] === true });
      out(`pushed ${result.outputDir} to ${pushed.repoUrl} (${pushed.commitUrl})`);
    }
    if (demo && main) await showDemoPrediction(result.outputDir);
    return 0;
  });
}
