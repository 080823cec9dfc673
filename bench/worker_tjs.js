'use strict';
// One side of `npm run bench`: transformers.js (@huggingface/transformers, ONNX Runtime in Node, CPU) on the model
// folder's onnx/model.onnx (bench/export_onnx.py), loaded as a local model. The work timed is what clf.logits() does:
// AutoTokenizer (padding to the batch's longest text, truncation at max_length) + AutoModelForSequenceClassification's
// forward → logits. Not the text-classification pipeline, whose softmax/top-k post-processing ours does not do here.
// usage: node bench/worker_tjs.js '<json args>' → JSON on stdout (the protocol of worker_ours.js; modes startup,
// logits, infer; fp32 only)
const tStart = process.hrtime.bigint();
const args = JSON.parse(process.argv[2]);
const fs = require('fs');
const path = require('path');
const { peakRssMb, inferBench, logitsRows, runWorker } = require('./worker_util.js');

runWorker(async () => {
  if (args.bf16) throw new Error('worker_tjs.js: fp32 only (ONNX Runtime on CPU has no bf16 kernels for this model)');
  const { env, AutoTokenizer, AutoModelForSequenceClassification } = require('@huggingface/transformers');
  const dir = path.resolve(args.model);
  if (!fs.existsSync(path.join(dir, 'onnx', 'model.onnx'))) throw new Error(`${dir}/onnx/model.onnx is missing: run bench/export_onnx.py ${dir}`);
  env.allowRemoteModels = false; // a local folder only: never the Hub
  env.allowLocalModels = true;
  env.localModelPath = path.dirname(dir) + path.sep;
  const id = path.basename(dir);
  const maxLength = args.max_length ?? 256;
  const tokenizer = await AutoTokenizer.from_pretrained(id);
  const model = await AutoModelForSequenceClassification.from_pretrained(id, {
    dtype: 'fp32',
    device: 'cpu',
    session_options: { intraOpNumThreads: args.threads, interOpNumThreads: 1 },
  });
  const logits = async (texts) => {
    const enc = tokenizer(texts, { padding: true, truncation: true, max_length: maxLength });
    return (await model(enc)).logits;
  };
  const rows = async (texts) => {
    const out = await logits(texts);
    const k = out.dims[1];
    return texts.map((_, i) => out.data.subarray(i * k, (i + 1) * k));
  };
  const inputs = JSON.parse(fs.readFileSync(args.inputs, 'utf8'));
  const result = { side: 'tjs', onnxruntime: require('onnxruntime-node/package.json').version, transformers_js: env.version };
  if (args.mode === 'startup') {
    await logits(['CT of Chest with pneumothorax']);
    result.startup_s = Number(process.hrtime.bigint() - tStart) / 1e9;
  } else if (args.mode === 'logits') {
    Object.assign(result, await logitsRows(rows, args.texts));
  } else if (args.mode === 'infer') {
    Object.assign(result, await inferBench(logits, inputs.infer, args));
  } else throw new Error(`worker_tjs.js: mode ${args.mode} is not measured for transformers.js`);
  result.peak_rss_mb = peakRssMb();
  await model.dispose();
  return result;
});
