// Process-wide numerics settings a model asks for when it is created (libtorch keeps them globally).
#pragma once

namespace radbert {

struct DeviceNumerics {
  bool tf32 = false;           // CUDA only: allow TF32 in fp32 matmuls (off by default, for parity with fp32 references)
  bool deterministic = false;  // torch.use_deterministic_algorithms(True); once on, stays on for the process
};

// Applies `n` for a model about to run on CUDA (`cuda`) or CPU. Call on the compute thread before the model's first op.
void apply_numerics(const DeviceNumerics& n, bool cuda);

}  // namespace radbert
