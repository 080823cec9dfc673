# node-gyp build of the same native sources (CPU), for machines without cmake. libtorch comes from the same
# discovery module as the CMake build (scripts/libtorch.js). Run through `npm run build:gyp` (scripts/build.js --gyp).
{
  "targets": [
    {
      "target_name": "radbert_native",
      "sources": [
        "<!@(node -p \"require('fs').readdirSync('native').filter(f => f.endsWith('.cpp')).sort().map(f => 'native/' + f).join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/libtorch.js --include)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "_GLIBCXX_USE_CXX11_ABI=<!(node scripts/libtorch.js --cxx-abi)"
      ],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=c++17"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter"],
      "libraries": [
        "-L<!(node scripts/libtorch.js --libdir)",
        "-ltorch", "-ltorch_cpu", "-lc10",
        "-Wl,-rpath,<!(node scripts/libtorch.js --libdir)"
      ]
    }
  ]
}
