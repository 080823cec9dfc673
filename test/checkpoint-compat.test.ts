/**
 * Checkpoints in both directions with transformers 5.17:
 *   ours save() → transformers from_pretrained → the same logits (≤ 1e-5);
 *   transformers save_pretrained → ours: float32 (that is the parity test), bf16, f16, and sharded checkpoints;
 *   a fresh init from a config has HF's per-tensor statistics (tolerances from the sample size).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createClassifier, load } from '../lib';
import { readConfigFile } from '../lib/model/config';
import { describeNative, ensureFixtures, flat, initStats, manifest, maxAbs, maxAbsDiff, meanStd, readSafetensors, type Manifest } from './helpers/fixtures';
import { runPythonJson } from './helpers/python';

describeNative()('checkpoint compatibility with transformers', () => {
  let dir: string;
  let fx: Manifest;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-compat-'));

  beforeAll(() => {
    dir = ensureFixtures();
    fx = manifest(dir);
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** Logits of transformers' AutoModelForSequenceClassification.from_pretrained(folder) on padded ids, per folder. */
  function hfLogits(folders: string[], ids: number[][]): number[][][] {
    return runPythonJson<number[][][]>(
      `
import json, sys, torch
from transformers import AutoModelForSequenceClassification
job = json.load(sys.stdin)
ids = job["ids"]
L = max(len(x) for x in ids)
out = []
for folder in job["folders"]:
    m = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    assert next(m.parameters()).dtype == torch.float32
    inp = torch.full((len(ids), L), m.config.pad_token_id); mask = torch.zeros((len(ids), L), dtype=torch.long)
    for i, x in enumerate(ids):
        inp[i, :len(x)] = torch.tensor(x); mask[i, :len(x)] = 1
    with torch.no_grad():
        out.append(m(input_ids=inp, attention_mask=mask).logits.tolist())
print(json.dumps(out))
`,
      { folders, ids },
    );
  }

  test('save() → transformers from_pretrained → the same logits (≤ 1e-5); reloading our save is bit-identical', async () => {
    const names = ['awkward', 'biases_mean', 'all_global', 'legacy_odd'];
    const ours: number[][] = [];
    const folders: string[] = [];
    for (const name of names) {
      const clf = await load(path.join(dir, name, 'model'));
      const out = path.join(tmp, `saved-${name}`);
      await clf.save(out);
      ours.push(flat(await clf.logits(fx.batch_a)));
      clf.close();
      expect(fs.readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
      // labels survive the round trip
      expect(readConfigFile(path.join(out, 'config.json')).id2label).toEqual(readConfigFile(path.join(dir, name, 'model', 'config.json')).id2label);
      const again = await load(out);
      expect(maxAbsDiff(flat(await again.logits(fx.batch_a)), ours[ours.length - 1])).toBe(0);
      again.close();
      folders.push(out);
    }
    const theirs = hfLogits(folders, fx.batch_a);
    names.forEach((name, i) => {
      const d = maxAbsDiff(ours[i], flat(theirs[i]));
      console.log(`${name}: ours save() → HF from_pretrained: max |logit − ours| ${d.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(1e-5);
    });
  });

  test('our saved parameters are bit-identical to the HF checkpoint we loaded', async () => {
    const clf = await load(path.join(dir, 'biases_mean', 'model'));
    const out = path.join(tmp, 'weights-roundtrip.safetensors');
    await clf.model.saveWeights(out);
    clf.close();
    const ours = readSafetensors(out);
    const hf = readSafetensors(path.join(dir, 'biases_mean', 'model', 'model.safetensors'));
    // the tied decoder is not a separate tensor for a sequence classifier; everything else must match exactly
    expect([...ours.keys()].sort()).toEqual([...hf.keys()].sort());
    for (const [key, h] of hf) expect([key, maxAbsDiff(ours.get(key)!.data, h.data)]).toEqual([key, 0]);
  });

  test.each(['bf16', 'f16'])('a %s checkpoint from save_pretrained loads; logits ≤ 1e-5 vs HF float32 on the up-cast weights', async (tag) => {
    const folder = path.join(dir, `awkward_${tag}`);
    const header = fs.readFileSync(path.join(folder, 'model.safetensors'));
    expect(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString()).toContain(tag === 'bf16' ? '"BF16"' : '"F16"');
    const clf = await load(folder);
    const d = maxAbsDiff(flat(await clf.logits(fx.batch_a)), flat(fx.configs.awkward[`logits_a_${tag}` as 'logits_a_bf16']!));
    clf.close();
    console.log(`${tag} checkpoint: max |logit − HF (float32 on up-cast weights)| ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-5);
  });

  test('a sharded checkpoint (model.safetensors.index.json) gives the same logits as the single file', async () => {
    const folder = path.join(dir, 'awkward_sharded');
    const index = JSON.parse(fs.readFileSync(path.join(folder, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
    const shards = new Set(Object.values(index.weight_map));
    expect(shards.size).toBeGreaterThan(10);
    expect(fs.existsSync(path.join(folder, 'model.safetensors'))).toBe(false);
    const clf = await load(folder);
    const sharded = flat(await clf.logits(fx.batch_a));
    clf.close();
    const single = await load(path.join(dir, 'awkward', 'model'));
    const d = maxAbsDiff(sharded, flat(await single.logits(fx.batch_a)));
    single.close();
    console.log(`sharded (${shards.size} shards) vs single file: max |logit diff| ${d}`);
    expect(d).toBe(0);
  });

  test("a fresh model has HF's initialisation: per-tensor mean and std within statistical tolerance", async () => {
    const stats = initStats(dir);
    const folder = path.join(dir, 'init');
    const clf = await createClassifier(readConfigFile(path.join(folder, 'config.json')), { tokenizer: folder, seed: 1 });
    const file = path.join(tmp, 'fresh.safetensors');
    await clf.model.saveWeights(file);
    clf.close();
    const ours = readSafetensors(file);
    expect([...ours.keys()].sort()).toEqual(Object.keys(stats.tensors).sort());
    const lines: string[] = [];
    for (const [key, s] of Object.entries(stats.tensors)) {
      const t = ours.get(key)!;
      expect([key, t.shape]).toEqual([key, s.shape]);
      const e = s.expected;
      if ('const' in e) {
        // LayerNorm weights exactly 1, every bias exactly 0
        expect([key, Math.min(...t.data), Math.max(...t.data)]).toEqual([key, e.const, e.const]);
        continue;
      }
      const { mean, std } = meanStd(t.data);
      // Standard errors of n draws: mean σ/√n; std ≤ σ/√(2n) (a truncated normal is light-tailed). 5 of them.
      const tolStd = 5 / Math.sqrt(2 * s.n);
      const tolMean = (5 * e.std) / Math.sqrt(s.n);
      const big = maxAbs(t.data);
      lines.push(
        `${key}: n ${s.n}, std ${std.toPrecision(5)} (HF ${s.std.toPrecision(5)}, rule ${e.std.toPrecision(5)} = ${e.nominal_std.toPrecision(4)}·0.8796), ` +
          `mean ${mean.toExponential(2)}, max|w| ${big.toPrecision(4)} ≤ ${e.bound.toPrecision(4)}`,
      );
      expect([key, 'std vs rule', Math.abs(std / e.std - 1) <= tolStd]).toEqual([key, 'std vs rule', true]);
      expect([key, 'mean', Math.abs(mean) <= tolMean]).toEqual([key, 'mean', true]);
      // truncation at cutoff·σ_nominal (2σ): never beyond it, and with this many draws, close to it
      expect([key, 'bound', big <= e.bound * (1 + 1e-6), big >= 0.9 * e.bound]).toEqual([key, 'bound', true, true]);
      // and the same distribution as HF's own sample of it (difference of two samples: √2 more spread)
      expect([key, 'std vs HF', Math.abs(std / s.std - 1) <= Math.SQRT2 * tolStd]).toEqual([key, 'std vs HF', true]);
    }
    // HF does not zero the embedding row of the padding token (its init overwrites the whole matrix)
    const emb = ours.get('model.embeddings.tok_embeddings.weight')!;
    const hidden = emb.shape[1];
    const padRow = emb.data.subarray(stats.pad_token_id * hidden, (stats.pad_token_id + 1) * hidden);
    expect(maxAbs(padRow) > 0).toBe(stats.pad_row_max_abs > 0);
    console.log(`fresh init vs HF's rule (trunc normal, cutoff ${stats.cutoff_factor}σ):\n  ${lines.join('\n  ')}`);
  });
});
