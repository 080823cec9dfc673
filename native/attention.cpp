#include "attention.h"

#include "threads.h"

#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>

namespace radbert {

const char* kernel_name(AttentionKernel k) {
  switch (k) {
    case AttentionKernel::CpuFlashPacked: return "cpu-flash-packed";
    case AttentionKernel::CudaFlashVarlen: return "cuda-flash-varlen";
    case AttentionKernel::SdpaPerSequence: return "sdpa-per-sequence";
  }
  return "unknown";
}

bool force_sdpa_from_env() {
  const char* v = std::getenv("RADBERT_ATTENTION");
  if (!v || !*v || std::string(v) == "auto") return false;
  if (std::string(v) == "sdpa") return true;
  throw std::invalid_argument(std::string("RADBERT_ATTENTION must be 'auto' or 'sdpa', got '") + v + "'");
}

AttentionKernel select_kernel(c10::DeviceType device, c10::ScalarType dtype, int64_t head_dim, double dropout_p,
                              bool force_sdpa) {
  if (force_sdpa) return AttentionKernel::SdpaPerSequence;
  const bool half = dtype == at::kBFloat16 || dtype == at::kHalf;
  if (device == c10::DeviceType::CUDA) {
    // Flash: fp16/bf16 only, head_dim a multiple of 8 up to 256. Dropout is supported by the kernel, but its mask
    // would come from CUDA's generator, not the model's; no ModernBERT config uses attention dropout on GPU here.
    if (half && head_dim % 8 == 0 && head_dim <= 256 && dropout_p == 0.0) return AttentionKernel::CudaFlashVarlen;
    return AttentionKernel::SdpaPerSequence;
  }
  if (device == c10::DeviceType::CPU && (half || dtype == at::kFloat) && dropout_p == 0.0)
    return AttentionKernel::CpuFlashPacked;
  return AttentionKernel::SdpaPerSequence;
}

std::vector<WorkItem> plan_cpu_items(const std::vector<int64_t>& cu, int64_t heads, int64_t window, int64_t threads) {
  if (cu.size() < 2 || heads < 1) throw std::invalid_argument("plan_cpu_items: need >= 1 sequence and >= 1 head");
  const int64_t n = static_cast<int64_t>(cu.size()) - 1;
  // On one thread splitting gains nothing and costs kernel calls: one item per sequence.
  const int64_t target = threads <= 1 ? 1 : 4 * threads;
  const int64_t groups = std::clamp<int64_t>((target + n - 1) / n, 1, heads);
  std::vector<WorkItem> items;
  items.reserve(n * groups);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t len = cu[i + 1] - cu[i];
    if (len <= 0) throw std::invalid_argument("plan_cpu_items: sequence " + std::to_string(i) + " is empty");
    const int64_t keys = window < 0 ? len : std::min(len, 2 * window + 1);
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t h0 = heads * g / groups, h1 = heads * (g + 1) / groups;
      if (h1 > h0) items.push_back({i, cu[i], len, h0, h1, len * keys * (h1 - h0)});
    }
  }
  std::stable_sort(items.begin(), items.end(), [](const WorkItem& a, const WorkItem& b) { return a.cost > b.cost; });
  return items;
}

FlashArgs flash_args(const std::vector<int64_t>& cu, int64_t window, int64_t head_dim) {
  if (cu.size() < 2 || cu.front() != 0) throw std::invalid_argument("flash_args: cu_seqlens must start at 0 with >= 1 sequence");
  if (head_dim <= 0) throw std::invalid_argument("flash_args: head_dim must be positive");
  FlashArgs a;
  a.cu_seqlens.reserve(cu.size());
  for (size_t i = 0; i < cu.size(); ++i) {
    if (i > 0 && cu[i] <= cu[i - 1]) throw std::invalid_argument("flash_args: cu_seqlens must increase");
    if (cu[i] > INT32_MAX) throw std::invalid_argument("flash_args: more than 2^31 - 1 tokens");
    a.cu_seqlens.push_back(static_cast<int32_t>(cu[i]));
    if (i > 0) a.max_len = std::max(a.max_len, cu[i] - cu[i - 1]);
  }
  a.window_left = a.window_right = window < 0 ? -1 : window;
  a.scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  return a;
}

