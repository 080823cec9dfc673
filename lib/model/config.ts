/**
 * Hugging Face ModernBERT config.json: read, validate, resolve to the native model's description, and write.
 * Defaults are transformers 5.17's ModernBertConfig; both the 4.x keys (global_attn_every_n_layers,
 * global_rope_theta, local_rope_theta) and the 5.x keys (layer_types, rope_parameters) are understood.
 */
import * as fs from 'node:fs';
import { FileError } from '../errors';
import { readJsonFile } from '../files';
import type { Architecture, NativeConfig } from '../native';

/** A config.json object as Hugging Face writes it (only the keys we use are typed). */
export type HFConfig = Record<string, unknown>;

/** transformers 5.17 ModernBertConfig defaults. */
export const MODERNBERT_DEFAULTS = {
  /** Rows of the token embedding (ModernBERT's tokenizer has 50368). */
  vocab_size: 50368,
  /** Width of the hidden states. */
  hidden_size: 768,
  /** Width of the MLP's inner layer. */
  intermediate_size: 1152,
  /** Encoder layers. */
  num_hidden_layers: 22,
  /** Attention heads per layer. */
  num_attention_heads: 12,
  /** The MLP's activation. */
  hidden_activation: 'gelu',
  /** The longest input the model was made for, in tokens. */
  max_position_embeddings: 8192,
  /** Standard deviation of the initial weights. */
  initializer_range: 0.02,
  /** Initial weights are truncated at this many standard deviations. */
  initializer_cutoff_factor: 2.0,
  /** LayerNorm epsilon. */
  norm_eps: 1e-5,
  /** Whether the LayerNorms have a bias. */
  norm_bias: false,
  /** The padding token's id. */
  pad_token_id: 50283,
  /** The end-of-sequence token's id ([SEP]). */
  eos_token_id: 50282,
  /** The beginning-of-sequence token's id ([CLS]). */
  bos_token_id: 50281,
  /** The [CLS] token's id. */
  cls_token_id: 50281,
  /** The [SEP] token's id. */
  sep_token_id: 50282,
  /** Whether the attention projections have biases. */
  attention_bias: false,
  /** Dropout on attention in training. */
  attention_dropout: 0.0,
  /** The whole sliding window of the local layers, in tokens. */
  local_attention: 128,
  /** Dropout after the embeddings in training. */
  embedding_dropout: 0.0,
  /** Whether the MLP's linear layers have biases. */
  mlp_bias: false,
  /** Dropout in the MLP in training. */
  mlp_dropout: 0.0,
  /** Whether the masked-LM decoder has a bias. */
  decoder_bias: true,
  /** How a sequence becomes one vector for the head: the [CLS] token ('cls') or the mean ('mean'). */
  classifier_pooling: 'cls',
  /** Dropout before the classifier in training. */
  classifier_dropout: 0.0,
  /** Whether the head's dense layer and the classifier have biases. */
  classifier_bias: false,
  /** The head's activation. */
  classifier_activation: 'gelu',
  /** transformers' flash-attention determinism switch (not used; see LoadOptions.deterministic). */
  deterministic_flash_attn: false,
  /** Masked LM: compute the head on the masked tokens only (radbert-native always does in training). */
  sparse_prediction: false,
  /** The label id of tokens that are not predicted. */
  sparse_pred_ignore_index: -100,
  /** Masked LM: the decoder shares the token embedding's weights. */
  tie_word_embeddings: true,
  /** Every n-th layer (from layer 0) attends globally, the others locally (transformers 4.x key). */
  global_attn_every_n_layers: 3,
  /** Rotary embedding base of the global layers (4.x key). */
  global_rope_theta: 160000.0,
  /** Rotary embedding base of the local layers (4.x key). */
  local_rope_theta: 10000.0,
} as const;

const ARCHITECTURES: Architecture[] = ['ModernBertForSequenceClassification', 'ModernBertForMaskedLM', 'ModernBertModel'];

/** Read and parse a config.json; errors name the file. */
export function readConfigFile(file: string): HFConfig {
  return readJsonFile<HFConfig>(file, { missing: 'not found (a Hugging Face model folder needs config.json)', object: true });
}

