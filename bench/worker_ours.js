'use strict';
// One side of `npm run bench`: radbert-native. usage: node bench/worker_ours.js '<json args>' → JSON on stdout
const tStart = process.hrtime.bigint();
const args = JSON.parse(process.argv[2]);
const fs = require('fs');
const { load, packBatch, native } = require('..');
const { peakRssMb, inferBench, trainBench, logitsRows, runWorker } = require('./worker_util.js');

runWorker(async () => {
  if (args.threads) native().setNumThreads(args.threads);
  const inputs = JSON.parse(fs.readFileSync(args.inputs, 'utf8'));
  const bf16 = args.bf16 === true;
  const clf = await load(args.model, { maxLength: args.max_length ?? 256, dtype: bf16 ? 'bfloat16' : 'float32' });
  const { torch, gemm } = native().version();
  const result = { side: 'ours', torch, gemm }; // gemm: the linear-layer backend per dtype the addon chose on this CPU
  if (args.mode === 'startup') {
    await clf.predict('CT of Chest with pneumothorax');
    result.startup_s = Number(process.hrtime.bigint() - tStart) / 1e9;
  } else if (args.mode === 'logits') {
    Object.assign(result, await logitsRows((texts) => clf.logits(texts), args.texts));
    result.lengths = clf.encode(inputs.infer).map((s) => s.length); // tokens of each caption (same tokenizer on all sides)
  } else if (args.mode === 'infer') {
    Object.assign(result, await inferBench((texts) => clf.logits(texts), inputs.infer, args));
  } else if (args.mode === 'mlm') {
    // a ModernBertForMaskedLM with HF's initialisation from the classifier's config; DataCollatorForLanguageModeling's
    // masking (bit-exact, lib/data/masking.ts) per step
    const { createMaskedLM, MlmMasker, maskingVocab } = require('..');
    const lm = await createMaskedLM(clf.config, { tokenizer: args.model, seed: 42, maxLength: args.max_length ?? 256, dtype: bf16 ? 'bfloat16' : 'float32' });
    const masker = new MlmMasker(maskingVocab(args.model), { mlmProbability: 0.3 });
    const bs = args.batch_size ?? 16;
    const texts = inputs.train;
    const stepOn = async (j) => {
      const m = masker.maskStep(packBatch(lm.encode(texts.slice(j * bs, (j + 1) * bs))), 42, j);
      await lm.model.trainStep(m.ids, m.cuSeqlens, m.labels, { lr: 5e-5, maxGradNorm: 1.0, bf16 });
    };
    Object.assign(result, await trainBench(stepOn, bs, texts.length, args));
    lm.close();
  } else if (args.mode === 'train') {
    // warm-up steps on batches 0..warmup-1, then `reps` repetitions of the same `steps` batches that follow
    const bs = args.batch_size ?? 8;
    const k = clf.labels.length;
    const texts = inputs.train;
    const stepOn = async (j) => {
      const batch = packBatch(clf.encode(texts.slice(j * bs, (j + 1) * bs)));
      const targets = Float32Array.from(inputs.targets.slice(j * bs, (j + 1) * bs).flat());
      if (targets.length !== bs * k) throw new Error('targets/labels mismatch');
      await clf.model.trainStep(batch.ids, batch.cuSeqlens, targets, { lr: 5e-5, maxGradNorm: 1.0, bf16 });
    };
    Object.assign(result, await trainBench(stepOn, bs, texts.length, args));
  }
  result.peak_rss_mb = peakRssMb();
  clf.close();
  return result;
});
