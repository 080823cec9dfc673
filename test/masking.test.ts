/**
 * The MLM masking collator against transformers' DataCollatorForLanguageModeling (5.17) in the reference venv, on the
 * real roco-radiology-mini train captions and the real ModernBERT tokenizer:
 *  - bit-exact with HF's numpy path (return_tensors='np', generator = np.random.default_rng([seed, step])), every batch;
 *  - the same statistics as HF's torch path (the one the HF Trainer uses, global torch RNG) over > 100k tokens:
 *    selection rate and the [MASK] / random / kept shares agree within 5 standard errors of the difference of two
 *    binomial proportions, and each is within 5 binomial standard errors of its nominal rate;
 *  - special tokens never selected by either, labels -100 exactly off the selected positions, deterministic per (seed, step).
 */
import * as fs from 'node:fs';
import { readRows } from '../lib/data/readers';
import { loadTokenizer, packBatch, type PackedBatch } from '../lib/model/tokenize';
import { IGNORE_INDEX, MlmMasker, maskingRng, maskingVocab, maskingOptions, type MaskedBatch } from '../lib/data/masking';
import { runPythonJson } from './helpers/python';
import { MINI, TOKENIZER } from './helpers/paths';

const HAVE_DATA = fs.existsSync(MINI) && fs.existsSync(TOKENIZER);
const d = HAVE_DATA ? describe : describe.skip;

const SEED = 42;
const BATCH = 32;
const PASSES = 2; // 2 x ~58k content tokens of the 1978 train captions
const Z = 5; // bound: 5 standard errors

/** Counts over a run: eligible (non-special) tokens and what happened to the selected ones. */
interface Counts {
  eligible: number;
  selected: number;
  masked: number;
  random: number;
  kept: number;
  specialSelected: number;
  labelErrors: number;
}

/** Our counts of one masked batch against the original ids. */
function countBatch(orig: Int32Array, out: MaskedBatch, special: Set<number>, maskId: number, c: Counts): void {
  for (let i = 0; i < orig.length; i++) {
    const isSpecial = special.has(orig[i]);
    if (!isSpecial) c.eligible++;
    const sel = out.labels[i] !== IGNORE_INDEX;
    if (!sel) {
      if (out.ids[i] !== orig[i]) c.labelErrors++; // changed but carries no label
      continue;
    }
    if (out.labels[i] !== orig[i]) c.labelErrors++;
    c.selected++;
    if (isSpecial) c.specialSelected++;
    if (out.ids[i] === maskId) c.masked++;
    else if (out.ids[i] === orig[i]) c.kept++;
    else c.random++;
  }
}

const HF_SCRIPT = String.raw`
import json, sys, numpy as np, torch
from transformers import AutoTokenizer, DataCollatorForLanguageModeling
inp = json.load(sys.stdin)
tok = AutoTokenizer.from_pretrained(inp['tokenizer'])
ids = [tok(t)['input_ids'] for t in inp['texts']]
if ids != inp['ids']:
    bad = next(i for i, (a, b) in enumerate(zip(ids, inp['ids'])) if a != b)
    raise SystemExit(f'tokenization differs at caption {bad}: {ids[bad]} vs {inp["ids"][bad]}')
bs, passes, seed = inp['batch'], inp['passes'], inp['seed']
nb = (len(ids) + bs - 1) // bs
special = set(tok.all_special_ids)
vocab = dict(mask_id=tok.mask_token_id, special_ids=sorted(special), vocab_size=len(tok))
np_coll = DataCollatorForLanguageModeling(tok, mlm_probability=inp['p'], return_tensors='np')
pt_coll = DataCollatorForLanguageModeling(tok, mlm_probability=inp['p'], return_tensors='pt')
torch.manual_seed(seed)
exact = []
c = dict(eligible=0, selected=0, masked=0, random=0, kept=0, specialSelected=0, labelErrors=0)
for e in range(passes):
    for b in range(nb):
        step = e * nb + b
        ex = ids[b * bs:(b + 1) * bs]
        np_coll.generator = np.random.default_rng([seed, step])
        out = np_coll([list(x) for x in ex])
        exact.append(dict(ids=[int(v) for r, x in zip(out['input_ids'], ex) for v in r[:len(x)]],
                          labels=[int(v) for r, x in zip(out['labels'], ex) for v in r[:len(x)]]))
        out = pt_coll([list(x) for x in ex])
        for r_in, r_lab, x in zip(out['input_ids'].tolist(), out['labels'].tolist(), ex):
            for i, o in enumerate(x):
                s = o in special
                c['eligible'] += not s
                if r_lab[i] == -100:
                    c['labelErrors'] += r_in[i] != o
                    continue
                c['labelErrors'] += r_lab[i] != o
                c['selected'] += 1
                c['specialSelected'] += s
                if r_in[i] == tok.mask_token_id: c['masked'] += 1
                elif r_in[i] == o: c['kept'] += 1
                else: c['random'] += 1
print(json.dumps(dict(vocab=vocab, exact=exact, torch=c)))
`;

