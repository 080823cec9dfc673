/**
 * Dynamic batching: concurrent callers enqueue tokenised sequences, and each native forward takes as many waiting
 * sequences as fit a token budget, then hands every caller exactly its own rows. The model runs packed, unpadded
 * batches, so merging callers costs no padding and a sequence's result does not depend on its batch-mates (up to
 * float rounding of the differently shaped matmuls, ≤ 1e-6).
 */
import { packBatch } from '../model/tokenize';

/** What the queue needs from a model: a packed forward returning [sequences, numLabels] logits, row-major. */
export interface BatchModel {
  /** Logits of a packed batch (ids back to back, offsets cuSeqlens = [0, len0, len0+len1, ...]). */
  forward(ids: Int32Array, cuSeqlens: Int32Array): Promise<Float32Array>;
  /** Values per sequence in forward()'s output. */
  readonly numLabels: number;
}

/**
 * Token budget of one forward. Measured with `npm run bench -- --budget` (packed forwards of real captions, ModernBERT
 * base fp32, this 2-core Intel Xeon, bench/results/*-budget.json): tokens/s does not grow past about 2048 tokens
 * (≈ 65 captions), while a forward's time, and so the wait of the calls behind it, grows linearly with the budget.
 */
export const DEFAULT_MAX_BATCH_TOKENS = 2048;
/** Most sequences in one forward. */
export const DEFAULT_MAX_BATCH_SIZE = 256;

/** Limits of a BatchQueue. */
export interface QueueOptions {
  /** Most tokens in one forward (a single longer sequence still runs, alone). Default DEFAULT_MAX_BATCH_TOKENS. */
  maxBatchTokens?: number;
  /** Most sequences in one forward. Default DEFAULT_MAX_BATCH_SIZE. */
  maxBatchSize?: number;
  /** Most sequences waiting (not yet in a forward); a call that would exceed it is refused with QueueFullError. Default unlimited. */
  maxQueue?: number;
  /** Called after every forward (for metrics and logs). */
  onBatch?: (stats: BatchStats) => void;
}

/** What one forward did. */
export interface BatchStats {
  /** Sequences in the forward. */
  sequences: number;
  /** Tokens in the forward. */
  tokens: number;
  /** Callers whose sequences it held. */
  callers: number;
  /** Wall time of the native call. */
  seconds: number;
  /** Whether it failed (its callers were rejected or re-run alone). */
  failed: boolean;
}

/** A call refused because the queue holds maxQueue sequences: try again after retryAfterSeconds. */
export class QueueFullError extends Error {
  constructor(
    message: string,
    /** A guess at when the queue will have room: the waiting sequences over the measured throughput. */
    readonly retryAfterSeconds: number,
  ) {
    super(message);
    this.name = 'QueueFullError';
  }
}

/** A call rejected because the queue (its model) was closed before the call ran. */
export class QueueClosedError extends Error {
  constructor(message = 'radbert-native: the model was closed while this call was waiting for the batching queue') {
    super(message);
    this.name = 'QueueClosedError';
  }
}

interface Call {
  seqs: ArrayLike<number>[];
  out: Float32Array;
  /** Index of the next sequence not yet put into a forward. */
  next: number;
  /** Sequences not yet finished. */
  outstanding: number;
  done: boolean;
  resolve: (logits: Float32Array) => void;
  reject: (err: Error) => void;
}

interface Slot {
  call: Call;
  index: number;
}

function positiveInt(name: string, v: number | undefined, def: number): number {
  if (v === undefined) return def;
  if (!(Number.isInteger(v) && v >= 1) && v !== Infinity) throw new Error(`${name} must be a positive integer, got ${v}`);
  return v;
}

/**
 * A FIFO of forward calls merged into packed batches. A call that finds nothing running or waiting starts its forward
 * at once. One forward runs at a time; while it runs, calls queue up,
 * and the next forward visits the waiting calls in arrival order, one sequence from each per round, until
 * maxBatchTokens or maxBatchSize is reached. Every forward serves the oldest waiting calls first, so a call's first
 * sequence runs after at most as many forwards as there are calls ahead of it (⌈calls ahead / maxBatchSize⌉ when
 * their sequences fit the budget), however many sequences those calls hold; with one sequence per call it is strict
 * first-in, first-out.
 */
