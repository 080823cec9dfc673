// Where libtorch work runs: the one compute thread, bf16 autocast with its weight-cast cache, and the state a model
// handle owns. No N-API here (addon.cpp marshals); no model maths (modernbert/heads).
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "heads.h"
#include "optim.h"

namespace radbert {

class GradSync;

// The one native thread that runs every libtorch call. libuv's pool has several threads, and each thread that enters
// libtorch gets its own OpenMP team and MKL thread setting (set_num_threads is per thread there) and its own malloc
// arena; calls hopping between them ran a base training step about 1.4x slower than one thread does. Jobs run in
// submission order; the thread is never joined (it sleeps on its queue when idle).
class ComputeThread {
 public:
  static ComputeThread& get();
  // Runs fn on the compute thread and waits; its exception, if any, is rethrown here.
  void run(std::function<void()> fn);
  // Queues fn to run on the compute thread and returns at once (fn must not throw).
  void post(std::function<void()> fn);
  // Thread count for libtorch, applied on the compute thread before its next job.
  void set_threads(int n);
  // Waits for the running job to end and starts no other, ever (on process exit: see runtime.cpp).
  void quiesce();

 private:
  ComputeThread();
  void loop();
  struct Impl;
  Impl* impl_;
};

// Marks every cached bf16 weight cast and reordered weight stale: call whenever any parameter of any model changes or
// a model dies. (Version counters alone do not see every update: the fused AdamW kernel leaves them as they are.)
void weights_changed();
// The count weights_changed() bumps: a cache made at one value is stale at any other.
uint64_t weights_epoch();

// bf16 autocast, as torch.autocast(device, dtype=torch.bfloat16) / HF Trainer's bf16=True: fp32 parameters, matmuls
// and attention in bf16 by libtorch's own autocast op lists. Runs on the compute thread only (autocast state and its
// weight-cast cache are thread-local there). With keep_cache (forward, eval) the cache of bf16 weight copies lives
// across calls until weights_changed(); a training region (keep_cache false) starts and ends with an empty cache.
class Autocast {
 public:
  Autocast(bool on, c10::DeviceType device, bool keep_cache);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool on_;
  c10::DeviceType device_;
  bool keep_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

// glibc's malloc gives large freed blocks back to the OS (blocks above a threshold are mmapped and unmapped; the heap
// top is trimmed), so every training step page-faults its gradients and activations in again: on the AMD EPYC of the
// benchmarks that made a ModernBERT-base step 1.2-1.7x slower. Called once when the addon loads: blocks up to 32 MB
// come from the heap and up to 512 MB of free heap stay mapped (a freed model still gives its memory back: see
// TrimHeapOnDestroy). Skipped when the user set GLIBC_TUNABLES glibc.malloc.* or MALLOC_{MMAP,TRIM}_THRESHOLD_.
void configure_malloc();

// Everything a model handle owns. Calls lock `mu`, so one forward/step runs at a time per model.
// Hands the heap pages that a freed model leaves behind back to the OS (glibc keeps them otherwise, and repeated
// load/close cycles grew RSS by ~80 %). The first member of ModelState, so it runs after every tensor is released.
struct TrimHeapOnDestroy {
  ~TrimHeapOnDestroy();
};

struct ModelState {
  ~ModelState() { weights_changed(); }  // its parameters' addresses may be reused: invalidate bf16 casts
  TrimHeapOnDestroy trim_heap;  // first member: destroyed last
  std::mutex mu;
  ModernBert module{nullptr};
  torch::Device device{torch::kCPU};
  at::Generator gen;
  AdamWState optim;
  NamedTensors params;  // Hugging Face key names
  std::vector<bool> decay;  // per params entry: whether weight decay applies (HF Trainer's groups)
  std::map<std::string, torch::Tensor> by_name;
  double step_loss = 0.0;          // weighted loss of the batches since the last update (train_step's MicroStep)
  std::shared_ptr<GradSync> sync;  // data parallel: sums gradients over the ranks before clipping (distributed.h)
};

// A message for an exception escaping libtorch or the library (c10::Error without its C++ backtrace).
std::string describe(const std::exception& e);

}  // namespace radbert
