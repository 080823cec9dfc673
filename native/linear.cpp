#include "linear.h"

#include "runtime.h"

#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/cpu/Utils.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstdlib>
#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace radbert {

namespace {

// "GenuineIntel", "AuthenticAMD", ... ("" off x86).
std::string cpu_vendor() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return "";
  char v[13] = {};
  std::memcpy(v, &b, 4);
  std::memcpy(v + 4, &d, 4);
  std::memcpy(v + 8, &c, 4);
  return v;
#else
  return "";
#endif
}

// RADBERT_GEMM / set_gemm_policy(): "auto" or "" → the CPU rule; "mkl" / "onednn" forced; `source` names the setting.
GemmPolicy policy_for(const std::string& v, const std::string& source) {
  GemmPolicy p;
  if (v == "mkl" || v == "onednn") {
    p.fp32 = v == "mkl" ? GemmBackend::Mkl : GemmBackend::OneDnn;
    p.reason = source + "=" + v;
    return p;
  }
  if (!v.empty() && v != "auto") throw std::invalid_argument(source + " must be 'auto', 'mkl' or 'onednn', got '" + v + "'");
  const std::string vendor = cpu_vendor();
  // MKL dispatches its fast kernels on Intel processors only; oneDNN (Intel's too) picks its kernels by ISA.
  p.fp32 = vendor == "GenuineIntel" ? GemmBackend::Mkl : GemmBackend::OneDnn;
  p.reason = (vendor.empty() ? std::string("unknown CPU vendor") : vendor) +
             (p.fp32 == GemmBackend::Mkl ? ": MKL is at its best on Intel" : ": MKL takes slow paths on non-Intel CPUs");
  return p;
}

std::mutex g_policy_mu;
std::optional<GemmPolicy> g_policy;  // decided on first use, or set
std::atomic<int> g_fp32{-1};         // g_policy->fp32 for the hot path (-1: not decided yet)

// libtorch's oneDNN linear operators, registered by libtorch_cpu in the "mkldnn" namespace (inductor uses them).
using LinearPointwise = at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                                   c10::string_view, c10::List<std::optional<c10::Scalar>>,
                                   std::optional<c10::string_view>);
using ReorderWeight = at::Tensor(const at::Tensor&, std::optional<int64_t>);

const c10::TypedOperatorHandle<LinearPointwise>& pointwise_op() {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn::_linear_pointwise", "").typed<LinearPointwise>();
  return op;
}

const c10::TypedOperatorHandle<ReorderWeight>& reorder_op() {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn::_reorder_linear_weight", "").typed<ReorderWeight>();
  return op;
}

// oneDNN's x w^T (+ b) for a 2-D x; w may be a strided view or a reordered (mkldnn) tensor.
torch::Tensor onednn_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  const std::optional<at::Tensor> bias = b.defined() ? std::optional<at::Tensor>(b) : std::nullopt;
  return pointwise_op().call(x, w, bias, "none", c10::List<std::optional<c10::Scalar>>(), std::nullopt);
}

// float32 training on oneDNN: the forward and both backward GEMMs (dx = dy w, dw = dy^T x) run on oneDNN, on
// transposed views (no copies); the bias gradient is dy summed over rows, as libtorch's addmm backward computes it.
// Two nodes, with and without bias: a custom node's inputs must all be defined tensors.
torch::autograd::variable_list onednn_linear_backward(torch::autograd::AutogradContext* ctx,
                                                      const torch::Tensor& grad, bool bias) {
  const auto saved = ctx->get_saved_variables();
  const auto &x = saved[0], &w = saved[1];
  const auto gy = grad.contiguous();
  torch::autograd::variable_list out(bias ? 3 : 2);
  if (ctx->needs_input_grad(0)) out[0] = onednn_linear(gy, w.t(), {});
  if (ctx->needs_input_grad(1)) out[1] = onednn_linear(gy.t(), x.t(), {});
  if (bias && ctx->needs_input_grad(2)) out[2] = gy.sum(0);
  return out;
}

struct OneDnnLinearFn : public torch::autograd::Function<OneDnnLinearFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w,
                               const torch::Tensor& b) {
    ctx->save_for_backward({x, w});
    return onednn_linear(x, w, b);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    return onednn_linear_backward(ctx, grads[0], true);
  }
};

