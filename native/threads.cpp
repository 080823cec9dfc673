#include "threads.h"

#include <ATen/Parallel.h>

namespace radbert {

namespace {
// The threads KernelThreads raises to inside the current budget (0: none active). Compute thread only.
thread_local int t_kernel_threads = 0;
}  // namespace

ThreadBudget::ThreadBudget(int64_t tokens, int64_t hidden, double flops, bool cpu) : outer_kernel_threads_(t_kernel_threads) {
  const int threads = at::get_num_threads();
  if (!cpu || threads <= 1) return;
  if (flops < kSerialForwardFlops) {
    at::set_num_threads(1);
    restore_ = threads;
    t_kernel_threads = 0;  // kernels stay on one thread too
  } else if (tokens * hidden < kParallelElements) {
    at::set_num_threads(1);
    restore_ = threads;
    t_kernel_threads = threads;
  }
}

ThreadBudget::~ThreadBudget() {
  if (restore_) at::set_num_threads(restore_);
  t_kernel_threads = outer_kernel_threads_;
}

KernelThreads::KernelThreads() {
  if (t_kernel_threads <= 1) return;
  const int now = at::get_num_threads();
  if (now >= t_kernel_threads) return;
  at::set_num_threads(t_kernel_threads);
  restore_ = now;
}

KernelThreads::~KernelThreads() {
  if (restore_) at::set_num_threads(restore_);
}

}  // namespace radbert
