#include "optim.h"

#include <cmath>

namespace radbert {

double clip_grad_norm(const NamedTensors& params, double max_norm) {
  torch::NoGradGuard guard;
  std::vector<torch::Tensor> grads, norms;
  for (const auto& [name, p] : params) {
    if (!p.grad().defined()) continue;
    grads.push_back(p.grad());
    norms.push_back(torch::linalg_vector_norm(p.grad(), 2));
  }
  if (grads.empty()) return 0.0;
  auto total = torch::linalg_vector_norm(torch::stack(norms), 2);
  if (max_norm > 0 && std::isfinite(max_norm)) {
    auto coef = (total + 1e-6).reciprocal() * max_norm;
    coef.clamp_max_(1.0);
    for (auto& g : grads) g.mul_(coef);
  }
  return total.item<double>();
}

void adamw_step(const NamedTensors& params, AdamWState& state, const StepOptions& o) {
  torch::NoGradGuard guard;
  state.step += 1;
  const double step = static_cast<double>(state.step);
  const double bias_correction1 = 1.0 - std::pow(o.beta1, step);
  const double bias_correction2 = 1.0 - std::pow(o.beta2, step);
  const double step_size = o.lr / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
  for (const auto& [name, p] : params) {
    const auto& grad = p.grad();
    if (!grad.defined()) continue;
    auto it = state.moments.find(name);
    if (it == state.moments.end())
      it = state.moments.emplace(name, std::make_pair(torch::zeros_like(p), torch::zeros_like(p))).first;
    auto& [exp_avg, exp_avg_sq] = it->second;
    if (o.weight_decay != 0) p.mul_(1 - o.lr * o.weight_decay);
    exp_avg.lerp_(grad, 1 - o.beta1);
    exp_avg_sq.mul_(o.beta2).addcmul_(grad, grad, 1 - o.beta2);
    auto denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(o.eps);
    p.addcdiv_(exp_avg, denom, -step_size);
  }
}

}  // namespace radbert
