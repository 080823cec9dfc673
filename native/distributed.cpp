#ifdef RADBERT_WITH_GLOO
#include "distributed.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#include <unistd.h>

#include <algorithm>
#include <set>
#include <stdexcept>

#include "distributed_watch.h"

namespace radbert::dist {

std::vector<std::string> backends() {
  std::vector<std::string> out{"gloo"};
  if (nccl_compiled()) out.push_back("nccl");
  return out;
}

namespace {

std::string where(const GroupOptions& o) { return o.master_addr + ":" + std::to_string(o.master_port); }

// A rendezvous failure in words: which address, which role, and the usual causes.
[[noreturn]] void rendezvous_failed(const GroupOptions& o, bool server, const std::exception& e) {
  const std::string what = describe(e);
  std::string msg = "rank " + std::to_string(o.rank) + " of " + std::to_string(o.world_size) + ": ";
  if (server && what.find("EADDRINUSE") != std::string::npos)
    msg += "could not host the store on port " + std::to_string(o.master_port) +
           ": the address is already in use (another run?); pass another --master-port (MASTER_PORT)";
  else if (server)
    msg += "hosting the store at " + where(o) + " failed: " + what;
  else
    msg += "could not join the store at " + where(o) + " (MASTER_ADDR:MASTER_PORT" +
           (o.agent_store ? ", torchrun's agent" : ", hosted by rank 0") + "): " + what +
           " (is rank 0 running there, the address reachable from this host, the port open?)";
  throw std::runtime_error(msg);
}

// Parameters without duplicates (a tied decoder shares the token embeddings' tensor), in order, with their names.
std::vector<std::pair<std::string, torch::Tensor>> unique_params(const NamedTensors& params) {
  std::set<const void*> seen;
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, p] : params)
    if (seen.insert(p.unsafeGetTensorImpl()).second) out.emplace_back(name, p);
  return out;
}

// One persistent flattened buffer: after backward every gradient is copied in (zeros where a rank has none), with one
// "has a gradient" flag per parameter, the buffer is all-reduced (sum) once, and the sums are copied back.
class FlatSync : public GradSync {
 public:
  FlatSync(Group* group, c10::intrusive_ptr<c10d::Backend> backend, torch::Device device)
      : group_(group), backend_(std::move(backend)), device_(device) {}

  std::vector<double> reduce(const NamedTensors& params, const std::vector<double>& scalars) override {
    torch::NoGradGuard no_grad;
    const auto ps = unique_params(params);
    const int64_t n = static_cast<int64_t>(ps.size());
    if (!flat_.defined() || offsets_.size() != ps.size()) {
      offsets_.clear();
      int64_t total = 0;
      for (const auto& [name, p] : ps) {
        offsets_.push_back(total);
        total += p.numel();
      }
      flags_at_ = total;
      flat_ = torch::empty({total + n}, torch::TensorOptions().dtype(torch::kFloat).device(device_));
    }
    std::vector<float> flags(n, 0.0f);
    for (int64_t i = 0; i < n; ++i) {
      const auto& p = ps[i].second;
      auto slot = flat_.narrow(0, offsets_[i], p.numel());
      if (p.grad().defined()) {
        slot.copy_(p.grad().reshape(-1));
        flags[i] = 1.0f;
      } else {
        slot.zero_();
      }
    }
    flat_.narrow(0, flags_at_, n).copy_(torch::from_blob(flags.data(), {n}, torch::kFloat));
    std::vector<torch::Tensor> io{flat_};
    backend_->allreduce(io)->wait();
    auto had = flat_.narrow(0, flags_at_, n).to(torch::kCPU);
    const float* h = had.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) {
      if (h[i] <= 0) continue;  // no rank has a gradient for it: it keeps none (AdamW skips it, as in one process)
      auto p = ps[i].second;
      auto sum = flat_.narrow(0, offsets_[i], p.numel()).view(p.sizes());
      if (p.grad().defined()) p.mutable_grad().copy_(sum);
      else p.mutable_grad() = sum.to(p.device(), /*non_blocking=*/false, /*copy=*/true);
    }
    return group_->all_reduce_sum(scalars);
  }

 private:
  Group* group_;
  c10::intrusive_ptr<c10d::Backend> backend_;
  torch::Device device_;
  torch::Tensor flat_;
  std::vector<int64_t> offsets_;
  int64_t flags_at_ = 0;
};

