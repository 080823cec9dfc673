#include "multilabel_loss.h"

#include <stdexcept>

namespace radbert {

namespace {
// The official implementation's floor under the probabilities before the log.
constexpr double kAslEps = 1e-8;

torch::Tensor asymmetric_loss(const torch::Tensor& logits, const torch::Tensor& y, const MultiLabelLoss& l) {
  const auto x = logits.to(torch::kFloat);
  const auto xs_pos = torch::sigmoid(x);
  auto xs_neg = 1 - xs_pos;
  if (l.clip > 0) xs_neg = (xs_neg + l.clip).clamp_max(1);  // asymmetric probability shifting
  auto loss = y * torch::log(xs_pos.clamp_min(kAslEps)) + (1 - y) * torch::log(xs_neg.clamp_min(kAslEps));
  if (l.gamma_neg > 0 || l.gamma_pos > 0) {
    torch::Tensor w;
    {
      torch::NoGradGuard no_grad;  // the focusing weight is a constant of the backward pass
      const auto pt = xs_pos * y + xs_neg * (1 - y);
      w = torch::pow(1 - pt, l.gamma_pos * y + l.gamma_neg * (1 - y));
    }
    loss = loss * w;
  }
  return -loss.mean();
}
}  // namespace

torch::Tensor multilabel_loss(const torch::Tensor& logits, const torch::Tensor& y, const MultiLabelLoss& l,
                              const std::string& what) {
  if (l.kind == MultiLabelLoss::Kind::ASL) return asymmetric_loss(logits, y, l);
  if (l.pos_weight.empty()) return torch::binary_cross_entropy_with_logits(logits, y);
  const int64_t k = logits.size(-1);
  if (static_cast<int64_t>(l.pos_weight.size()) != k)
    throw std::invalid_argument(what + ": loss.posWeight has " + std::to_string(l.pos_weight.size()) +
                                " values, expected one per label (" + std::to_string(k) + ")");
  auto pw = torch::from_blob(const_cast<float*>(l.pos_weight.data()), {k}, torch::kFloat).to(logits.device()).clone();
  return torch::binary_cross_entropy_with_logits(logits, y, /*weight=*/{}, pw);
}

}  // namespace radbert
