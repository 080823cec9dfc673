/**
 * Opening a model: the load options every model class shares, a folder (or Hub id) checked and loaded into a native
 * model, or a freshly initialised one. Classifier and MaskedLM are built on what these return.
 */
import * as path from 'node:path';
import { FileError } from '../errors';
import { resolveModel } from '../hub/download';
import { sourceOf } from '../hub/ids';
import { toNativeConfig, type HFConfig } from './config';
import { resolveModelFolder, type ModelFolder } from './folder';
import { native, type NativeAddon, type NativeConfig, type NativeModel } from '../native';
import { loadTokenizer, type TextTokenizer } from './tokenize';

/** Where a model runs. 'auto' = CUDA when this build and machine have it, else CPU. */
export type DeviceOption = 'auto' | 'cpu' | 'cuda';

/** Options of load() and createClassifier(). */
export interface LoadOptions {
  /** Where the model runs (default 'auto'). */
  device?: DeviceOption;
  /**
   * Truncate inputs to this many tokens (default: tokenizer_config.json's model_max_length, where training records its
   * max_length, else max_position_embeddings).
   */
  maxLength?: number;
  /** A tokenizer.json (or folder) to use instead of the model folder's. */
  tokenizer?: string;
  /** Rows per native forward call (default 64). */
  batchSize?: number;
  /** libtorch intra-op threads (default: libtorch's choice, the number of cores). */
  threads?: number;
  /**
   * Compute precision: 'float32' (default) or 'bfloat16' = bf16 autocast (torch.autocast, as HF's bf16=True): weights
   * stay float32, matmuls and attention run in bf16. Faster on CPUs with bf16 instructions and on GPUs; logits move
   * by about 1e-2. The bf16 weight copies (half the model's size again) are kept while the weights do not change.
   */
  dtype?: ComputeDtype;
  /** torch.use_deterministic_algorithms(True) for the whole process (CUDA: also a fixed cuBLAS workspace). */
  deterministic?: boolean;
  /** CUDA only: allow TF32 in float32 matmuls (default false, full fp32). */
  tf32?: boolean;
  /** predict(): most tokens in one forward shared by concurrent calls (default DEFAULT_MAX_BATCH_TOKENS, serve/queue.ts). */
  maxBatchTokens?: number;
  /** predict(): most texts in one forward (default DEFAULT_MAX_BATCH_SIZE; 1 = no merging). */
  maxBatchSize?: number;
  /** predict(): most texts waiting for a forward; beyond it a call rejects with QueueFullError (default unlimited). */
  maxQueue?: number;
}

/** The batching limits of LoadOptions. */
export type BatchingOptions = Pick<LoadOptions, 'maxBatchTokens' | 'maxBatchSize' | 'maxQueue'>;

/** Compute precision of a Classifier: float32, or bf16 autocast over float32 weights. */
export type ComputeDtype = 'float32' | 'bfloat16';

/** Validate a dtype option (undefined → 'float32'). */
export function resolveDtype(dtype: ComputeDtype | undefined): ComputeDtype {
  if (dtype === undefined) return 'float32';
  if (dtype !== 'float32' && dtype !== 'bfloat16') throw new Error(`dtype must be 'float32' or 'bfloat16', got ${JSON.stringify(dtype)}`);
  return dtype;
}

/** Resolve 'auto' | 'cpu' | 'cuda' against what this build and machine can do. */
export function resolveDevice(device: DeviceOption = 'auto'): 'cpu' | 'cuda' {
  if (device !== 'auto' && device !== 'cpu' && device !== 'cuda') throw new Error(`device must be 'auto', 'cpu' or 'cuda', got ${JSON.stringify(device)}`);
  const cuda = native().version().cuda;
  if (device === 'cuda' && !cuda) throw new Error("device 'cuda' requested, but this build of radbert-native or this machine has no CUDA (use 'cpu' or 'auto')");
  return device === 'auto' ? (cuda ? 'cuda' : 'cpu') : device;
}

/** Inputs are truncated to options.maxLength, else the tokenizer's model_max_length capped by max_position_embeddings. */
export function maxLengthFor(options: LoadOptions, tok: TextTokenizer, config: HFConfig): number {
  if (options.maxLength !== undefined) {
    const least = tok.numSpecialTokens + 1;
    if (!Number.isInteger(options.maxLength) || options.maxLength < least)
      throw new Error(`maxLength must be an integer >= ${least} (the special tokens plus one), got ${options.maxLength}`);
    return options.maxLength;
  }
  const mpe = typeof config.max_position_embeddings === 'number' ? config.max_position_embeddings : 8192;
  return Math.min(tok.modelMaxLength ?? mpe, mpe);
}

/**
 * Tensors a checkpoint may hold that a model legitimately does not use (ignored silently, as transformers does):
 * the masked-LM decoder (tied to the embeddings, or of a pretraining checkpoint loaded as a bare model / classifier
 * body), and buffers some exporters save.
 */
