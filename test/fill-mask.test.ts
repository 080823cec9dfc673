/**
 * loadMaskedLM().fillMask against transformers' pipeline("fill-mask") itself, on a ModernBertForMaskedLM folder that
 * transformers wrote (test/python/make_mlm_fixtures.py) and on one we trained and saved (trainMlm): the same top-k
 * tokens in the same order, scores within 1e-5, token_str and sequence strings identical (one mask and two masks).
 * Also: embed() on the masked LM and on a classifier equals the native pooled states; the saved MLM folder's config.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadMaskedLM, type FillMaskCandidate } from '../lib/model/masked-lm';
import { trainMlm } from '../lib/train/mlm';
import { readJsonFile } from '../lib/files';
import { readTexts } from '../lib/data/mlm-corpus';
import { describeNative, ensureMlmFixtures } from './helpers/fixtures';
import { runPythonJson } from './helpers/python';
import { MINI, REPO, TOKENIZER } from './helpers/paths';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-fill-mask-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const TEXTS = [
  'CT of the [MASK] shows a mass.',
  'Axial MRI of the brain showing a [MASK] lesion in the left frontal lobe.',
  'Chest [MASK] demonstrating a right [MASK] effusion.',
  '[MASK]',
];

type Out = FillMaskCandidate[] | FillMaskCandidate[][];

function hfFillMask(dir: string, texts: string[], topK: number): Out[] {
  return runPythonJson<Out[]>(
    `
import json, sys
from transformers import pipeline
a = json.load(sys.stdin)
p = pipeline("fill-mask", model=a["dir"], device="cpu")
print(json.dumps([p(t, top_k=a["k"]) for t in a["texts"]]))
`,
    { dir, texts, k: topK },
  );
}

function compare(ours: Out, hf: Out): void {
  expect(Array.isArray(ours[0])).toBe(Array.isArray(hf[0]));
  const o = (Array.isArray(ours[0]) ? ours : [ours]) as FillMaskCandidate[][];
  const h = (Array.isArray(hf[0]) ? hf : [hf]) as FillMaskCandidate[][];
  expect(o.length).toBe(h.length);
  o.forEach((cands, m) => {
    expect(cands.map((c) => c.token)).toEqual(h[m].map((c) => c.token));
    expect(cands.map((c) => c.token_str)).toEqual(h[m].map((c) => c.token_str));
    expect(cands.map((c) => c.sequence)).toEqual(h[m].map((c) => c.sequence));
    cands.forEach((c, i) => expect(Math.abs(c.score - h[m][i].score)).toBeLessThanOrEqual(1e-5));
  });
}

async function checkAgainstHF(dir: string, topK = 5): Promise<void> {
  const hf = hfFillMask(dir, TEXTS, topK);
  const lm = await loadMaskedLM(dir, { device: 'cpu' });
  try {
    for (let i = 0; i < TEXTS.length; i++) compare(await lm.fillMask(TEXTS[i], { topK }), hf[i]);
  } finally {
    lm.close();
  }
}

describeNative()('fill-mask vs transformers pipeline("fill-mask")', () => {
  test('on a ModernBertForMaskedLM folder transformers wrote', async () => {
    await checkAgainstHF(path.join(ensureMlmFixtures(), 'mlm', 'model'));
  });

  test('on a masked LM we trained and saved (trainMlm); its config is a ModernBertForMaskedLM with a tied decoder', async () => {
    const out = path.join(tmp, 'mlm');
    const texts = (await readTexts(MINI)).rows.slice(0, 40).map((r) => r.text);
    const r = await trainMlm({ texts, tokenizer: TOKENIZER, init: 'tiny', maxLength: 48, maxSteps: 3, batchSize: 8, learningRate: 1e-3, validationSplit: 0.2, outputDir: out, quiet: true, threads: 2 });
    expect(r.globalStep).toBe(3);
    const cfg = readJsonFile<Record<string, unknown>>(path.join(out, 'config.json'));
    expect(cfg.architectures).toEqual(['ModernBertForMaskedLM']);
    expect(cfg.id2label).toBeUndefined();
    expect(fs.existsSync(path.join(out, 'tokenizer.json'))).toBe(true);
    const hf = runPythonJson<{ tied: boolean; keys: string[] }>(
      `
import json, sys
from transformers import AutoModelForMaskedLM
from safetensors import safe_open
d = json.load(sys.stdin)
m = AutoModelForMaskedLM.from_pretrained(d)
with safe_open(d + "/model.safetensors", "pt") as f: keys = list(f.keys())
print(json.dumps({"tied": m.decoder.weight.data_ptr() == m.model.embeddings.tok_embeddings.weight.data_ptr(), "keys": [k for k in keys if k.startswith("decoder")]}))
`,
      out,
    );
    expect(hf.tied).toBe(true);
    expect(hf.keys).toContain('decoder.bias');
    await checkAgainstHF(out, 7);
  });

  test('bad input: no mask token, bad topK, a classifier folder', async () => {
    const lm = await loadMaskedLM(path.join(ensureMlmFixtures(), 'mlm', 'model'), { device: 'cpu' });
    try {
      await expect(lm.fillMask('no mask here')).rejects.toThrow(/no mask token/);
      await expect(lm.fillMask('a [MASK]', { topK: 0 })).rejects.toThrow(/topK/);
    } finally {
      lm.close();
    }
    await expect(loadMaskedLM(path.join(ensureMlmFixtures(), 'cls', 'model'))).rejects.toThrow(/ModernBertForMaskedLM/);
  });

  test('a config.json that disagrees with the weights is refused before allocation, naming the file and key (as load())', async () => {
    const dir = path.join(tmp, 'mlm-sizes');
    fs.cpSync(path.join(ensureMlmFixtures(), 'mlm', 'model'), dir, { recursive: true });
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), vocab_size: 4000000 }));
    const rss = process.memoryUsage().rss;
    const err = await loadMaskedLM(dir).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toMatch(/key "vocab_size" is 4000000 but .*model\.safetensors: tensor "model\.embeddings\.tok_embeddings\.weight" has shape/);
    expect(err?.message).toContain(file);
    expect(process.memoryUsage().rss - rss).toBeLessThan(200 * 2 ** 20); // 4e6 x hidden floats were never allocated
  });
});
