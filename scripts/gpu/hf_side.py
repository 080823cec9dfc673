"""The transformers side of scripts/gpu-check.sh (test-time/bench-time reference only; never used at run time).

python scripts/gpu/hf_side.py parity OUT --device cuda|cpu --data DIR --tokenizer DIR [--base]
    For each parity config (the shapes of test/python/make_fixtures.py, plus ModernBERT-base when --base): a seeded
    random-init ModernBertForSequenceClassification saved to OUT/<name>/model, token ids of real captions (one of 3
    tokens, some cut at the max length), and HF's results on DEVICE with sdpa: fp32 logits, bf16-autocast logits, fp32
    loss/grad norm/gradients (grads.safetensors), bf16-autocast loss/grad norm, parameters after one clipped
    torch.optim.AdamW step (params_after_step.safetensors). Written to OUT/<name>/hf.json.
python scripts/gpu/hf_side.py epoch OUT --device cuda|cpu --data DIR --tokenizer DIR --preset base [--attn sdpa]
    One epoch of the seed's recipe (the seed's 15 % validation split, batch 8, max length 256, lr 5e-5, bf16, evaluation
    and a checkpoint at the end of the epoch) through transformers.Trainer (a plain loop doing the same when accelerate
    is missing); prints {"seconds", "steps", "trainer"} as one JSON line.
python scripts/gpu/hf_side.py bench OUT --device cuda|cpu --data DIR --tokenizer DIR --preset base [--steps N]
    Training samples/s (batch 8, max length 256, bf16 autocast, fused AdamW, clipping 1.0), inference batch 64
    samples/s and batch 1 latency (bf16 autocast), peak GPU memory, a per-op profile of one training step. The model
    (random init, written once to OUT/model) is the one radbert-native is measured on. Prints one JSON line.
"""
import argparse
import glob
import json
import os
import sys
import time

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import AutoTokenizer, ModernBertConfig, ModernBertForSequenceClassification

# The parity test's configs (test/python/parity_configs.py: pure data, importable without pyarrow) and ModernBERT-base's shapes.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "python"))
from parity_configs import CONFIGS  # noqa: E402
TRAINABLE = {"awkward", "biases_mean", "all_global", "base"}  # dropouts 0: a training step is comparable
BASE = dict(classifier_pooling="mean", num_labels=32)  # ModernBertConfig defaults = answerdotai/ModernBERT-base
PRESETS = {
    "tiny": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=192),
    "small": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=6, intermediate_size=576),
    "base": dict(classifier_pooling="mean"),
}
LR = 5e-5


def captions(data, split="train"):
    """Rows {caption, cui} of a split: DATA/<split>.jsonl (written by prepare.sh: no pyarrow needed on the device),
    else the parquet files."""
    jsonl = os.path.join(data, f"{split}.jsonl")
    if os.path.exists(jsonl):
        with open(jsonl) as f:
            return [json.loads(line) for line in f if line.strip()]
    import pyarrow.parquet as pq
    rows = []
    for f in sorted(glob.glob(os.path.join(data, "data", f"{split}-*.parquet"))):
        rows += pq.read_table(f, columns=["caption", "cui"]).to_pylist()
    return rows


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def padded(ids_list, device):
    n = max(len(x) for x in ids_list)
    ids = torch.zeros((len(ids_list), n), dtype=torch.long)
    mask = torch.zeros((len(ids_list), n), dtype=torch.long)
    for i, x in enumerate(ids_list):
        ids[i, : len(x)] = torch.tensor(x)
        mask[i, : len(x)] = 1
    return ids.to(device), mask.to(device)


def autocast(device, on):
    return torch.autocast(device, dtype=torch.bfloat16, enabled=on)


