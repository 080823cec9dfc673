#include "napi_args.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

namespace radbert::napi {

void type_error(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }

double num(const Napi::Object& o, const char* key, const std::string& ctx) {
  auto v = o.Get(key);
  if (!v.IsNumber()) type_error(o.Env(), ctx + "." + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}
double num_or(const Napi::Object& o, const char* key, double def, const std::string& ctx) {
  auto v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return def;
  if (!v.IsNumber()) type_error(o.Env(), ctx + "." + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}
int64_t integer(const Napi::Object& o, const char* key, const std::string& ctx) {
  const double d = num(o, key, ctx);
  // range first: casting a double outside int64 is undefined behaviour
  if (!std::isfinite(d) || d != std::trunc(d) || std::fabs(d) > 9007199254740991.0)
    type_error(o.Env(), ctx + "." + key + " must be an integer (|x| < 2^53)");
  return static_cast<int64_t>(d);
}
bool boolean(const Napi::Object& o, const char* key, const std::string& ctx) {
  auto v = o.Get(key);
  if (!v.IsBoolean()) type_error(o.Env(), ctx + "." + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}
std::string str(const Napi::Object& o, const char* key, const std::string& ctx) {
  auto v = o.Get(key);
  if (!v.IsString()) type_error(o.Env(), ctx + "." + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}
Napi::Object object_arg(const Napi::CallbackInfo& info, size_t i, const std::string& what) {
  if (info.Length() <= i || !info[i].IsObject()) type_error(info.Env(), what + " must be an object");
  return info[i].As<Napi::Object>();
}
std::string string_arg(const Napi::CallbackInfo& info, size_t i, const std::string& what) {
  if (info.Length() <= i || !info[i].IsString()) type_error(info.Env(), what + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}
Napi::Object options_arg(const Napi::CallbackInfo& info, size_t i, const std::string& what) {
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return Napi::Object::New(info.Env());
  if (!info[i].IsObject()) type_error(info.Env(), what + " must be an object");
  return info[i].As<Napi::Object>();
}

radbert::Targets targets_arg(const Napi::CallbackInfo& info, size_t i, const std::string& what) {
  radbert::Targets t;
  if (info.Length() > i && info[i].IsTypedArray()) {
    const auto kind = info[i].As<Napi::TypedArray>().TypedArrayType();
    if (kind == napi_float32_array) {
      auto a = info[i].As<Napi::Float32Array>();
      t.multi_hot.assign(a.Data(), a.Data() + a.ElementLength());
      return t;
    }
    if (kind == napi_int32_array) {
      auto a = info[i].As<Napi::Int32Array>();
      t.tokens = true;
      t.token_labels.assign(a.Data(), a.Data() + a.ElementLength());
      return t;
    }
  }
  type_error(info.Env(), what + ": targets must be a Float32Array (classification: batch x numLabels) or an Int32Array "
                         "(masked LM: one label per token, -100 = ignored)");
}

radbert::MultiLabelLoss loss_option(const Napi::Object& o, const std::string& ctx) {
  radbert::MultiLabelLoss l;
  auto v = o.Get("loss");
  if (v.IsUndefined() || v.IsNull()) return l;
  if (!v.IsObject()) type_error(o.Env(), ctx + ".loss must be an object");
  const auto lo = v.As<Napi::Object>();
  const std::string lctx = ctx + ".loss";
  const std::string type = lo.Get("type").IsUndefined() ? "bce" : str(lo, "type", lctx);
  if (type != "bce" && type != "asl") type_error(o.Env(), lctx + ".type must be 'bce' or 'asl'");
  auto pw = lo.Get("posWeight");
  if (!pw.IsUndefined() && !pw.IsNull()) {
    if (type != "bce") type_error(o.Env(), lctx + ".posWeight applies to type 'bce' only");
    if (!pw.IsTypedArray() || pw.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      type_error(o.Env(), lctx + ".posWeight must be a Float32Array (one weight per label)");
    auto a = pw.As<Napi::Float32Array>();
    l.pos_weight.assign(a.Data(), a.Data() + a.ElementLength());
    for (size_t i = 0; i < l.pos_weight.size(); ++i)
      if (!std::isfinite(l.pos_weight[i]) || l.pos_weight[i] < 0)
        type_error(o.Env(), lctx + ".posWeight[" + std::to_string(i) + "] must be a finite number >= 0");
  }
  if (type == "asl") {
    l.kind = radbert::MultiLabelLoss::Kind::ASL;
    l.gamma_neg = num_or(lo, "gammaNeg", l.gamma_neg, lctx);
    l.gamma_pos = num_or(lo, "gammaPos", l.gamma_pos, lctx);
    l.clip = num_or(lo, "clip", l.clip, lctx);
    if (!(l.gamma_neg >= 0) || !(l.gamma_pos >= 0) || !std::isfinite(l.gamma_neg) || !std::isfinite(l.gamma_pos))
      type_error(o.Env(), lctx + ".gammaNeg and .gammaPos must be finite numbers >= 0");
    if (!(l.clip >= 0 && l.clip < 1)) type_error(o.Env(), lctx + ".clip must be in [0, 1)");
  }
  return l;
}

bool bf16_option(const Napi::Object& o, const std::string& ctx) {
  auto v = o.Get("bf16");
  if (v.IsUndefined() || v.IsNull()) return false;
  if (!v.IsBoolean()) type_error(o.Env(), ctx + ".bf16 must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

radbert::MicroStep micro_step_option(const Napi::Object& o, const std::string& ctx) {
  radbert::MicroStep m;
  m.loss_weight = num_or(o, "lossWeight", 1.0, ctx);
  if (!std::isfinite(m.loss_weight) || m.loss_weight < 0) type_error(o.Env(), ctx + ".lossWeight must be a finite number >= 0");
  for (auto [key, field] : {std::pair{"accumulate", &m.accumulate}, std::pair{"stop", &m.stop}}) {
    auto v = o.Get(key);
    if (!v.IsUndefined() && !v.IsNull()) *field = boolean(o, key, ctx);
  }
  return m;
}

radbert::Config parse_config(const Napi::Object& o) {
  const std::string ctx = "config";
  radbert::Config c;
  try {
    c.architecture = radbert::parse_architecture(str(o, "architecture", ctx));
    c.classifier_pooling = radbert::parse_pooling(str(o, "classifierPooling", ctx));
  } catch (const std::invalid_argument& e) {
    throw Napi::Error::New(o.Env(), e.what());
  }
  c.vocab_size = integer(o, "vocabSize", ctx);
  c.hidden_size = integer(o, "hiddenSize", ctx);
  c.intermediate_size = integer(o, "intermediateSize", ctx);
  c.num_hidden_layers = integer(o, "numHiddenLayers", ctx);
  c.num_attention_heads = integer(o, "numAttentionHeads", ctx);
  auto gl = o.Get("globalLayers");
  if (!gl.IsArray()) type_error(o.Env(), "config.globalLayers must be an array of booleans");
  auto arr = gl.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    auto v = arr.Get(i);
    if (!v.IsBoolean()) type_error(o.Env(), "config.globalLayers[" + std::to_string(i) + "] must be a boolean");
    c.global_layers.push_back(v.As<Napi::Boolean>().Value());
  }
  c.local_attention = integer(o, "localAttention", ctx);
  c.global_rope_theta = num(o, "globalRopeTheta", ctx);
  c.local_rope_theta = num(o, "localRopeTheta", ctx);
  c.hidden_activation = str(o, "hiddenActivation", ctx);
  c.classifier_activation = str(o, "classifierActivation", ctx);
  c.norm_eps = num(o, "normEps", ctx);
  c.norm_bias = boolean(o, "normBias", ctx);
  c.attention_bias = boolean(o, "attentionBias", ctx);
  c.mlp_bias = boolean(o, "mlpBias", ctx);
  c.classifier_bias = boolean(o, "classifierBias", ctx);
  c.decoder_bias = boolean(o, "decoderBias", ctx);
  c.embedding_dropout = num(o, "embeddingDropout", ctx);
  c.attention_dropout = num(o, "attentionDropout", ctx);
  c.mlp_dropout = num(o, "mlpDropout", ctx);
  c.classifier_dropout = num(o, "classifierDropout", ctx);
  c.num_labels = integer(o, "numLabels", ctx);
  c.pad_token_id = integer(o, "padTokenId", ctx);
  c.initializer_range = num(o, "initializerRange", ctx);
  c.initializer_cutoff_factor = num(o, "initializerCutoffFactor", ctx);
  c.tie_word_embeddings = boolean(o, "tieWordEmbeddings", ctx);
  return c;
}

Napi::Array string_array(Napi::Env env, const std::vector<std::string>& v) {
  auto a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(static_cast<uint32_t>(i), v[i]);
  return a;
}

Napi::Float32Array to_float32_array(Napi::Env env, const std::vector<float>& v) {
  auto a = Napi::Float32Array::New(env, v.size());
  std::memcpy(a.Data(), v.data(), v.size() * sizeof(float));
  return a;
}

std::map<std::string, std::string> metadata_arg(const Napi::Object& opts) {
  std::map<std::string, std::string> md;
  auto v = opts.Get("metadata");
  if (v.IsUndefined() || v.IsNull()) return md;
  if (!v.IsObject()) type_error(opts.Env(), "options.metadata must be an object of strings");
  auto o = v.As<Napi::Object>();
  auto keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    auto k = keys.Get(i).As<Napi::String>().Utf8Value();
    auto val = o.Get(k);
    if (!val.IsString()) type_error(opts.Env(), "options.metadata." + k + " must be a string");
    md[k] = val.As<Napi::String>().Utf8Value();
  }
  return md;
}

// ---- the model handle ----------------------------------------------------------------------------------------
}  // namespace radbert::napi
