#!/usr/bin/env python
"""
The seed's recipe through Hugging Face Trainer, for a quality comparison with `npx radbert-native train`.

    PY=$(bash scripts/pyref-venv.sh)/bin/python      # torch 2.13 CPU + transformers 5.17 (+ accelerate for Trainer)
    $PY bench/hf_train.py --dataset ../shared/datasets/roco-radiology-mini \
        --tokenizer ../shared/models/modernbert-tokenizer --init tiny --epochs 5 --lr 5e-4 --batch-size 8 --max-length 256 --seed 42
    # Part 2 -> Part 3 of the series: fine-tune an MLM folder (bench/hf_mlm.py) instead: --model /tmp/hf-mlm [--classifier-pooling cls]

Same data path as radbert-native: parquet read with pyarrow (caption, cui), the seed's split (validation = first
int(0.15 * (train + test)) rows of np.random.default_rng(42).permutation(train), i.e. HF datasets' shuffle(seed=42)),
MultiLabelBinarizer fitted on train, ModernBERT preset random init after set_seed(seed), Trainer with eval/save each epoch,
load_best_model_at_end on micro-F1, save_total_limit 3, BCEWithLogits (problem_type multi_label_classification), the
seed's compute_metrics with sklearn. Prints the same table as radbert-native and the test row of the best model.
Batch order differs from radbert-native (torch RandomSampler here, NumPy PCG64 there), so numbers agree in
distribution, not step by step; `--stream radbert` gives Trainer radbert-native's order (epoch e:
np.random.default_rng((seed << 32) + e).permutation(n)) and then, from the same checkpoint (`--model`), the two runs
agree step by step (test/trainer-run.test.ts).
"""
import argparse
import glob
import json
import os
import time
import warnings

import numpy as np
import pyarrow.parquet as pq
import torch
from sklearn.metrics import accuracy_score, hamming_loss, precision_recall_fscore_support
from sklearn.preprocessing import MultiLabelBinarizer
from transformers import AutoTokenizer, ModernBertConfig, ModernBertForSequenceClassification, Trainer, TrainingArguments, set_seed

# Same as radbert-native's presetConfig(): base/large are answerdotai's ModernBERT configs (classifier_pooling "mean",
# unlike ModernBertConfig's default "cls"); tiny/small are smaller sizes with the default cls pooling.
PRESETS = {
    "tiny": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=192),
    "small": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=6, intermediate_size=576),
    "base": dict(classifier_pooling="mean"),
    "large": dict(hidden_size=1024, num_hidden_layers=28, num_attention_heads=16, intermediate_size=2624, classifier_pooling="mean"),
}
COLUMNS = ["Training Loss", "Epoch", "Step", "Validation Loss", "Precision Micro", "Recall Micro", "F1", "Precision Macro",
           "Recall Macro", "F1 Macro", "Exact Match", "Hamming Loss", "Label Accuracy"]
KEYS = ["precision_micro", "recall_micro", "f1", "precision_macro", "recall_macro", "f1_macro", "exact_match", "hamming_loss", "label_accuracy"]


def read_split(folder, split, text_col, label_col):
    files = sorted(glob.glob(os.path.join(folder, "data", f"{split}-*.parquet")) or glob.glob(os.path.join(folder, f"{split}-*.parquet")))
    rows = []
    for f in files:
        rows += pq.read_table(f, columns=[text_col, label_col]).to_pylist()
    return [(r[text_col], list(r[label_col] or [])) for r in rows]


def seed_data(dataset, text_col, label_col):
    """The seed's split (15 % validation from train.shuffle(seed=42)) and MultiLabelBinarizer fitted on train."""
    train_all = read_split(dataset, "train", text_col, label_col)
    test = read_split(dataset, "test", text_col, label_col)
    size = int(0.15 * (len(train_all) + len(test)))
    perm = np.random.default_rng(42).permutation(len(train_all))
    val = [train_all[i] for i in perm[:size]]
    train = [train_all[i] for i in perm[size:]]
    mlb = MultiLabelBinarizer()
    y_train = mlb.fit_transform([l for _, l in train]).astype(np.float32)
    classes = list(mlb.classes_)
    known = set(classes)
    y_val = mlb.transform([[c for c in l if c in known] for _, l in val]).astype(np.float32)
    y_test = mlb.transform([[c for c in l if c in known] for _, l in test]).astype(np.float32)
    return train, val, test, classes, y_train, y_val, y_test


