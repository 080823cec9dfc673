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
  'adam_beta1', 'adam_beta2', 'adam_epsilon', 'max_grad_norm', 'lr_scheduler_type', 'lr_scheduler_kwargs', 'warmup_ratio', 'warmup_steps', 'optim',
  'loss', 'pos_weight', 'max_pos_weight', 'asl_gamma_neg', 'asl_gamma_pos', 'asl_clip', 'eval_strategy', 'eval_steps',
  'metric_for_best_model', 'greater_is_better', 'load_best_model_at_end', 'early_stopping_patience', 'early_stopping_threshold',
  'threshold', 'tune_thresholds', 'min_threshold_support', 'seed', 'device',
];
/** Never shown, whatever they hold. */
const SECRET_KEY = /token|secret|password|passwd|credential|api[_-]?key|auth/i;

/** The "Decision thresholds" section of a card: how they were tuned and what they gained on validation (and cross-validated). */
function thresholdsSection(t: Json): string[] {
  const num = (v: unknown) => (typeof v === 'number' ? fmt(v) : '—');
  const f1 = (t.validation_micro_f1 ?? {}) as Json;
  const cv = t.cross_validated_micro_f1 as Json | undefined;
  const per = (t.per_label ?? {}) as Json;
  const rule =
    t.method === 'per-label'
      ? `one threshold per label for the ${Object.keys(per).length} labels with at least ${num(t.min_threshold_support)} positives in the validation split, ${num(t.global)} for the others`
      : `one threshold for every label: **${num(t.global)}**`;
  const out = [
    '## Decision thresholds',
    '',
    `Tuned on the validation split (${num((t.tuned_on as Json | undefined)?.rows)} rows) by radbert-native to maximise micro-F1, saved as \`thresholds.json\` (${String(t.method)}): ${rule}.`,
    `Validation micro-F1 ${num(f1.before)} at p > ${num(t.baseline_threshold ?? 0.5)}, ${num(f1.after)} at the tuned thresholds (in-sample).`,
  ];
  if (cv) out.push(`Cross-validated on the validation split (${num(cv.folds)} folds, each tuned on the others): p > 0.5 ${num(cv.baseline)}, global ${num(cv.global)}, per-label ${num(cv.per_label)}.`);
  out.push('`radbert-native` (load, predict, serve, eval) applies them by default; an explicit threshold overrides them. transformers ignores the file.', '');
  return out;
}

/**
 * The "Results" section: the best validation evaluation and the test split (at p > 0.5 and, when tuned, at the tuned
 * thresholds), the training curves, and the validation metrics per epoch.
 */
function resultsSection(evals: Json[], bestEval: Json | undefined, test: Json | undefined, curves: boolean): string[] {
  const b: string[] = [];
  if (bestEval || test) {
    b.push('## Results', '');
    const cols: Array<[string, Json | undefined, string]> = [];
    if (bestEval) cols.push([`validation${typeof bestEval.epoch === 'number' ? ` (epoch ${fmt(bestEval.epoch)})` : ''}`, bestEval, 'eval_']);
    const tunedTest = test && typeof test.test_f1_tuned === 'number';
    if (test) cols.push([tunedTest ? 'test, p > 0.5' : 'test', test, 'test_']);
    // the same metrics at the tuned thresholds: test_<metric>_tuned under test_<metric> (the loss does not depend on them)
    const tunedOf = (e: Json) => Object.fromEntries(Object.entries(e).filter(([k]) => k.endsWith('_tuned')).map(([k, v]) => [k.slice(0, -'_tuned'.length), v]));
    if (test && tunedTest) cols.push(['test, tuned thresholds', { ...tunedOf(test), test_loss: test.test_loss }, 'test_']);
    b.push(`| metric | ${cols.map((c) => c[0]).join(' | ')} |`, `|---|${cols.map(() => '---').join('|')}|`);
    for (const m of METRICS) {
      if (!cols.some(([, e, pre]) => typeof e?.[pre + m] === 'number')) continue;
      b.push(`| ${m} | ${cols.map(([, e, pre]) => fmt(e?.[pre + m])).join(' | ')} |`);
    }
    b.push('');
    if (curves) b.push('### Training curves', '', '![Training and validation loss, validation F1 per epoch](training_curves.svg)', '');
    if (evals.length > 1) {
      const tunedCol = evals.some((e) => typeof e.eval_f1_tuned === 'number');
      b.push(
        '### Validation by epoch',
        '',
        `| epoch | step | validation loss | f1 | precision_micro | recall_micro |${tunedCol ? ' f1, tuned thresholds |' : ''}`,
        `|---|---|---|---|---|---|${tunedCol ? '---|' : ''}`,
      );
      for (const e of evals)
        b.push(`| ${fmt(e.epoch)} | ${fmt(e.step)} | ${fmt(e.eval_loss)} | ${fmt(e.eval_f1)} | ${fmt(e.eval_precision_micro)} | ${fmt(e.eval_recall_micro)} |${tunedCol ? ` ${fmt(e.eval_f1_tuned)} |` : ''}`);
      b.push('');
    }
  } else if (curves) b.push('## Training curves', '', '![Training curves](training_curves.svg)', '');
  return b;
}

