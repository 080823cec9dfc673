/**
 * Child process of the fuzz suite. `node run-case.js setup <base>` writes the good fixtures the cases garble (a tiny
 * classifier folder, its optimizer state, a small tokenizer, datasets); `node run-case.js run <base> <category>
 * <indices-json>` runs those cases one after another through the public API (dist/), printing `S <id>` before and
 * `R <id> <ok|error> <rss MB> <message>` after each. A case that kills the process leaves its `S` line unanswered.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { casesOf } = require('./cases');

const REPO = path.resolve(__dirname, '..', '..');
const dist = (m) => require(path.join(REPO, 'dist', m));
const SHARED = path.resolve(REPO, '..', 'shared');
const MINI_PARQUET = path.join(SHARED, 'datasets', 'roco-radiology-mini', 'data', 'train-00000-of-00001.parquet');
const REAL_TOKENIZER = path.join(SHARED, 'models', 'modernbert-tokenizer');
process.env.RADBERT_QUIET = '1';

// ---------- safetensors helpers ----------
function parseST(buf) {
  const n = Number(buf.readBigUInt64LE(0));
  const text = buf.subarray(8, 8 + n).toString('utf8');
  return { n, text, header: JSON.parse(text), data: buf.subarray(8 + n) };
}
function buildST(headerText, data, n) {
  const h = Buffer.from(headerText, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(n ?? h.length));
  return Buffer.concat([len, h, data]);
}
function tensorKeys(header) {
  return Object.keys(header).filter((k) => k !== '__metadata__');
}
function flip(buf, start, end, count, r) {
  const out = Buffer.from(buf);
  for (let k = 0; k < count; k++) {
    const i = start + Math.floor(r() * Math.max(1, end - start));
    if (i < out.length) out[i] = (out[i] ^ (1 + Math.floor(r() * 255))) & 0xff;
  }
  return out;
}
/** A deterministic stream from a case's numbers. */
function stream(c) {
  let s = (c.c ?? 1) >>> 0 || 1;
  return () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
}

