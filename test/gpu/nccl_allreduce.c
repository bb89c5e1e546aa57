/* The reference for mpi4node's NCCL call overhead: ncclAllReduce called directly from C, single rank,
 * loading the CUDA runtime and NCCL the way the addon does (dlopen, declarations from
 * native/gpu/abi.h: no CUDA or NCCL headers needed to build it).
 *
 *   cc -O2 -o nccl_allreduce test/gpu/nccl_allreduce.c -ldl
 *   ./nccl_allreduce <libcudart path> <libnccl path> [iterations] [elements]
 *
 * Prints one JSON line: microseconds per allreduce when each is waited for (launch + sync) and when a
 * batch is launched and waited for once (launch only, amortised). */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../../native/gpu/abi.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void* sym(void* lib, const char* name) {
  void* p = dlsym(lib, name);
  if (!p) {
    fprintf(stderr, "nccl_allreduce: missing %s\n", name);
    exit(2);
  }
  return p;
}

#define CHECK(what, rc)                                                   \
  do {                                                                    \
    int rc_ = (rc);                                                       \
    if (rc_ != 0) {                                                       \
      fprintf(stderr, "nccl_allreduce: %s failed: %d\n", what, rc_);      \
      return 3;                                                           \
    }                                                                     \
  } while (0)

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s <libcudart> <libnccl> [iterations] [elements]\n", argv[0]);
    return 1;
  }
  const int iters = argc > 3 ? atoi(argv[3]) : 20000;
  const size_t count = argc > 4 ? (size_t)atol(argv[4]) : 2;
  void* rt = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  void* nc = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
  if (!rt || !nc) {
    fprintf(stderr, "nccl_allreduce: %s\n", dlerror());
    return 2;
  }
  cudaMalloc_t cudaMalloc = (cudaMalloc_t)sym(rt, "cudaMalloc");
  cudaStreamCreateWithFlags_t cudaStreamCreateWithFlags = (cudaStreamCreateWithFlags_t)sym(rt, "cudaStreamCreateWithFlags");
  cudaStreamSynchronize_t cudaStreamSynchronize = (cudaStreamSynchronize_t)sym(rt, "cudaStreamSynchronize");
  cudaMemsetAsync_t cudaMemsetAsync = (cudaMemsetAsync_t)sym(rt, "cudaMemsetAsync");
  ncclGetVersion_t ncclGetVersion = (ncclGetVersion_t)sym(nc, "ncclGetVersion");
  ncclGetUniqueId_t ncclGetUniqueId = (ncclGetUniqueId_t)sym(nc, "ncclGetUniqueId");
  ncclCommInitRank_t ncclCommInitRank = (ncclCommInitRank_t)sym(nc, "ncclCommInitRank");
  ncclCommDestroy_t ncclCommDestroy = (ncclCommDestroy_t)sym(nc, "ncclCommDestroy");
  ncclAllReduce_t ncclAllReduce = (ncclAllReduce_t)sym(nc, "ncclAllReduce");

  int version = 0;
  ncclGetVersion(&version);
  ncclUniqueId id;
  ncclComm_t comm;
  cudaStream_t stream;
  void* buf;
  CHECK("ncclGetUniqueId", ncclGetUniqueId(&id));
  CHECK("ncclCommInitRank", ncclCommInitRank(&comm, 1, id, 0));
  CHECK("cudaStreamCreateWithFlags", cudaStreamCreateWithFlags(&stream, MPI4NODE_cudaStreamNonBlocking));
  CHECK("cudaMalloc", cudaMalloc(&buf, count * 4));
  CHECK("cudaMemsetAsync", cudaMemsetAsync(buf, 0, count * 4, stream));

  for (int i = 0; i < 1000; ++i) CHECK("ncclAllReduce", ncclAllReduce(buf, buf, count, ncclFloat32, ncclSum, comm, stream));
  CHECK("cudaStreamSynchronize", cudaStreamSynchronize(stream));

  double t0 = now_us();
  for (int i = 0; i < iters; ++i) {
    CHECK("ncclAllReduce", ncclAllReduce(buf, buf, count, ncclFloat32, ncclSum, comm, stream));
    CHECK("cudaStreamSynchronize", cudaStreamSynchronize(stream));
  }
  const double synced = (now_us() - t0) / iters;

  t0 = now_us();
  for (int i = 0; i < iters; ++i) CHECK("ncclAllReduce", ncclAllReduce(buf, buf, count, ncclFloat32, ncclSum, comm, stream));
  CHECK("cudaStreamSynchronize", cudaStreamSynchronize(stream));
  const double batched = (now_us() - t0) / iters;

  ncclCommDestroy(comm);
  printf("{\"ncclVersionCode\":%d,\"iterations\":%d,\"elements\":%zu,\"syncedUs\":%.3f,\"batchedUs\":%.3f}\n", version,
         iters, count, synced, batched);
  return 0;
}