std::vector<std::pair<std::string, std::string>> attention_kernels() {
  std::string cpu = std::string(kernel_name(AttentionKernel::CpuFlashPacked)) + " (fp32/bf16; " +
                    kernel_name(AttentionKernel::SdpaPerSequence) + " with attention dropout)";
  std::string cuda = std::string(kernel_name(AttentionKernel::CudaFlashVarlen)) + " (bf16/fp16, incl. bf16 autocast); " +
                     kernel_name(AttentionKernel::SdpaPerSequence) + " (fp32)";
  bool forced = false;
  try {
    forced = force_sdpa_from_env();
  } catch (const std::exception&) {
  }
  if (forced) cpu = cuda = std::string(kernel_name(AttentionKernel::SdpaPerSequence)) + " (RADBERT_ATTENTION=sdpa)";
  return {{"cpu", cpu}, {"cuda", cuda}};
}

namespace {

// RADBERT_DEBUG=1: one stderr line per distinct (kernel, device, dtype) the first time it runs.
void debug_once(AttentionKernel k, const torch::Tensor& q) {
  static const bool on = [] {
    const char* v = std::getenv("RADBERT_DEBUG");
    return v && *v && std::string(v) != "0";
  }();
  if (!on) return;
  static std::mutex mu;
  static std::set<std::string> seen;
  const std::string key = std::string(kernel_name(k)) + " on " + q.device().str() + " " + c10::toString(q.scalar_type());
  std::lock_guard<std::mutex> lock(mu);
  if (seen.insert(key).second) std::cerr << "radbert-native: attention kernel " << key << "\n";
}

// Boolean band mask [len, len]: true where |i - j| <= window (the token may attend).
torch::Tensor band_mask(int64_t len, int64_t window, const torch::Device& device) {
  auto idx = torch::arange(len, torch::TensorOptions().dtype(torch::kLong).device(device));
  auto dist = (idx.unsqueeze(0) - idx.unsqueeze(1)).abs();
  return dist.le(window);
}

// Multiply-adds of q k^T and p v over a packed batch, times 2: every token attends to min(len, 2 window + 1) keys.
double attention_flops(const std::vector<int64_t>& cu, int64_t window, int64_t width) {
  double flops = 0;
  for (size_t i = 0; i + 1 < cu.size(); ++i) {
    const double len = static_cast<double>(cu[i + 1] - cu[i]);
    flops += 4.0 * len * (window < 0 ? len : std::min(len, 2.0 * static_cast<double>(window) + 1.0)) * static_cast<double>(width);
  }
  return flops;
}

// ---- sdpa-per-sequence ----------------------------------------------------------------------------------------
torch::Tensor sdpa_per_sequence(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const Packed& batch, int64_t window, double dropout_p) {
  const int64_t n = batch.batch();
  std::vector<torch::Tensor> outs;
  outs.reserve(n);
  std::map<int64_t, torch::Tensor> masks;  // one band mask per distinct length
  // split_with_sizes, not slice: its backward is one cat where each slice's backward would zero-fill all T tokens.
  const auto lens = batch.lengths();
  auto split = [&](const torch::Tensor& t) { return n == 1 ? std::vector<torch::Tensor>{t} : t.split_with_sizes(lens, 0); };
  const auto qs = split(q), ks = split(k), vs = split(v);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t len = lens[i];
    // [len, heads, d] -> [1, heads, len, d]
    auto qi = qs[i].transpose(0, 1).unsqueeze(0);
    auto ki = ks[i].transpose(0, 1).unsqueeze(0);
    auto vi = vs[i].transpose(0, 1).unsqueeze(0);
    std::optional<torch::Tensor> mask;
    if (window >= 0 && len - 1 > window) {
      auto it = masks.find(len);
      if (it == masks.end()) it = masks.emplace(len, band_mask(len, window, q.device())).first;
      mask = it->second;
    }
    auto o = at::scaled_dot_product_attention(qi, ki, vi, mask, dropout_p, false);
    outs.push_back(o.squeeze(0).transpose(0, 1));  // [len, heads, d]
  }
  return n == 1 ? outs[0] : torch::cat(outs, 0);
}

