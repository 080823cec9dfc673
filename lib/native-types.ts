/**
 * The typed contract of the C++ addon (native/addon.cpp): its exports, the model handle, and what their calls take and
 * return. lib/native.ts loads the addon and re-exports these types; import them from there.
 */

/** Architecture heads the native model knows. */
export type Architecture = 'ModernBertForSequenceClassification' | 'ModernBertForMaskedLM' | 'ModernBertModel';

/** A fully resolved model description, made by config.ts from a Hugging Face config.json. */
export interface NativeConfig {
  /** Which head sits on the body (config.json `architectures[0]`). */
  architecture: Architecture;
  /** Rows of the token embedding (`vocab_size`). */
  vocabSize: number;
  /** Width of the hidden states (`hidden_size`). */
  hiddenSize: number;
  /** Width of the MLP's inner layer (`intermediate_size`; the gated input projection is twice this). */
  intermediateSize: number;
  /** Encoder layers (`num_hidden_layers`). */
  numHiddenLayers: number;
  /** Attention heads per layer (`num_attention_heads`); the head size is hiddenSize / numAttentionHeads. */
  numAttentionHeads: number;
  /** One entry per layer: true = global (full) attention, false = local sliding-window attention. */
  globalLayers: boolean[];
  /** The WHOLE local window: a token sees ±floor(localAttention/2) neighbours. */
  localAttention: number;
  /** Rotary embedding base of the global layers (`global_rope_theta`). */
  globalRopeTheta: number;
  /** Rotary embedding base of the local layers (`local_rope_theta`). */
  localRopeTheta: number;
  /** The MLP's activation (`hidden_activation`: gelu, gelu_pytorch_tanh, gelu_new, relu, silu). */
  hiddenActivation: string;
  /** The head's activation (`classifier_activation`). */
  classifierActivation: string;
  /** LayerNorm epsilon (`norm_eps`). */
  normEps: number;
  /** Whether the LayerNorms have a bias (`norm_bias`). */
  normBias: boolean;
  /** Whether the attention projections have biases (`attention_bias`). */
  attentionBias: boolean;
  /** Whether the MLP's linear layers have biases (`mlp_bias`). */
  mlpBias: boolean;
  /** Whether the head's dense layer and the classifier have biases (`classifier_bias`). */
  classifierBias: boolean;
  /** Whether the masked-LM decoder has a bias (`decoder_bias`). */
  decoderBias: boolean;
  /** Dropout after the embeddings in training (`embedding_dropout`). */
  embeddingDropout: number;
  /** Dropout on the attention probabilities and output in training (`attention_dropout`). */
  attentionDropout: number;
  /** Dropout in the MLP in training (`mlp_dropout`). */
  mlpDropout: number;
  /** Dropout before the classifier in training (`classifier_dropout`). */
  classifierDropout: number;
  /** How a sequence's hidden states become one vector for the head (`classifier_pooling`). */
  classifierPooling: 'cls' | 'mean';
  /** Number of classifier outputs (ModernBertForSequenceClassification); ignored otherwise. */
  numLabels: number;
  /** The padding token's id (`pad_token_id`): its embedding row is zeroed at initialisation. */
  padTokenId: number;
  /** Standard deviation of the initial weights (`initializer_range`). */
  initializerRange: number;
  /** Initial weights are truncated at this many standard deviations (`initializer_cutoff_factor`). */
  initializerCutoffFactor: number;
  /** Masked LM: the decoder shares the token embedding's weights (`tie_word_embeddings`). */
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
  /** Learning rate of this step (the schedule's value). */
  lr: number;
  /** AdamW's first-moment decay (default 0.9). */
  beta1?: number;
  /** AdamW's second-moment decay (default 0.999). */
  beta2?: number;
  /** AdamW's epsilon (default 1e-8). */
  eps?: number;
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
  /** 'bce': BCEWithLogits; 'asl': the asymmetric loss. */
  type: 'bce' | 'asl';
  /** BCE: one weight per label for its positive term (torch's `pos_weight`). */
  posWeight?: Float32Array;
  /** ASL: focusing exponent of the negatives (default 4). */
  gammaNeg?: number;
  /** ASL: focusing exponent of the positives (default 0). */
  gammaPos?: number;
  /** ASL: probability margin subtracted from the negatives (default 0.05). */
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
  /** Where the model's tensors live ('cpu', 'cuda:0'). */
  device: string;
  /** The model's head. */
  architecture: Architecture;
  /**
   * Parameter names in Hugging Face's key naming, with shapes, and whether StepOptions.weightDecay applies to each
   * (transformers' Trainer.get_decay_parameter_names: biases and LayerNorm weights are excluded).
   */
  parameters: Array<{
    /** The parameter's key as Hugging Face names it in model.safetensors. */
    name: string;
    /** The tensor's shape. */
    shape: number[];
    /** Whether weight decay applies to it. */
    weightDecay: boolean;
  }>;
  /** Number of scalar parameters (tied weights counted once). */
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
  /** The libtorch version the addon is linked against ('2.13.0'). */
  torch: string;
  /** Whether this build has CUDA and a device is usable. */
  cuda: boolean;
  /** libtorch's intra-op threads. */
  threads: number;
  /** The attention kernel each device runs. */
  attention: {
    /** The kernel on CPU ('cpu-flash-packed'). */
    cpu: string;
    /** The kernel on CUDA ('cuda-flash-varlen'), or why there is none. */
    cuda: string;
  };
  /**
   * The GEMM library of CPU linear layers per dtype, the setting ('libtorch': torch::linear everywhere, the reference
   * path) and why it holds (RADBERT_GEMM, setGemm, or the CPU vendor rule).
   */
  gemm: {
    /** The library of float32 linear layers. */
    fp32: 'mkl' | 'onednn';
    /** The library of bf16 (autocast) linear layers. */
    bf16: 'onednn' | 'libtorch-autocast';
    /** The setting in force. */
    mode: 'mkl' | 'onednn' | 'libtorch';
    /** Why: RADBERT_GEMM, setGemm() or the CPU vendor rule. */
    reason: string;
  };
  /** The CPU: vendor id, model name, and the GEMM-relevant ISA flags it has (avx512_bf16, amx_bf16, ...). */
  cpu: {
    /** The vendor id ('GenuineIntel', 'AuthenticAMD'). */
    vendor: string;
    /** The model name as /proc/cpuinfo gives it. */
    name: string;
    /** The GEMM-relevant instruction-set flags, space-separated. */
    flags: string;
  };
  /** The distributed backends this build has (none, with the reason, when it was built without gloo's headers). */
  distributed: {
    /** The process-group backends compiled in. */
    backends: Array<'gloo' | 'nccl'>;
    /** Why there are none, when there are none. */
    reason?: string;
  };
}

