/** `radbert-native eval --dataset D`: loss and metrics of a trained model on a split of the seed's split, or on all rows. */
import * as fs from 'node:fs';
import { LabelBinarizer } from '../data/labels';
import { DataError, readRows } from '../data/readers';
import { seedSplit } from '../data/split';
import { UsageError } from '../errors';
import { bceWithLogits, computeMetrics } from '../eval/metrics';
import { resolveSource } from '../hub/download';
import { splitTable } from '../train/report';
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
    threshold: { type: 'number', desc: 'decision threshold', default: 0.5, min: 0, max: 1 },
    json: { type: 'boolean', desc: 'print the metrics as JSON' },
    device: DEVICE_OPTION,
    bf16: { type: 'boolean', desc: 'evaluate under bf16 autocast' },
  },
};

/** Run eval with parsed flags. */
export async function evalCommand({ values }: Parsed): Promise<number> {
  const dataset = str(values, 'dataset');
  if (!dataset) throw new UsageError('eval: --dataset is required (a parquet folder or a .parquet/.jsonl/.csv file)');
  const source = await resolveSource(dataset, 'dataset');
  // a single file is one set of rows, scored whole; a folder (or Hub dataset) is split as train splits it
  const splitName = (str(values, 'split') ?? (fs.statSync(source, { throwIfNoEntry: false })?.isFile() ? 'all' : 'test')) as 'test' | 'validation' | 'train' | 'all';
  const batchSize = num(values, 'batch-size') ?? 8;
  const threshold = num(values, 'threshold') ?? 0.5;
  const read = await readRows(source, {
    textColumn: str(values, 'text-column'),
    labelColumn: str(values, 'label-column'),
    skipBadRows: values['skip-bad-rows'] === true,
  });
  if (read.skipped.length) err(`skipped ${read.skipped.length} bad row(s)`);
  const rows =
    splitName === 'all'
      ? Object.values(read.splits).flat()
      : seedSplit(read.splits, { seed: num(values, 'split-seed') ?? 42, validationSource: str(values, 'validation-split-source') as 'resplit' | 'dataset' | undefined })[splitName];
  if (!rows.length) throw new DataError(`${dataset}: the ${splitName} split is empty`);
  const clf = await loadModel(values, { batchSize });
  try {
    const y = new LabelBinarizer(clf.labels).transform(rows);
    if (y.ignored) err(`${y.ignoredLabels.length} CUIs of the ${splitName} split are not labels of the model (${y.ignored} occurrences ignored)`);
    const logits = await clf.logitsMatrix(clf.encode(rows.map((r) => r.text)));
    const m = computeMetrics(logits, y.data, threshold, clf.labels.length);
    const loss = bceWithLogits(logits, y.data);
    if (values.json) out(JSON.stringify({ split: splitName, rows: rows.length, loss, ...m }, null, 2));
    else for (const line of splitTable(splitName, loss, { ...m })) out(line);
    return 0;
  } finally {
    clf.close();
  }
}
