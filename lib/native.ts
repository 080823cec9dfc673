/**
 * The one place that loads the C++ addon. Everything else imports the typed surface from here.
 *
 * Contract of the native layer (native/addon.cpp). All heavy calls run on a worker thread and return a
 * Promise; calls on one model are serialised by the model itself, so concurrent calls queue rather than race.
 */
import * as fs from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import * as path from 'node:path';

/** Architecture heads the native model knows. */
export type Architecture = 'ModernBertForSequenceClassification' | 'ModernBertForMaskedLM' | 'ModernBertModel';

/** A fully resolved model description, made by config.ts from a Hugging Face config.json. */
export interface NativeConfig {
  architecture: Architecture;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  /** One entry per layer: true = global (full) attention, false = local sliding-window attention. */
  globalLayers: boolean[];
  /** The WHOLE local window: a token sees ±floor(localAttention/2) neighbours. */
  localAttention: number;
  globalRopeTheta: number;
  localRopeTheta: number;
  hiddenActivation: string;
  classifierActivation: string;
  normEps: number;
  normBias: boolean;
  attentionBias: boolean;
  mlpBias: boolean;
  classifierBias: boolean;
  decoderBias: boolean;
  embeddingDropout: number;
  attentionDropout: number;
  mlpDropout: number;
  classifierDropout: number;
  classifierPooling: 'cls' | 'mean';
  /** Number of classifier outputs (ModernBertForSequenceClassification); ignored otherwise. */
  numLabels: number;
  padTokenId: number;
  initializerRange: number;
  initializerCutoffFactor: number;
  tieWordEmbeddings: boolean;
}

/** Options for creating a model. */
export interface CreateOptions {
  /** 'cpu' or 'cuda' (already resolved from 'auto' by the caller). */
  device: 'cpu' | 'cuda';
  /** Seed of the model's generator, used for initialisation and dropout. */
  seed: number;
  /** true: Hugging Face's initialisation (truncated normal etc.); false: leave uninitialised (weights to be loaded). */
  init: boolean;
  /** CUDA: allow TF32 in float32 matmuls (default false: full fp32, as the parity references). */
  tf32?: boolean;
  /** torch.use_deterministic_algorithms(True) for the process (stays on once set); CUDA also fixes cuBLAS's workspace. */
  deterministic?: boolean;
  /**
   * Safetensors files the weights will come from: before allocating, the config's sizes (vocab, hidden, intermediate,
   * layers, labels) are checked against their headers, and a mismatch rejects naming configFile, the key and the tensor.
   */
  checkWeights?: string[];
  /** The config.json these sizes came from, named in those errors (default "config.json"). */
  configFile?: string;
}

/** Result of loading safetensors files into a model. */
export interface LoadReport {
  /** Parameter keys that were found and copied. */
  loaded: string[];
  /** Parameter keys of the model not present in any file (left as they were). */
  missing: string[];
  /** Keys in the files that the model does not have (ignored). */
  unexpected: string[];
}

/** Hyper-parameters of one training step (AdamW as torch.optim.AdamW, clipping as HF Trainer). */
export interface StepOptions {
  lr: number;
  beta1?: number; // 0.9
  beta2?: number; // 0.999
  eps?: number; // 1e-8
  /**
   * Decoupled weight decay (default 0), applied as HF Trainer's optimizer groups do: only to the parameters that
   * info().parameters marks `weightDecay: true` (transformers' get_decay_parameter_names: no biases, no norm weights).
   */
  weightDecay?: number;
  /** Clip the global L2 norm of the gradients to this; 0 or undefined-with-Infinity disables. Default 1.0. */
  maxGradNorm?: number;
  /** false: compute loss, grad norm and the raw (unclipped) gradients only; they stay readable through saveWeights({what:'grads'}). Default true. */
  update?: boolean;
  /** Reseed the dropout generator before this step (makes resumed runs reproduce dropout masks). */
  seed?: number;
  /** Forward and loss under bf16 autocast, fp32 master weights and optimizer (HF Trainer's bf16=True). */
  bf16?: boolean;
  /**
   * This batch's share of the optimizer step's batch (gradient accumulation, data parallelism): its loss is scaled by
   * it before backward, so the summed gradients are those of the whole batch's mean loss. Default 1.
   */
  lossWeight?: number;
  /** Add this batch's gradients to those of the calls since the last update (the 2nd..Kth micro-batch). Default false. */
  accumulate?: boolean;
  /** Data parallel: ask every rank to stop after this step; each rank's result then says stop (Ctrl-C agreement). */
  stop?: boolean;
  /** Sequence classification: how the targets are scored (default BCEWithLogits, mean). */
  loss?: MultiLabelLoss;
}