const IGNORED_UNEXPECTED = [/^(model\.)?decoder\.(weight|bias)$/, /(^|\.)rotary_emb\.inv_freq$/, /\.num_batches_tracked$/, /(^|\.)position_ids$/];

function setThreads(addon: NativeAddon, threads: number | undefined): void {
  if (threads === undefined) return;
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  addon.setNumThreads(threads);
}

/** One-line warnings (console.warn; set RADBERT_QUIET=1 to silence). */
function warn(line: string): void {
  if (!process.env.RADBERT_QUIET) console.warn(line);
}


/** A native model with what describes it, ready for a model class's constructor. */
export interface OpenedModel {
  /** The model in native memory. */
  model: NativeModel;
  /** The config.json object (as the model class keeps it). */
  config: HFConfig;
  /** The config resolved for the native model. */
  nativeConfig: NativeConfig;
  /** The tokenizer. */
  tokenizer: TextTokenizer;
  /** Where the model runs. */
  device: 'cpu' | 'cuda';
  /** The longest input in tokens; longer texts are truncated. */
  maxLength: number;
}

/** How openModel checks a folder: the architecture the caller needs and the config it builds from the folder's. */
export interface OpenRules {
  /** e.g. 'ModernBertForSequenceClassification' */
  architecture: string;
  /** The config to build from the folder's config.json (default: as it is); may throw a FileError naming the folder. */
  configOf?: (folder: ModelFolder) => HFConfig;
  /** Why a folder of another architecture is refused (a sentence after the folder's name). */
  refuse: (architecture: string) => string;
}

/**
 * Opens a model folder or Hub id: config checked (sizes against the safetensors headers before anything is allocated),
 * every parameter loaded from the files (a missing one names the file), unused tensors warned about, tokenizer loaded.
 */
export async function openModel(dirOrId: string, options: LoadOptions & { revision?: string }, rules: OpenRules): Promise<OpenedModel & { folder: ModelFolder }> {
  // a Hub id `org/name[@rev]` that is not a local path resolves through the Hugging Face cache, as in the CLI
  const dir = sourceOf(dirOrId)?.kind === 'hub' ? await resolveModel(dirOrId, { revision: options.revision }) : dirOrId;
  const folder = resolveModelFolder(dir);
  const config = rules.configOf ? rules.configOf(folder) : folder.config;
  const nativeConfig = toNativeConfig(config, folder.configFile);
  if (nativeConfig.architecture !== rules.architecture) throw new FileError(dir, rules.refuse(nativeConfig.architecture));
  const tokSource = options.tokenizer ?? folder.tokenizerFile;
  if (!tokSource) throw new FileError(dir, 'no tokenizer.json in the model folder (pass options.tokenizer)');
  const tokenizer = loadTokenizer(tokSource);
  const device = resolveDevice(options.device);
  const maxLength = maxLengthFor(options, tokenizer, config);
  const addon = native();
  setThreads(addon, options.threads);
  const model = await addon.createModel(nativeConfig, {
    device, seed: 0, init: false, tf32: options.tf32, deterministic: options.deterministic,
    checkWeights: folder.weightFiles, configFile: folder.configFile,
  });
  try {
    const report = await model.loadWeights(folder.weightFiles);
    // The model was created uninitialised (init: false), so every parameter must come from the files.
    if (report.missing.length) {
      throw new FileError(
        folder.weightFiles.length === 1 ? folder.weightFiles[0] : path.join(folder.dir, 'model.safetensors.index.json'),
        `${report.missing.length} tensor(s) of ${nativeConfig.architecture} are missing, e.g. "${report.missing.slice(0, 3).join('", "')}"`,
      );
    }
    const unexpected = report.unexpected.filter((k) => !IGNORED_UNEXPECTED.some((re) => re.test(k)));
    if (unexpected.length)
      warn(`radbert-native: ${folder.dir}: ignored ${unexpected.length} tensor(s) that ${nativeConfig.architecture} does not use, e.g. "${unexpected.slice(0, 3).join('", "')}"`);
    return { model, config, nativeConfig, tokenizer, device, maxLength, folder };
  } catch (err) {
    model.free();
    throw err;
  }
}

/** A freshly initialised native model (Hugging Face's initialisation, seeded) for a config and a tokenizer. */
export async function createModel(config: HFConfig, options: LoadOptions & { tokenizer: string; seed?: number }): Promise<OpenedModel> {
  const nativeConfig = toNativeConfig(config);
  const tokenizer = loadTokenizer(options.tokenizer);
  const device = resolveDevice(options.device);
  const maxLength = maxLengthFor(options, tokenizer, config);
  const addon = native();
  setThreads(addon, options.threads);
  const model = await addon.createModel(nativeConfig, { device, seed: options.seed ?? 42, init: true, tf32: options.tf32, deterministic: options.deterministic });
  return { model, config, nativeConfig, tokenizer, device, maxLength };
}
