#!/usr/bin/env python
"""
Part 2 of the series (domain MLM) through Hugging Face Trainer + DataCollatorForLanguageModeling, the peer of
`npx radbert-native mlm` for the series table (bench/SERIES.md).

    PY=$(bash scripts/pyref-venv.sh)/bin/python
    $PY bench/hf_mlm.py --series --tokenizer ../shared/models/modernbert-tokenizer --init tiny \
        --epochs 10 --lr 1e-3 --batch-size 32 --mlm-probability 0.3 --seed 42 --output-dir /tmp/hf-mlm --json /tmp/hf-mlm.json

Texts: `--series` builds issue 14's corpus (roco-radiology train captions minus the 345 that the seed split puts in
roco-radiology-mini's validation split, matched on image_id; same as lib/data/mlm-corpus.ts seriesCorpus), or `--texts`
reads a .txt file (one text per line, blank lines skipped) or a dataset folder/file's train split (`--text-column`).
Held-out slice: validation = the first int(validation_split * n) texts of np.random.default_rng(seed).permutation(n),
train = the rest in that order. Model: ModernBertForMaskedLM with the preset of radbert-native's `--init` (bench/hf_train.py
PRESETS) and `sparse_prediction=True` (logits at masked positions only), or `--model DIR` to continue from a checkpoint.
Trainer: AdamW, linear decay, warm-up ratio, clipping 1.0, weight decay 0, eval + save each epoch, best by eval loss.
Training batches: by default Trainer's own (RandomSampler, the collator's torch path on the global torch RNG seeded by
Trainer); `--stream radbert` gives Trainer radbert-native's exact batches instead (epoch e in the order of
np.random.default_rng((seed << 32) + e).permutation(n), training step k masked on the numpy path with
np.random.default_rng([seed, k])), so both trainers can be compared step by step (test/trainer-run.test.ts), and
`--stream-seed` changes the batches and masks alone (the split and initial weights keep --seed). Validation is masked once, batch i of
`--batch-size` texts in order with generator np.random.default_rng([seed + 1, i]) on the numpy path (what
lib/data/masking.ts MlmMasker.maskStep(batch, seed + 1, i) gives bit-exactly), so eval losses are comparable across
epochs and with radbert-native. Writes the HF folder (best model + tokenizer) and a JSON with per-epoch eval loss.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import torch
from transformers import (AutoTokenizer, DataCollatorForLanguageModeling, ModernBertConfig, ModernBertForMaskedLM, Trainer,
                          TrainingArguments, set_seed)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_train import PRESETS, StreamTrainer  # noqa: E402  (same presets as radbert-native's --init)


def read_column(source, split, columns):
    """Columns of a split of a parquet dataset folder (data/<split>-*.parquet) or of one parquet file."""
    import glob
    if os.path.isfile(source):
        files = [source]
    else:
        files = sorted(glob.glob(os.path.join(source, "data", f"{split}-*.parquet")) or glob.glob(os.path.join(source, f"{split}-*.parquet")))
    if not files:
        raise SystemExit(f"{source}: no {split}-*.parquet")
    out = {c: [] for c in columns}
    for f in files:
        t = pq.read_table(f, columns=columns).to_pydict()
        for c in columns:
            out[c] += t[c]
    return out


def read_texts(source, text_column):
    """A .txt (one text per line, blank lines skipped; invalid UTF-8 named by line) or a parquet dataset's train split."""
    if source.endswith(".txt"):
        texts = []
        with open(source, "rb") as f:
            for i, raw in enumerate(f.read().split(b"\n")):
                try:
                    line = raw.decode("utf-8").removesuffix("\r").removeprefix("\ufeff" if i == 0 else "")
                except UnicodeDecodeError:
                    raise SystemExit(f"{source} line {i + 1}: invalid UTF-8")
                if line.strip():
                    texts.append(line)
        return texts
    texts = read_column(source, "train", [text_column])[text_column]
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if bad:
        raise SystemExit(f"{source}: train rows {bad[:10]} have no {text_column}")
    return texts


def series_corpus(big, small, seed=42, fraction=0.15):
    """Issue 14's corpus: big's train captions minus small's seed-split validation rows (by image_id)."""
    b = read_column(big, "train", ["image_id", "caption"])
    s = read_column(small, "train", ["image_id"])
    n_test = len(read_column(small, "test", ["image_id"])["image_id"])
    n = len(s["image_id"])
    size = int(fraction * (n + n_test))
    held = {s["image_id"][i] for i in np.random.default_rng(seed).permutation(n)[:size]}
    texts = [c for i, c in zip(b["image_id"], b["caption"]) if i not in held]
    removed = len(b["caption"]) - len(texts)
    print(f"series corpus: {len(b['caption'])} train captions of {big}, {removed} removed (validation of {small}), {len(texts)} left", flush=True)
    return texts


