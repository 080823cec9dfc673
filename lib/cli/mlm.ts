/**
 * `radbert-native mlm`: masked-language-model training (domain-adaptive pre-training, Part 2 of the series) with the
 * same Trainer recipe flags as `train` (one option table entry each, shared), plus the masking and the held-out slice.
 */
import { UsageError } from '../errors';
import { MLM_DEFAULTS, MLM_FROM_SCRATCH_DEFAULTS, MLM_NUMBER_RULES, trainMlm } from '../train/mlm';
import { isMainProcess } from '../dist/run';
import { DISTRIBUTED_OPTIONS, err, launchIfAsked, shellQuote, str, num, resumeArgs, withInterrupt } from './common';
import type { CommandSpec, OptionTable, Parsed } from './options';
import { TRAIN, trainOptions } from './train';

/** The entries of `train`'s table that mlm shares (same names, help and checks). */
const SHARED = [
  'dataset', 'dataset-revision', 'text-column', 'skip-bad-rows', 'model', 'revision', 'init', 'tokenizer', 'max-length',
  'epochs', 'max-steps', 'lr', 'batch-size', 'gradient-accumulation-steps', 'eval-batch-size', 'weight-decay', 'warmup-ratio', 'warmup-steps', 'max-grad-norm',
  'adam-beta1', 'adam-beta2', 'adam-epsilon', 'seed', 'logging-steps', 'save-total-limit', 'overwrite-output-dir', 'resume',
  'resume-from-checkpoint', 'device', 'threads', 'bf16', 'quiet', ...Object.keys(DISTRIBUTED_OPTIONS), 'lr-scheduler-type', 'lr-scheduler-kwargs', 'eval-strategy',
  'eval-steps', 'save-strategy', 'save-steps', 'metric-for-best-model', 'greater-is-better', 'early-stopping-patience',
  'early-stopping-threshold',
];

function shared(): OptionTable {
  const t: OptionTable = {};
  for (const n of SHARED) t[n] = TRAIN.options[n];
  return t;
}

/** Default output folder of mlm. */
export const DEFAULT_MLM_OUTPUT = MLM_DEFAULTS.outputDir;

/** The mlm command's flags. */
export const MLM: CommandSpec = {
  name: 'mlm',
  usage: `usage: npx radbert-native mlm --dataset D [--text-column caption] (--model DIR|org/name | --init tiny|small|base|large --tokenizer T) --output-dir DIR [options]

Masked-language-model training with transformers' semantics (DataCollatorForLanguageModeling masking, ModernBertForMaskedLM
loss on the masked tokens only) and the Trainer recipe of \`train\`. --dataset may be a .txt file, one text per line.
Validation loss and perplexity on the held-out slice each epoch; the best checkpoint by validation loss is saved as a
ModernBertForMaskedLM folder (transformers' pipeline("fill-mask") loads it; \`train --model DIR\` fine-tunes its body).`,
  epilog: 'Ctrl-C finishes the current step, saves checkpoint-<step> and exits 130; --resume continues to the same result.',
  options: {
    ...shared(),
    dataset: { ...TRAIN.options.dataset, desc: 'texts: a .txt file (one per line), a local parquet/jsonl/csv file or folder (its train split), or a Hub dataset id' },
    'mlm-probability': { group: 'recipe', desc: 'share of the (non-special) tokens selected for prediction', default: MLM_DEFAULTS.mlmProbability, ...MLM_NUMBER_RULES.mlmProbability },
    'validation-split': { group: 'data', desc: 'share of the texts held out for validation loss / perplexity', default: MLM_DEFAULTS.validationSplit, ...MLM_NUMBER_RULES.validationSplit },
    'output-dir': { ...TRAIN.options['output-dir'], default: DEFAULT_MLM_OUTPUT },
    epochs: { ...TRAIN.options.epochs, default: `${TRAIN.options.epochs.default}; ${MLM_FROM_SCRATCH_DEFAULTS.epochs} with --init` },
    lr: { ...TRAIN.options.lr, default: `${TRAIN.options.lr.default}; ${MLM_FROM_SCRATCH_DEFAULTS.learningRate.toExponential()} with --init` },
    'batch-size': { ...TRAIN.options['batch-size'], default: `${TRAIN.options['batch-size'].default}; ${MLM_FROM_SCRATCH_DEFAULTS.batchSize} with --init` },
    'metric-for-best-model': { ...TRAIN.options['metric-for-best-model'], desc: 'the best checkpoint by this metric: loss or perplexity (with or without eval_)', default: 'loss' },
  },
};

/** Run mlm with parsed flags (`args` as given, for the resume hint). */
export async function mlmCommand({ values }: Parsed, args: string[]): Promise<number> {
  if (values.resume && values['resume-from-checkpoint']) throw new UsageError('pass --resume or --resume-from-checkpoint, not both');
  const launched = launchIfAsked('mlm', values, args);
  if (launched) return launched;
  const base = trainOptions(values);
  if (!str(values, 'dataset')) throw new UsageError('mlm: --dataset is required (a .txt file, one text per line, or a dataset with a text column)');
  if (!base.model && !base.init && !base.resume) throw new UsageError('mlm: pass --model DIR|org/name or --init tiny|small|base|large (with --tokenizer)');
  return withInterrupt(async (signal) => {
    const result = await trainMlm({
      ...base,
      outputDir: str(values, 'output-dir') ?? DEFAULT_MLM_OUTPUT,
      mlmProbability: num(values, 'mlm-probability'),
      validationSplit: num(values, 'validation-split'),
      signal,
    });
    if (result.interrupted) {
      if (isMainProcess()) err(`interrupted at step ${result.globalStep}; saved ${result.checkpoint}\nresume with: npx radbert-native mlm ${resumeArgs(args).map(shellQuote).join(' ')}`);
      return 130;
    }
    return 0;
  });
}
