// The N-API plumbing of addon.cpp: a Promise-returning task that runs on the compute thread, and the argument readers
// that turn JS values into C++ ones or throw a TypeError naming the argument (JS thread only).
#pragma once

#include <napi.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "modernbert.h"
#include "runtime.h"
#include "train_step.h"

namespace radbert::napi {

// Runs `exec` on the compute thread and settles a Promise on the JS thread with `done(env)`, or with the error that
// `exec` or `done` threw. The compute thread hands the result straight back to the JS thread through one thread-safe
// function per env (no libuv pool thread in between: one thread hand-off each way); it holds the event loop open
// only while tasks are in flight.
class Task {
 public:
  using Exec = std::function<void()>;
  using Done = std::function<Napi::Value(Napi::Env)>;
  static Napi::Promise Run(Napi::Env env, Exec exec, Done done);
};

[[noreturn]] void type_error(Napi::Env env, const std::string& msg);

// o[key] as a number / a number or `def` when absent / an integer (|x| < 2^53) / a boolean / a string; ctx names o.
double num(const Napi::Object& o, const char* key, const std::string& ctx);
double num_or(const Napi::Object& o, const char* key, double def, const std::string& ctx);
int64_t integer(const Napi::Object& o, const char* key, const std::string& ctx);
bool boolean(const Napi::Object& o, const char* key, const std::string& ctx);
std::string str(const Napi::Object& o, const char* key, const std::string& ctx);

// Argument i as an object / a string (TypeError "<what> must be ...").
Napi::Object object_arg(const Napi::CallbackInfo& info, size_t i, const std::string& what);
std::string string_arg(const Napi::CallbackInfo& info, size_t i, const std::string& what);

// Argument i as a typed array of kind `Kind`, copied (TypeError `what` otherwise).
template <typename T, napi_typedarray_type Kind>
std::vector<T> typed_arg(const Napi::CallbackInfo& info, size_t i, const std::string& what) {
  if (info.Length() <= i || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != Kind)
    type_error(info.Env(), what);
  auto arr = info[i].As<Napi::TypedArrayOf<T>>();
  return std::vector<T>(arr.Data(), arr.Data() + arr.ElementLength());
}

// Argument i as an options object; an empty object when absent (undefined or null).
Napi::Object options_arg(const Napi::CallbackInfo& info, size_t i, const std::string& what);

// trainStep/evalLoss targets: a Float32Array (classification, multi-hot) or an Int32Array (masked LM, token labels).
radbert::Targets targets_arg(const Napi::CallbackInfo& info, size_t i, const std::string& what);

// options.loss of trainStep/evalLoss (MultiLabelLoss in lib/native.ts): the default (BCEWithLogits) when absent.
radbert::MultiLabelLoss loss_option(const Napi::Object& o, const std::string& ctx);

// options.bf16: optional boolean, false when absent.
bool bf16_option(const Napi::Object& o, const std::string& ctx);

// trainStep's options.lossWeight (a finite number >= 0, default 1), options.accumulate and options.stop (booleans).
radbert::MicroStep micro_step_option(const Napi::Object& o, const std::string& ctx);

// createModel's config object (NativeConfig in lib/native.ts) as a radbert::Config.
radbert::Config parse_config(const Napi::Object& o);

// The model state behind a NativeModel object, or null when `v` is none or was freed (defined in addon.cpp).
std::shared_ptr<radbert::ModelState> model_state_of(const Napi::Value& v);

// JS values from C++ ones.
Napi::Array string_array(Napi::Env env, const std::vector<std::string>& v);
Napi::Float32Array to_float32_array(Napi::Env env, const std::vector<float>& v);

// options.metadata: an optional object of strings (safetensors __metadata__).
std::map<std::string, std::string> metadata_arg(const Napi::Object& opts);

}  // namespace radbert::napi
