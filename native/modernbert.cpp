#include "modernbert.h"

#include <cmath>
#include <stdexcept>

#include "attention.h"
#include "heads.h"

namespace radbert {

const char* architecture_name(Architecture a) {
  switch (a) {
    case Architecture::SequenceClassification: return "ModernBertForSequenceClassification";
    case Architecture::MaskedLM: return "ModernBertForMaskedLM";
    case Architecture::Bare: return "ModernBertModel";
  }
  return "?";
}

Architecture parse_architecture(const std::string& name) {
  for (auto a : {Architecture::SequenceClassification, Architecture::MaskedLM, Architecture::Bare})
    if (name == architecture_name(a)) return a;
  throw std::invalid_argument("config: unsupported architecture \"" + name +
                              "\" (supported: ModernBertForSequenceClassification, ModernBertForMaskedLM, ModernBertModel)");
}

Pooling parse_pooling(const std::string& name) {
  if (name == "cls") return Pooling::Cls;
  if (name == "mean") return Pooling::Mean;
  throw std::invalid_argument("config: classifier_pooling must be \"cls\" or \"mean\", got \"" + name + "\"");
}

void Config::validate() const {
  auto positive = [](int64_t v, const char* key, int64_t max) {
    if (v <= 0) throw std::invalid_argument(std::string("config: ") + key + " must be positive, got " + std::to_string(v));
    if (v > max)
      throw std::invalid_argument(std::string("config: ") + key + " must be at most " + std::to_string(max) + ", got " + std::to_string(v));
  };
  positive(vocab_size, "vocab_size", kMaxVocab);
  positive(hidden_size, "hidden_size", kMaxHidden);
  positive(intermediate_size, "intermediate_size", kMaxIntermediate);
  positive(num_hidden_layers, "num_hidden_layers", kMaxLayers);
  positive(num_attention_heads, "num_attention_heads", kMaxHidden);
  if (hidden_size % num_attention_heads != 0)
    throw std::invalid_argument("config: hidden_size (" + std::to_string(hidden_size) +
                                ") is not a multiple of num_attention_heads (" + std::to_string(num_attention_heads) + ")");
  if (head_dim() % 2 != 0) throw std::invalid_argument("config: head dimension must be even for rotary embeddings");
  if (static_cast<int64_t>(global_layers.size()) != num_hidden_layers)
    throw std::invalid_argument("config: layer_types has " + std::to_string(global_layers.size()) + " entries for " +
                                std::to_string(num_hidden_layers) + " layers");
  if (local_attention < 0 || local_attention > kMaxWindow)
    throw std::invalid_argument("config: local_attention must be in [0, " + std::to_string(kMaxWindow) + "]");
  if (architecture == Architecture::SequenceClassification) positive(num_labels, "num_labels", kMaxLabels);
  activation_by_name(hidden_activation);
  activation_by_name(classifier_activation);
}

namespace {
torch::Tensor gelu_exact(const torch::Tensor& x) { return torch::gelu(x); }
torch::Tensor gelu_tanh(const torch::Tensor& x) { return torch::gelu(x, "tanh"); }
torch::Tensor gelu_new(const torch::Tensor& x) {  // transformers' NewGELUActivation, written as HF writes it
  return 0.5 * x * (1.0 + torch::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * torch::pow(x, 3.0))));
}
torch::Tensor relu(const torch::Tensor& x) { return torch::relu(x); }
torch::Tensor silu(const torch::Tensor& x) { return torch::silu(x); }

// HF's (x * cos) + (rotate_half(x) * sin) with cos = cat(c, c), sin = cat(s, s), written on the halves: the same
// floating-point operations (a + (-b) * s == a - b * s exactly), and chunk's backward is one cat where slicing's
// backward would zero-fill the whole tensor once per slice.
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& c, const torch::Tensor& s) {
  auto halves = x.chunk(2, -1);
  return torch::cat({halves[0] * c - halves[1] * s, halves[1] * c + halves[0] * s}, -1);
}

// torch.nn.init.trunc_normal_ (inverse-CDF method), drawing from `gen`.
void trunc_normal_(torch::Tensor& t, double std, double cutoff, at::Generator& gen) {
  torch::NoGradGuard guard;
  const double a = -cutoff * std, b = cutoff * std;
  auto norm_cdf = [](double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; };
  const double l = norm_cdf(a / std), u = norm_cdf(b / std);
  t.uniform_(2 * l - 1, 2 * u - 1, gen);
  t.erfinv_();
  t.mul_(std * std::sqrt(2.0));
  t.clamp_(a, b);
}

