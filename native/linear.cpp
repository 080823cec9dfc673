#include "linear.h"

#include "runtime.h"
#include "threads.h"

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
  if (v == "mkl" || v == "onednn" || v == "libtorch") {
    p.fp32 = v == "mkl" ? GemmBackend::Mkl : v == "onednn" ? GemmBackend::OneDnn : GemmBackend::Libtorch;
    p.reason = source + "=" + v;
    return p;
  }
  if (!v.empty() && v != "auto")
    throw std::invalid_argument(source + " must be 'auto', 'mkl', 'onednn' or 'libtorch', got '" + v + "'");
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

// Training on oneDNN: y = xc wc^T + bc, where xc, wc, bc are x, w, b in the compute dtype (float32: themselves; bf16
// autocast: x cast here, w and b the step's cached bf16 copies). Backward: dx = dy wc, dw = dy^T xc, db = dy summed
// over rows, each cast back to its input's dtype: what autocast's casts and addmm's backward compute, with the GEMMs on
// transposed views (libtorch's addmm backward in bf16 makes dw transposed and pays a transposing copy to cast it).
// Inputs (x, w, b, wc, bc); two nodes, with and without bias: a custom node's inputs must all be defined tensors.
torch::Tensor onednn_train_forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                                   const torch::Tensor& w, const torch::Tensor& wc, const torch::Tensor& bc) {
  const auto xc = x.scalar_type() == wc.scalar_type() ? x : x.to(wc.scalar_type());
  ctx->save_for_backward({xc, wc});
  ctx->saved_data["x_dtype"] = static_cast<int64_t>(x.scalar_type());
  ctx->saved_data["w_dtype"] = static_cast<int64_t>(w.scalar_type());
  return onednn_linear(xc, wc, bc);
}

// Outputs above which a layer's weight gradient goes through libtorch's mm (see onednn_train_backward).
constexpr int64_t kWideOutputs = 8192;

torch::autograd::variable_list onednn_train_backward(torch::autograd::AutogradContext* ctx, const torch::Tensor& grad,
                                                     bool bias) {
  const auto saved = ctx->get_saved_variables();
  const auto &xc = saved[0], &wc = saved[1];
  const auto x_dtype = static_cast<at::ScalarType>(ctx->saved_data["x_dtype"].toInt());
  const auto w_dtype = static_cast<at::ScalarType>(ctx->saved_data["w_dtype"].toInt());
  KernelThreads threads(2.0 * static_cast<double>(xc.numel()) * static_cast<double>(wc.size(0)));
  const auto gy = grad.scalar_type() == wc.scalar_type() ? grad.contiguous() : grad.to(wc.scalar_type()).contiguous();
  torch::autograd::variable_list out(bias ? 5 : 3);
  if (ctx->needs_input_grad(0)) out[0] = onednn_linear(gy, wc.t(), {}).to(x_dtype);
  // dw = dy^T xc: oneDNN's inner product wants a plain dy^T, a transposing copy of [out, rows]; for a layer as wide as
  // the masked-LM decoder (50k outputs) that copy costs more than the GEMM, and libtorch's mm takes dy^T as a
  // transposed operand without one (MKL in float32, oneDNN's matmul in bf16).
  if (ctx->needs_input_grad(1))
    out[1] = (wc.size(0) > kWideOutputs ? at::mm(gy.t(), xc) : onednn_linear(gy.t(), xc.t(), {})).to(w_dtype);
  if (bias && ctx->needs_input_grad(2)) out[2] = gy.sum(0).to(w_dtype);
  return out;
}

struct OneDnnLinearFn : public torch::autograd::Function<OneDnnLinearFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w,
                               const torch::Tensor& b, const torch::Tensor& wc, const torch::Tensor& bc) {
    return onednn_train_forward(ctx, x, w, wc, bc);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    return onednn_train_backward(ctx, grads[0], true);
  }
};

struct OneDnnLinearNoBiasFn : public torch::autograd::Function<OneDnnLinearNoBiasFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w,
                               const torch::Tensor& wc) {
    return onednn_train_forward(ctx, x, w, wc, {});
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    return onednn_train_backward(ctx, grads[0], false);
  }
};

// Whether the copy in `c` was made from w as it is now (same storage and version, no weights_changed() since).
bool fresh(const CastWeight& c, const torch::Tensor& w, at::ScalarType dtype) {
  return c.weight.defined() && c.source == w.const_data_ptr() && c.version == w._version() &&
         c.epoch == weights_epoch() && c.dtype == dtype;
}

