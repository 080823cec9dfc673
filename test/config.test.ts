/** config.json: transformers 4.x and 5.x keys, defaults, errors naming file and key, and what we write back. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { toNativeConfig, toHFConfigJson, stringifyConfig, presetConfig, classifierConfig, readConfigFile, labelsOf } from '../lib';
import { runPythonJson } from './helpers/python';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-config-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Write `text` to a fresh config.json in its own folder; return the file path. */
function configFile(name: string, text: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, text);
  return file;
}

test('an empty config resolves to ModernBERT-base (transformers 5.17 defaults)', () => {
  const c = toNativeConfig({});
  expect(c).toEqual({
    architecture: 'ModernBertForSequenceClassification', vocabSize: 50368, hiddenSize: 768, intermediateSize: 1152,
    numHiddenLayers: 22, numAttentionHeads: 12, globalLayers: Array.from({ length: 22 }, (_, i) => i % 3 === 0),
    localAttention: 128, globalRopeTheta: 160000, localRopeTheta: 10000, hiddenActivation: 'gelu', classifierActivation: 'gelu',
    normEps: 1e-5, normBias: false, attentionBias: false, mlpBias: false, classifierBias: false, decoderBias: true,
    embeddingDropout: 0, attentionDropout: 0, mlpDropout: 0, classifierDropout: 0, classifierPooling: 'cls',
    numLabels: 2, padTokenId: 50283, initializerRange: 0.02, initializerCutoffFactor: 2, tieWordEmbeddings: true,
  });
  expect(c.globalLayers.filter(Boolean)).toHaveLength(8); // layers 0, 3, ..., 21
});

test('4.x keys and 5.x keys describe the same model', () => {
  const legacy = { num_hidden_layers: 5, global_attn_every_n_layers: 2, global_rope_theta: 80000, local_rope_theta: 5000 };
  const modern = {
    num_hidden_layers: 5,
    layer_types: ['full_attention', 'sliding_attention', 'full_attention', 'sliding_attention', 'full_attention'],
    rope_parameters: { full_attention: { rope_theta: 80000, rope_type: 'default' }, sliding_attention: { rope_theta: 5000, rope_type: 'default' } },
  };
  expect(toNativeConfig(legacy)).toEqual(toNativeConfig(modern));
  // 5.x keys win over 4.x ones (as ModernBertConfig.__post_init__ / convert_rope_params_to_dict), thetas default per kind
  const both = { ...modern, global_attn_every_n_layers: 3, global_rope_theta: 1, local_rope_theta: 2 };
  expect(toNativeConfig(both)).toEqual(toNativeConfig(modern));
  const partial = toNativeConfig({ rope_parameters: { full_attention: { rope_type: 'default', rope_theta: 7 } }, local_rope_theta: 9 });
  expect([partial.globalRopeTheta, partial.localRopeTheta]).toEqual([7, 9]);
});

test('num_labels: id2label decides, else num_labels, else 2', () => {
  expect(toNativeConfig({ id2label: { 0: 'a', 1: 'b', 2: 'c' } }).numLabels).toBe(3);
  expect(toNativeConfig({ id2label: { 0: 'a', 1: 'b', 2: 'c' }, num_labels: 5 }).numLabels).toBe(3); // transformers only warns
  expect(toNativeConfig({ num_labels: 7 }).numLabels).toBe(7);
  expect(toNativeConfig({}).numLabels).toBe(2);
  expect(labelsOf({ id2label: { 1: 'b', 0: 'a' } })).toEqual(['a', 'b']);
});

test('architecture and model_type', () => {
  expect(toNativeConfig({ architectures: ['ModernBertForMaskedLM'] }).architecture).toBe('ModernBertForMaskedLM');
  expect(toNativeConfig({ architectures: ['ModernBertModel'], model_type: 'modernbert' }).architecture).toBe('ModernBertModel');
  expect(() => toNativeConfig({ architectures: ['BertForSequenceClassification'] }, '/m/config.json')).toThrow(
    '/m/config.json: key "architectures": unsupported architecture "BertForSequenceClassification" (supported: ModernBertForSequenceClassification, ModernBertForMaskedLM, ModernBertModel)',
  );
  expect(() => toNativeConfig({ model_type: 'bert' }, 'c.json')).toThrow('c.json: key "model_type": unsupported model_type "bert"');
});

