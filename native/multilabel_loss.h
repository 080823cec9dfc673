// The losses of multi-label sequence classification: BCEWithLogits (mean), optionally with pos_weight, and the
// asymmetric loss (ASL) of Ridnik et al., "Asymmetric Loss For Multi-Label Classification", ICCV 2021.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace radbert {

// How a classification batch is scored. The default (BCE, no pos_weight) is torch's binary_cross_entropy_with_logits
// with mean reduction, as transformers' ModernBertForSequenceClassification computes it for multi-label problems.
struct MultiLabelLoss {
  enum class Kind { BCE, ASL };
  Kind kind = Kind::BCE;
  // BCE only: one weight per label multiplying the positive term (BCEWithLogitsLoss's pos_weight); empty = none.
  std::vector<float> pos_weight;
  // ASL: focusing exponents of the negatives and positives and the probability margin m (the paper's defaults).
  double gamma_neg = 4.0, gamma_pos = 0.0, clip = 0.05;
  bool is_default() const { return kind == Kind::BCE && pos_weight.empty(); }
};

// The mean loss over batch x labels of logits [B, K] against multi-hot targets [B, K] (float32).
//
// ASL as the official implementation (github.com/Alibaba-MIIL/ASL, src/loss_functions/losses.py, AsymmetricLoss, with
// disable_torch_grad_focal_loss=True as its train.py uses it): p = sigmoid(x); p_m = min(1 - p + clip, 1);
// L = -[y log(max(p, 1e-8)) + (1 - y) log(max(p_m, 1e-8))] * w, with the focusing weight
// w = (1 - p_t)^(gamma_pos y + gamma_neg (1 - y)), p_t = p y + p_m (1 - y), computed without gradient (a constant of
// the backward pass). The official code sums over batch and labels; this is the mean (the sum divided by B x K), so
// the learning rate and max_grad_norm keep the scale they have with BCE's mean. The logits are taken in float32.
// Throws std::invalid_argument (prefixed by `what`) when pos_weight does not have K entries.
torch::Tensor multilabel_loss(const torch::Tensor& logits, const torch::Tensor& targets, const MultiLabelLoss& loss,
                              const std::string& what);

}  // namespace radbert
