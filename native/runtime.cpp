#include "runtime.h"

#include "allocator.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <thread>

#include <cstdlib>  // defines __GLIBC__ on glibc
#include <cstring>
#ifdef __GLIBC__
#include <malloc.h>  // malloc_trim
#endif

namespace radbert {

void configure_malloc() {
#ifdef __GLIBC__
  static const bool done = [] {
    const char* tunables = std::getenv("GLIBC_TUNABLES");
    if ((tunables && std::strstr(tunables, "glibc.malloc.")) || std::getenv("MALLOC_MMAP_THRESHOLD_") ||
        std::getenv("MALLOC_TRIM_THRESHOLD_"))
      return false;  // the user's settings win
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    return true;
  }();
  (void)done;
#endif
}

TrimHeapOnDestroy::~TrimHeapOnDestroy() {
  release_cached_blocks();
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

struct ComputeThread::Impl {
  std::mutex mu;
  std::condition_variable cv;       // a job was queued, or the process is exiting
  std::condition_variable idle_cv;  // the running job ended
  std::deque<std::packaged_task<void()>> queue;
  std::atomic<int> threads{0};
  bool busy = false;     // a job is running
  bool exiting = false;  // exit() was called: start no more jobs
};

ComputeThread& ComputeThread::get() {
  static ComputeThread* instance = new ComputeThread();  // leaked on purpose: no destructor races at process exit
  return *instance;
}

// On process.exit() the job that runs is let finish and no other starts, before exit() destroys libtorch's static
// objects (oneDNN's primitive cache among them): a forward still running then crashed the process as it exited.
// lib/native.ts calls it from process's 'exit' event; an atexit handler would run too late (after the statics that
// libtorch creates lazily, on first use, are already gone).
void ComputeThread::quiesce() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->exiting = true;
  impl_->cv.notify_all();
  impl_->idle_cv.wait(lock, [this] { return !impl_->busy; });
}

ComputeThread::ComputeThread() : impl_(new Impl()) { std::thread([this] { loop(); }).detach(); }

void ComputeThread::run(std::function<void()> fn) {
  std::packaged_task<void()> task(std::move(fn));
  auto done = task.get_future();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->queue.push_back(std::move(task));
  }
  impl_->cv.notify_one();
  done.get();
}

void ComputeThread::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->queue.emplace_back(std::move(fn));
  }
  impl_->cv.notify_one();
}

void ComputeThread::set_threads(int n) { impl_->threads.store(n); }

void ComputeThread::loop() {
  at::init_num_threads();
  int applied = 0;
  for (;;) {
    std::packaged_task<void()> task;
    {
      std::unique_lock<std::mutex> lock(impl_->mu);
      impl_->cv.wait(lock, [this] { return !impl_->queue.empty() && !impl_->exiting; });
      task = std::move(impl_->queue.front());
      impl_->queue.pop_front();
      impl_->busy = true;
    }
    const int want = impl_->threads.load();
    if (want > 0 && want != applied) {
      at::set_num_threads(want);
      applied = want;
    }
    task();
    {
      std::lock_guard<std::mutex> lock(impl_->mu);
      impl_->busy = false;
    }
    impl_->idle_cv.notify_all();
  }
}

namespace {
// Any change of any model's parameters, and every model's destruction, bumps the epoch; the next bf16 region clears
// the cache before using it.
std::atomic<uint64_t> g_weights_epoch{1};
uint64_t g_cache_epoch = 0;  // compute thread only: the epoch the cache was filled in
}  // namespace

void weights_changed() { g_weights_epoch.fetch_add(1); }
uint64_t weights_epoch() { return g_weights_epoch.load(); }

Autocast::Autocast(bool on, c10::DeviceType device, bool keep_cache) : on_(on), device_(device), keep_(keep_cache) {
  if (!on_) return;
  const uint64_t epoch = g_weights_epoch.load();
  // A training region always starts from an empty cache: copies cast under no_grad by a forward carry no
  // autograd history, and gradients must flow through the casts to the float32 weights.
  if (g_cache_epoch != epoch || !keep_) {
    at::autocast::clear_cache();
    g_cache_epoch = epoch;
  }
  prev_enabled_ = at::autocast::is_autocast_enabled(device_);
  prev_dtype_ = at::autocast::get_autocast_dtype(device_);
  at::autocast::set_autocast_enabled(device_, true);
  at::autocast::set_autocast_dtype(device_, at::kBFloat16);
  at::autocast::increment_nesting();
}

Autocast::~Autocast() {
  if (!on_) return;
  if (at::autocast::decrement_nesting() == 0 && !keep_) {
    at::autocast::clear_cache();
    g_cache_epoch = 0;  // nothing cached now
  }
  at::autocast::set_autocast_enabled(device_, prev_enabled_);
  at::autocast::set_autocast_dtype(device_, prev_dtype_);
}

std::string describe(const std::exception& e) {
  if (auto c10e = dynamic_cast<const c10::Error*>(&e)) return std::string("libtorch: ") + c10e->what_without_backtrace();
  return e.what();
}

}  // namespace radbert
