// ModernBERT on libtorch: one class per block, as in transformers' modeling_modernbert.py, but run on a packed
// (unpadded) batch: hidden states are [total_tokens, hidden] and cu_seqlens [batch + 1] holds each sequence's offset.
#pragma once

#include <torch/torch.h>

#include <string>

#include "linear.h"
#include <vector>

namespace radbert {

// The task model class of config.json's "architectures" (parsed once, when the config crosses from JS).
enum class Architecture { SequenceClassification, MaskedLM, Bare };
// ModernBertForSequenceClassification's classifier_pooling: first token or mean over the sequence's tokens.
enum class Pooling { Cls, Mean };

// Hugging Face's class name of an architecture, and back (throws std::invalid_argument for another name).
const char* architecture_name(Architecture a);
Architecture parse_architecture(const std::string& name);
// "cls" / "mean" (throws std::invalid_argument naming config's classifier_pooling otherwise).
Pooling parse_pooling(const std::string& name);

// A resolved model description (lib/config.ts fills it from config.json).
struct Config {
  Architecture architecture = Architecture::SequenceClassification;
  int64_t vocab_size = 50368;
  int64_t hidden_size = 768;
  int64_t intermediate_size = 1152;
  int64_t num_hidden_layers = 22;
  int64_t num_attention_heads = 12;
  std::vector<bool> global_layers;  // per layer: true = full attention, false = sliding window
  int64_t local_attention = 128;    // the whole window: a token sees +-local_attention/2 neighbours
  double global_rope_theta = 160000.0;
  double local_rope_theta = 10000.0;
  std::string hidden_activation = "gelu";
  std::string classifier_activation = "gelu";
  double norm_eps = 1e-5;
  bool norm_bias = false;
  bool attention_bias = false;
  bool mlp_bias = false;
  bool classifier_bias = false;
  bool decoder_bias = true;
  double embedding_dropout = 0.0;
  double attention_dropout = 0.0;
  double mlp_dropout = 0.0;
  double classifier_dropout = 0.0;
  Pooling classifier_pooling = Pooling::Cls;
  int64_t num_labels = 2;
  int64_t pad_token_id = 50283;
  double initializer_range = 0.02;
  double initializer_cutoff_factor = 2.0;
  bool tie_word_embeddings = true;

