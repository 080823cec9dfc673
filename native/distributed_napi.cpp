// The N-API surface of the process group (native/distributed.*): initProcessGroup() and the NativeProcessGroup class
// (lib/native.ts types them), and version().distributed. Collectives run on the compute thread like every libtorch
// call; health() and reportFailure() only touch the watchdog.
#include "distributed_napi.h"

#include "napi_args.h"

#ifdef RADBERT_WITH_GLOO
#include "distributed.h"
#endif

namespace radbert {

using namespace radbert::napi;

#ifdef RADBERT_WITH_GLOO
namespace {

class ProcessGroup : public Napi::ObjectWrap<ProcessGroup> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeProcessGroup",
                       {
                           InstanceMethod<&ProcessGroup::Info>("info"),
                           InstanceMethod<&ProcessGroup::BroadcastModel>("broadcastModel"),
                           InstanceMethod<&ProcessGroup::Attach>("attach"),
                           InstanceMethod<&ProcessGroup::Barrier>("barrier"),
                           InstanceMethod<&ProcessGroup::AllGather>("allGather"),
                           InstanceMethod<&ProcessGroup::AllReduce>("allReduce"),
                           InstanceMethod<&ProcessGroup::ReportFailure>("reportFailure"),
                           InstanceMethod<&ProcessGroup::Health>("health"),
                           InstanceMethod<&ProcessGroup::Shutdown>("shutdown"),
                       });
  }

  explicit ProcessGroup(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessGroup>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      type_error(info.Env(), "NativeProcessGroup cannot be constructed directly: use initProcessGroup()");
    group_ = *info[0].As<Napi::External<std::shared_ptr<dist::Group>>>().Data();
  }

 private:
  std::shared_ptr<dist::Group> group_;

  std::shared_ptr<dist::Group> live(Napi::Env env) {
    if (!group_) throw Napi::Error::New(env, "radbert-native: this process group was shut down");
    return group_;
  }
  static Napi::Value undefined(Napi::Env env) { return env.Undefined(); }

  std::shared_ptr<ModelState> model_arg(const Napi::CallbackInfo& info, const char* what) {
    auto s = info.Length() > 0 ? model_state_of(info[0]) : nullptr;
    if (!s) type_error(info.Env(), std::string(what) + ": the first argument must be a live NativeModel");
    return s;
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    auto g = live(info.Env());
    auto o = Napi::Object::New(info.Env());
    o.Set("rank", g->rank());
    o.Set("size", g->size());
    o.Set("backend", g->backend());
    auto peers = Napi::Array::New(info.Env(), g->peers().size());
    for (size_t r = 0; r < g->peers().size(); ++r) {
      auto p = Napi::Object::New(info.Env());
      p.Set("host", g->peers()[r].host);
      p.Set("pid", Napi::Number::New(info.Env(), static_cast<double>(g->peers()[r].pid)));
      peers.Set(static_cast<uint32_t>(r), p);
    }
    o.Set("peers", peers);
    return o;
  }

  Napi::Value BroadcastModel(const Napi::CallbackInfo& info) {
    auto g = live(info.Env());
    auto s = model_arg(info, "broadcastModel(model)");
    return Task::Run(
        info.Env(),
        [g, s] {
          std::lock_guard<std::mutex> lock(s->mu);
          g->broadcast_model(*s);
        },
        undefined);
  }

  Napi::Value Attach(const Napi::CallbackInfo& info) {
    auto g = live(info.Env());
    auto s = model_arg(info, "attach(model, mode)");
    const std::string mode = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "flat";
    return Task::Run(
        info.Env(),
        [g, s, mode] {
          std::lock_guard<std::mutex> lock(s->mu);
          s->sync = g->grad_sync(*s, mode);
        },
        undefined);
  }

  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    auto g = live(info.Env());
    return Task::Run(info.Env(), [g] { g->barrier(); }, undefined);
  }

  Napi::Value AllGather(const Napi::CallbackInfo& info) {
    auto g = live(info.Env());
    const bool f64 = info.Length() > 0 && info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_float64_array;
    torch::Tensor in;
    if (f64) {
      auto v = typed_arg<double, napi_float64_array>(info, 0, "allGather(values)");
      in = torch::tensor(v, torch::kDouble);
    } else {
      auto v = typed_arg<float, napi_float32_array>(info, 0, "allGather(values): values must be a Float32Array or a Float64Array");
      in = torch::from_blob(v.data(), {static_cast<int64_t>(v.size())}, torch::kFloat).clone();
    }
    auto out = std::make_shared<std::vector<torch::Tensor>>();
    return Task::Run(
        info.Env(), [g, in, out] { *out = g->all_gather(in); },
        [out, f64](Napi::Env env) -> Napi::Value {
          auto arr = Napi::Array::New(env, out->size());
          for (size_t r = 0; r < out->size(); ++r) {
            const auto& t = (*out)[r];
            if (f64) {
              auto a = Napi::Float64Array::New(env, t.numel());
              std::copy(t.data_ptr<double>(), t.data_ptr<double>() + t.numel(), a.Data());
              arr.Set(static_cast<uint32_t>(r), a);
            } else {
              auto a = Napi::Float32Array::New(env, t.numel());
              std::copy(t.data_ptr<float>(), t.data_ptr<float>() + t.numel(), a.Data());
              arr.Set(static_cast<uint32_t>(r), a);
            }
          }
          return arr;
        });
  }

  Napi::Value AllReduce(const Napi::CallbackInfo& info) {
    auto g = live(info.Env());
    auto v = typed_arg<double, napi_float64_array>(info, 0, "allReduce(values): values must be a Float64Array");
    auto out = std::make_shared<std::vector<double>>();
    return Task::Run(
        info.Env(), [g, v, out] { *out = g->all_reduce_sum(v); },
        [out](Napi::Env env) -> Napi::Value {
          auto a = Napi::Float64Array::New(env, out->size());
          std::copy(out->begin(), out->end(), a.Data());
          return a;
        });
  }

  Napi::Value ReportFailure(const Napi::CallbackInfo& info) {
    if (group_) group_->report_failure(string_arg(info, 0, "reportFailure(message)"));
    return info.Env().Undefined();
  }

  Napi::Value Health(const Napi::CallbackInfo& info) {
    auto g = live(info.Env());
    const double after = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 30.0;
    const auto h = g->health(after);
    Napi::Env env = info.Env();
    auto o = Napi::Object::New(env);
    auto silent = Napi::Array::New(env, h.silent.size());
    for (size_t i = 0; i < h.silent.size(); ++i) {
      auto e = Napi::Object::New(env);
      e.Set("rank", h.silent[i]);
      e.Set("seconds", h.silent_for[i]);
      silent.Set(static_cast<uint32_t>(i), e);
    }
    auto failed = Napi::Array::New(env, h.failed.size());
    for (size_t i = 0; i < h.failed.size(); ++i) {
      auto e = Napi::Object::New(env);
      e.Set("rank", h.failed[i].first);
      e.Set("message", h.failed[i].second);
      failed.Set(static_cast<uint32_t>(i), e);
    }
    o.Set("silent", silent);
    o.Set("failed", failed);
    o.Set("storeLost", h.store_lost);
    o.Set("storeError", h.store_error);
    return o;
  }

  Napi::Value Shutdown(const Napi::CallbackInfo& info) {
    auto g = std::move(group_);
    if (!g) return Task::Run(info.Env(), [] {}, undefined);
    return Task::Run(info.Env(), [g] { g->shutdown(); }, undefined);
  }
};

