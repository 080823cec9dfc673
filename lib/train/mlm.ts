/**
 * Masked-language-model training (Part 2 of the series, issue 14) as a TrainTask of the shared loop (train/loop.ts):
 * texts from a dataset column or a .txt file, a held-out slice (`validationSplit`, the first int(f·n) rows of
 * numpy's permutation(n, seed)), DataCollatorForLanguageModeling's masking per step (MlmMasker.maskStep(batch, seed,
 * step): resume is bit-exact), fixed validation masks (maskStep(batch, seed + 1, i)), validation loss and perplexity
 * each epoch, best checkpoint by validation loss, and a ModernBertForMaskedLM folder that transformers' fill-mask loads.
 */
import { withDistributed } from '../dist/run';
import { UsageError } from '../errors';
import { maskingVocab, MlmMasker, type MaskedBatch } from '../data/masking';
import { readTexts, type TextRow } from '../data/mlm-corpus';
import { permutation } from '../data/rng';
import { resolveSource } from '../hub/download';
import { resolveDevice } from '../model/open';
import { presetConfig } from '../model/config';
import { resolveModelFolder } from '../model/folder';
import { createMaskedLM, loadMaskedLM, type MaskedLM } from '../model/masked-lm';
import { packBatch, tokenizerFile } from '../model/tokenize';
import { native } from '../native';
import { trainLoop } from './loop';
import { checkNumberOptions, resolveTrainOptions, stripUndefined, type NumberRule, type ResolvedTrainOptions, type RunResult, type TrainOptions } from './options';
import { outputOf, prepareRunFolder, trainingArguments, type RunFolder } from './setup';
import { evalShare } from './step';
import { bestRule } from './callbacks';
import type { BestRule, Evaluation, MetricColumn, TaskBatch, TrainTask } from './task';

/** Options of trainMlm(): train()'s recipe options plus the masking and the held-out slice. */
export interface MlmOptions
  extends Omit<
    TrainOptions,
    | 'dataset' | 'labelColumn' | 'minLabelCount' | 'splitSeed' | 'threshold' | 'tuneThresholds' | 'minThresholdSupport' | 'labelNames' | 'linearProbe'
    | 'probeC' | 'probeEmbeddings' | 'classifierPooling' | 'loss' | 'posWeight' | 'maxPosWeight' | 'aslGammaNeg' | 'aslGammaPos' | 'aslClip'
  > {
  /** The texts: a .txt file (one per line), a dataset file or folder (its train split, textColumn), or a Hub dataset id; or pass `texts`. */
  dataset?: string;
  /** Probability that a non-special token is selected for prediction (default 0.3, ModernBERT's pre-training rate). */
  mlmProbability?: number;
  /** Fraction of the texts held out for the validation loss (default 0.05; 0 = none). */
  validationSplit?: number;
  /** The texts themselves instead of `dataset` (e.g. seriesCorpus(...).rows.map(r => r.text)). */
  texts?: string[];
}

/** What trainMlm() returns (bestMetric: by default the best validation loss; exp of it is the perplexity). */
export interface MlmResult extends RunResult {
  /** Texts trained on. */
  trainTexts: number;
  /** Texts held out for the validation loss. */
  validationTexts: number;
}

/** Defaults of trainMlm() where they differ from train()'s (TRAIN_DEFAULTS), and its own options'. */
export const MLM_DEFAULTS = { mlmProbability: 0.3, validationSplit: 0.05, outputDir: 'ModernRadBERT-mlm' } as const;

/**
 * The recipe defaults of an MLM run from random init (`init`, no `model`): the series recipe of issue 14 (README, "The
 * series table"). A pretrained `model` keeps train()'s (lr 5e-5, batch 8): a from-scratch learning rate would wipe it.
 */
export const MLM_FROM_SCRATCH_DEFAULTS = { learningRate: 1e-3, batchSize: 32, epochs: 10 } as const;

