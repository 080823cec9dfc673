#!/usr/bin/env python
"""
Part 1 of the series (linear probe on a frozen body) with scikit-learn, the reference for `train --linear-probe`:
OneVsRestClassifier(LogisticRegression(C, max_iter)) fitted on train embeddings, scored with the seed's compute_metrics
(bench/hf_train.py) on validation and test. The issue's bar: our probe's test micro-F1 within 0.02 of this one.

    PY=$(bash scripts/pyref-venv.sh)/bin/python
    # on embeddings + labels written by radbert-native (same rows, same label columns):
    $PY bench/hf_probe.py --embeddings /tmp/ours-embeddings.safetensors --json /tmp/probe.json
    # the all-HF pipeline: embeddings from a HF folder (an MLM one from bench/hf_mlm.py, or a random body) on the seed split:
    $PY bench/hf_probe.py --model /tmp/hf-mlm --pooling cls --dataset ../shared/datasets/roco-radiology-mini \
        --tokenizer ../shared/models/modernbert-tokenizer --write-embeddings /tmp/hf-embeddings.safetensors --json /tmp/probe.json

Embedding files: a .safetensors with float tensors `train.x` [n, hidden], `train.y` [n, labels] (multi-hot) and the same
for `validation` and `test` (validation optional), or a folder of `<split>_x.npy` / `<split>_y.npy`.
`--model` embeds with ModernBertModel: last_hidden_state (after the final norm) at [CLS] (`cls`) or averaged over the
tokens (`mean`, attention-masked), as ModernBertForSequenceClassification pools before its head. `--init tiny` with
`--seed` embeds with a randomly initialised preset body instead (set_seed(seed) then ModernBertModel(config)).
sklearn's objective per label is 0.5 |w|^2 + C * sum_i BCE_i (bias not penalised), lbfgs; features are not scaled.
"""
import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_train import KEYS, PRESETS, compute_metrics, seed_data  # noqa: E402

SPLITS = ["train", "validation", "test"]


def load_embeddings(path):
    """{split: (x, y)} from a .safetensors file (`<split>.x`, `<split>.y`) or a folder of `<split>_x.npy`, `<split>_y.npy`."""
    out = {}
    if os.path.isdir(path):
        for s in SPLITS:
            fx, fy = os.path.join(path, f"{s}_x.npy"), os.path.join(path, f"{s}_y.npy")
            if os.path.exists(fx):
                out[s] = (np.load(fx), np.load(fy))
    else:
        from safetensors.numpy import load_file
        t = load_file(path)
        for s in SPLITS:
            if f"{s}.x" in t:
                if f"{s}.y" not in t:
                    raise SystemExit(f"{path}: has {s}.x but no {s}.y")
                out[s] = (t[f"{s}.x"], t[f"{s}.y"])
    for s in ["train", "test"]:
        if s not in out:
            raise SystemExit(f"{path}: no {s} embeddings ({s}.x / {s}.y or {s}_x.npy / {s}_y.npy)")
    for s, (x, y) in out.items():
        if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
            raise SystemExit(f"{path}: {s}: x {x.shape} and y {y.shape} must be [n, hidden] and [n, labels]")
        if y.shape[1] != out["train"][1].shape[1] or x.shape[1] != out["train"][0].shape[1]:
            raise SystemExit(f"{path}: {s} has {x.shape[1]} dims / {y.shape[1]} labels, train {out['train'][0].shape[1]} / {out['train'][1].shape[1]}")
    return {s: (x.astype(np.float64), y.astype(np.int64)) for s, (x, y) in out.items()}


@torch.no_grad()
def embed(model, tok, texts, pooling, max_length, batch_size=32):
    """Pooled last hidden states of ModernBertModel, [n, hidden] float32."""
    out = []
    for i in range(0, len(texts), batch_size):
        b = tok(texts[i:i + batch_size], truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        h = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).last_hidden_state
        if pooling == "cls":
            out.append(h[:, 0])
        else:
            m = b["attention_mask"].unsqueeze(-1).to(h.dtype)
            out.append((h * m).sum(dim=1) / m.sum(dim=1))
    return torch.cat(out).float().numpy()