/** Options of initProcessGroup (lib/dist/group.ts fills them from the torchrun environment). */
export interface ProcessGroupOptions {
  /** Gloo on CPUs, NCCL on CUDA devices. */
  backend: 'gloo' | 'nccl';
  /** This process's rank, 0 … worldSize − 1 (RANK). */
  rank: number;
  /** Number of processes in the run (WORLD_SIZE). */
  worldSize: number;
  /** NCCL: the CUDA device of this process (made current on the compute thread). */
  localRank?: number;
  /** The host of the rendezvous store (MASTER_ADDR). */
  masterAddr: string;
  /** The port of the rendezvous store (MASTER_PORT). */
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
  silent: Array<{
    /** The silent rank. */
    rank: number;
    /** Seconds since its last heartbeat. */
    seconds: number;
  }>;
  /** Ranks that reported an error (reportFailure), with its message. */
  failed: Array<{
    /** The failed rank. */
    rank: number;
    /** Its error message. */
    message: string;
  }>;
  /** The store stopped answering (its host is gone). */
  storeLost: boolean;
  /** How the store failed ('' while it answers). */
  storeError: string;
}

/** This process's c10d process group (native/distributed.*): every collective runs on the compute thread. */
export interface NativeProcessGroup {
  /** Rank, world size, backend, and every rank's host and pid. */
  info(): {
    /** This process's rank. */
    rank: number;
    /** The world size. */
    size: number;
    /** 'gloo' or 'nccl'. */
    backend: string;
    /** Every rank's host name and process id, in rank order. */
    peers: Array<{
      /** The rank's host name. */
      host: string;
      /** The rank's process id. */
      pid: number;
    }>;
  };
  /** Rank 0's parameters and buffers to every rank. */
  broadcastModel(model: NativeModel): Promise<void>;
  /** From now on the model's updating trainStep sums the gradients over the ranks first ('flat': one persistent buffer after backward; 'reducer': DDP's Reducer). */
  attach(model: NativeModel, mode?: 'flat' | 'reducer'): Promise<void>;
  /** Resolves once every rank has reached this barrier. */
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
  /** Attention heads of the layer. */
  heads: number;
  /** Size of one head. */
  headDim: number;
  /** Tokens on each side a token attends to (local_attention / 2), or -1 for a global layer. */
  window: number;
  /** Intra-op threads to plan CPU work items for (default: libtorch's). */
  threads?: number;
  /** The device of the call (default 'cpu'). */
  device?: 'cpu' | 'cuda';
  /** The compute dtype of the call (default 'float32'). */
  dtype?: 'float32' | 'bfloat16' | 'float16' | 'float64';
  /** Attention dropout probability (training); above 0 forces the reference path. */
  dropout?: number;
  /** As RADBERT_ATTENTION=sdpa. */
  forceSdpa?: boolean;
}

/** What attentionPlan() returns: the kernel, the CPU work items (longest first) and the varlen flash arguments. */
export interface AttentionPlan {
  /** The kernel the call would run. */
  kernel: 'cpu-flash-packed' | 'cuda-flash-varlen' | 'sdpa-per-sequence';
  /** cpu-flash-packed: the (sequence, head range) work items, longest first. */
  items: Array<{
    /** The sequence's index in the batch. */
    seq: number;
    /** Its first token in the packed batch. */
    begin: number;
    /** Its length in tokens. */
    len: number;
    /** First head of the item. */
    headBegin: number;
    /** One past the item's last head. */
    headEnd: number;
    /** The item's estimated cost (orders the items). */
    cost: number;
  }>;
  /** cuda-flash-varlen: the arguments of ATen's varlen flash kernel. */
  flash: {
    /** Sequence offsets in the packed batch. */
    cuSeqlens: Int32Array;
    /** The longest sequence. */
    maxLen: number;
    /** Tokens to the left each token sees (-1: all). */
    windowLeft: number;
    /** Tokens to the right each token sees (-1: all). */
    windowRight: number;
    /** The softmax scale, 1/√headDim. */
    scale: number;
  };
}