def compute_metrics(eval_pred, threshold=0.5):
    """The seed's compute_metrics."""
    logits, labels = eval_pred
    probs = 1 / (1 + np.exp(-logits))
    preds = (probs > threshold).astype(int)
    labels = labels.astype(int)
    p_mi, r_mi, f_mi, _ = precision_recall_fscore_support(labels, preds, average="micro", zero_division=0)
    p_ma, r_ma, f_ma, _ = precision_recall_fscore_support(labels, preds, average="macro", zero_division=0)
    h = hamming_loss(labels, preds)
    return {"precision_micro": p_mi, "recall_micro": r_mi, "f1": f_mi, "precision_macro": p_ma, "recall_macro": r_ma,
            "f1_macro": f_ma, "exact_match": accuracy_score(labels, preds), "hamming_loss": h, "label_accuracy": 1 - h}


class Rows(torch.utils.data.Dataset):
    def __init__(self, enc, y):
        self.enc, self.y = enc, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"input_ids": self.enc["input_ids"][i], "labels": self.y[i]}


class EpochOrderSampler(torch.utils.data.Sampler):
    """radbert-native's batch order (lib/train/schedule.ts epochOrder): epoch e is np.random.default_rng((seed << 32) + e).permutation(n)."""

    def __init__(self, n, seed):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch):  # Trainer calls this before each epoch
        self.epoch = epoch

    def __len__(self):
        return self.n

    def __iter__(self):
        return iter(np.random.default_rng((self.seed << 32) + self.epoch).permutation(self.n).tolist())


class StreamTrainer(Trainer):
    """Trainer whose training batches come in radbert-native's order (EpochOrderSampler, seeded with args.seed)."""

    def _get_train_sampler(self, train_dataset=None):
        return EpochOrderSampler(len(train_dataset if train_dataset is not None else self.train_dataset), self.args.seed)


def make_collator(pad_id):
    def collate(features):
        n = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), n), pad_id, dtype=torch.long)
        mask = torch.zeros((len(features), n), dtype=torch.long)
        for i, f in enumerate(features):
            ids[i, : len(f["input_ids"])] = torch.tensor(f["input_ids"])
            mask[i, : len(f["input_ids"])] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor(np.stack([f["labels"] for f in features]), dtype=torch.float32)}
    return collate


def fmt(v):
    if isinstance(v, str):
        return v
    return str(int(v)) if float(v).is_integer() else f"{v:.6f}"


def table_row(cells, cols=COLUMNS):
    return "| " + " | ".join(fmt(c).ljust(max(len(cols[i]), 8)) for i, c in enumerate(cells)) + " |"