void init_linear(Linear& lin, double std, double cutoff, at::Generator& gen) {
  trunc_normal_(lin->weight, std, cutoff, gen);
  if (lin->bias.defined()) {
    torch::NoGradGuard guard;
    lin->bias.zero_();
  }
}
}  // namespace

Activation activation_by_name(const std::string& name) {
  if (name == "gelu") return gelu_exact;
  if (name == "gelu_pytorch_tanh" || name == "gelu_python_tanh") return gelu_tanh;
  if (name == "gelu_new") return gelu_new;
  if (name == "relu") return relu;
  if (name == "silu" || name == "swish") return silu;
  throw std::invalid_argument("config: unsupported activation \"" + name +
                              "\" (supported: gelu, gelu_pytorch_tanh, gelu_new, relu, silu, swish)");
}

torch::Tensor dropout(const torch::Tensor& x, double p, bool training, at::Generator& gen) {
  if (!training || p <= 0.0) return x;
  if (p >= 1.0) return x * 0.0;
  auto mask = torch::empty_like(x);
  if (gen.device() == x.device()) mask.bernoulli_(1.0 - p, gen);
  else mask.bernoulli_(1.0 - p);
  return x * mask / (1.0 - p);
}

Packed make_packed(const std::vector<int32_t>& ids, const std::vector<int32_t>& cu_seqlens, int64_t vocab_size,
                   const torch::Device& device) {
  // Every offset is checked before anything is indexed with it: cu_seqlens starts at 0, increases strictly and ends
  // at the number of ids, so each sequence [cu[i], cu[i+1]) lies inside ids.
  const int64_t T = static_cast<int64_t>(ids.size());
  if (cu_seqlens.size() < 2) throw std::invalid_argument("forward: cuSeqlens must have at least 2 entries (batch >= 1)");
  if (cu_seqlens.front() != 0) throw std::invalid_argument("forward: cuSeqlens must start with 0");
  for (size_t i = 1; i < cu_seqlens.size(); ++i)
    if (cu_seqlens[i] < 0 || cu_seqlens[i] > T)
      throw std::invalid_argument("forward: cuSeqlens[" + std::to_string(i) + "] = " + std::to_string(cu_seqlens[i]) +
                                  " is outside [0, " + std::to_string(T) + "] (the number of ids)");
  if (cu_seqlens.back() != T)
    throw std::invalid_argument("forward: cuSeqlens ends at " + std::to_string(cu_seqlens.back()) + " but ids has " +
                                std::to_string(T) + " tokens");
  for (size_t i = 0; i + 1 < cu_seqlens.size(); ++i)
    if (cu_seqlens[i + 1] <= cu_seqlens[i])
      throw std::invalid_argument("forward: sequence " + std::to_string(i) + " is empty or reversed (cuSeqlens must increase)");
  Packed p;
  p.cu.assign(cu_seqlens.begin(), cu_seqlens.end());
  std::vector<int64_t> pos(ids.size());
  for (size_t i = 0; i + 1 < cu_seqlens.size(); ++i) {
    const int64_t s = cu_seqlens[i], e = cu_seqlens[i + 1];
    p.max_len = std::max(p.max_len, e - s);
    for (int64_t t = s; t < e; ++t) pos[t] = t - s;
  }
  std::vector<int64_t> ids64(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size)
      throw std::invalid_argument("forward: token id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                                  " is outside the vocabulary [0, " + std::to_string(vocab_size) + ")");
    ids64[i] = ids[i];
  }
  auto opts = torch::TensorOptions().dtype(torch::kLong);
  p.ids = torch::tensor(ids64, opts).to(device);
  p.position_ids = torch::tensor(pos, opts).to(device);
  p.cu_seqlens = torch::tensor(p.cu, opts).to(device);
  return p;
}

