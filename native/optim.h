// The optimizer half of a training step (train_step.h runs the loss and backward): gradient clipping as
// torch.nn.utils.clip_grad_norm_ (foreach norms) and AdamW as torch.optim.AdamW(fused=True), HF Trainer's default.
#pragma once

#include <torch/torch.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace radbert {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

struct StepOptions {
  double lr = 5e-5;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  double max_grad_norm = 1.0;  // <= 0 or infinite: no clipping (the norm is still computed)
  bool update = true;
};

struct AdamWState {
  int64_t step = 0;
  std::map<std::string, std::pair<torch::Tensor, torch::Tensor>> moments;  // key -> (exp_avg, exp_avg_sq)
};

// Global L2 norm of the gradients (undefined gradients skipped), then scaled in place by
// min(1, max_norm / (norm + 1e-6)) like torch.nn.utils.clip_grad_norm_. Returns the pre-clip norm.
double clip_grad_norm(const NamedTensors& params, double max_norm);

// Whether HF Trainer decays a parameter (transformers 5.17 Trainer.get_decay_parameter_names): not when it belongs to a
// LayerNorm module, nor when its lowercased HF name matches bias, layernorm, rmsnorm, (^|.)norm($|.) or _norm($|.).
bool hf_weight_decay(const std::string& hf_key, bool in_layer_norm);

// torch.optim.AdamW's update for every parameter that has a gradient, in HF Trainer's two parameter groups:
// o.weight_decay for the parameters whose `decay` flag is set (parallel to params), 0 for the rest.
void adamw_step(const NamedTensors& params, const std::vector<bool>& decay, AdamWState& state, const StepOptions& o);

}  // namespace radbert