class Texts(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def mask_numpy(coll, ids, generator):
    """Masks one batch of token-id lists on the collator's numpy path with `generator` (what MlmMasker.mask does);
    each item is cut back to its text's length."""
    coll.generator = generator
    out = coll([list(x) for x in ids])
    return [{"input_ids": r_in[:len(x)].tolist(), "labels": r_lab[:len(x)].tolist()} for r_in, r_lab, x in zip(out["input_ids"], out["labels"], ids)]


def fixed_masks(tok, ids, batch_size, collator_kwargs, seed):
    """Masks the validation texts once: batch i (in order) on the numpy path with default_rng([seed + 1, i])."""
    coll = DataCollatorForLanguageModeling(tok, return_tensors="np", **collator_kwargs)
    items = []
    for i in range(0, len(ids), batch_size):
        items += mask_numpy(coll, ids[i:i + batch_size], np.random.default_rng([seed + 1, i // batch_size]))
    return items


def pad_collator(pad_id):
    """Pads pre-masked items: input_ids with [PAD], labels with -100, plus the attention mask."""
    def collate(features):
        n = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), n), pad_id, dtype=torch.long)
        labels = torch.full((len(features), n), -100, dtype=torch.long)
        mask = torch.zeros((len(features), n), dtype=torch.long)
        for i, f in enumerate(features):
            k = len(f["input_ids"])
            ids[i, :k] = torch.tensor(f["input_ids"])
            labels[i, :k] = torch.tensor(f["labels"])
            mask[i, :k] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}
    return collate


class StepMaskCollator:
    """radbert-native's training masks (MlmMasker.maskStep(batch, seed, step)): training batch k of the run is masked on
    the collator's numpy path with np.random.default_rng([seed, k]); the batches arrive in step order (no workers)."""

    def __init__(self, tok, masking, seed):
        self.coll = DataCollatorForLanguageModeling(tok, return_tensors="np", **masking)
        self.pad = pad_collator(tok.pad_token_id)
        self.seed, self.step = seed, 0

    def __call__(self, features):
        items = mask_numpy(self.coll, [f["input_ids"] for f in features], np.random.default_rng([self.seed, self.step]))
        self.step += 1
        return self.pad(items)


