// Eval-mode, no-grad computations on a packed batch: logits (all, or a masked LM's at chosen tokens) and pooled
// embeddings. Each runs under bf16 autocast when asked, keeping the bf16 weight casts across calls.
#pragma once

#include <optional>
#include <vector>

#include "runtime.h"

namespace radbert {

// Switches the model to eval mode and disables autograd for the scope: InferenceMode in float32; NoGradGuard under
// bf16 (libtorch's autocast does not cache weight casts under InferenceMode), with the autocast cache kept.
struct EvalGuards {
  explicit EvalGuards(bool bf16) {
    if (bf16) no_grad.emplace();
    else inference.emplace();
  }
  std::optional<c10::InferenceMode> inference;
  std::optional<torch::NoGradGuard> no_grad;
};
class EvalScope {
 public:
  EvalScope(ModelState& s, bool bf16);

 private:
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
