/** `radbert-native predict "text" ...` or `predict --input FILE`: CUIs with probabilities for each text. */
import { readLabelNames, type Classifier, type Prediction } from '../model/classifier';
import { UsageError } from '../errors';
import { DEFAULT_OUTPUT, DEVICE_OPTION, loadModel, num, out, str } from './common';
import type { CommandSpec, Parsed } from './options';
import { PredictionWriter, readInputTexts, RowProgress, type LabelOut } from './predict-io';

/** The predict command's flags. */
export const PREDICT: CommandSpec = {
  name: 'predict',
  usage: `usage: npx radbert-native predict "text" ["text" ...] [options]
       npx radbert-native predict --input texts.txt|rows.jsonl|rows.csv|- [--output preds.jsonl|preds.csv] [options]`,
  positionals: true,
  options: {
    model: { type: 'string', desc: `model folder or Hub id org/name (default: $RADBERT_MODEL or ./${DEFAULT_OUTPUT})` },
    revision: { type: 'string', desc: 'Hub revision of --model org/name' },
    input: { type: 'string', desc: "texts to classify: a .txt (one per line), .jsonl or .csv (the --text-column), or - for stdin (one per line)" },
    output: { type: 'string', desc: 'with --input: write predictions here, CSV for a .csv name, else JSONL (default: JSONL on stdout)' },
    'text-column': { type: 'string', desc: 'text column of a .jsonl/.csv --input (default: text, else caption)' },
    'batch-size': { type: 'integer', desc: 'rows per forward', default: 64, min: 1 },
    threshold: { type: 'number', desc: "show labels with probability > X (default: the model's tuned thresholds.json, else 0.5)", min: 0, max: 1 },
    top: { type: 'integer', desc: 'show at most N labels per text', min: 1 },
    json: { type: 'boolean', desc: 'print JSON' },
    'label-names': { type: 'string', desc: "CUI -> name JSON (default: the model's label_names.json)" },
    tokenizer: { type: 'string', desc: "tokenizer.json or folder (default: the model's)" },
    'max-length': { type: 'integer', desc: "truncate to N tokens (default: the model's, the max length it was trained with)", min: 3 },
    device: DEVICE_OPTION,
    bf16: { type: 'boolean', desc: 'bf16 autocast (fp32 weights, bf16 matmuls): faster where the CPU has bf16 instructions' },
  },
};

/** A prediction's labels (at most `top`) with names when known. */
function labelsOut(clf: Classifier, p: Prediction, top: number | undefined): LabelOut[] {
  return p.labels.slice(0, top).map((label) => ({ label, ...(clf.labelNames[label] ? { name: clf.labelNames[label] } : {}), probability: p.probabilities[label] }));
}

/** predict --input: every text of the file, --batch-size at a time, written as they come. */
async function predictFile(clf: Classifier, texts: string[], values: Parsed['values'], threshold: number | undefined, top: number | undefined): Promise<void> {
  const batch = num(values, 'batch-size') ?? 64;
  const writer = new PredictionWriter(str(values, 'output'));
  const bar = new RowProgress(texts.length);
  try {
    bar.update(0);
    for (let start = 0; start < texts.length; start += batch) {
      const chunk = texts.slice(start, start + batch);
      const preds = await clf.predict(chunk, { threshold });
      chunk.forEach((t, i) => writer.add(t, labelsOut(clf, preds[i], top)));
      bar.update(start + chunk.length);
    }
  } finally {
    bar.done();
    writer.close();
  }
}

/** Run predict with parsed flags. */
export async function predictCommand({ values, positionals }: Parsed): Promise<number> {
  const input = str(values, 'input');
  if (input !== undefined && positionals.length) throw new UsageError('predict: give texts as arguments or --input FILE, not both');
  if (input === undefined && !positionals.length)
    throw new UsageError('predict: give the text to classify, e.g. npx radbert-native predict "CT of Chest with pneumothorax" (or --input FILE for many)');
  if (input === undefined && (str(values, 'output') || str(values, 'text-column'))) throw new UsageError('predict: --output and --text-column go with --input');
  const texts = input !== undefined ? readInputTexts(input, str(values, 'text-column')) : positionals;
  const threshold = num(values, 'threshold'); // undefined: the model's thresholds.json, else 0.5
  const top = num(values, 'top');
  const clf = await loadModel(values, { batchSize: num(values, 'batch-size') });
  try {
    const names = str(values, 'label-names');
    if (names) clf.labelNames = readLabelNames(names);
    if (input !== undefined) {
      await predictFile(clf, texts, values, threshold, top);
      return 0;
    }
    const preds = await clf.predict(texts, { threshold });
    if (values.json) {
      out(JSON.stringify(texts.map((text, i) => ({ text, labels: labelsOut(clf, preds[i], top) })), null, 2));
    } else {
      texts.forEach((text, i) => {
        out(text);
        const labels = preds[i].labels.slice(0, top);
        if (!labels.length) out(`  (no label above ${threshold ?? (clf.thresholds ? 'its tuned threshold' : 0.5)})`);
        for (const l of labels) out(`  ${preds[i].probabilities[l].toFixed(4)}  ${clf.labelName(l)}`);
      });
    }
    return 0;
  } finally {
    clf.close();
  }
}
