'use strict';
// Train → evaluate → predict on a small local dataset, with the library API.
//
//   node examples/train-eval-predict.js [OUTPUT_DIR]          (default: a folder under the OS temp dir)
//
// It writes 320 training and 64 test captions as JSONL (data/train.jsonl, data/test.jsonl: the layout `train`
// reads from a folder), fine-tunes a tiny randomly initialised ModernBERT on them for a few epochs (under a minute on
// 2 CPU cores), scores the saved model on the test split with computeMetrics, and tags two new captions.
// Needs ModernBERT's tokenizer: see example-data.js (RADBERT_TOKENIZER).
// In your own project, require('radbert-native') resolves to the installed package; inside this repository it
// resolves to the repository itself (after `npm run build`).
const os = require('node:os');
const path = require('node:path');
const { train, load, readRows, LabelBinarizer, computeMetrics } = require('radbert-native');
const { tokenizerDir, captions, writeJsonl } = require('./example-data');

async function main() {
  const work = path.resolve(process.argv[2] || path.join(os.tmpdir(), 'radbert-example-train'));
  const dataset = path.join(work, 'dataset');
  writeJsonl(path.join(dataset, 'data', 'train.jsonl'), captions(320));
  writeJsonl(path.join(dataset, 'data', 'test.jsonl'), captions(64, 7));

  // 1. train: 15 % of train becomes the validation split; the best epoch (validation micro-F1) is kept
  const result = await train({
    dataset,
    tokenizer: tokenizerDir(),
    init: 'tiny', // random weights; use model: 'answerdotai/ModernBERT-base' (or a folder) for a pretrained body
    epochs: 4,
    learningRate: 1e-3,
    batchSize: 16,
    maxLength: 32,
    outputDir: path.join(work, 'model'),
    overwriteOutputDir: true,
    progress: 'none',
    print: () => {}, // the per-epoch table; remove to see it
  });
  console.log(`trained ${result.globalStep} steps; best checkpoint ${path.basename(result.bestCheckpoint)}; test micro-F1 ${result.test.f1.toFixed(4)}`);

  // 2. evaluate the saved model on the test split ourselves (what `npx radbert-native eval` does)
  const clf = await load(result.outputDir);
  try {
    const test = (await readRows(dataset)).splits.test;
    const logits = await clf.logits(test.map((r) => r.text));
    const targets = new LabelBinarizer(clf.labels).transform(test);
    const m = computeMetrics(logits, targets.data, 0.5, clf.labels.length);
    console.log(`eval on ${test.length} test rows: micro-F1 ${m.f1.toFixed(4)}, exact match ${m.exact_match.toFixed(4)}`);

    // 3. predict
    for (const text of ['MRI of the knee showing a fracture', 'CT of the chest showing pneumothorax']) {
      const p = await clf.predict(text);
      console.log(`predict "${text}": ${p.labels.map((l) => `${l} ${p.probabilities[l].toFixed(2)}`).join(', ') || '(no label above 0.5)'}`);
    }
  } finally {
    clf.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
