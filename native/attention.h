// Attention over a packed batch of ragged sequences (no padding ever enters the computation).
//
// Three kernels, chosen explicitly per call by select_kernel() and named by kernel_name():
//  - cpu-flash-packed: ATen's CPU flash kernel (the one SDPA picks on CPU) run on (sequence, head-group) work items
//    inside ONE parallel region per attention call, each item serial; forward and backward (a custom autograd node).
//    A parallel region per sequence (what SDPA per sequence does) collapses when other processes share the cores.
//  - cuda-flash-varlen: ATen's varlen flash kernels (at::_flash_attention_forward/_backward) on the packed
//    [tokens, heads, head_dim] tensors with cu_seqlens and a sliding window; fp16/bf16 on CUDA only.
//  - sdpa-per-sequence: one scaled_dot_product_attention call per sequence with a band mask; the reference path,
//    used for fp32 on CUDA, attention dropout > 0 on CPU, other dtypes, and RADBERT_ATTENTION=sdpa.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "modernbert.h"

namespace radbert {

enum class AttentionKernel { CpuFlashPacked, CudaFlashVarlen, SdpaPerSequence };

// Stable name of a kernel (what version() and RADBERT_DEBUG=1 report).
const char* kernel_name(AttentionKernel k);

// The kernel for a call: device type, dtype of q/k/v, attention dropout of this call (0 in eval), and whether the
// user forced the reference path (RADBERT_ATTENTION=sdpa; see force_sdpa_from_env()).
AttentionKernel select_kernel(c10::DeviceType device, c10::ScalarType dtype, int64_t head_dim, double dropout_p,
                              bool force_sdpa);

// RADBERT_ATTENTION: unset/"auto" → false, "sdpa" → true; anything else throws std::invalid_argument naming it.
bool force_sdpa_from_env();

// One unit of CPU work: heads [head_begin, head_end) of sequence `seq` (tokens [begin, begin + len)).
struct WorkItem {
  int64_t seq, begin, len, head_begin, head_end;
  int64_t cost;  // attended (query, key) pairs times heads: the scheduling weight
};

// Work items for cpu-flash-packed: every (sequence, head) covered exactly once; a sequence's heads are split into
// groups only when there are fewer than 4 sequences per thread (so a batch of 1 still uses every thread), never on
// one thread (one item per sequence: the fewest kernel calls); items are
// sorted by decreasing cost for the dynamic (longest-first) schedule. window < 0: global attention.
std::vector<WorkItem> plan_cpu_items(const std::vector<int64_t>& cu, int64_t heads, int64_t window, int64_t threads);

// Arguments of the varlen flash call for a packed batch: int32 offsets, the longest sequence, and the window on each
// side (-1 = unlimited, for global layers; flash's window_size_left/right), softmax scale 1/sqrt(head_dim).
struct FlashArgs {
  std::vector<int32_t> cu_seqlens;
  int64_t max_len = 0;
  int64_t window_left = -1, window_right = -1;
  double scale = 1.0;
};
FlashArgs flash_args(const std::vector<int64_t>& cu, int64_t window, int64_t head_dim);

// q, k, v: [T, heads, head_dim] for all sequences back to back. window < 0: global attention; otherwise each token
// attends to tokens at distance <= window inside its own sequence. Returns [T, heads, head_dim].
torch::Tensor varlen_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const Packed& batch, int64_t window, double dropout_p);

// What runs where, for version(): {"cpu": ..., "cuda": ...}.
std::vector<std::pair<std::string, std::string>> attention_kernels();

}  // namespace radbert
