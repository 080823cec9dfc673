/**
 * The fuzz suite's cases: a seeded, deterministic list of malformed inputs by category (checkpoints, optimizer
 * states, configs, tokenizers, label files, datasets, native calls, CLI flags). Each case is plain data; run-case.js
 * turns it into files and calls of the public API in a child process. Plain CommonJS so children load it directly.
 */
'use strict';

/** mulberry32: a small seeded generator (the cases only need to be reproducible, not statistically strong). */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n) => Math.floor(next() * n), pick: (xs) => xs[Math.floor(next() * xs.length)] };
}

/** Values of the wrong kind, out of range, or absurd, for any JSON field. */
const BAD_VALUES = [
  '$delete', null, 'x', '', true, [], {}, [1, 2], -1, 0, 0.5, 1.5, -0.5, 1e9, 1e20, -1e9, 2 ** 31, 2 ** 32 + 1, 2 ** 53,
  Number.MAX_SAFE_INTEGER, 'NaN', '12', 3, 7, 1e-300,
];

const CONFIG_KEYS = [
  'vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'max_position_embeddings',
  'global_attn_every_n_layers', 'local_attention', 'pad_token_id', 'bos_token_id', 'eos_token_id', 'cls_token_id',
  'sep_token_id', 'norm_eps', 'global_rope_theta', 'local_rope_theta', 'classifier_pooling', 'hidden_activation',
  'architectures', 'model_type', 'id2label', 'label2id', 'num_labels', 'layer_types', 'rope_parameters', 'norm_bias',
  'attention_bias', 'mlp_bias', 'classifier_activation', 'torch_dtype', 'dtype', 'problem_type', 'tie_word_embeddings',
];

const DTYPES = ['F16', 'BF16', 'F64', 'I64', 'I32', 'I8', 'U8', 'BOOL', 'F8_E4M3', 'XX', '', 5, null, 'f32'];
const SHAPES = [[], [0], [-1, 4], [1e12], [2.5], ['a'], [1, 1, 1, 1, 1], [2 ** 32, 2 ** 32], null, 'x', [3, -3]];

/** Case generators by category: (r, i) => plain-data case. */
const GEN = {
  safetensors: (r) => {
    const op = r.pick(['truncate', 'headerLen', 'flipHeader', 'dtype', 'shape', 'offsets', 'offsets', 'nameEscape', 'dupKey', 'metadata', 'trailing', 'dropTensor', 'swapShapes', 'notJson', 'padding', 'empty']);
    return { op, a: r.next(), b: r.next(), c: r.int(1 << 30), dtype: r.pick(DTYPES), shape: r.pick(SHAPES), v: r.pick(BAD_VALUES) };
  },
  optimizer: (r) => ({ op: r.pick(['truncate', 'flipHeader', 'dtype', 'shape', 'offsets', 'stepText', 'stepNaN', 'missing', 'extra', 'modelFile']), a: r.next(), b: r.next(), c: r.int(1 << 30), dtype: r.pick(DTYPES), shape: r.pick(SHAPES) }),
  config: (r) => {
    const n = 1 + r.int(2);
    const edits = [];
    for (let k = 0; k < n; k++) edits.push([r.pick(CONFIG_KEYS), r.pick(BAD_VALUES)]);
    return { op: r.next() < 0.1 ? r.pick(['notJson', 'array', 'empty', 'truncated']) : 'edit', edits, a: r.next() };
  },
  tokenizer: (r) => ({
    op: r.pick(['vocabType', 'vocabType', 'mergesType', 'modelType', 'modelMissing', 'addedTokens', 'normalizer', 'preTokenizer', 'postProcessor', 'flip', 'truncate', 'vocabIds', 'decoder', 'configMaxLen']),
    v: r.pick(BAD_VALUES),
    a: r.next(),
    c: r.int(1 << 30),
  }),
  labels: (r) => ({ op: r.pick(['labelNames', 'labelNames', 'id2label', 'id2label', 'id2labelDup', 'id2labelGap', 'bigId2label']), v: r.pick([...BAD_VALUES, { C1: 5 }, { C1: { x: 1 } }, 'not json{']), a: r.next() }),
  datasets: (r) => ({
    op: r.pick(['jsonlLines', 'jsonlLines', 'jsonlBytes', 'csv', 'csv', 'parquetTruncate', 'parquetFlip', 'parquetFake', 'empty', 'csvBytes']),
    a: r.next(),
    c: r.int(1 << 30),
    skip: r.next() < 0.5,
    v: r.pick(BAD_VALUES),
  }),
  native: (r) => ({
    op: r.pick(['forwardIds', 'forwardIds', 'forwardCu', 'forwardCu', 'forwardCu', 'trainTargets', 'trainOptions', 'evalTargets', 'embed', 'types', 'freed']),
    a: r.next(),
    c: r.int(1 << 30),
    v: r.pick(BAD_VALUES),
  }),
  cli: (r) => {
    const flags = [];
    const n = 1 + r.int(4);
    const names = ['--threads', '--warmup-ratio', '--adam-beta1', '--adam-beta2', '--lr', '--epochs', '--batch-size', '--max-length', '--seed', '--threshold', '--max-steps', '--save-total-limit', '--device', '--init', '--split', '--unknown', '-x', '--', '--help=3', '--logging-steps', '--weight-decay', '--min-label-count', '--dataset', '--quiet'];
    for (let k = 0; k < n; k++) {
      flags.push(r.pick(names));
      if (r.next() < 0.85) flags.push(String(r.pick([...BAD_VALUES.filter((v) => v !== '$delete'), '1e400', '0x10', ' ', '--x', '-1', 'cpu', 'tiny'])));
    }
    return { command: r.pick(['train', 'predict', 'eval', 'push']), flags };
  },
};

