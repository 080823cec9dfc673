// The watchdog of a data-parallel run: a thread that beats every second under its rank's key in the rendezvous store
// and watches the other ranks' beats and reported errors there, so that a rank that died (killed, crashed, its host
// gone) or threw is named, with its host, instead of every other rank waiting out the collective timeout. It talks to
// the store through its own client connection (a clone), never through the process group.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "distributed.h"

namespace radbert::dist {

class Watchdog {
 public:
  // `store` is a fresh client of the rendezvous store (TCPStore::clone()); keys go under `prefix`.
  Watchdog(c10::intrusive_ptr<c10d::Store> store, const std::string& prefix, int rank, int world_size);
  ~Watchdog();
  // Record this rank's failure under its key (best effort: returns after a few seconds at most).
  void report(const std::string& message);
  // What the last polls saw (never blocks on the store).
  Health health(double silent_after_s);

 private:
  void loop();
  c10::intrusive_ptr<c10d::Store> store_;
  int rank_, world_;
  std::mutex mu_;
  std::vector<int64_t> beats_;
  std::vector<std::chrono::steady_clock::time_point> changed_;
  std::vector<std::pair<int, std::string>> failed_;
  bool store_lost_ = false;
  std::string store_error_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace radbert::dist
