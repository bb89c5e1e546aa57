// The CUDA runtime and NCCL, loaded at run time (dlopen) through our own declarations (gpu/abi.h), so
// one binary builds and loads on machines with no GPU. Process-wide: the libraries are loaded once,
// on the first GPU call of any environment, from the candidate paths lib/gpu/loader.ts computes (an
// explicit path from the environment; Python wheel folders; the system's library path; $CUDA_HOME).
// Every path tried is recorded with why it failed, so status() can say exactly what is missing.
#pragma once

#include <mpi.h>

#include <mutex>
#include <string>
#include <vector>

#include "gpu/abi.h"

namespace mpi4node {

struct CudaApi {
  cudaGetDeviceCount_t GetDeviceCount = nullptr;
  cudaSetDevice_t SetDevice = nullptr;
  cudaGetDevice_t GetDevice = nullptr;
  cudaMalloc_t Malloc = nullptr;
  cudaFree_t Free = nullptr;
  cudaMallocHost_t MallocHost = nullptr;
  cudaFreeHost_t FreeHost = nullptr;
  cudaMemcpy_t Memcpy = nullptr;
  cudaMemcpyAsync_t MemcpyAsync = nullptr;
  cudaMemsetAsync_t MemsetAsync = nullptr;
  cudaStreamCreateWithFlags_t StreamCreateWithFlags = nullptr;
  cudaStreamDestroy_t StreamDestroy = nullptr;
  cudaStreamSynchronize_t StreamSynchronize = nullptr;
  cudaStreamWaitEvent_t StreamWaitEvent = nullptr;
  cudaEventCreateWithFlags_t EventCreateWithFlags = nullptr;
  cudaEventRecord_t EventRecord = nullptr;
  cudaEventQuery_t EventQuery = nullptr;
  cudaEventSynchronize_t EventSynchronize = nullptr;
  cudaEventDestroy_t EventDestroy = nullptr;
  cudaGetErrorString_t GetErrorString = nullptr;
  cudaGetErrorName_t GetErrorName = nullptr;
  cudaGetLastError_t GetLastError = nullptr;
  cudaRuntimeGetVersion_t RuntimeGetVersion = nullptr;
  cudaDriverGetVersion_t DriverGetVersion = nullptr;
  cudaPointerGetAttributes_t PointerGetAttributes = nullptr;
};

struct NcclApi {
  ncclGetVersion_t GetVersion = nullptr;
  ncclGetUniqueId_t GetUniqueId = nullptr;
  ncclCommInitRank_t CommInitRank = nullptr;
  ncclCommInitRankConfig_t CommInitRankConfig = nullptr;  // NCCL >= 2.14: non-blocking creation
  ncclCommDestroy_t CommDestroy = nullptr;
  ncclCommAbort_t CommAbort = nullptr;
  ncclCommGetAsyncError_t CommGetAsyncError = nullptr;
  ncclGetErrorString_t GetErrorString = nullptr;
  ncclAllReduce_t AllReduce = nullptr;
  ncclBroadcast_t Broadcast = nullptr;
  ncclReduce_t Reduce = nullptr;
  ncclAllGather_t AllGather = nullptr;
  ncclReduceScatter_t ReduceScatter = nullptr;
  ncclSend_t Send = nullptr;  // NCCL >= 2.7
  ncclRecv_t Recv = nullptr;
  ncclGroupStart_t GroupStart = nullptr;
  ncclGroupEnd_t GroupEnd = nullptr;
};

struct TriedPath {
  std::string path;
  std::string error;  // empty for the one that loaded
};

class GpuLoader {
 public:
  static GpuLoader& Get();

  // Loads both libraries on the first call; later calls change nothing (a process cannot unload a
  // CUDA runtime safely), so status() keeps describing that first attempt.
  void Load(const std::vector<std::string>& cudart, const std::vector<std::string>& nccl);
  bool attempted() const { return attempted_; }

  // Why the GPU is unusable, as a stable code and a sentence; code empty when usable.
  // Codes: ERR_CUDART_NOT_FOUND, ERR_CUDART_SYMBOLS, ERR_NO_DRIVER, ERR_DRIVER_TOO_OLD,
  // ERR_DRIVER_MISMATCH, ERR_NO_DEVICE, ERR_CUDA_INIT. NCCL has its own: ERR_NCCL_NOT_FOUND,
  // ERR_NCCL_SYMBOLS.
  bool cudaUsable() const { return cudaCode_.empty(); }
  bool ncclUsable() const { return ncclCode_.empty(); }
  const std::string& cudaCode() const { return cudaCode_; }
  const std::string& cudaReason() const { return cudaReason_; }
  const std::string& ncclCode() const { return ncclCode_; }
  const std::string& ncclReason() const { return ncclReason_; }

  const std::string& cudartPath() const { return cudartPath_; }
  const std::string& ncclPath() const { return ncclPath_; }
  const std::vector<TriedPath>& cudartTried() const { return cudartTried_; }
  const std::vector<TriedPath>& ncclTried() const { return ncclTried_; }
  int runtimeVersion() const { return runtimeVersion_; }  // 13000 = 13.0; 0 when unknown
  int driverVersion() const { return driverVersion_; }    // 0: no driver
  int deviceCount() const { return deviceCount_; }
  int ncclVersionCode() const { return ncclVersion_; }    // raw ncclGetVersion value

  // Whether MPI can take device pointers: MPIX_Query_cuda_support (OpenMPI) or
  // MPIX_GPU_query_support (MPICH), looked up in the loaded MPI library at run time. Needs MPI
  // initialised (MPICH asks the running library). `force` is -1 (ask MPI), 0 or 1.
  bool MpiCudaAware(int force, std::string* how);

  CudaApi cuda;
  NcclApi nccl;

 private:
  GpuLoader() = default;
  void LoadCuda(const std::vector<std::string>& candidates);
  // Resolves and asks one runtime that dlopen'ed; true when the search should go on to the next
  // candidate (a runtime this driver cannot run: another candidate may be one it can).
  bool ProbeCuda(void* lib, const std::string& path);
  void LoadNccl(const std::vector<std::string>& candidates);

  std::mutex mu_;
  bool attempted_ = false;
  std::string cudaCode_ = "ERR_NOT_LOADED", cudaReason_ = "the GPU libraries were not loaded yet";
  std::string ncclCode_ = "ERR_NOT_LOADED", ncclReason_ = "the GPU libraries were not loaded yet";
  std::string cudartPath_, ncclPath_;
  std::vector<TriedPath> cudartTried_, ncclTried_;
  int runtimeVersion_ = 0, driverVersion_ = 0, deviceCount_ = 0, ncclVersion_ = 0;
  int cudaAware_ = -1;  // -1 unknown
  std::string cudaAwareHow_;
};

}  // namespace mpi4node