// DDP's comm hook without the division by the world size: the Reducer's buckets are summed (each rank's loss is
// already weighted by its share of the global batch).
class SumHook : public c10d::CppCommHookInterface<c10::intrusive_ptr<c10d::ProcessGroup>> {
 public:
  using CppCommHookInterface::CppCommHookInterface;
  c10::intrusive_ptr<c10::ivalue::Future> runHook(c10d::GradBucket& bucket) override {
    std::vector<at::Tensor> tensors{bucket.getBufferRef()};
    return state_->allreduce(tensors)->getFuture();
  }
};

// DDP's c10d::Reducer: autograd hooks on every parameter, buckets all-reduced while the backward of the last
// micro-batch still runs, gradients replaced by the sums when that backward ends.
class ReducerSync : public GradSync {
 public:
  ReducerSync(Group* group, c10::intrusive_ptr<c10d::ProcessGroup> pg, const NamedTensors& params) : group_(group) {
    std::vector<torch::Tensor> tensors;
    std::unordered_map<size_t, std::string> names;
    for (const auto& [name, p] : unique_params(params)) {
      names[tensors.size()] = name;
      tensors.push_back(p);
    }
    const std::vector<bool> sparse(tensors.size(), false);
    // as DistributedDataParallel: one bucket for the first iteration, rebuilt in gradient order after it
    auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(tensors, {std::numeric_limits<size_t>::max()}, sparse);
    std::reverse(buckets.begin(), buckets.end());
    reducer_ = std::make_unique<c10d::Reducer>(tensors, buckets, pg, sparse, /*bucket_bytes_cap=*/25 * 1024 * 1024,
                                               /*find_unused_parameters=*/false, /*gradient_as_bucket_view=*/false,
                                               names, /*first_bucket_bytes_cap=*/1024 * 1024,
                                               /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false,
                                               std::vector<int64_t>{});
    reducer_->register_comm_hook(std::make_unique<SumHook>(pg));
    tensors_ = std::move(tensors);
  }

  void before_backward(const torch::Tensor& loss) override {
    reducer_->rebuild_buckets();
    reducer_->prepare_for_backward({loss});
    prepared_ = true;
  }

  std::vector<double> reduce(const NamedTensors& params, const std::vector<double>& scalars) override {
    if (!prepared_) {
      // this rank has no rows in the step: a backward of zero through every parameter lets its hooks fire
      torch::Tensor zero = tensors_[0].sum() * 0;
      for (size_t i = 1; i < tensors_.size(); ++i) zero = zero + tensors_[i].sum() * 0;
      before_backward(zero);
      zero.backward();
    }
    prepared_ = false;
    return group_->all_reduce_sum(scalars);
  }

 private:
  Group* group_;
  std::unique_ptr<c10d::Reducer> reducer_;
  std::vector<torch::Tensor> tensors_;
  bool prepared_ = false;
};

}  // namespace

Group::Group(const GroupOptions& o) : o_(o) {
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size)
    throw std::invalid_argument("rank " + std::to_string(o.rank) + " is outside [0, world size " + std::to_string(o.world_size) + ")");
  if (o.master_port < 1 || o.master_port > 65535) throw std::invalid_argument("master port must be in [1, 65535]");
  if (o.backend != "gloo" && o.backend != "nccl") throw std::invalid_argument("backend must be gloo or nccl, got " + o.backend);
  // torch.distributed's env:// rendezvous: rank 0 hosts the TCPStore at MASTER_ADDR:MASTER_PORT, or torchrun's agent does
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(o.master_port);
  so.isServer = !o.agent_store && o.rank == 0;
  so.numWorkers = static_cast<size_t>(o.world_size);
  so.waitWorkers = !o.agent_store;
  so.timeout = o.timeout;
  so.multiTenant = !o.agent_store;
  c10::intrusive_ptr<c10d::Store> tcp;
  try {
    tcp = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
  } catch (const std::exception& e) {
    rendezvous_failed(o, so.isServer, e);
  }
  store_ = c10::make_intrusive<c10d::PrefixStore>(o.prefix, tcp);
  const std::string me = o.host + "\n" + std::to_string(::getpid());
  store_->set("peer/" + std::to_string(o.rank), std::vector<uint8_t>(me.begin(), me.end()));
  for (int r = 0; r < o.world_size; ++r) {
    auto v = store_->get("peer/" + std::to_string(r));
    const std::string s(v.begin(), v.end());
    const auto nl = s.find('\n');
    peers_.push_back({s.substr(0, nl), nl == std::string::npos ? 0 : std::stoll(s.substr(nl + 1))});
  }
  auto pg_store = c10::make_intrusive<c10d::PrefixStore>("pg/", store_);
  if (o.backend == "nccl") {
    backend_ = make_nccl_backend(pg_store, o.rank, o.world_size, o.timeout, o.local_rank);
    device_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(o.local_rank));
  } else {
    auto go = c10d::ProcessGroupGloo::Options::create(o.timeout);
    if (o.gloo_interfaces.empty()) go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    for (const auto& iface : o.gloo_interfaces) go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
    backend_ = c10::make_intrusive<c10d::ProcessGroupGloo>(pg_store, o.rank, o.world_size, go);
  }
  pg_ = c10::make_intrusive<c10d::ProcessGroup>(pg_store, o.rank, o.world_size);
  const auto type = o.backend == "nccl" ? c10d::ProcessGroup::BackendType::NCCL : c10d::ProcessGroup::BackendType::GLOO;
  pg_->setBackend(device_.type(), type, backend_);
  pg_->setDefaultBackend(type);
  watch_ = std::make_unique<Watchdog>(tcp->clone(), o.prefix, o.rank, o.world_size);
}

