/* The small, stable C ABI of the CUDA runtime (libcudart.so.12/.13) and NCCL (libnccl.so.2) that
 * mpi4node uses, declared here so that the addon builds with no CUDA or NCCL headers and loads them at
 * run time (native/gpu/loader.cc). Plain C: the test fakes (test/fakes/) and the NCCL reference program
 * (test/gpu/nccl_allreduce.c) include it too, so all three agree on one set of declarations.
 *
 * Values are those of the public headers; none has changed since the function appeared. The traps:
 * - ncclUniqueId is 128 bytes passed BY VALUE to ncclCommInitRank.
 * - cudaPointerAttributes was 24 bytes up to CUDA 12 and is 88 in CUDA 13: callers pass a buffer of
 *   MPI4NODE_CUDA_PTR_ATTR_BYTES and read only the leading fields common to both.
 * - ncclGetVersion encodes X*1000+Y*100+Z before 2.9 and X*10000+Y*100+Z from 2.9 on.
 * - ncclConfig_t only grows at its end, and NCCL reads min(config->size, its own size) bytes of it,
 *   then resets the fields newer than config->version to its defaults (see below). */
#ifndef MPI4NODE_GPU_ABI_H_
#define MPI4NODE_GPU_ABI_H_

#include <limits.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- CUDA runtime ---- */
typedef int cudaError_t;
typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;

enum {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorCudartUnloading = 4,
  cudaErrorStubLibrary = 34,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorNotReady = 600,
  cudaErrorSystemDriverMismatch = 803,
  cudaErrorCompatNotSupportedOnDevice = 804
};
enum { cudaMemcpyHostToHost = 0, cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2,
       cudaMemcpyDeviceToDevice = 3, cudaMemcpyDefault = 4 };
enum { cudaMemoryTypeUnregistered = 0, cudaMemoryTypeHost = 1, cudaMemoryTypeDevice = 2,
       cudaMemoryTypeManaged = 3 };
#define MPI4NODE_cudaStreamNonBlocking 0x01u
#define MPI4NODE_cudaEventDisableTiming 0x02u

/* The leading fields of cudaPointerAttributes, the same in every CUDA version we load. */
typedef struct {
  int type; /* cudaMemoryType */
  int device;
  void* devicePointer;
  void* hostPointer;
} mpi4nodeCudaPointerAttributesHead;
#define MPI4NODE_CUDA_PTR_ATTR_BYTES 256 /* >= 88 (CUDA 13), with room for growth */

typedef cudaError_t (*cudaGetDeviceCount_t)(int* count);
typedef cudaError_t (*cudaSetDevice_t)(int device);
typedef cudaError_t (*cudaGetDevice_t)(int* device);
typedef cudaError_t (*cudaMalloc_t)(void** ptr, size_t size);
typedef cudaError_t (*cudaFree_t)(void* ptr);
typedef cudaError_t (*cudaMallocHost_t)(void** ptr, size_t size);
typedef cudaError_t (*cudaFreeHost_t)(void* ptr);
typedef cudaError_t (*cudaMemcpy_t)(void* dst, const void* src, size_t count, int kind);
typedef cudaError_t (*cudaMemcpyAsync_t)(void* dst, const void* src, size_t count, int kind, cudaStream_t s);
typedef cudaError_t (*cudaMemsetAsync_t)(void* ptr, int value, size_t count, cudaStream_t s);
typedef cudaError_t (*cudaStreamCreateWithFlags_t)(cudaStream_t* s, unsigned int flags);
typedef cudaError_t (*cudaStreamDestroy_t)(cudaStream_t s);
typedef cudaError_t (*cudaStreamSynchronize_t)(cudaStream_t s);
typedef cudaError_t (*cudaStreamWaitEvent_t)(cudaStream_t s, cudaEvent_t e, unsigned int flags);
typedef cudaError_t (*cudaEventCreateWithFlags_t)(cudaEvent_t* e, unsigned int flags);
typedef cudaError_t (*cudaEventRecord_t)(cudaEvent_t e, cudaStream_t s);
typedef cudaError_t (*cudaEventQuery_t)(cudaEvent_t e);
typedef cudaError_t (*cudaEventSynchronize_t)(cudaEvent_t e);
typedef cudaError_t (*cudaEventDestroy_t)(cudaEvent_t e);
typedef const char* (*cudaGetErrorString_t)(cudaError_t err);
typedef const char* (*cudaGetErrorName_t)(cudaError_t err);
typedef cudaError_t (*cudaGetLastError_t)(void);
typedef cudaError_t (*cudaRuntimeGetVersion_t)(int* version);
typedef cudaError_t (*cudaDriverGetVersion_t)(int* version);
typedef cudaError_t (*cudaPointerGetAttributes_t)(void* attributes, const void* ptr);

/* ---- NCCL ---- */
typedef int ncclResult_t;
typedef struct ncclComm* ncclComm_t;
#define MPI4NODE_NCCL_UNIQUE_ID_BYTES 128
typedef struct {
  char internal[MPI4NODE_NCCL_UNIQUE_ID_BYTES];
} ncclUniqueId;