test('errors name the file and the key', () => {
  const f = '/m/config.json';
  expect(() => toNativeConfig({ hidden_size: 'abc' }, f)).toThrow('/m/config.json: key "hidden_size": must be a positive integer, got "abc"');
  expect(() => toNativeConfig({ hidden_size: 100, num_attention_heads: 3 }, f)).toThrow('/m/config.json: key "num_attention_heads": hidden_size 100 is not a multiple of num_attention_heads 3');
  expect(() => toNativeConfig({ num_hidden_layers: 0 }, f)).toThrow('key "num_hidden_layers": must be a positive integer, got 0');
  expect(() => toNativeConfig({ norm_bias: 'no' }, f)).toThrow('key "norm_bias": must be true or false, got "no"');
  expect(() => toNativeConfig({ classifier_pooling: 'max' }, f)).toThrow('key "classifier_pooling": must be one of "cls", "mean", got "max"');
  expect(() => toNativeConfig({ mlp_dropout: 1.5 }, f)).toThrow('key "mlp_dropout": must be a probability in [0, 1), got 1.5');
  expect(() => toNativeConfig({ hidden_activation: 'swiglu' }, f)).toThrow(/key "hidden_activation": must be one of "gelu"/);
  expect(() => toNativeConfig({ rope_parameters: { full_attention: { rope_type: 'yarn', factor: 4 } } }, f)).toThrow(
    '/m/config.json: key "rope_parameters.full_attention": rope_type "yarn" is not supported',
  );
  expect(() => toNativeConfig({ rope_scaling: { type: 'linear', factor: 2 } }, f)).toThrow('key "rope_scaling": rope_type "linear" is not supported');
  expect(() => toNativeConfig({ rope_parameters: { sliding_attention: { rope_theta: -1 } } }, f)).toThrow('key "rope_parameters.sliding_attention.rope_theta": must be a positive number, got -1');
  expect(() => toNativeConfig({ id2label: { 0: 'a', 2: 'b' } }, f)).toThrow(/key "id2label": keys must be the indices 0\.\.1/);
  expect(() => toNativeConfig({ id2label: {} }, f)).toThrow('key "id2label": a sequence classifier needs at least one label');
  expect(() => toNativeConfig({ layer_types: ['full_attention'] }, f)).toThrow(/key "layer_types": must be a list of 22/);
  expect(() => toNativeConfig({ layer_types: Array(22).fill('chunked_attention') }, f)).toThrow(/key "layer_types"/);
});

test('readConfigFile: missing file, malformed JSON with the parser message, not an object', () => {
  const missing = path.join(tmp, 'nowhere', 'config.json');
  expect(() => readConfigFile(missing)).toThrow(`${missing}: not found (a Hugging Face model folder needs config.json)`);
  const bad = configFile('bad', '{"hidden_size": 96,');
  let message = '';
  try {
    JSON.parse('{"hidden_size": 96,');
  } catch (e) {
    message = (e as Error).message;
  }
  expect(() => readConfigFile(bad)).toThrow(`${bad}: malformed JSON: ${message}`);
  expect(() => readConfigFile(configFile('arr', '[1, 2]'))).toThrow(/config\.json: must hold a JSON object/);
});

test('presets: tiny/small sizes; base/large are the published ModernBERT configs', () => {
  const sizes = (n: ReturnType<typeof toNativeConfig>) => [n.hiddenSize, n.numHiddenLayers, n.numAttentionHeads, n.intermediateSize];
  expect(sizes(toNativeConfig(presetConfig('tiny')))).toEqual([128, 4, 4, 192]);
  expect(sizes(toNativeConfig(presetConfig('small')))).toEqual([384, 6, 6, 576]);
  expect(sizes(toNativeConfig(presetConfig('base')))).toEqual([768, 22, 12, 1152]);
  expect(sizes(toNativeConfig(presetConfig('large')))).toEqual([1024, 28, 16, 2624]);
  const base = toNativeConfig(presetConfig('base'));
  expect(base).toMatchObject({ architecture: 'ModernBertForMaskedLM', localAttention: 128, globalRopeTheta: 160000, localRopeTheta: 10000, classifierPooling: 'mean', vocabSize: 50368 });
  expect(presetConfig('base')).toMatchObject({ max_position_embeddings: 8192, global_attn_every_n_layers: 3, model_type: 'modernbert' });
  // a fresh object each time
  const a = presetConfig('tiny');
  (a.architectures as string[]).push('x');
  expect(presetConfig('tiny').architectures).toEqual(['ModernBertForMaskedLM']);
  expect(() => presetConfig('huge' as 'tiny')).toThrow(/unknown preset "huge"/);
});

