#include "inference.h"

#include <stdexcept>

#include "profile.h"

namespace radbert {

EvalScope::EvalScope(ModelState& s, bool bf16, int64_t tokens)
    : threads_(tokens, s.module->config.hidden_size, s.device.is_cpu()),
      guards_(bf16, s.device.is_cuda()), autocast_(bf16, s.device.type(), /*keep_cache=*/true) {
  s.module->eval();
}

torch::Tensor forward_logits(ModelState& s, const Packed& batch, const std::optional<std::vector<int32_t>>& positions,
                             bool bf16) {
  const auto& cfg = s.module->config;
  const int64_t T = batch.ids.size(0);
  std::vector<int64_t> rows;
  if (positions) {
    if (cfg.architecture != Architecture::MaskedLM)
      throw std::invalid_argument(std::string("forward: options.positions is for ModernBertForMaskedLM models (this is ") +
                                  architecture_name(cfg.architecture) + ")");
    rows.reserve(positions->size());
    for (size_t i = 0; i < positions->size(); ++i) {
      const int64_t p = (*positions)[i];
      if (p < 0 || p >= T)
        throw std::invalid_argument("forward: options.positions[" + std::to_string(i) + "] = " + std::to_string(p) +
                                    " is not a token of the batch (0.." + std::to_string(T - 1) + ")");
      rows.push_back(p);
    }
  }
  ScopedProfile profile(bf16 ? "forward (bf16 autocast)" : "forward");
  EvalScope scope(s, bf16, T);
  torch::Tensor out;
  if (positions) {
    auto h = s.module->model(batch, s.gen);
    auto index = torch::tensor(rows, torch::TensorOptions().dtype(torch::kLong)).to(s.device);
    out = s.module->mlm(h.index_select(0, index));
  } else {
    out = s.module->forward(batch, s.gen);
  }
  return out.to(torch::kCPU, torch::kFloat).contiguous();
}

torch::Tensor embed(ModelState& s, const Packed& batch, Pooling pooling, bool bf16) {
  ScopedProfile profile(bf16 ? "embed (bf16 autocast)" : "embed");
  EvalScope scope(s, bf16, batch.ids.size(0));
  return pool(s.module->model(batch, s.gen), batch, pooling).to(torch::kCPU, torch::kFloat).contiguous();
}

}  // namespace radbert
