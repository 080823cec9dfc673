#include "device.h"

#include <ATen/Context.h>

#include <cstdlib>

namespace radbert {

void apply_numerics(const DeviceNumerics& n, bool cuda) {
  auto& ctx = at::globalContext();
  // "highest" = no TF32 in cuBLAS fp32 matmuls (torch.set_float32_matmul_precision); on CPU the setting could let
  // oneDNN use bf16 for fp32 matmuls, so it is left alone there.
  if (cuda) ctx.setFloat32MatmulPrecision(n.tf32 ? "high" : "highest");
  if (n.deterministic) {
    // cuBLAS is only deterministic with a fixed workspace; libtorch reads this when it creates its cuBLAS handle.
    setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
    ctx.setDeterministicAlgorithms(true, /*warn_only=*/false);
    ctx.setDeterministicCuDNN(true);
  }
}

}  // namespace radbert