export class BatchQueue {
  /** The most tokens one forward packs. */
  readonly maxBatchTokens: number;
  /** The most sequences one forward packs. */
  readonly maxBatchSize: number;
  /** The most sequences waiting before new calls are refused (QueueFullError). */
  readonly maxQueue: number;
  private readonly listeners = new Set<(stats: BatchStats) => void>();
  /** Calls with sequences not yet put into a forward, in arrival order. */
  private waiting: Call[] = [];
  private waitingSeqs = 0;
  private running: Promise<void> | null = null;
  private scheduled = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  /** Exponential moving average of sequences per second, for Retry-After. */
  private rate = 0;

  constructor(
    private readonly model: BatchModel,
    options: QueueOptions = {},
  ) {
    this.maxBatchTokens = positiveInt('maxBatchTokens', options.maxBatchTokens, DEFAULT_MAX_BATCH_TOKENS);
    this.maxBatchSize = positiveInt('maxBatchSize', options.maxBatchSize, DEFAULT_MAX_BATCH_SIZE);
    this.maxQueue = positiveInt('maxQueue', options.maxQueue, Infinity);
    if (options.onBatch) this.listeners.add(options.onBatch);
  }

  /** Call listener after every forward; returns a function that removes it. */
  onBatch(listener: (stats: BatchStats) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sequences waiting for a forward (not counting the running one). */
  get waitingSequences(): number {
    return this.waitingSeqs;
  }

  /** Calls with sequences waiting for a forward. */
  get waitingCalls(): number {
    return this.waiting.length;
  }

  /** Whether a forward is running now. */
  get busy(): boolean {
    return this.running !== null;
  }

  /** Whether close() was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Logits of token-id sequences (with special tokens, already truncated), row-major [seqs.length, numLabels],
   * computed in packed batches shared with concurrent callers. Rejects with QueueFullError when the queue is full,
   * QueueClosedError once closed.
   */
  run(seqs: ArrayLike<number>[]): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new QueueClosedError('radbert-native: the model was closed; load it again'));
    if (!Array.isArray(seqs)) return Promise.reject(new TypeError('BatchQueue.run: expected an array of token-id sequences'));
    for (let i = 0; i < seqs.length; i++) {
      const s = seqs[i];
      if (s === null || typeof s !== 'object' || typeof s.length !== 'number')
        return Promise.reject(new TypeError(`BatchQueue.run: sequence ${i} is not an array of token ids`));
      if (s.length === 0) return Promise.reject(new Error(`BatchQueue.run: sequence ${i} is empty (it needs at least the special tokens)`));
    }
    const k = this.model.numLabels;
    if (seqs.length === 0) return Promise.resolve(new Float32Array(0));
    if (this.waitingSeqs + seqs.length > this.maxQueue) {
      const retry = this.rate > 0 ? Math.ceil((this.waitingSeqs + seqs.length) / this.rate) : 1;
      return Promise.reject(
        new QueueFullError(
          `radbert-native: the batching queue is full (${this.waitingSeqs} sequences waiting, limit ${this.maxQueue}); retry later`,
          Math.min(60, Math.max(1, retry)),
        ),
      );
    }
    return new Promise<Float32Array>((resolve, reject) => {
      const idle = !this.running && !this.scheduled && this.waiting.length === 0;
      this.waiting.push({ seqs, out: new Float32Array(seqs.length * k), next: 0, outstanding: seqs.length, done: false, resolve, reject });
      this.waitingSeqs += seqs.length;
      // A call that finds the queue idle starts its forward now: it does not wait for company (calls that come
      // while it runs are merged into the next forward).
      if (idle) this.pump();
      else this.schedule();
    });
  }

  /** Resolves once nothing is waiting or running (calls made meanwhile are waited for too). */
  drain(): Promise<void> {
    if (!this.running && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Refuse new calls and reject the waiting ones (QueueClosedError); calls wholly inside the running forward still
   * get their results. Resolves when that forward has ended, i.e. when the model may be freed.
   */
  close(): Promise<void> {
    this.closed = true;
    const rejected = this.waiting;
    this.waiting = [];
    this.waitingSeqs = 0;
    for (const call of rejected) this.finish(call, new QueueClosedError());
    return this.drain();
  }

  private schedule(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    // setImmediate, not a microtask: requests whose I/O is already in this turn of the event loop join the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.running) return;
    const slots = this.take();
    if (slots.length === 0) return this.checkIdle();
    this.running = this.runBatch(slots);
  }

  /** Resolve drain()/close() waiters once nothing waits or runs. */
  private checkIdle(): void {
    if (this.running || this.waiting.length) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * One forward and its hand-over. The next forward is started before the callers' results are delivered: their
   * continuations (JSON, HTTP writes) then run on the event loop while the compute thread works on the next batch,
   * instead of the two taking turns.
   */
  private async runBatch(slots: Slot[]): Promise<void> {
    const outcomes = await this.compute(slots);
    for (const o of outcomes) if (o.error) this.finish(o.slots[0].call, o.error); // first: drops what they still have waiting
    this.running = null;
    this.pump();
    const k = this.model.numLabels;
    for (const o of outcomes) {
      if (!o.logits) continue;
      o.slots.forEach((s, i) => {
        const call = s.call;
        if (call.done) return;
        call.out.set(o.logits!.subarray(i * k, (i + 1) * k), s.index * k);
        if (--call.outstanding === 0) this.finish(call);
      });
    }
    this.checkIdle();
  }

  /**
   * Logits of the slots (never throws). When a forward shared by several callers fails, each caller's part is re-run
   * alone, so one caller's bad input fails that caller only.
   */
  private async compute(slots: Slot[]): Promise<Array<{ slots: Slot[]; logits?: Float32Array; error?: Error }>> {
    try {
      return [{ slots, logits: await this.forwardOnce(slots) }];
    } catch (err) {
      const byCall = new Map<Call, Slot[]>();
      for (const s of slots) byCall.set(s.call, [...(byCall.get(s.call) ?? []), s]);
      if (byCall.size === 1) return [{ slots, error: err as Error }];
      const out: Array<{ slots: Slot[]; logits?: Float32Array; error?: Error }> = [];
      for (const part of byCall.values()) {
        try {
          out.push({ slots: part, logits: await this.forwardOnce(part) });
        } catch (e) {
          out.push({ slots: part, error: e as Error });
        }
      }
      return out;
    }
  }

  /** One native forward of the slots' sequences, timed and reported to the onBatch listeners. */
  private async forwardOnce(slots: Slot[]): Promise<Float32Array> {
    const k = this.model.numLabels;
    const callers = new Set(slots.map((s) => s.call)).size;
    const { ids, cuSeqlens } = packBatch(slots.map((s) => s.call.seqs[s.index]));
    const t0 = process.hrtime.bigint();
    let logits: Float32Array;
    try {
      logits = await this.model.forward(ids, cuSeqlens);
      if (logits.length !== slots.length * k) throw new Error(`radbert-native: forward returned ${logits.length} values for ${slots.length} x ${k} logits`);
    } catch (err) {
      this.report(slots.length, ids.length, callers, t0, true);
      throw err;
    }
    const seconds = this.report(slots.length, ids.length, callers, t0, false);
    this.rate = this.rate === 0 ? slots.length / seconds : 0.8 * this.rate + 0.2 * (slots.length / seconds);
    return logits;
  }

  /** The next forward's sequences: round-robin over waiting calls in arrival order, within the budget. */
  private take(): Slot[] {
    const slots: Slot[] = [];
    let tokens = 0;
    let progress = true;
    outer: while (progress) {
      progress = false;
      for (const call of this.waiting) {
        if (call.next >= call.seqs.length) continue;
        const len = call.seqs[call.next].length;
        if (slots.length >= this.maxBatchSize || (slots.length > 0 && tokens + len > this.maxBatchTokens)) break outer;
        slots.push({ call, index: call.next++ });
        tokens += len;
        progress = true;
      }
    }
    this.waiting = this.waiting.filter((c) => c.next < c.seqs.length);
    this.waitingSeqs -= slots.length;
    return slots;
  }

  private report(sequences: number, tokens: number, callers: number, t0: bigint, failed: boolean): number {
    const seconds = Math.max(1e-9, Number(process.hrtime.bigint() - t0) / 1e9);
    for (const listener of this.listeners) {
      try {
        listener({ sequences, tokens, callers, seconds, failed });
      } catch {
        // a metrics hook never breaks serving
      }
    }
    return seconds;
  }

  /** Settle a call once (results, or an error), and drop what it still has waiting. */
  private finish(call: Call, err?: Error): void {
    if (call.done) return;
    call.done = true;
    if (err) {
      const left = call.seqs.length - call.next;
      if (left > 0 && this.waiting.includes(call)) {
        this.waiting = this.waiting.filter((c) => c !== call);
        this.waitingSeqs -= left;
      }
      call.reject(err);
    } else call.resolve(call.out);
  }
}
