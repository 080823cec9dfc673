/**
 * Every native call runs off the event loop; calls on one model queue; a closed model fails clearly.
 */
import { createClassifier, classifierConfig, presetConfig, packBatch, type Classifier } from '../lib';
import { describeNative } from './helpers/fixtures';
import { TOKENIZER } from './helpers/paths';


describeNative()('asynchronous native calls', () => {
  let clf: Classifier;

  beforeAll(async () => {
    const cfg = classifierConfig({ ...presetConfig('small'), num_hidden_layers: 4 }, ['C0040405', 'C0024485', 'C0817096']);
    clf = await createClassifier(cfg, { tokenizer: TOKENIZER, seed: 3 });
  });
  afterAll(() => clf.close());

  function longBatch(rows: number, len: number): number[][] {
    return Array.from({ length: rows }, (_, r) => [50281, ...Array.from({ length: len - 2 }, (_, i) => 1000 + ((r * 7 + i) % 5000)), 50282]);
  }

  test('a timer keeps firing during a long forward (the event loop is free)', async () => {
    const batch = packBatch(longBatch(64, 256));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const t0 = Date.now();
    const pending = clf.model.forward(batch.ids, batch.cuSeqlens);
    const ticksAtCall = ticks;
    const out = await pending;
    clearInterval(timer);
    console.log(`forward of 64 × 256 tokens took ${Date.now() - t0} ms; the timer fired ${ticks} times meanwhile`);
    expect(ticksAtCall).toBe(0);
    expect(out.length).toBe(64 * 3);
    expect(ticks).toBeGreaterThan(3);
  });

  test('concurrent predict/logits calls on one classifier queue and give the sequential results', async () => {
    const texts = ['CT of Chest with pneumothorax', 'MRI of the brain', 'Ultrasound of the abdomen', 'Chest radiograph'];
    const sequential: Float32Array[] = [];
    for (const t of texts) sequential.push((await clf.logits([t]))[0]);
    const concurrent = await Promise.all(texts.map((t) => clf.logits([t]).then((r) => r[0])));
    const preds = await Promise.all(texts.map((t) => clf.predict(t, { threshold: 0 })));
    concurrent.forEach((row, i) => expect(Array.from(row)).toEqual(Array.from(sequential[i])));
    preds.forEach((p) => expect(p.labels).toHaveLength(3));
  });

  test('free() while a forward is in flight does not crash; later calls throw a clear error', async () => {
    const cfg = classifierConfig(presetConfig('tiny'), ['A', 'B']);
    const c = await createClassifier(cfg, { tokenizer: TOKENIZER, seed: 4 });
    const batch = packBatch(longBatch(16, 128));
    const pending = c.model.forward(batch.ids, batch.cuSeqlens);
    c.close();
    const out = await pending; // the in-flight call holds its own reference and completes
    expect(out.length).toBe(32);
    await expect(c.predict('CT')).rejects.toThrow('radbert-native: this Classifier was closed');
    expect(() => c.model).toThrow('radbert-native: this Classifier was closed');
  });
});
