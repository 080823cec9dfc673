"""Masked-LM, embedding and weight-decay parity fixtures from Hugging Face transformers itself (test-time reference).

usage: python test/python/make_mlm_fixtures.py OUTDIR      (the reference venv of scripts/pyref-venv.sh; CPU, float32)

Writes, deterministically (fixed seeds, torch.use_deterministic_algorithms):
  OUTDIR/mlm/model/                  save_pretrained of a small ModernBertForMaskedLM (tied decoder, decoder bias,
                                     sliding window smaller than the captions), every parameter perturbed;
  OUTDIR/mlm/grads.safetensors       every parameter's .grad after one backward of HF's loss (sparse_prediction=True)
                                     on a batch masked by DataCollatorForLanguageModeling (mlm_probability 0.3, seeded);
  OUTDIR/mlm/params_after_step.safetensors      after clip_grad_norm_ + one torch.optim.AdamW step (no decay);
  OUTDIR/mlm/params_after_step_wd.safetensors   the same gradients, stepped by the optimizer that
                                     transformers.Trainer(...).create_optimizer() builds with weight_decay > 0;
  OUTDIR/mlm/params_after_step_wd_all.safetensors  that step with decay on every parameter (the test shows the two differ);
  OUTDIR/mlm/fill_logits.safetensors eval logits at the masked positions [P, vocab] (packed token indices);
  OUTDIR/mlm/embed.safetensors       ModernBertModel.from_pretrained(folder)'s last_hidden_state pooled per sequence
                                     (cls, mean over real tokens) on the unmasked batch;
  OUTDIR/cls/...                     the same decay step, embeddings and BCE gradients for a sequence classifier with
                                     every bias on and mean pooling;
  OUTDIR/manifest.json               the batches (packed ids, cu_seqlens, labels), losses (sparse and dense), grad
                                     norms, clips, learning rates, weight decays, HF's decay parameter names.
"""
import json
import os
import sys
import tempfile
import time

import pyarrow.parquet as pq
import torch
from safetensors.torch import save_file
from transformers import (AutoTokenizer, DataCollatorForLanguageModeling, ModernBertConfig, ModernBertForMaskedLM,
                          ModernBertForSequenceClassification, ModernBertModel, Trainer, TrainingArguments)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_fixtures import DATA, TOKENIZER_DIR, copy_tokenizer, padded, perturb  # noqa: E402

LR = 5e-5
WD_LR, WD = 5e-5, 10.0  # lr as the other steps (a near-zero gradient amplifies noise by lr); lr * WD = 5e-4 moves a decayed
# parameter well past the 1e-6 parity bound
MLM_PROBABILITY = 0.3
T0 = time.time()


def log(msg):
    print(f"[make_mlm_fixtures {time.time() - T0:5.1f}s] {msg}", file=sys.stderr, flush=True)


def captions(tok, n):
    texts = pq.read_table(DATA, columns=["caption"]).column("caption").to_pylist()
    picked = [t for t in texts if 80 <= len(t) <= 400][:n - 1] + ["CT"]
    return picked, [tok(t, truncation=True, max_length=128)["input_ids"] for t in picked]


def packed(rows):
    ids, cu = [], [0]
    for r in rows:
        ids += r
        cu.append(len(ids))
    return ids, cu


def pooled(folder, rows, pad_id):
    body = ModernBertModel.from_pretrained(folder, attn_implementation="sdpa").eval()
    inp, mask = padded(rows, pad_id)
    with torch.no_grad():
        h = body(input_ids=inp, attention_mask=mask).last_hidden_state
    cls = h[:, 0]
    m = mask.unsqueeze(-1).float()
    mean = (h * m).sum(1) / m.sum(1)  # ModernBERT's classifier_pooling="mean"
    return {"cls": cls.contiguous(), "mean": mean.contiguous()}


