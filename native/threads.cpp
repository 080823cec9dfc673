#include "threads.h"

#include <ATen/Parallel.h>

namespace radbert {

namespace {
// libtorch's setting while a budget is active (0: none). Compute thread only.
thread_local int t_budget = 0;
}  // namespace

ThreadBudget::ThreadBudget(int64_t tokens, int64_t hidden, bool active) : outer_budget_(t_budget) {
  const int threads = at::get_num_threads();
  if (!active || threads <= 1) return;
  t_budget = threads;
  if (tokens * hidden < kParallelElements) {
    at::set_num_threads(1);
    restore_ = threads;
  }
}

ThreadBudget::~ThreadBudget() {
  if (restore_) at::set_num_threads(restore_);
  t_budget = outer_budget_;
}

KernelThreads::KernelThreads(double flops) {
  if (t_budget <= 1) return;
  const int want = flops >= kParallelKernelFlops ? t_budget : 1;
  const int now = at::get_num_threads();
  if (want == now) return;
  at::set_num_threads(want);
  restore_ = now;
}

KernelThreads::~KernelThreads() {
  if (restore_) at::set_num_threads(restore_);
}

}  // namespace radbert