/**
 * The loss of a multi-label classification step, always the mean over batch × labels:
 * - `{ type: 'bce' }` (the default): BCEWithLogits; `posWeight` (one per label, ≥ 0) multiplies each label's positive
 *   term, as torch's BCEWithLogitsLoss(pos_weight=...);
 * - `{ type: 'asl' }`: the asymmetric loss of Ridnik et al. (ICCV 2021) as its official implementation computes it
 *   (focusing weight without gradient), with gammaNeg (default 4), gammaPos (0) and the probability margin clip (0.05).
 */
export interface MultiLabelLoss {
  type: 'bce' | 'asl';
  posWeight?: Float32Array;
  gammaNeg?: number;
  gammaPos?: number;
  clip?: number;
}

/** Options of one forward call. */
export interface ForwardOptions {
  /**
   * bf16 autocast (torch.autocast(device, dtype=torch.bfloat16)): fp32 weights, matmuls and attention in bf16.
   * The bf16 copies of the weights are kept between calls until any parameter changes.
   */
  bf16?: boolean;
  /**
   * ModernBertForMaskedLM only: packed token indices (0 ≤ p < ids.length, any order, repeats allowed) whose logits to
   * compute; forward then returns [positions.length, vocabSize] row-major, row i for positions[i] (fill-mask).
   */
  positions?: Int32Array;
}

/**
 * The labels of a training step or an evaluation loss, by architecture:
 * - ModernBertForSequenceClassification: Float32Array [batch × numLabels], row-major multi-hot targets (BCEWithLogits);
 * - ModernBertForMaskedLM: Int32Array [ids.length], one label per packed token: the original token id where the
 *   token is to be predicted, -100 where it is ignored (exactly HF's `labels`, as DataCollatorForLanguageModeling
 *   makes them). The loss is ModernBertForMaskedLM's: cross-entropy averaged over the labelled tokens, with the head
 *   and the (tied) decoder applied to the labelled tokens only (HF's sparse_prediction=True).
 */
export type Targets = Float32Array | Int32Array;

/** Options of evalLoss. */
export interface EvalLossOptions {
  /** Forward under bf16 autocast (see ForwardOptions.bf16). */
  bf16?: boolean;
  /** Sequence classification: how the targets are scored (see StepOptions.loss). */
  loss?: MultiLabelLoss;
}

/** A no-grad (eval-mode) loss of one batch. */
export interface LossResult {
  /**
   * Classification: the mean loss over batch × numLabels (options.loss; default BCEWithLogits). Masked LM: mean
   * cross-entropy over the labelled tokens (0 when there are none). Weight by `count` to average over batches; exp(mean CE) is the perplexity.
   */
  loss: number;
  /** Classification: the number of sequences; masked LM: the number of labelled tokens (labels ≠ -100). */
  count: number;
}

/** Options of embed. */
export interface EmbedOptions {
  /** 'cls' (default): the first token's hidden state; 'mean': the mean over the sequence's tokens (classifier_pooling="mean"). */
  pooling?: 'cls' | 'mean';
  /** Forward under bf16 autocast (see ForwardOptions.bf16). */
  bf16?: boolean;
}

/** What one training step reports. */
export interface StepResult {
  /**
   * The batch's mean loss before the update (options.loss for classification, default BCEWithLogits; masked-token
   * cross-entropy for masked LM); with an update after accumulated batches, the lossWeight-weighted sum of theirs (over
   * all ranks when a process group is attached): the optimizer step's mean loss.
   */
  loss: number;
  /** Global L2 norm of the gradients before clipping (what HF Trainer logs as grad_norm). */
  gradNorm: number;
  /** Some rank asked to stop after this step (StepOptions.stop); false without a process group unless this call asked. */
  stop?: boolean;
  /** Seconds the process group's gradient sum took after backward (0 without one; DDP's Reducer overlaps most of it with backward). */
  syncSeconds?: number;
}