/** Typed access to config keys with HF defaults; every error names the file and the key. */
class Reader {
  constructor(
    private readonly cfg: HFConfig,
    private readonly file: string,
  ) {}
  private raw(key: string): unknown {
    const v = this.cfg[key];
    return v === undefined || v === null ? (MODERNBERT_DEFAULTS as Record<string, unknown>)[key] : v;
  }
  fail(key: string, what: string, got: unknown): never {
    throw new FileError(this.file, `must be ${what}, got ${JSON.stringify(got)}`, key);
  }
  int(key: string, min = 1, max = 2 ** 31 - 1): number {
    const v = this.raw(key);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) this.fail(key, min > 0 ? 'a positive integer' : `an integer >= ${min}`, v);
    if (v > max) this.fail(key, `at most ${max}`, v);
    return v;
  }
  num(key: string, min = 0): number {
    const v = this.raw(key);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) this.fail(key, `a number >= ${min}`, v);
    return v;
  }
  prob(key: string): number {
    const v = this.num(key);
    if (v >= 1) this.fail(key, 'a probability in [0, 1)', v);
    return v;
  }
  bool(key: string): boolean {
    const v = this.raw(key);
    if (typeof v !== 'boolean') this.fail(key, 'true or false', v);
    return v;
  }
  str(key: string, allowed?: readonly string[]): string {
    const v = this.raw(key);
    if (typeof v !== 'string' || (allowed && !allowed.includes(v))) this.fail(key, allowed ? `one of ${allowed.map((a) => `"${a}"`).join(', ')}` : 'a string', v);
    return v;
  }
  has(key: string): boolean {
    return this.cfg[key] !== undefined && this.cfg[key] !== null;
  }
  get(key: string): unknown {
    return this.cfg[key];
  }
}

const ACTIVATIONS = ['gelu', 'gelu_pytorch_tanh', 'gelu_python_tanh', 'gelu_new', 'relu', 'silu', 'swish'] as const;

/** Labels in index order from id2label (keys "0".."n-1"), or undefined when the config has none. */
export function labelsOf(cfg: HFConfig, file = 'config.json'): string[] | undefined {
  const id2label = cfg.id2label;
  if (id2label === undefined || id2label === null) return undefined;
  if (typeof id2label !== 'object' || Array.isArray(id2label)) throw new FileError(file, 'must be an object {"0": "label", ...}', 'id2label');
  const entries = Object.entries(id2label as Record<string, unknown>);
  const labels: string[] = new Array(entries.length);
  for (const [k, v] of entries) {
    const i = Number(k);
    if (!Number.isInteger(i) || i < 0 || i >= entries.length || labels[i] !== undefined)
      throw new FileError(file, `keys must be the indices 0..${entries.length - 1}, got "${k}"`, 'id2label');
    labels[i] = String(v);
  }
  // two ids with one name would share one entry of predict()'s probabilities (transformers' label2id collapses them too)
  const first = new Map<string, number>();
  labels.forEach((l, i) => {
    const j = first.get(l);
    if (j !== undefined) throw new FileError(file, `label ${JSON.stringify(l)} is used by both ids ${j} and ${i} (label names must be unique)`, `id2label.${i}`);
    first.set(l, i);
  });
  return labels;
}

/** Upper bounds of the sizes (as native/modernbert.h's Config): far above any ModernBERT, they stop a bad config before it allocates. */
export const SIZE_LIMITS = { vocab_size: 2 ** 22, hidden_size: 65536, intermediate_size: 262144, num_hidden_layers: 1024, num_labels: 2 ** 22, local_attention: 2 ** 20 } as const;