/** Garble a safetensors file by the case's op. */
function garbleST(buf, c) {
  const r = stream(c);
  const st = parseST(buf);
  const keys = tensorKeys(st.header);
  const key = keys[Math.floor(c.a * keys.length)];
  const h = JSON.parse(st.text);
  const withHeader = () => buildST(JSON.stringify(h), st.data);
  switch (c.op) {
    case 'truncate':
      return buf.subarray(0, Math.floor(c.b < 0.5 ? c.a * Math.min(buf.length, 8 + st.n + 64) : c.a * buf.length));
    case 'headerLen': {
      const n = [st.n - 1, st.n + 1, 0, 7, 2 ** 40, buf.length, st.n - 8, c.c, 2 ** 63][Math.floor(c.b * 9)];
      const out = Buffer.from(buf);
      out.writeBigUInt64LE(BigInt(Math.max(0, Math.min(n, 2 ** 63 - 1))) & 0xffffffffffffffffn, 0);
      return out;
    }
    case 'flipHeader':
      return flip(buf, 8, 8 + st.n, 1 + Math.floor(c.b * 5), r);
    case 'dtype':
      h[key].dtype = c.dtype;
      return withHeader();
    case 'shape':
      h[key].shape = c.shape;
      return withHeader();
    case 'swapShapes': {
      const other = keys[(keys.indexOf(key) + 1) % keys.length];
      [h[key].shape, h[other].shape] = [h[other].shape, h[key].shape];
      return withHeader();
    }
    case 'offsets': {
      const [a, b] = h[key].data_offsets;
      const other = h[keys[(keys.indexOf(key) + 1) % keys.length]].data_offsets;
      const variants = [[b, a], [a, st.data.length + 4], [0, 2 ** 60], [-8, b], [a, a], [a + 0.5, b], 'x', [a], [a, b, b], [a + 1, b + 1], other, [a - 4, b - 4], [0, b - a], [a, 2 ** 53 + 2]];
      h[key].data_offsets = variants[Math.floor(c.b * variants.length)];
      return withHeader();
    }
    case 'nameEscape': {
      const bad = ['\\uZZZZ', '\\ud800', '\\u00', '\\x41', '\\', '\\u12'][Math.floor(c.b * 6)];
      const text = st.text.replace(`"${key}"`, `"${key}${bad}"`);
      return buildST(text, st.data);
    }
    case 'dupKey': {
      const entry = `"${key}":${JSON.stringify(h[key])}`;
      return buildST(st.text.replace(/^\{/, `{${entry},`), st.data);
    }
    case 'metadata':
      h.__metadata__ = c.v === '$delete' ? { format: 5 } : c.v;
      return withHeader();
    case 'trailing':
      return Buffer.concat([buf, Buffer.alloc(1 + Math.floor(c.b * 64), 7)]);
    case 'dropTensor':
      delete h[key];
      return withHeader();
    case 'notJson': {
      const out = Buffer.from(buf);
      for (let i = 8; i < 8 + st.n; i++) out[i] = Math.floor(r() * 256);
      return out;
    }
    case 'padding': {
      const t = JSON.stringify(h);
      return c.b < 0.5 ? buildST(t + '\0\0\0', st.data) : buildST(t + ' '.repeat(1 + Math.floor(c.b * 6)), st.data.subarray(1));
    }
    case 'empty':
      return Buffer.alloc(Math.floor(c.b * 8));
    default:
      throw new Error(`unknown op ${c.op}`);
  }
}

// ---------- fixtures ----------
async function setup(base) {
  const { createClassifier } = dist('model/classifier.js');
  const { classifierConfig, presetConfig } = dist('model/config.js');
  const { writeDemo } = dist('data/demo.js');
  const demo = writeDemo(path.join(base, 'demo'), { forceGeneratedTokenizer: true });
  const tokJson = JSON.parse(fs.readFileSync(path.join(demo.tokenizer, 'tokenizer.json'), 'utf8'));
  const vocab = Object.keys(tokJson.model.vocab).length;
  const config = classifierConfig({ ...presetConfig('tiny'), ...demo.configOverrides, vocab_size: Math.max(vocab, 64), hidden_size: 32, num_attention_heads: 2, intermediate_size: 48, num_hidden_layers: 2, max_position_embeddings: 128 }, ['C1', 'C2', 'C3']);
  const clf = await createClassifier(config, { tokenizer: demo.tokenizer, device: 'cpu', threads: 1 });
  await clf.save(path.join(base, 'model'));
  const ids = new Int32Array([2, 5, 6, 3, 2, 7, 3]);
  const cu = new Int32Array([0, 4, 7]);
  await clf.model.trainStep(ids, cu, new Float32Array([1, 0, 1, 0, 1, 0]), { lr: 1e-3 });
  await clf.model.saveOptimizer(path.join(base, 'optimizer.safetensors'));
  clf.close();
  fs.mkdirSync(path.join(base, 'tokenizer'), { recursive: true });
  for (const f of fs.readdirSync(demo.tokenizer)) fs.copyFileSync(path.join(demo.tokenizer, f), path.join(base, 'tokenizer', f));
  const rows = fs.readFileSync(path.join(demo.dataset, 'data', 'train.jsonl'), 'utf8').trim().split('\n').slice(0, 40);
  fs.writeFileSync(path.join(base, 'good.jsonl'), rows.join('\n') + '\n');
  const csv = ['caption,cui', ...rows.map((l) => JSON.parse(l)).map((o) => `"${o.caption.replace(/"/g, '""')}",${o.cui.join(';')}`)];
  fs.writeFileSync(path.join(base, 'good.csv'), csv.join('\n') + '\n');
  fs.writeFileSync(path.join(base, 'fixtures.json'), JSON.stringify({ vocabSize: config.vocab_size, parquet: fs.existsSync(MINI_PARQUET) ? MINI_PARQUET : null }));
}

/** A copy of the good model folder to garble. */
function modelCopy(base, scratch) {
  const dir = path.join(scratch, 'model');
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(path.join(base, 'model'))) fs.copyFileSync(path.join(base, 'model', f), path.join(dir, f));
  return dir;
}
function editJson(file, fn) {
  const v = JSON.parse(fs.readFileSync(file, 'utf8'));
  const out = fn(v) ?? v;
  fs.writeFileSync(file, typeof out === 'string' ? out : JSON.stringify(out));
}
function setKey(obj, key, v) {
  if (v === '$delete') delete obj[key];
  else obj[key] = v === 'NaN' ? NaN : v;
}

