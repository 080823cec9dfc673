'use strict';
// Fill-mask and embeddings with a masked language model.
//
//   RADBERT_MLM=answerdotai/ModernBERT-base node examples/fill-mask-embeddings.js   (a Hub id or a folder)
//   node examples/fill-mask-embeddings.js                                           (no RADBERT_MLM: see below)
//
// With RADBERT_MLM it loads that ModernBertForMaskedLM (a Hub id downloads into the Hugging Face cache). Without it,
// it first trains a tiny masked LM from scratch on 640 short captions (trainMlm, the `mlm` command's API; about half a
// minute on 2 CPU cores), so it runs anywhere; such a model knows which words fit the slot, and little more.
// Then: the top 3 fillers of a [MASK], and caption embeddings compared by cosine similarity.
// Needs ModernBERT's tokenizer when it trains: see example-data.js (RADBERT_TOKENIZER).
const os = require('node:os');
const path = require('node:path');
const { trainMlm, loadMaskedLM, embed } = require('radbert-native');
const { tokenizerDir, captions } = require('./example-data');

async function masked() {
  if (process.env.RADBERT_MLM) return process.env.RADBERT_MLM;
  const outputDir = path.join(os.tmpdir(), 'radbert-example-mlm');
  await trainMlm({
    texts: captions(640).map((r) => r.caption),
    tokenizer: tokenizerDir(),
    init: 'tiny',
    epochs: 6,
    learningRate: 3e-3,
    maxLength: 32,
    outputDir,
    overwriteOutputDir: true,
    progress: 'none',
    print: () => {},
  });
  return outputDir;
}

function cosine(a, b) {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

async function main() {
  const lm = await loadMaskedLM(await masked());
  try {
    const text = 'CT of the [MASK] showing pneumothorax';
    const candidates = await lm.fillMask(text, { topK: 3 }); // transformers' fill-mask pipeline output
    console.log(`fill-mask "${text}":`);
    for (const c of candidates) console.log(`  ${c.score.toFixed(4)}  ${JSON.stringify(c.token_str)}  ${c.sequence}`);

    const texts = ['CT of the chest showing pneumothorax', 'CT of the chest showing a cyst', 'MRI of the knee showing a fracture'];
    const vectors = await embed(lm, texts, { pooling: 'mean' }); // one Float32Array(hidden) per text
    console.log(`embeddings: ${vectors.length} × ${vectors[0].length}`);
    console.log(`  cosine(0, 1) = ${cosine(vectors[0], vectors[1]).toFixed(4)}   cosine(0, 2) = ${cosine(vectors[0], vectors[2]).toFixed(4)}`);
  } finally {
    lm.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