const SIZE_KEYS = ['vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'max_position_embeddings'];

/** Cases issue 12 reports by name, run first in their category (the random ones follow). */
const TARGETED = {
  config: SIZE_KEYS.flatMap((k) => [1e9, 5e8, 1e20, -1, 0, 2 ** 31].map((v) => ({ op: 'edit', edits: [[k, v]], a: 0 }))),
  safetensors: [
    { op: 'headerLen', a: 0, b: 0, c: 0 }, // header length one byte short (ends inside the padding)
    { op: 'offsets', a: 0.5, b: 10 / 14, c: 0 }, // overlapping data_offsets
    { op: 'offsets', a: 0.5, b: 12 / 14, c: 0 }, // offsets that do not cover the data
    { op: 'trailing', a: 0, b: 0.5, c: 0 }, // file not fully covered
    { op: 'shape', a: 0.5, b: 0, c: 0, shape: [2 ** 32, 2 ** 32] }, // element count overflow
    { op: 'nameEscape', a: 0.5, b: 0, c: 0 }, // bad \u escape in a tensor name
  ],
  optimizer: [{ op: 'stepText', a: 0, b: 0, c: 0 }],
  native: [
    { op: 'forwardCu', a: 0, c: 0, v: 0 }, // cuSeqlens [0, 1e8, n]: SIGSEGV in the issue
    { op: 'forwardCu', a: 1 / 16, c: 0, v: 0 }, // [0, 10, n]: writes past the buffer in the issue
    { op: 'forwardIds', a: 4 / 13, c: 0, v: 0 }, // plain array with 0.5
    { op: 'forwardIds', a: 5 / 13, c: 0, v: 0 }, // NaN
    { op: 'forwardIds', a: 6 / 13, c: 0, v: 0 }, // 'a'
    { op: 'freed', a: 0, c: 0, v: 0 }, // forward on a freed model
  ],
  tokenizer: [{ op: 'vocabType', v: 'abc', a: 0, c: 3 }, { op: 'vocabType', v: 'abc', a: 0, c: 1 }],
  labels: [{ op: 'id2labelDup', v: null, a: 0 }],
};

/** Cases per category (>= 500 in all, targeted ones included). */
const COUNTS = { safetensors: 150, optimizer: 25, config: 150, tokenizer: 60, labels: 30, datasets: 90, native: 70, cli: 60 };

/** All cases of a category for a seed: [{ id, category, index, ...data }]. */
function casesOf(category, seed = 12) {
  const r = rng(seed * 7919 + Object.keys(COUNTS).indexOf(category) * 104729);
  const targeted = TARGETED[category] ?? [];
  return Array.from({ length: COUNTS[category] }, (_, index) => ({ id: `${category}-${index}`, category, index, ...(index < targeted.length ? targeted[index] : GEN[category](r, index)) }));
}

module.exports = { casesOf, COUNTS, rng, BAD_VALUES };