interface HfResult {
  vocab: { mask_id: number; special_ids: number[]; vocab_size: number };
  exact: { ids: number[]; labels: number[] }[];
  torch: Counts;
}

/** |a - b| for two binomial proportions, and 5 standard errors of their difference (pooled). */
function twoSample(x1: number, n1: number, x2: number, n2: number): { diff: number; bound: number } {
  const p = (x1 + x2) / (n1 + n2);
  return { diff: Math.abs(x1 / n1 - x2 / n2), bound: Z * Math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2)) };
}

/** |x/n - p| and 5 binomial standard errors around the nominal p. */
function oneSample(x: number, n: number, p: number): { diff: number; bound: number } {
  return { diff: Math.abs(x / n - p), bound: Z * Math.sqrt((p * (1 - p)) / n) };
}

d('MLM masking vs transformers DataCollatorForLanguageModeling', () => {
  let batches: PackedBatch[] = [];
  let hf: HfResult;
  const vocab = HAVE_DATA ? maskingVocab(TOKENIZER) : { maskId: 0, specialIds: [], vocabSize: 1 };
  const masker = new MlmMasker(vocab, { mlmProbability: 0.3 });
  const special = new Set(vocab.specialIds);
  const ours: Counts = { eligible: 0, selected: 0, masked: 0, random: 0, kept: 0, specialSelected: 0, labelErrors: 0 };
  const outs: MaskedBatch[] = [];

  beforeAll(async () => {
    const texts = (await readRows(MINI)).splits.train.map((r) => r.text);
    const tok = loadTokenizer(TOKENIZER);
    const ids = tok.encodeBatch(texts);
    for (let b = 0; b * BATCH < ids.length; b++) batches.push(packBatch(ids.slice(b * BATCH, (b + 1) * BATCH)));
    hf = runPythonJson<HfResult>(HF_SCRIPT, { tokenizer: TOKENIZER, texts, ids, batch: BATCH, passes: PASSES, seed: SEED, p: 0.3 });
    for (let e = 0; e < PASSES; e++) {
      batches.forEach((batch, b) => {
        const out = masker.maskStep(batch, SEED, e * batches.length + b);
        outs.push(out);
        countBatch(batch.ids, out, special, vocab.maskId, ours);
      });
    }
    batches = [...batches, ...batches];
  });

  test('maskingVocab reads what transformers sees: mask_token_id, all_special_ids, len(tokenizer)', () => {
    expect(vocab.maskId).toBe(hf.vocab.mask_id);
    expect([...vocab.specialIds]).toEqual(hf.vocab.special_ids);
    expect(vocab.vocabSize).toBe(hf.vocab.vocab_size);
  });

  test('bit-exact with the numpy path given default_rng([seed, step]), every batch', () => {
    expect(outs.length).toBe(hf.exact.length);
    let diffs = 0;
    let first = '';
    outs.forEach((o, s) => {
      const ref = hf.exact[s];
      for (let i = 0; i < o.ids.length; i++) {
        if (o.ids[i] !== ref.ids[i] || o.labels[i] !== ref.labels[i]) {
          if (!diffs) first = `step ${s} token ${i}: ours id ${o.ids[i]} label ${o.labels[i]}, HF id ${ref.ids[i]} label ${ref.labels[i]}`;
          diffs++;
        }
      }
      expect(o.ids.length).toBe(ref.ids.length);
    });
    expect(first).toBe('');
    expect(diffs).toBe(0);
  });

  test('over > 100k tokens: the rates of HF torch path and ours agree within 5 SE, and with the nominal rates', () => {
    const t = hf.torch;
    expect(ours.eligible).toBeGreaterThan(100_000);
    expect(t.eligible).toBe(ours.eligible);
    const rows: [string, number, number, number, number, number][] = [
      // name, our count, our n, HF count, HF n, nominal
      ['selected', ours.selected, ours.eligible, t.selected, t.eligible, 0.3],
      ['[MASK]', ours.masked, ours.selected, t.masked, t.selected, 0.8],
      // a random draw may hit the original id (p = 1/50368): it then counts as kept, so random is ~0.1 - 2e-6
      ['random', ours.random, ours.selected, t.random, t.selected, 0.1],
      ['kept', ours.kept, ours.selected, t.kept, t.selected, 0.1],
    ];
    const report = rows.map(([name, x1, n1, x2, n2, p]) => {
      const vsHf = twoSample(x1, n1, x2, n2);
      const vsNominal = [oneSample(x1, n1, p), oneSample(x2, n2, p)];
      return { name, ours: x1 / n1, hf: x2 / n2, ...vsHf, nominalOk: vsNominal.every((v) => v.diff <= v.bound) };
    });
    for (const r of report) {
      expect({ name: r.name, withinHf: r.diff <= r.bound, nominalOk: r.nominalOk }).toEqual({ name: r.name, withinHf: true, nominalOk: true });
    }
    // eslint-disable-next-line no-console
    console.log(report.map((r) => `${r.name}: ours ${r.ours.toFixed(4)} HF ${r.hf.toFixed(4)} |diff| ${r.diff.toFixed(4)} <= ${r.bound.toFixed(4)}`).join('\n'));
  });

  test('special tokens are never selected, labels are -100 exactly off the selected positions (ours and HF)', () => {
    expect(ours.specialSelected).toBe(0);
    expect(hf.torch.specialSelected).toBe(0);
    expect(ours.labelErrors).toBe(0);
    expect(hf.torch.labelErrors).toBe(0);
    for (const o of outs.slice(0, 20)) {
      const selected = [...o.labels.keys()].filter((i) => o.labels[i] !== IGNORE_INDEX);
      expect([...o.positions]).toEqual(selected);
      expect([...o.targets]).toEqual(selected.map((i) => o.labels[i]));
    }
  });

  test('deterministic for a seed and step; steps and seeds differ; the input is left alone', () => {
    const batch = batches[3];
    const before = Int32Array.from(batch.ids);
    const a = masker.maskStep(batch, 7, 11);
    const b = masker.maskStep(batch, 7, 11);
    expect(a.ids).toEqual(b.ids);
    expect(a.labels).toEqual(b.labels);
    expect(masker.maskStep(batch, 7, 12).labels).not.toEqual(a.labels);
    expect(masker.maskStep(batch, 8, 11).labels).not.toEqual(a.labels);
    expect(batch.ids).toEqual(before);
  });
});

