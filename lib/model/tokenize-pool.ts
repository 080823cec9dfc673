/**
 * A worker thread that loads the same tokenizer.json and encodes batches off the main thread, so a long caption or a
 * large batch never stalls the event loop. Sequences come back packed in one transferred Int32Array.
 */
import { Worker } from 'node:worker_threads';
import { contentIds } from './tokenize-core';

/** What the worker needs: the tokenizer.json path (tokenizer_config.json beside it), and what encode() adds around content. */
export interface PoolSpec {
  file: string;
  prefix: number[];
  suffix: number[];
  prefixCut: boolean;
}

interface Reply {
  id: number;
  ids?: Int32Array;
  offsets?: Int32Array;
  error?: string;
}

/** The worker's program, a message loop run from its text (no imports: contentIds() comes in as an argument). */
function workerMain(data: PoolSpec & { tokenizers: string }, encodeContent: typeof contentIds): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pathMod = require('node:path');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parentPort } = require('node:worker_threads');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Tokenizer } = require(data.tokenizers);
  const cfgFile = pathMod.join(pathMod.dirname(data.file), 'tokenizer_config.json');
  const cfg = fs.existsSync(cfgFile) ? JSON.parse(fs.readFileSync(cfgFile, 'utf8')) : {};
  const tok = new Tokenizer(JSON.parse(fs.readFileSync(data.file, 'utf8')), cfg);
  parentPort.on('message', (m: { id: number; texts: string[]; room?: number }) => {
    try {
      const seqs = m.texts.map((t) => encodeContent(tok, t, m.room, data.prefixCut));
      const specials = data.prefix.length + data.suffix.length;
      const offsets = new Int32Array(seqs.length + 1);
      seqs.forEach((s, i) => (offsets[i + 1] = offsets[i] + s.length + specials));
      const ids = new Int32Array(offsets[seqs.length]);
      seqs.forEach((s, i) => {
        ids.set(data.prefix, offsets[i]);
        ids.set(s, offsets[i] + data.prefix.length);
        ids.set(data.suffix, offsets[i] + data.prefix.length + s.length);
      });
      parentPort.postMessage({ id: m.id, ids, offsets }, [ids.buffer, offsets.buffer]);
    } catch (err) {
      parentPort.postMessage({ id: m.id, error: String((err as Error)?.message ?? err) });
    }
  });
}

/** One tokenizer worker, started on first use; it keeps Node alive only while a batch is in flight. */
export class TokenizerPool {
  private worker?: Worker;
  private readonly pending = new Map<number, { resolve: (v: Int32Array[]) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  /** Batches encoded by the worker. */
  batches = 0;

  constructor(private readonly spec: PoolSpec) {}

  private start(): Worker {
    const source = `(${workerMain.toString()})(require('node:worker_threads').workerData, ${contentIds.toString()});`;
    const w = new Worker(source, { eval: true, workerData: { ...this.spec, tokenizers: require.resolve('@huggingface/tokenizers') } });
    w.on('message', (r: Reply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (!this.pending.size) w.unref();
      if (r.error !== undefined || !r.ids || !r.offsets) return p.reject(new Error(`tokenizer worker: ${r.error ?? 'no result'}`));
      this.batches++;
      const { ids, offsets } = r;
      p.resolve(Array.from({ length: offsets.length - 1 }, (_, i) => ids.subarray(offsets[i], offsets[i + 1])));
    });
    const fail = (err: Error) => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      if (this.worker === w) this.worker = undefined;
    };
    w.on('error', (err) => fail(new Error(`tokenizer worker (${this.spec.file}): ${err.message}`)));
    w.on('exit', (code) => fail(new Error(`tokenizer worker (${this.spec.file}) exited with code ${code}`)));
    w.unref();
    return w;
  }

  /** Sequences (specials included) of each text, content cut to `room` tokens. */
  encode(texts: string[], room: number | undefined): Promise<Int32Array[]> {
    const w = (this.worker ??= this.start());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ id, texts, room });
    });
  }

  /** Stop the worker (pending batches are rejected). */
  close(): void {
    const w = this.worker;
    this.worker = undefined;
    if (w) void w.terminate();
  }
}