Napi::Value InitProcessGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* ctor = static_cast<Napi::FunctionReference*>(info.Data());  // NativeProcessGroup of this env (register_distributed)
  auto o = object_arg(info, 0, "initProcessGroup(options)");
  dist::GroupOptions go;
  go.backend = str(o, "backend", "options");
  go.rank = static_cast<int>(integer(o, "rank", "options"));
  go.world_size = static_cast<int>(integer(o, "worldSize", "options"));
  go.local_rank = static_cast<int>(num_or(o, "localRank", 0, "options"));
  go.master_addr = str(o, "masterAddr", "options");
  go.master_port = static_cast<int>(integer(o, "masterPort", "options"));
  go.agent_store = o.Get("agentStore").IsBoolean() && o.Get("agentStore").As<Napi::Boolean>().Value();
  go.prefix = str(o, "prefix", "options");
  go.timeout = std::chrono::milliseconds(static_cast<int64_t>(num(o, "timeoutSeconds", "options") * 1000));
  go.host = str(o, "host", "options");
  auto ifs = o.Get("glooInterfaces");
  if (ifs.IsArray())
    for (uint32_t i = 0; i < ifs.As<Napi::Array>().Length(); ++i) go.gloo_interfaces.push_back(ifs.As<Napi::Array>().Get(i).ToString().Utf8Value());
  auto group = std::make_shared<std::shared_ptr<dist::Group>>();
  return Task::Run(
      env, [go, group] { *group = std::make_shared<dist::Group>(go); },
      [group, ctor](Napi::Env env) -> Napi::Value {
        auto ext = Napi::External<std::shared_ptr<dist::Group>>::New(
            env, new std::shared_ptr<dist::Group>(*group), [](Napi::Env, std::shared_ptr<dist::Group>* p) { delete p; });
        return ctor->New({ext});
      });
}

}  // namespace
#else
namespace {
Napi::Value InitProcessGroup(const Napi::CallbackInfo& info) {
  auto d = Napi::Promise::Deferred::New(info.Env());
  d.Reject(Napi::Error::New(info.Env(), std::string("radbert-native: ") + kNoDistributed).Value());
  return d.Promise();
}
}  // namespace
#endif

Napi::Value distributed_version(Napi::Env env) {
  auto o = Napi::Object::New(env);
  auto list = Napi::Array::New(env);
#ifdef RADBERT_WITH_GLOO
  const auto names = dist::backends();
  for (size_t i = 0; i < names.size(); ++i) list.Set(static_cast<uint32_t>(i), names[i]);
#else
  o.Set("reason", kNoDistributed);
#endif
  o.Set("backends", list);
  return o;
}

void register_distributed(Napi::Env env, Napi::Object exports) {
  void* data = nullptr;
#ifdef RADBERT_WITH_GLOO
  data = new Napi::FunctionReference(Napi::Persistent(ProcessGroup::Define(env)));  // lives as long as the env
#endif
  exports.Set("initProcessGroup", Napi::Function::New(env, InitProcessGroup, "initProcessGroup", data));
}

}  // namespace radbert
