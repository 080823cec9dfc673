#!/usr/bin/env node
/**
 * The `radbert-native` command: train (the seed's recipe, or a built-in demo), predict, eval.
 * Exit codes: 0 ok, 1 runtime failure, 2 bad usage, 130 interrupted (Ctrl-C; a resumable checkpoint is saved).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { load, readLabelNames, type Classifier } from '../model/classifier';
import { readRows, seedSplit, LabelBinarizer, DataError } from '../data/readers';
import { computeMetrics } from '../eval/metrics';
import { writeDemo } from '../data/demo';
import { UsageError } from '../errors';
import { bceWithLogits } from '../eval/metrics';
import { cachedSnapshot } from '../hub/cache';
import { resolveSource } from '../hub/download';
import { hubCacheDir, hubEndpoint, hubOffline } from '../hub/env';
import { HubError } from '../hub/errors';
import { sourceOf } from '../hub/ids';
import { defaultRepoId, pushToHub } from '../hub/push';
import { train, type TrainOptions } from '../train/loop';
import { splitTable } from '../train/report';

const DEFAULT_MODEL = 'answerdotai/ModernBERT-base';
const DEFAULT_DATASET = 'unsloth/Radiology_mini';
const DEFAULT_OUTPUT = 'ModernRadBERT-cui-classifier';

type OptSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

const MAIN_HELP = `radbert-native: fine-tune and run ModernBERT CUI classifiers (libtorch, no Python)

usage:
  npx radbert-native train [options]        fine-tune (no options: the seed's model + dataset from the HF cache, else a demo)
  npx radbert-native predict "caption" ...  predict CUIs with a trained model
  npx radbert-native eval --dataset D       metrics of a trained model on a split
  npx radbert-native push --repo-id NAME    upload a trained model (with a model card) to the Hugging Face Hub

Run \`npx radbert-native <command> --help\` for the options of a command.
Exit codes: 0 ok, 1 failure, 2 bad usage, 130 interrupted.`;

const TRAIN_HELP = `usage: npx radbert-native train [options]

With no options: trains ${DEFAULT_MODEL} on ${DEFAULT_DATASET} if both are in the local Hugging Face cache
(${hubCacheDir()}) or the Hub is reachable, otherwise runs a small built-in demo (tiny model, generated captions;
a few minutes on a CPU).

data:
  --dataset D                 local parquet folder (Hub layout data/<split>-*.parquet), a .parquet/.jsonl/.csv file,
                              or a Hub dataset id org/name (default ${DEFAULT_DATASET}); --dataset-revision REV
  --text-column C             text column (default caption)
  --label-column C            label column: list of CUIs (parquet/jsonl) or ';'-separated (csv) (default cui)
  --min-label-count N         keep CUIs seen in at least N training rows (default 1)
  --skip-bad-rows             drop (and list) malformed rows instead of failing
  --split-seed N              seed of the 15% validation split (default 42)
model:
  --model DIR|org/name        pretrained ModernBERT folder or Hub id (default ${DEFAULT_MODEL}); --revision REV
  --init tiny|small|base|large  random initialisation from a preset instead of --model
  --tokenizer PATH            tokenizer.json or folder (default: the model's)
  --max-length N              truncate to N tokens (default 256)
  --label-names FILE          CUI -> name JSON, saved as label_names.json
recipe (HF Trainer defaults + the seed):
  --epochs N                  (default 20)          --max-steps N      stop after N steps (overrides --epochs)
  --lr X, --learning-rate X   (default 5e-5)        --batch-size N, --per-device-train-batch-size N (default 8)
  --eval-batch-size N         (default: batch size) --weight-decay X   (default 0)
  --warmup-ratio X            (default 0)           --warmup-steps N   (default 0)
  --max-grad-norm X           (default 1.0)         --seed N           (default 42)
  --adam-beta1 X --adam-beta2 X --adam-epsilon X    (0.9, 0.999, 1e-8)
  --threshold X               decision threshold of the metrics (default 0.5)
output:
  --output-dir DIR            (default ${DEFAULT_OUTPUT})
  --logging-steps N           (default 100)         --save-total-limit N (default 3, 0 = keep all)
  --overwrite-output-dir      delete checkpoints of an earlier run in the output dir
  --resume                    continue from the last checkpoint in the output dir
  --resume-from-checkpoint DIR  continue from this checkpoint
  --push-to-hub               push the final model to the Hub (needs HF_TOKEN or huggingface-cli login)
  --hub-model-id NAME         repo to push to (default: <your user>/<output dir name>)   --hub-private-repo
  --demo                      run the built-in demo
  --device auto|cpu|cuda      --threads N        --quiet
  --bf16                      bf16 autocast (HF Trainer's bf16=True): fp32 weights, bf16 matmuls; faster on CPUs with
                              bf16 instructions (AVX512-BF16/AMX) and on GPUs
Ctrl-C finishes the current step, saves checkpoint-<step> and exits 130; --resume continues to the same result.`;

const PREDICT_HELP = `usage: npx radbert-native predict "text" ["text" ...] [options]

  --model DIR|org/name model folder or Hub id (default: $RADBERT_MODEL or ./${DEFAULT_OUTPUT})
  --threshold X        show labels with probability > X (default 0.5)
  --top N              show at most N labels per text
  --json               print JSON
  --label-names FILE   CUI -> name JSON (default: the model's label_names.json)
  --max-length N       truncate to N tokens
  --device auto|cpu|cuda
  --bf16               bf16 autocast (fp32 weights, bf16 matmuls): faster where the CPU has bf16 instructions`;

const EVAL_HELP = `usage: npx radbert-native eval --dataset D [options]

  --model DIR          model folder (default: $RADBERT_MODEL or ./${DEFAULT_OUTPUT})
  --dataset D          as for train
  --split S            test | validation | train (the seed's split; default test)
  --text-column C  --label-column C  --skip-bad-rows  --split-seed N
  --batch-size N (default 8)  --max-length N (default 256)  --threshold X (default 0.5)
  --json               print the metrics as JSON
  --device auto|cpu|cuda
  --bf16               evaluate under bf16 autocast`;

const PUSH_HELP = `usage: npx radbert-native push --model DIR --repo-id NAME [options]

Uploads a trained model folder (config.json, model.safetensors, tokenizer files, label_names.json, training_args.json,
trainer_state.json) with a generated model card to the Hugging Face Hub, creating the repo if needed.
  --model DIR              model folder (default ./${DEFAULT_OUTPUT})
  --repo-id NAME           org/name or name (under your user); default: <your user>/<folder name>
  --private                create the repo private
  --revision BRANCH        push to this branch
  --commit-message M
Authentication: HF_TOKEN, or the token file of \`huggingface-cli login\`. HF_ENDPOINT selects another Hub.`;

const TRAIN_OPTS: OptSpec = {
  help: { type: 'boolean', short: 'h' },
  dataset: { type: 'string' },
  'text-column': { type: 'string' },
  'label-column': { type: 'string' },
  'min-label-count': { type: 'string' },
  'skip-bad-rows': { type: 'boolean' },
  'split-seed': { type: 'string' },
  model: { type: 'string' },
  init: { type: 'string' },
  tokenizer: { type: 'string' },
  'max-length': { type: 'string' },
  'label-names': { type: 'string' },
  epochs: { type: 'string' },
  'num-train-epochs': { type: 'string' },
  'max-steps': { type: 'string' },
  lr: { type: 'string' },
  'learning-rate': { type: 'string' },
  'batch-size': { type: 'string' },
  'per-device-train-batch-size': { type: 'string' },
  'eval-batch-size': { type: 'string' },
  'per-device-eval-batch-size': { type: 'string' },
  'weight-decay': { type: 'string' },
  'warmup-ratio': { type: 'string' },
  'warmup-steps': { type: 'string' },
  'max-grad-norm': { type: 'string' },
  'adam-beta1': { type: 'string' },
  'adam-beta2': { type: 'string' },
  'adam-epsilon': { type: 'string' },
  seed: { type: 'string' },
  threshold: { type: 'string' },
  'output-dir': { type: 'string' },
  'logging-steps': { type: 'string' },
  'save-total-limit': { type: 'string' },
  'overwrite-output-dir': { type: 'boolean' },
  resume: { type: 'boolean' },
  'resume-from-checkpoint': { type: 'string' },
  demo: { type: 'boolean' },
  device: { type: 'string' },
  threads: { type: 'string' },
  bf16: { type: 'boolean' },
  quiet: { type: 'boolean' },
  revision: { type: 'string' },
  'dataset-revision': { type: 'string' },
  'push-to-hub': { type: 'boolean' },
  'hub-model-id': { type: 'string' },
  'hub-private-repo': { type: 'boolean' },
};

const PUSH_OPTS: OptSpec = {
  help: { type: 'boolean', short: 'h' },
  model: { type: 'string' },
  'repo-id': { type: 'string' },
  private: { type: 'boolean' },
  revision: { type: 'string' },
  'commit-message': { type: 'string' },
};

const PREDICT_OPTS: OptSpec = {
  help: { type: 'boolean', short: 'h' },
  model: { type: 'string' },
  revision: { type: 'string' },
  threshold: { type: 'string' },
  top: { type: 'string' },
  json: { type: 'boolean' },
  'label-names': { type: 'string' },
  'max-length': { type: 'string' },
  device: { type: 'string' },
  bf16: { type: 'boolean' },
};

const EVAL_OPTS: OptSpec = {
  help: { type: 'boolean', short: 'h' },
  model: { type: 'string' },
  revision: { type: 'string' },
  dataset: { type: 'string' },
  split: { type: 'string' },
  'text-column': { type: 'string' },
  'label-column': { type: 'string' },
  'skip-bad-rows': { type: 'boolean' },
  'split-seed': { type: 'string' },
  'batch-size': { type: 'string' },
  'max-length': { type: 'string' },
  threshold: { type: 'string' },
  json: { type: 'boolean' },
  device: { type: 'string' },
  bf16: { type: 'boolean' },
};

type Values = Record<string, string | boolean | undefined>;

function parse(command: string, args: string[], options: OptSpec, positionals: boolean): { values: Values; positionals: string[] } {
  try {
    const r = parseArgs({ args, options, strict: true, allowPositionals: positionals });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (err) {
    const msg = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(`${command}: ${msg}\nRun \`npx radbert-native ${command} --help\` for the options.`);
  }
}

function num(values: Values, ...names: string[]): number | undefined {
  for (const name of names) {
    const v = values[name];
    if (v === undefined) continue;
    const x = Number(v);
    if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(x)) throw new UsageError(`--${name} expects a number, got ${JSON.stringify(v)}`);
    return x;
  }
  return undefined;
}

function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

function device(values: Values): 'auto' | 'cpu' | 'cuda' | undefined {
  const d = str(values, 'device');
  if (d !== undefined && !['auto', 'cpu', 'cuda'].includes(d)) throw new UsageError(`--device must be auto, cpu or cuda, got ${d}`);
  return d as 'auto' | 'cpu' | 'cuda' | undefined;
}

function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

function out(line: string): void {
  process.stdout.write(line.endsWith('\n') ? line : `${line}\n`);
}
function err(line: string): void {
  process.stderr.write(line.endsWith('\n') ? line : `${line}\n`);
}

async function cmdTrain(args: string[]): Promise<number> {
  const { values } = parse('train', args, TRAIN_OPTS, false);
  if (values.help) {
    out(TRAIN_HELP);
    return 0;
  }
  const init = str(values, 'init');
  if (init !== undefined && !['tiny', 'small', 'base', 'large'].includes(init)) throw new UsageError(`--init must be tiny, small, base or large, got ${init}`);
  if (values.resume && values['resume-from-checkpoint']) throw new UsageError('pass --resume or --resume-from-checkpoint, not both');
  const opts: TrainOptions = {
    dataset: str(values, 'dataset') ?? DEFAULT_DATASET,
    datasetRevision: str(values, 'dataset-revision'),
    revision: str(values, 'revision'),
    textColumn: str(values, 'text-column'),
    labelColumn: str(values, 'label-column'),
    minLabelCount: num(values, 'min-label-count'),
    skipBadRows: values['skip-bad-rows'] === true,
    splitSeed: num(values, 'split-seed'),
    tokenizer: str(values, 'tokenizer'),
    maxLength: num(values, 'max-length'),
    model: str(values, 'model'),
    init: init as TrainOptions['init'],
    labelNames: str(values, 'label-names'),
    outputDir: str(values, 'output-dir') ?? DEFAULT_OUTPUT,
    overwriteOutputDir: values['overwrite-output-dir'] === true,
    epochs: num(values, 'epochs', 'num-train-epochs'),
    maxSteps: num(values, 'max-steps'),
    learningRate: num(values, 'lr', 'learning-rate'),
    batchSize: num(values, 'batch-size', 'per-device-train-batch-size'),
    evalBatchSize: num(values, 'eval-batch-size', 'per-device-eval-batch-size'),
    weightDecay: num(values, 'weight-decay'),
    warmupRatio: num(values, 'warmup-ratio'),
    warmupSteps: num(values, 'warmup-steps'),
    maxGradNorm: num(values, 'max-grad-norm'),
    adamBeta1: num(values, 'adam-beta1'),
    adamBeta2: num(values, 'adam-beta2'),
    adamEpsilon: num(values, 'adam-epsilon'),
    seed: num(values, 'seed'),
    threshold: num(values, 'threshold'),
    loggingSteps: num(values, 'logging-steps'),
    saveTotalLimit: num(values, 'save-total-limit'),
    resume: values.resume === true ? true : str(values, 'resume-from-checkpoint'),
    device: device(values),
    threads: num(values, 'threads'),
    bf16: values.bf16 === true,
    quiet: values.quiet === true,
  };

  // No options at all (or --demo): the seed's defaults from the HF cache, else the built-in demo.
  const bare = args.length === 0;
  let demo = values.demo === true;
  if (bare) {
    const m = cachedSnapshot(DEFAULT_MODEL, 'model');
    const d = cachedSnapshot(DEFAULT_DATASET, 'dataset');
    if (m && d) {
      opts.model = m;
      opts.dataset = d;
      err(`training ${DEFAULT_MODEL} on ${DEFAULT_DATASET} from the local HF cache (${hubCacheDir()})`);
    } else if (await hubReachable()) {
      err(`training ${DEFAULT_MODEL} on ${DEFAULT_DATASET} from ${hubEndpoint()}`);
    } else {
      err(`${DEFAULT_MODEL} / ${DEFAULT_DATASET} are not in the local HF cache (${hubCacheDir()}): running the built-in demo instead (tiny model, generated captions; see --help)`);
      demo = true;
    }
  } else if (!opts.model && !opts.init && !demo && !opts.resume) {
    opts.model = DEFAULT_MODEL;
  }
  if (demo) {
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
    // a previous demo run in the same folder is replaced rather than refused
    const prev = path.join(path.resolve(opts.outputDir!), 'training_args.json');
    const prevCk = fs.existsSync(path.resolve(opts.outputDir!))
      ? fs.readdirSync(path.resolve(opts.outputDir!)).filter((n) => /^checkpoint-\d+$/.test(n)).map((n) => path.join(path.resolve(opts.outputDir!), n, 'training_args.json'))
      : [];
    for (const f of [prev, ...prevCk]) {
      try {
        if (JSON.parse(fs.readFileSync(f, 'utf8')).dataset === files.dataset && !opts.resume) opts.overwriteOutputDir = true;
      } catch {
        /* not there */
      }
    }
  }

  const controller = new AbortController();
  let sigints = 0;
  const onSigint = () => {
    sigints++;
    if (sigints === 1) {
      err('\nCtrl-C: finishing the current step and saving a checkpoint (Ctrl-C again to quit without saving)');
      controller.abort();
    } else process.exit(130);
  };
  process.on('SIGINT', onSigint);
  try {
    const result = await train({ ...opts, signal: controller.signal });
    if (result.interrupted) {
      const kept = args.filter((a, i) => !['--resume', '--overwrite-output-dir'].includes(a) && a !== '--resume-from-checkpoint' && args[i - 1] !== '--resume-from-checkpoint' && !a.startsWith('--resume-from-checkpoint='));
      err(`interrupted at step ${result.globalStep}; saved ${result.checkpoint}`);
      err(`resume with: npx radbert-native train ${[...kept, '--resume'].map(shellQuote).join(' ')}`);
      return 130;
    }
    if (values['push-to-hub']) {
      const repoId = str(values, 'hub-model-id') ?? (await defaultRepoId(result.outputDir));
      const pushed = await pushToHub(result.outputDir, { repoId, private: values['hub-private-repo'] === true });
      out(`pushed ${result.outputDir} to ${pushed.repoUrl} (${pushed.commitUrl})`);
    }
    if (demo) {
      const clf = await load(result.outputDir);
      try {
        const text = 'CT of Chest with pneumothorax';
        const p = await clf.predict(text);
        out(`\npredict "${text}":`);
        for (const l of p.labels) out(`  ${p.probabilities[l].toFixed(4)}  ${clf.labelName(l)}`);
        out(`\nthe demo model is in ${result.outputDir}; try: npx radbert-native predict "MRI of the brain with a cyst" --model ${shellQuote(path.relative(process.cwd(), result.outputDir) || '.')}`);
      } finally {
        clf.close();
      }
    }
    return 0;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

function modelDir(values: Values): string {
  return path.resolve(str(values, 'model') ?? process.env.RADBERT_MODEL ?? DEFAULT_OUTPUT);
}

async function loadModel(values: Values, batchSize?: number): Promise<Classifier> {
  const arg = str(values, 'model') ?? process.env.RADBERT_MODEL;
  const hub = arg !== undefined && sourceOf(arg)?.kind === 'hub';
  const dir = hub ? arg : modelDir(values);
  if (!hub && !fs.existsSync(dir)) throw new Error(`${dir}: no model here; train one with \`npx radbert-native train\` or pass --model DIR (or a Hub id org/name)`);
  return load(dir, { revision: str(values, 'revision'), maxLength: num(values, 'max-length'), device: device(values), batchSize, dtype: values.bf16 === true ? 'bfloat16' : 'float32' });
}

async function cmdPredict(args: string[]): Promise<number> {
  const { values, positionals } = parse('predict', args, PREDICT_OPTS, true);
  if (values.help) {
    out(PREDICT_HELP);
    return 0;
  }
  if (!positionals.length) throw new UsageError('predict: give the text to classify, e.g. npx radbert-native predict "CT of Chest with pneumothorax"');
  const threshold = num(values, 'threshold') ?? 0.5;
  const top = num(values, 'top');
  if (top !== undefined && (!Number.isInteger(top) || top < 1)) throw new UsageError('--top must be a positive integer');
  const clf = await loadModel(values);
  try {
    const names = str(values, 'label-names');
    if (names) clf.labelNames = readLabelNames(names);
    const preds = await clf.predict(positionals, { threshold });
    if (values.json) {
      out(
        JSON.stringify(
          positionals.map((text, i) => ({
            text,
            labels: preds[i].labels.slice(0, top).map((label) => ({ label, ...(clf.labelNames[label] ? { name: clf.labelNames[label] } : {}), probability: preds[i].probabilities[label] })),
          })),
          null,
          2,
        ),
      );
    } else {
      positionals.forEach((text, i) => {
        out(text);
        const labels = preds[i].labels.slice(0, top);
        if (!labels.length) out(`  (no label above ${threshold})`);
        for (const l of labels) out(`  ${preds[i].probabilities[l].toFixed(4)}  ${clf.labelName(l)}`);
      });
    }
    return 0;
  } finally {
    clf.close();
  }
}

async function cmdEval(args: string[]): Promise<number> {
  const { values } = parse('eval', args, EVAL_OPTS, false);
  if (values.help) {
    out(EVAL_HELP);
    return 0;
  }
  const dataset = str(values, 'dataset');
  if (!dataset) throw new UsageError('eval: --dataset is required (a parquet folder or a .parquet/.jsonl/.csv file)');
  const splitName = str(values, 'split') ?? 'test';
  if (!['test', 'validation', 'train'].includes(splitName)) throw new UsageError(`--split must be test, validation or train, got ${splitName}`);
  const batchSize = num(values, 'batch-size') ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError('--batch-size must be a positive integer');
  const threshold = num(values, 'threshold') ?? 0.5;
  const read = await readRows(await resolveSource(dataset, 'dataset'), {
    textColumn: str(values, 'text-column'),
    labelColumn: str(values, 'label-column'),
    skipBadRows: values['skip-bad-rows'] === true,
  });
  if (read.skipped.length) err(`skipped ${read.skipped.length} bad row(s)`);
  const split = seedSplit(read.splits, { seed: num(values, 'split-seed') ?? 42 });
  const rows = split[splitName as 'test' | 'validation' | 'train'];
  if (!rows.length) throw new DataError(`${dataset}: the ${splitName} split is empty`);
  if (values['max-length'] === undefined) values['max-length'] = '256';
  const clf = await loadModel(values, batchSize);
  try {
    const y = new LabelBinarizer(clf.labels).transform(rows);
    if (y.ignored) err(`${y.ignoredLabels.length} CUIs of the ${splitName} split are not labels of the model (${y.ignored} occurrences ignored)`);
    const k = clf.labels.length;
    const logits = await clf.logitsMatrix(clf.encode(rows.map((r) => r.text)));
    const m = computeMetrics(logits, y.data, threshold, k);
    const loss = bceWithLogits(logits, y.data);
    if (values.json) out(JSON.stringify({ split: splitName, rows: rows.length, loss, ...m }, null, 2));
    else {
      for (const line of splitTable(splitName, loss, { ...m })) out(line);
    }
    return 0;
  } finally {
    clf.close();
  }
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

async function cmdPush(args: string[]): Promise<number> {
  const { values } = parse('push', args, PUSH_OPTS, false);
  if (values.help) {
    out(PUSH_HELP);
    return 0;
  }
  const dir = path.resolve(str(values, 'model') ?? DEFAULT_OUTPUT);
  if (!fs.existsSync(path.join(dir, 'config.json'))) throw new UsageError(`push: ${dir} is not a model folder (no config.json); pass --model DIR`);
  const repoId = str(values, 'repo-id') ?? (await defaultRepoId(dir));
  const pushed = await pushToHub(dir, {
    repoId,
    private: values.private === true,
    revision: str(values, 'revision'),
    commitMessage: str(values, 'commit-message'),
  });
  out(`pushed ${dir} to ${pushed.repoUrl}`);
  out(pushed.commitUrl);
  return 0;
}

/** Run the CLI with these arguments (without `node cli.js`); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        out(MAIN_HELP);
        return command === undefined ? 2 : 0;
      case '--version':
      case '-v':
        out(JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')).version);
        return 0;
      case 'train':
        return await cmdTrain(rest);
      case 'predict':
        return await cmdPredict(rest);
      case 'eval':
      case 'evaluate':
        return await cmdEval(rest);
      case 'push':
        return await cmdPush(rest);
      default:
        err(`unknown command "${command}" (train, predict, eval, push); run \`npx radbert-native --help\``);
        return 2;
    }
  } catch (e) {
    const error = e as Error;
    if (error instanceof UsageError) {
      err(`radbert-native: ${error.message}`);
      return 2;
    }
    if (error instanceof HubError) {
      err(`radbert-native: ${error.message}`);
      return 1;
    }
    err(`radbert-native: ${error.message}`);
    if (process.env.RADBERT_DEBUG && error.stack) err(error.stack);
    return 1;
  }
}

/** Runs the command line and sets the process exit code (what bin/radbert-native.js calls). */
export function run(argv: string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      err(`radbert-native: ${(e as Error).message}`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) run(process.argv.slice(2));
