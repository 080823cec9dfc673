// The task heads on top of ModernBertModel's hidden states [T, hidden], and the model that puts body and head
// together. Each head owns its parameters under Hugging Face's key names (head.*, classifier.*, decoder.*).
#pragma once

#include <torch/torch.h>

#include "modernbert.h"

namespace radbert {

// Per-sequence pooling of packed hidden states [T, hidden] → [B, hidden]: the first token (cls) or the mean over the
// sequence's tokens (ModernBERT's classifier_pooling="mean"; a packed batch has no padding to mask out).
torch::Tensor pool(const torch::Tensor& hidden, const Packed& batch, Pooling pooling);

// ModernBertForSequenceClassification's head: pool → head → dropout → classifier. Keys head.*, classifier.*.
struct ClassificationHeadImpl : torch::nn::Module {
  explicit ClassificationHeadImpl(const Config& c);
  torch::Tensor forward(const torch::Tensor& hidden, const Packed& batch, at::Generator& gen);  // [B, num_labels]
  Head head{nullptr};
  Linear classifier{nullptr};
  Pooling pooling;
  double dropout_p;
};
TORCH_MODULE(ClassificationHead);

// The decoder's own tensors under "decoder.": weight only when not tied to the token embeddings, bias optional.
struct DecoderImpl : torch::nn::Module {
  torch::Tensor weight, bias;
};
TORCH_MODULE(Decoder);

// ModernBertForMaskedLM's head: head → decoder (tied to the token embeddings when tie_word_embeddings) + bias.
// Keys head.*, decoder.*.
struct MaskedLMHeadImpl : torch::nn::Module {
  // `embeddings`: the body's token table, the decoder weight when tied (held, not registered: it is the body's).
  MaskedLMHeadImpl(const Config& c, EmbeddingTable embeddings);
  torch::Tensor forward(const torch::Tensor& hidden);  // [N, hidden] → logits [N, vocab]
  const torch::Tensor& decoder_weight() const { return decoder->weight.defined() ? decoder->weight : tied->weight; }
  Head head{nullptr};
  Decoder decoder{nullptr};
  EmbeddingTable tied{nullptr};
  PackedWeight packed;  // the decoder weight reordered for inference (linear.h)
};
TORCH_MODULE(MaskedLMHead);

// The task model: ModernBertForSequenceClassification, ModernBertForMaskedLM or ModernBertModel. Its own key names
// are "model.*" (the body) and "task.*" (the head); hf_parameters (weights.h) maps them to Hugging Face's.
struct ModernBertImpl : torch::nn::Module {
  explicit ModernBertImpl(const Config& c);
  // Sequence classification: logits [B, num_labels]; masked LM: [T, vocab]; bare model: [T, hidden].
  torch::Tensor forward(const Packed& batch, at::Generator& gen);
  // Hugging Face's _init_weights for a fresh model.
  void init_weights(at::Generator& gen);
  Config config;
  Body model{nullptr};
  ClassificationHead classification{nullptr};  // sequence classification only
  MaskedLMHead mlm{nullptr};                   // masked LM only
};
TORCH_MODULE(ModernBert);

}  // namespace radbert
