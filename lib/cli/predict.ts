/** `radbert-native predict "text" ...`: CUIs with probabilities for each text. */
import { readLabelNames } from '../model/classifier';
import { UsageError } from '../errors';
import { DEFAULT_OUTPUT, DEVICE_OPTION, loadModel, num, out, str } from './common';
import type { CommandSpec, Parsed } from './options';

/** The predict command's flags. */
export const PREDICT: CommandSpec = {
  name: 'predict',
  usage: 'usage: npx radbert-native predict "text" ["text" ...] [options]',
  positionals: true,
  options: {
    model: { type: 'string', desc: `model folder or Hub id org/name (default: $RADBERT_MODEL or ./${DEFAULT_OUTPUT})` },
    revision: { type: 'string', desc: 'Hub revision of --model org/name' },
    threshold: { type: 'number', desc: 'show labels with probability > X', default: 0.5, min: 0, max: 1 },
    top: { type: 'integer', desc: 'show at most N labels per text', min: 1 },
    json: { type: 'boolean', desc: 'print JSON' },
    'label-names': { type: 'string', desc: "CUI -> name JSON (default: the model's label_names.json)" },
    'max-length': { type: 'integer', desc: 'truncate to N tokens', min: 3 },
    device: DEVICE_OPTION,
    bf16: { type: 'boolean', desc: 'bf16 autocast (fp32 weights, bf16 matmuls): faster where the CPU has bf16 instructions' },
  },
};

/** Run predict with parsed flags. */
export async function predictCommand({ values, positionals }: Parsed): Promise<number> {
  if (!positionals.length) throw new UsageError('predict: give the text to classify, e.g. npx radbert-native predict "CT of Chest with pneumothorax"');
  const threshold = num(values, 'threshold') ?? 0.5;
  const top = num(values, 'top');
  const clf = await loadModel(values);
  try {
    const names = str(values, 'label-names');
    if (names) clf.labelNames = readLabelNames(names);
    const preds = await clf.predict(positionals, { threshold });
    if (values.json) {
      const rows = positionals.map((text, i) => ({
        text,
        labels: preds[i].labels.slice(0, top).map((label) => ({ label, ...(clf.labelNames[label] ? { name: clf.labelNames[label] } : {}), probability: preds[i].probabilities[label] })),
      }));
      out(JSON.stringify(rows, null, 2));
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
