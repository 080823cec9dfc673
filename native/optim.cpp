#include "optim.h"

#include <algorithm>
#include <cmath>
#include <regex>

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

bool hf_weight_decay(const std::string& hf_key, bool in_layer_norm) {
  if (in_layer_norm) return false;
  static const std::regex forbidden(R"(bias|layernorm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.))");
  std::string lower = hf_key;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return !std::regex_search(lower, forbidden);
}

void adamw_step(const NamedTensors& params, const std::vector<bool>& decay, AdamWState& state, const StepOptions& o) {
  torch::NoGradGuard guard;
  state.step += 1;
  // libtorch's fused AdamW kernel: what HF Trainer uses by default (optim="adamw_torch_fused"), same update as
  // torch.optim.AdamW, one pass over each tensor; one call per parameter group, as torch.optim runs its groups.
  struct Group {
    std::vector<torch::Tensor> ps, grads, avgs, sqs, steps;
  } groups[2];  // [0]: decayed, [1]: not
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& [name, p] = params[i];
    if (!p.grad().defined()) continue;
    auto it = state.moments.find(name);
    if (it == state.moments.end())
      it = state.moments.emplace(name, std::make_pair(torch::zeros_like(p), torch::zeros_like(p))).first;
    auto& g = groups[i < decay.size() && decay[i] ? 0 : 1];
    g.ps.push_back(p);
    g.grads.push_back(p.grad());
    g.avgs.push_back(it->second.first);
    g.sqs.push_back(it->second.second);
    // The step count the kernel reads (torch.optim increments state_steps before calling it).
    g.steps.push_back(torch::full({}, static_cast<double>(state.step), torch::TensorOptions().dtype(torch::kFloat).device(p.device())));
  }
  for (int k = 0; k < 2; ++k) {
    auto& g = groups[k];
    if (g.ps.empty()) continue;
    at::_fused_adamw_(g.ps, g.grads, g.avgs, g.sqs, {}, g.steps, o.lr, o.beta1, o.beta2, k == 0 ? o.weight_decay : 0.0, o.eps,
                      false, false);
  }
}

}  // namespace radbert
