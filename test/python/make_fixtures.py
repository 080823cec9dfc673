"""Parity fixtures from Hugging Face transformers itself (test-time reference only).

usage: python test/python/make_fixtures.py OUTDIR      (the reference venv of scripts/pyref-venv.sh; CPU, float32)

Writes, deterministically (fixed seeds, torch.use_deterministic_algorithms):
  OUTDIR/<config>/model/          save_pretrained of a random-init ModernBertForSequenceClassification whose every
                                  parameter was then perturbed (norm weights ~ 1 + noise, biases nonzero), plus the
                                  real tokenizer files;
  OUTDIR/<config>/grads.safetensors             (trainable configs) every parameter's .grad after one BCEWithLogits
                                                backward, HF key names;
  OUTDIR/<config>/params_after_step.safetensors (trainable configs) the parameters after clip_grad_norm_ + one
                                                torch.optim.AdamW step;
  OUTDIR/awkward_{bf16,f16,sharded}/            the awkward model saved in bf16, f16 and in many shards;
  OUTDIR/mlm/model/, OUTDIR/mlm/logits.safetensors   a tiny ModernBertForMaskedLM (tied decoder) and its logits;
  OUTDIR/init/config.json, OUTDIR/init_stats.json    a fresh (unperturbed) model's per-tensor statistics, with the
                                                     values HF's init rule predicts;
  OUTDIR/manifest.json            token ids (and texts) of two batch compositions of real captions (one is "CT", 3
                                  tokens; several are truncated at 200 tokens), and per config HF's logits
                                  and sigmoid probabilities (eval, padded batch + attention_mask, sdpa), the
                                  eager-attention cross-check, targets, loss, pre-clip grad norm, max_grad_norm;
                                  the same logits, loss and grad norm under bf16 autocast (logits_autocast_*, loss_autocast,
                                  grad_norm_autocast).
"""
import json
import math
import os
import shutil
import sys
import time

import pyarrow.parquet as pq
import torch
from safetensors.torch import save_file
from transformers import (ModernBertConfig, ModernBertForMaskedLM, ModernBertForSequenceClassification,
                          PreTrainedTokenizerFast)

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared"))
TOKENIZER_DIR = os.path.join(SHARED, "models", "modernbert-tokenizer")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
DATA = os.path.join(SHARED, "datasets", "roco-radiology-mini", "data", "train-00000-of-00001.parquet")
CUIS = ["C0040405", "C0024485", "C0041618", "C0817096", "C0000726", "C0018670", "C0032326", "C0205091", "C0006826",
        "C0034063", "C0030797", "C0030193", "C0042149"]
MAX_LENGTH = 200
LR = 5e-5

from parity_configs import CONFIGS  # noqa: E402  (the shapes; comments there)
# Trainable configs (all dropouts 0) and the max_grad_norm of their step; clipping must be active in each.
TRAINABLE = {"awkward": 1.0, "biases_mean": 1.0, "all_global": 0.1}

T0 = time.time()


def log(msg):
    print(f"[make_fixtures {time.time() - T0:5.1f}s] {msg}", file=sys.stderr, flush=True)


