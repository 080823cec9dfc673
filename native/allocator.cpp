#include "allocator.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <sys/mman.h>

#include <cstdlib>
#include <map>
#include <string>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace radbert {

namespace {

constexpr size_t kHugePage = size_t{2} << 20;

// Size classes: whole huge pages, rounded up to 3 significant bits (at most 12.5 % more than asked from 16 MB up; a
// 1-2 MB block takes 2 MB).
size_t size_class(size_t n) {
  const size_t unit = kHugePage;
  size_t units = (n + unit - 1) / unit;
  size_t step = 1;
  while ((step << 3) <= units) step <<= 1;  // units >> log2(step) keeps 3 bits
  units = (units + step - 1) / step * step;
  return units * unit;
}

// An anonymous mapping of `bytes`; from 2 MB up aligned to 2 MB and advised as huge pages. nullptr when out of memory.
void* map_block(size_t bytes) {
  if (bytes < kHugePage) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  const size_t span = bytes + kHugePage;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned > start) munmap(raw, aligned - start);
  const uintptr_t end = start + span, used_end = aligned + bytes;
  if (end > used_end) munmap(reinterpret_cast<void*>(used_end), end - used_end);
#ifdef MADV_HUGEPAGE
  madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);  // advice only: ignored where THP is off
#endif
  return reinterpret_cast<void*>(aligned);
}

class LargeBlockCache final : public c10::Allocator {
 public:
  explicit LargeBlockCache(c10::Allocator* inner) : inner_(inner), inner_free_(inner->raw_deleter()) {}

  c10::DataPtr allocate(size_t n) override {
    if (n < kLargeBlock) {
      // the inner allocator's block under our deleter, so that raw_deleter() holds for every block (see below)
      auto dp = inner_->allocate(n);
      void* p = dp.release_context();
      return {p, p, &LargeBlockCache::deallocate, c10::Device(c10::DeviceType::CPU)};
    }
    const size_t bytes = size_class(n);
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        cached_ -= bytes;
      }
    }
    if (!p) p = map_block(bytes);
    if (!p) {
      release();  // the cache may hold what is missing
      p = map_block(bytes);
    }
    if (!p) throw std::bad_alloc();
    {
      std::lock_guard<std::mutex> lock(mu_);
      live_[p] = bytes;
    }
    return {p, p, &LargeBlockCache::deallocate, c10::Device(c10::DeviceType::CPU)};
  }

  // The raw interface works: every block's context is its data and its deleter this one, which frees a large block
  // here and hands any other to the inner allocator's deleter.
  c10::DeleterFnPtr raw_deleter() const override { return &LargeBlockCache::deallocate; }

  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }

  void release() {
    std::vector<std::pair<void*, size_t>> out;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [bytes, blocks] : free_)
        for (void* p : blocks) out.emplace_back(p, bytes);
      free_.clear();
      cached_ = 0;
    }
    for (auto [p, bytes] : out) munmap(p, bytes);
  }

  static LargeBlockCache* instance;

 private:
  static void deallocate(void* p) {
    auto* self = instance;
    size_t bytes = 0;
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      auto it = self->live_.find(p);
      if (it != self->live_.end()) {
        bytes = it->second;
        self->live_.erase(it);
        if (self->cached_ + bytes <= kMaxCached) {
          self->free_[bytes].push_back(p);
          self->cached_ += bytes;
          return;
        }
      }
    }
    if (bytes) munmap(p, bytes);
    else self->inner_free_(p);  // a small block: the inner allocator's
  }

  c10::Allocator* inner_;
  c10::DeleterFnPtr inner_free_;
  std::mutex mu_;
  std::unordered_map<void*, size_t> live_;      // large blocks in use → their size class
  std::map<size_t, std::vector<void*>> free_;  // size class → cached free blocks
  size_t cached_ = 0;
};

LargeBlockCache* LargeBlockCache::instance = nullptr;

}  // namespace

void install_large_block_cache() {
  static const bool installed = [] {
    const char* env = std::getenv("RADBERT_LARGE_BLOCK_CACHE");
    if (env && std::string(env) == "0") return false;
    auto* inner = c10::GetCPUAllocator();
    // only over an allocator whose blocks are their own context (libtorch's default): else leave it alone
    if (!inner->raw_deleter()) return false;
    LargeBlockCache::instance = new LargeBlockCache(inner);  // lives as long as the process
    c10::SetCPUAllocator(LargeBlockCache::instance, /*priority=*/1);
    return true;
  }();
  (void)installed;
}

void release_cached_blocks() {
  if (LargeBlockCache::instance) LargeBlockCache::instance->release();
}

}  // namespace radbert
