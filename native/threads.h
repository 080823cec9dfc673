// How many of libtorch's intra-op threads a CPU forward uses, op by op.
//
// Every parallel region wakes the other threads: a few microseconds on an idle machine, tens when the cores are
// shared. A small forward loses more to those wake-ups than the second thread gains it, and in a short input even a
// large model's elementwise ops (layer norms, activations, residual adds over a few dozen tokens) are too small to
// split. So an inference forward runs under a ThreadBudget:
//  - GEMM work (2 x tokens x linear parameters) below kSerialForwardFlops: everything on one thread;
//  - fewer than kParallelElements per op (tokens x hidden size): elementwise ops on one thread, and only the linear
//    layers and attention, which scope themselves with KernelThreads, on all of them;
//  - otherwise libtorch's setting throughout.
// Training steps run without a budget (libtorch's setting).
#pragma once

#include <cstdint>

namespace radbert {

constexpr double kSerialForwardFlops = 1e8;
constexpr int64_t kParallelElements = 1 << 16;

class ThreadBudget {
 public:
  // hidden, flops: the model's hidden size and the forward's GEMM work; cpu false: no budget (CUDA).
  ThreadBudget(int64_t tokens, int64_t hidden, double flops, bool cpu);
  ~ThreadBudget();
  ThreadBudget(const ThreadBudget&) = delete;
  ThreadBudget& operator=(const ThreadBudget&) = delete;

 private:
  int restore_ = 0;
  int outer_kernel_threads_ = 0;
};

// Inside a ThreadBudget that lowered the elementwise threads: the budget's kernel threads for this scope (a GEMM or an
// attention call); elsewhere nothing. Compute thread only.
class KernelThreads {
 public:
  KernelThreads();
  ~KernelThreads();
  KernelThreads(const KernelThreads&) = delete;
  KernelThreads& operator=(const KernelThreads&) = delete;

 private:
  int restore_ = 0;
};

}  // namespace radbert