enum {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,
  ncclInProgress = 7,
  ncclTimeout = 8 /* NCCL >= 2.30 */
};
enum { ncclInt8 = 0, ncclUint8 = 1, ncclInt32 = 2, ncclUint32 = 3, ncclInt64 = 4, ncclUint64 = 5,
       ncclFloat16 = 6, ncclFloat32 = 7, ncclFloat64 = 8, ncclBfloat16 = 9, ncclFloat8e4m3 = 10,
       ncclFloat8e5m2 = 11 };
enum { ncclSum = 0, ncclProd = 1, ncclMax = 2, ncclMin = 3, ncclAvg = 4 };

/* ncclConfig_t as NCCL 2.30.7's nccl.h.in declares it (struct ncclConfig_v23000), filled as its
 * NCCL_CONFIG_INITIALIZER fills it: size, magic, version, then every field "undefined" (NCCL's
 * default). The layout only ever grew at the end (2.14: up to blocking; 2.17: up to netName; 2.18:
 * splitShare; 2.26: trafficClass; 2.27: to nvlsCTAs; 2.28, 2.29, 2.30.x: the rest). From 2.17 on NCCL
 * copies min(size, sizeof its own struct) bytes over its defaults and resets the fields newer than
 * `version`, so this struct is read correctly by older and newer libraries alike; 2.14-2.16 read only
 * `blocking`, at the same offset. ncclCommInitRankConfig exists since 2.14 (the loader treats it as
 * optional). */
#define MPI4NODE_NCCL_CONFIG_MAGIC 0xcafebeefu
#define MPI4NODE_NCCL_CONFIG_UNDEF_INT INT_MIN
#define MPI4NODE_NCCL_CONFIG_VERSION 23007 /* NCCL_VERSION(2, 30, 7): the header this layout is from */
typedef struct {
  size_t size;
  unsigned int magic;
  unsigned int version;
  int blocking;
  int cgaClusterSize;
  int minCTAs;
  int maxCTAs;
  const char* netName;
  int splitShare;
  int trafficClass;
  const char* commName;
  int collnetEnable;
  int CTAPolicy;
  int shrinkShare;
  int nvlsCTAs;
  int nChannelsPerNetPeer;
  int nvlinkCentricSched;
  int graphUsageMode;
  int numRmaCtx;
  int maxP2pPeers;
  int graphStreamOrdering;
} ncclConfig_t;

/* NCCL_CONFIG_INITIALIZER. */
static inline ncclConfig_t mpi4nodeNcclConfigDefaults(void) {
  const int u = MPI4NODE_NCCL_CONFIG_UNDEF_INT;
  ncclConfig_t c = {sizeof(ncclConfig_t), MPI4NODE_NCCL_CONFIG_MAGIC, MPI4NODE_NCCL_CONFIG_VERSION,
                    u, u, u, u, NULL, u, u, NULL, u, u, u, u, u, u, u, u, u, u};
  return c;
}

typedef ncclResult_t (*ncclGetVersion_t)(int* version);
typedef ncclResult_t (*ncclGetUniqueId_t)(ncclUniqueId* id);
typedef ncclResult_t (*ncclCommInitRank_t)(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank);
typedef ncclResult_t (*ncclCommInitRankConfig_t)(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank,
                                                 ncclConfig_t* config);
typedef ncclResult_t (*ncclCommDestroy_t)(ncclComm_t comm);
typedef ncclResult_t (*ncclCommAbort_t)(ncclComm_t comm);
typedef ncclResult_t (*ncclCommGetAsyncError_t)(ncclComm_t comm, ncclResult_t* asyncError);
typedef const char* (*ncclGetErrorString_t)(ncclResult_t result);
typedef ncclResult_t (*ncclAllReduce_t)(const void* send, void* recv, size_t count, int dtype, int op,
                                        ncclComm_t comm, cudaStream_t stream);
typedef ncclResult_t (*ncclBroadcast_t)(const void* send, void* recv, size_t count, int dtype, int root,
                                        ncclComm_t comm, cudaStream_t stream);
typedef ncclResult_t (*ncclReduce_t)(const void* send, void* recv, size_t count, int dtype, int op, int root,
                                     ncclComm_t comm, cudaStream_t stream);
typedef ncclResult_t (*ncclAllGather_t)(const void* send, void* recv, size_t sendcount, int dtype,
                                        ncclComm_t comm, cudaStream_t stream);
typedef ncclResult_t (*ncclReduceScatter_t)(const void* send, void* recv, size_t recvcount, int dtype, int op,
                                            ncclComm_t comm, cudaStream_t stream);
typedef ncclResult_t (*ncclSend_t)(const void* send, size_t count, int dtype, int peer, ncclComm_t comm,
                                   cudaStream_t stream);
typedef ncclResult_t (*ncclRecv_t)(void* recv, size_t count, int dtype, int peer, ncclComm_t comm,
                                   cudaStream_t stream);
typedef ncclResult_t (*ncclGroupStart_t)(void);
typedef ncclResult_t (*ncclGroupEnd_t)(void);

#ifdef __cplusplus
}
#endif

#endif /* MPI4NODE_GPU_ABI_H_ */