test('classifierConfig: multi-label, id2label keys are strings "0".."n-1"', () => {
  const c = classifierConfig({ ...presetConfig('tiny'), num_labels: 9 }, ['C1', 'C2', 'C3']);
  expect(c).toMatchObject({
    architectures: ['ModernBertForSequenceClassification'], problem_type: 'multi_label_classification',
    id2label: { '0': 'C1', '1': 'C2', '2': 'C3' }, label2id: { C1: 0, C2: 1, C3: 2 }, hidden_size: 128,
  });
  expect(Object.keys(c.id2label as object)).toEqual(['0', '1', '2']);
  expect(c.num_labels).toBeUndefined();
  expect(toNativeConfig(c).numLabels).toBe(3);
});

test('toHFConfigJson: 5.x and 4.x keys that agree; non-periodic layer patterns drop the 4.x key', () => {
  const cfg = classifierConfig({ ...presetConfig('tiny'), num_hidden_layers: 7, global_attn_every_n_layers: 3 }, ['a', 'b']);
  const out = toHFConfigJson(cfg);
  expect(out).toMatchObject({ model_type: 'modernbert', dtype: 'float32', transformers_version: '5.17.0', global_attn_every_n_layers: 3, global_rope_theta: 160000, local_rope_theta: 10000 });
  expect(out.layer_types).toEqual(['full_attention', 'sliding_attention', 'sliding_attention', 'full_attention', 'sliding_attention', 'sliding_attention', 'full_attention']);
  expect(out.rope_parameters).toEqual({ full_attention: { rope_theta: 160000, rope_type: 'default' }, sliding_attention: { rope_theta: 10000, rope_type: 'default' } });
  // A 4.x reader (no layer_types / rope_parameters) sees the same model.
  const { layer_types: _l, rope_parameters: _r, ...legacyOnly } = out;
  expect(toNativeConfig(legacyOnly)).toEqual(toNativeConfig(out));
  expect(toNativeConfig(out)).toEqual(toNativeConfig(cfg));

  const odd = toHFConfigJson({ num_hidden_layers: 4, layer_types: ['full_attention', 'full_attention', 'sliding_attention', 'full_attention'] });
  expect(odd.global_attn_every_n_layers).toBeUndefined();
  expect(toNativeConfig(odd).globalLayers).toEqual([true, true, false, true]);
  const onlyFirst = toHFConfigJson({ num_hidden_layers: 3, layer_types: ['full_attention', 'sliding_attention', 'sliding_attention'] });
  expect(onlyFirst.global_attn_every_n_layers).toBe(3);
  expect(toHFConfigJson({ torch_dtype: 'bfloat16' }).torch_dtype).toBeUndefined();
  expect(toHFConfigJson({ num_labels: 4 }).num_labels).toBe(4);
});

