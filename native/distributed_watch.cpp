#ifdef RADBERT_WITH_GLOO
#include "distributed_watch.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>

namespace radbert::dist {

namespace {
std::string beat_key(int r) { return "beat/" + std::to_string(r); }
std::string error_key(int r) { return "error/" + std::to_string(r); }
constexpr auto kPeriod = std::chrono::milliseconds(1000);
}  // namespace

Watchdog::Watchdog(c10::intrusive_ptr<c10d::Store> store, const std::string& prefix, int rank, int world_size)
    : rank_(rank), world_(world_size), beats_(world_size, -1), changed_(world_size, std::chrono::steady_clock::now()) {
  // short store timeouts: a store that does not answer within seconds is gone, not busy
  store->setTimeout(std::chrono::seconds(10));
  store_ = c10::make_intrusive<c10d::PrefixStore>(prefix, store);
  store_->add(beat_key(rank_), 1);
  thread_ = std::thread([this] { loop(); });
}

Watchdog::~Watchdog() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void Watchdog::loop() {
  while (!stop_) {
    try {
      store_->add(beat_key(rank_), 1);
      std::vector<int64_t> beats(world_);
      for (int r = 0; r < world_; ++r) beats[r] = r == rank_ ? 0 : store_->add(beat_key(r), 0);
      std::vector<std::pair<int, std::string>> failed;
      for (int r = 0; r < world_; ++r) {
        if (r == rank_ || !store_->check({error_key(r)})) continue;
        auto v = store_->get(error_key(r));
        failed.emplace_back(r, std::string(v.begin(), v.end()));
      }
      const auto now = std::chrono::steady_clock::now();
      std::lock_guard<std::mutex> lock(mu_);
      for (int r = 0; r < world_; ++r)
        if (beats[r] != beats_[r]) {
          beats_[r] = beats[r];
          changed_[r] = now;
        }
      failed_ = std::move(failed);
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mu_);
      store_lost_ = true;
      store_error_ = describe(e);
      return;  // the store is gone: nothing more to learn from it
    }
    for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(kPeriod / 10);
  }
}

void Watchdog::report(const std::string& message) {
  try {
    store_->set(error_key(rank_), std::vector<uint8_t>(message.begin(), message.end()));
  } catch (const std::exception&) {
    // the store is gone too: the others will see this rank's heartbeat stop
  }
}

Health Watchdog::health(double silent_after_s) {
  Health h;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  for (int r = 0; r < world_; ++r) {
    if (r == rank_) continue;
    const double s = std::chrono::duration<double>(now - changed_[r]).count();
    if (s > silent_after_s) {
      h.silent.push_back(r);
      h.silent_for.push_back(s);
    }
  }
  h.failed = failed_;
  h.store_lost = store_lost_;
  h.store_error = store_error_;
  return h;
}

}  // namespace radbert::dist
#endif  // RADBERT_WITH_GLOO
