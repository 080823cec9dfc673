"""Exports a transformers checkpoint folder (ModernBertForSequenceClassification) to ONNX as transformers.js reads a
local model: DIR/onnx/model.onnx beside DIR's config.json and tokenizer files. Inputs input_ids and attention_mask
(int64, dynamic batch and sequence axes), output logits. Then checks the ONNX model under onnxruntime against
transformers on padded batches of short and long (> 128 tokens: the sliding window) texts and writes the result to
DIR/onnx/export.json. Skips the export when DIR/onnx/export.json says the same exporter already exported these weights.
usage: python bench/export_onnx.py DIR [DIR...] [--exporter dynamo|torchscript] [--max-length 256]"""
import argparse, hashlib, json, os, sys, time

p = argparse.ArgumentParser()
p.add_argument("dirs", nargs="+")
p.add_argument("--exporter", choices=["dynamo", "torchscript"], default="dynamo")
p.add_argument("--max-length", type=int, default=256)
args = p.parse_args()

import numpy as np, onnx, onnxruntime as ort, torch, transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer

# short, medium and long (over the 128-token local attention window, truncated at --max-length) radiology-like texts
CHECK_TEXTS = [
    "CT of Chest with pneumothorax",
    "Axial T2-weighted MRI of the brain showing a hyperintense lesion in the left frontal lobe",
    "x",
    " ".join(["Contrast-enhanced axial computed tomography of the abdomen shows a hypodense hepatic mass"] * 30),
]


def weights_digest(d):
    st = os.stat(os.path.join(d, "model.safetensors"))
    return hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]


def export(d):
    out_dir = os.path.join(d, "onnx")
    meta_file = os.path.join(out_dir, "export.json")
    digest = weights_digest(d)
    if os.path.exists(meta_file) and os.path.exists(os.path.join(out_dir, "model.onnx")):
        meta = json.load(open(meta_file))
        if meta.get("weights") == digest and meta.get("exporter") == args.exporter:
            return meta
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForSequenceClassification.from_pretrained(d, attn_implementation="sdpa").eval()
    # batch 2 and unequal lengths, so that no axis is specialised to 1 and the mask has padding
    ex = tok(CHECK_TEXTS[:2], padding=True, return_tensors="pt")
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, f"model.onnx.tmp{os.getpid()}")
    t = time.perf_counter()
    if args.exporter == "dynamo":
        batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
        prog = torch.onnx.export(model, (), kwargs={"input_ids": ex["input_ids"], "attention_mask": ex["attention_mask"]},
                                 input_names=["input_ids", "attention_mask"], output_names=["logits"],
                                 dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
                                 dynamo=True, external_data=False, verbose=False)
        prog.save(tmp)
    else:
        axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}}
        torch.onnx.export(model, (ex["input_ids"], ex["attention_mask"]), tmp, input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], dynamic_axes=axes, dynamo=False, opset_version=17)
    export_s = time.perf_counter() - t
    os.replace(tmp, os.path.join(out_dir, "model.onnx"))
    sess = ort.InferenceSession(os.path.join(out_dir, "model.onnx"), providers=["CPUExecutionProvider"])
    worst = 0.0
    shapes = []
    for batch_texts in (CHECK_TEXTS, CHECK_TEXTS[:1], CHECK_TEXTS[-1:]):
        enc = tok(batch_texts, padding=True, truncation=True, max_length=args.max_length, return_tensors="pt")
        with torch.inference_mode():
            ref = model(**enc).logits.numpy()
        got = sess.run(["logits"], {"input_ids": enc["input_ids"].numpy(), "attention_mask": enc["attention_mask"].numpy()})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
        shapes.append(list(enc["input_ids"].shape))
    meta = {"exporter": args.exporter, "opset": onnx.load(os.path.join(out_dir, "model.onnx"), load_external_data=False).opset_import[0].version,
            "torch": torch.__version__, "transformers": transformers.__version__, "onnx": onnx.__version__,
            "onnxruntime": ort.__version__, "export_s": export_s, "weights": digest,
            "max_abs_diff_onnxruntime_vs_transformers": worst, "checked_shapes": shapes}
    if worst > 1e-5:
        raise SystemExit(f"{d}: the exported ONNX model's logits differ from transformers' by {worst:.3g} (> 1e-5)")
    json.dump(meta, open(meta_file, "w"), indent=2)
    return meta


for d in args.dirs:
    m = export(d)
    print(json.dumps({"dir": d, **m}))