async function loadAndPredict(dir) {
  const { load } = dist('model/classifier.js');
  const clf = await load(dir, { device: 'cpu', threads: 1 });
  try {
    const p = await clf.predict(['CT of the chest', 'MRI brain'], { threshold: 0 });
    return `predicted ${p.length}`;
  } finally {
    clf.close();
  }
}

// ---------- cases ----------
const RUN = {
  async safetensors(c, base, scratch) {
    const dir = modelCopy(base, scratch);
    const file = path.join(dir, 'model.safetensors');
    fs.writeFileSync(file, garbleST(fs.readFileSync(file), c));
    return loadAndPredict(dir);
  },
  async optimizer(c, base, scratch, ctx) {
    const model = await ctx.model();
    const file = path.join(scratch, 'optimizer.safetensors');
    let buf = fs.readFileSync(path.join(base, 'optimizer.safetensors'));
    const st = parseST(buf);
    const h = JSON.parse(st.text);
    if (c.op === 'stepText' || c.op === 'stepNaN') {
      for (const k of Object.keys(h.__metadata__ ?? {})) h.__metadata__[k] = c.op === 'stepText' ? 'abc' : '1e999';
      buf = buildST(JSON.stringify(h), st.data);
    } else if (c.op === 'missing') {
      delete h[tensorKeys(h)[Math.floor(c.a * tensorKeys(h).length)]];
      buf = buildST(JSON.stringify(h), st.data);
    } else if (c.op === 'extra') {
      h['x.exp_avg'] = { dtype: 'F32', shape: [1], data_offsets: [0, 4] };
      buf = buildST(JSON.stringify(h), st.data);
    } else if (c.op === 'modelFile') buf = fs.readFileSync(path.join(base, 'model', 'model.safetensors'));
    else buf = garbleST(buf, c);
    fs.writeFileSync(file, buf);
    await model.loadOptimizer(file);
    return 'loaded';
  },
  async config(c, base, scratch) {
    const dir = modelCopy(base, scratch);
    const file = path.join(dir, 'config.json');
    if (c.op === 'notJson') fs.writeFileSync(file, '{"hidden_size": 32,');
    else if (c.op === 'array') fs.writeFileSync(file, '[1,2]');
    else if (c.op === 'empty') fs.writeFileSync(file, '');
    else if (c.op === 'truncated') fs.writeFileSync(file, fs.readFileSync(file, 'utf8').slice(0, Math.floor(c.a * 200)));
    else editJson(file, (cfg) => c.edits.forEach(([k, v]) => setKey(cfg, k, v)));
    return loadAndPredict(dir);
  },
  async tokenizer(c, base, scratch) {
    const { loadTokenizer } = dist('model/tokenize.js');
    const dir = path.join(scratch, 'tok');
    fs.mkdirSync(dir, { recursive: true });
    const src = c.c % 3 === 0 && fs.existsSync(REAL_TOKENIZER) ? REAL_TOKENIZER : path.join(base, 'tokenizer');
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) if (fs.existsSync(path.join(src, f))) fs.copyFileSync(path.join(src, f), path.join(dir, f));
    const file = path.join(dir, 'tokenizer.json');
    const v = c.v === 'NaN' ? 'NaN' : c.v;
    if (c.op === 'flip') fs.writeFileSync(file, flip(fs.readFileSync(file), 0, fs.statSync(file).size, 3, stream(c)));
    else if (c.op === 'truncate') fs.writeFileSync(file, fs.readFileSync(file).subarray(0, Math.floor(c.a * fs.statSync(file).size)));
    else if (c.op === 'configMaxLen') editJson(path.join(dir, 'tokenizer_config.json'), (t) => setKey(t, 'model_max_length', v));
    else
      editJson(file, (t) => {
        if (c.op === 'vocabType') setKey(t.model, 'vocab', v);
        else if (c.op === 'mergesType') setKey(t.model, 'merges', v);
        else if (c.op === 'modelType') setKey(t.model, 'type', v);
        else if (c.op === 'modelMissing') setKey(t, 'model', v);
        else if (c.op === 'addedTokens') setKey(t, 'added_tokens', c.a < 0.5 ? v : [{ id: v, content: v, special: true }]);
        else if (c.op === 'normalizer') setKey(t, 'normalizer', c.a < 0.5 ? v : { type: v });
        else if (c.op === 'preTokenizer') setKey(t, 'pre_tokenizer', c.a < 0.5 ? v : { type: v });
        else if (c.op === 'postProcessor') setKey(t, 'post_processor', c.a < 0.5 ? v : { type: 'TemplateProcessing', single: v });
        else if (c.op === 'decoder') setKey(t, 'decoder', { type: v });
        else if (c.op === 'vocabIds') {
          const k = Object.keys(t.model.vocab ?? {});
          if (!Array.isArray(t.model.vocab)) for (let i = 0; i < 5 && k.length; i++) t.model.vocab[k[Math.floor(c.a * k.length) + i] ?? k[0]] = v;
        }
      });
    const tok = loadTokenizer(dir);
    try {
      const ids = tok.encode('CT of the chest shows a nodule. '.repeat(1 + (c.c % 40)), 32);
      await tok.encodeBatchAsync(['MRI brain '.repeat(300)], 64);
      return `encoded ${ids.length}`;
    } finally {
      tok.close();
    }
  },
  async labels(c, base, scratch) {
    const dir = modelCopy(base, scratch);
    const names = path.join(dir, 'label_names.json');
    const cfg = path.join(dir, 'config.json');
    if (c.op === 'labelNames') fs.writeFileSync(names, typeof c.v === 'string' && c.v.startsWith('not json') ? c.v : JSON.stringify(c.v === '$delete' ? {} : c.v));
    else if (c.op === 'id2label') editJson(cfg, (x) => setKey(x, 'id2label', c.v));
    else if (c.op === 'id2labelDup') editJson(cfg, (x) => void (x.id2label = { 0: 'C1', 1: 'C1', 2: 'C3' }));
    else if (c.op === 'id2labelGap') editJson(cfg, (x) => void (x.id2label = { 0: 'C1', 2: 'C2', 5: 'C3' }));
    else if (c.op === 'bigId2label') editJson(cfg, (x) => void (x.id2label = Object.fromEntries(Array.from({ length: 1 + Math.floor(c.a * 100000) }, (_, i) => [i, `L${i}`]))));
    return loadAndPredict(dir);
  },
  async datasets(c, base, scratch) {
    const { readRows } = dist('data/readers.js');
    const fx = JSON.parse(fs.readFileSync(path.join(base, 'fixtures.json'), 'utf8'));
    const r = stream(c);
    const good = fs.readFileSync(path.join(base, 'good.jsonl'), 'utf8').trim().split('\n');
    let file;
    if (c.op === 'jsonlLines' || c.op === 'empty') {
      file = path.join(scratch, 'd.jsonl');
      const garbage = ['', '   ', '[1,2]', '"x"', '{', '{"caption": 5, "cui": ["C1"]}', '{"caption": "x", "cui": "C1"}', '{"caption": "x", "cui": [1, null]}', '{"cui": ["C1"]}', '{"caption": "x"}', 'null', `{"caption": "${'y'.repeat(100000)}", "cui": ["C1"]}`, '{"caption": "x", "cui": []}', '\u0000\u0001', '{"caption": "x", "cui": ["C1"], "caption": 3}', JSON.stringify({ caption: c.v, cui: [c.v] })];
      const lines = c.op === 'empty' ? [] : Array.from({ length: 20 }, (_, i) => (r() < 0.4 ? garbage[Math.floor(r() * garbage.length)] : good[i % good.length]));
      fs.writeFileSync(file, lines.join(r() < 0.5 ? '\n' : '\r\n'));
    } else if (c.op === 'jsonlBytes') {
      file = path.join(scratch, 'd.jsonl');
      fs.writeFileSync(file, flip(Buffer.from(good.join('\n')), 0, good.join('\n').length, 1 + Math.floor(c.a * 20), r));
    } else if (c.op === 'csv' || c.op === 'csvBytes') {
      file = path.join(scratch, 'd.csv');
      const text = fs.readFileSync(path.join(base, 'good.csv'), 'utf8');
      const variants = [text.replace('caption,cui', 'text,labels'), text + '"unclosed,C1\n', text.replace(/\n/g, ',x\n'), 'caption,cui\n' + '"a""b,C1\n'.repeat(50), '', ',,,\n,,,\n', 'caption,cui,caption\nx,C1,y\n', `caption,cui\n${'z'.repeat(200000)},C1\n`];
      fs.writeFileSync(file, c.op === 'csv' ? variants[Math.floor(c.a * variants.length)] : flip(Buffer.from(text), 0, text.length, 1 + Math.floor(c.a * 20), r));
    } else {
      file = path.join(scratch, 'd.parquet');
      if (!fx.parquet) throw new Error('no parquet fixture');
      const pq = fs.readFileSync(fx.parquet);
      if (c.op === 'parquetTruncate') fs.writeFileSync(file, pq.subarray(0, Math.floor(c.a * pq.length)));
      else if (c.op === 'parquetFlip') fs.writeFileSync(file, flip(pq, c.a < 0.5 ? pq.length - 2048 : 0, pq.length, 1 + Math.floor(c.a * 10), r));
      else fs.writeFileSync(file, Buffer.concat([Buffer.from('PAR1'), Buffer.from(Array.from({ length: 100 + Math.floor(c.a * 4000) }, () => Math.floor(r() * 256))), Buffer.from([8, 0, 0, 0]), Buffer.from('PAR1')]));
    }
    const res = await readRows(file, { skipBadRows: c.skip });
    return `rows ${Object.values(res.splits).reduce((a, s) => a + s.length, 0)}, skipped ${res.skipped.length}`;
  },
  async native(c, base, scratch, ctx) {
    const model = await ctx.model();
    const fx = JSON.parse(fs.readFileSync(path.join(base, 'fixtures.json'), 'utf8'));
    const V = fx.vocabSize;
    const v = c.v === 'NaN' ? NaN : c.v === '$delete' ? undefined : c.v;
    const i32 = (xs) => new Int32Array(xs);
    const goodIds = i32([2, 5, 6, 3, 2, 7, 3]);
    const goodCu = i32([0, 4, 7]);
    const pick = (xs) => xs[Math.floor(c.a * xs.length)];
    switch (c.op) {
      case 'forwardIds': {
        const ids = pick([i32([-1, 2, 3]), i32([V, 2, 3]), i32([2 ** 31 - 1, 0, 0]), i32([-(2 ** 31), 0, 0]), [0.5, 1, 2], [NaN, 1, 2], ['a', 1, 2], new Float32Array([1, 2, 3]), null, undefined, i32([]), new Uint8Array([1, 2, 3]), [v, v, v]]);
        return String((await model.forward(ids, i32([0, 3]))).length);
      }
      case 'forwardCu': {
        const cu = pick([i32([0, 1e8, 7]), i32([0, 10, 7]), i32([0, 6, 3]), i32([1, 7]), i32([0]), i32([]), i32([0, -1, 7]), i32([0, 3, 3, 7]), i32([0, 2 ** 31 - 1]), [0, 7], new Float64Array([0, 7]), i32([0, 7, 7]), i32([0, 8]), i32([0, 4, 7, 100]), i32([-5, 7]), null]);
        return String((await model.forward(goodIds, cu)).length);
      }
      case 'trainTargets': {
        const t = pick([new Float32Array(5), new Float32Array(7), new Float32Array([NaN, 0, 1, 0, 1, 0]), new Int32Array(6), null, [1, 0, 1, 0, 1, 0], new Float32Array(0), new Float32Array(6e6)]);
        const r = await model.trainStep(goodIds, goodCu, t, { lr: 1e-3 });
        return `loss ${r.loss}`;
      }
      case 'trainOptions': {
        const k = pick(['lr', 'beta1', 'beta2', 'eps', 'weightDecay', 'maxGradNorm', 'update', 'seed', 'bf16']);
        const opts = { lr: 1e-3 };
        opts[k] = v;
        const r = await model.trainStep(goodIds, goodCu, new Float32Array(6), pick([opts, null, undefined, 'x']));
        return `loss ${r.loss}`;
      }
      case 'evalTargets': {
        const t = pick([new Float32Array(5), new Float32Array(6).fill(NaN), new Int32Array(7).fill(-100), null]);
        const r = await model.evalLoss(goodIds, pick([goodCu, i32([0, 9, 7]), i32([0, 7])]), t);
        return `loss ${r.loss}`;
      }
      case 'embed': {
        const r = await model.embed(goodIds, pick([goodCu, i32([0, 20, 7]), i32([0, 7, 4])]), { pooling: pick(['cls', 'mean', 'max', 5, null]) });
        return String(r.length);
      }
      case 'types': {
        const args = pick([['x', 5], [], [goodIds], [goodIds, goodCu, { bf16: 'yes' }], [goodIds, goodCu, { positions: i32([0, 1]) }], [goodIds, goodCu, { positions: i32([0, 1, 2, 3, 0, 1, 200]) }], [{ length: 3 }, goodCu], [goodIds.buffer, goodCu]]);
        return String((await model.forward(...args)).length);
      }
      case 'freed': {
        const { native } = dist('native.js');
        const { toNativeConfig, readConfigFile } = dist('model/config.js');
        const m = await native().createModel(toNativeConfig(readConfigFile(path.join(base, 'model', 'config.json'))), { device: 'cpu', seed: 0, init: true });
        m.free();
        if (c.a < 0.3) m.free();
        const p = pick([() => m.forward(goodIds, goodCu), () => m.info(), () => m.saveWeights(path.join(scratch, 'x.safetensors')), () => m.trainStep(goodIds, goodCu, new Float32Array(6), { lr: 1e-3 })]);
        return String(await p());
      }
      default:
        throw new Error(`unknown op ${c.op}`);
    }
  },
  async cli(c) {
    const { parseCommand } = dist('cli/options.js');
    const specs = { train: dist('cli/train.js').TRAIN, predict: dist('cli/predict.js').PREDICT, eval: dist('cli/eval.js').EVAL, push: dist('cli/push.js').PUSH };
    const parsed = parseCommand(specs[c.command], c.flags);
    return `parsed ${Object.values(parsed.values).filter((x) => x !== undefined).length}`;
  },
};

