// Attention over a packed batch of ragged sequences (no padding ever enters the computation).
#pragma once

#include <torch/torch.h>

#include "modernbert.h"

namespace radbert {

// q, k, v: [T, heads, head_dim] for all sequences back to back. window < 0: global attention; otherwise each token
// attends to tokens at distance <= window inside its own sequence. Returns [T, heads, head_dim].
torch::Tensor varlen_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const Packed& batch, int64_t window, double dropout_p);

}  // namespace radbert
