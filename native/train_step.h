// The task losses and one training step as HF Trainer runs it: train-mode forward and loss (under bf16 autocast when
// asked), backward, clip_grad_norm_, AdamW; and the same loss without gradients, for evaluation.
#pragma once

#include <optional>
#include <vector>

#include "multilabel_loss.h"
#include "runtime.h"

namespace radbert {

// The labels of a batch, by architecture (see Targets in lib/native.ts).
struct Targets {
  bool tokens = false;                // true: token_labels (masked LM); false: multi_hot (classification)
  std::vector<float> multi_hot;       // [B * num_labels], row-major
  std::vector<int32_t> token_labels;  // [T]: a token id to predict, or -100 (ignored)
  MultiLabelLoss loss;                // classification: how multi_hot is scored (default: BCEWithLogits, mean)
};

// The mean loss of a batch and how many terms it averages (sequences; labelled tokens).
struct TaskLoss {
  torch::Tensor loss;  // scalar; undefined when count is 0
  int64_t count = 0;
};

// The model's task loss in its current mode: targets.loss (default BCEWithLogits, mean; multilabel_loss.h) against
// multi-hot targets for sequence classification; for masked LM, ModernBertForMaskedLM's cross-entropy with sparse prediction (head and decoder run
// on the labelled tokens only). Throws std::invalid_argument (prefixed by `what`) for targets that do not fit.
TaskLoss task_loss(ModelState& s, const Packed& batch, const Targets& targets, const char* what);

struct TrainStepResult {
  double loss = 0.0;       // the batch's mean loss; with an update, the optimizer step's (see MicroStep)
  double grad_norm = 0.0;  // global L2 norm of the gradients before clipping
  bool stop = false;       // some rank asked to stop after this step (MicroStep::stop)
  double sync_s = 0.0;     // seconds the process group's gradient sum took (after backward; 0 without one)
};

// How one call takes part in an optimizer step made of several batches (gradient accumulation, data parallelism).
struct MicroStep {
  double loss_weight = 1.0;  // the batch's share of the optimizer step's batch: its loss is scaled by it before backward
  bool accumulate = false;   // add to the gradients of the calls since the last update instead of starting afresh
  bool stop = false;         // data parallel: ask every rank to stop after this step (returned as stop on all)
};

// One step. With options.update false the raw gradients stay in .grad (readable through save_weights "grads"), and
// the loss returned is the batch's; with an update it is the weighted sum of the losses of the calls since the last
// update, summed over the ranks when a process group is attached (s.sync), whose gradient sum runs before clipping.
// batch may be null (a rank with no rows in this optimizer step): no forward, only the update. `seed` reseeds the
// dropout generator.
TrainStepResult train_step(ModelState& s, const Packed* batch, const Targets& targets, const StepOptions& options,
                           bool bf16, std::optional<uint64_t> seed, const MicroStep& micro = {});

// The loss in eval mode without gradients (loss 0 when a masked-LM batch labels no token).
struct EvalLossResult {
  double loss = 0.0;
  int64_t count = 0;
};
EvalLossResult eval_loss(ModelState& s, const Packed& batch, const Targets& targets, bool bf16);

}  // namespace radbert
