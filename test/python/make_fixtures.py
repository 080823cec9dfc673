"""Parity fixtures from Hugging Face transformers itself (test-time reference only).

usage: python test/python/make_fixtures.py OUTDIR

For each config: a random-init model written by save_pretrained after perturbing every parameter (so norms and biases
are not trivial), the token ids of real captions, HF's logits for two batch compositions, and for the trainable configs
HF's BCEWithLogits gradients, pre-clip grad norm and the parameters after one clipped torch.optim.AdamW step.
"""
import json
import os
import shutil
import sys

import pyarrow.parquet as pq
import torch
from safetensors.torch import save_file
from transformers import (ModernBertConfig, ModernBertForMaskedLM, ModernBertForSequenceClassification,
                          PreTrainedTokenizerFast)

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared"))
TOKENIZER_DIR = os.path.join(SHARED, "models", "modernbert-tokenizer")
DATA = os.path.join(SHARED, "datasets", "roco-radiology-mini", "data", "train-00000-of-00001.parquet")
CUIS = ["C0040405", "C0024485", "C0041618", "C0817096", "C0000726", "C0018670", "C0032326", "C0205091", "C0006826",
        "C0034063", "C0030797", "C0030193", "C0042149"]

CONFIGS = {
    # head_dim 32, 5 layers with global every 3 (not a multiple), window 16 (+-8) that slides over 200-token captions,
    # cls pooling, every bias flag off (the defaults).
    "awkward": dict(hidden_size=96, num_attention_heads=3, intermediate_size=160, num_hidden_layers=5,
                    global_attn_every_n_layers=3, local_attention=16, classifier_pooling="cls", num_labels=9),
    # head_dim 16, global every 2, window 8, mean pooling, every bias on, other activations.
    "biases_mean": dict(hidden_size=80, num_attention_heads=5, intermediate_size=112, num_hidden_layers=4,
                        global_attn_every_n_layers=2, local_attention=8, classifier_pooling="mean",
                        attention_bias=True, mlp_bias=True, norm_bias=True, classifier_bias=True,
                        hidden_activation="gelu_pytorch_tanh", classifier_activation="silu", num_labels=7),
    # odd window 15 (+-7), only layer 0 global, non-default thetas, dropouts on; written as a transformers 4.x config.
    "legacy_odd": dict(hidden_size=64, num_attention_heads=2, intermediate_size=96, num_hidden_layers=3,
                       global_attn_every_n_layers=3, local_attention=15, global_rope_theta=80000.0,
                       local_rope_theta=5000.0, embedding_dropout=0.1, attention_dropout=0.1, mlp_dropout=0.1,
                       classifier_dropout=0.1, norm_eps=1e-6, num_labels=5),
}
TRAINABLE = ["awkward", "biases_mean"]


def perturb(model, seed):
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


