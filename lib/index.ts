/**
 * radbert-native: ModernBERT multi-label classification on libtorch, with Hugging Face compatible checkpoints.
 *
 *   const { load } = require('radbert-native');
 *   const clf = await load('./ModernRadBERT-cui-classifier');
 *   await clf.predict('CT of Chest with pneumothorax'); // { labels: [...], probabilities: {...} }
 */
import * as path from 'node:path';
import { sourceOf } from './hub/ids';
import { load, type Classifier, type LoadOptions, type Prediction, type PredictOptions } from './model/classifier';
import type { RunningServer, ServeOptions, StartOptions } from './serve/server';

export { load, createClassifier, Classifier, toPrediction, resolveDevice } from './model/classifier';
export { computeMetrics, sigmoid } from './eval/metrics';
export type { Metrics, Threshold, Matrix } from './eval/metrics';
export { tuneThresholds, tuneGlobal, tunePerLabel, microF1At, microSweep, probabilities } from './eval/thresholds';
export type { TunedThresholds, TuneOptions, TuneMethod, PerLabelResult, PerLabelOptions, SweepPoint } from './eval/thresholds';
export { readThresholds, writeThresholds, thresholdsJson, THRESHOLDS_FILE } from './model/thresholds';
export type { ThresholdsJson, ModelThresholds } from './model/thresholds';
export { writeEvalReport, perLabelCsv, prCurve } from './eval/report';
export type { ReportInput } from './eval/report';
export { renderSvg, renderSvgs } from './plot/vega';
export type { VegaLiteSpec } from './plot/vega';
export { trainingCurvesSpec, prCurveSpec } from './plot/charts';
export type { OperatingPoint } from './plot/charts';
export { readRows, DataError } from './data/readers';
export { seedSplit } from './data/split';
export type { SplitOptions } from './data/split';
export { fitLabels, LabelBinarizer } from './data/labels';
export type { LabelMatrix } from './data/labels';
export type { Row, Splits, ReadOptions, ReadResult, BadRow, SourceFile } from './data/readers';
export { permutation } from './data/rng';
export type { PCG64 } from './data/rng';
export { train } from './train/loop';
export { UsageError } from './errors';
export type { TrainOptions, TrainResult, TrainerState } from './train/loop';
export type { RunResult, LogEntry } from './train/options';
export { LR_SCHEDULER_TYPES } from './train/lr-schedules';
export type { LrSchedulerType, LrSchedulerKwargs } from './train/lr-schedules';
export { INTERVAL_STRATEGIES } from './train/callbacks';
export type { IntervalStrategy } from './train/callbacks';
export { resolveModel, resolveDataset } from './hub/download';
export { pushToHub, defaultRepoId } from './hub/push';
export { HubError } from './hub/errors';
export { hubCacheDir, hubToken, hubEndpoint, hubOffline } from './hub/env';
export { isHubId, parseHubId } from './hub/ids';
export type { DownloadOptions, DatasetDownloadOptions } from './hub/download';
export type { PushOptions, PushResult } from './hub/push';
export { modelCard } from './hub/modelcard';
export type { ModelCardOptions } from './hub/modelcard';
export type { ComputeDtype, DeviceOption, LoadOptions, OpenedModel, Prediction, PredictOptions } from './model/classifier';
export { stringifyConfig, toNativeConfig, presetConfig, classifierConfig, toHFConfigJson, readConfigFile, labelsOf, MODERNBERT_DEFAULTS, TRANSFORMERS_VERSION } from './model/config';
export type { HFConfig } from './model/config';
export { resolveModelFolder, saveModelFolder, shardFiles } from './model/folder';
export type { ModelFolder } from './model/folder';
export { loadTokenizer, packBatch, TextTokenizer } from './model/tokenize';
export type { PackedBatch } from './model/tokenize';
export type { TokenSpan } from './model/tokenize-offsets';
export { native, native as nativeAddon } from './native';
export type {
  NativeAddon, NativeModel, NativeConfig, ForwardOptions, StepOptions, StepResult, LoadReport, ModelInfo, MultiLabelLoss, Architecture,
  AttentionPlan, AttentionPlanOptions, CreateOptions, EmbedOptions, EvalLossOptions, LossResult, NativeProcessGroup, ProcessGroupOptions,
  Targets, VersionInfo, GroupHealth,
} from './native';
export { FileError } from './errors';
export { BatchQueue, QueueFullError, QueueClosedError, DEFAULT_MAX_BATCH_TOKENS, DEFAULT_MAX_BATCH_SIZE } from './serve/queue';
export type { BatchModel, BatchStats, QueueOptions } from './serve/queue';
export type { ServeOptions, StartOptions, RunningServer } from './serve/server';
export type { LogLevel } from './serve/http';
export type { ServeMetrics } from './serve/metrics';
export type { BatchingOptions } from './model/classifier';

