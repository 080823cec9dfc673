#include "attention_napi.h"

#include <stdexcept>

#include "attention.h"

namespace radbert {

namespace {

bool optional_bool(const Napi::Object& o, const char* key, const std::string& ctx) {
  auto v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return false;
  if (!v.IsBoolean()) throw Napi::TypeError::New(o.Env(), ctx + "." + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

int64_t int_field(const Napi::Object& o, const char* key, int64_t def, bool required) {
  auto v = o.Get(key);
  if (v.IsUndefined() && !required) return def;
  if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() != static_cast<double>(v.As<Napi::Number>().Int64Value()))
    throw Napi::TypeError::New(o.Env(), std::string("attentionPlan: options.") + key + " must be an integer");
  return v.As<Napi::Number>().Int64Value();
}

}  // namespace

Napi::Object attention_version(Napi::Env env) {
  auto o = Napi::Object::New(env);
  for (const auto& [device, kernel] : attention_kernels()) o.Set(device, kernel);
  return o;
}

DeviceNumerics numerics_option(const Napi::Object& opts) {
  DeviceNumerics n;
  n.tf32 = optional_bool(opts, "tf32", "options");
  n.deterministic = optional_bool(opts, "deterministic", "options");
  return n;
}

Napi::Value AttentionPlan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      !info[1].IsObject())
    throw Napi::TypeError::New(env, "attentionPlan(cuSeqlens: Int32Array, options: object)");
  auto arr = info[0].As<Napi::Int32Array>();
  std::vector<int64_t> cu(arr.Data(), arr.Data() + arr.ElementLength());
  auto o = info[1].As<Napi::Object>();
  const int64_t heads = int_field(o, "heads", 0, true), head_dim = int_field(o, "headDim", 0, true);
  const int64_t window = int_field(o, "window", -1, true), threads = int_field(o, "threads", 1, false);
  const std::string device = o.Get("device").IsString() ? o.Get("device").As<Napi::String>().Utf8Value() : "cpu";
  const std::string dtype = o.Get("dtype").IsString() ? o.Get("dtype").As<Napi::String>().Utf8Value() : "float32";
  const double dropout = o.Get("dropout").IsNumber() ? o.Get("dropout").As<Napi::Number>().DoubleValue() : 0.0;
  const bool force = optional_bool(o, "forceSdpa", "attentionPlan: options");
  if (device != "cpu" && device != "cuda") throw Napi::TypeError::New(env, "attentionPlan: options.device must be 'cpu' or 'cuda'");
  const c10::ScalarType st = dtype == "bfloat16" ? at::kBFloat16 : dtype == "float16" ? at::kHalf : dtype == "float32" ? at::kFloat
                                                                                                                      : at::kDouble;
  if (st == at::kDouble && dtype != "float64")
    throw Napi::TypeError::New(env, "attentionPlan: options.dtype must be float32, bfloat16, float16 or float64");
  auto out = Napi::Object::New(env);
  try {
    out.Set("kernel", kernel_name(select_kernel(device == "cuda" ? c10::DeviceType::CUDA : c10::DeviceType::CPU, st,
                                                head_dim, dropout, force)));
    const auto items = plan_cpu_items(cu, heads, window, threads);
    auto list = Napi::Array::New(env, items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      auto e = Napi::Object::New(env);
      const auto& it = items[i];
      e.Set("seq", static_cast<double>(it.seq));
      e.Set("begin", static_cast<double>(it.begin));
      e.Set("len", static_cast<double>(it.len));
      e.Set("headBegin", static_cast<double>(it.head_begin));
      e.Set("headEnd", static_cast<double>(it.head_end));
      e.Set("cost", static_cast<double>(it.cost));
      list.Set(static_cast<uint32_t>(i), e);
    }
    out.Set("items", list);
    const auto a = flash_args(cu, window, head_dim);
    auto f = Napi::Object::New(env);
    auto cus = Napi::Int32Array::New(env, a.cu_seqlens.size());
    std::copy(a.cu_seqlens.begin(), a.cu_seqlens.end(), cus.Data());
    f.Set("cuSeqlens", cus);
    f.Set("maxLen", static_cast<double>(a.max_len));
    f.Set("windowLeft", static_cast<double>(a.window_left));
    f.Set("windowRight", static_cast<double>(a.window_right));
    f.Set("scale", a.scale);
    out.Set("flash", f);
  } catch (const std::invalid_argument& e) {
    throw Napi::Error::New(env, std::string("attentionPlan: ") + e.what());
  }
  return out;
}

}  // namespace radbert