// ---- cpu-flash-packed -----------------------------------------------------------------------------------------
// The additive float mask SDPA builds from our boolean band mask (0 where allowed, -inf elsewhere, in q's dtype), so
// the kernel sees exactly what scaled_dot_product_attention gives it. One per distinct length that needs one.
std::map<int64_t, torch::Tensor> float_masks(const std::vector<WorkItem>& items, int64_t window, const torch::Tensor& q) {
  std::map<int64_t, torch::Tensor> masks;
  if (window < 0) return masks;
  for (const auto& it : items) {
    if (it.len - 1 <= window || masks.count(it.len)) continue;
    auto allowed = band_mask(it.len, window, q.device());
    masks.emplace(it.len, torch::zeros({it.len, it.len}, q.options().requires_grad(false))
                              .masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity()));
  }
  return masks;
}

std::optional<torch::Tensor> mask_for(const std::map<int64_t, torch::Tensor>& masks, int64_t len) {
  auto it = masks.find(len);
  if (it == masks.end()) return std::nullopt;
  return it->second;
}

// Runs fn(i) for i in [0, n) inside ONE parallel region: each thread takes the next item from a shared counter, so
// items are served longest-first and a thread that the OS deschedules leaves its share to the others instead of
// holding everyone at a barrier. Calls inside fn are serial (ATen does not nest parallel regions). Thread-local state
// (grad mode, inference mode, autocast) is the caller's on every thread.
template <typename F>
void run_items(size_t n, const F& fn) {
  const int64_t threads = std::min<int64_t>(at::get_num_threads(), static_cast<int64_t>(n));
  if (threads <= 1 || at::in_parallel_region()) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  const at::ThreadLocalState state;
  at::parallel_for(0, threads, 1, [&](int64_t, int64_t) {
    at::ThreadLocalStateGuard guard(state);
    for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
  });
}

// [len, heads, d] slice of a packed tensor as the kernel's [1, heads, len, d] (a view, no copy).
torch::Tensor item_view(const torch::Tensor& t, const WorkItem& it) {
  return t.narrow(0, it.begin, it.len).narrow(1, it.head_begin, it.head_end - it.head_begin).transpose(0, 1).unsqueeze(0);
}

// Forward of every item into `out` [T, H, D] and, when given, the log-sum-exp into `lse` [H, T] (float32).
void cpu_flash_forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                       const std::vector<WorkItem>& items, const std::map<int64_t, torch::Tensor>& masks,
                       torch::Tensor& out, torch::Tensor* lse) {
  run_items(items.size(), [&](size_t i) {
    const auto& it = items[i];
    auto [o, l] = at::_scaled_dot_product_flash_attention_for_cpu(item_view(q, it), item_view(k, it), item_view(v, it),
                                                                  0.0, false, mask_for(masks, it.len), std::nullopt);
    item_view(out, it).copy_(o);
    if (lse) lse->narrow(0, it.head_begin, it.head_end - it.head_begin).narrow(1, it.begin, it.len).copy_(l.squeeze(0));
  });
}

// The autograd node of cpu-flash-packed: the same kernels SDPA's autograd would call per sequence, in one parallel
// region for the forward and one for the backward.
struct CpuFlashPacked : public torch::autograd::Function<CpuFlashPacked> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const std::vector<int64_t>& cu, int64_t window) {
    const auto items = plan_cpu_items(cu, q.size(1), window, at::get_num_threads());
    const auto masks = float_masks(items, window, q);
    auto out = torch::empty(q.sizes(), q.options());
    auto lse = torch::empty({q.size(1), q.size(0)}, q.options().dtype(torch::kFloat));
    cpu_flash_forward(q, k, v, items, masks, out, &lse);
    ctx->save_for_backward({q, k, v, out, lse});
    ctx->saved_data["cu"] = c10::List<int64_t>(cu);
    ctx->saved_data["window"] = window;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &out = saved[3], &lse = saved[4];
    const auto cu_list = ctx->saved_data["cu"].toIntList();
    const std::vector<int64_t> cu(cu_list.begin(), cu_list.end());
    const int64_t window = ctx->saved_data["window"].toInt();
    KernelThreads threads(3.0 * attention_flops(cu, window, q.size(1) * q.size(2)));
    const auto items = plan_cpu_items(cu, q.size(1), window, at::get_num_threads());
    const auto masks = float_masks(items, window, q);
    const auto& grad = grads[0];
    auto dq = torch::empty(q.sizes(), q.options()), dk = torch::empty(k.sizes(), k.options()),
         dv = torch::empty(v.sizes(), v.options());
    run_items(items.size(), [&](size_t i) {
      const auto& it = items[i];
      auto l = lse.narrow(0, it.head_begin, it.head_end - it.head_begin).narrow(1, it.begin, it.len).unsqueeze(0);
      auto [gq, gk, gv] = at::_scaled_dot_product_flash_attention_for_cpu_backward(
          item_view(grad, it), item_view(q, it), item_view(k, it), item_view(v, it), item_view(out, it), l, 0.0, false,
          mask_for(masks, it.len), std::nullopt);
      item_view(dq, it).copy_(gq);
      item_view(dk, it).copy_(gk);
      item_view(dv, it).copy_(gv);
    });
    return {dq, dk, dv, torch::Tensor(), torch::Tensor()};
  }
};

