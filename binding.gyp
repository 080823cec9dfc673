# node-gyp build of the same native sources (CPU), for machines without cmake. libtorch comes from the same discovery
# module as the CMake build (scripts/libtorch.js). Run it through `npm run build:gyp` (scripts/build.js --gyp), which
# builds in build-gyp/ so the cmake-js build in build/ is left alone. Flags match CMakeLists.txt: C++20, -O2 -DNDEBUG,
# exceptions and RTTI on, libtorch's ABI flag and interface defines, absolute rpath to libtorch's lib/; gloo's headers
# (distributed training) from scripts/distributed.js, as CMakeLists.txt gets them (CPU: no NCCL here).
{
  "targets": [
    {
      "target_name": "radbert_native",
      "sources": [
        "<!@(node -p \"require('fs').readdirSync('native').filter(f => f.endsWith('.cpp')).sort().map(f => 'native/' + f).join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/libtorch.js --include)",
        "<!@(node scripts/distributed.js --gyp-include)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NDEBUG",
        "_GLIBCXX_USE_CXX11_ABI=<!(node scripts/libtorch.js --cxx-abi)",
        "<!@(node scripts/libtorch.js --defines)",
        "<!@(node scripts/distributed.js --gyp-defines)"
      ],
      "cflags!": ["-fno-exceptions", "-fno-rtti", "-O3", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=c++17", "-O3"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-frtti", "-O2", "-Wall", "-Wno-unused-parameter"],
      "configurations": {
        "Release": {
          "cflags!": ["-O3"],
          "cflags_cc!": ["-O3"]
        }
      },
      "libraries": [
        "-L<!(node scripts/libtorch.js --libdir)",
        "-Wl,--no-as-needed",
        "-ltorch", "-ltorch_cpu", "-lc10",
        "-Wl,--as-needed",
        "-Wl,-rpath,<!(node scripts/libtorch.js --libdir)"
      ]
    }
  ]
}