/** Resolve an HF config object to the native model description (validating every key used). */
export function toNativeConfig(cfg: HFConfig, file = 'config.json'): NativeConfig {
  const r = new Reader(cfg, file);
  if (cfg.model_type !== undefined && cfg.model_type !== 'modernbert')
    throw new FileError(file, `unsupported model_type ${JSON.stringify(cfg.model_type)} (radbert-native runs ModernBERT: "modernbert")`, 'model_type');
  const archs = cfg.architectures as unknown[] | undefined | null;
  let architecture: Architecture = 'ModernBertForSequenceClassification';
  if (archs !== undefined && archs !== null) {
    if (!Array.isArray(archs) || archs.length === 0 || typeof archs[0] !== 'string') r.fail('architectures', 'a list of class names', archs);
    if (!ARCHITECTURES.includes(archs[0] as Architecture))
      throw new FileError(file, `unsupported architecture ${JSON.stringify(archs[0])} (supported: ${ARCHITECTURES.join(', ')})`, 'architectures');
    architecture = archs[0] as Architecture;
  }
  const hiddenSize = r.int('hidden_size', 1, SIZE_LIMITS.hidden_size);
  const numAttentionHeads = r.int('num_attention_heads'); // ≤ hidden_size, which divides by it
  if (hiddenSize % numAttentionHeads !== 0)
    throw new FileError(file, `hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numAttentionHeads}`, 'num_attention_heads');
  const numHiddenLayers = r.int('num_hidden_layers', 1, SIZE_LIMITS.num_hidden_layers);

  let globalLayers: boolean[];
  if (r.has('layer_types')) {
    const lt = r.get('layer_types');
    if (!Array.isArray(lt) || lt.length !== numHiddenLayers || lt.some((t) => t !== 'full_attention' && t !== 'sliding_attention'))
      r.fail('layer_types', `a list of ${numHiddenLayers} "full_attention"/"sliding_attention" entries`, lt);
    globalLayers = (lt as string[]).map((t) => t === 'full_attention');
  } else {
    const every = r.int('global_attn_every_n_layers');
    globalLayers = Array.from({ length: numHiddenLayers }, (_, i) => i % every === 0);
  }

  // transformers 5.17 (ModernBertConfig.convert_rope_params_to_dict): rope_parameters[kind], overlaid by a legacy
  // rope_scaling dict when one is given, else the 4.x keys global_rope_theta / local_rope_theta, else 160000 / 10000.
  const rp = cfg.rope_parameters;
  if (rp !== undefined && rp !== null && (typeof rp !== 'object' || Array.isArray(rp)))
    r.fail('rope_parameters', 'an object {"full_attention": {...}, "sliding_attention": {...}}', rp);
  const scaling = cfg.rope_scaling;
  if (scaling !== undefined && scaling !== null && (typeof scaling !== 'object' || Array.isArray(scaling))) r.fail('rope_scaling', 'an object', scaling);
  const theta = (kind: 'full_attention' | 'sliding_attention', legacyKey: 'global_rope_theta' | 'local_rope_theta'): number => {
    const own = rp ? (rp as Record<string, unknown>)[kind] : undefined;
    if (own !== undefined && own !== null && (typeof own !== 'object' || Array.isArray(own))) r.fail(`rope_parameters.${kind}`, 'an object', own);
    const p = { ...((own as Record<string, unknown> | undefined) ?? {}), ...((scaling as Record<string, unknown> | undefined) ?? {}) };
    const sc = scaling as Record<string, unknown> | undefined | null;
    const where = sc && (sc.rope_type !== undefined || sc.type !== undefined) ? 'rope_scaling' : `rope_parameters.${kind}`;
    const type = p.rope_type ?? p.type ?? 'default';
    if (type !== 'default')
      throw new FileError(file, `rope_type ${JSON.stringify(type)} is not supported (only "default": plain RoPE, as ModernBERT was trained)`, where);
    const prf = p.partial_rotary_factor;
    if (prf !== undefined && prf !== null && prf !== 1)
      throw new FileError(file, `partial_rotary_factor ${JSON.stringify(prf)} is not supported (only 1)`, `rope_parameters.${kind}`);
    const t = p.rope_theta;
    if (t !== undefined && t !== null) {
      if (typeof t !== 'number' || !Number.isFinite(t) || !(t > 0)) r.fail(`rope_parameters.${kind}.rope_theta`, 'a positive number', t);
      return t as number;
    }
    return r.num(legacyKey, Number.MIN_VALUE);
  };

  // As transformers: id2label decides when present (a disagreeing num_labels is only warned about there), else
  // num_labels, else 2.
  const labels = labelsOf(cfg, file);
  let numLabels = labels?.length ?? (r.has('num_labels') ? r.int('num_labels', 1, SIZE_LIMITS.num_labels) : 2);
  if (architecture === 'ModernBertForSequenceClassification' && numLabels < 1)
    throw new FileError(file, 'a sequence classifier needs at least one label', labels ? 'id2label' : 'num_labels');
  if (architecture !== 'ModernBertForSequenceClassification') numLabels = Math.max(numLabels, 1);

  const padTokenId = cfg.pad_token_id === null ? -1 : r.int('pad_token_id', 0);
  return {
    architecture,
    vocabSize: r.int('vocab_size', 1, SIZE_LIMITS.vocab_size),
    hiddenSize,
    intermediateSize: r.int('intermediate_size', 1, SIZE_LIMITS.intermediate_size),
    numHiddenLayers,
    numAttentionHeads,
    globalLayers,
    localAttention: r.int('local_attention', 0, SIZE_LIMITS.local_attention),
    globalRopeTheta: theta('full_attention', 'global_rope_theta'),
    localRopeTheta: theta('sliding_attention', 'local_rope_theta'),
    hiddenActivation: r.str('hidden_activation', ACTIVATIONS),
    classifierActivation: r.str('classifier_activation', ACTIVATIONS),
    normEps: r.num('norm_eps', Number.MIN_VALUE),
    normBias: r.bool('norm_bias'),
    attentionBias: r.bool('attention_bias'),
    mlpBias: r.bool('mlp_bias'),
    classifierBias: r.bool('classifier_bias'),
    decoderBias: r.bool('decoder_bias'),
    embeddingDropout: r.prob('embedding_dropout'),
    attentionDropout: r.prob('attention_dropout'),
    mlpDropout: r.prob('mlp_dropout'),
    classifierDropout: r.prob('classifier_dropout'),
    classifierPooling: r.str('classifier_pooling', ['cls', 'mean']) as 'cls' | 'mean',
    numLabels,
    padTokenId,
    initializerRange: r.num('initializer_range'),
    initializerCutoffFactor: cfg.initializer_cutoff_factor === null ? 3 : r.num('initializer_cutoff_factor'),
    tieWordEmbeddings: r.bool('tie_word_embeddings'),
  };
}