test('a config.json written by transformers save_pretrained (ModernBertForSequenceClassification) parses to the same model', () => {
  const dir = path.join(tmp, 'hf-saved');
  const hf = runPythonJson<{ layer_types: string[]; thetas: number[]; num_labels: number; window: number; hidden: number; pooling: string }>(`
import json, torch
from transformers import ModernBertConfig, ModernBertForSequenceClassification
torch.manual_seed(0)
cfg = ModernBertConfig(vocab_size=512, hidden_size=64, intermediate_size=96, num_hidden_layers=5, num_attention_heads=4,
                       local_attention=16, global_attn_every_n_layers=2, global_rope_theta=80000.0, local_rope_theta=5000.0,
                       classifier_pooling="mean", problem_type="multi_label_classification",
                       id2label={0: "C0040405", 1: "C0024485", 2: "C0817096"}, label2id={"C0040405": 0, "C0024485": 1, "C0817096": 2},
                       pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2)
m = ModernBertForSequenceClassification(cfg)
m.save_pretrained(${JSON.stringify(dir)})
c = m.config
print(json.dumps({"layer_types": c.layer_types, "thetas": [c.rope_parameters["full_attention"]["rope_theta"], c.rope_parameters["sliding_attention"]["rope_theta"]],
                  "num_labels": c.num_labels, "window": c.local_attention, "hidden": c.hidden_size, "pooling": c.classifier_pooling}))
`);
  const file = path.join(dir, 'config.json');
  const raw = readConfigFile(file);
  expect(raw.layer_types).toBeDefined(); // really the 5.x format
  const n = toNativeConfig(raw, file);
  expect(n.globalLayers.map((g) => (g ? 'full_attention' : 'sliding_attention'))).toEqual(hf.layer_types);
  expect([n.globalRopeTheta, n.localRopeTheta]).toEqual(hf.thetas);
  expect(n).toMatchObject({ architecture: 'ModernBertForSequenceClassification', numLabels: hf.num_labels, localAttention: hf.window, hiddenSize: hf.hidden, classifierPooling: 'mean', padTokenId: 0, vocabSize: 512 });
  expect(labelsOf(raw)).toEqual(['C0040405', 'C0024485', 'C0817096']);
  // and what we write back from it describes the same model
  expect(toNativeConfig(toHFConfigJson(raw, file))).toEqual(n);
});

test('the config.json we write is what transformers reads: same layers, thetas, labels, floats as floats', () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['periodic', classifierConfig({ ...presetConfig('tiny'), num_hidden_layers: 5, local_attention: 16, global_rope_theta: 123456.0 }, ['C0040405', 'C0024485', 'C0817096'])],
    ['custom-layers', classifierConfig({ ...presetConfig('tiny'), num_hidden_layers: 4, layer_types: ['sliding_attention', 'full_attention', 'full_attention', 'sliding_attention'] }, ['A', 'B'])],
    ['large-mlm', presetConfig('large')],
  ];
  const dirs: Record<string, string> = {};
  for (const [name, cfg] of cases) {
    const dir = path.join(tmp, `ours-${name}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'config.json'), stringifyConfig(toHFConfigJson(cfg)));
    dirs[name] = dir;
  }
  expect(fs.readFileSync(path.join(dirs.periodic, 'config.json'), 'utf8')).toMatch(/"initializer_cutoff_factor": 2\.0/);
  const hf = runPythonJson<Record<string, { layer_types: string[]; thetas: number[]; id2label: Record<string, string>; num_labels: number; arch: string; window: number; pooling: string; hidden: number }>>(`
import json, sys
from transformers import AutoConfig
out = {}
for name, d in json.load(sys.stdin).items():
    c = AutoConfig.from_pretrained(d)
    out[name] = {"layer_types": c.layer_types, "thetas": [c.rope_parameters["full_attention"]["rope_theta"], c.rope_parameters["sliding_attention"]["rope_theta"]],
                 "id2label": {str(k): v for k, v in c.id2label.items()}, "num_labels": c.num_labels, "arch": c.architectures[0],
                 "window": c.sliding_window, "pooling": c.classifier_pooling, "hidden": c.hidden_size}
print(json.dumps(out))
`, dirs);
  for (const [name, cfg] of cases) {
    const n = toNativeConfig(cfg);
    const h = hf[name];
    expect(h.layer_types).toEqual(n.globalLayers.map((g) => (g ? 'full_attention' : 'sliding_attention')));
    expect(h.thetas).toEqual([n.globalRopeTheta, n.localRopeTheta]);
    expect(h.arch).toBe(n.architecture);
    expect(h.window).toBe(n.localAttention / 2);
    expect(h.pooling).toBe(n.classifierPooling);
    expect(h.hidden).toBe(n.hiddenSize);
    if (n.architecture === 'ModernBertForSequenceClassification') expect(h.num_labels).toBe(n.numLabels);
  }
  expect(hf.periodic.id2label).toEqual({ 0: 'C0040405', 1: 'C0024485', 2: 'C0817096' });
  expect(hf.periodic.thetas[0]).toBe(123456);
});
