"""One side of `npm run bench`: Hugging Face transformers + torch, the Python reference.
usage: python bench/worker_hf.py '{"mode": "infer"|"train"|"startup"|"logits", "model": DIR, "inputs": FILE, ...}' → JSON on stdout"""
import json, sys, time
t_start = time.perf_counter()
args = json.loads(sys.argv[1])
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

torch.set_num_threads(args.get("threads", 2))
inputs = json.load(open(args["inputs"]))
dtype = torch.bfloat16 if args.get("bf16") else None


def rss_peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024


tok = AutoTokenizer.from_pretrained(args["model"])
model = AutoModelForSequenceClassification.from_pretrained(args["model"], attn_implementation="sdpa")
max_len = args.get("max_length", 256)


def batch_of(texts):
    return tok(texts, truncation=True, max_length=max_len, padding=True, return_tensors="pt")


def forward(texts):
    enc = batch_of(texts)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
        return model(**enc).logits


def timed(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return ts


result = {"side": "hf", "torch": torch.__version__}
mode = args["mode"]
if mode == "startup":
    model.eval()
    forward(["CT of Chest with pneumothorax"])
    result["startup_s"] = time.perf_counter() - t_start
elif mode == "logits":
    # the parity check before timing: args["texts"] as one padded batch
    model.eval()
    result["logits"] = forward(args["texts"]).float().tolist()
elif mode == "infer":
    model.eval()
    texts = inputs["infer"]
    bs = args["batch_size"]
    n = args.get("n", len(texts))

    def run():
        for i in range(0, n, bs):
            forward(texts[i:i + bs])

    ts = timed(run, args.get("reps", 3), args.get("warmup", 1))
    result["seconds"] = ts
    result["samples"] = n
    if bs == 1:
        per = []
        for t in texts[:n]:
            s = time.perf_counter()
            forward([t])
            per.append(time.perf_counter() - s)
        result["latency_s"] = per
elif mode == "train":
    # warm-up steps on batches 0..warmup-1, then `reps` repetitions of the same `steps` batches that follow
    model.train()
    texts, targets = inputs["train"], torch.tensor(inputs["targets"])
    bs, steps, warmup = args.get("batch_size", 8), args.get("steps", 8), args.get("warmup", 2)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, fused=True)

    def step_on(i):
        enc = batch_of(texts[i * bs:(i + 1) * bs])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
            out = model(**enc, labels=targets[i * bs:(i + 1) * bs])
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        model.zero_grad(set_to_none=True)

    for i in range(warmup):
        step_on(i)

    def run():
        for i in range(warmup, warmup + steps):
            step_on(i)

    result["seconds"] = timed(run, args.get("reps", 2), 0)
    result["samples"] = steps * bs
elif mode == "mlm":
    # ModernBertForMaskedLM with HF's initialisation from the classifier's config, sparse prediction (what the mlm
    # command and bench/hf_mlm.py train), DataCollatorForLanguageModeling's masking at 0.3; same loop as "train"
    from transformers import DataCollatorForLanguageModeling, ModernBertForMaskedLM
    torch.manual_seed(42)
    cfg = model.config
    cfg.architectures, cfg.sparse_prediction = ["ModernBertForMaskedLM"], True
    lm = ModernBertForMaskedLM(cfg)
    lm.train()
    collator = DataCollatorForLanguageModeling(tok, mlm_probability=0.3)
    texts = inputs["train"]
    bs, steps, warmup = args.get("batch_size", 16), args.get("steps", 8), args.get("warmup", 2)
    opt = torch.optim.AdamW(lm.parameters(), lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, fused=True)

    def step_on(i):
        enc = tok(texts[i * bs:(i + 1) * bs], truncation=True, max_length=max_len)["input_ids"]
        batch = collator([{"input_ids": x} for x in enc])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
            out = lm(**batch)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
        opt.step()
        lm.zero_grad(set_to_none=True)

    for i in range(warmup):
        step_on(i)

    def run():
        for i in range(warmup, warmup + steps):
            step_on(i)

    result["seconds"] = timed(run, args.get("reps", 2), 0)
    result["samples"] = steps * bs
result["peak_rss_mb"] = rss_peak_mb()
print(json.dumps(result))
