"""Writes the benchmark's shared inputs once: a random-init ModernBertForSequenceClassification per preset (saved by
HF's save_pretrained, loaded by both sides) and the captions/targets both sides run on.
usage: python bench/make_model.py OUTDIR PRESET [PRESET...]"""
import json, os, sys
import numpy as np, pyarrow.parquet as pq, torch
from transformers import ModernBertConfig, ModernBertForSequenceClassification

PRESETS = {
    "tiny": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=192),
    "small": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=6, intermediate_size=576),
    "base": dict(),  # ModernBertConfig defaults = answerdotai/ModernBERT-base
}
here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(here, "..", "..", "shared", "datasets", "roco-radiology-mini", "data")
tok_dir = os.path.join(here, "..", "..", "shared", "models", "modernbert-tokenizer")
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
train = pq.read_table(os.path.join(data, "train-00000-of-00001.parquet"), columns=["caption", "cui"]).to_pylist()
test = pq.read_table(os.path.join(data, "test-00000-of-00001.parquet"), columns=["caption"]).to_pylist()
labels = sorted({c for r in train for c in (r["cui"] or [])})
rng = np.random.default_rng(0)
order = rng.permutation(len(train))
train_rows = [train[i] for i in order[:256]]
idx = {c: i for i, c in enumerate(labels)}
targets = [[1.0 if c in set(r["cui"] or []) else 0.0 for c in labels] for r in train_rows]
json.dump({"labels": labels, "infer": [r["caption"] for r in test[:128]], "train": [r["caption"] for r in train_rows],
           "targets": targets}, open(os.path.join(out, "inputs.json"), "w"))
for preset in sys.argv[2:]:
    d = os.path.join(out, preset)
    if os.path.exists(os.path.join(d, "model.safetensors")):
        continue
    torch.manual_seed(0)
    cfg = ModernBertConfig(**PRESETS[preset], num_labels=len(labels), problem_type="multi_label_classification",
                           id2label={i: c for i, c in enumerate(labels)}, label2id=idx)
    ModernBertForSequenceClassification(cfg).save_pretrained(d)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        with open(os.path.join(tok_dir, f), "rb") as src, open(os.path.join(d, f), "wb") as dst:
            dst.write(src.read())
print(len(labels))