type ServeModule = typeof import('./serve/server');
/** fastify and prom-client are loaded on first use only: `require('radbert-native')` stays as quick as before. */
const serveModule = (): ServeModule => require('./serve/server') as ServeModule; // eslint-disable-line @typescript-eslint/no-require-imports

/** Load a model (folder or org/name) and serve it over HTTP with TEI's endpoints; resolves once listening. */
export function serve(options: ServeOptions): Promise<RunningServer> {
  return serveModule().serve(options);
}

/** Serve an already loaded Classifier over HTTP (through its batching queue); close() frees it. */
export function startServer(classifier: Classifier, modelId: string, options?: StartOptions): Promise<RunningServer> {
  return serveModule().startServer(classifier, modelId, options);
}
export { loadMaskedLM, createMaskedLM, MaskedLM, maskedLMConfig } from './model/masked-lm';
export type { FillMaskCandidate, FillMaskOptions } from './model/masked-lm';
export { embed } from './model/embed';
export type { Embedder, EmbedTextOptions, Pooling } from './model/embed';
export { trainMlm, heldOutSplit } from './train/mlm';
export type { MlmOptions, MlmResult } from './train/mlm';
export { fitLogisticOvR } from './train/logistic';
export type { LogisticOptions, LogisticFit } from './train/logistic';
export { MlmMasker, maskingVocab } from './data/masking';
export type { MaskedBatch, MaskingOptions, MaskingVocab } from './data/masking';
export { readTexts, readTextFile, seriesCorpus } from './data/mlm-corpus';
export type { TextRow, TextOptions, SeriesCorpus, SeriesOptions, TextResult } from './data/mlm-corpus';

/** Folder used by predict() when neither options.model nor RADBERT_MODEL names one. */
export const DEFAULT_MODEL_DIR = 'ModernRadBERT-cui-classifier';

const cache = new Map<string, Promise<Classifier>>();

/** Which model predict() uses: options.model, else env RADBERT_MODEL, else ./ModernRadBERT-cui-classifier. */
export function defaultModelPath(model?: string): string {
  return path.resolve(model ?? process.env.RADBERT_MODEL ?? DEFAULT_MODEL_DIR);
}

/** The predict() cache key: the model and every load option that changes the loaded model or its outputs. */
function cacheKey(dir: string, o: LoadOptions & { revision?: string }): string {
  return JSON.stringify([dir, o.revision ?? null, o.dtype ?? 'float32', o.device ?? 'auto', o.maxLength ?? null, o.tokenizer ? path.resolve(o.tokenizer) : null, o.batchSize ?? null]);
}

/**
 * Predict with a model loaded once and cached per folder (options.model, RADBERT_MODEL, or the default folder) and
 * per load option (revision, dtype, device, maxLength, tokenizer, batchSize): other options load another model.
 */
export async function predict(text: string, options?: PredictOptions & LoadOptions & { model?: string; revision?: string }): Promise<Prediction>;
export async function predict(texts: string[], options?: PredictOptions & LoadOptions & { model?: string; revision?: string }): Promise<Prediction[]>;
export async function predict(
  input: string | string[],
  options: PredictOptions & LoadOptions & { model?: string; revision?: string } = {},
): Promise<Prediction | Prediction[]> {
  const dir = defaultModelPath(options.model);
  const key = cacheKey(dir, options);
  let pending = cache.get(key);
  if (!pending) {
    const id = options.model ?? process.env.RADBERT_MODEL;
    pending = load(id && sourceOf(id)?.kind === 'hub' ? id : dir, options); // a Hub id resolves through the HF cache
    cache.set(key, pending);
    pending.catch(() => cache.delete(key));
  }
  const clf = await pending;
  return typeof input === 'string' ? clf.predict(input, options) : clf.predict(input, options);
}

/** Close and forget the models cached by predict(). */
export async function unloadAll(): Promise<void> {
  const all = [...cache.values()];
  cache.clear();
  for (const p of all) (await p.catch(() => undefined))?.close();
}
