#include "train_step.h"

#include <chrono>
#include <stdexcept>

#include "grad_sync.h"
#include "inference.h"
#include "linear.h"
#include "threads.h"
#include "profile.h"

namespace radbert {

namespace {
// Gradients start as None each step (torch's zero_grad(set_to_none=True)), except the token embeddings': their
// sparse gradient is added into a dense buffer kept allocated across steps and zeroed here (a fresh vocab x hidden
// buffer would be page-faulted in on every step). A tied decoder's dense gradient accumulates into the same buffer.
void reset_grads(ModelState& s) {
  const auto& emb = s.module->model->embeddings->tok_embeddings->weight;
  for (auto& [name, p] : s.params) {
    if (!p.is_same(emb)) p.mutable_grad() = torch::Tensor();
    else if (p.grad().defined() && !p.grad().is_sparse()) p.mutable_grad().zero_();
    else p.mutable_grad() = torch::zeros_like(p);
  }
}

TaskLoss classification_loss(ModelState& s, const Packed& batch, const Targets& t, const std::string& what) {
  const auto& cfg = s.module->config;
  const int64_t B = batch.batch();
  if (t.tokens)
    throw std::invalid_argument(what + ": a ModernBertForSequenceClassification takes targets as a Float32Array of " +
                                "batch x numLabels multi-hot values, not token labels");
  if (static_cast<int64_t>(t.multi_hot.size()) != B * cfg.num_labels)
    throw std::invalid_argument(what + ": targets has " + std::to_string(t.multi_hot.size()) + " values, expected batch " +
                                std::to_string(B) + " x numLabels " + std::to_string(cfg.num_labels));
  auto y = torch::from_blob(const_cast<float*>(t.multi_hot.data()), {B, cfg.num_labels}, torch::kFloat).to(s.device).clone();
  auto logits = s.module->forward(batch, s.gen);
  return {multilabel_loss(logits, y, t.loss, what), B};
}

TaskLoss masked_lm_loss(ModelState& s, const Packed& batch, const Targets& t, const std::string& what) {
  const auto& cfg = s.module->config;
  const int64_t T = batch.ids.size(0);
  if (!t.tokens)
    throw std::invalid_argument(what + ": a ModernBertForMaskedLM takes targets as an Int32Array of token labels " +
                                "(one per token, -100 = ignored), not a Float32Array");
  if (static_cast<int64_t>(t.token_labels.size()) != T)
    throw std::invalid_argument(what + ": targets has " + std::to_string(t.token_labels.size()) +
                                " labels, expected one per token (" + std::to_string(T) + ")");
  if (!t.loss.is_default())
    throw std::invalid_argument(what + ": options.loss (pos_weight, ASL) applies to sequence classification, not masked LM");
  std::vector<int64_t> rows, labels;
  for (int64_t i = 0; i < T; ++i) {
    const int32_t l = t.token_labels[i];
    if (l == -100) continue;
    if (l < 0 || l >= cfg.vocab_size)
      throw std::invalid_argument(what + ": targets[" + std::to_string(i) + "] = " + std::to_string(l) +
                                  " is neither -100 nor a token id in [0, " + std::to_string(cfg.vocab_size) + ")");
    rows.push_back(i);
    labels.push_back(l);
  }
  TaskLoss out;
  out.count = static_cast<int64_t>(rows.size());
  if (rows.empty()) return out;  // nothing to predict: no forward
  auto h = s.module->model(batch, s.gen);
  auto opts = torch::TensorOptions().dtype(torch::kLong);
  // HF's sparse_prediction: the head and the decoder see only the labelled tokens' hidden states.
  auto logits = s.module->mlm(h.index_select(0, torch::tensor(rows, opts).to(s.device)));
  // transformers' ForMaskedLMLoss upcasts the logits to float32 before the cross-entropy
  out.loss = torch::cross_entropy_loss(logits.to(torch::kFloat), torch::tensor(labels, opts).to(s.device));
  return out;
}
}  // namespace

TaskLoss task_loss(ModelState& s, const Packed& batch, const Targets& targets, const char* what) {
  switch (s.module->config.architecture) {
    case Architecture::SequenceClassification: return classification_loss(s, batch, targets, what);
    case Architecture::MaskedLM: return masked_lm_loss(s, batch, targets, what);
    case Architecture::Bare: break;
  }
  throw std::invalid_argument(std::string(what) + ": a ModernBertModel has no task head, so no loss (load it as " +
                              "ModernBertForSequenceClassification or ModernBertForMaskedLM)");
}

TrainStepResult train_step(ModelState& s, const Packed* batch, const Targets& targets, const StepOptions& so, bool bf16,
                           std::optional<uint64_t> seed, const MicroStep& micro) {
  ScopedProfile profile(bf16 ? "trainStep (bf16 autocast)" : "trainStep");
  ThreadBudget threads(batch ? batch->ids.size(0) : 0, s.module->config.hidden_size,
                       batch && s.device.is_cpu() && linear_layers_scoped(bf16));
  if (seed) {
    s.gen.set_current_seed(*seed);
    torch::manual_seed(*seed);
  }
  s.module->train();
  if (!micro.accumulate) {
    reset_grads(s);
    s.step_loss = 0.0;
  }
  TrainStepResult r;
  const bool reduce = so.update && s.sync;
  if (batch) {
    TaskLoss loss;
    {
      // Forward and loss under autocast, backward outside it: what HF Trainer does with bf16=True.
      Autocast autocast(bf16, s.device.type(), /*keep_cache=*/false);
      loss = task_loss(s, *batch, targets, "trainStep");
    }
    if (loss.count == 0)
      throw std::invalid_argument("trainStep: targets labels no token (every label is -100): nothing to learn from this batch");
    auto scaled = micro.loss_weight == 1.0 ? loss.loss : loss.loss * micro.loss_weight;
    if (reduce) s.sync->before_backward(scaled);
    scaled.backward();
    r.loss = loss.loss.item<double>();
    s.step_loss += r.loss * micro.loss_weight;
  }
  r.stop = micro.stop;
  if (reduce) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto sums = s.sync->reduce(s.params, {s.step_loss, micro.stop ? 1.0 : 0.0});
    r.sync_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    s.step_loss = sums[0];
    r.stop = sums[1] > 0;
  }
  // Without an update the raw gradients stay as they are (readable through saveWeights 'grads').
  r.grad_norm = clip_grad_norm(s.params, so.update ? so.max_grad_norm : 0.0);
  if (so.update) {
    weights_changed();
    adamw_step(s.params, s.decay, s.optim, so);
    r.loss = s.step_loss;
  }
  return r;
}

EvalLossResult eval_loss(ModelState& s, const Packed& batch, const Targets& targets, bool bf16) {
  ScopedProfile profile(bf16 ? "evalLoss (bf16 autocast)" : "evalLoss");
  EvalScope scope(s, bf16, batch.ids.size(0));
  auto l = task_loss(s, batch, targets, "evalLoss");
  return {l.count ? l.loss.item<double>() : 0.0, l.count};
}

}  // namespace radbert
