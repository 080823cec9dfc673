/**
 * The model card (README.md) pushed with a trained classifier: YAML front matter the Hub reads (library_name,
 * pipeline_tag, base_model, datasets, metrics, tags), the final metrics from trainer_state.json's log_history,
 * the recipe from training_args.json, the labels, and usage snippets for Python transformers and radbert-native.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonObjectIfAny } from '../files';
import { repoIdOfCachePath } from './cache';
import { sourceOf } from './ids';

/** Options of modelCard(). */
export interface ModelCardOptions {
  /** The repo the card is for ('org/name'), used in the usage snippets. */
  repoId?: string;
  /** base_model (default: training_args.json's model when it names a Hub repo or a cached Hub snapshot). */
  baseModel?: string;
  /** datasets (default: training_args.json's dataset when it names a Hub repo or a cached Hub snapshot). */
  datasets?: string[];
  /** license (omitted by default). */
  license?: string;
}

type Json = Record<string, unknown>;

/** 'org/name' for a Hub id, or for a path inside the HF cache (`.../models--org--name/snapshots/<sha>`), else undefined. */
export function hubIdOf(source: unknown, kind: 'model' | 'dataset'): string | undefined {
  if (typeof source !== 'string' || !source) return undefined;
  const src = sourceOf(source);
  if (src?.kind === 'hub') return src.repoId;
  return repoIdOfCachePath(source, kind);
}

/** A YAML scalar: plain when safe, else a JSON (double-quoted YAML) string. */
function yamlScalar(v: string): string {
  return /^[A-Za-z0-9][\w./-]*$/.test(v) && !/^(true|false|null|yes|no|on|off|~)$/i.test(v) ? v : JSON.stringify(v);
}

