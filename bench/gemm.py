"""GEMM GFLOP/s of ModernBERT-base's linear layers on this machine, per backend, fp32 and bf16: the roofline that the
benchmark's ratios are read against. y = x @ W^T with x [tokens, in] and W [out, in] (no bias, as ModernBERT's
linears), for each token count in "tokens", through:
  torch-linear    torch.nn.functional.linear (fp32: libtorch's BLAS, MKL sgemm in the pip wheel; bf16: libtorch's
                  own dispatch, oneDNN matmul)
  onednn-packed   oneDNN with the weight reordered once: torch.ops.mkldnn._reorder_linear_weight +
                  torch.ops.mkldnn._linear_pointwise (what an inference path with prepacked weights does)
  onnxruntime     ONNX Runtime's MatMul with W as a constant initializer (prepacked by MLAS), intra-op threads =
                  "threads", output bound to a preallocated buffer; CPU ONNX Runtime has no bf16 MatMul
Each figure: 2 warm-up calls, then calls until "min_time" seconds (at least 3); GFLOP/s = 2·tokens·in·out / median
(gflops_best: / the fastest call; on a shared machine the median falls first). bench/common.js runs this with glibc's
mmap off (MALLOC_MMAP_MAX_=0), so large outputs reuse freed memory instead of being page-faulted on every call.
The "layer" rows are one encoder layer's four linears together (Wqkv, attn.Wo, mlp.Wi, mlp.Wo): their FLOPs over the
sum of their median times. roofline[dtype][tokens] = the best backend's layer GFLOP/s.
usage: python bench/gemm.py '{"threads": 2, "min_time": 0.3, "tokens": [32, 512, 4096]}' → JSON on stdout"""
import json, statistics, sys, time

args = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
threads = args.get("threads", 2)
min_time = args.get("min_time", 0.3)
token_counts = args.get("tokens", [32, 512, 4096])
hidden, intermediate = args.get("hidden", 768), args.get("intermediate", 1152)

import torch
torch.set_num_threads(threads)
torch.manual_seed(0)

# one encoder layer of ModernBERT-base: (name, in, out); Wqkv and mlp.Wi share a shape, measured once
LAYER = [("Wqkv", hidden, 3 * hidden), ("attn.Wo", hidden, hidden), ("mlp.Wi", hidden, 2 * intermediate),
         ("mlp.Wo", intermediate, hidden)]
SHAPES = sorted({(k, n) for _, k, n in LAYER}, key=lambda s: (-s[1], -s[0]))


def timed(fn):
    for _ in range(2):
        fn()
    ts = []
    start = time.perf_counter()
    while len(ts) < 3 or time.perf_counter() - start < min_time:
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), min(ts), len(ts)


def torch_linear(x, w, m):
    return lambda: torch.nn.functional.linear(x, w)


def onednn_packed(x, w, m):
    wp = torch.ops.mkldnn._reorder_linear_weight(w, m)
    return lambda: torch.ops.mkldnn._linear_pointwise(x, wp, None, "none", [], "")


def onnxruntime_matmul(x, w, m):
    if x.dtype != torch.float32:
        raise NotImplementedError("ONNX Runtime's CPU MatMul has no bfloat16 kernel")
    import numpy as np, onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    k, n = w.shape[1], w.shape[0]
    graph = helper.make_graph([helper.make_node("MatMul", ["X", "W"], ["Y"])], "linear",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["M", k])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["M", n])],
                              [numpy_helper.from_array(w.t().contiguous().numpy(), "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    binding = sess.io_binding()
    binding.bind_ortvalue_input("X", ort.OrtValue.ortvalue_from_numpy(x.numpy()))
    binding.bind_ortvalue_output("Y", ort.OrtValue.ortvalue_from_numpy(np.empty((m, n), dtype=np.float32)))
    return lambda: sess.run_with_iobinding(binding)


BACKENDS = {"torch-linear": torch_linear, "onednn-packed": onednn_packed, "onnxruntime": onnxruntime_matmul}
versions = {"torch": torch.__version__}
try:
    import onnxruntime
    versions["onnxruntime"] = onnxruntime.__version__
except ImportError as e:
    BACKENDS.pop("onnxruntime")
    versions["onnxruntime"] = f"not installed ({e})"
dtypes = {"fp32": torch.float32}
if torch.ops.mkldnn._is_mkldnn_bf16_supported():
    dtypes["bf16"] = torch.bfloat16

results, unsupported = [], {}
with torch.inference_mode():
    # backend by backend: each backend's thread pool (OpenMP, ONNX Runtime's) may spin after its last call, so
    # switching backends between every measurement would time one backend against the other's spinning threads
    for bname, make in BACKENDS.items():
        for dname, dtype in dtypes.items():
            for (k, n) in SHAPES:
                if f"{bname} {dname}" in unsupported:
                    break
                w = (torch.randn(n, k) / k ** 0.5).to(dtype)
                for m in token_counts:
                    x = torch.randn(m, k).to(dtype)
                    try:
                        fn = make(x, w, m)
                    except NotImplementedError as e:
                        unsupported[f"{bname} {dname}"] = str(e)
                        break
                    sec, best, reps = timed(fn)
                    flop = 2 * m * k * n
                    results.append({"backend": bname, "dtype": dname, "in": k, "out": n, "tokens": m, "reps": reps,
                                    "ms": sec * 1e3, "gflops": flop / sec / 1e9, "gflops_best": flop / best / 1e9})
                    print(json.dumps(results[-1]), file=sys.stderr)
                    del fn

# one layer's four linears per backend, dtype and token count; the best backend per dtype and token count
layer, roofline = [], {}
for dname in dtypes:
    for m in token_counts:
        for bname in BACKENDS:
            rows = {(r["in"], r["out"]): r for r in results if r["backend"] == bname and r["dtype"] == dname and r["tokens"] == m}
            if len(rows) != len(SHAPES):
                continue
            flops = sum(2 * m * k * n for _, k, n in LAYER)
            sec = sum(rows[(k, n)]["ms"] / 1e3 for _, k, n in LAYER)
            layer.append({"backend": bname, "dtype": dname, "tokens": m, "gflops": flops / sec / 1e9})
        best = max((r for r in layer if r["dtype"] == dname and r["tokens"] == m), key=lambda r: r["gflops"], default=None)
        if best:
            roofline.setdefault(dname, {})[str(m)] = {"gflops": best["gflops"], "backend": best["backend"]}

print(json.dumps({"threads": threads, "versions": versions, "layer_linears": [{"name": a, "in": k, "out": n} for a, k, n in LAYER],
                  "results": results, "layer": layer, "roofline": roofline, "unsupported": unsupported}))