/** Facts about a model instance. */
export interface ModelInfo {
  device: string;
  architecture: Architecture;
  /**
   * Parameter names in Hugging Face's key naming, with shapes, and whether StepOptions.weightDecay applies to each
   * (transformers' Trainer.get_decay_parameter_names: biases and LayerNorm weights are excluded).
   */
  parameters: Array<{ name: string; shape: number[]; weightDecay: boolean }>;
  numParameters: number;
}

/** A model living in native memory. */
export interface NativeModel {
  /**
   * Copy tensors from safetensors files (f32, f16, bf16; converted to the model's dtype); shapes must match.
   * options.skip names parameters (HF keys) not to load: they keep their values and are reported missing (e.g.
   * `classifier.weight`/`classifier.bias` re-initialised for new labels, HF's ignore_mismatched_sizes).
   */
  loadWeights(files: string[], options?: { skip?: string[] }): Promise<LoadReport>;
  /** Write the parameters (or their current gradients) to one safetensors file with HF key names, f32. */
  saveWeights(file: string, options?: { what?: 'params' | 'grads'; metadata?: Record<string, string> }): Promise<void>;
  /**
   * Eval-mode forward on a packed batch: ids holds the real tokens of every sequence back to back, cuSeqlens the
   * offsets [0, len0, len0+len1, ...]. Returns logits row-major: [batch, numLabels] for sequence classification,
   * [tokens, vocabSize] for masked LM, [tokens, hidden] (last hidden state) for the bare model.
   */
  forward(ids: Int32Array, cuSeqlens: Int32Array, options?: ForwardOptions): Promise<Float32Array>;
  /**
   * Train-mode forward + loss against `targets` (see Targets: Float32Array for classification, Int32Array token labels
   * for masked LM) + backward (+ clip + AdamW). A masked-LM batch must label at least one token. With a process group
   * attached (NativeProcessGroup.attach) an update first sums the gradients over the ranks; an empty batch (no ids,
   * cuSeqlens [0]) then takes part in the update without a forward.
   */
  trainStep(ids: Int32Array, cuSeqlens: Int32Array, targets: Targets, options: StepOptions): Promise<StepResult>;
  /** Eval-mode, no-grad loss of one batch against `targets` (as trainStep's), for validation loss and perplexity. */
  evalLoss(ids: Int32Array, cuSeqlens: Int32Array, targets: Targets, options?: EvalLossOptions): Promise<LossResult>;
  /**
   * Any architecture: the body's final-norm hidden states pooled per sequence, Float32Array [batch, hiddenSize]
   * row-major (eval mode; what ModernBertModel's last_hidden_state gives, pooled).
   */
  embed(ids: Int32Array, cuSeqlens: Int32Array, options?: EmbedOptions): Promise<Float32Array>;
  /** Save AdamW's moments and step count (safetensors: exp_avg.<key>, exp_avg_sq.<key>; metadata step). */
  saveOptimizer(file: string): Promise<void>;
  /** Restore what saveOptimizer wrote. */
  loadOptimizer(file: string): Promise<void>;
  /** Names, shapes, device. */
  info(): ModelInfo;
  /** Free native memory now; later calls reject (the Promise-returning ones) or throw (info). */
  free(): void;
}

/** What version() reports: the libtorch build, the CPU and the kernels this process runs. */
export interface VersionInfo {
  torch: string;
  cuda: boolean;
  /** libtorch's intra-op threads. */
  threads: number;
  /** The attention kernel each device runs. */
  attention: { cpu: string; cuda: string };
  /**
   * The GEMM library of CPU linear layers per dtype, the setting ('libtorch': torch::linear everywhere, the reference
   * path) and why it holds (RADBERT_GEMM, setGemm, or the CPU vendor rule).
   */
  gemm: { fp32: 'mkl' | 'onednn'; bf16: 'onednn' | 'libtorch-autocast'; mode: 'mkl' | 'onednn' | 'libtorch'; reason: string };
  /** The CPU: vendor id, model name, and the GEMM-relevant ISA flags it has (avx512_bf16, amx_bf16, ...). */
  cpu: { vendor: string; name: string; flags: string };
  /** The distributed backends this build has (none, with the reason, when it was built without gloo's headers). */
  distributed: { backends: Array<'gloo' | 'nccl'>; reason?: string };
}

