#include "profile.h"

#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <vector>

namespace radbert {

namespace {
namespace kp = torch::autograd::profiler;
using torch::profiler::impl::ActivityType;
using torch::profiler::impl::ProfilerConfig;
using torch::profiler::impl::ProfilerState;

bool enabled() {
  static const bool on = [] {
    const char* v = std::getenv("RADBERT_PROFILE");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}

// Self time per op name: each event's duration minus that of the events nested directly inside it (same thread).
void print_table(const std::string& label, const std::vector<kp::KinetoEvent>& events) {
  std::map<uint64_t, std::vector<const kp::KinetoEvent*>> by_thread;
  for (const auto& e : events) by_thread[e.startThreadId()].push_back(&e);
  std::map<std::string, std::pair<double, int>> self;  // ms, calls
  double total_ms = 0;
  for (auto& [tid, evs] : by_thread) {
    std::sort(evs.begin(), evs.end(), [](const auto* a, const auto* b) {
      return a->startNs() != b->startNs() ? a->startNs() < b->startNs() : a->durationNs() > b->durationNs();
    });
    std::vector<std::pair<const kp::KinetoEvent*, uint64_t>> stack;  // event, time of its children
    auto pop = [&] {
      auto [e, children] = stack.back();
      stack.pop_back();
      auto& row = self[e->name()];
      row.first += (static_cast<double>(e->durationNs()) - static_cast<double>(children)) / 1e6;
      row.second += 1;
      if (stack.empty()) total_ms += e->durationNs() / 1e6;
      else stack.back().second += e->durationNs();
    };
    for (const auto* e : evs) {
      while (!stack.empty() && stack.back().first->endNs() <= e->startNs()) pop();
      stack.emplace_back(e, 0);
    }
    while (!stack.empty()) pop();
  }
  std::vector<std::pair<std::string, std::pair<double, int>>> rows(self.begin(), self.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  std::fprintf(stderr, "radbert-native profile: %s, %.1f ms in ops\n", label.c_str(), total_ms);
  for (size_t i = 0; i < rows.size() && i < 15; ++i)
    std::fprintf(stderr, "  %-60.60s %9.2f ms %5.1f%% %6d calls\n", rows[i].first.c_str(), rows[i].second.first,
                 100.0 * rows[i].second.first / std::max(total_ms, 1e-9), rows[i].second.second);
}
}  // namespace

ScopedProfile::ScopedProfile(std::string label) : label_(std::move(label)) {
  if (!enabled()) return;
  const ProfilerConfig config(ProfilerState::KINETO);
  kp::prepareProfiler(config, {ActivityType::CPU});
  kp::enableProfiler(config, {ActivityType::CPU});
  on_ = true;
}

ScopedProfile::~ScopedProfile() {
  if (!on_) return;
  try {
    auto result = kp::disableProfiler();
    if (result) print_table(label_, result->events());
  } catch (...) {
    // profiling is diagnostic only: never let it turn a successful call into a failure
  }
}

}  // namespace radbert