def parity(a):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    tok = AutoTokenizer.from_pretrained(a.tokenizer)
    rows = captions(a.data)
    texts = ["CT"] + [r["caption"] for r in rows[:7]]
    configs = dict(CONFIGS)
    if a.base:
        configs["base"] = BASE
    for name, kw in configs.items():
        max_len = 256 if name == "base" else 200
        ids_list = [tok(t, truncation=True, max_length=max_len)["input_ids"] for t in texts]
        ids_list[0] = ids_list[0][:3]
        torch.manual_seed(0)
        cfg = ModernBertConfig(**kw, problem_type="multi_label_classification", attn_implementation="sdpa")
        model = ModernBertForSequenceClassification(cfg)
        with torch.no_grad():  # every parameter away from its init (norms not 1, biases not 0), as the CPU fixtures
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.02)
        out = os.path.join(a.out, name)
        model.save_pretrained(os.path.join(out, "model"))
        for f in ("tokenizer.json", "tokenizer_config.json"):
            src = os.path.join(a.tokenizer, f)
            if os.path.exists(src):
                with open(src, "rb") as s, open(os.path.join(out, "model", f), "wb") as d:
                    d.write(s.read())
        model.to(a.device)
        ids, mask = padded(ids_list, a.device)
        g = torch.Generator().manual_seed(1)
        targets = (torch.rand((len(ids_list), cfg.num_labels), generator=g) < 0.3).float().to(a.device)
        res = {"ids": ids_list, "targets": targets.cpu().tolist(), "trainable": name in TRAINABLE}
        model.eval()
        with torch.no_grad():
            res["logits"] = model(input_ids=ids, attention_mask=mask).logits.float().cpu().tolist()
            with autocast(a.device, True):
                res["logits_bf16"] = model(input_ids=ids, attention_mask=mask).logits.float().cpu().tolist()
        if name not in TRAINABLE:
            with open(os.path.join(out, "hf.json"), "w") as f:
                json.dump(res, f)
            continue
        model.train()
        loss_fn = torch.nn.BCEWithLogitsLoss()
        with autocast(a.device, True):
            loss16 = loss_fn(model(input_ids=ids, attention_mask=mask).logits.float(), targets)
        loss16.backward()
        res["loss_bf16"] = loss16.item()
        res["grad_norm_bf16"] = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf")).item()
        model.zero_grad(set_to_none=True)
        loss = loss_fn(model(input_ids=ids, attention_mask=mask).logits, targets)
        loss.backward()
        res["loss"] = loss.item()
        save_file({k: p.grad.detach().float().cpu().contiguous() for k, p in model.named_parameters() if p.grad is not None},
                  os.path.join(out, "grads.safetensors"))
        res["grad_norm"] = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).item()
        opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
        opt.step()
        save_file({k: p.detach().float().cpu().contiguous() for k, p in model.named_parameters()},
                  os.path.join(out, "params_after_step.safetensors"))
        with open(os.path.join(out, "hf.json"), "w") as f:
            json.dump(res, f)
        print(f"hf parity {name}: written", file=sys.stderr, flush=True)
    print(json.dumps({"configs": list(configs)}))


def peak_mb(device):
    if device != "cuda":
        return None
    return {"allocated": torch.cuda.max_memory_allocated() / 2**20, "reserved": torch.cuda.max_memory_reserved() / 2**20}