/** Options of initProcessGroup (lib/dist/group.ts fills them from the torchrun environment). */
export interface ProcessGroupOptions {
  backend: 'gloo' | 'nccl';
  rank: number;
  worldSize: number;
  /** NCCL: the CUDA device of this process (made current on the compute thread). */
  localRank?: number;
  masterAddr: string;
  masterPort: number;
  /** torchrun's agent hosts the store (TORCHELASTIC_USE_AGENT_STORE=True); else rank 0 hosts it. */
  agentStore?: boolean;
  /** Key prefix of this run in the store. */
  prefix: string;
  /** Rendezvous and every collective give up after this long (--ddp-timeout). */
  timeoutSeconds: number;
  /** This host's name, shown in the other ranks' messages about this one. */
  host: string;
  /** GLOO_SOCKET_IFNAME's interfaces. */
  glooInterfaces?: string[];
}

/** What the watchdog of a process group knows about the other ranks. */
export interface GroupHealth {
  /** Ranks whose heartbeat stopped for longer than asked. */
  silent: Array<{ rank: number; seconds: number }>;
  /** Ranks that reported an error (reportFailure), with its message. */
  failed: Array<{ rank: number; message: string }>;
  /** The store stopped answering (its host is gone), and how. */
  storeLost: boolean;
  storeError: string;
}

/** This process's c10d process group (native/distributed.*): every collective runs on the compute thread. */
export interface NativeProcessGroup {
  /** Rank, world size, backend, and every rank's host and pid. */
  info(): { rank: number; size: number; backend: string; peers: Array<{ host: string; pid: number }> };
  /** Rank 0's parameters and buffers to every rank. */
  broadcastModel(model: NativeModel): Promise<void>;
  /** From now on the model's updating trainStep sums the gradients over the ranks first ('flat': one persistent buffer after backward; 'reducer': DDP's Reducer). */
  attach(model: NativeModel, mode?: 'flat' | 'reducer'): Promise<void>;
  barrier(): Promise<void>;
  /** Every rank's values (lengths may differ), in rank order. */
  allGather<T extends Float32Array | Float64Array>(values: T): Promise<T[]>;
  /** Element-wise sums over the ranks. */
  allReduce(values: Float64Array): Promise<Float64Array>;
  /** Leave this rank's error in the store for the others' messages (best effort). */
  reportFailure(message: string): void;
  /** The watchdog's view: ranks silent for more than `silentAfterSeconds` (default 30), reported errors, the store. */
  health(silentAfterSeconds?: number): GroupHealth;
  /** Stop the heartbeat and release the group. */
  shutdown(): Promise<void>;
}

/** The addon's exports. */
export interface NativeAddon {
  /** libtorch version, whether CUDA is usable, intra-op threads, the attention and GEMM kernels, the CPU. */
  version(): VersionInfo;
  /** Join a data-parallel run: the rendezvous (blocks until every rank joined, or the timeout) and the process group. */
  initProcessGroup(options: ProcessGroupOptions): Promise<NativeProcessGroup>;
  /** Set libtorch's intra-op thread count. */
  setNumThreads(n: number): void;
  /**
   * The GEMM library of float32 CPU linear layers from now on, process-wide: 'mkl', 'onednn', 'auto' (the CPU rule:
   * MKL on Intel, oneDNN elsewhere), or 'libtorch' (torch::linear for every dtype, as transformers runs it: the
   * reference path). Overrides RADBERT_GEMM; version().gemm tells the choice.
   */
  setGemm(name: 'auto' | 'mkl' | 'onednn' | 'libtorch'): void;
  /**
   * Let the running native job finish and start no other, for good: called on process 'exit', so that exit() does
   * not destroy libtorch's static objects under a running forward. Not for use while the process goes on.
   */
  quiesce(): void;
  /** Build a model from a resolved config (optionally with HF's initialisation). */
  createModel(config: NativeConfig, options: CreateOptions): Promise<NativeModel>;
  /** Debug/test entry: the attention kernel and arguments a packed batch would get (runs nothing). */
  attentionPlan(cuSeqlens: Int32Array, options: AttentionPlanOptions): AttentionPlan;
}