def table_header(cols=COLUMNS):
    return "| " + " | ".join(c.ljust(max(len(c), 8)) for c in cols) + " |\n|" + "|".join("-" * (max(len(c), 8) + 2) for c in cols) + "|"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="../shared/datasets/roco-radiology-mini")
    ap.add_argument("--tokenizer", default="../shared/models/modernbert-tokenizer")
    ap.add_argument("--init", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--model", help="fine-tune this ModernBERT folder (e.g. bench/hf_mlm.py's output) instead of --init")
    ap.add_argument("--classifier-pooling", choices=["cls", "mean"], help="override the config's classifier_pooling")
    ap.add_argument("--text-column", default="caption")
    ap.add_argument("--label-column", default="cui")
    ap.add_argument("--epochs", type=float, default=20)
    ap.add_argument("--max-steps", type=int, default=-1)
    ap.add_argument("--lr", "--learning-rate", type=float, default=5e-5)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--logging-steps", type=int, default=100)
    ap.add_argument("--output-dir", default="/tmp/hf-train-bench")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", help="write a summary JSON here")
    ap.add_argument("--save-logits", help="write the best model's validation and test logits and 0/1 labels here (.safetensors, float32: "
                    "validation.logits, validation.labels, test.logits, test.labels), for bench/thresholds.js to tune thresholds on")
    ap.add_argument("--stream", choices=["torch", "radbert"], default="torch",
                    help="batch order: Trainer's RandomSampler, or radbert-native's (numpy PCG64 per epoch) to compare step by step")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (TrainingArguments bf16=True)")
    ap.add_argument("--attn", default="sdpa", help="attn_implementation: sdpa, eager, flash_attention_2")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    warnings.filterwarnings("ignore", message=".*unknown class.*")

    train, val, test, classes, y_train, y_val, y_test = seed_data(a.dataset, a.text_column, a.label_column)
    print(f"data: train {len(train)}, validation {len(val)}, test {len(test)}; {len(classes)} labels", flush=True)

    tok = AutoTokenizer.from_pretrained(a.tokenizer)
    enc = lambda rows: tok([t for t, _ in rows], truncation=True, max_length=a.max_length)
    ds_train, ds_val, ds_test = Rows(enc(train), y_train), Rows(enc(val), y_val), Rows(enc(test), y_test)

    set_seed(a.seed)
    head = dict(num_labels=len(classes), problem_type="multi_label_classification",
                id2label={i: c for i, c in enumerate(classes)}, label2id={c: i for i, c in enumerate(classes)},
                **({"classifier_pooling": a.classifier_pooling} if a.classifier_pooling else {}))
    if a.model:
        # body (and head.dense / head.norm of an MLM folder) from the checkpoint, classifier freshly initialised after set_seed
        model = ModernBertForSequenceClassification.from_pretrained(a.model, attn_implementation=a.attn, **head)
    else:
        cfg = ModernBertConfig(**{**PRESETS[a.init], **head})
        cfg._attn_implementation = a.attn
        model = ModernBertForSequenceClassification(cfg)

    args = TrainingArguments(
        output_dir=a.output_dir, eval_strategy="epoch", save_strategy="epoch", learning_rate=a.lr,
        per_device_train_batch_size=a.batch_size, per_device_eval_batch_size=a.batch_size, num_train_epochs=a.epochs,
        max_steps=a.max_steps, weight_decay=0.0, load_best_model_at_end=True, metric_for_best_model="f1", greater_is_better=True,
        save_total_limit=3, logging_steps=a.logging_steps, seed=a.seed, report_to="none", use_cpu=a.device == "cpu", dataloader_num_workers=0,
        disable_tqdm=True, bf16=a.bf16,
    )
    trainer = (StreamTrainer if a.stream == "radbert" else Trainer)(model=model, args=args, train_dataset=ds_train, eval_dataset=ds_val, data_collator=make_collator(tok.pad_token_id),
                      compute_metrics=compute_metrics)
    t0 = time.time()
    trainer.train()
    train_s = time.time() - t0

    print(table_header())
    last_loss = "No log"
    for e in trainer.state.log_history:
        if "loss" in e:
            last_loss = e["loss"]
        if "eval_f1" in e:
            ep = e["epoch"]
            print(table_row([last_loss, str(int(ep)) if float(ep).is_integer() else str(round(ep, 4)), e["step"], e["eval_loss"]] + [e[f"eval_{k}"] for k in KEYS]))
    best = trainer.state.best_metric
    res = trainer.evaluate(ds_test, metric_key_prefix="test")
    cols = ["Split", "Loss"] + COLUMNS[4:]
    print(f"test split ({len(test)} rows), best model ({trainer.state.best_model_checkpoint}):")
    print(table_header(cols))
    print(table_row(["test", res["test_loss"]] + [res[f"test_{k}"] for k in KEYS], cols))
    print(f"best validation micro-F1 {best:.6f}; training {train_s:.1f} s ({trainer.state.global_step} steps, {trainer.state.global_step / train_s:.2f} steps/s)")
    if a.save_logits:
        from safetensors.numpy import save_file
        out = {}
        for name, ds in (("validation", ds_val), ("test", ds_test)):
            pred = trainer.predict(ds, metric_key_prefix=name)
            out[f"{name}.logits"] = np.ascontiguousarray(pred.predictions, dtype=np.float32)
            out[f"{name}.labels"] = np.ascontiguousarray(pred.label_ids, dtype=np.float32)
        save_file(out, a.save_logits, metadata={"labels": json.dumps(classes)})
        print(f"logits of the best model: {a.save_logits}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"best_metric": best, "best_checkpoint": trainer.state.best_model_checkpoint, "train_seconds": train_s, "attn_implementation": model.config._attn_implementation, "global_step": trainer.state.global_step, "log_history": trainer.state.log_history, "test": res}, f, indent=2)


if __name__ == "__main__":
    main()