def bench(a):
    torch.backends.cuda.matmul.allow_tf32 = False
    tok = AutoTokenizer.from_pretrained(a.tokenizer)
    rows = captions(a.data)
    test = captions(a.data, "test")
    labels = sorted({c for r in rows for c in (r["cui"] or [])})
    idx = {c: i for i, c in enumerate(labels)}
    model_dir = os.path.join(a.out, "model")
    if not os.path.exists(os.path.join(model_dir, "model.safetensors")):
        torch.manual_seed(0)
        cfg = ModernBertConfig(**PRESETS[a.preset], num_labels=len(labels), problem_type="multi_label_classification",
                               id2label={i: c for i, c in enumerate(labels)}, label2id=idx)
        ModernBertForSequenceClassification(cfg).save_pretrained(model_dir)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            with open(os.path.join(a.tokenizer, f), "rb") as s, open(os.path.join(model_dir, f), "wb") as d:
                d.write(s.read())
        json.dump({"train": [r["caption"] for r in rows], "targets": [[1.0 if c in set(r["cui"] or []) else 0.0 for c in labels] for r in rows],
                   "infer": [r["caption"] for r in test]}, open(os.path.join(a.out, "inputs.json"), "w"))
    model = ModernBertForSequenceClassification.from_pretrained(model_dir, attn_implementation=a.attn).to(a.device)
    inputs = json.load(open(os.path.join(a.out, "inputs.json")))
    res = {"side": "hf", "attn_implementation": a.attn, "torch": torch.__version__,
           "device_name": torch.cuda.get_device_name() if a.device == "cuda" else "cpu"}

    def enc(texts):
        e = tok(texts, truncation=True, max_length=256, padding=True, return_tensors="pt")
        return e["input_ids"].to(a.device), e["attention_mask"].to(a.device)

    # training: batch 8, bf16 autocast, fused AdamW, clipping 1.0
    bs, warm, steps = 8, 3, a.steps
    texts, targets = inputs["train"], torch.tensor(inputs["targets"])
    opt = torch.optim.AdamW(model.parameters(), lr=LR, fused=a.device == "cuda")
    model.train()

    def step(i):
        j = (i * bs) % (len(texts) - bs)
        ids, mask = enc(texts[j:j + bs])
        with autocast(a.device, True):
            out = model(input_ids=ids, attention_mask=mask, labels=targets[j:j + bs].to(a.device))
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        model.zero_grad(set_to_none=True)
        return out.loss

    for i in range(warm):
        step(i)
    sync(a.device)
    if a.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for i in range(warm, warm + steps):
        loss = step(i)
    loss.item()
    sync(a.device)
    res["train_samples_per_s"] = steps * bs / (time.perf_counter() - t)
    res["train_peak_mb"] = peak_mb(a.device)
    # one profiled training step
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if a.device == "cuda" else [])
    with profile(activities=acts) as prof:
        step(warm + steps)
        sync(a.device)
    key = "self_cuda_time_total" if a.device == "cuda" else "self_cpu_time_total"
    try:
        res["profile"] = prof.key_averages().table(sort_by=key, row_limit=15)
    except Exception:  # older/newer torch name the device column differently
        res["profile"] = prof.key_averages().table(sort_by="self_device_time_total" if a.device == "cuda" else key, row_limit=15)
    # inference: batch 64 throughput and batch 1 latency, bf16 autocast
    model.eval()
    infer = inputs["infer"]
    if a.device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def fwd(batch):
        ids, mask = enc(batch)
        with torch.inference_mode(), autocast(a.device, True):
            return model(input_ids=ids, attention_mask=mask).logits.float().cpu()

    n64 = min(len(infer), 256)
    fwd(infer[:64])
    sync(a.device)
    t = time.perf_counter()
    for r in range(a.reps):
        for i in range(0, n64, 64):
            fwd(infer[i:i + 64])
    res["infer64_samples_per_s"] = a.reps * n64 / (time.perf_counter() - t)
    res["infer_peak_mb"] = peak_mb(a.device)
    lat = []
    for x in infer[:32]:
        t = time.perf_counter()
        fwd([x])
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    res["infer1_latency_ms"] = {"p50": lat[len(lat) // 2], "p95": lat[min(len(lat) - 1, int(0.95 * len(lat)))]}
    print(json.dumps(res))


def epoch(a):
    rows = captions(a.data)
    size = int(0.15 * (len(rows) + len(captions(a.data, "test"))))
    perm = np.random.default_rng(42).permutation(len(rows))
    val, train = [rows[i] for i in perm[:size]], [rows[i] for i in perm[size:]]
    labels = sorted({c for r in train for c in (r["cui"] or [])})
    idx = {c: i for i, c in enumerate(labels)}

    def y(rs):
        out = np.zeros((len(rs), len(labels)), dtype=np.float32)
        for i, r in enumerate(rs):
            for c in r["cui"] or []:
                if c in idx:
                    out[i, idx[c]] = 1
        return out

    tok = AutoTokenizer.from_pretrained(a.tokenizer)

    class Rows(torch.utils.data.Dataset):
        def __init__(self, rs):
            self.enc = tok([r["caption"] for r in rs], truncation=True, max_length=256)["input_ids"]
            self.y = y(rs)

        def __len__(self):
            return len(self.enc)

        def __getitem__(self, i):
            return {"input_ids": self.enc[i], "labels": self.y[i]}

    def collate(fs):
        n = max(len(f["input_ids"]) for f in fs)
        ids = torch.full((len(fs), n), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(fs), n), dtype=torch.long)
        for i, f in enumerate(fs):
            ids[i, : len(f["input_ids"])] = torch.tensor(f["input_ids"])
            mask[i, : len(f["input_ids"])] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor(np.stack([f["labels"] for f in fs]))}

    def micro_f1(p):
        pred = (p.predictions > 0).astype(np.float32)
        tp = (pred * p.label_ids).sum()
        return {"f1": float(2 * tp / max(pred.sum() + p.label_ids.sum(), 1))}

    torch.manual_seed(a.seed)
    cfg = ModernBertConfig(**PRESETS[a.preset], num_labels=len(labels), problem_type="multi_label_classification",
                           id2label={i: c for i, c in enumerate(labels)}, label2id=idx)
    cfg._attn_implementation = a.attn
    model = ModernBertForSequenceClassification(cfg)
    ds_train, ds_val = Rows(train), Rows(val)
    t0 = time.perf_counter()
    try:
        from transformers import Trainer, TrainingArguments
        import accelerate  # noqa: F401  (Trainer needs it)
        args = TrainingArguments(output_dir=os.path.join(a.out, "trainer"), eval_strategy="epoch", save_strategy="epoch",
                                 learning_rate=LR, per_device_train_batch_size=8, per_device_eval_batch_size=8,
                                 num_train_epochs=1, max_steps=a.max_steps, weight_decay=0.0, save_total_limit=1, seed=a.seed, report_to="none",
                                 use_cpu=a.device == "cpu", dataloader_num_workers=0, disable_tqdm=True, bf16=True,
                                 logging_steps=100)
        tr = Trainer(model=model, args=args, train_dataset=ds_train, eval_dataset=ds_val, data_collator=collate,
                     compute_metrics=micro_f1)
        tr.train()
        res = {"trainer": "transformers.Trainer", "steps": tr.state.global_step}
    except ImportError as e:
        model.to(a.device).train()
        opt = torch.optim.AdamW(model.parameters(), lr=LR, fused=a.device == "cuda")
        dl = torch.utils.data.DataLoader(ds_train, batch_size=8, shuffle=True, collate_fn=collate)
        steps = 0
        for b in dl:
            b = {k: v.to(a.device) for k, v in b.items()}
            with autocast(a.device, True):
                loss = model(**b).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            model.zero_grad(set_to_none=True)
            steps += 1
            if steps == a.max_steps:
                break
        model.eval()
        with torch.no_grad(), autocast(a.device, True):
            for b in torch.utils.data.DataLoader(ds_val, batch_size=8, collate_fn=collate):
                model(**{k: v.to(a.device) for k, v in b.items()})
        model.save_pretrained(os.path.join(a.out, "plain-loop"))
        res = {"trainer": f"plain loop ({e})", "steps": steps}
    sync(a.device)
    res["seconds"] = time.perf_counter() - t0
    res["attn_implementation"] = a.attn
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["parity", "bench", "epoch"])
    ap.add_argument("out")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--data", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--base", action="store_true")
    ap.add_argument("--preset", default="base")
    ap.add_argument("--attn", default="sdpa")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--max-steps", type=int, default=-1, help="epoch mode: stop after N steps (rehearsals)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    {"parity": parity, "bench": bench, "epoch": epoch}[a.mode](a)


if __name__ == "__main__":
    main()
