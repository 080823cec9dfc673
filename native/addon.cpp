// The N-API surface of radbert-native: a handful of functions, every heavy one on a worker thread returning a Promise.
// Errors from libtorch (c10::Error) and the C++ library (std::exception) become rejected Promises or JS exceptions:
// the Node process never aborts from native code.
#include <napi.h>
#include <torch/torch.h>
#include <ATen/CPUGeneratorImpl.h>

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "attention_napi.h"  // [attn hook] version().attention, attentionPlan, createModel numerics options
#include "modernbert.h"
#include "optim.h"
#include "profile.h"
#include "safetensors.h"

namespace {

using radbert::NamedTensors;

std::string describe(const std::exception& e) {
  if (auto c10e = dynamic_cast<const c10::Error*>(&e)) return std::string("libtorch: ") + c10e->what_without_backtrace();
  return e.what();
}

// The one native thread that runs every libtorch call. libuv's pool has several threads, and each thread that enters
// libtorch gets its own OpenMP team and MKL thread setting (set_num_threads is per thread there) and its own malloc
// arena; calls hopping between them ran a base training step about 1.4x slower than one thread does. Jobs run in
// submission order; the thread is never joined (it sleeps on its queue when idle).
class ComputeThread {
 public:
  static ComputeThread& get() {
    static ComputeThread* instance = new ComputeThread();  // leaked on purpose: no destructor races at process exit
    return *instance;
  }
  // Runs fn on the compute thread and waits; its exception, if any, is rethrown here.
  void run(std::function<void()> fn) {
    std::packaged_task<void()> task(std::move(fn));
    auto done = task.get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
    done.get();
  }
  // Thread count for libtorch, applied on the compute thread before its next job.
  void set_threads(int n) { threads_.store(n); }

