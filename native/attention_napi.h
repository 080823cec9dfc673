// N-API surface of the attention kernels: what version() reports, a debug entry that exposes kernel selection and
// argument building to tests, and the createModel options that set device numerics.
#pragma once

#include <napi.h>

#include "device.h"

namespace radbert {

// {cpu: '...', cuda: '...'}: the attention kernel each device runs (version().attention).
Napi::Object attention_version(Napi::Env env);

// attentionPlan(cuSeqlens: Int32Array, {heads, headDim, window, threads?, device?, dtype?, dropout?, forceSdpa?})
// → {kernel, items: [{seq, begin, len, headBegin, headEnd, cost}], flash: {cuSeqlens, maxLen, windowLeft,
// windowRight, scale}}. Pure: runs no kernel, touches no device.
Napi::Value AttentionPlan(const Napi::CallbackInfo& info);

// options.tf32 / options.deterministic of createModel (optional booleans, false when absent).
DeviceNumerics numerics_option(const Napi::Object& opts);

}  // namespace radbert
