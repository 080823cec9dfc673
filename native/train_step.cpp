#include "train_step.h"

#include <stdexcept>

#include "profile.h"

namespace radbert {

namespace {
// Gradients start as None each step (torch's zero_grad(set_to_none=True)), except the token embeddings': their
// sparse gradient is added into a dense buffer kept allocated across steps and zeroed here (a fresh vocab x hidden
// buffer would be page-faulted in on every step).
void reset_grads(ModelState& s) {
  const auto& emb = s.module->model->embeddings->tok_embeddings->weight;
  for (auto& [name, p] : s.params) {
    if (!p.is_same(emb)) p.mutable_grad() = torch::Tensor();
    else if (p.grad().defined() && !p.grad().is_sparse()) p.mutable_grad().zero_();
    else p.mutable_grad() = torch::zeros_like(p);
  }
}
}  // namespace

TrainStepResult train_step(ModelState& s, const Packed& batch, const std::vector<float>& targets,
                           const StepOptions& so, bool bf16, std::optional<uint64_t> seed) {
  const auto& cfg = s.module->config;
  if (cfg.architecture != Architecture::SequenceClassification)
    throw std::runtime_error(std::string("trainStep: only ModernBertForSequenceClassification models can be trained (this is ") +
                             architecture_name(cfg.architecture) + ")");
  const int64_t B = batch.batch();
  if (static_cast<int64_t>(targets.size()) != B * cfg.num_labels)
    throw std::invalid_argument("trainStep: targets has " + std::to_string(targets.size()) + " values, expected batch " +
                                std::to_string(B) + " x numLabels " + std::to_string(cfg.num_labels));
  auto y = torch::from_blob(const_cast<float*>(targets.data()), {B, cfg.num_labels}, torch::kFloat).to(s.device).clone();
  ScopedProfile profile(bf16 ? "trainStep (bf16 autocast)" : "trainStep");
  if (seed) {
    s.gen.set_current_seed(*seed);
    torch::manual_seed(*seed);
  }
  s.module->train();
  reset_grads(s);
  torch::Tensor loss;
  {
    // Forward and loss under autocast, backward outside it: what HF Trainer does with bf16=True.
    Autocast autocast(bf16, s.device.type(), /*keep_cache=*/false);
    auto logits = s.module->forward(batch, s.gen);
    loss = torch::binary_cross_entropy_with_logits(logits, y);
  }
  loss.backward();
  // Without an update the raw gradients stay as they are (readable through saveWeights 'grads').
  TrainStepResult r;
  r.grad_norm = clip_grad_norm(s.params, so.update ? so.max_grad_norm : 0.0);
  if (so.update) {
    weights_changed();
    adamw_step(s.params, s.optim, so);
  }
  r.loss = loss.item<double>();
  return r;
}

}  // namespace radbert
