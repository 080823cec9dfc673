// Data-parallel training on libtorch's own distributed engine, c10d: the rendezvous store (TCPStore, or the torchrun
// agent's), the process group (ProcessGroupGloo on CPU, ProcessGroupNCCL on CUDA when compiled in), and the gradient
// sum of a training step (one persistent flattened buffer all-reduced after backward, or DDP's Reducer). c10d does all
// the communication; nothing here opens a socket. Compiled only with RADBERT_WITH_GLOO (scripts/distributed.js found
// gloo's headers); distributed_backends() says what this build has. Every call runs on the compute thread.
#pragma once

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "grad_sync.h"
#include "runtime.h"

namespace radbert::dist {

// The backends this build can create: "gloo", and "nccl" where compiled with it (distributed_nccl.cpp).
std::vector<std::string> backends();

// ProcessGroupNCCL on CUDA device `local_rank` (made current on the calling thread); throws where not compiled in.
c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                    std::chrono::milliseconds timeout, int local_rank);
bool nccl_compiled();

struct GroupOptions {
  std::string backend = "gloo";  // "gloo" | "nccl"
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool agent_store = false;  // TORCHELASTIC_USE_AGENT_STORE=True: the store exists (torchrun's agent); every rank is a client
  std::string prefix;        // key prefix of this run in the store
  std::chrono::milliseconds timeout{1800 * 1000};  // store rendezvous and every collective (--ddp-timeout)
  std::vector<std::string> gloo_interfaces;         // GLOO_SOCKET_IFNAME (comma-separated); empty: the host's address
  std::string host;                                 // this process's host name, told to the others for messages
};

// Who a rank is, for messages.
struct Peer {
  std::string host;
  int64_t pid = 0;
};

// What the watchdog knows about the other ranks (distributed_watch.cpp).
struct Health {
  std::vector<int> silent;          // ranks whose heartbeat stopped for longer than the threshold asked for
  std::vector<double> silent_for;   // ... and for how many seconds
  std::vector<std::pair<int, std::string>> failed;  // ranks that reported an error, with its message
  bool store_lost = false;          // the store stopped answering (its host, rank 0 without an agent store, is gone)
  std::string store_error;
};

class Watchdog;

// The process group of this process (one per run). Construction is the rendezvous: it blocks until every rank joined
// (or the timeout) and throws a message naming the address on failure.
class Group {
 public:
  explicit Group(const GroupOptions& o);
  ~Group();
  int rank() const { return o_.rank; }
  int size() const { return o_.world_size; }
  const std::string& backend() const { return o_.backend; }
  const std::vector<Peer>& peers() const { return peers_; }
  const GroupOptions& options() const { return o_; }

  // Parameters and buffers of the model from rank 0 to every rank (DDP's broadcast_coalesced).
  void broadcast_model(ModelState& s);
  // The gradient sum a model's training steps run before clipping: "flat" (one persistent buffer, after backward) or
  // "reducer" (DDP's c10d::Reducer, buckets while backward runs).
  std::shared_ptr<GradSync> grad_sync(ModelState& s, const std::string& mode);
  void barrier();
  // Every rank's values (any lengths), in rank order. float32 or float64, 1-D, on the CPU.
  std::vector<torch::Tensor> all_gather(const torch::Tensor& values);
  // Element-wise sums over the ranks.
  std::vector<double> all_reduce_sum(const std::vector<double>& values);

  // Tell the other ranks (through the store) that this rank failed, and why; best effort, a few seconds at most.
  void report_failure(const std::string& message);
  // The ranks whose heartbeat has stopped for more than `silent_after_s`, the errors reported, whether the store is gone.
  Health health(double silent_after_s);
  // Stop the heartbeat and release the process group (after a last barrier).
  void shutdown();

 private:
  GroupOptions o_;
  c10::intrusive_ptr<c10d::Store> store_;  // the run's prefix store
  c10::intrusive_ptr<c10d::Backend> backend_;
  c10::intrusive_ptr<c10d::ProcessGroup> pg_;  // the backend wrapped for c10d's own helpers (broadcast, Reducer)
  torch::Device device_{torch::kCPU};          // where the backend's tensors live
  std::vector<Peer> peers_;
  std::unique_ptr<Watchdog> watch_;
};

}  // namespace radbert::dist