async function run(base, category, indices) {
  const all = casesOf(category);
  const scratchRoot = path.join(base, 'scratch', String(process.pid));
  let model;
  const ctx = {
    async model() {
      if (model) return model;
      const { load } = dist('model/classifier.js');
      model = (await load(path.join(base, 'model'), { device: 'cpu', threads: 1 })).model;
      return model;
    },
  };
  const out = (line) => fs.writeSync(1, line.replace(/[\r\n\t]+/g, ' ').slice(0, 400) + '\n');
  for (const i of indices) {
    const c = all[i];
    const scratch = path.join(scratchRoot, String(i));
    fs.mkdirSync(scratch, { recursive: true });
    out(`S ${c.id}`);
    let status = 'ok';
    let msg;
    try {
      msg = await RUN[category](c, base, scratch, ctx);
    } catch (err) {
      status = 'error';
      msg = err instanceof Error ? `${err.constructor.name}: ${err.message}` : `non-Error thrown: ${String(err)}`;
      if (!(err instanceof Error)) status = 'nonerror';
    }
    fs.rmSync(scratch, { recursive: true, force: true });
    out(`R ${c.id} ${status} ${Math.round(process.memoryUsage().rss / 2 ** 20)} ${msg}`);
  }
  fs.rmSync(scratchRoot, { recursive: true, force: true });
}

const [mode, base, category, indices] = process.argv.slice(2);
(mode === 'setup' ? setup(base) : run(base, category, JSON.parse(indices))).then(
  () => process.exit(0),
  (err) => {
    fs.writeSync(2, `fuzz child failed outside a case: ${err && err.stack}\n`);
    process.exit(3);
  },
);
