#include "attention.h"

#include <map>

namespace radbert {

namespace {

// Boolean band mask [len, len]: true where |i - j| <= window (the token may attend).
torch::Tensor band_mask(int64_t len, int64_t window, const torch::Device& device) {
  auto idx = torch::arange(len, torch::TensorOptions().dtype(torch::kLong).device(device));
  auto dist = (idx.unsqueeze(0) - idx.unsqueeze(1)).abs();
  return dist.le(window);
}

}  // namespace

torch::Tensor varlen_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
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

}  // namespace radbert