struct OneDnnLinearNoBiasFn : public torch::autograd::Function<OneDnnLinearNoBiasFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w) {
    ctx->save_for_backward({x, w});
    return onednn_linear(x, w, {});
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    return onednn_linear_backward(ctx, grads[0], false);
  }
};

// The cached oneDNN copy of (w, b) in `dtype`, rebuilt when w changed since it was made.
const PackedWeight& packed(PackedWeight& cache, const torch::Tensor& w, const torch::Tensor& b, at::ScalarType dtype) {
  const void* source = w.const_data_ptr();
  const int64_t version = w._version();
  const uint64_t epoch = weights_epoch();
  if (!cache.weight.defined() || cache.source != source || cache.version != version || cache.epoch != epoch ||
      cache.dtype != dtype) {
    c10::InferenceMode guard;
    cache.weight = reorder_op().call(w.detach().to(dtype), std::nullopt);
    cache.bias = b.defined() ? b.detach().to(dtype) : torch::Tensor();
    cache.source = source;
    cache.version = version;
    cache.epoch = epoch;
    cache.dtype = dtype;
  }
  return cache;
}

}  // namespace

const char* gemm_backend_name(GemmBackend b) { return b == GemmBackend::Mkl ? "mkl" : "onednn"; }

GemmPolicy gemm_policy() {
  std::lock_guard<std::mutex> lock(g_policy_mu);
  if (!g_policy) {
    const char* env = std::getenv("RADBERT_GEMM");
    g_policy = policy_for(env ? env : "", "RADBERT_GEMM");
    g_fp32.store(static_cast<int>(g_policy->fp32));
  }
  return *g_policy;
}

void set_gemm_policy(const std::string& name) {
  auto p = policy_for(name == "auto" ? "" : name, "setGemm");
  std::lock_guard<std::mutex> lock(g_policy_mu);
  g_policy = std::move(p);
  g_fp32.store(static_cast<int>(g_policy->fp32));
}

std::vector<std::pair<std::string, std::string>> cpu_description() {
  std::vector<std::pair<std::string, std::string>> out{{"vendor", cpu_vendor()}};
  const auto caps = at::cpu::get_cpu_capabilities();
  auto it = caps.find("cpu_name");
  out.emplace_back("name", it != caps.end() && it->second.isString() ? it->second.toStringRef() : "");
  std::string flags;
  for (const char* f : {"avx2", "avx512_f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8"}) {
    auto c = caps.find(f);
    if (c != caps.end() && c->second.isBool() && c->second.toBool()) flags += (flags.empty() ? "" : " ") + std::string(f);
  }
  out.emplace_back("flags", flags);
  return out;
}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, PackedWeight& cache) {
  if (x.device().type() != c10::DeviceType::CPU || x.dim() != 2) return torch::linear(x, w, b);
  const bool autocast = at::autocast::is_autocast_enabled(c10::DeviceType::CPU);
  const auto dtype = autocast ? at::autocast::get_autocast_dtype(c10::DeviceType::CPU) : x.scalar_type();
  if (dtype != at::kFloat && dtype != at::kBFloat16) return torch::linear(x, w, b);
  const bool grad = torch::GradMode::is_enabled() &&
                    (x.requires_grad() || w.requires_grad() || (b.defined() && b.requires_grad()));
  const int chosen = g_fp32.load(std::memory_order_relaxed);
  const bool onednn_fp32 = (chosen < 0 ? gemm_policy().fp32 : static_cast<GemmBackend>(chosen)) == GemmBackend::OneDnn;
  if (grad) {
    // bf16 autocast training stays on libtorch's autocast (its weight casts are made once per step and cached)
    if (dtype == at::kFloat && onednn_fp32 && x.scalar_type() == at::kFloat)
      return b.defined() ? OneDnnLinearFn::apply(x, w, b) : OneDnnLinearNoBiasFn::apply(x, w);
    return torch::linear(x, w, b);
  }
  if (dtype == at::kFloat && !onednn_fp32) return torch::linear(x, w, b);
  // Inference: the weight reordered once per version. Under bf16 autocast, as autocast's linear: input, weight and
  // bias in bf16, bf16 output (oneDNN is what libtorch's own bf16 matmul runs on).
  const auto& p = packed(cache, w, b, dtype);
  return onednn_linear(x.scalar_type() == dtype ? x : x.to(dtype), p.weight, p.bias);
}

}  // namespace radbert
