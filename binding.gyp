{
  "targets": [{
    "target_name": "mpi4node",
    "sources": [
      "native/addon.cc",
      "native/channel/parts.cc",
      "native/channel/recv_pool.cc",
      "native/core/aligned.cc",
      "native/core/args.cc",
      "native/core/errors.cc",
      "native/core/process_state.cc",
      "native/gpu/env.cc",
      "native/gpu/loader.cc",
      "native/gpu/memory.cc",
      "native/gpu/nccl.cc",
      "native/gpu/staging.cc",
      "native/mpi/coll.cc",
      "native/mpi/dynamic.cc",
      "native/mpi/comm.cc",
      "native/mpi/env.cc",
      "native/mpi/fast.cc",
      "native/mpi/group.cc",
      "native/mpi/info.cc",
      "native/mpi/io.cc",
      "native/mpi/half.cc",
      "native/mpi/ops.cc",
      "native/mpi/p2p.cc",
      "native/mpi/topo.cc",
      "native/mpi/win.cc",
      "native/progress/engine.cc",
      "native/progress/poller.cc"
    ],
    "include_dirs": [
      "native",
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