/**
 * answerdotai/ModernBERT-base's published config.json (the keys that describe the model; bookkeeping keys such as
 * transformers_version, torch_dtype, gradient_checkpointing or reference_compile are left out). Note the published
 * classifier_pooling is "mean", not ModernBertConfig's default "cls".
 */
const MODERNBERT_BASE: HFConfig = {
  architectures: ['ModernBertForMaskedLM'],
  model_type: 'modernbert',
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 50281,
  classifier_activation: 'gelu',
  classifier_bias: false,
  classifier_dropout: 0.0,
  classifier_pooling: 'mean',
  cls_token_id: 50281,
  decoder_bias: true,
  deterministic_flash_attn: false,
  embedding_dropout: 0.0,
  eos_token_id: 50282,
  global_attn_every_n_layers: 3,
  global_rope_theta: 160000.0,
  hidden_activation: 'gelu',
  hidden_size: 768,
  initializer_cutoff_factor: 2.0,
  initializer_range: 0.02,
  intermediate_size: 1152,
  local_attention: 128,
  local_rope_theta: 10000.0,
  max_position_embeddings: 8192,
  mlp_bias: false,
  mlp_dropout: 0.0,
  norm_bias: false,
  norm_eps: 1e-5,
  num_attention_heads: 12,
  num_hidden_layers: 22,
  pad_token_id: 50283,
  sep_token_id: 50282,
  sparse_pred_ignore_index: -100,
  sparse_prediction: false,
  tie_word_embeddings: true,
  vocab_size: 50368,
};

/**
 * Configs of the presets `--init tiny|small|base|large`: base and large are answerdotai's published ModernBERT-base /
 * ModernBERT-large configs (classifier_pooling "mean"); tiny and small are base at smaller sizes with
 * ModernBertConfig's default cls pooling, the recipe whose HF Trainer reference the README compares against (a
 * randomly initialised tiny model learns far more slowly with mean pooling). A fresh object each call.
 */
