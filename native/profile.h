// Opt-in op-level profile of the native calls (RADBERT_PROFILE=1): libtorch's own profiler (Kineto, CPU activity)
// around each forward / trainStep, summarised as self time per op on stderr. For `npm run bench` notes and
// "where does the time go" questions; off by default and free when off.
#pragma once

#include <memory>
#include <string>

namespace radbert {

class ScopedProfile {
 public:
  explicit ScopedProfile(std::string label);  // starts profiling on this thread when RADBERT_PROFILE is set
  ~ScopedProfile();                           // stops and prints the table
  ScopedProfile(const ScopedProfile&) = delete;
  ScopedProfile& operator=(const ScopedProfile&) = delete;

 private:
  std::string label_;
  bool on_ = false;
};

}  // namespace radbert