class SplitCollator:
    """The training collator for training batches, the padding one for pre-masked eval batches (they carry labels)."""

    def __init__(self, train, eval_):
        self.train, self.eval = train, eval_

    def __call__(self, features):
        return self.eval(features) if "labels" in features[0] else self.train(features)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--series", action="store_true", help="issue 14's corpus from --big minus --small's seed validation split")
    src.add_argument("--texts", help="a .txt (one text per line) or a parquet dataset folder/file (train split)")
    ap.add_argument("--big", default="../shared/datasets/roco-radiology")
    ap.add_argument("--small", default="../shared/datasets/roco-radiology-mini")
    ap.add_argument("--text-column", default="caption")
    ap.add_argument("--max-texts", type=int, default=0, help="keep only the first N texts (smoke runs)")
    ap.add_argument("--tokenizer", default="../shared/models/modernbert-tokenizer")
    ap.add_argument("--init", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--model", help="start from this ModernBertForMaskedLM folder instead of --init")
    ap.add_argument("--epochs", type=float, default=10)
    ap.add_argument("--max-steps", type=int, default=-1)
    ap.add_argument("--lr", "--learning-rate", type=float, default=1e-3)
    ap.add_argument("--warmup-ratio", type=float, default=0.0, help="warm-up as a share of the steps, in [0, 1)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--mlm-probability", type=float, default=0.3)
    ap.add_argument("--mask-replace-prob", type=float, default=0.8)
    ap.add_argument("--random-replace-prob", type=float, default=0.1)
    ap.add_argument("--no-sparse-prediction", action="store_true", help="dense decoder over every position (slow)")
    ap.add_argument("--validation-split", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--logging-steps", type=int, default=50)
    ap.add_argument("--stream", choices=["torch", "radbert"], default="torch",
                    help="training batches: Trainer's own (RandomSampler + collator on the torch RNG) or radbert-native's exact "
                         "order and masks (numpy PCG64 per epoch / per step), to compare the two trainers on the same batches")
    ap.add_argument("--stream-seed", type=int, help="seed of the training batches and masks only (default --seed; the "
                                                      "validation split and the initial weights keep --seed)")
    ap.add_argument("--output-dir", default="/tmp/hf-mlm-bench")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", help="write a summary JSON (per-epoch eval loss) here")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)

    texts = series_corpus(a.big, a.small) if a.series else read_texts(a.texts, a.text_column)
    if a.max_texts:
        texts = texts[:a.max_texts]
    n_val = int(a.validation_split * len(texts))
    order = np.random.default_rng(a.seed).permutation(len(texts))
    val_texts, train_texts = [texts[i] for i in order[:n_val]], [texts[i] for i in order[n_val:]]
    if not val_texts:
        raise SystemExit(f"--validation-split {a.validation_split} of {len(texts)} texts holds out nothing")
    print(f"texts: train {len(train_texts)}, validation {len(val_texts)}", flush=True)

    tok = AutoTokenizer.from_pretrained(a.tokenizer)
    enc = lambda ts: tok(ts, truncation=True, max_length=a.max_length)["input_ids"]
    masking = dict(mlm_probability=a.mlm_probability, mask_replace_prob=a.mask_replace_prob, random_replace_prob=a.random_replace_prob)
    ds_train = Texts([{"input_ids": x} for x in enc(train_texts)])
    ds_val = Texts(fixed_masks(tok, enc(val_texts), a.batch_size, masking, a.seed))

    set_seed(a.seed)
    if a.model:
        model = ModernBertForMaskedLM.from_pretrained(a.model, sparse_prediction=not a.no_sparse_prediction)
    else:
        cfg = ModernBertConfig(**{k: v for k, v in PRESETS[a.init].items() if k != "classifier_pooling"},
                               sparse_prediction=not a.no_sparse_prediction)
        model = ModernBertForMaskedLM(cfg)
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, sparse_prediction={model.config.sparse_prediction}", flush=True)

    stream_seed = a.seed if a.stream_seed is None else a.stream_seed
    args = TrainingArguments(
        output_dir=a.output_dir, eval_strategy="epoch", save_strategy="epoch", learning_rate=a.lr, warmup_steps=a.warmup_ratio,  # a float in [0, 1) is a ratio in 5.x
        per_device_train_batch_size=a.batch_size, per_device_eval_batch_size=a.batch_size, num_train_epochs=a.epochs,
        max_steps=a.max_steps, weight_decay=0.0, max_grad_norm=1.0, load_best_model_at_end=True, metric_for_best_model="loss",
        greater_is_better=False, save_total_limit=2, logging_steps=a.logging_steps, seed=stream_seed, report_to="none", use_cpu=True,
        dataloader_num_workers=0, disable_tqdm=True, prediction_loss_only=True, remove_unused_columns=False,
    )
    train_collator = StepMaskCollator(tok, masking, stream_seed) if a.stream == "radbert" else DataCollatorForLanguageModeling(tok, **masking)
    collator = SplitCollator(train_collator, pad_collator(tok.pad_token_id))
    trainer = (StreamTrainer if a.stream == "radbert" else Trainer)(model=model, args=args, train_dataset=ds_train, eval_dataset=ds_val, data_collator=collator)
    t0 = time.time()
    trainer.train()
    train_s = time.time() - t0
    trainer.save_model(a.output_dir)
    tok.save_pretrained(a.output_dir)

    epochs, last_loss = [], None
    print("| Training Loss | Epoch | Step | Validation Loss | Perplexity |\n|---|---|---|---|---|")
    for e in trainer.state.log_history:
        if "loss" in e:
            last_loss = e["loss"]
        if "eval_loss" in e:
            row = {"epoch": e["epoch"], "step": e["step"], "train_loss": last_loss, "eval_loss": e["eval_loss"], "perplexity": math.exp(e["eval_loss"])}
            epochs.append(row)
            print(f"| {last_loss if last_loss is not None else 'No log'} | {e['epoch']:g} | {e['step']} | {e['eval_loss']:.6f} | {row['perplexity']:.3f} |")
    best = trainer.state.best_metric
    print(f"best validation loss {best:.6f} (perplexity {math.exp(best):.3f}); training {train_s:.1f} s "
          f"({trainer.state.global_step} steps, {trainer.state.global_step / train_s:.2f} steps/s); model in {a.output_dir}")
    if a.json:
        with open(a.json, "w") as f:
            steps = [{"step": e["step"], "loss": e["loss"], "grad_norm": e.get("grad_norm")} for e in trainer.state.log_history if "loss" in e]
            json.dump({"best_eval_loss": best, "log": steps, "best_checkpoint": trainer.state.best_model_checkpoint, "train_seconds": train_s,
                       "global_step": trainer.state.global_step, "epochs": epochs, "texts": {"train": len(train_texts), "validation": len(val_texts)},
                       "args": vars(a)}, f, indent=2)


if __name__ == "__main__":
    main()
