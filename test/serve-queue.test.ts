/**
 * The batching queue: budget and batch-size limits, each caller gets exactly its own rows, FIFO with round-robin
 * splitting (a huge call does not starve the others), close() semantics, back-pressure, one caller's bad input does
 * not fail its batch-mates. First on a stand-in model whose output is a known function of each sequence, then
 * through Classifier.predict() and the module-level predict() on a real HF-written model: concurrent callers get what
 * they get alone; close() with calls in flight.
 */
import * as path from 'node:path';
import { load, predict, unloadAll, type Prediction } from '../lib';
import { BatchQueue, QueueClosedError, QueueFullError, type BatchStats } from '../lib/serve/queue';
import { describeNative, ensureFixtures, manifest } from './helpers/fixtures';

/** A stand-in model: row of a sequence = [sum of ids, length]; forwards wait for release() when gated. */
class FakeModel {
  readonly numLabels = 2;
  batches: number[][] = []; // sequence lengths of each forward
  gated = false;
  private waiters: Array<() => void> = [];

  async forward(ids: Int32Array, cuSeqlens: Int32Array): Promise<Float32Array> {
    const lens: number[] = [];
    const out = new Float32Array((cuSeqlens.length - 1) * 2);
    for (let i = 0; i + 1 < cuSeqlens.length; i++) {
      const seq = ids.subarray(cuSeqlens[i], cuSeqlens[i + 1]);
      if (seq.includes(999999)) throw new Error('token id 999999 is out of range');
      lens.push(seq.length);
      out[2 * i] = seq.reduce((a, b) => a + b, 0);
      out[2 * i + 1] = seq.length;
    }
    this.batches.push(lens);
    if (this.gated) await new Promise<void>((r) => this.waiters.push(r));
    return out;
  }

