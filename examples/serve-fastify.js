'use strict';
// Your own HTTP app around predict(): a fastify server with POST /tag.
//
//   RADBERT_MODEL=./ModernRadBERT-cui-classifier PORT=3000 node examples/serve-fastify.js
//   curl -s localhost:3000/tag -H 'content-type: application/json' -d '{"text": "CT of the chest showing pneumothorax"}'
//   # → {"labels":["C…",…],"probabilities":{"C…":0.97,…}}       ({"texts": [...]} → a list of those)
//
// predict() loads the model once (the folder or Hub id in RADBERT_MODEL) and merges concurrent requests into shared
// forwards. Without RADBERT_MODEL the example first saves a tiny classifier with random weights (its labels are
// meaningless; it needs ModernBERT's tokenizer, see example-data.js), so it runs anywhere.
// It stops cleanly on SIGTERM or Ctrl-C: in-flight requests are answered, then the model is freed. For the
// ready-made server with Hugging Face's routes, use `npx radbert-native serve` (docs/serving.md).
const os = require('node:os');
const path = require('node:path');
const fastify = require('fastify');
const { predict, unloadAll, createClassifier, classifierConfig, presetConfig } = require('radbert-native');
const { tokenizerDir } = require('./example-data');

/** The model folder: $RADBERT_MODEL, else a tiny random classifier saved for this example. */
async function modelDir() {
  if (process.env.RADBERT_MODEL) return process.env.RADBERT_MODEL;
  const dir = path.join(os.tmpdir(), 'radbert-example-classifier');
  const cfg = classifierConfig({ ...presetConfig('tiny'), max_position_embeddings: 512 }, ['C0040405', 'C0024485', 'C0817096', 'C0032326']);
  const clf = await createClassifier(cfg, { tokenizer: tokenizerDir(), seed: 1 });
  await clf.save(dir);
  clf.close();
  return dir;
}

async function main() {
  const model = await modelDir();
  await predict('warm-up', { model }); // load before listening, so the first request is not slow

  const app = fastify({ logger: false });
  app.post('/tag', {
    schema: {
      body: {
        type: 'object',
        properties: { text: { type: 'string', minLength: 1 }, texts: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 64 } },
        oneOf: [{ required: ['text'] }, { required: ['texts'] }],
      },
    },
    handler: async (req) => (req.body.text !== undefined ? predict(req.body.text, { model }) : predict(req.body.texts, { model })),
  });
  app.get('/health', async () => ({ status: 'ok' }));

  const url = await app.listen({ host: process.env.HOST || '127.0.0.1', port: Number(process.env.PORT ?? 3000) });
  console.log(`listening on ${url}`);

  const stop = async () => {
    await app.close(); // stops accepting, answers what is in flight
    await unloadAll(); // frees the models predict() loaded
    console.log('stopped');
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
