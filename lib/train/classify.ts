/**
 * The classification task (the seed's Part 3): multi-label CUI tagging with BCEWithLogits (or the loss of --loss /
 * --pos-weight, train/losses.ts), micro-F1 picks the best checkpoint. Reads the dataset, fits the labels on the train split, builds the classifier (resumed, from a pretrained
 * body, or a preset) and serves the loop its batches, steps and evaluations.
 */
import * as path from 'node:path';
import { UsageError } from '../errors';
import { fitLabels, LabelBinarizer } from '../data/labels';
import { DataError, formatBadRow, readRows, type Row } from '../data/readers';
import { seedSplit } from '../data/split';
import { computeMetrics } from '../eval/metrics';
import { resolveSource } from '../hub/download';
import { createClassifier, load, readLabelNames, type Classifier } from '../model/classifier';
import { classifierConfig, labelsOf, presetConfig, type HFConfig } from '../model/config';
import { resolveModelFolder, saveModelFolder } from '../model/folder';
import { packBatch, tokenizerFile } from '../model/tokenize';
import { readJsonFile } from '../files';
import { resolveLoss } from './losses';
import type { ResolvedTrainOptions } from './options';
import { removeThresholds } from '../model/thresholds';
import { CLASSIFICATION_METRICS, TUNED_METRICS } from './report';
import { evalShare } from './step';
import type { EvalShard, Evaluation, TaskBatch, TrainTask } from './task';
import { RunTuning } from './tuning';

/** The classification task, its labels, and how its model was made (for the notices). */
export interface ClassificationTask extends TrainTask {
  readonly labels: string[];
  /** 'resumed from …', '<model> (N tensors loaded, …)' or '<preset> preset, random init (seed …)'. */
  readonly modelDescription: string;
  /** What the loss (of training and evaluation) is, for training_args.json. */
  readonly lossDescription: string;
}

/** Read the dataset, split it as the seed does, and fit (or, resuming, check) the labels. */
export async function readData(o: ResolvedTrainOptions, info: (line: string) => void, resumeDir: string | undefined) {
  if (typeof o.dataset !== 'string' || !o.dataset) throw new UsageError('dataset is required');
  const datasetPath = await resolveSource(o.dataset, 'dataset', { revision: o.datasetRevision });
  const read = await readRows(datasetPath, { textColumn: o.textColumn, labelColumn: o.labelColumn, skipBadRows: o.skipBadRows });
  if (read.skipped.length) {
    const bySplit: Record<string, number> = {};
    for (const b of read.skipped) bySplit[b.split] = (bySplit[b.split] ?? 0) + 1;
    info(`skipped ${read.skipped.length} bad row(s) (${Object.entries(bySplit).map(([s, n]) => `${s}: ${n}`).join(', ')}):`);
    for (const b of read.skipped.slice(0, 20)) info(`  ${formatBadRow(b)}`);
    if (read.skipped.length > 20) info(`  ... and ${read.skipped.length - 20} more`);
  }
  const source = o.validationSplitSource ?? 'resplit';
  const split = seedSplit(read.splits, { seed: o.splitSeed, validationSource: source });
  const own = read.splits.validation?.length ?? 0;
  if (own && source === 'resplit')
    info(`the dataset has its own validation split (${own} rows), not used: validation is 15% of train re-split with --split-seed ${o.splitSeed}, as the seed does (--validation-split-source dataset uses it)`);
  if (!split.train.length) throw new DataError(`${o.dataset}: the training split is empty`);
  let binarizer: LabelBinarizer;
  if (resumeDir) {
    const labels = labelsOf(readJsonFile<HFConfig>(path.join(resumeDir, 'config.json')));
    if (!labels) throw new Error(`${resumeDir}/config.json: no id2label`);
    binarizer = new LabelBinarizer(labels);
    const fresh = fitLabels(split.train, { minLabelCount: o.minLabelCount });
    if (fresh.classes.join('\n') !== labels.join('\n'))
      throw new Error(`${resumeDir}: its ${labels.length} labels differ from the ${fresh.numLabels} of this dataset's train split (resume with the same --dataset and --min-label-count)`);
  } else {
    binarizer = fitLabels(split.train, { minLabelCount: o.minLabelCount });
  }
  const labels = [...binarizer.classes];
  if (!labels.length) throw new DataError(`${o.dataset}: no labels in the train split (column '${o.labelColumn}')`);
  const y = { train: binarizer.transform(split.train), validation: binarizer.transform(split.validation), test: binarizer.transform(split.test) };
  info(
    `data: train ${split.train.length}, validation ${split.validation.length}, test ${split.test.length} rows; ` +
      `${labels.length} labels (sorted CUIs of the train split${binarizer.dropped.length ? `, ${binarizer.dropped.length} rarer than --min-label-count ${o.minLabelCount} dropped` : ''})`,
  );
  const ignoredOutside = new Set([...y.validation.ignoredLabels, ...y.test.ignoredLabels]);
  if (y.validation.ignored || y.test.ignored)
    info(`labels not in the train split ignored: ${ignoredOutside.size} distinct CUIs (${y.validation.ignored} occurrences in validation, ${y.test.ignored} in test)`);
  return { split, labels, y };
}