def trainer_step(model_cls, folder, grads, max_norm, out_file, out_all_file):
    """One step of the optimizer HF Trainer builds (weight_decay WD, lr WD_LR) on the given (unclipped) gradients."""
    m = model_cls.from_pretrained(folder, attn_implementation="sdpa")
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(output_dir=tmp, learning_rate=WD_LR, weight_decay=WD, report_to=[], use_cpu=True)
        trainer = Trainer(model=m, args=args)
        decay = sorted(trainer.get_decay_parameter_names(m))
        opt = trainer.create_optimizer()
    named = dict(m.named_parameters())
    for k, p in named.items():
        p.grad = grads[k].clone()
    torch.nn.utils.clip_grad_norm_(m.parameters(), max_norm)
    clipped = {k: p.grad.clone() for k, p in named.items()}
    opt.step()
    save_file({k: p.detach().contiguous() for k, p in named.items()}, out_file)
    # the same clipped gradients, decay on every parameter: what a single-group optimizer would do
    m2 = model_cls.from_pretrained(folder, attn_implementation="sdpa")
    for k, p in m2.named_parameters():
        p.grad = clipped[k].clone()
    torch.optim.AdamW(m2.parameters(), lr=WD_LR, weight_decay=WD, fused=True).step()
    save_file({k: p.detach().contiguous() for k, p in m2.named_parameters()}, out_all_file)
    names = [k for k in named]
    return {"decay_names": [n for n in decay if n in named], "no_decay_names": [n for n in names if n not in decay],
            "optimizer": type(opt).__name__, "optimizer_defaults": {k: v for k, v in opt.defaults.items()
                                                                     if isinstance(v, (int, float, bool))},
            "lr_wd": WD_LR, "weight_decay": WD}


def mlm_fixture(out, tok, rows):
    cfg = ModernBertConfig(hidden_size=64, num_attention_heads=2, intermediate_size=96, num_hidden_layers=3,
                           global_attn_every_n_layers=2, local_attention=16, classifier_activation="silu",
                           tie_word_embeddings=True, decoder_bias=True, attn_implementation="sdpa",
                           pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
                           cls_token_id=tok.cls_token_id, sep_token_id=tok.sep_token_id)
    torch.manual_seed(3000)
    model = ModernBertForMaskedLM(cfg)
    perturb(model, 400)
    folder = os.path.join(out, "mlm", "model")
    model.save_pretrained(folder)
    copy_tokenizer(folder)
    assert model.decoder.weight is model.model.embeddings.tok_embeddings.weight

    collator = DataCollatorForLanguageModeling(tok, mlm=True, mlm_probability=MLM_PROBABILITY, seed=42,
                                               return_tensors="pt")
    batch = collator([{"input_ids": r} for r in rows])
    masked_rows = [batch["input_ids"][i, :len(r)].tolist() for i, r in enumerate(rows)]
    label_rows = [batch["labels"][i, :len(r)].tolist() for i, r in enumerate(rows)]
    assert all(l == -100 for i, r in enumerate(rows) for l in batch["labels"][i, len(r):].tolist())
    ids, cu = packed(masked_rows)
    labels, _ = packed(label_rows)
    n_labelled = sum(l != -100 for l in labels)
    assert n_labelled > 0

    inp, mask = padded(masked_rows, cfg.pad_token_id)
    lab = torch.full_like(inp, -100)
    for i, r in enumerate(label_rows):
        lab[i, :len(r)] = torch.tensor(r)
    # dense prediction (logits at every position) vs sparse (only at labelled ones): the same loss
    model.train()
    model.sparse_prediction = False
    with torch.no_grad():
        loss_dense = model(input_ids=inp, attention_mask=mask, labels=lab).loss.item()
    model.sparse_prediction = True
    model.zero_grad(set_to_none=True)
    loss = model(input_ids=inp, attention_mask=mask, labels=lab).loss
    assert abs(loss.item() - loss_dense) <= 1e-5, (loss.item(), loss_dense)
    loss.backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    save_file({k: g.contiguous() for k, g in grads.items()}, os.path.join(out, "mlm", "grads.safetensors"))
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf")).item()
    max_norm = min(1.0, norm / 2)  # clipping active
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0).step()
    save_file({k: p.detach().contiguous() for k, p in model.named_parameters()},
              os.path.join(out, "mlm", "params_after_step.safetensors"))
    wd = trainer_step(ModernBertForMaskedLM, folder, grads, max_norm,
                      os.path.join(out, "mlm", "params_after_step_wd.safetensors"),
                      os.path.join(out, "mlm", "params_after_step_wd_all.safetensors"))

    # fill-mask: eval logits at the masked positions, from the saved model
    ref = ModernBertForMaskedLM.from_pretrained(folder, attn_implementation="sdpa").eval()
    with torch.no_grad():
        logits = ref(input_ids=inp, attention_mask=mask).logits  # dense: no labels
    positions = [t for t, l in enumerate(labels) if l != -100]
    rows_of = [(i, t - cu[i]) for t in positions for i in range(len(rows)) if cu[i] <= t < cu[i + 1]]
    at = torch.stack([logits[i, j] for i, j in rows_of])
    # the same eval forward with labels and sparse prediction gives these rows, and its loss
    ref.sparse_prediction = True
    with torch.no_grad():
        eval_out = ref(input_ids=inp, attention_mask=mask, labels=lab)
    assert (eval_out.logits - at).abs().max().item() <= 1e-5
    save_file({"logits": at.contiguous()}, os.path.join(out, "mlm", "fill_logits.safetensors"))
    save_file(pooled(folder, rows, cfg.pad_token_id), os.path.join(out, "mlm", "embed.safetensors"))
    log(f"mlm: loss {loss.item():.6f} (dense {loss_dense:.6f}), {n_labelled} labelled of {len(ids)}, grad norm {norm:.4f}")
    return {"ids": ids, "cu_seqlens": cu, "labels": labels, "unmasked_ids": packed(rows)[0], "positions": positions,
            "loss": loss.item(), "loss_dense": loss_dense, "eval_loss": eval_out.loss.item(), "count": n_labelled,
            "grad_norm": norm, "max_grad_norm": max_norm, "lr": LR, "wd": wd}