Group::~Group() { shutdown(); }

void Group::broadcast_model(ModelState& s) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors;
  for (const auto& [name, p] : unique_params(s.params)) tensors.push_back(p);
  for (const auto& b : s.module->buffers(/*recurse=*/true)) tensors.push_back(b);
  if (s.device != device_) throw std::invalid_argument("the model is on " + s.device.str() + ", the " + o_.backend + " process group on " + device_.str());
  c10d::broadcast_coalesced(pg_, tensors, /*buffer_size=*/256 * 1024 * 1024, /*rank=*/0);
  weights_changed();
}

std::shared_ptr<GradSync> Group::grad_sync(ModelState& s, const std::string& mode) {
  if (mode == "flat") return std::make_shared<FlatSync>(this, backend_, device_);
  if (mode == "reducer") {
    if (s.device != device_) throw std::invalid_argument("the Reducer needs the model on the process group's device (" + device_.str() + ")");
    return std::make_shared<ReducerSync>(this, pg_, s.params);
  }
  throw std::invalid_argument("gradient sync mode must be flat or reducer, got " + mode);
}

void Group::barrier() { all_reduce_sum({0.0}); }

std::vector<double> Group::all_reduce_sum(const std::vector<double>& values) {
  if (values.empty()) return {};
  auto t = torch::tensor(values, torch::kDouble).to(device_);
  std::vector<torch::Tensor> io{t};
  backend_->allreduce(io)->wait();
  t = t.to(torch::kCPU);
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

std::vector<torch::Tensor> Group::all_gather(const torch::Tensor& values) {
  const int W = o_.world_size;
  auto gather = [&](const torch::Tensor& in) {
    std::vector<std::vector<torch::Tensor>> out(1);
    for (int r = 0; r < W; ++r) out[0].push_back(torch::empty_like(in));
    std::vector<torch::Tensor> ins{in};
    backend_->allgather(out, ins)->wait();
    return out[0];
  };
  // lengths first, then every rank's values padded to the longest
  auto lens = gather(torch::full({1}, values.numel(), torch::TensorOptions().dtype(torch::kLong).device(device_)));
  int64_t longest = 0;
  std::vector<int64_t> n(W);
  for (int r = 0; r < W; ++r) longest = std::max(longest, n[r] = lens[r].to(torch::kCPU).item<int64_t>());
  auto padded = torch::zeros({std::max<int64_t>(longest, 1)}, values.options().device(device_));
  padded.narrow(0, 0, values.numel()).copy_(values.reshape(-1));
  auto all = gather(padded);
  std::vector<torch::Tensor> out;
  for (int r = 0; r < W; ++r) out.push_back(all[r].narrow(0, 0, n[r]).to(torch::kCPU));
  return out;
}

void Group::report_failure(const std::string& message) {
  if (watch_) watch_->report(message);
}

Health Group::health(double silent_after_s) { return watch_ ? watch_->health(silent_after_s) : Health{}; }

void Group::shutdown() {
  watch_.reset();
  pg_.reset();
  backend_.reset();
}

}  // namespace radbert::dist
#endif  // RADBERT_WITH_GLOO
