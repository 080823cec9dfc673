/** config.json: transformers 4.x and 5.x keys, defaults, errors naming file and key, and what we write back. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { toNativeConfig, toHFConfigJson, stringifyConfig, presetConfig, classifierConfig } from '../lib';
import { runPythonJson } from './helpers/python';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-config-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('an empty config resolves to ModernBERT-base (transformers 5.17 defaults)', () => {
  const c = toNativeConfig({});
  expect(c).toMatchObject({
    architecture: 'ModernBertForSequenceClassification', vocabSize: 50368, hiddenSize: 768, intermediateSize: 1152,
    numHiddenLayers: 22, numAttentionHeads: 12, localAttention: 128, globalRopeTheta: 160000, localRopeTheta: 10000,
    classifierPooling: 'cls', numLabels: 2, padTokenId: 50283, normBias: false, tieWordEmbeddings: true,
  });
  expect(c.globalLayers.filter(Boolean)).toHaveLength(8); // layers 0, 3, ..., 21
  expect(c.globalLayers.slice(0, 4)).toEqual([true, false, false, true]);
});

test('4.x keys and 5.x keys describe the same model', () => {
  const legacy = { num_hidden_layers: 5, global_attn_every_n_layers: 2, global_rope_theta: 80000, local_rope_theta: 5000 };
  const modern = {
    num_hidden_layers: 5,
    layer_types: ['full_attention', 'sliding_attention', 'full_attention', 'sliding_attention', 'full_attention'],
    rope_parameters: { full_attention: { rope_theta: 80000, rope_type: 'default' }, sliding_attention: { rope_theta: 5000, rope_type: 'default' } },
  };
  expect(toNativeConfig(legacy)).toEqual(toNativeConfig(modern));
});

test('errors name the file and the key', () => {
  expect(() => toNativeConfig({ hidden_size: 100, num_attention_heads: 3 }, '/m/config.json')).toThrow('/m/config.json: key "num_attention_heads": hidden_size 100 is not a multiple of num_attention_heads 3');
  expect(() => toNativeConfig({ model_type: 'bert' }, 'c.json')).toThrow('c.json: key "model_type": unsupported model_type "bert"');
  expect(() => toNativeConfig({ rope_parameters: { full_attention: { rope_type: 'yarn' } } }, 'c.json')).toThrow(/rope_type "yarn" is not supported/);
  expect(() => toNativeConfig({ id2label: { 0: 'a', 2: 'b' } }, 'c.json')).toThrow(/key "id2label": keys must be the indices 0\.\.1/);
  expect(() => toNativeConfig({ layer_types: ['full_attention'] }, 'c.json')).toThrow(/key "layer_types": must be a list of 22/);
});

test('the config.json we write is what transformers reads: same layers, thetas, labels, floats as floats', () => {
  const cfg = classifierConfig({ ...presetConfig('tiny'), num_hidden_layers: 5, local_attention: 16 }, ['C0040405', 'C0024485', 'C0817096']);
  const written = toHFConfigJson(cfg);
  const file = path.join(tmp, 'config.json');
  fs.writeFileSync(file, stringifyConfig(written));
  expect(fs.readFileSync(file, 'utf8')).toMatch(/"initializer_cutoff_factor": 2\.0/);
  const hf = runPythonJson<{ layer_types: string[]; thetas: number[]; id2label: Record<string, string>; arch: string; window: number }>(`
import json
from transformers import AutoConfig
c = AutoConfig.from_pretrained(${JSON.stringify(tmp)})
print(json.dumps({"layer_types": c.layer_types, "thetas": [c.rope_parameters["full_attention"]["rope_theta"], c.rope_parameters["sliding_attention"]["rope_theta"]],
                  "id2label": {str(k): v for k, v in c.id2label.items()}, "arch": c.architectures[0], "window": c.sliding_window}))
`);
  const n = toNativeConfig(written);
  expect(hf.layer_types).toEqual(n.globalLayers.map((g) => (g ? 'full_attention' : 'sliding_attention')));
  expect(hf.thetas).toEqual([n.globalRopeTheta, n.localRopeTheta]);
  expect(hf.id2label).toEqual({ 0: 'C0040405', 1: 'C0024485', 2: 'C0817096' });
  expect(hf.arch).toBe('ModernBertForSequenceClassification');
  expect(hf.window).toBe(8);
});
