/**
 * Many optimizer steps against transformers itself: what one-step parity cannot show (Adam's moments and step count
 * across steps, the linear learning-rate decay applied per step, clipping every step, gradients cleared between steps,
 * the tied decoder updated through the embeddings). Ten masked-LM steps on real captions, each batch masked once by
 * DataCollatorForLanguageModeling (numpy path, seeded), from the same HF-written checkpoint, lr 1e-3 decaying linearly
 * to 0 as Trainer's get_linear_schedule_with_warmup, clip_grad_norm_ 1.0, torch.optim.AdamW(fused=True), no decay
 * (Trainer's optimizer with weight_decay 0). Per step: loss and pre-clip grad norm; at the end: every parameter.
 *
 * Bounds: fp32 differences of 1e-7 can grow over the steps (an Adam update moves a weight by about lr whatever its
 * gradient's size), so the parameter bound is ten times one step's: loss and pre-clip grad norm ≤ 1e-5 relative at
 * every step, final parameters ≤ 1e-5 absolute (the ten updates moved weights by up to 5.5e-3). Observed here:
 * 9.0e-8, 8.9e-8 and 6.2e-7.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native } from '../lib/native';
import { readConfigFile, toNativeConfig } from '../lib/model/config';
import { describeNative, ensureMlmFixtures, maxTensorDiff } from './helpers/fixtures';
import { MINI } from './helpers/paths';
import { runPythonJson } from './helpers/python';

const STEPS = 10;
const LR = 1e-3;

interface Trajectory {
  batches: Array<{ ids: number[]; cu: number[]; labels: number[] }>;
  lrs: number[];
  losses: number[];
  norms: number[];
  moved: number;
}

describeNative()('ten masked-LM training steps vs transformers + torch.optim.AdamW', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-trajectory-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('loss and grad norm at every step, and every parameter at the end', async () => {
    const folder = path.join(ensureMlmFixtures(), 'mlm', 'model');
    const after = path.join(tmp, 'hf-after.safetensors');
    const hf = runPythonJson<Trajectory>(
      `
import json, sys, numpy as np, pyarrow.parquet as pq, torch
from safetensors.torch import save_file
from transformers import AutoTokenizer, DataCollatorForLanguageModeling, ModernBertForMaskedLM, get_linear_schedule_with_warmup
a = json.load(sys.stdin)
torch.manual_seed(0)
tok = AutoTokenizer.from_pretrained(a["folder"])
caps = pq.read_table(a["data"], columns=["caption"]).column("caption").to_pylist()[:a["steps"] * 4]
rows = [tok(c, truncation=True, max_length=64)["input_ids"] for c in caps]
model = ModernBertForMaskedLM.from_pretrained(a["folder"], attn_implementation="sdpa")
before = {k: p.detach().clone() for k, p in model.named_parameters()}
model.train()
opt = torch.optim.AdamW(model.parameters(), lr=a["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, fused=True)
sched = get_linear_schedule_with_warmup(opt, 0, a["steps"])
coll = DataCollatorForLanguageModeling(tok, mlm=True, mlm_probability=0.3, return_tensors="np")
out = {"batches": [], "lrs": [], "losses": [], "norms": []}
for s in range(a["steps"]):
    chunk = rows[s * 4:(s + 1) * 4]
    coll.generator = np.random.default_rng([7, s])
    b = coll([{"input_ids": r} for r in chunk])
    ids = [b["input_ids"][i, :len(r)].tolist() for i, r in enumerate(chunk)]
    labels = [b["labels"][i, :len(r)].tolist() for i, r in enumerate(chunk)]
    L = max(len(r) for r in chunk)
    inp = torch.full((len(chunk), L), tok.pad_token_id); lab = torch.full((len(chunk), L), -100); mask = torch.zeros((len(chunk), L), dtype=torch.long)
    for i, (x, y) in enumerate(zip(ids, labels)):
        inp[i, :len(x)] = torch.tensor(x); lab[i, :len(y)] = torch.tensor(y); mask[i, :len(x)] = 1
    out["lrs"].append(sched.get_last_lr()[0])
    loss = model(input_ids=inp, attention_mask=mask, labels=lab).loss
    loss.backward()
    out["norms"].append(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).item())
    opt.step(); sched.step(); opt.zero_grad(set_to_none=True)
    out["losses"].append(loss.item())
    cu = [0]
    for x in ids: cu.append(cu[-1] + len(x))
    out["batches"].append({"ids": sum(ids, []), "cu": cu, "labels": sum(labels, [])})
out["moved"] = max((p.detach() - before[k]).abs().max().item() for k, p in model.named_parameters())
save_file({k: p.detach().contiguous() for k, p in model.named_parameters()}, a["after"])
print(json.dumps(out))
`,
      { folder, data: path.join(MINI, 'data', 'train-00000-of-00001.parquet'), steps: STEPS, lr: LR, after },
    );
    const model = await native().createModel(toNativeConfig(readConfigFile(path.join(folder, 'config.json'))), { device: 'cpu', seed: 0, init: false });
    try {
      expect((await model.loadWeights([path.join(folder, 'model.safetensors')])).missing).toEqual([]);
      const losses: number[] = [];
      const norms: number[] = [];
      for (let s = 0; s < STEPS; s++) {
        const b = hf.batches[s];
        expect(hf.lrs[s]).toBeCloseTo(LR * (1 - s / STEPS), 12); // the schedule both sides follow
        const r = await model.trainStep(Int32Array.from(b.ids), Int32Array.from(b.cu), Int32Array.from(b.labels), { lr: LR * (1 - s / STEPS), maxGradNorm: 1 });
        losses.push(r.loss);
        norms.push(r.gradNorm);
      }
      const ours = path.join(tmp, 'ours-after.safetensors');
      await model.saveWeights(ours);
      const { diff: worst, key } = maxTensorDiff(ours, after);
      const rel = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i]) / Math.abs(b[i])));
      console.log(
        `trajectory: ${STEPS} steps, losses ${hf.losses[0].toFixed(4)} → ${hf.losses[STEPS - 1].toFixed(4)} (HF); worst loss rel ${rel(losses, hf.losses).toExponential(2)}, ` +
          `grad norm rel ${rel(norms, hf.norms).toExponential(2)}; final params max |Δ| ${worst.toExponential(2)} (${key}), HF moved them by up to ${hf.moved.toExponential(2)}`,
      );
      expect(Math.min(...hf.norms)).toBeGreaterThan(1); // clipping active at every step
      expect(hf.moved).toBeGreaterThan(5e-3);
      expect(rel(losses, hf.losses)).toBeLessThanOrEqual(1e-5);
      expect(rel(norms, hf.norms)).toBeLessThanOrEqual(1e-5);
      expect(worst).toBeLessThanOrEqual(1e-5);
    } finally {
      model.free();
    }
  });
});