std::vector<int64_t> Packed::lengths() const {
  std::vector<int64_t> out(cu.size() - 1);
  for (size_t i = 0; i + 1 < cu.size(); ++i) out[i] = cu[i + 1] - cu[i];
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias) {
  weight = register_parameter("weight", torch::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", torch::empty({out}));
}

LayerNormImpl::LayerNormImpl(int64_t dim_, double eps_, bool with_bias) : dim(dim_), eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
  if (with_bias) bias = register_parameter("bias", torch::zeros({dim}));
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) {
  return torch::layer_norm(x, {dim}, weight, bias, eps);
}

EmbeddingsImpl::EmbeddingsImpl(const Config& c) : drop_p(c.embedding_dropout), pad_token_id(c.pad_token_id) {
  tok_embeddings = register_module("tok_embeddings", EmbeddingTable(c.vocab_size, c.hidden_size));
  norm = register_module("norm", LayerNorm(c.hidden_size, c.norm_eps, c.norm_bias));
}

torch::Tensor EmbeddingsImpl::forward(const torch::Tensor& ids, at::Generator& gen) {
  // padding_idx as nn.Embedding(padding_idx=pad_token_id): that row gets no gradient.
  const int64_t pad = (pad_token_id >= 0 && pad_token_id < tok_embeddings->weight.size(0)) ? pad_token_id : -1;
  // In training the gradient is sparse: autograd adds it into the dense .grad that the train step keeps allocated
  // (zeroed each step), instead of zero-filling a fresh vocab x hidden buffer on every backward.
  auto h = torch::embedding(tok_embeddings->weight, ids, pad, false, /*sparse=*/is_training());
  return dropout(norm(h), drop_p, is_training(), gen);
}

Rotary::Rotary(double theta, int64_t dim_) : dim(dim_) {
  // inv_freq = 1.0 / (base ** (arange(0, dim, 2) / dim)), float32 as transformers computes it
  auto exponent = torch::arange(0, dim, 2, torch::kLong).to(torch::kFloat) / static_cast<double>(dim);
  inv_freq = torch::pow(theta, exponent).reciprocal();
}

std::pair<torch::Tensor, torch::Tensor> Rotary::lookup(const torch::Tensor& position_ids) const {
  auto inv = inv_freq.to(position_ids.device());
  auto freqs = position_ids.to(torch::kFloat).unsqueeze(1) * inv.unsqueeze(0);  // [T, dim/2]
  // HF's tables are cat(freqs, freqs).cos() / .sin(): both halves equal, so one half is kept (see apply_rotary).
  return {freqs.cos(), freqs.sin()};
}

AttentionImpl::AttentionImpl(const Config& c, int64_t layer_idx)
    : num_heads(c.num_attention_heads), head_dim(c.head_dim()), dropout_p(c.attention_dropout) {
  Wqkv = register_module("Wqkv", Linear(c.hidden_size, 3 * c.hidden_size, c.attention_bias));
  Wo = register_module("Wo", Linear(c.hidden_size, c.hidden_size, c.attention_bias));
  window = c.global_layers[layer_idx] ? -1 : c.local_attention / 2;
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const Packed& batch, const torch::Tensor& cos,
                                     const torch::Tensor& sin, at::Generator& gen) {
  const int64_t T = x.size(0);
  // unbind, not select: its backward stacks the three gradients instead of zero-filling [T, 3, heads, d] thrice.
  auto qkv = Wqkv(x).view({T, 3, num_heads, head_dim}).unbind(1);
  auto q = qkv[0], k = qkv[1], v = qkv[2];  // [T, heads, d]
  auto c = cos.unsqueeze(1), s = sin.unsqueeze(1);
  auto dtype = q.scalar_type();
  q = apply_rotary(q.to(torch::kFloat), c, s).to(dtype);
  k = apply_rotary(k.to(torch::kFloat), c, s).to(dtype);
  auto out = varlen_attention(q, k, v, batch, window, is_training() ? dropout_p : 0.0);
  return dropout(Wo(out.reshape({T, num_heads * head_dim})), dropout_p, is_training(), gen);
}

MLPImpl::MLPImpl(const Config& c) : act(activation_by_name(c.hidden_activation)), drop_p(c.mlp_dropout) {
  Wi = register_module("Wi", Linear(c.hidden_size, 2 * c.intermediate_size, c.mlp_bias));
  Wo = register_module("Wo", Linear(c.intermediate_size, c.hidden_size, c.mlp_bias));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x, at::Generator& gen) {
  auto chunks = Wi(x).chunk(2, -1);
  return Wo(dropout(act(chunks[0]) * chunks[1], drop_p, is_training(), gen));
}

