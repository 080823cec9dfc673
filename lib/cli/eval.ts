/** `radbert-native eval --dataset D`: loss and metrics of a trained model on a split of the seed's split. */
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
    split: { type: 'string', desc: "the seed's split to score", choices: ['test', 'validation', 'train'], default: 'test' },
    'text-column': { type: 'string', desc: 'text column', default: 'caption' },
    'label-column': { type: 'string', desc: 'label column', default: 'cui' },
    'skip-bad-rows': { type: 'boolean', desc: 'drop malformed rows instead of failing' },
    'split-seed': { type: 'integer', desc: 'seed of the validation split', default: 42, min: 0 },
    'batch-size': { type: 'integer', desc: 'rows per forward', default: 8, min: 1 },
    'max-length': { type: 'integer', desc: 'truncate to N tokens', default: 256, min: 3 },
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
  const splitName = (str(values, 'split') ?? 'test') as 'test' | 'validation' | 'train';
  const batchSize = num(values, 'batch-size') ?? 8;
  const threshold = num(values, 'threshold') ?? 0.5;
  const read = await readRows(await resolveSource(dataset, 'dataset'), {
    textColumn: str(values, 'text-column'),
    labelColumn: str(values, 'label-column'),
    skipBadRows: values['skip-bad-rows'] === true,
  });
  if (read.skipped.length) err(`skipped ${read.skipped.length} bad row(s)`);
  const rows = seedSplit(read.splits, { seed: num(values, 'split-seed') ?? 42 })[splitName];
  if (!rows.length) throw new DataError(`${dataset}: the ${splitName} split is empty`);
  const clf = await loadModel(values, { batchSize, maxLength: num(values, 'max-length') ?? 256 });
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