function fmt(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(2) : v.toFixed(4);
  if (v === null || v === undefined) return '—';
  return String(v).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

const METRICS = ['f1', 'precision_micro', 'recall_micro', 'f1_macro', 'precision_macro', 'recall_macro', 'exact_match', 'hamming_loss', 'label_accuracy', 'loss'];

/** Keys of training_args.json shown as the recipe (in this order), when present. */
const RECIPE_KEYS = [
  'model', 'init', 'dataset', 'text_column', 'label_column', 'min_label_count', 'split_seed', 'validation_fraction', 'max_length',
  'num_train_epochs', 'max_steps', 'learning_rate', 'per_device_train_batch_size', 'per_device_eval_batch_size', 'weight_decay',
  'adam_beta1', 'adam_beta2', 'adam_epsilon', 'max_grad_norm', 'lr_scheduler_type', 'warmup_ratio', 'warmup_steps', 'optim',
  'metric_for_best_model', 'load_best_model_at_end', 'threshold', 'seed', 'device',
];
/** Never shown, whatever they hold. */
const SECRET_KEY = /token|secret|password|passwd|credential|api[_-]?key|auth/i;

/** The README.md of a trained model folder (reads config.json, training_args.json, trainer_state.json, label_names.json). */
export function modelCard(dir: string, options: ModelCardOptions = {}): string {
  const config = readJsonObjectIfAny(path.join(dir, 'config.json')) ?? {};
  const args = readJsonObjectIfAny(path.join(dir, 'training_args.json'));
  const state = readJsonObjectIfAny(path.join(dir, 'trainer_state.json'));
  const names = (readJsonObjectIfAny(path.join(dir, 'label_names.json')) ?? {}) as Record<string, unknown>;
  const id2label = (config.id2label ?? {}) as Record<string, string>;
  const labels = Object.keys(id2label)
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => String(id2label[k]));
  const repoId = options.repoId ?? 'your-name/your-model';
  const baseModel = options.baseModel ?? hubIdOf(args?.model, 'model');
  const datasets = options.datasets ?? [hubIdOf(args?.dataset, 'dataset')].filter((d): d is string => Boolean(d));

  const history = Array.isArray(state?.log_history) ? (state!.log_history as Json[]) : [];
  const evals = history.filter((e) => typeof e.eval_f1 === 'number' || typeof e.eval_loss === 'number');
  const test = [...history].reverse().find((e) => Object.keys(e).some((k) => k.startsWith('test_'))) ?? readJsonObjectIfAny(path.join(dir, 'test_results.json'));
  const bestStep = typeof state?.best_global_step === 'number' ? state.best_global_step : undefined;
  const bestEval = (bestStep !== undefined ? evals.find((e) => e.step === bestStep) : undefined) ?? evals[evals.length - 1];

  // ---- front matter ----
  const fm: string[] = ['---', 'library_name: transformers', 'pipeline_tag: text-classification'];
  if (options.license) fm.push(`license: ${yamlScalar(options.license)}`);
  if (baseModel) fm.push(`base_model: ${yamlScalar(baseModel)}`);
  if (datasets.length) fm.push('datasets:', ...datasets.map((d) => `- ${yamlScalar(d)}`));
  fm.push('metrics:', '- f1', '- precision', '- recall', '- exact_match');
  fm.push('tags:', '- multi-label', '- radiology', '- umls', '- modernbert', '- radbert-native');
  fm.push('---', '');

  // ---- body ----
  const title = repoId.split('/').pop()!;
  const b: string[] = [`# ${title}`, ''];
  b.push(
    `A ModernBERT multi-label classifier that tags radiology captions with UMLS CUIs (${labels.length} label${labels.length === 1 ? '' : 's'}),` +
      ` ${baseModel ? `fine-tuned from [${baseModel}](https://huggingface.co/${baseModel})` : 'trained'}${datasets.length ? ` on ${datasets.map((d) => `[${d}](https://huggingface.co/datasets/${d})`).join(', ')}` : ''}` +
      ' with [radbert-native](https://www.npmjs.com/package/radbert-native) (libtorch, no Python).',
    '',
    'Each label is predicted independently: apply a sigmoid to each logit and keep the labels above a threshold (0.5 by default).',
    '',
  );

  if (bestEval || test) {
    b.push('## Results', '');
    const cols: Array<[string, Json | undefined, string]> = [];
    if (bestEval) cols.push([`validation${typeof bestEval.epoch === 'number' ? ` (epoch ${fmt(bestEval.epoch)})` : ''}`, bestEval, 'eval_']);
    if (test) cols.push(['test', test, 'test_']);
    b.push(`| metric | ${cols.map((c) => c[0]).join(' | ')} |`, `|---|${cols.map(() => '---').join('|')}|`);
    for (const m of METRICS) {
      if (!cols.some(([, e, pre]) => typeof e?.[pre + m] === 'number')) continue;
      b.push(`| ${m} | ${cols.map(([, e, pre]) => fmt(e?.[pre + m])).join(' | ')} |`);
    }
    b.push('');
    if (evals.length > 1) {
      b.push('### Validation by epoch', '', '| epoch | step | validation loss | f1 | precision_micro | recall_micro |', '|---|---|---|---|---|---|');
      for (const e of evals) b.push(`| ${fmt(e.epoch)} | ${fmt(e.step)} | ${fmt(e.eval_loss)} | ${fmt(e.eval_f1)} | ${fmt(e.eval_precision_micro)} | ${fmt(e.eval_recall_micro)} |`);
      b.push('');
    }
  }

  if (args) {
    b.push('## Training recipe', '', '| setting | value |', '|---|---|');
    for (const k of RECIPE_KEYS) {
      if (!(k in args) || SECRET_KEY.test(k) || args[k] === null || args[k] === undefined) continue;
      let v = args[k];
      if ((k === 'model' || k === 'dataset') && typeof v === 'string') v = hubIdOf(v, k) ?? path.basename(v);
      b.push(`| ${k} | ${fmt(v)} |`);
    }
    b.push('');
  }

  if (labels.length) {
    b.push('## Labels', '');
    const shown = labels.slice(0, 50);
    for (const l of shown) b.push(`- \`${l}\`${typeof names[l] === 'string' ? ` ${fmt(names[l])}` : ''}`);
    if (labels.length > shown.length) b.push(`- … and ${labels.length - shown.length} more (see config.json's id2label${Object.keys(names).length ? ' and label_names.json' : ''})`);
    b.push('');
  }

  const example = 'CT of the chest showing a right-sided pneumothorax';
  b.push(
    '## Usage',
    '',
    '### Python (transformers)',
    '',
    '```python',
    'import torch',
    'from transformers import AutoModelForSequenceClassification, AutoTokenizer',
    '',
    `tokenizer = AutoTokenizer.from_pretrained(${JSON.stringify(repoId)})`,
    `model = AutoModelForSequenceClassification.from_pretrained(${JSON.stringify(repoId)}).eval()`,
    '',
    `inputs = tokenizer([${JSON.stringify(example)}], return_tensors="pt", truncation=True)`,
    'with torch.no_grad():',
    '    probs = torch.sigmoid(model(**inputs).logits)[0]',
    'labels = [model.config.id2label[i] for i, p in enumerate(probs) if p > 0.5]',
    'print(labels)',
    '```',
    '',
    '### Node.js (radbert-native)',
    '',
    '```js',
    "const { load, resolveModel } = require('radbert-native');",
    '',
    `const clf = await load(await resolveModel(${JSON.stringify(repoId)})); // downloads into the Hugging Face cache`,
    `const { labels, probabilities } = await clf.predict(${JSON.stringify(example)});`,
    'console.log(labels, probabilities);',
    '```',
    '',
    'or from the command line:',
    '',
    '```sh',
    `npx radbert-native predict --model ${repoId} "${example}"`,
    '```',
    '',
  );
  return `${fm.join('\n')}\n${b.join('\n')}`;
}