/** Rules of trainMlm()'s own numeric options (the CLI's flags spread these into their table). */
export const MLM_NUMBER_RULES = {
  mlmProbability: { type: 'number', min: 0, minExclusive: true, max: 1 },
  validationSplit: { type: 'number', min: 0, max: 1, maxExclusive: true },
} satisfies Record<'mlmProbability' | 'validationSplit', NumberRule>;

/** The metric columns of an MLM run's table. */
export const MLM_METRICS: ReadonlyArray<MetricColumn> = [{ key: 'perplexity', title: 'Perplexity', lowerIsBetter: true }];

/** The best checkpoint of an MLM run by default: the lowest validation loss (HF's metric_for_best_model 'loss'). */
const MLM_BEST: BestRule = { metric: 'loss', greaterIsBetter: false };

/** Held-out slice as bench/SERIES.md: validation = first int(fraction·n) of permutation(n, seed), train = the rest in that order. */
export function heldOutSplit<T>(
  rows: T[],
  fraction: number,
  seed: number,
): {
  /** The rows trained on. */
  train: T[];
  /** The held-out rows. */
  validation: T[];
} {
  if (!(fraction >= 0 && fraction < 1)) throw new UsageError(`validation split must be in [0, 1), got ${fraction}`);
  const order = permutation(rows.length, seed);
  const k = Math.floor(fraction * rows.length);
  return { validation: order.slice(0, k).map((i) => rows[i]), train: order.slice(k).map((i) => rows[i]) };
}

async function readCorpus(o: MlmOptions): Promise<string[]> {
  if (o.texts) {
    if (!Array.isArray(o.texts) || o.texts.some((t) => typeof t !== 'string')) throw new UsageError('texts must be an array of strings');
    return o.texts;
  }
  if (typeof o.dataset !== 'string' || !o.dataset) throw new UsageError('mlm: --dataset (a dataset or a .txt file) is required');
  const source = o.dataset.toLowerCase().endsWith('.txt') ? o.dataset : await resolveSource(o.dataset, 'dataset', { revision: o.datasetRevision });
  const read = await readTexts(source, { textColumn: o.textColumn, skipBadRows: o.skipBadRows });
  return read.rows.map((r: TextRow) => r.text);
}

/** The masked LM to train: resumed, from a pretrained folder (body, head and decoder bias where present), or a preset. */
async function buildModel(o: ResolvedTrainOptions, info: (l: string) => void, resumeDir: string | undefined, device: 'cpu' | 'cuda') {
  const common = { maxLength: o.maxLength, device, batchSize: o.evalBatchSize };
  if (resumeDir) {
    const lm = await loadMaskedLM(resumeDir, { ...common, tokenizer: o.tokenizer ?? resumeDir });
    await lm.model.loadOptimizer(`${resumeDir}/optimizer.safetensors`);
    return { lm, tokenizerFrom: o.tokenizer ?? resumeDir, description: `resumed from ${resumeDir}` };
  }
  if (o.model) {
    const folder = resolveModelFolder(await resolveSource(o.model, 'model', { revision: o.revision }));
    const tok = o.tokenizer ?? folder.tokenizerFile;
    if (!tok) throw new UsageError(`${o.model} has no tokenizer.json: pass --tokenizer`);
    const lm = await createMaskedLM(folder.config, { ...common, tokenizer: tok, seed: o.seed });
    try {
      const report = await lm.model.loadWeights(folder.weightFiles);
      if (!report.loaded.length) throw new Error(`${o.model}: none of its tensors fit ModernBertForMaskedLM`);
      if (report.missing.length) info(`Some weights of ModernBertForMaskedLM were not initialized from ${o.model} and are newly initialized: [${report.missing.join(', ')}]`);
      return { lm, tokenizerFrom: tok, description: `${o.model} (${report.loaded.length} tensors loaded, ${report.missing.length} newly initialized)` };
    } catch (err) {
      lm.close();
      throw err;
    }
  }
  const preset = o.init ?? 'tiny';
  if (!o.tokenizer) throw new UsageError('--init needs --tokenizer (a tokenizer.json or a folder with one)');
  if (!tokenizerFile(o.tokenizer)) throw new Error(`${o.tokenizer}: no tokenizer.json here`);
  const lm = await createMaskedLM({ ...presetConfig(preset), ...(o.configOverrides ?? {}) }, { ...common, tokenizer: o.tokenizer, seed: o.seed });
  return { lm, tokenizerFrom: o.tokenizer, description: `${preset} preset, random init (seed ${o.seed})` };
}