/**
 * The README.md of a trained model folder (reads config.json, training_args.json, trainer_state.json, label_names.json,
 * thresholds.json; embeds training_curves.svg when the folder has it).
 */
export function modelCard(dir: string, options: ModelCardOptions = {}): string {
  const config = readJsonObjectIfAny(path.join(dir, 'config.json')) ?? {};
  const args = readJsonObjectIfAny(path.join(dir, 'training_args.json'));
  const state = readJsonObjectIfAny(path.join(dir, 'trainer_state.json'));
  const names = (readJsonObjectIfAny(path.join(dir, 'label_names.json')) ?? {}) as Record<string, unknown>;
  const thresholds = readJsonObjectIfAny(path.join(dir, 'thresholds.json'));
  const curves = fs.existsSync(path.join(dir, 'training_curves.svg'));
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
    thresholds
      ? 'Each label is predicted independently: apply a sigmoid to each logit and keep the labels above their decision threshold, tuned on the validation split (`thresholds.json`, see below; 0.5 is the untuned rule).'
      : 'Each label is predicted independently: apply a sigmoid to each logit and keep the labels above a threshold (0.5 by default).',
    '',
  );

  b.push(...resultsSection(evals, bestEval, test, curves));
  if (thresholds) b.push(...thresholdsSection(thresholds));

  if (args) {
    b.push('## Training recipe', '', '| setting | value |', '|---|---|');
    for (const k of RECIPE_KEYS) {
      if (!(k in args) || SECRET_KEY.test(k) || args[k] === null || args[k] === undefined) continue;
      let v = args[k];
      if ((k === 'model' || k === 'dataset') && typeof v === 'string') v = hubIdOf(v, k) ?? path.basename(v);
      if (k === 'pos_weight' && typeof v === 'string' && !['auto', 'none'].includes(v)) v = path.basename(v);
      if (typeof v === 'object') {
        if (!Object.keys(v as object).length) continue; // lr_scheduler_kwargs {}
        v = JSON.stringify(v);
      }
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
    ...(thresholds
      ? [
          '# the decision thresholds tuned on the validation split (thresholds.json; 0.5 for every label is the untuned rule)',
          'import json',
          'from huggingface_hub import hf_hub_download',
          `t = json.load(open(hf_hub_download(${JSON.stringify(repoId)}, "thresholds.json")))`,
          'cut = [t["per_label"].get(model.config.id2label[i], t["global"]) for i in range(len(probs))]',
          'labels = [model.config.id2label[i] for i, p in enumerate(probs) if p > cut[i]]',
        ]
      : ['labels = [model.config.id2label[i] for i, p in enumerate(probs) if p > 0.5]']),
    'print(labels)',
    '```',
    '',
    '### Node.js (radbert-native)',
    '',
    '```js',
    "const { load, resolveModel } = require('radbert-native');",
    '',
    `const clf = await load(await resolveModel(${JSON.stringify(repoId)})); // downloads into the Hugging Face cache${thresholds ? '; uses thresholds.json' : ''}`,
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