  /** Let the gated forwards finish. */
  release(): void {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  /** Resolves once a forward is waiting at the gate. */
  async atGate(): Promise<void> {
    while (this.waiters.length === 0) await new Promise((r) => setTimeout(r, 1));
  }
}

const expected = (seqs: number[][]) => seqs.flatMap((s) => [s.reduce((a, b) => a + b, 0), s.length]);
const seqOf = (len: number, start: number) => Array.from({ length: len }, (_, i) => start + i);

describe('BatchQueue (stand-in model)', () => {
  test('each caller gets exactly its own rows; no forward exceeds the token budget or the batch size', async () => {
    const model = new FakeModel();
    const q = new BatchQueue(model, { maxBatchTokens: 40, maxBatchSize: 5 });
    const calls = Array.from({ length: 30 }, (_, c) => Array.from({ length: 1 + (c % 4) }, (_, j) => seqOf(3 + ((c * 7 + j * 3) % 11), c * 100 + j)));
    const results = await Promise.all(calls.map((seqs) => q.run(seqs)));
    results.forEach((r, c) => expect(Array.from(r)).toEqual(expected(calls[c])));
    for (const b of model.batches) {
      expect(b.length).toBeLessThanOrEqual(5);
      expect(b.reduce((a, x) => a + x, 0)).toBeLessThanOrEqual(40);
    }
    expect(model.batches.flat().length).toBe(calls.flat().length);
    expect(model.batches.length).toBeLessThan(calls.flat().length); // merged
  });

  test('a sequence longer than the budget still runs, alone', async () => {
    const model = new FakeModel();
    const q = new BatchQueue(model, { maxBatchTokens: 8 });
    const [a, b] = await Promise.all([q.run([seqOf(20, 1)]), q.run([seqOf(3, 5)])]);
    expect(Array.from(a)).toEqual(expected([seqOf(20, 1)]));
    expect(Array.from(b)).toEqual(expected([seqOf(3, 5)]));
    expect(model.batches).toEqual([[20], [3]]);
  });

  test('calls arriving while a forward runs are merged into the next one', async () => {
    const model = new FakeModel();
    model.gated = true;
    const q = new BatchQueue(model);
    const first = q.run([seqOf(4, 1)]);
    await model.atGate();
    const later = Array.from({ length: 10 }, (_, i) => q.run([seqOf(5, i)]));
    expect(q.waitingSequences).toBe(10);
    expect(q.waitingCalls).toBe(10);
    model.gated = false;
    model.release();
    await first;
    const rows = await Promise.all(later);
    rows.forEach((r, i) => expect(Array.from(r)).toEqual(expected([seqOf(5, i)])));
    expect(model.batches).toEqual([[4], Array(10).fill(5)]);
  });

  test('the next forward starts before the previous callers get their results (compute overlaps their JSON/HTTP work)', async () => {
    const model = new FakeModel();
    model.gated = true;
    const q = new BatchQueue(model);
    const a = q.run([seqOf(3, 1)]);
    await model.atGate();
    const b = q.run([seqOf(3, 2)]);
    let forwardsWhenAResolved = -1;
    const aDone = a.then(() => (forwardsWhenAResolved = model.batches.length));
    model.release(); // A's forward ends; B's forward (gated again) must already be running when A resolves
    await aDone;
    expect(forwardsWhenAResolved).toBe(2);
    expect(q.busy).toBe(true);
    model.gated = false;
    model.release();
    expect(Array.from(await b)).toEqual(expected([seqOf(3, 2)]));
  });

  test('single-text calls complete first in, first out; a huge call is split and does not starve later ones', async () => {
    const model = new FakeModel();
    model.gated = true;
    const q = new BatchQueue(model, { maxBatchSize: 4 });
    const order: string[] = [];
    const blocker = q.run([seqOf(2, 0)]);
    await model.atGate();
    const huge = q.run(Array.from({ length: 40 }, (_, i) => seqOf(3, i))).then((r) => (order.push('huge'), r));
    const small = ['a', 'b', 'c', 'd', 'e'].map((name, i) => q.run([seqOf(2, 50 + i)]).then((r) => (order.push(name), r)));
    model.gated = false;
    model.release();
    await blocker;
    const [hugeRows] = await Promise.all([huge, ...small]);
    expect(Array.from(hugeRows)).toEqual(expected(Array.from({ length: 40 }, (_, i) => seqOf(3, i))));
    // forward 2 = huge[0], a, b, c (round-robin in arrival order); forward 3 = huge[1], d, e, huge[2]; then huge alone
    expect(model.batches[1]).toEqual([3, 2, 2, 2]);
    expect(model.batches[2]).toEqual([3, 2, 2, 3]);
    expect(order).toEqual(['a', 'b', 'c', 'd', 'e', 'huge']);
  });

  test('maxBatchSize 1 runs one sequence per forward, strictly in arrival order', async () => {
    const model = new FakeModel();
    const q = new BatchQueue(model, { maxBatchSize: 1 });
    const order: number[] = [];
    await Promise.all(Array.from({ length: 8 }, (_, i) => q.run([seqOf(2 + i, i)]).then(() => order.push(i))));
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(model.batches).toEqual(Array.from({ length: 8 }, (_, i) => [2 + i]));
  });

  test('close() rejects the waiting calls at once, lets the running forward finish, then resolves', async () => {
    const model = new FakeModel();
    model.gated = true;
    const q = new BatchQueue(model, { maxBatchSize: 2 });
    const running = q.run([seqOf(3, 1), seqOf(3, 2)]);
    await model.atGate();
    const split = q.run([seqOf(2, 1), seqOf(2, 2), seqOf(2, 3)]);
    const waiting = q.run([seqOf(2, 9)]);
    let closed = false;
    const closing = q.close().then(() => (closed = true));
    await expect(split).rejects.toThrow(QueueClosedError);
    await expect(waiting).rejects.toThrow('the model was closed while this call was waiting for the batching queue');
    await new Promise((r) => setTimeout(r, 20));
    expect(closed).toBe(false); // the forward is still running
    model.release();
    expect(Array.from(await running)).toEqual(expected([seqOf(3, 1), seqOf(3, 2)]));
    await closing;
    expect(closed).toBe(true);
    expect(model.batches).toHaveLength(1);
    await expect(q.run([seqOf(2, 1)])).rejects.toThrow('the model was closed; load it again');
  });

  test('a full queue refuses calls with QueueFullError and a Retry-After guess', async () => {
    const model = new FakeModel();
    model.gated = true;
    const q = new BatchQueue(model, { maxQueue: 3 });
    const first = q.run([seqOf(2, 1)]);
    await model.atGate();
    const ok = q.run([seqOf(2, 2), seqOf(2, 3)]);
    const refused = q.run([seqOf(2, 4), seqOf(2, 5)]);
    await expect(refused).rejects.toThrow(QueueFullError);
    await expect(refused).rejects.toThrow('the batching queue is full (2 sequences waiting, limit 3)');
    const err = (await refused.catch((e: unknown) => e)) as QueueFullError;
    expect(err.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    const fits = q.run([seqOf(2, 6)]);
    model.gated = false;
    model.release();
    await Promise.all([first, ok, fits]);
  });

  test("one caller's failing input rejects that caller only; its batch-mates are re-run and succeed", async () => {
    const model = new FakeModel();
    model.gated = true;
    const stats: BatchStats[] = [];
    const q = new BatchQueue(model, { onBatch: (s) => stats.push(s) });
    const first = q.run([seqOf(2, 1)]);
    await model.atGate();
    const good1 = q.run([seqOf(3, 1)]);
    const bad = q.run([[5, 999999, 6]]);
    const good2 = q.run([seqOf(4, 1), seqOf(2, 8)]);
    model.gated = false;
    model.release();
    await first;
    await expect(bad).rejects.toThrow('token id 999999 is out of range');
    expect(Array.from(await good1)).toEqual(expected([seqOf(3, 1)]));
    expect(Array.from(await good2)).toEqual(expected([seqOf(4, 1), seqOf(2, 8)]));
    expect(stats.map((s) => [s.callers, s.failed])).toEqual([[1, false], [3, true], [1, false], [1, true], [1, false]]);
  });

  test('bad arguments are refused clearly', async () => {
    const q = new BatchQueue(new FakeModel());
    await expect(q.run([[1, 2], []])).rejects.toThrow('BatchQueue.run: sequence 1 is empty');
    await expect(q.run('text' as unknown as number[][])).rejects.toThrow('expected an array of token-id sequences');
    expect(Array.from(await q.run([]))).toEqual([]);
    expect(() => new BatchQueue(new FakeModel(), { maxBatchTokens: 0 })).toThrow('maxBatchTokens must be a positive integer, got 0');
    expect(() => new BatchQueue(new FakeModel(), { maxBatchSize: 2.5 })).toThrow('maxBatchSize must be a positive integer, got 2.5');
  });
});

describeNative()('Classifier.predict() through the queue, on a real model (HF-written fixture)', () => {
  let dir: string;
  let texts: string[];
  beforeAll(() => {
    dir = path.join(ensureFixtures(), 'awkward', 'model');
    const m = manifest(ensureFixtures());
    texts = [...m.texts_a, ...m.texts_b];
  });
  afterAll(() => unloadAll());

  const maxAbsP = (a: Prediction, b: Prediction) => Math.max(...Object.keys(b.probabilities).map((l) => Math.abs(a.probabilities[l] - b.probabilities[l])));

  test('concurrent predict() callers, merged into shared packed forwards, get what each gets alone (≤ 1e-6, same labels)', async () => {
    const clf = await load(dir, { maxBatchTokens: 600 });
    try {
      const solo: Prediction[] = [];
      for (const t of texts) solo.push(await clf.predict(t, { threshold: 0 })); // each alone in its forward
      const stats: BatchStats[] = [];
      clf.queue.onBatch((s) => stats.push(s));
      // 24 callers of 1-3 texts each, in a scrambled order, all at once
      const callers = Array.from({ length: 24 }, (_, c) => Array.from({ length: 1 + (c % 3) }, (_, j) => (c * 5 + j * 7) % texts.length));
      const got = await Promise.all(callers.map((idx) => clf.predict(idx.map((i) => texts[i]), { threshold: 0 })));
      let worst = 0;
      callers.forEach((idx, c) =>
        idx.forEach((i, j) => {
          worst = Math.max(worst, maxAbsP(got[c][j], solo[i]));
          const at = (p: Prediction) => p.labels.filter((l) => p.probabilities[l] > 0.5);
          expect(at(got[c][j])).toEqual(at(solo[i]));
        }),
      );
      console.log(`24 concurrent predict() calls in ${stats.length} forwards (callers per forward: ${stats.map((s) => s.callers).join(', ')}); max |Δp| vs alone ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(1e-6);
      expect(Math.max(...stats.map((s) => s.callers))).toBeGreaterThan(1); // they really were merged
      for (const s of stats) expect(s.tokens <= 600 || s.sequences === 1).toBe(true);
    } finally {
      await clf.close();
    }
  });

  test('the module-level predict() merges concurrent calls too, with the same results', async () => {
    const clf = await load(dir);
    const want = await Promise.all(texts.slice(0, 6).map((t) => clf.predict(t)));
    await clf.close();
    const got = await Promise.all(texts.slice(0, 6).map((t) => predict(t, { model: dir })));
    got.forEach((g, i) => {
      expect(g.labels).toEqual(want[i].labels);
      expect(maxAbsP(g, want[i])).toBeLessThanOrEqual(1e-6);
    });
  });

  test('close() with calls in flight: waiting calls reject clearly, the running forward completes, memory is freed after it', async () => {
    const clf = await load(dir, { maxBatchSize: 1 });
    const first = clf.predict(texts[0]);
    await new Promise((r) => setImmediate(r)); // the first forward starts
    expect(clf.queue.busy).toBe(true);
    const waiting = [clf.predict(texts[1]), clf.predict([texts[2], texts[3]])];
    const closed = clf.close();
    for (const w of waiting) await expect(w).rejects.toThrow('radbert-native: the model was closed while this call was waiting for the batching queue');
    expect((await first).labels).toEqual(expect.any(Array));
    await closed;
    expect(clf.queue.busy).toBe(false);
    await expect(clf.predict(texts[0])).rejects.toThrow('radbert-native: this Classifier was closed');
  });
});
