{
  # AgentCgroup native loader: an N-API addon over a statically linked libbpf.
  # Build with `npm run build:native` (scripts/build-native.sh).
  "variables": {
    "libbpf_version": "<!(sh ./libbpf-config.sh version)",
    "libbpf_archive": "<!(sh ./libbpf-config.sh archive)",
    "libbpf_include": "<!(sh ./libbpf-config.sh includedir)",
  },
  "targets": [
    {
      "target_name": "acg_native",
      "sources": [
        "src/addon.cc",
        "src/common.cc",
        "src/object.cc",
        "src/map.cc",
        "src/link.cc",
        "src/ringbuf.cc",
        "src/probes.cc",
        "src/spawn.cc",
      ],
      "include_dirs": [
        "<(libbpf_include)",
        "<!(node -p \"require('node-addon-api').include_dir\")",
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_CPP_EXCEPTIONS",
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "ACG_LIBBPF_VERSION=\"<(libbpf_version)\"",
        "_GNU_SOURCE",
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "libraries": [
        "<(libbpf_archive)",
        "-lelf",
        "-lz",
        "-Wl,--exclude-libs,ALL",
      ],
    },
    {
      # The runtime's kernel I/O that Node lacks (PSI trigger poll, SO_PEERCRED);
      # no libbpf, loaded by runtime/native-io.ts.
      "target_name": "acg_runtime_io",
      "sources": ["src/runtime_io.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
    },
  ],
}