export function presetConfig(name: 'tiny' | 'small' | 'base' | 'large'): HFConfig {
  const base = (): HFConfig => JSON.parse(JSON.stringify(MODERNBERT_BASE)) as HFConfig;
  switch (name) {
    case 'tiny':
      return { ...base(), classifier_pooling: 'cls', hidden_size: 128, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 192 };
    case 'small':
      return { ...base(), classifier_pooling: 'cls', hidden_size: 384, num_hidden_layers: 6, num_attention_heads: 6, intermediate_size: 576 };
    case 'base':
      return base();
    case 'large':
      return { ...base(), hidden_size: 1024, num_hidden_layers: 28, num_attention_heads: 16, intermediate_size: 2624 };
    default:
      throw new Error(`unknown preset "${String(name)}" (tiny, small, base, large)`);
  }
}

/** A config for multi-label sequence classification over `labels`, keeping the body's keys. */
export function classifierConfig(body: HFConfig, labels: string[]): HFConfig {
  const id2label: Record<string, string> = {};
  const label2id: Record<string, number> = {};
  labels.forEach((l, i) => {
    id2label[String(i)] = l;
    label2id[l] = i;
  });
  const out: HFConfig = { ...body, architectures: ['ModernBertForSequenceClassification'], problem_type: 'multi_label_classification', id2label, label2id };
  delete out.num_labels;
  return out;
}

/** transformers version whose save_pretrained output toHFConfigJson mirrors. */
export const TRANSFORMERS_VERSION = '5.17.0';

/**
 * The config.json we write: 5.x keys (layer_types, rope_parameters) plus the 4.x ones where they can express the same
 * model (global_attn_every_n_layers only when the layer pattern is periodic), so transformers 4.x and 5.x both load it.
 */
export function toHFConfigJson(cfg: HFConfig, file = 'config.json'): HFConfig {
  const n = toNativeConfig(cfg, file);
  const out: HFConfig = { ...MODERNBERT_DEFAULTS, ...cfg, model_type: 'modernbert', architectures: [n.architecture] };
  out.layer_types = n.globalLayers.map((g) => (g ? 'full_attention' : 'sliding_attention'));
  out.rope_parameters = {
    full_attention: { rope_theta: n.globalRopeTheta, rope_type: 'default' },
    sliding_attention: { rope_theta: n.localRopeTheta, rope_type: 'default' },
  };
  delete out.rope_scaling; // folded into rope_parameters (only "default" is accepted)
  const every = n.globalLayers.findIndex((g, i) => i > 0 && g);
  const period = every > 0 ? every : n.numHiddenLayers;
  if (n.globalLayers.every((g, i) => g === (i % period === 0))) out.global_attn_every_n_layers = period;
  else delete out.global_attn_every_n_layers;
  out.global_rope_theta = n.globalRopeTheta;
  out.local_rope_theta = n.localRopeTheta;
  // Labels: as save_pretrained, id2label/label2id when known (num_labels is derived from them on reading).
  const labels = labelsOf(cfg, file);
  if (labels) {
    out.id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
    out.label2id = Object.fromEntries(labels.map((l, i) => [l, i]));
    delete out.num_labels;
  } else if (n.architecture === 'ModernBertForSequenceClassification') {
    out.num_labels = n.numLabels;
  }
  delete out.torch_dtype; // 4.x spelling of dtype
  out.dtype = 'float32';
  out.transformers_version = TRANSFORMERS_VERSION;
  return out;
}

/** Keys transformers' strict config dataclass types as float: written with a decimal point (2 → 2.0). */
const FLOAT_KEYS = new Set([
  'initializer_range', 'initializer_cutoff_factor', 'norm_eps', 'attention_dropout', 'embedding_dropout', 'mlp_dropout',
  'classifier_dropout', 'rope_theta', 'global_rope_theta', 'local_rope_theta',
]);

/** JSON text of a config the way Python's json writes it: float keys keep their ".0" so strict loaders accept them. */
export function stringifyConfig(cfg: HFConfig): string {
  const mark = '\u0000float:';
  const text = JSON.stringify(
    cfg,
    (key, value) => (FLOAT_KEYS.has(key) && typeof value === 'number' && Number.isFinite(value) ? `${mark}${Number.isInteger(value) ? value.toFixed(1) : String(value)}` : value),
    2,
  );
  return text.replace(/"\\u0000float:([^"]+)"/g, '$1') + '\n';
}