/** The classifier tensors that hold one row per label: re-initialised when the labels change (--new-head). */
const CLASSIFIER_TENSORS = ['classifier.weight', 'classifier.bias'];

/**
 * Starting from a checkpoint that is already a classifier: its labels must be this dataset's, or --new-head (HF's
 * ignore_mismatched_sizes) keeps the body and head.dense/head.norm and re-initialises classifier.* for the new labels.
 * Returns the tensors not to load.
 */
function newHeadSkips(o: ResolvedTrainOptions, config: HFConfig, labels: string[], info: (line: string) => void): string[] {
  const archs = config.architectures;
  const old = Array.isArray(archs) && archs[0] === 'ModernBertForSequenceClassification' ? labelsOf(config) : undefined;
  if (!old || old.join('\n') === labels.join('\n')) return [];
  const sample = (l: string[]) => `${l.length} (${l.slice(0, 3).join(', ')}${l.length > 3 ? ', ...' : ''})`;
  if (!o.newHead)
    throw new UsageError(
      `${o.model} is a classifier for ${sample(old)} labels; this dataset's train split has ${sample(labels)}: pass --new-head to keep its body and ` +
        `head.dense/head.norm and re-initialise classifier.weight and classifier.bias for the new labels (HF's ignore_mismatched_sizes)`,
    );
  info(`--new-head: re-initialised ${CLASSIFIER_TENSORS.join(', ')} for ${labels.length} labels (the checkpoint's are for ${old.length} other labels); the body and head.dense/head.norm come from ${o.model}`);
  return CLASSIFIER_TENSORS;
}

/** The classifier to train: resumed from a checkpoint, a pretrained body with a new head, or a preset's random init. */
export async function buildClassifier(o: ResolvedTrainOptions, info: (line: string) => void, labels: string[], resumeDir: string | undefined, device: 'cpu' | 'cuda') {
  let labelNames: Record<string, string> | undefined = typeof o.labelNames === 'string' ? readLabelNames(o.labelNames) : o.labelNames;
  const common = { maxLength: o.maxLength, device, batchSize: o.evalBatchSize };
  if (resumeDir) {
    const tokenizerFrom = o.tokenizer ?? resumeDir;
    const clf = await load(resumeDir, { ...common, tokenizer: tokenizerFrom });
    if (!labelNames && Object.keys(clf.labelNames).length) labelNames = clf.labelNames;
    return { clf, tokenizerFrom, labelNames, description: `resumed from ${resumeDir}`, after: (c: Classifier) => c.model.loadOptimizer(path.join(resumeDir, 'optimizer.safetensors')) };
  }
  if (o.model) {
    const folder = resolveModelFolder(await resolveSource(o.model, 'model', { revision: o.revision }));
    const tok = o.tokenizer ?? folder.tokenizerFile;
    if (!tok) throw new UsageError(`${o.model} has no tokenizer.json: pass --tokenizer`);
    const skip = newHeadSkips(o, folder.config, labels, info);
    const clf = await createClassifier(classifierConfig({ ...folder.config, ...pooling(o) }, labels), { ...common, tokenizer: tok, seed: o.seed });
    if (!labelNames && folder.labelNamesFile) labelNames = readLabelNames(folder.labelNamesFile);
    const model = o.model;
    let description = model;
    const after = async (c: Classifier) => {
      const report = await c.model.loadWeights(folder.weightFiles, { skip });
      if (!report.loaded.length) throw new Error(`${model}: none of its tensors fit ModernBertForSequenceClassification`);
      if (report.missing.length)
        info(
          `Some weights of ModernBertForSequenceClassification were not initialized from the model checkpoint at ${model} and are newly initialized: ` +
            `[${report.missing.join(', ')}]\nYou should probably TRAIN this model on a down-stream task to be able to use it for predictions and inference.`,
        );
      if (report.unexpected.length) info(`unused weights of ${model}: ${report.unexpected.length} (e.g. ${report.unexpected.slice(0, 3).join(', ')})`);
      description = `${model} (${report.loaded.length} tensors loaded, ${report.missing.length} newly initialized)`;
    };
    return { clf, tokenizerFrom: tok, labelNames, get description() { return description; }, after };
  }
  const preset = o.init ?? 'tiny';
  const tok = o.tokenizer;
  if (!tok) throw new UsageError('--init needs --tokenizer (a tokenizer.json or a folder with one)');
  if (!tokenizerFile(tok)) throw new Error(`${tok}: no tokenizer.json here`);
  const clf = await createClassifier(classifierConfig({ ...presetConfig(preset), ...(o.configOverrides ?? {}), ...pooling(o) }, labels), { ...common, tokenizer: tok, seed: o.seed });
  return { clf, tokenizerFrom: tok, labelNames, description: `${preset} preset, random init (seed ${o.seed})`, after: async () => undefined };
}

