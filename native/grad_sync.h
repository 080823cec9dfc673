// What a training step asks of a data-parallel process group (native/distributed.*): sum the gradients and a few
// scalars over the ranks before clipping. Only this interface: train_step.cpp stays free of c10d's headers.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "optim.h"

namespace radbert {

class GradSync {
 public:
  virtual ~GradSync() = default;
  // Called just before the backward whose gradients are to be reduced (the last micro-batch of an optimizer step):
  // DDP's Reducer starts all-reducing buckets while that backward still runs.
  virtual void before_backward(const torch::Tensor& loss) {}
  // After the last backward of an optimizer step (or none, for a rank whose share of the step is empty): every
  // parameter's gradient becomes its sum over the ranks (a parameter no rank has a gradient for keeps none), and the
  // sums of `scalars` over the ranks are returned.
  virtual std::vector<double> reduce(const NamedTensors& params, const std::vector<double>& scalars) = 0;
};

}  // namespace radbert
