#include "heads.h"

namespace radbert {

torch::Tensor pool(const torch::Tensor& hidden, const Packed& batch, Pooling pooling) {
  const int64_t B = batch.batch();
  if (pooling == Pooling::Cls) return hidden.index_select(0, batch.cu_seqlens.slice(0, 0, B));
  std::vector<torch::Tensor> means;
  means.reserve(B);
  auto seqs = B == 1 ? std::vector<torch::Tensor>{hidden} : hidden.split_with_sizes(batch.lengths(), 0);
  for (int64_t i = 0; i < B; ++i) means.push_back(seqs[i].sum(0) / static_cast<double>(seqs[i].size(0)));
  return torch::stack(means);
}

ClassificationHeadImpl::ClassificationHeadImpl(const Config& c)
    : pooling(c.classifier_pooling), dropout_p(c.classifier_dropout) {
  head = register_module("head", Head(c));
  classifier = register_module("classifier", Linear(c.hidden_size, c.num_labels, true));
}

torch::Tensor ClassificationHeadImpl::forward(const torch::Tensor& hidden, const Packed& batch, at::Generator& gen) {
  auto pooled = dropout(head(pool(hidden, batch, pooling)), dropout_p, is_training(), gen);
  return classifier(pooled);
}

MaskedLMHeadImpl::MaskedLMHeadImpl(const Config& c, EmbeddingTable embeddings) : tied(std::move(embeddings)) {
  head = register_module("head", Head(c));
  decoder = register_module("decoder", Decoder());
  if (!c.tie_word_embeddings)
    decoder->weight = decoder->register_parameter("weight", torch::empty({c.vocab_size, c.hidden_size}));
  if (c.decoder_bias) decoder->bias = decoder->register_parameter("bias", torch::zeros({c.vocab_size}));
}

torch::Tensor MaskedLMHeadImpl::forward(const torch::Tensor& hidden) {
  return linear(head(hidden), decoder_weight(), decoder->bias, packed);
}

ModernBertImpl::ModernBertImpl(const Config& c) : config(c) {
  config.validate();
  model = register_module("model", Body(c));
  if (c.architecture == Architecture::SequenceClassification)
    classification = register_module("task", ClassificationHead(c));
  else if (c.architecture == Architecture::MaskedLM)
    mlm = register_module("task", MaskedLMHead(c, model->embeddings->tok_embeddings));
}

torch::Tensor ModernBertImpl::forward(const Packed& batch, at::Generator& gen) {
  auto h = model(batch, gen);  // [T, hidden]
  switch (config.architecture) {
    case Architecture::SequenceClassification: return classification(h, batch, gen);
    case Architecture::MaskedLM: return mlm(h);
    case Architecture::Bare: break;
  }
  return h;
}

}  // namespace radbert