EncoderLayerImpl::EncoderLayerImpl(const Config& c, int64_t layer_idx) : is_global(c.global_layers[layer_idx]) {
  if (layer_idx != 0) attn_norm = register_module("attn_norm", LayerNorm(c.hidden_size, c.norm_eps, c.norm_bias));
  attn = register_module("attn", Attention(c, layer_idx));
  mlp_norm = register_module("mlp_norm", LayerNorm(c.hidden_size, c.norm_eps, c.norm_bias));
  mlp = register_module("mlp", MLP(c));
}

torch::Tensor EncoderLayerImpl::forward(const torch::Tensor& x, const Packed& batch, const torch::Tensor& cos,
                                        const torch::Tensor& sin, at::Generator& gen) {
  auto h = x + attn(attn_norm ? attn_norm(x) : x, batch, cos, sin, gen);
  return h + mlp(mlp_norm(h), gen);
}

BodyImpl::BodyImpl(const Config& c)
    : global_rope(c.global_rope_theta, c.head_dim()), local_rope(c.local_rope_theta, c.head_dim()) {
  embeddings = register_module("embeddings", Embeddings(c));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(EncoderLayer(c, i));
  final_norm = register_module("final_norm", LayerNorm(c.hidden_size, c.norm_eps, c.norm_bias));
}

torch::Tensor BodyImpl::forward(const Packed& batch, at::Generator& gen) {
  auto h = embeddings(batch.ids, gen);
  torch::Tensor gcos, gsin, lcos, lsin;
  for (const auto& m : *layers) {
    auto layer = m->as<EncoderLayerImpl>();
    if (layer->is_global && !gcos.defined()) std::tie(gcos, gsin) = global_rope.lookup(batch.position_ids);
    if (!layer->is_global && !lcos.defined()) std::tie(lcos, lsin) = local_rope.lookup(batch.position_ids);
    h = layer->is_global ? layer->forward(h, batch, gcos, gsin, gen) : layer->forward(h, batch, lcos, lsin, gen);
  }
  return final_norm(h);
}

HeadImpl::HeadImpl(const Config& c) : act(activation_by_name(c.classifier_activation)) {
  dense = register_module("dense", Linear(c.hidden_size, c.hidden_size, c.classifier_bias));
  norm = register_module("norm", LayerNorm(c.hidden_size, c.norm_eps, c.norm_bias));
}

torch::Tensor HeadImpl::forward(const torch::Tensor& x) { return norm(act(dense(x))); }

void ModernBertImpl::init_weights(at::Generator& gen) {
  const auto& c = config;
  const double cutoff = std::isfinite(c.initializer_cutoff_factor) ? c.initializer_cutoff_factor : 3.0;
  const double std_in = c.initializer_range;
  const double std_out = c.initializer_range / std::sqrt(2.0 * c.num_hidden_layers);
  const double std_emb = c.initializer_range;
  const double std_final = 1.0 / std::sqrt(static_cast<double>(c.hidden_size));
  trunc_normal_(model->embeddings->tok_embeddings->weight, std_emb, cutoff, gen);
  for (const auto& m : *model->layers) {
    auto layer = m->as<EncoderLayerImpl>();
    init_linear(layer->attn->Wqkv, std_in, cutoff, gen);
    init_linear(layer->attn->Wo, std_out, cutoff, gen);
    init_linear(layer->mlp->Wi, std_in, cutoff, gen);
    init_linear(layer->mlp->Wo, std_out, cutoff, gen);
  }
  if (classification) {
    init_linear(classification->head->dense, std_out, cutoff, gen);
    init_linear(classification->classifier, std_final, cutoff, gen);
  }
  if (mlm) {
    init_linear(mlm->head->dense, std_out, cutoff, gen);
    if (mlm->decoder->weight.defined()) trunc_normal_(mlm->decoder->weight, std_out, cutoff, gen);
    torch::NoGradGuard guard;
    if (mlm->decoder->bias.defined()) mlm->decoder->bias.zero_();
  }
  // LayerNorms are created as weight 1, bias 0, which is HF's init.
}

}  // namespace radbert
