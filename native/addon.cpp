// The N-API surface of radbert-native: a handful of functions, every heavy one on a worker thread returning a Promise.
// Errors from libtorch (c10::Error) and the C++ library (std::exception) become rejected Promises or JS exceptions:
// the Node process never aborts from native code.
#include <napi.h>
#include <torch/torch.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <memory>
#include <optional>

#include "allocator.h"
#include "attention_napi.h"  // [attn hook] version().attention, attentionPlan, createModel numerics options
#include "distributed_napi.h"  // [dist hook] initProcessGroup, version().distributed
#include "heads.h"
#include "inference.h"
#include "linear.h"
#include "napi_args.h"
#include "runtime.h"
#include "train_step.h"
#include "weights.h"

namespace {

using radbert::ComputeThread;
using radbert::describe;
using radbert::ModelState;
using radbert::NamedTensors;

using namespace radbert::napi;

class Model : public Napi::ObjectWrap<Model> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {
                           InstanceMethod<&Model::LoadWeights>("loadWeights"),
                           InstanceMethod<&Model::SaveWeights>("saveWeights"),
                           InstanceMethod<&Model::Forward>("forward"),
                           InstanceMethod<&Model::TrainStep>("trainStep"),
                           InstanceMethod<&Model::EvalLoss>("evalLoss"),
                           InstanceMethod<&Model::Embed>("embed"),
                           InstanceMethod<&Model::SaveOptimizer>("saveOptimizer"),
                           InstanceMethod<&Model::LoadOptimizer>("loadOptimizer"),
                           InstanceMethod<&Model::Info>("info"),
                           InstanceMethod<&Model::Free>("free"),
                       });
  }

  // The state behind a JS model object, or null (not a NativeModel, or freed).
  static std::shared_ptr<ModelState> state_of(const Napi::Value& v);

  explicit Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      type_error(info.Env(), "NativeModel cannot be constructed directly: use createModel()");
    state_ = *info[0].As<Napi::External<std::shared_ptr<ModelState>>>().Data();
  }

 private:
  std::shared_ptr<ModelState> state_;

  static constexpr const char* kFreed = "radbert-native: this model was freed (close()d); load it again";
  // The state of a live model, or nothing once free() ran (the Promise-returning calls then reject, see freed()).
  std::shared_ptr<ModelState> live() { return state_; }
  static Napi::Value freed(Napi::Env env) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(Napi::Error::New(env, kFreed).Value());
    return d.Promise();
  }

  Napi::Value LoadWeights(const Napi::CallbackInfo& info) {
    auto s = live();
    if (!s) return freed(info.Env());
    if (info.Length() < 1 || !info[0].IsArray()) type_error(info.Env(), "loadWeights(files): files must be an array of paths");
    std::vector<std::string> files;
    auto arr = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      if (!arr.Get(i).IsString()) type_error(info.Env(), "loadWeights(files): files must be strings");
      files.push_back(arr.Get(i).As<Napi::String>().Utf8Value());
    }
    std::set<std::string> skip;  // options.skip: parameter names to leave as they are
    if (info.Length() > 1 && info[1].IsObject() && info[1].As<Napi::Object>().Has("skip")) {
      auto v = info[1].As<Napi::Object>().Get("skip");
      if (!v.IsArray()) type_error(info.Env(), "loadWeights(files, options): options.skip must be an array of tensor names");
      auto sk = v.As<Napi::Array>();
      for (uint32_t i = 0; i < sk.Length(); ++i) {
        if (!sk.Get(i).IsString()) type_error(info.Env(), "loadWeights(files, options): options.skip must be strings");
        skip.insert(sk.Get(i).As<Napi::String>().Utf8Value());
      }
    }
    auto report = std::make_shared<radbert::LoadReport>();
    return Task::Run(
        info.Env(),
        [s, files, skip, report] {
          std::lock_guard<std::mutex> lock(s->mu);
          *report = radbert::load_weights(*s, files, skip);
        },
        [report](Napi::Env env) -> Napi::Value {
          auto o = Napi::Object::New(env);
          o.Set("loaded", string_array(env, report->loaded));
          o.Set("missing", string_array(env, report->missing));
          o.Set("unexpected", string_array(env, report->unexpected));
          return o;
        });
  }

  Napi::Value SaveWeights(const Napi::CallbackInfo& info) {
    auto s = live();
    if (!s) return freed(info.Env());
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
          radbert::save_weights(*s, file, what, md);
        },
        [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
  }

  Napi::Value Forward(const Napi::CallbackInfo& info) {
    auto s = live();
    if (!s) return freed(info.Env());
    auto ids = typed_arg<int32_t, napi_int32_array>(info, 0, "forward(ids, cuSeqlens): ids must be an Int32Array");
    auto cu = typed_arg<int32_t, napi_int32_array>(info, 1, "forward(ids, cuSeqlens): cuSeqlens must be an Int32Array");
    const auto o = options_arg(info, 2, "forward options");
    const bool bf16 = bf16_option(o, "forward options");
    std::optional<std::vector<int32_t>> positions;
    auto pv = o.Get("positions");
    if (!pv.IsUndefined() && !pv.IsNull()) {
      if (!pv.IsTypedArray() || pv.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
        type_error(info.Env(), "forward options.positions must be an Int32Array of packed token indices");
      auto arr = pv.As<Napi::Int32Array>();
      positions.emplace(arr.Data(), arr.Data() + arr.ElementLength());
    }
    auto out = std::make_shared<std::vector<float>>();
    return Task::Run(
        info.Env(),
        [s, ids = std::move(ids), cu = std::move(cu), bf16, positions = std::move(positions), out] {
          std::lock_guard<std::mutex> lock(s->mu);
          auto batch = radbert::make_packed(ids, cu, s->module->config.vocab_size, s->device);
          auto logits = radbert::forward_logits(*s, batch, positions, bf16);
          out->assign(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
        },
        [out](Napi::Env env) -> Napi::Value { return to_float32_array(env, *out); });
  }

  Napi::Value Embed(const Napi::CallbackInfo& info) {
    auto s = live();
    if (!s) return freed(info.Env());
    auto ids = typed_arg<int32_t, napi_int32_array>(info, 0, "embed(ids, cuSeqlens): ids must be an Int32Array");
    auto cu = typed_arg<int32_t, napi_int32_array>(info, 1, "embed(ids, cuSeqlens): cuSeqlens must be an Int32Array");
    const auto o = options_arg(info, 2, "embed options");
    const bool bf16 = bf16_option(o, "embed options");
    radbert::Pooling pooling = radbert::Pooling::Cls;
    auto pv = o.Get("pooling");
    if (!pv.IsUndefined() && !pv.IsNull()) {
      const std::string p = pv.IsString() ? pv.As<Napi::String>().Utf8Value() : std::string();
      if (p == "mean") pooling = radbert::Pooling::Mean;
      else if (p != "cls") type_error(info.Env(), "embed options.pooling must be 'cls' or 'mean'");
    }
    auto out = std::make_shared<std::vector<float>>();
    return Task::Run(
        info.Env(),
        [s, ids = std::move(ids), cu = std::move(cu), bf16, pooling, out] {
          std::lock_guard<std::mutex> lock(s->mu);
          auto batch = radbert::make_packed(ids, cu, s->module->config.vocab_size, s->device);
          auto h = radbert::embed(*s, batch, pooling, bf16);
          out->assign(h.data_ptr<float>(), h.data_ptr<float>() + h.numel());
        },
        [out](Napi::Env env) -> Napi::Value { return to_float32_array(env, *out); });
  }

  Napi::Value EvalLoss(const Napi::CallbackInfo& info) {
    auto s = live();
    if (!s) return freed(info.Env());
    auto ids = typed_arg<int32_t, napi_int32_array>(info, 0, "evalLoss: ids must be an Int32Array");
    auto cu = typed_arg<int32_t, napi_int32_array>(info, 1, "evalLoss: cuSeqlens must be an Int32Array");
    auto targets = targets_arg(info, 2, "evalLoss");
    const auto eo = options_arg(info, 3, "evalLoss options");
    const bool bf16 = bf16_option(eo, "evalLoss options");
    targets.loss = loss_option(eo, "evalLoss options");
    auto result = std::make_shared<radbert::EvalLossResult>();
    return Task::Run(
        info.Env(),
        [s, ids = std::move(ids), cu = std::move(cu), targets = std::move(targets), bf16, result] {
          std::lock_guard<std::mutex> lock(s->mu);
          auto batch = radbert::make_packed(ids, cu, s->module->config.vocab_size, s->device);
          *result = radbert::eval_loss(*s, batch, targets, bf16);
        },
        [result](Napi::Env env) -> Napi::Value {
          auto o = Napi::Object::New(env);
          o.Set("loss", result->loss);
          o.Set("count", Napi::Number::New(env, static_cast<double>(result->count)));
          return o;
        });
  }

  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    auto s = live();
    if (!s) return freed(info.Env());
    auto ids = typed_arg<int32_t, napi_int32_array>(info, 0, "trainStep: ids must be an Int32Array");
    auto cu = typed_arg<int32_t, napi_int32_array>(info, 1, "trainStep: cuSeqlens must be an Int32Array");
    auto targets = targets_arg(info, 2, "trainStep");
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
    targets.loss = loss_option(o, "options");
    auto seed_v = o.Get("seed");
    std::optional<uint64_t> seed;
    if (seed_v.IsNumber()) seed = static_cast<uint64_t>(seed_v.As<Napi::Number>().Int64Value());
    const auto micro = micro_step_option(o, "options");
    // an empty batch (no ids, cuSeqlens [0]): a rank with no rows in this optimizer step still takes part in its update
    const bool empty = ids.empty() && cu.size() == 1 && cu[0] == 0;
    if (empty && !so.update) type_error(info.Env(), "trainStep: an empty batch (cuSeqlens [0]) only makes sense with update");
    auto result = std::make_shared<radbert::TrainStepResult>();
    return Task::Run(
        info.Env(),
        [s, ids = std::move(ids), cu = std::move(cu), targets = std::move(targets), so, seed, bf16, micro, empty, result] {
          std::lock_guard<std::mutex> lock(s->mu);
          std::optional<radbert::Packed> batch;
          if (!empty) batch = radbert::make_packed(ids, cu, s->module->config.vocab_size, s->device);
          *result = radbert::train_step(*s, batch ? &*batch : nullptr, targets, so, bf16, seed, micro);
        },
        [result](Napi::Env env) -> Napi::Value {
          auto o = Napi::Object::New(env);
          o.Set("loss", result->loss);
          o.Set("gradNorm", result->grad_norm);
          o.Set("stop", result->stop);
          o.Set("syncSeconds", result->sync_s);
          return o;
        });
  }

  Napi::Value SaveOptimizer(const Napi::CallbackInfo& info) {
    auto s = live();
    if (!s) return freed(info.Env());
    std::string file = string_arg(info, 0, "saveOptimizer(file): file");
    return Task::Run(
        info.Env(),
        [s, file] {
          std::lock_guard<std::mutex> lock(s->mu);
          radbert::save_optimizer(*s, file);
        },
        [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
  }

  Napi::Value LoadOptimizer(const Napi::CallbackInfo& info) {
    auto s = live();
    if (!s) return freed(info.Env());
    std::string file = string_arg(info, 0, "loadOptimizer(file): file");
    return Task::Run(
        info.Env(),
        [s, file] {
          std::lock_guard<std::mutex> lock(s->mu);
          radbert::load_optimizer(*s, file);
        },
        [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    auto s = live();
    if (!s) throw Napi::Error::New(info.Env(), kFreed);
    Napi::Env env = info.Env();
    auto o = Napi::Object::New(env);
    o.Set("device", s->device.str());
    o.Set("architecture", radbert::architecture_name(s->module->config.architecture));
    auto list = Napi::Array::New(env, s->params.size());
    int64_t total = 0;
    for (size_t i = 0; i < s->params.size(); ++i) {
      auto e = Napi::Object::New(env);
      e.Set("name", s->params[i].first);
      auto shape = Napi::Array::New(env);
      const auto sizes = s->params[i].second.sizes();
      for (size_t d = 0; d < sizes.size(); ++d) shape.Set(static_cast<uint32_t>(d), Napi::Number::New(env, static_cast<double>(sizes[d])));
      e.Set("shape", shape);
      e.Set("weightDecay", Napi::Boolean::New(env, s->decay[i]));
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

std::shared_ptr<ModelState> Model::state_of(const Napi::Value& v) {
  auto* data = v.Env().GetInstanceData<AddonData>();
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(data->model_ctor.Value())) return nullptr;
  return Model::Unwrap(v.As<Napi::Object>())->live();
}

Napi::Value Version(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("torch", std::string(TORCH_VERSION));
  o.Set("cuda", torch::cuda::is_available());
  o.Set("threads", at::get_num_threads());
  o.Set("attention", radbert::attention_version(env));  // [attn hook]
  auto gemm = Napi::Object::New(env);
  try {
    const auto policy = radbert::gemm_policy();
    const bool libtorch = policy.fp32 == radbert::GemmBackend::Libtorch;
    gemm.Set("fp32", radbert::gemm_backend_name(libtorch ? radbert::GemmBackend::Mkl : policy.fp32));
    gemm.Set("bf16", libtorch ? "libtorch-autocast" : radbert::gemm_backend_name(radbert::GemmBackend::OneDnn));
    gemm.Set("mode", libtorch ? "libtorch" : radbert::gemm_backend_name(policy.fp32));
    gemm.Set("reason", policy.reason);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  o.Set("gemm", gemm);
  auto cpu = Napi::Object::New(env);
  for (const auto& [k, v] : radbert::cpu_description()) cpu.Set(k, v);
  o.Set("cpu", cpu);
  o.Set("distributed", radbert::distributed_version(env));  // [dist hook]
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

Napi::Value SetGemm(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString())
    type_error(info.Env(), "setGemm(name): name must be 'auto', 'mkl', 'onednn' or 'libtorch'");
  try {
    radbert::set_gemm_policy(info[0].As<Napi::String>().Utf8Value());
  } catch (const std::exception& e) {
    throw Napi::TypeError::New(info.Env(), e.what());
  }
  return info.Env().Undefined();
}

Napi::Value Quiesce(const Napi::CallbackInfo& info) {
  ComputeThread::get().quiesce();
  return info.Env().Undefined();
}

Napi::Value CreateModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto cfg = parse_config(object_arg(info, 0, "createModel(config, options): config"));
  auto opts = object_arg(info, 1, "createModel(config, options): options");
  const std::string device = str(opts, "device", "options");
  const uint64_t seed = static_cast<uint64_t>(num_or(opts, "seed", 0, "options"));
  const bool init = opts.Get("init").IsBoolean() && opts.Get("init").As<Napi::Boolean>().Value();
  std::vector<std::string> check_files;
  auto cw = opts.Get("checkWeights");
  if (!cw.IsUndefined() && !cw.IsNull()) {
    if (!cw.IsArray()) type_error(env, "options.checkWeights must be an array of paths");
    auto arr = cw.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      if (!arr.Get(i).IsString()) type_error(env, "options.checkWeights must be an array of paths");
      check_files.push_back(arr.Get(i).As<Napi::String>().Utf8Value());
    }
  }
  const std::string config_file = opts.Get("configFile").IsString() ? str(opts, "configFile", "options") : "config.json";
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
      [cfg, device, seed, init, state, numerics, check_files, config_file] {
        // sizes against the weights first: a config that disagrees with them must not allocate anything
        if (!check_files.empty()) radbert::check_config_against_weights(cfg, check_files, config_file);
        if (device == "cuda" && !torch::cuda::is_available())
          throw std::runtime_error("device 'cuda' requested but CUDA is not available (this libtorch build or machine has no GPU); use device 'cpu' or 'auto'");
        radbert::apply_numerics(numerics, device == "cuda");  // [attn hook]
        auto s = std::make_shared<ModelState>();
        s->gen = at::make_generator<at::CPUGeneratorImpl>(seed);
        s->module = radbert::ModernBert(cfg);
        if (init) s->module->init_weights(s->gen);
        s->device = device == "cuda" ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
        s->module->to(s->device);
        s->params = radbert::hf_parameters(s->module);
        for (auto& [name, p] : s->params) s->by_name[name] = p;
        s->decay = radbert::weight_decay_flags(s->module, s->params);
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
  radbert::configure_malloc();
  radbert::install_large_block_cache();
  auto* data = new AddonData();
  data->model_ctor = Napi::Persistent(Model::Define(env));
  env.SetInstanceData<AddonData>(data);
  exports.Set("version", Napi::Function::New(env, Version, "version"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("setGemm", Napi::Function::New(env, SetGemm, "setGemm"));
  exports.Set("quiesce", Napi::Function::New(env, Quiesce, "quiesce"));
  exports.Set("createModel", Napi::Function::New(env, CreateModel, "createModel"));
  exports.Set("attentionPlan", Napi::Function::New(env, radbert::AttentionPlan, "attentionPlan"));  // [attn hook]
  radbert::register_distributed(env, exports);  // [dist hook]
  return exports;
}

}  // namespace

std::shared_ptr<ModelState> radbert::napi::model_state_of(const Napi::Value& v) { return Model::state_of(v); }

NODE_API_MODULE(radbert_native, Init)