void stamp(CastWeight& c, const torch::Tensor& w, at::ScalarType dtype) {
  c.source = w.const_data_ptr();
  c.version = w._version();
  c.epoch = weights_epoch();
  c.dtype = dtype;
}

// The step's bf16 copies of (w, b) for training: made on first use after the weights changed (once per optimizer
// step), plain dense tensors without autograd history (the node routes the gradients to w and b).
const CastWeight& train_copy(CastWeight& c, const torch::Tensor& w, const torch::Tensor& b, at::ScalarType dtype) {
  if (!fresh(c, w, dtype)) {
    torch::NoGradGuard guard;
    c.weight = w.detach().to(dtype);
    c.bias = b.defined() ? b.detach().to(dtype) : torch::Tensor();
    stamp(c, w, dtype);
  }
  return c;
}

// The oneDNN-reordered copy of (w, b) in `dtype` for inference, rebuilt when w changed since it was made.
const CastWeight& packed(CastWeight& c, const torch::Tensor& w, const torch::Tensor& b, at::ScalarType dtype) {
  if (!fresh(c, w, dtype)) {
    c10::InferenceMode guard;
    c.weight = reorder_op().call(w.detach().to(dtype), std::nullopt);
    c.bias = b.defined() ? b.detach().to(dtype) : torch::Tensor();
    stamp(c, w, dtype);
  }
  return c;
}

}  // namespace

const char* gemm_backend_name(GemmBackend b) {
  switch (b) {
    case GemmBackend::Mkl: return "mkl";
    case GemmBackend::OneDnn: return "onednn";
    case GemmBackend::Libtorch: return "libtorch";
  }
  return "?";
}

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

bool linear_layers_scoped(bool bf16) {
  if (bf16) return true;
  const int chosen = g_fp32.load(std::memory_order_relaxed);
  return (chosen < 0 ? gemm_policy().fp32 : static_cast<GemmBackend>(chosen)) == GemmBackend::OneDnn;
}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, PackedWeight& cache) {
  KernelThreads threads(2.0 * static_cast<double>(x.numel()) * static_cast<double>(w.size(0)));
  if (x.device().type() != c10::DeviceType::CPU || x.dim() != 2 || w.scalar_type() != at::kFloat)
    return torch::linear(x, w, b);
  const bool autocast = at::autocast::is_autocast_enabled(c10::DeviceType::CPU);
  const auto dtype = autocast ? at::autocast::get_autocast_dtype(c10::DeviceType::CPU) : x.scalar_type();
  if (dtype != at::kFloat && dtype != at::kBFloat16) return torch::linear(x, w, b);
  const bool grad = torch::GradMode::is_enabled() &&
                    (x.requires_grad() || w.requires_grad() || (b.defined() && b.requires_grad()));
  const int chosen = g_fp32.load(std::memory_order_relaxed);
  const auto backend = chosen < 0 ? gemm_policy().fp32 : static_cast<GemmBackend>(chosen);
  if (backend == GemmBackend::Libtorch) return torch::linear(x, w, b);
  const bool onednn_fp32 = backend == GemmBackend::OneDnn;
  if (grad) {
    if (dtype == at::kFloat) {
      if (!onednn_fp32 || x.scalar_type() != at::kFloat) return torch::linear(x, w, b);
      return b.defined() ? OneDnnLinearFn::apply(x, w, b, w, b) : OneDnnLinearNoBiasFn::apply(x, w, w);
    }
    // bf16 autocast training: the step's bf16 copies, and no autocast casts of w and b per use
    const auto& c = train_copy(cache.train, w, b, dtype);
    return b.defined() ? OneDnnLinearFn::apply(x, w, b, c.weight, c.bias) : OneDnnLinearNoBiasFn::apply(x, w, c.weight);
  }
  if (dtype == at::kFloat && !onednn_fp32) return torch::linear(x, w, b);
  // Inference: the weight reordered once per version. Under bf16 autocast, as autocast's linear: input, weight and
  // bias in bf16, bf16 output (oneDNN is what libtorch's own bf16 matmul runs on).
  const auto& p = packed(cache.infer, w, b, dtype);
  return onednn_linear(x.scalar_type() == dtype ? x : x.to(dtype), p.weight, p.bias);
}

}  // namespace radbert
