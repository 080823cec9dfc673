// How many of libtorch's intra-op threads a CPU forward or training step uses, op by op.
//
// Every parallel region wakes the other threads: a few microseconds on an idle machine, tens when the cores are
// shared. An op too small to split loses more to those wake-ups than a second thread gains it: the elementwise ops
// (layer norms, activations, residual adds) of a short input, and the GEMMs and attention of a small model. So a call
// runs under a ThreadBudget:
//  - elementwise ops: on one thread when an op holds fewer than kParallelElements values (tokens x hidden size),
//    else on libtorch's setting;
//  - GEMMs and attention, which scope themselves with KernelThreads(flops): on libtorch's setting when the kernel
//    does at least kParallelKernelFlops, else on one thread.
// Outside a budget (CUDA; training with linear layers on libtorch's own autograd, whose backward GEMMs cannot be
// scoped) everything runs on libtorch's setting.
#pragma once

#include <cstdint>

namespace radbert {

constexpr int64_t kParallelElements = 1 << 16;
constexpr double kParallelKernelFlops = 1 << 25;

class ThreadBudget {
 public:
  // active false: no budget (libtorch's setting throughout).
  ThreadBudget(int64_t tokens, int64_t hidden, bool active);
  ~ThreadBudget();
  ThreadBudget(const ThreadBudget&) = delete;
  ThreadBudget& operator=(const ThreadBudget&) = delete;

 private:
  int restore_ = 0;
  int outer_budget_ = 0;
};

// Inside a ThreadBudget: the threads this kernel gets for its scope (see above); elsewhere nothing. Compute thread only.
class KernelThreads {
 public:
  explicit KernelThreads(double flops);
  ~KernelThreads();
  KernelThreads(const KernelThreads&) = delete;
  KernelThreads& operator=(const KernelThreads&) = delete;

 private:
  int restore_ = 0;
};

}  // namespace radbert
