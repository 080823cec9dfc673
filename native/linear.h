// nn.Linear on CPU through the GEMM library that is fastest on this processor, with the same fp32 contract.
//
// libtorch links two GEMM libraries: MKL (what torch::linear uses for float32 on CPU) and oneDNN (what it uses for
// bfloat16). MKL takes slow code paths on non-Intel x86 processors: on an AMD EPYC it reaches 90-180 GFLOP/s on
// ModernBERT's shapes where oneDNN reaches 300-390 (bench/gemm.py). So, per process:
//  - inference (no autograd): oneDNN with the weight reordered once into oneDNN's blocked layout and reused until
//    the weight changes (PackedWeight), in float32 where oneDNN is the chosen backend, and always in bfloat16 (bf16
//    autocast: the bf16 copy is made once per weight version instead of being cast on use);
//  - training in float32: oneDNN for the forward and both backward GEMMs (a custom autograd node) where oneDNN is the
//    chosen backend; MKL otherwise. bf16 autocast training keeps libtorch's own autocast path (HF Trainer's contract).
// The backend is chosen by rule (CPU vendor: MKL on Intel, oneDNN elsewhere) or by RADBERT_GEMM=mkl|onednn|auto; a
// rule, not a timing, so a run and its --resume always use the same one.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace radbert {

// Libtorch: torch::linear for every dtype, as libtorch (and so transformers) runs it: MKL in float32, libtorch's
// autocast linear (weights cast per use) under bf16 autocast. The reference path, for comparisons.
enum class GemmBackend { Mkl, OneDnn, Libtorch };

struct GemmPolicy {
  GemmBackend fp32 = GemmBackend::Mkl;  // float32 linear layers; bf16 runs on oneDNN unless Libtorch
  std::string reason;                   // why: the env variable or setGemm, or the CPU vendor rule
};

// The process's policy: RADBERT_GEMM or the CPU rule, decided on first use, or what set_gemm_policy() chose last.
// Throws std::invalid_argument for a bad RADBERT_GEMM.
GemmPolicy gemm_policy();
// "auto" (the CPU rule, ignoring RADBERT_GEMM), "mkl", "onednn" or "libtorch" from now on, process-wide
// (native().setGemm()). Throws std::invalid_argument for another name.
void set_gemm_policy(const std::string& name);
const char* gemm_backend_name(GemmBackend b);

// What this CPU is and can do, for version().cpu: vendor, model name, and ISA flags that matter for GEMMs.
std::vector<std::pair<std::string, std::string>> cpu_description();

// A copy of one weight (and its bias) in another dtype or layout, valid while the weight is unchanged: same storage,
// same version counter value, no weights_changed() since it was made (runtime.h), same dtype.
struct CastWeight {
  torch::Tensor weight, bias;
  const void* source = nullptr;
  int64_t version = 0;
  uint64_t epoch = 0;
  at::ScalarType dtype = at::kFloat;
};

// What a Linear keeps between calls: for inference the weight reordered into oneDNN's blocked layout (fp32 or bf16);
// for bf16 training the step's dense bf16 copy (made once per optimizer step, not cast per use).
struct PackedWeight {
  CastWeight infer, train;
};

// Whether every linear layer of a training step runs in linear.cpp's own autograd nodes (bf16 autocast, or float32 on
// oneDNN), so that their backward GEMMs scope their threads (threads.h); libtorch's own backward does not.
bool linear_layers_scoped(bool bf16);

// y = x w^T + b for x [N, in], w [out, in], b [out] or undefined, on the policy's path (see the top of this file).
// `cache` belongs to the caller's Linear and is only touched on the compute thread.
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, PackedWeight& cache);

}  // namespace radbert