/** Set up the MLM task of a run (the model is closed again if a later set-up step throws). */
export async function mlmTask(
  o: ResolvedTrainOptions & { mlmProbability: number; validationSplit: number },
  texts: string[],
  ctx: { info: (line: string) => void; resumeDir?: string; device: 'cpu' | 'cuda' },
): Promise<TrainTask & { lm: MaskedLM; modelDescription: string; trainTexts: number; validationTexts: number }> {
  const { train, validation } = heldOutSplit(texts, o.validationSplit, o.seed);
  if (!train.length) throw new UsageError('mlm: no training texts left after the validation split');
  const built = await buildModel(o, ctx.info, ctx.resumeDir, ctx.device);
  const lm = built.lm;
  try {
    lm.dtype = o.bf16 === true ? 'bfloat16' : 'float32';
    const vocab = maskingVocab(built.tokenizerFrom);
    const modelVocab = lm.nativeConfig.vocabSize;
    if (vocab.vocabSize > modelVocab) throw new Error(`${built.tokenizerFrom}: the tokenizer has ${vocab.vocabSize} tokens, the model's vocabulary ${modelVocab}; is --tokenizer the model's tokenizer?`);
    const masker = new MlmMasker(vocab, { mlmProbability: o.mlmProbability });
    const encode = (rows: string[], name: string) => {
      const seqs = lm.encode(rows);
      for (const s of seqs) for (const id of s) if (id < 0 || id >= modelVocab) throw new Error(`${name}: token id ${id} is outside the model's vocabulary (${modelVocab})`);
      return seqs;
    };
    const ids = { train: encode(train, 'train'), validation: encode(validation, 'validation') };
    ctx.info(`data: ${texts.length} texts: train ${train.length}, validation ${validation.length} (--validation-split ${o.validationSplit}); masking ${o.mlmProbability} (80% [MASK], 10% random, 10% kept)`);
    // fixed validation masks: batch i masked once with (seed + 1, i), as bench/hf_mlm.py does
    const evalBatches: MaskedBatch[] = [];
    const evalSizes: number[] = [];
    for (let i = 0, b = 0; i < ids.validation.length; i += o.evalBatchSize, b++) {
      const chunk = ids.validation.slice(i, i + o.evalBatchSize);
      evalBatches.push(masker.maskStep(packBatch(chunk), o.seed + 1, b));
      evalSizes.push(chunk.length);
    }
    return {
      kind: 'mlm',
      model: lm.model,
      lm,
      modelDescription: built.description,
      trainTexts: train.length,
      validationTexts: validation.length,
      trainRows: train.length,
      evalRows: validation.length,
      testRows: 0,
      metrics: MLM_METRICS,
      best: MLM_BEST,
      batch(rows: number[], step: number): TaskBatch {
        const m = masker.maskStep(packBatch(rows.map((i) => ids.train[i])), o.seed, step);
        return { ids: m.ids, cuSeqlens: m.cuSeqlens, labels: m.labels, rows: rows.length };
      },
      async step(batch, options) {
        if (!batch.labels) throw new Error('mlm: the batch has no labels');
        return lm.model.trainStep(batch.ids, batch.cuSeqlens, batch.labels, options);
      },
      async evaluate(_split, shard): Promise<Evaluation> {
        const start = Date.now();
        // this rank's share of the batches: [loss, rows] of each (rows 0: a batch with no masked token), gathered in order
        const [from, to] = evalShare(evalBatches.length, 1, shard);
        const mine = new Float64Array(2 * (to - from));
        for (let b = from; b < to; b++) {
          const m = evalBatches[b];
          if (!m.positions.length) continue;
          const r = await lm.model.evalLoss(m.ids, m.cuSeqlens, m.labels, { bf16: o.bf16 === true });
          mine[2 * (b - from)] = r.loss;
          mine[2 * (b - from) + 1] = evalSizes[b];
        }
        // HF Trainer's eval_loss: each batch's mean loss weighted by its number of rows
        let sum = 0;
        let rows = 0;
        for (const part of shard ? await shard.allGather(mine) : [mine])
          for (let i = 0; i < part.length; i += 2) {
            sum += part[i] * part[i + 1];
            rows += part[i + 1];
          }
        const loss = rows ? sum / rows : NaN;
        return { loss, metrics: { perplexity: Math.exp(loss) }, runtime: (Date.now() - start) / 1000, rows: ids.validation.length, batches: evalBatches.length };
      },
      save: (dir) => lm.save(dir),
      close: () => lm.close(),
    };
  } catch (err) {
    lm.close();
    throw err;
  }
}

