/**
 * Checkpoints in both directions with transformers: ours → from_pretrained → same logits; bf16 / f16 / sharded
 * checkpoints written by save_pretrained load; a fresh init has HF's per-tensor statistics.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createClassifier, load, classifierConfig, presetConfig } from '../lib';
import { ensureFixtures, manifest, maxAbsDiff, type Manifest } from './helpers/fixtures';
import { runPythonJson } from './helpers/python';

let dir: string;
let fx: Manifest;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-compat-'));

beforeAll(() => {
  dir = ensureFixtures();
  fx = manifest(dir);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const flat = (rows: ArrayLike<number>[]) => rows.flatMap((r) => Array.from(r));

/** Logits of transformers' from_pretrained(folder) on padded ids. */
function hfLogits(folder: string, ids: number[][]): number[][] {
  return runPythonJson<number[][]>(
    `
import json, sys, torch
from transformers import AutoModelForSequenceClassification
ids = json.load(sys.stdin)
m = AutoModelForSequenceClassification.from_pretrained(${JSON.stringify(folder)}).eval()
L = max(len(x) for x in ids)
inp = torch.full((len(ids), L), m.config.pad_token_id); mask = torch.zeros((len(ids), L), dtype=torch.long)
for i, x in enumerate(ids):
    inp[i, :len(x)] = torch.tensor(x); mask[i, :len(x)] = 1
with torch.no_grad():
    print(json.dumps(m(input_ids=inp, attention_mask=mask).logits.tolist()))
`,
    ids,
  );
}

test('save() → transformers from_pretrained → the same logits (≤ 1e-5), config and labels intact', async () => {
  for (const name of ['awkward', 'biases_mean', 'legacy_odd']) {
    const clf = await load(path.join(dir, name, 'model'));
    const out = path.join(tmp, `saved-${name}`);
    await clf.save(out);
    const ours = await clf.logits(fx.batch_a);
    clf.close();
    expect(fs.readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const theirs = hfLogits(out, fx.batch_a);
    const d = maxAbsDiff(flat(ours), flat(theirs));
    console.log(`${name}: ours saved → HF from_pretrained: max |logit diff| ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-5);
    // and reloading our own save gives bit-identical results
    const again = await load(out);
    expect(maxAbsDiff(flat(await again.logits(fx.batch_a)), flat(ours))).toBe(0);
    again.close();
  }
});

test.each(['bf16', 'f16'])('a %s checkpoint from save_pretrained loads and matches HF on the up-cast weights', async (tag) => {
  const clf = await load(path.join(dir, `awkward_${tag}`));
  const d = maxAbsDiff(flat(await clf.logits(fx.batch_a)), flat(fx.configs.awkward[`logits_a_${tag}` as 'logits_a_bf16']!));
  clf.close();
  console.log(`${tag}: max |logit diff| ${d.toExponential(2)}`);
  expect(d).toBeLessThanOrEqual(1e-5);
});

test('a sharded checkpoint (model.safetensors.index.json) gives the same logits as the single file', async () => {
  const folder = path.join(dir, 'awkward_sharded');
  expect(fs.existsSync(path.join(folder, 'model.safetensors.index.json'))).toBe(true);
  const clf = await load(folder);
  const d = maxAbsDiff(flat(await clf.logits(fx.batch_a)), flat(fx.configs.awkward.logits_a));
  clf.close();
  expect(d).toBeLessThanOrEqual(1e-5);
});

test("a fresh model has HF's initialisation: per-tensor mean and std within statistical tolerance", async () => {
  const cfg = classifierConfig({ ...presetConfig('tiny'), hidden_size: 256, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 384 },
    Array.from({ length: 64 }, (_, i) => `C${String(i).padStart(7, '0')}`));
  const clf = await createClassifier(cfg, { tokenizer: path.join(dir, 'awkward', 'model'), seed: 1 });
  const out = path.join(tmp, 'fresh');
  await clf.save(out);
  clf.close();
  const stats = runPythonJson<Record<string, { n: number; ours: [number, number]; hf: [number, number] }>>(`
import json, torch
from safetensors.torch import load_file
from transformers import AutoConfig, ModernBertForSequenceClassification
cfg = AutoConfig.from_pretrained(${JSON.stringify(out)})
torch.manual_seed(0)
hf = dict(ModernBertForSequenceClassification(cfg).named_parameters())
ours = load_file(${JSON.stringify(path.join(out, 'model.safetensors'))})
print(json.dumps({k: {"n": v.numel(), "ours": [ours[k].mean().item(), ours[k].std().item() if v.numel() > 1 else 0.0],
                      "hf": [v.mean().item(), v.std().item() if v.numel() > 1 else 0.0]} for k, v in hf.items()}))
`);
  expect(Object.keys(stats).length).toBe(18); // every parameter of a 2-layer classifier
  for (const [key, s] of Object.entries(stats)) {
    const [mo, so] = s.ours;
    const [mh, sh] = s.hf;
    if (sh === 0) {
      // constants: LayerNorm weight 1 / biases 0
      expect([key, mo, so]).toEqual([key, mh, 0]);
      continue;
    }
    // standard error of the mean and of the std of n samples
    expect([key, Math.abs(mo - mh) <= (6 * sh) / Math.sqrt(s.n)]).toEqual([key, true]);
    expect([key, Math.abs(so / sh - 1) <= 6 / Math.sqrt(2 * s.n)]).toEqual([key, true]);
  }
});