torch::Tensor cpu_flash_packed(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const Packed& batch, int64_t window) {
  const bool grad = torch::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
  if (grad) return CpuFlashPacked::apply(q, k, v, batch.cu, window);
  if (batch.batch() == 1) {
    // One sequence (a single text's latency): one kernel call over every head, split across threads by the kernel
    // itself; items of a few heads each would pay the kernel's fixed cost once per item.
    const auto items = plan_cpu_items(batch.cu, q.size(1), window, 1);
    const auto masks = float_masks(items, window, q);
    auto [o, lse] = at::_scaled_dot_product_flash_attention_for_cpu(item_view(q, items[0]), item_view(k, items[0]),
                                                                    item_view(v, items[0]), 0.0, false,
                                                                    mask_for(masks, items[0].len), std::nullopt);
    return o.squeeze(0).transpose(0, 1);
  }
  const auto items = plan_cpu_items(batch.cu, q.size(1), window, at::get_num_threads());
  const auto masks = float_masks(items, window, q);
  auto out = torch::empty(q.sizes(), q.options());
  cpu_flash_forward(q, k, v, items, masks, out, nullptr);
  return out;
}

// ---- cuda-flash-varlen ----------------------------------------------------------------------------------------
// Packed [T, heads, d] in, [T, heads, d] out. Autograd through ATen's own derivative of _flash_attention_forward
// (_flash_attention_backward with the same cu_seqlens, max lengths, scale and window). Only the arguments that torch
// 2.5 to 2.13 share are passed.
torch::Tensor cuda_flash_varlen(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const Packed& batch, int64_t window) {
  const auto a = flash_args(batch.cu, window, q.size(2));
  // int32 offsets on the device, copied once per batch rather than once per layer (the compute thread is the only
  // caller; the key is the host offsets and the device)
  thread_local std::vector<int32_t> last_cu;
  thread_local torch::Tensor last_dev;
  if (!last_dev.defined() || last_cu != a.cu_seqlens || last_dev.device() != q.device()) {
    last_dev = torch::tensor(a.cu_seqlens, torch::TensorOptions().dtype(torch::kInt)).to(q.device());
    last_cu = a.cu_seqlens;
  }
  const auto& cu = last_dev;
  const std::optional<at::Tensor> cu_opt(cu);
  const std::optional<double> scale(a.scale);
  const std::optional<int64_t> left(a.window_left), right(a.window_right);
  auto res = at::_flash_attention_forward(q, k, v, cu_opt, cu_opt, a.max_len, a.max_len, /*dropout_p=*/0.0,
                                          /*is_causal=*/false, /*return_debug_mask=*/false, scale, left, right);
  return std::get<0>(res);
}

}  // namespace

torch::Tensor varlen_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const Packed& batch, int64_t window, double dropout_p) {
  KernelThreads threads(attention_flops(batch.cu, window, q.size(1) * q.size(2)));
  static const bool force_sdpa = force_sdpa_from_env();  // read once: the kernel must not change mid-training
  const auto kernel = select_kernel(q.device().type(), q.scalar_type(), q.size(2), dropout_p, force_sdpa);
  debug_once(kernel, q);
  switch (kernel) {
    case AttentionKernel::CpuFlashPacked: return cpu_flash_packed(q, k, v, batch, window);
    case AttentionKernel::CudaFlashVarlen: return cuda_flash_varlen(q, k, v, batch, window);
    case AttentionKernel::SdpaPerSequence: break;
  }
  return sdpa_per_sequence(q, k, v, batch, window, dropout_p);
}

}  // namespace radbert