def perturb(model, seed):
    """Make every parameter non-trivial: norm weights 1 + N(0, 0.1), biases N(0, 0.05), weights += N(0, 0.02)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            else:
                p.add_(0.02 * torch.randn(p.shape, generator=g))


def padded(ids, pad):
    L = max(len(x) for x in ids)
    inp = torch.full((len(ids), L), pad, dtype=torch.long)
    mask = torch.zeros((len(ids), L), dtype=torch.long)
    for i, x in enumerate(ids):
        inp[i, :len(x)] = torch.tensor(x)
        mask[i, :len(x)] = 1
    return inp, mask


def logits_of(model, batch):
    inp, mask = padded(batch, model.config.pad_token_id)
    with torch.no_grad():
        return model(input_ids=inp, attention_mask=mask).logits


def padding_dev(model, batch_a, batch_b):
    """Max |Δ logit| of one text of batch_a alone vs inside batch_a, and inside batch_a vs inside batch_b."""
    in_a, in_b = logits_of(model, batch_a), logits_of(model, batch_b)
    worst = 0.0
    for i, seq in enumerate(batch_a):
        worst = max(worst, (in_a[i] - logits_of(model, [seq])[0]).abs().max().item())
        for j, other in enumerate(batch_b):
            if other == seq:
                worst = max(worst, (in_a[i] - in_b[j]).abs().max().item())
    return worst


def copy_tokenizer(folder):
    for f in TOKENIZER_FILES:
        shutil.copy(os.path.join(TOKENIZER_DIR, f), os.path.join(folder, f))


def write_legacy_config(folder):
    """Rewrite config.json the way transformers 4.48-4.57 wrote ModernBERT configs."""
    path = os.path.join(folder, "config.json")
    c = json.load(open(path))
    thetas = c.pop("rope_parameters")
    c.pop("layer_types")
    c["torch_dtype"] = c.pop("dtype")
    c.update(global_rope_theta=thetas["full_attention"]["rope_theta"],
             local_rope_theta=thetas["sliding_attention"]["rope_theta"],
             reference_compile=None, repad_logits_with_grad=False, transformers_version="4.48.0")
    json.dump(c, open(path, "w"), indent=2, sort_keys=True)


def captions_batches(tok):
    captions = pq.read_table(DATA, columns=["caption"]).column("caption").to_pylist()
    # Only tokenize what could be long or medium: the longest captions by characters, and some medium ones.
    by_len = sorted(range(len(captions)), key=lambda i: (-len(captions[i]), i))
    long_ids = [tok(captions[i], truncation=True, max_length=MAX_LENGTH)["input_ids"] for i in by_len[:4]]
    medium_idx = [i for i in range(len(captions)) if 200 <= len(captions[i]) <= 320][:3]
    medium_ids = [tok(captions[i], truncation=True, max_length=MAX_LENGTH)["input_ids"] for i in medium_idx]
    short = tok("CT", truncation=True, max_length=MAX_LENGTH)["input_ids"]
    assert len(short) == 3, short  # [CLS] CT [SEP]
    assert [len(x) for x in long_ids[:2]] == [MAX_LENGTH] * 2 and len(long_ids[3]) >= 150, [len(x) for x in long_ids]
    assert all(20 <= len(x) < 150 for x in medium_ids), [len(x) for x in medium_ids]
    batch_a = [short, long_ids[0], medium_ids[0], long_ids[1], medium_ids[1], long_ids[2], short, medium_ids[2]]
    batch_b = [medium_ids[0], short, long_ids[3], long_ids[0]]  # shares 3 texts with batch_a, in other positions
    long_txt = [captions[i] for i in by_len[:4]]
    med_txt = [captions[i] for i in medium_idx]
    texts_a = ["CT", long_txt[0], med_txt[0], long_txt[1], med_txt[1], long_txt[2], "CT", med_txt[2]]
    texts_b = [med_txt[0], "CT", long_txt[3], long_txt[0]]
    return batch_a, batch_b, texts_a, texts_b


def classifier_config(kw):
    kw = dict(kw)
    n = kw.pop("num_labels")
    return ModernBertConfig(num_labels=n, problem_type="multi_label_classification",
                            id2label={i: CUIS[i] for i in range(n)}, label2id={CUIS[i]: i for i in range(n)},
                            attn_implementation="sdpa", **kw)


def trunc_normal_std(std, cutoff):
    """Standard deviation of N(0, std^2) truncated to [-cutoff*std, cutoff*std]."""
    phi = math.exp(-cutoff * cutoff / 2) / math.sqrt(2 * math.pi)
    Z = math.erf(cutoff / math.sqrt(2))
    return std * math.sqrt(1 - 2 * cutoff * phi / Z)


def init_stats(out):
    """A fresh model's per-tensor statistics and what HF's _init_weights rule predicts for each tensor."""
    cfg = ModernBertConfig(hidden_size=256, num_attention_heads=4, intermediate_size=384, num_hidden_layers=2,
                           attention_bias=True, mlp_bias=True, norm_bias=True, classifier_bias=True,
                           num_labels=64, problem_type="multi_label_classification",
                           id2label={i: f"C{i:07d}" for i in range(64)},
                           label2id={f"C{i:07d}": i for i in range(64)})
    folder = os.path.join(out, "init")
    os.makedirs(folder)
    cfg.save_pretrained(folder)
    copy_tokenizer(folder)
    torch.manual_seed(0)
    model = ModernBertForSequenceClassification(cfg)
    cutoff, r, L = cfg.initializer_cutoff_factor, cfg.initializer_range, cfg.num_hidden_layers
    nominal = {"in": r, "out": r / math.sqrt(2.0 * L), "final_out": cfg.hidden_size ** -0.5}
    stats = {}
    for name, p in model.named_parameters():
        p = p.detach().double()
        if name.endswith("norm.weight"):
            expected = {"const": 1.0}
        elif name.endswith("bias"):
            expected = {"const": 0.0}
        else:
            if name == "classifier.weight":
                std = nominal["final_out"]
            elif name.endswith("Wo.weight") or name == "head.dense.weight":
                std = nominal["out"]
            else:  # tok_embeddings, Wqkv, Wi
                std = nominal["in"]
            expected = {"nominal_std": std, "std": trunc_normal_std(std, cutoff), "bound": cutoff * std}
        s = {"shape": list(p.shape), "n": p.numel(), "mean": p.mean().item(), "std": p.std().item(),
             "min": p.min().item(), "max": p.max().item(), "expected": expected}
        # sanity: HF's own sample obeys the rule we state (else the rule, not our model, is wrong)
        if "const" in expected:
            assert s["min"] == s["max"] == expected["const"], (name, s)
        else:
            e = expected["std"]
            assert abs(s["std"] / e - 1) < 5 / math.sqrt(2 * s["n"]), (name, s)
            assert abs(s["mean"]) < 5 * e / math.sqrt(s["n"]), (name, s)
            assert max(-s["min"], s["max"]) <= expected["bound"], (name, s)
        stats[name] = s
    pad = cfg.pad_token_id
    emb = model.model.embeddings.tok_embeddings.weight.detach()
    result = {"seed": 0, "cutoff_factor": cutoff, "initializer_range": r, "pad_token_id": pad,
              "pad_row_max_abs": emb[pad].abs().max().item(), "tensors": stats}
    json.dump(result, open(os.path.join(out, "init_stats.json"), "w"), indent=1)


def main(out):
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    torch.use_deterministic_algorithms(True)
    os.makedirs(out, exist_ok=True)
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(TOKENIZER_DIR, "tokenizer.json"))
    batch_a, batch_b, texts_a, texts_b = captions_batches(tok)
    log(f"batch_a lengths {[len(x) for x in batch_a]}, batch_b lengths {[len(x) for x in batch_b]}")
    manifest = {"configs": {}, "batch_a": batch_a, "batch_b": batch_b, "texts_a": texts_a, "texts_b": texts_b,
                "max_length": MAX_LENGTH, "lr": LR,
                "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__}}

    for ci, (name, kw) in enumerate(CONFIGS.items()):
        cfg = classifier_config(kw)
        torch.manual_seed(1000 + ci)
        model = ModernBertForSequenceClassification(cfg)
        perturb(model, 100 + ci)
        folder = os.path.join(out, name, "model")
        model.save_pretrained(folder)
        copy_tokenizer(folder)
        if name == "legacy_odd":
            write_legacy_config(folder)
        model.eval()
        entry = {"num_labels": cfg.num_labels, "trainable": name in TRAINABLE}
        for key, batch in (("a", batch_a), ("b", batch_b)):
            logits = logits_of(model, batch)
            entry["logits_" + key] = logits.tolist()
            entry["probs_" + key] = torch.sigmoid(logits).tolist()
        # Cross-check: the saved folder, reloaded by HF with eager attention, computes the same (this also checks
        # that HF reads the rewritten 4.x config.json as intended).
        eager = ModernBertForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()
        entry["eager_vs_sdpa_max_abs"] = (logits_of(eager, batch_a) - torch.tensor(entry["logits_a"])).abs().max().item()
        assert entry["eager_vs_sdpa_max_abs"] <= 1e-5, entry["eager_vs_sdpa_max_abs"]
        # transformers' own padding noise on this machine: each text of batch_a alone vs inside batch_a and batch_b,
        # with sdpa and eager attention. A text's logits alone and in a padded batch go through GEMMs of different
        # row counts, so the BLAS may pick other kernels and the last bits differ by CPU; the parity test bounds our
        # own padding invariance by this measured floor.
        entry["hf_padding_dev"] = {impl: padding_dev(m, batch_a, batch_b) for impl, m in (("sdpa", model), ("eager", eager))}
        del eager

        if name in TRAINABLE:
            max_grad_norm = TRAINABLE[name]
            g = torch.Generator().manual_seed(7 + ci)
            targets = (torch.rand(len(batch_a), cfg.num_labels, generator=g) > 0.6).float()
            model.train()
            model.zero_grad(set_to_none=True)
            inp, mask = padded(batch_a, cfg.pad_token_id)
            loss = model(input_ids=inp, attention_mask=mask, labels=targets).loss  # BCEWithLogits (mean)
            loss.backward()
            save_file({k: p.grad.contiguous() for k, p in model.named_parameters()},
                      os.path.join(out, name, "grads.safetensors"))
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)  # returns the pre-clip norm
            assert norm.item() > max_grad_norm, f"{name}: clipping would be inactive ({norm.item()})"
            # the reference noise floor of the step: the same step with torch's fused kernel (HF Trainer's default
            # optim, adamw_torch_fused) next to the plain torch.optim.AdamW that the fixture records
            fused = [torch.nn.Parameter(p.detach().clone()) for p in model.parameters()]
            for f, p in zip(fused, model.parameters()):
                f.grad = p.grad.clone()
            torch.optim.AdamW(fused, lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, fused=True).step()
            opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
            opt.step()
            save_file({k: p.detach().contiguous() for k, p in model.named_parameters()},
                      os.path.join(out, name, "params_after_step.safetensors"))
            entry.update(targets=targets.tolist(), loss=loss.item(), grad_norm=norm.item(), max_grad_norm=max_grad_norm,
                         adamw_fused_vs_plain_max_abs=max((f - p).abs().max().item()
                                                          for f, p in zip(fused, model.parameters())))
        # bf16 autocast (torch.autocast("cpu", dtype=torch.bfloat16), what HF Trainer's bf16=True runs): logits of the
        # saved model, and for the trainable configs one forward + BCEWithLogits loss under autocast, backward outside
        # it, and the pre-clip gradient norm. Reloaded from the folder so the float32 records above are untouched.
        ref = ModernBertForSequenceClassification.from_pretrained(folder, attn_implementation="sdpa").eval()
        for key, batch in (("a", batch_a), ("b", batch_b)):
            inp, mask = padded(batch, cfg.pad_token_id)
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                entry["logits_autocast_" + key] = ref(input_ids=inp, attention_mask=mask).logits.float().tolist()
        if name in TRAINABLE:
            ref.train()
            inp, mask = padded(batch_a, cfg.pad_token_id)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss_bf16 = ref(input_ids=inp, attention_mask=mask, labels=torch.tensor(entry["targets"])).loss
            loss_bf16.backward()
            entry["loss_autocast"] = loss_bf16.float().item()
            entry["grad_norm_autocast"] = torch.nn.utils.clip_grad_norm_(ref.parameters(), float("inf")).item()
        del ref
        manifest["configs"][name] = entry
        log(f"{name}: eager vs sdpa {entry['eager_vs_sdpa_max_abs']:.2e}"
            + (f", loss {entry['loss']:.6f}, grad norm {entry['grad_norm']:.4f} (clip {entry['max_grad_norm']}), "
               f"AdamW fused vs plain {entry['adamw_fused_vs_plain_max_abs']:.2e}"
               if name in TRAINABLE else ""))

    # Variants of the awkward model written by save_pretrained: bf16 and f16 copies, and a many-shard copy.
    base_dir = os.path.join(out, "awkward", "model")
    base = ModernBertForSequenceClassification.from_pretrained(base_dir)
    base.save_pretrained(os.path.join(out, "awkward_sharded"), max_shard_size="50KB")
    copy_tokenizer(os.path.join(out, "awkward_sharded"))
    for dtype, tag in ((torch.bfloat16, "bf16"), (torch.float16, "f16")):
        m = ModernBertForSequenceClassification.from_pretrained(base_dir).to(dtype)
        m.save_pretrained(os.path.join(out, "awkward_" + tag))
        copy_tokenizer(os.path.join(out, "awkward_" + tag))
        ref = m.float().eval()  # what the up-cast weights compute, in float32
        manifest["configs"]["awkward"]["logits_a_" + tag] = logits_of(ref, batch_a).tolist()
    log("bf16 / f16 / sharded copies")

    # (d) A masked-LM model (tied decoder, decoder bias) for loading and MLM logits.
    mcfg = ModernBertConfig(hidden_size=64, num_attention_heads=2, intermediate_size=96, num_hidden_layers=2,
                            global_attn_every_n_layers=2, local_attention=16, attn_implementation="sdpa")
    torch.manual_seed(2000)
    mlm = ModernBertForMaskedLM(mcfg)
    perturb(mlm, 300)
    mlm.save_pretrained(os.path.join(out, "mlm", "model"))
    copy_tokenizer(os.path.join(out, "mlm", "model"))
    mlm.eval()
    mlm_batch = [batch_a[0], batch_a[2]]
    logits = logits_of(mlm, mlm_batch)
    save_file({f"seq{i}": logits[i, :len(x)].contiguous() for i, x in enumerate(mlm_batch)},
              os.path.join(out, "mlm", "logits.safetensors"))
    manifest["mlm"] = {"batch": mlm_batch}
    log("masked LM")

    init_stats(out)
    log("init statistics")
    json.dump(manifest, open(os.path.join(out, "manifest.json"), "w"))
    log(f"done: {out}")


if __name__ == "__main__":
    main(sys.argv[1])
