// Eval-mode, no-grad computations on a packed batch: logits (all, or a masked LM's at chosen tokens) and pooled
// embeddings. Each runs under bf16 autocast when asked, keeping the bf16 weight casts across calls.
#pragma once

#include <optional>
#include <vector>

#include "runtime.h"
#include "threads.h"

namespace radbert {

// Switches the model to eval mode and disables autograd for the scope: InferenceMode, except under bf16 autocast on
// CUDA, where libtorch's autocast casts the weights and does not cache its casts under InferenceMode (NoGradGuard,
// with the autocast cache kept). On CPU the linear layers keep their own bf16 copies (linear.h).
struct EvalGuards {
  EvalGuards(bool bf16, bool cuda) {
    if (bf16 && cuda) no_grad.emplace();
    else inference.emplace();
  }
  std::optional<c10::InferenceMode> inference;
  std::optional<torch::NoGradGuard> no_grad;
};
class EvalScope {
 public:
  EvalScope(ModelState& s, bool bf16, int64_t tokens);

 private:
  ThreadBudget threads_;
  EvalGuards guards_;
  Autocast autocast_;
};

// The model's output as forward() returns it (see lib/native.ts), float32 on CPU. `positions` (masked LM only):
// packed token indices whose logits to compute, [P, vocab].
torch::Tensor forward_logits(ModelState& s, const Packed& batch, const std::optional<std::vector<int32_t>>& positions,
                             bool bf16);

// The body's final hidden states pooled per sequence, [B, hidden] float32 on CPU (any architecture).
torch::Tensor embed(ModelState& s, const Packed& batch, Pooling pooling, bool bf16);

}  // namespace radbert