describe('masking options and edge cases', () => {
  const vocab = { maskId: 4, specialIds: [0, 1, 2, 3, 4], vocabSize: 100 };
  const batch = packBatch([[1, 10, 11, 12, 13, 14, 2], [1, 20, 21, 2]]);

  test('probabilities are checked like HF __post_init__', () => {
    expect(() => maskingOptions({ mlmProbability: 1.5 })).toThrow(/mlmProbability/);
    expect(() => maskingOptions({ maskReplaceProb: 0.8, randomReplaceProb: 0.3 })).toThrow(/must not exceed 1/);
    expect(() => maskingOptions({ randomReplaceProb: -0.1 })).toThrow(/randomReplaceProb/);
    expect(maskingOptions()).toEqual({ mlmProbability: 0.3, maskReplaceProb: 0.8, randomReplaceProb: 0.1 });
    expect(() => new MlmMasker({ ...vocab, maskId: 100 })).toThrow(/maskId/);
    expect(() => maskingRng(-1, 0)).toThrow(/seed/);
    expect(() => maskingRng(1, 2 ** 32)).toThrow(/step/);
  });

  test('mlmProbability 1 with maskReplaceProb 1 masks every non-special token and nothing else', () => {
    const out = new MlmMasker(vocab, { mlmProbability: 1, maskReplaceProb: 1, randomReplaceProb: 0 }).maskStep(batch, 0, 0);
    expect([...out.ids]).toEqual([1, 4, 4, 4, 4, 4, 2, 1, 4, 4, 2]);
    expect([...out.labels]).toEqual([-100, 10, 11, 12, 13, 14, -100, -100, 20, 21, -100]);
    expect([...out.positions]).toEqual([1, 2, 3, 4, 5, 8, 9]);
  });

  test('mlmProbability 0 selects nothing', () => {
    const out = new MlmMasker(vocab, { mlmProbability: 0 }).maskStep(batch, 0, 0);
    expect([...out.ids]).toEqual([...batch.ids]);
    expect(out.positions.length).toBe(0);
  });

  test('bad cuSeqlens are refused', () => {
    const m = new MlmMasker(vocab);
    expect(() => m.mask({ ids: batch.ids, cuSeqlens: Int32Array.from([0, 5]) }, maskingRng(0, 0))).toThrow(/cuSeqlens/);
  });
});