/** Inputs of attentionPlan(): a layer's shape and the call's device and dtype. */
export interface AttentionPlanOptions {
  heads: number;
  headDim: number;
  /** Tokens on each side a token attends to (local_attention / 2), or -1 for a global layer. */
  window: number;
  threads?: number;
  device?: 'cpu' | 'cuda';
  dtype?: 'float32' | 'bfloat16' | 'float16' | 'float64';
  dropout?: number;
  /** As RADBERT_ATTENTION=sdpa. */
  forceSdpa?: boolean;
}

/** What attentionPlan() returns: the kernel, the CPU work items (longest first) and the varlen flash arguments. */
export interface AttentionPlan {
  kernel: 'cpu-flash-packed' | 'cuda-flash-varlen' | 'sdpa-per-sequence';
  items: Array<{ seq: number; begin: number; len: number; headBegin: number; headEnd: number; cost: number }>;
  flash: { cuSeqlens: Int32Array; maxLen: number; windowLeft: number; windowRight: number; scale: number };
}

let cached: NativeAddon | undefined;

/** Candidate locations of the compiled addon, in search order. */
export function addonCandidates(): string[] {
  const root = path.resolve(__dirname, '..');
  const list: string[] = [];
  if (process.env.RADBERT_NATIVE_ADDON) list.push(path.resolve(process.env.RADBERT_NATIVE_ADDON));
  list.push(path.join(root, 'build', 'Release', 'radbert_native.node'));
  list.push(path.join(root, 'build', 'Debug', 'radbert_native.node'));
  return list;
}

/** Load (once) and return the native addon, or throw an Error that says how to build it. */
export function native(): NativeAddon {
  if (cached) return cached;
  const tried: string[] = [];
  const restoreEnv = passiveOpenMP();
  try {
    return loadFirst(tried);
  } finally {
    restoreEnv();
  }
}

/**
 * On process.exit(), wait for the native job that runs (see NativeAddon.quiesce); registered once per process, on the
 * main thread only (a worker thread's exit ends the worker, not the process: the compute thread serves the others).
 */
function quiesceAtExit(addon: NativeAddon): void {
  const key = Symbol.for('radbert-native.quiesceAtExit');
  const g = globalThis as unknown as Record<symbol, boolean>;
  if (g[key] || !isMainThread) return;
  g[key] = true;
  process.on('exit', () => addon.quiesce());
}

/**
 * libtorch's OpenMP (GNU libgomp) reads its wait policy once, when the addon loads it. Its default spins up to 300,000
 * times at every barrier: when other processes share the cores, a spinning thread holds the core that the thread it
 * waits for needs, and a model call took 150x longer (issue 12). Passive waiting sleeps at once instead. Applied only
 * when the user set neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT, and only while the addon loads (child processes do
 * not inherit it). Returns the function that restores the environment.
 */
function passiveOpenMP(): () => void {
  if (process.env.OMP_WAIT_POLICY !== undefined || process.env.GOMP_SPINCOUNT !== undefined) return () => {};
  process.env.OMP_WAIT_POLICY = 'passive';
  return () => {
    delete process.env.OMP_WAIT_POLICY;
  };
}

/** The first loadable addon of addonCandidates(); throws an Error that says how to build it. */
function loadFirst(tried: string[]): NativeAddon {
  for (const file of addonCandidates()) {
    if (!fs.existsSync(file)) {
      tried.push(`${file} (not found)`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      cached = require(file) as NativeAddon;
      quiesceAtExit(cached);
      return cached;
    } catch (err) {
      tried.push(`${file} (${(err as Error).message})`);
    }
  }
  throw new Error(
    'radbert-native: the native addon could not be loaded.\n  tried:\n    ' +
      tried.join('\n    ') +
      '\n  Build it with `npm run build` (see README: "How libtorch is found"), or set RADBERT_NATIVE_ADDON to a built radbert_native.node.',
  );
}