def hf_embeddings(a):
    """Seed-split rows of --dataset embedded by --model (or a random --init body)."""
    from transformers import AutoTokenizer, ModernBertConfig, ModernBertModel, set_seed
    train, val, test, classes, y_train, y_val, y_test = seed_data(a.dataset, a.text_column, a.label_column)
    tok = AutoTokenizer.from_pretrained(a.tokenizer)
    set_seed(a.seed)
    if a.model:
        model = ModernBertModel.from_pretrained(a.model)
    else:
        model = ModernBertModel(ModernBertConfig(**{k: v for k, v in PRESETS[a.init].items() if k != "classifier_pooling"}))
    model.eval()
    t0 = time.time()
    data = {s: (embed(model, tok, [t for t, _ in rows], a.pooling, a.max_length), y)
            for s, rows, y in [("train", train, y_train), ("validation", val, y_val), ("test", test, y_test)]}
    print(f"embedded {sum(len(x) for x, _ in data.values())} texts ({a.pooling} pooling, {model.config.hidden_size} dims) in {time.time() - t0:.1f} s", flush=True)
    if a.write_embeddings:
        from safetensors.numpy import save_file
        save_file({f"{s}.{k}": np.ascontiguousarray(v.astype(np.float32)) for s, (x, y) in data.items() for k, v in (("x", x), ("y", y))}, a.write_embeddings)
    return {s: (x.astype(np.float64), y.astype(np.int64)) for s, (x, y) in data.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--embeddings", help="a .safetensors or a folder of .npy written by radbert-native")
    src.add_argument("--model", help="embed with this HF ModernBERT folder")
    src.add_argument("--init", choices=sorted(PRESETS), help="embed with a random preset body (after set_seed(--seed))")
    ap.add_argument("--pooling", choices=["cls", "mean"], default="cls")
    ap.add_argument("--dataset", default="../shared/datasets/roco-radiology-mini")
    ap.add_argument("--tokenizer", default="../shared/models/modernbert-tokenizer")
    ap.add_argument("--text-column", default="caption")
    ap.add_argument("--label-column", default="cui")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--write-embeddings", help="save the HF embeddings + labels here (.safetensors, the --embeddings layout)")
    ap.add_argument("--C", type=float, default=1.0, help="LogisticRegression's inverse L2 strength")
    ap.add_argument("--max-iter", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--n-jobs", type=int, default=1, help="OneVsRestClassifier's n_jobs (one fit per label; ~1857 labels)")
    ap.add_argument("--json", help="write the metrics here")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    warnings.filterwarnings("ignore", message=".*unknown class.*")
    warnings.filterwarnings("ignore", message=".*Label .* is present in all training examples.*")
    warnings.filterwarnings("ignore", message=".*not present in all training examples.*")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    data = load_embeddings(a.embeddings) if a.embeddings else hf_embeddings(a)
    x, y = data["train"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        t0 = time.time()
        clf = OneVsRestClassifier(LogisticRegression(C=a.C, max_iter=a.max_iter), n_jobs=a.n_jobs).fit(x, y)
        fit_s = time.time() - t0
    unconverged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    print(f"fitted {y.shape[1]} one-vs-rest logistic regressions on {x.shape[0]} x {x.shape[1]} in {fit_s:.1f} s"
          + (f"; {unconverged} did not converge in {a.max_iter} iterations" if unconverged else ""), flush=True)
    result = {"fit_seconds": fit_s, "unconverged": unconverged, "C": a.C, "max_iter": a.max_iter, "dims": x.shape[1],
              "labels": y.shape[1], "rows": {s: len(v[0]) for s, v in data.items()},
              "source": a.embeddings or a.model or f"random {a.init} seed {a.seed}", "pooling": None if a.embeddings else a.pooling}
    for s in ["validation", "test"]:
        if s in data:
            m = compute_metrics((clf.decision_function(data[s][0]), data[s][1]))
            result[s] = {k: float(m[k]) for k in KEYS}
            print(f"{s}: micro-F1 {m['f1']:.6f}  macro-F1 {m['f1_macro']:.6f}  precision {m['precision_micro']:.6f}  recall {m['recall_micro']:.6f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
