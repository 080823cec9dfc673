// One training step as HF Trainer runs it: train-mode forward and loss (under bf16 autocast when asked), backward,
// clip_grad_norm_, AdamW.
#pragma once

#include <optional>
#include <vector>

#include "runtime.h"

namespace radbert {

struct TrainStepResult {
  double loss = 0.0;       // the batch's mean loss before the update
  double grad_norm = 0.0;  // global L2 norm of the gradients before clipping
};

// Sequence classification: BCEWithLogits (mean) against multi-hot targets [B * num_labels]. With options.update
// false the raw gradients stay in .grad (readable through save_weights "grads"). `seed` reseeds the dropout generator.
TrainStepResult train_step(ModelState& s, const Packed& batch, const std::vector<float>& targets,
                           const StepOptions& options, bool bf16, std::optional<uint64_t> seed);

}  // namespace radbert