def cls_fixture(out, rows):
    cfg = ModernBertConfig(hidden_size=80, num_attention_heads=5, intermediate_size=112, num_hidden_layers=2,
                           global_attn_every_n_layers=2, local_attention=8, classifier_pooling="mean",
                           attention_bias=True, mlp_bias=True, norm_bias=True, classifier_bias=True, num_labels=5,
                           problem_type="multi_label_classification", attn_implementation="sdpa",
                           id2label={i: f"C{i:07d}" for i in range(5)}, label2id={f"C{i:07d}": i for i in range(5)})
    torch.manual_seed(3100)
    model = ModernBertForSequenceClassification(cfg)
    perturb(model, 410)
    folder = os.path.join(out, "cls", "model")
    model.save_pretrained(folder)
    copy_tokenizer(folder)
    g = torch.Generator().manual_seed(11)
    targets = (torch.rand(len(rows), cfg.num_labels, generator=g) > 0.6).float()
    inp, mask = padded(rows, cfg.pad_token_id)
    model.train()
    loss = model(input_ids=inp, attention_mask=mask, labels=targets).loss
    loss.backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf")).item()
    max_norm = min(1.0, norm / 2)
    wd = trainer_step(ModernBertForSequenceClassification, folder, grads, max_norm,
                      os.path.join(out, "cls", "params_after_step_wd.safetensors"),
                      os.path.join(out, "cls", "params_after_step_wd_all.safetensors"))
    ref = ModernBertForSequenceClassification.from_pretrained(folder, attn_implementation="sdpa").eval()
    with torch.no_grad():
        eval_loss = ref(input_ids=inp, attention_mask=mask, labels=targets).loss.item()
    save_file(pooled(folder, rows, cfg.pad_token_id), os.path.join(out, "cls", "embed.safetensors"))
    log(f"cls: loss {loss.item():.6f}, eval loss {eval_loss:.6f}, grad norm {norm:.4f}")
    ids, cu = packed(rows)
    return {"ids": ids, "cu_seqlens": cu, "targets": targets.flatten().tolist(), "loss": loss.item(),
            "eval_loss": eval_loss, "grad_norm": norm, "max_grad_norm": max_norm, "wd": wd}


def main(out):
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    torch.use_deterministic_algorithms(True)
    os.makedirs(out, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    texts, rows = captions(tok, 6)
    log(f"lengths {[len(r) for r in rows]}")
    manifest = {"texts": texts, "mlm_probability": MLM_PROBABILITY,
                "mask_token_id": tok.mask_token_id, "pad_token_id": tok.pad_token_id,
                "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__}}
    manifest["mlm"] = mlm_fixture(out, tok, rows)
    manifest["cls"] = cls_fixture(out, rows)
    json.dump(manifest, open(os.path.join(out, "manifest.json"), "w"))
    log(f"done: {out}")


if __name__ == "__main__":
    main(sys.argv[1])