/** training_args.json of an MLM run: the shared recipe keys, without the classification ones, plus the masking. */
export function mlmTrainingArguments(o: ResolvedTrainOptions & { mlmProbability: number; validationSplit: number }, folder: RunFolder, device: string): Record<string, unknown> {
  const args = trainingArguments(o, folder, bestRule(o, MLM_BEST, MLM_METRICS), device);
  const classificationOnly = [
    'label_column', 'min_label_count', 'split_seed', 'validation_fraction', 'threshold', 'tune_thresholds', 'min_threshold_support', 'loss', 'pos_weight',
    'max_pos_weight', 'eval_loss',
  ];
  for (const k of classificationOnly) delete args[k];
  return {
    ...args,
    task: 'masked-lm',
    mlm: true,
    mlm_probability: o.mlmProbability,
    mask_replace_prob: 0.8,
    random_replace_prob: 0.1,
    validation_split: o.validationSplit,
    validation_order: 'first int(validation_split * n) of numpy default_rng(seed).permutation(n); masks default_rng([seed + 1, batch])',
    train_masks: 'numpy default_rng([seed, global_step]) on DataCollatorForLanguageModeling numpy path',
    eval_loss: 'masked-token cross-entropy, batch means weighted by rows (HF Trainer); perplexity = exp(eval_loss)',
  };
}

/** Train a masked LM with the seed's Trainer recipe; writes checkpoints and the best model (by validation loss) to outputDir. */
export async function trainMlm(options: MlmOptions): Promise<MlmResult> {
  const { mlmProbability = MLM_DEFAULTS.mlmProbability, validationSplit = MLM_DEFAULTS.validationSplit } = options;
  checkNumberOptions({ mlmProbability, validationSplit }, MLM_NUMBER_RULES);
  // from scratch: --init given, or no model at all (tiny); a bare --resume keeps train()'s (repeat the flags, as the hint does)
  const fromScratch = options.model === undefined && (options.init !== undefined || !options.resume);
  const scratch = fromScratch ? MLM_FROM_SCRATCH_DEFAULTS : {};
  const o = { ...resolveTrainOptions({ outputDir: MLM_DEFAULTS.outputDir, ...scratch, ...stripUndefined(options), dataset: options.dataset ?? '(texts)' }), mlmProbability, validationSplit };
  const device = resolveDevice(o.device);
  if (o.threads) native().setNumThreads(o.threads);
  return withDistributed(o, device, async (dist) => {
    const out = outputOf(o, dist);
    const t0 = Date.now();
    const texts = await readCorpus(options);
    const folder = prepareRunFolder(o, { write: dist?.isMain !== false });
    const task = await mlmTask(o, texts, { info: out.info, resumeDir: folder.resumeDir, device });
    try {
      out.info(`model: ${task.modelDescription}; ${task.model.info().numParameters.toLocaleString('en-US')} parameters on ${device}`);
      const r = await trainLoop(task, o, folder, out, { t0, trainingArgs: mlmTrainingArguments(o, folder, device), dist });
      return { ...r, trainTexts: task.trainTexts, validationTexts: task.validationTexts };
    } finally {
      task.close();
    }
  });
}
