/**
 * `radbert-native eval --dataset D`: loss and metrics of a trained model on a split of the seed's split, or on all rows;
 * at p > 0.5 and at the model's tuned thresholds (thresholds.json), or at an explicit --threshold. --tune-thresholds
 * tunes them on the validation split first (and saves them with the model); --report DIR writes the per-label table
 * and the precision-recall picture.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabelBinarizer } from '../data/labels';
import { DataError, readRows, type Row } from '../data/readers';
import { seedSplit } from '../data/split';
import { UsageError } from '../errors';
import { bceWithLogits, computeMetrics, type Threshold } from '../eval/metrics';
import { writeEvalReport } from '../eval/report';
import { DEFAULT_MIN_THRESHOLD_SUPPORT, TUNE_METHODS, type TuneMethod } from '../eval/thresholds';
import { resolveSource } from '../hub/download';
import { sourceOf } from '../hub/ids';
import type { Classifier } from '../model/classifier';
import { describeThresholds, readThresholds } from '../model/thresholds';
import { splitRowsTable, type SplitRow } from '../train/report';
import { RunTuning } from '../train/tuning';
import { DEFAULT_OUTPUT, DEVICE_OPTION, err, loadModel, num, out, str } from './common';
import type { CommandSpec, Parsed } from './options';

/** The eval command's flags. */
export const EVAL: CommandSpec = {
  name: 'eval',
  usage: 'usage: npx radbert-native eval --dataset D [options]',
  options: {
    model: { type: 'string', desc: `model folder or Hub id (default: $RADBERT_MODEL or ./${DEFAULT_OUTPUT})` },
    revision: { type: 'string', desc: 'Hub revision of --model org/name' },
    dataset: { type: 'string', desc: 'as for train' },
    split: { type: 'string', desc: "the seed's split to score, or all rows (default: all for a single file, else test)", choices: ['test', 'validation', 'train', 'all'] },
    'text-column': { type: 'string', desc: 'text column', default: 'caption' },
    'label-column': { type: 'string', desc: 'label column', default: 'cui' },
    'skip-bad-rows': { type: 'boolean', desc: 'drop malformed rows instead of failing' },
    'split-seed': { type: 'integer', desc: 'seed of the validation split', default: 42, min: 0 },
    'validation-split-source': { type: 'string', desc: "as for train: the validation split re-split from train, or the dataset's own", choices: ['resplit', 'dataset'], default: 'resplit' },
    'batch-size': { type: 'integer', desc: 'rows per forward', default: 8, min: 1 },
    tokenizer: { type: 'string', desc: "tokenizer.json or folder (default: the model's)" },
    'max-length': { type: 'integer', desc: "truncate to N tokens (default: the model's, the max length it was trained with)", min: 3 },
    threshold: { type: 'number', desc: "decision threshold (default: p > 0.5 and the model's tuned thresholds.json, both reported)", min: 0, max: 1 },
    'tune-thresholds': {
      type: 'string',
      desc: "first tune thresholds on the seed's validation split and save them as the model folder's thresholds.json",
      choices: TUNE_METHODS.filter((m) => m !== 'none'),
    },
    'min-threshold-support': { type: 'integer', desc: 'per-label: labels with fewer validation positives keep the global threshold', default: DEFAULT_MIN_THRESHOLD_SUPPORT, min: 1 },
    report: { type: 'string', desc: 'write per_label.csv (CUI, name, support, precision, recall, F1, threshold) and pr_curve.svg (precision-recall) into this folder' },
    json: { type: 'boolean', desc: 'print the metrics as JSON' },
    device: DEVICE_OPTION,
    bf16: { type: 'boolean', desc: 'evaluate under bf16 autocast' },
  },
};

/** The rows of the seed's splits (or every row as 'all') of --dataset. */
async function readSplits(values: Parsed['values'], dataset: string, source: string) {
  const read = await readRows(source, {
    textColumn: str(values, 'text-column'),
    labelColumn: str(values, 'label-column'),
    skipBadRows: values['skip-bad-rows'] === true,
  });
  if (read.skipped.length) err(`skipped ${read.skipped.length} bad row(s)`);
  const split = () => seedSplit(read.splits, { seed: num(values, 'split-seed') ?? 42, validationSource: str(values, 'validation-split-source') as 'resplit' | 'dataset' | undefined });
  return { all: () => Object.values(read.splits).flat(), split, dataset };
}

/** Logits and 0/1 targets of rows under the model's labels (CUIs the model does not know are counted and ignored). */
async function predictRows(clf: Classifier, rows: Row[], name: string) {
  const y = new LabelBinarizer(clf.labels).transform(rows);
  if (y.ignored) err(`${y.ignoredLabels.length} CUIs of the ${name} split are not labels of the model (${y.ignored} occurrences ignored)`);
  const logits = await clf.logitsMatrix(clf.encode(rows.map((r) => r.text)));
  return { logits, targets: y.data };
}