 private:
  ComputeThread() { std::thread([this] { loop(); }).detach(); }
  void loop() {
    at::init_num_threads();
    int applied = 0;
    for (;;) {
      std::packaged_task<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return !queue_.empty(); });
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      const int want = threads_.load();
      if (want > 0 && want != applied) {
        at::set_num_threads(want);
        applied = want;
      }
      task();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<void()>> queue_;
  std::atomic<int> threads_{0};
};

// bf16 autocast, as torch.autocast(device, dtype=torch.bfloat16) / HF Trainer's bf16=True: fp32 parameters, matmuls
// and attention in bf16 by libtorch's own autocast op lists. Runs on the compute thread only (autocast state and its
// weight-cast cache are thread-local there). A forward keeps the cache of bf16 weight copies across calls (what one
// autocast region would do, without re-casting every weight per call); any change of any model's parameters, and
// every model's destruction, bumps g_weights_epoch, and the next bf16 region clears the cache before using it.
std::atomic<uint64_t> g_weights_epoch{1};
uint64_t g_cache_epoch = 0;  // compute thread only: the epoch the cache was filled in

class Autocast {
 public:
  Autocast(bool on, c10::DeviceType device, bool keep_cache) : on_(on), device_(device), keep_(keep_cache) {
    if (!on_) return;
    const uint64_t epoch = g_weights_epoch.load();
    // A training region always starts from an empty cache: copies cast under no_grad by a forward carry no
    // autograd history, and gradients must flow through the casts to the float32 weights.
    if (g_cache_epoch != epoch || !keep_) {
      at::autocast::clear_cache();
      g_cache_epoch = epoch;
    }
    prev_enabled_ = at::autocast::is_autocast_enabled(device_);
    prev_dtype_ = at::autocast::get_autocast_dtype(device_);
    at::autocast::set_autocast_enabled(device_, true);
    at::autocast::set_autocast_dtype(device_, at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~Autocast() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0 && !keep_) {
      at::autocast::clear_cache();
      g_cache_epoch = 0;  // nothing cached now
    }
    at::autocast::set_autocast_enabled(device_, prev_enabled_);
    at::autocast::set_autocast_dtype(device_, prev_dtype_);
  }
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool on_;
  c10::DeviceType device_;
  bool keep_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

// Runs `exec` on the compute thread (waiting for it from a libuv worker thread) and settles a Promise with `done(env)` (on the JS thread) or with the error.
class Task : public Napi::AsyncWorker {
 public:
  using Exec = std::function<void()>;
  using Done = std::function<Napi::Value(Napi::Env)>;
  Task(Napi::Env env, Exec exec, Done done)
      : Napi::AsyncWorker(env, "radbert-native"), deferred_(Napi::Promise::Deferred::New(env)),
        exec_(std::move(exec)), done_(std::move(done)) {}
  static Napi::Promise Run(Napi::Env env, Exec exec, Done done) {
    auto* t = new Task(env, std::move(exec), std::move(done));
    auto p = t->deferred_.Promise();
    t->Queue();
    return p;
  }
  void Execute() override {
    try {
      ComputeThread::get().run(exec_);
    } catch (const std::exception& e) {
      SetError(describe(e));
    } catch (...) {
      SetError("radbert-native: unknown native error");
    }
  }
  void OnOK() override {
    try {
      deferred_.Resolve(done_(Env()));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(Env(), describe(e)).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Exec exec_;
  Done done_;
};

// Everything a model handle owns. Calls lock `mu`, so one forward/step runs at a time per model.
struct ModelState {
  ~ModelState() { g_weights_epoch.fetch_add(1); }  // its parameters' addresses may be reused: invalidate bf16 casts
  std::mutex mu;
  radbert::ModernBert module{nullptr};
  torch::Device device{torch::kCPU};
  at::Generator gen;
  radbert::AdamWState optim;
  NamedTensors params;  // Hugging Face key names
  std::map<std::string, torch::Tensor> by_name;
};

// HF key names: the task models keep the body under "model."; a bare ModernBertModel has no prefix.
NamedTensors hf_parameters(radbert::ModernBert& m) {
  NamedTensors out;
  const bool bare = m->config.architecture == "ModernBertModel";
  for (const auto& item : m->named_parameters(true)) {
    std::string key = item.key();
    if (bare && key.rfind("model.", 0) == 0) key = key.substr(6);
    out.emplace_back(key, item.value());
  }
  return out;
}

std::string shape_str(c10::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// ---- argument helpers (JS thread) ----------------------------------------------------------------------------
[[noreturn]] void type_error(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }

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
  double d = num(o, key, ctx);
  if (d != static_cast<double>(static_cast<int64_t>(d))) type_error(o.Env(), ctx + "." + key + " must be an integer");
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
template <typename T, napi_typedarray_type Kind>
std::vector<T> typed_arg(const Napi::CallbackInfo& info, size_t i, const std::string& what) {
  if (info.Length() <= i || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != Kind)
    type_error(info.Env(), what);
  auto arr = info[i].As<Napi::TypedArrayOf<T>>();
  return std::vector<T>(arr.Data(), arr.Data() + arr.ElementLength());
}

// options.bf16: optional boolean, false when absent.
bool bf16_option(const Napi::Object& o, const std::string& ctx) {
  auto v = o.Get("bf16");
  if (v.IsUndefined() || v.IsNull()) return false;
  if (!v.IsBoolean()) type_error(o.Env(), ctx + ".bf16 must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

radbert::Config parse_config(const Napi::Object& o) {
  const std::string ctx = "config";
  radbert::Config c;
  c.architecture = str(o, "architecture", ctx);
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
  c.classifier_pooling = str(o, "classifierPooling", ctx);
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
class Model : public Napi::ObjectWrap<Model> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {
                           InstanceMethod<&Model::LoadWeights>("loadWeights"),
                           InstanceMethod<&Model::SaveWeights>("saveWeights"),
                           InstanceMethod<&Model::Forward>("forward"),
                           InstanceMethod<&Model::TrainStep>("trainStep"),
                           InstanceMethod<&Model::SaveOptimizer>("saveOptimizer"),
                           InstanceMethod<&Model::LoadOptimizer>("loadOptimizer"),
                           InstanceMethod<&Model::Info>("info"),
                           InstanceMethod<&Model::Free>("free"),
                       });
  }

  explicit Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      type_error(info.Env(), "NativeModel cannot be constructed directly: use createModel()");
    state_ = *info[0].As<Napi::External<std::shared_ptr<ModelState>>>().Data();
  }

 private:
  std::shared_ptr<ModelState> state_;

  std::shared_ptr<ModelState> live(Napi::Env env) {
    if (!state_) throw Napi::Error::New(env, "radbert-native: this model was freed (close()d); load it again");
    return state_;
  }

  Napi::Value LoadWeights(const Napi::CallbackInfo& info) {
    auto s = live(info.Env());
    if (info.Length() < 1 || !info[0].IsArray()) type_error(info.Env(), "loadWeights(files): files must be an array of paths");
    std::vector<std::string> files;
    auto arr = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      if (!arr.Get(i).IsString()) type_error(info.Env(), "loadWeights(files): files must be strings");
      files.push_back(arr.Get(i).As<Napi::String>().Utf8Value());
    }
    auto loaded = std::make_shared<std::vector<std::string>>();
    auto missing = std::make_shared<std::vector<std::string>>();
    auto unexpected = std::make_shared<std::vector<std::string>>();
    return Task::Run(
        info.Env(),
        [s, files, loaded, missing, unexpected] {
          std::lock_guard<std::mutex> lock(s->mu);
          const auto& cfg = s->module->config;
          // Pass 1: read every header and check every shape before touching the model (an error changes nothing).
          struct Plan { size_t file; std::string key, param; };
          std::vector<radbert::SafetensorsHeader> headers;
          std::vector<Plan> plan;
          std::set<std::string> seen;
          for (size_t f = 0; f < files.size(); ++f) {
            headers.push_back(radbert::read_header(files[f]));
            for (const auto& [key, entry] : headers.back().tensors) {
              std::string target;
              for (const auto& cand : {key, "model." + key,
                                       key.rfind("model.", 0) == 0 ? key.substr(6) : std::string()}) {
                if (!cand.empty() && s->by_name.count(cand)) { target = cand; break; }
              }
              if (target.empty()) {
                const bool tied = key == "decoder.weight" && cfg.architecture == "ModernBertForMaskedLM" && cfg.tie_word_embeddings;
                if (!tied) unexpected->push_back(key);
                continue;
              }
              const auto& p = s->by_name.at(target);
              if (c10::IntArrayRef(entry.shape) != p.sizes())
                throw std::runtime_error(files[f] + ": tensor \"" + key + "\" has shape " + shape_str(entry.shape) +
                                         " but the model (from config.json) expects " + shape_str(p.sizes()));
              if (seen.count(target))
                throw std::runtime_error(files[f] + ": tensor \"" + key + "\" appears in more than one file");
              radbert::float_dtype(headers.back(), key);  // a non-float dtype fails here, before any data is read
              seen.insert(target);
              plan.push_back({f, key, target});
            }
          }
          // Pass 2: read each tensor straight into its parameter (no second copy of the model in memory).
          g_weights_epoch.fetch_add(1);  // the parameters change: cached bf16 casts are stale
          for (const auto& item : plan) {
            auto& dst = s->by_name.at(item.param);
            radbert::read_tensor_into(headers[item.file], item.key, dst);
            loaded->push_back(item.param);
          }
          for (const auto& [name, p] : s->params)
            if (!seen.count(name)) missing->push_back(name);
        },
        [loaded, missing, unexpected](Napi::Env env) -> Napi::Value {
          auto o = Napi::Object::New(env);
          o.Set("loaded", string_array(env, *loaded));
          o.Set("missing", string_array(env, *missing));
          o.Set("unexpected", string_array(env, *unexpected));
          return o;
        });
  }

  Napi::Value SaveWeights(const Napi::CallbackInfo& info) {
    auto s = live(info.Env());
    std::string file = string_arg(info, 0, "saveWeights(file): file");
    std::string what = "params";
    std::map<std::string, std::string> md{{"format", "pt"}};
    if (info.Length() > 1 && info[1].IsObject()) {
      auto opts = info[1].As<Napi::Object>();
      if (opts.Has("what") && !opts.Get("what").IsUndefined()) what = str(opts, "what", "options");
      for (auto& [k, v] : metadata_arg(opts)) md[k] = v;
    }
    if (what != "params" && what != "grads") type_error(info.Env(), "saveWeights: options.what must be 'params' or 'grads'");
    return Task::Run(
        info.Env(),
        [s, file, what, md] {
          std::lock_guard<std::mutex> lock(s->mu);
          NamedTensors out;
          for (const auto& [name, p] : s->params) {
            if (what == "params") out.emplace_back(name, p);
            else out.emplace_back(name, p.grad().defined() ? p.grad() : torch::zeros_like(p));
          }
          radbert::write_safetensors(file, out, md);
        },
        [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
  }

  Napi::Value Forward(const Napi::CallbackInfo& info) {
    auto s = live(info.Env());
    auto ids = typed_arg<int32_t, napi_int32_array>(info, 0, "forward(ids, cuSeqlens): ids must be an Int32Array");
    auto cu = typed_arg<int32_t, napi_int32_array>(info, 1, "forward(ids, cuSeqlens): cuSeqlens must be an Int32Array");
    const bool bf16 = info.Length() > 2 && info[2].IsObject() && bf16_option(info[2].As<Napi::Object>(), "forward options");
    auto out = std::make_shared<std::vector<float>>();
    return Task::Run(
        info.Env(),
        [s, ids = std::move(ids), cu = std::move(cu), bf16, out] {
          std::lock_guard<std::mutex> lock(s->mu);
          radbert::ScopedProfile profile(bf16 ? "forward (bf16 autocast)" : "forward");
          // libtorch's autocast does not cache weight casts under InferenceMode, so a bf16 forward runs under
          // NoGradGuard (no graph is built either way) and keeps its bf16 weight copies for the next call.
          std::optional<c10::InferenceMode> inference;
          std::optional<torch::NoGradGuard> no_grad;
          if (bf16) no_grad.emplace();
          else inference.emplace();
          Autocast autocast(bf16, s->device.type(), /*keep_cache=*/true);
          s->module->eval();
          auto batch = radbert::make_packed(ids, cu, s->module->config.vocab_size, s->device);
          auto logits = s->module->forward(batch, s->gen).to(torch::kCPU, torch::kFloat).contiguous();
          out->assign(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
        },
        [out](Napi::Env env) -> Napi::Value { return to_float32_array(env, *out); });
  }

  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    auto s = live(info.Env());
    auto ids = typed_arg<int32_t, napi_int32_array>(info, 0, "trainStep: ids must be an Int32Array");
    auto cu = typed_arg<int32_t, napi_int32_array>(info, 1, "trainStep: cuSeqlens must be an Int32Array");
    auto targets = typed_arg<float, napi_float32_array>(info, 2, "trainStep: targets must be a Float32Array");
    auto o = object_arg(info, 3, "trainStep: options");
    radbert::StepOptions so;
    so.lr = num(o, "lr", "options");
    so.beta1 = num_or(o, "beta1", 0.9, "options");
    so.beta2 = num_or(o, "beta2", 0.999, "options");
    so.eps = num_or(o, "eps", 1e-8, "options");
    so.weight_decay = num_or(o, "weightDecay", 0.0, "options");
    so.max_grad_norm = num_or(o, "maxGradNorm", 1.0, "options");
    auto upd = o.Get("update");
    so.update = upd.IsBoolean() ? upd.As<Napi::Boolean>().Value() : true;
    const bool bf16 = bf16_option(o, "options");
    auto seed_v = o.Get("seed");
    const bool has_seed = seed_v.IsNumber();
    const uint64_t seed = has_seed ? static_cast<uint64_t>(seed_v.As<Napi::Number>().Int64Value()) : 0;
    auto result = std::make_shared<std::pair<double, double>>();
    return Task::Run(
        info.Env(),
        [s, ids = std::move(ids), cu = std::move(cu), targets = std::move(targets), so, has_seed, seed, bf16, result] {
          std::lock_guard<std::mutex> lock(s->mu);
          const auto& cfg = s->module->config;
          if (cfg.architecture != "ModernBertForSequenceClassification")
            throw std::runtime_error("trainStep: only ModernBertForSequenceClassification models can be trained (this is " +
                                     cfg.architecture + ")");
          auto batch = radbert::make_packed(ids, cu, cfg.vocab_size, s->device);
          const int64_t B = batch.batch();
          if (static_cast<int64_t>(targets.size()) != B * cfg.num_labels)
            throw std::invalid_argument("trainStep: targets has " + std::to_string(targets.size()) + " values, expected batch " +
                                        std::to_string(B) + " x numLabels " + std::to_string(cfg.num_labels));
          auto y = torch::from_blob(const_cast<float*>(targets.data()), {B, cfg.num_labels}, torch::kFloat).to(s->device).clone();
          radbert::ScopedProfile profile(bf16 ? "trainStep (bf16 autocast)" : "trainStep");
          if (has_seed) {
            s->gen.set_current_seed(seed);
            torch::manual_seed(seed);
          }
          s->module->train();
          // Gradients start as None each step (torch's zero_grad(set_to_none=True)), except the token embeddings':
          // their sparse gradient is added into a dense buffer kept allocated across steps and zeroed here (a fresh
          // vocab x hidden buffer would be page-faulted in on every step).
          const auto& emb = s->module->model->embeddings->tok_embeddings->weight;
          for (auto& [name, p] : s->params) {
            if (!p.is_same(emb)) p.mutable_grad() = torch::Tensor();
            else if (p.grad().defined() && !p.grad().is_sparse()) p.mutable_grad().zero_();
            else p.mutable_grad() = torch::zeros_like(p);
          }
          torch::Tensor loss;
          {
            // Forward and loss under autocast, backward outside it: what HF Trainer does with bf16=True.
            Autocast autocast(bf16, s->device.type(), /*keep_cache=*/false);
            auto logits = s->module->forward(batch, s->gen);
            loss = torch::binary_cross_entropy_with_logits(logits, y);
          }
          loss.backward();
          // Without an update the raw gradients stay as they are (readable through saveWeights 'grads').
          const double norm = radbert::clip_grad_norm(s->params, so.update ? so.max_grad_norm : 0.0);
          if (so.update) {
            g_weights_epoch.fetch_add(1);
            radbert::adamw_step(s->params, s->optim, so);
          }
          *result = {loss.item<double>(), norm};
        },
        [result](Napi::Env env) -> Napi::Value {
          auto o = Napi::Object::New(env);
          o.Set("loss", result->first);
          o.Set("gradNorm", result->second);
          return o;
        });
  }

  Napi::Value SaveOptimizer(const Napi::CallbackInfo& info) {
    auto s = live(info.Env());
    std::string file = string_arg(info, 0, "saveOptimizer(file): file");
    return Task::Run(
        info.Env(),
        [s, file] {
          std::lock_guard<std::mutex> lock(s->mu);
          NamedTensors out;
          for (const auto& [name, m] : s->optim.moments) {
            out.emplace_back("exp_avg." + name, m.first);
            out.emplace_back("exp_avg_sq." + name, m.second);
          }
          radbert::write_safetensors(file, out, {{"format", "radbert-adamw"}, {"step", std::to_string(s->optim.step)}});
        },
        [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
  }

  Napi::Value LoadOptimizer(const Napi::CallbackInfo& info) {
    auto s = live(info.Env());
    std::string file = string_arg(info, 0, "loadOptimizer(file): file");
    return Task::Run(
        info.Env(),
        [s, file] {
          std::lock_guard<std::mutex> lock(s->mu);
          auto h = radbert::read_header(file);
          auto step_it = h.metadata.find("step");
          if (step_it == h.metadata.end()) throw std::runtime_error(file + ": not an optimizer state (no \"step\" in metadata)");
          radbert::AdamWState st;
          st.step = std::stoll(step_it->second);
          for (const auto& [key, entry] : h.tensors) {
            const bool avg = key.rfind("exp_avg.", 0) == 0, sq = key.rfind("exp_avg_sq.", 0) == 0;
            if (!avg && !sq) throw std::runtime_error(file + ": unexpected tensor \"" + key + "\" in optimizer state");
            const std::string name = key.substr(avg ? 8 : 11);
            auto p = s->by_name.find(name);
            if (p == s->by_name.end()) throw std::runtime_error(file + ": tensor \"" + key + "\" names no parameter of this model");
            if (c10::IntArrayRef(entry.shape) != p->second.sizes())
              throw std::runtime_error(file + ": tensor \"" + key + "\" has shape " + shape_str(entry.shape) +
                                       ", the parameter has " + shape_str(p->second.sizes()));
            auto t = radbert::read_tensor(h, key).to(s->device);
            auto& slot = st.moments[name];
            (avg ? slot.first : slot.second) = t;
          }
          for (const auto& [name, m] : st.moments)
            if (!m.first.defined() || !m.second.defined())
              throw std::runtime_error(file + ": parameter \"" + name + "\" lacks exp_avg or exp_avg_sq");
          s->optim = std::move(st);
        },
        [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    auto s = live(info.Env());
    Napi::Env env = info.Env();
    auto o = Napi::Object::New(env);
    o.Set("device", s->device.str());
    o.Set("architecture", s->module->config.architecture);
    auto list = Napi::Array::New(env, s->params.size());
    int64_t total = 0;
    for (size_t i = 0; i < s->params.size(); ++i) {
      auto e = Napi::Object::New(env);
      e.Set("name", s->params[i].first);
      auto shape = Napi::Array::New(env);
      const auto sizes = s->params[i].second.sizes();
      for (size_t d = 0; d < sizes.size(); ++d) shape.Set(static_cast<uint32_t>(d), Napi::Number::New(env, static_cast<double>(sizes[d])));
      e.Set("shape", shape);
      list.Set(static_cast<uint32_t>(i), e);
      total += s->params[i].second.numel();
    }
    o.Set("parameters", list);
    o.Set("numParameters", Napi::Number::New(env, static_cast<double>(total)));
    return o;
  }

  Napi::Value Free(const Napi::CallbackInfo& info) {
    state_.reset();  // an in-flight task keeps its own reference and releases it when done
    return info.Env().Undefined();
  }
};

struct AddonData {
  Napi::FunctionReference model_ctor;
};

Napi::Value Version(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("torch", std::string(TORCH_VERSION));
  o.Set("cuda", torch::cuda::is_available());
  o.Set("threads", at::get_num_threads());
  o.Set("attention", radbert::attention_version(env));  // [attn hook]
  return o;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber() || info[0].As<Napi::Number>().Int32Value() < 1)
    type_error(info.Env(), "setNumThreads(n): n must be a positive integer");
  const int n = info[0].As<Napi::Number>().Int32Value();
  at::set_num_threads(n);             // this thread and libtorch's global setting (what version().threads reports)
  ComputeThread::get().set_threads(n);  // the compute thread, before its next job
  return info.Env().Undefined();
}

Napi::Value CreateModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto cfg = parse_config(object_arg(info, 0, "createModel(config, options): config"));
  auto opts = object_arg(info, 1, "createModel(config, options): options");
  const std::string device = str(opts, "device", "options");
  const uint64_t seed = static_cast<uint64_t>(num_or(opts, "seed", 0, "options"));
  const bool init = opts.Get("init").IsBoolean() && opts.Get("init").As<Napi::Boolean>().Value();
  if (device != "cpu" && device != "cuda") type_error(env, "options.device must be 'cpu' or 'cuda'");
  const auto numerics = radbert::numerics_option(opts);  // [attn hook] options.tf32, options.deterministic
  try {
    cfg.validate();
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  auto state = std::make_shared<std::shared_ptr<ModelState>>();
  return Task::Run(
      env,
      [cfg, device, seed, init, state, numerics] {
        if (device == "cuda" && !torch::cuda::is_available())
          throw std::runtime_error("device 'cuda' requested but CUDA is not available (this libtorch build or machine has no GPU); use device 'cpu' or 'auto'");
        radbert::apply_numerics(numerics, device == "cuda");  // [attn hook]
        auto s = std::make_shared<ModelState>();
        s->gen = at::make_generator<at::CPUGeneratorImpl>(seed);
        s->module = radbert::ModernBert(cfg);
        if (init) s->module->init_weights(s->gen);
        s->device = device == "cuda" ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
        s->module->to(s->device);
        s->params = hf_parameters(s->module);
        for (auto& [name, p] : s->params) s->by_name[name] = p;
        *state = std::move(s);
      },
      [state](Napi::Env env) -> Napi::Value {
        auto* data = env.GetInstanceData<AddonData>();
        auto ext = Napi::External<std::shared_ptr<ModelState>>::New(
            env, new std::shared_ptr<ModelState>(*state),
            [](Napi::Env, std::shared_ptr<ModelState>* p) { delete p; });
        return data->model_ctor.New({ext});
      });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->model_ctor = Napi::Persistent(Model::Define(env));
  env.SetInstanceData<AddonData>(data);
  exports.Set("version", Napi::Function::New(env, Version, "version"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("createModel", Napi::Function::New(env, CreateModel, "createModel"));
  exports.Set("attentionPlan", Napi::Function::New(env, radbert::AttentionPlan, "attentionPlan"));  // [attn hook]
  return exports;
}

}  // namespace

NODE_API_MODULE(radbert_native, Init)
