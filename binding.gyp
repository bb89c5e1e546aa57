{
  "targets": [{
    "target_name": "mpi4node",
    "sources": [
      "native/addon.cc",
      "native/coll_calls.cc",
      "native/comm_calls.cc",
      "native/engine.cc",
      "native/env_calls.cc",
      "native/errors.cc",
      "native/fast_calls.cc",
      "native/gpu_env.cc",
      "native/gpu_loader.cc",
      "native/gpu_memory.cc",
      "native/gpu_nccl.cc",
      "native/gpu_staging.cc",
      "native/ops.cc",
      "native/p2p_calls.cc",
      "native/parts_calls.cc",
      "native/process_state.cc",
      "native/recv_pool.cc",
      "native/request_calls.cc",
      "native/topo_calls.cc"
    ],
    "include_dirs": [
      "<!(node -p \"require('node-addon-api').include_dir\")",
      "<!@(node scripts/mpi-flags.mjs --include-dirs)"
    ],
    "libraries": ["<!@(node scripts/mpi-flags.mjs --libs)", "-ldl"],
    "defines": ["NAPI_VERSION=8", "OMPI_SKIP_MPICXX=1", "MPICH_SKIP_MPICXX=1", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
    "cflags": ["-O3", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
    "cflags_cc": ["-std=c++17", "-fexceptions", "-fvisibility=hidden", "-fvisibility-inlines-hidden"],
    "ldflags": ["-Wl,-z,nodelete", "-Wl,--as-needed"]
  }]
}