  // Upper bounds of the sizes (far above any ModernBERT; they keep a bad config from allocating without limit).
  static constexpr int64_t kMaxVocab = 1 << 22, kMaxHidden = 65536, kMaxIntermediate = 262144, kMaxLayers = 1024,
                           kMaxLabels = 1 << 22, kMaxWindow = 1 << 20;
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // Throws std::invalid_argument naming the offending field.
  void validate() const;
};

// Activation by Hugging Face name (ACT2FN): gelu, gelu_pytorch_tanh, gelu_new, relu, silu, swish.
using Activation = torch::Tensor (*)(const torch::Tensor&);
Activation activation_by_name(const std::string& name);

// Dropout drawing its mask from the model's own generator (so a step's mask depends only on the step seed).
torch::Tensor dropout(const torch::Tensor& x, double p, bool training, at::Generator& gen);

// A packed batch: token ids [T] (int64) and offsets [B + 1] (int64, on CPU and on the model's device).
struct Packed {
  torch::Tensor ids;           // [T] on device
  torch::Tensor cu_seqlens;    // [B + 1] on device
  std::vector<int64_t> cu;     // host copy of cu_seqlens
  torch::Tensor position_ids;  // [T] on device: position of each token inside its own sequence
  int64_t max_len = 0;
  int64_t batch() const { return static_cast<int64_t>(cu.size()) - 1; }
  std::vector<int64_t> lengths() const;  // per-sequence token counts
};

// nn.Linear's parameters (weight [out, in], optional bias), allocated but not initialised: a model is either loaded
// from safetensors or initialised by ModernBertImpl::init_weights, so libtorch's default init would only cost time
// and touch every page of memory before the real values arrive. Runs through radbert::linear (linear.h: the GEMM
// library per CPU, and the weight reordered once for inference).
struct LinearImpl : torch::nn::Module {
  LinearImpl(int64_t in, int64_t out, bool with_bias);
  torch::Tensor forward(const torch::Tensor& x) { return linear(x, weight, bias, packed); }
  torch::Tensor weight, bias;
  PackedWeight packed;
};
TORCH_MODULE(Linear);

// nn.Embedding's table under the key "weight", uninitialised for the same reason as Linear.
struct EmbeddingTableImpl : torch::nn::Module {
  EmbeddingTableImpl(int64_t num, int64_t dim) { weight = register_parameter("weight", torch::empty({num, dim})); }
  torch::Tensor weight;
};
TORCH_MODULE(EmbeddingTable);

// LayerNorm whose bias is optional (torch::nn::LayerNorm always has one).
struct LayerNormImpl : torch::nn::Module {
  LayerNormImpl(int64_t dim, double eps, bool bias);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;
  int64_t dim;
  double eps;
};
TORCH_MODULE(LayerNorm);

struct EmbeddingsImpl : torch::nn::Module {
  explicit EmbeddingsImpl(const Config& c);
  torch::Tensor forward(const torch::Tensor& ids, at::Generator& gen);
  EmbeddingTable tok_embeddings{nullptr};
  LayerNorm norm{nullptr};
  double drop_p;
  int64_t pad_token_id;
};
TORCH_MODULE(Embeddings);

// Rotary tables for one theta.
struct Rotary {
  Rotary(double theta, int64_t dim);
  // cos and sin of shape [T, head_dim / 2] for the given position ids (HF's tables are these, repeated twice).
  std::pair<torch::Tensor, torch::Tensor> lookup(const torch::Tensor& position_ids) const;
  torch::Tensor inv_freq;  // [dim / 2], float32, CPU
  int64_t dim;
};

struct AttentionImpl : torch::nn::Module {
  AttentionImpl(const Config& c, int64_t layer_idx);
  torch::Tensor forward(const torch::Tensor& x, const Packed& batch, const torch::Tensor& cos, const torch::Tensor& sin,
                        at::Generator& gen);
  Linear Wqkv{nullptr}, Wo{nullptr};
  int64_t num_heads, head_dim;
  int64_t window;  // half window (tokens on each side), -1 for global attention
  double dropout_p;
};
TORCH_MODULE(Attention);

struct MLPImpl : torch::nn::Module {
  explicit MLPImpl(const Config& c);
  torch::Tensor forward(const torch::Tensor& x, at::Generator& gen);
  Linear Wi{nullptr}, Wo{nullptr};
  Activation act;
  double drop_p;
};
TORCH_MODULE(MLP);

struct EncoderLayerImpl : torch::nn::Module {
  EncoderLayerImpl(const Config& c, int64_t layer_idx);
  torch::Tensor forward(const torch::Tensor& x, const Packed& batch, const torch::Tensor& cos, const torch::Tensor& sin,
                        at::Generator& gen);
  LayerNorm attn_norm{nullptr};  // null for layer 0 (Identity in HF)
  Attention attn{nullptr};
  LayerNorm mlp_norm{nullptr};
  MLP mlp{nullptr};
  bool is_global;
};
TORCH_MODULE(EncoderLayer);

// ModernBertModel: embeddings, layers, final norm. Its parameters live under "model." in the task models.
struct BodyImpl : torch::nn::Module {
  explicit BodyImpl(const Config& c);
  torch::Tensor forward(const Packed& batch, at::Generator& gen);  // [T, hidden]
  Embeddings embeddings{nullptr};
  torch::nn::ModuleList layers{nullptr};
  LayerNorm final_norm{nullptr};
  Rotary global_rope, local_rope;
};
TORCH_MODULE(Body);

// ModernBertPredictionHead: dense -> activation -> norm (shared by both task heads, see heads.h).
struct HeadImpl : torch::nn::Module {
  explicit HeadImpl(const Config& c);
  torch::Tensor forward(const torch::Tensor& x);
  Linear dense{nullptr};
  Activation act;
  LayerNorm norm{nullptr};
};
TORCH_MODULE(Head);

// Builds the packed batch on `device` from host ids and offsets; validates offsets and token ids.
Packed make_packed(const std::vector<int32_t>& ids, const std::vector<int32_t>& cu_seqlens, int64_t vocab_size,
                   const torch::Device& device);

}  // namespace radbert