/** The classifier_pooling override of --classifier-pooling, if any. */
function pooling(o: ResolvedTrainOptions): HFConfig {
  return o.classifierPooling ? { classifier_pooling: o.classifierPooling } : {};
}

/** Token ids of each row; every id must be inside the model's vocabulary. */
export function encodeSplit(clf: Classifier, name: string, rows: Row[]): number[][] {
  const seqs = clf.encode(rows.map((r) => r.text));
  const vocab = clf.nativeConfig.vocabSize;
  for (const s of seqs) for (const id of s) if (id >= vocab || id < 0) throw new Error(`${name}: token id ${id} is outside the model's vocabulary (${vocab}); is --tokenizer the model's tokenizer?`);
  return seqs;
}

/** Set up the classification task of a run (the classifier is closed again if any later set-up step throws). */
export async function classificationTask(
  o: ResolvedTrainOptions,
  ctx: { info: (line: string) => void; resumeDir?: string; device: 'cpu' | 'cuda' },
): Promise<ClassificationTask> {
  const { split, labels, y } = await readData(o, ctx.info, ctx.resumeDir);
  const built = await buildClassifier(o, ctx.info, labels, ctx.resumeDir, ctx.device);
  const clf = built.clf;
  try {
    await built.after(clf);
    clf.dtype = o.bf16 === true ? 'bfloat16' : 'float32';
    const ids = { train: encodeSplit(clf, 'train', split.train), validation: encodeSplit(clf, 'validation', split.validation), test: encodeSplit(clf, 'test', split.test) };
    const k = labels.length;
    const tuning = o.tuneThresholds === 'none' ? undefined : new RunTuning(o.tuneThresholds, { minSupport: o.minThresholdSupport, baseline: o.threshold, labels });
    // a split's logits (evalBatchSize rows per call, under autocast with --bf16); data parallel: each rank runs its
    // share of the batches and the logits are gathered in rank order
    const predictions = async (which: 'validation' | 'test', shard?: EvalShard) => {
      const [from, to] = evalShare(ids[which].length, o.evalBatchSize, shard);
      const mine = await clf.logitsMatrix(ids[which].slice(from, to));
      return { logits: shard ? concatFloat32(await shard.allGather(mine)) : mine, targets: y[which].data };
    };
    const loss = resolveLoss(o, labels, y.train.data, ctx.info);
    return {
      kind: 'classification',
      model: clf.model,
      labels,
      modelDescription: built.description,
      lossDescription: loss.description,
      lossName: loss.name,
      trainRows: split.train.length,
      evalRows: split.validation.length,
      testRows: split.test.length,
      metrics: tuning ? [...CLASSIFICATION_METRICS, ...TUNED_METRICS] : CLASSIFICATION_METRICS,
      best: { metric: 'f1', greaterIsBetter: true },
      batch(rows: number[]): TaskBatch {
        const targets = new Float32Array(rows.length * k);
        rows.forEach((r, j) => targets.set(y.train.data.subarray(r * k, (r + 1) * k), j * k));
        return { ...packBatch(rows.map((i) => ids.train[i])), rows: rows.length, targets };
      },
      step(batch, options) {
        if (!batch.targets) throw new Error('classification: the batch has no targets');
        return clf.model.trainStep(batch.ids, batch.cuSeqlens, batch.targets, loss.native ? { ...options, loss: loss.native } : options);
      },
      async evaluate(which, shard): Promise<Evaluation> {
        const start = Date.now();
        const { logits, targets } = await predictions(which, shard);
        const m = computeMetrics(logits, targets, o.threshold, k);
        const metrics: Record<string, number> = Object.fromEntries(CLASSIFICATION_METRICS.map((c) => [c.key, m[c.key]]));
        if (tuning) Object.assign(metrics, which === 'validation' ? tuning.epochMetrics(logits, targets) : tuning.tunedMetrics(logits, targets));
        return {
          loss: loss.evalLoss(logits, targets),
          metrics,
          runtime: (Date.now() - start) / 1000,
          rows: ids[which].length,
          batches: Math.ceil(ids[which].length / o.evalBatchSize),
        };
      },
      async finalize(shard) {
        if (!tuning) return [];
        if (!ids.validation.length) return ['--tune-thresholds: the validation split is empty, nothing to tune on (no thresholds.json)'];
        const { logits, targets } = await predictions('validation', shard);
        return tuning.finalize(logits, targets);
      },
      splitRows: (split, ev) => (tuning ? tuning.splitRows(split, ev.loss, ev.metrics) : [{ split, loss: ev.loss, metrics: ev.metrics }]),
      async save(dir) {
        await saveModelFolder(dir, { config: clf.config, model: clf.model, tokenizerFrom: built.tokenizerFrom, labelNames: built.labelNames, modelMaxLength: o.maxLength });
        if (tuning) tuning.save(dir);
        else removeThresholds(dir);
      },
      close: () => clf.close(),
    };
  } catch (err) {
    clf.close();
    throw err;
  }
}

/** The arrays one after the other. */
function concatFloat32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}
