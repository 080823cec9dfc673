// N-API entry points of data-parallel training (distributed_napi.cpp): initProcessGroup() and version().distributed.
#pragma once

#include <napi.h>

namespace radbert {

// Why a build has no distributed support (it was compiled without gloo's headers).
inline constexpr const char* kNoDistributed =
    "this build has no distributed support: it was compiled without gloo's headers (install libgloo-dev or set "
    "RADBERT_GLOO_INCLUDE, then rebuild: see scripts/distributed.js)";

// version().distributed: { backends: ['gloo', 'nccl'?] } or { backends: [], reason }.
Napi::Value distributed_version(Napi::Env env);

// Adds initProcessGroup to the exports.
void register_distributed(Napi::Env env, Napi::Object exports);

}  // namespace radbert
