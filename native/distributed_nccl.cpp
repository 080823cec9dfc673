// ProcessGroupNCCL, compiled only where CMake's probe found nccl.h and the CUDA headers for a CUDA libtorch
// (RADBERT_WITH_NCCL; see CMakeLists.txt). Its own file: only it needs those headers.
#ifdef RADBERT_WITH_GLOO
#include "distributed.h"

#include <stdexcept>

#ifdef RADBERT_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace radbert::dist {

bool nccl_compiled() {
#ifdef RADBERT_WITH_NCCL
  return true;
#else
  return false;
#endif
}

c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                    std::chrono::milliseconds timeout, int local_rank) {
#ifdef RADBERT_WITH_NCCL
  const auto devices = c10::cuda::device_count();
  if (local_rank >= devices)
    throw std::invalid_argument("LOCAL_RANK " + std::to_string(local_rank) + " has no CUDA device (" + std::to_string(devices) +
                                " visible): run at most one process per GPU");
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(local_rank));  // the compute thread's current device
  auto opts = c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, opts);
#else
  throw std::invalid_argument("this build of radbert-native has no NCCL backend (a CUDA libtorch with nccl.h is needed at build time); use --ddp-backend gloo");
#endif
}

}  // namespace radbert::dist
#endif  // RADBERT_WITH_GLOO