/** The local model folder --model names (tuning writes into it). */
function localModelDir(values: Parsed['values']): string {
  const arg = str(values, 'model') ?? process.env.RADBERT_MODEL;
  if (arg !== undefined && sourceOf(arg)?.kind === 'hub')
    throw new UsageError(`eval --tune-thresholds writes thresholds.json into the model folder: pass a local folder (download ${arg} first, e.g. with huggingface-cli download --local-dir)`);
  return path.resolve(arg ?? DEFAULT_OUTPUT);
}

/** --tune-thresholds: tune on the validation split, save thresholds.json into the model folder, set them on the model. */
async function tuneOnValidation(clf: Classifier, values: Parsed['values'], validation: Row[], method: TuneMethod): Promise<void> {
  if (!validation.length) throw new DataError('--tune-thresholds: the validation split is empty');
  const dir = localModelDir(values);
  const { logits, targets } = await predictRows(clf, validation, 'validation');
  const tuning = new RunTuning(method, { minSupport: num(values, 'min-threshold-support') ?? DEFAULT_MIN_THRESHOLD_SUPPORT, baseline: 0.5, labels: clf.labels });
  for (const line of tuning.finalize(logits, targets)) err(line);
  tuning.save(dir);
  clf.thresholds = readThresholds(path.join(dir, 'thresholds.json'), clf.labels);
  err(`saved ${clf.thresholds.file}`);
}

/** Run eval with parsed flags. */
export async function evalCommand({ values }: Parsed): Promise<number> {
  const dataset = str(values, 'dataset');
  if (!dataset) throw new UsageError('eval: --dataset is required (a parquet folder or a .parquet/.jsonl/.csv file)');
  const source = await resolveSource(dataset, 'dataset');
  // a single file is one set of rows, scored whole; a folder (or Hub dataset) is split as train splits it
  const splitName = (str(values, 'split') ?? (fs.statSync(source, { throwIfNoEntry: false })?.isFile() ? 'all' : 'test')) as 'test' | 'validation' | 'train' | 'all';
  const method = str(values, 'tune-thresholds') as TuneMethod | undefined;
  const explicit = num(values, 'threshold');
  if (method && explicit !== undefined) throw new UsageError('eval: --threshold and --tune-thresholds exclude each other (the one sets the rule, the other tunes it)');
  const data = await readSplits(values, dataset, source);
  const rows = splitName === 'all' ? data.all() : data.split()[splitName];
  if (!rows.length) throw new DataError(`${dataset}: the ${splitName} split is empty`);
  const clf = await loadModel(values, { batchSize: num(values, 'batch-size') ?? 8 });
  try {
    if (method) await tuneOnValidation(clf, values, data.split().validation, method);
    const { logits, targets } = await predictRows(clf, rows, splitName);
    const k = clf.labels.length;
    const loss = bceWithLogits(logits, targets);
    // the rules reported: an explicit --threshold alone, else p > 0.5 and the tuned thresholds when the model has them
    const base = explicit ?? 0.5;
    const tuned = explicit === undefined ? clf.thresholds : undefined;
    const m = computeMetrics(logits, targets, base, k);
    const table: SplitRow[] = [{ split: tuned ? `${splitName}, p > ${base}` : splitName, loss, metrics: { ...m } }];
    const result: Record<string, unknown> = { split: splitName, rows: rows.length, loss, ...m };
    if (tuned) {
      const mt = computeMetrics(logits, targets, tuned.perLabel, k);
      table.push({ split: `${splitName}, tuned ${describeThresholds(tuned.json)}`, loss, metrics: { ...mt } });
      for (const [key, v] of Object.entries(mt)) result[`${key}_tuned`] = v;
      result.threshold_tuned = tuned.json.global;
      result.thresholds = tuned.json;
    }
    if (values.json) out(JSON.stringify(result, null, 2));
    else for (const line of splitRowsTable(table)) out(line);
    const reportDir = str(values, 'report');
    if (reportDir) {
      const rule: Threshold = tuned ? tuned.perLabel : base;
      const points = tuned ? [{ name: `tuned ${describeThresholds(tuned.json)}`, threshold: tuned.perLabel }] : explicit !== undefined && explicit !== 0.5 ? [{ name: `p > ${explicit}`, threshold: explicit }] : [];
      const files = await writeEvalReport(reportDir, { logits, targets, labels: clf.labels, names: clf.labelNames, threshold: rule, points, split: splitName });
      err(`wrote ${files.join(', ')}`);
    }
    return 0;
  } finally {
    clf.close();
  }
}