def main(out):
    torch.manual_seed(0)
    torch.set_num_threads(2)
    os.makedirs(out, exist_ok=True)
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(TOKENIZER_DIR, "tokenizer.json"))
    captions = pq.read_table(DATA, columns=["caption"]).column("caption").to_pylist()
    enc = [tok(c, truncation=True, max_length=200)["input_ids"] for c in captions]
    longest = sorted(range(len(enc)), key=lambda i: -len(enc[i]))[:4]
    medium = [i for i in range(len(enc)) if 40 <= len(enc[i]) <= 80][:3]
    short = tok("CT", truncation=True, max_length=200)["input_ids"]
    assert len(short) == 3, short
    assert len(enc[longest[0]]) == 200 and len(enc[longest[1]]) == 200 and len(enc[longest[3]]) >= 150, [len(enc[i]) for i in longest]
    batch_a = [short, enc[longest[0]], enc[medium[0]], enc[longest[1]], enc[medium[1]], enc[longest[2]], short,
               enc[medium[2]]]
    batch_b = [enc[medium[0]], short, enc[longest[3]], enc[longest[0]]]
    texts = {"short": "CT", "captions": [captions[i] for i in longest[:3] + medium]}
    manifest = {"configs": {}, "batch_a": batch_a, "batch_b": batch_b, "texts": texts}

    for ci, (name, kw) in enumerate(CONFIGS.items()):
        kw = dict(kw)
        n = kw.pop("num_labels")
        cfg = ModernBertConfig(num_labels=n, problem_type="multi_label_classification",
                               id2label={i: CUIS[i] for i in range(n)}, label2id={CUIS[i]: i for i in range(n)}, **kw)
        model = ModernBertForSequenceClassification(cfg)
        perturb(model, 100 + ci)
        d = os.path.join(out, name)
        model.save_pretrained(os.path.join(d, "model"))
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(TOKENIZER_DIR, f), os.path.join(d, "model", f))
        if name == "legacy_odd":  # rewrite config.json as transformers 4.x wrote it
            path = os.path.join(d, "model", "config.json")
            c = json.load(open(path))
            for k in ("layer_types", "rope_parameters"):
                c.pop(k, None)
            c.update(global_attn_every_n_layers=3, global_rope_theta=80000.0, local_rope_theta=5000.0)
            json.dump(c, open(path, "w"), indent=2)
        model.eval()
        entry = {"num_labels": n, "trainable": name in TRAINABLE}
        with torch.no_grad():
            for key, batch in (("a", batch_a), ("b", batch_b)):
                inp, mask = padded(batch, cfg.pad_token_id)
                entry["logits_" + key] = model(input_ids=inp, attention_mask=mask).logits.tolist()
        if name in TRAINABLE:
            g = torch.Generator().manual_seed(7 + ci)
            targets = (torch.rand(len(batch_a), n, generator=g) > 0.6).float()
            model.train()
            model.zero_grad(set_to_none=True)
            inp, mask = padded(batch_a, cfg.pad_token_id)
            loss = model(input_ids=inp, attention_mask=mask, labels=targets).loss
            loss.backward()
            save_file({k: p.grad.contiguous() for k, p in model.named_parameters()}, os.path.join(d, "grads.safetensors"))
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt = torch.optim.AdamW(model.parameters(), lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
            opt.step()
            save_file({k: p.detach().contiguous() for k, p in model.named_parameters()},
                      os.path.join(d, "params_after_step.safetensors"))
            entry.update(targets=targets.tolist(), loss=loss.item(), grad_norm=norm.item())
        manifest["configs"][name] = entry

    # Variants of the awkward model: bf16 and f16 copies, a sharded copy (all written by save_pretrained).
    base = ModernBertForSequenceClassification.from_pretrained(os.path.join(out, "awkward", "model"))
    base.save_pretrained(os.path.join(out, "awkward_sharded"), max_shard_size="1MB")
    for dtype, tag in ((torch.bfloat16, "bf16"), (torch.float16, "f16")):
        m = ModernBertForSequenceClassification.from_pretrained(os.path.join(out, "awkward", "model")).to(dtype)
        m.save_pretrained(os.path.join(out, "awkward_" + tag))
        ref = m.float().eval()  # what the up-cast weights compute, in float32
        with torch.no_grad():
            inp, mask = padded(batch_a, ref.config.pad_token_id)
            manifest["configs"]["awkward"]["logits_a_" + tag] = ref(input_ids=inp, attention_mask=mask).logits.tolist()
    for d in ("awkward_sharded", "awkward_bf16", "awkward_f16"):
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(TOKENIZER_DIR, f), os.path.join(out, d, f))

    # A masked-LM model (tied decoder) for loading and MLM logits.
    mcfg = ModernBertConfig(hidden_size=64, num_attention_heads=2, intermediate_size=96, num_hidden_layers=2,
                            global_attn_every_n_layers=2, local_attention=16)
    mlm = ModernBertForMaskedLM(mcfg)
    perturb(mlm, 300)
    mlm.save_pretrained(os.path.join(out, "mlm", "model"))
    mlm.eval()
    mlm_batch = [short, enc[medium[0]]]
    with torch.no_grad():
        inp, mask = padded(mlm_batch, mcfg.pad_token_id)
        logits = mlm(input_ids=inp, attention_mask=mask).logits
    save_file({f"seq{i}": logits[i, :len(x)].contiguous() for i, x in enumerate(mlm_batch)},
              os.path.join(out, "mlm", "logits.safetensors"))
    manifest["mlm"] = {"batch": mlm_batch}
    json.dump(manifest, open(os.path.join(out, "manifest.json"), "w"))
    print(out)


if __name__ == "__main__":
    main(sys.argv[1])
