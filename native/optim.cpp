#include "optim.h"

#include <cmath>

namespace radbert {

double clip_grad_norm(const NamedTensors& params, double max_norm) {
  torch::NoGradGuard guard;
  std::vector<torch::Tensor> grads;
  for (const auto& [name, p] : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;
  // As torch.nn.utils.clip_grad_norm_: per-tensor norms (foreach), their norm, then grads *= min(1, max/(norm+1e-6)).
  auto total = torch::linalg_vector_norm(torch::stack(at::_foreach_norm(grads, 2)), 2);
  if (max_norm > 0 && std::isfinite(max_norm)) {
    auto coef = (total + 1e-6).reciprocal() * max_norm;
    coef.clamp_max_(1.0);
    at::_foreach_mul_(grads, coef);
  }
  return total.item<double>();
}

void adamw_step(const NamedTensors& params, AdamWState& state, const StepOptions& o) {
  torch::NoGradGuard guard;
  state.step += 1;
  // libtorch's fused AdamW kernel: what HF Trainer uses by default (optim="adamw_torch_fused"), same update as
  // torch.optim.AdamW, one pass over each tensor.
  std::vector<torch::Tensor> ps, grads, avgs, sqs, steps;
  for (const auto& [name, p] : params) {
    if (!p.grad().defined()) continue;
    auto it = state.moments.find(name);
    if (it == state.moments.end())
      it = state.moments.emplace(name, std::make_pair(torch::zeros_like(p), torch::zeros_like(p))).first;
    ps.push_back(p);
    grads.push_back(p.grad());
    avgs.push_back(it->second.first);
    sqs.push_back(it->second.second);
    // The step count the kernel reads (torch.optim increments state_steps before calling it).
    steps.push_back(torch::full({}, static_cast<double>(state.step), torch::TensorOptions().dtype(torch::kFloat).device(p.device())));
  }
  if (ps.empty()) return;
  at::_fused_adamw_(ps, grads, avgs, sqs, {}, steps, o.lr, o.beta1, o.beta2, o.weight_decay, o.eps, false, false);
}

}  // namespace radbert
