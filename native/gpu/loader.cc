#include "gpu/loader.h"

#include <dlfcn.h>
#include <link.h>

#include <cstdio>

namespace mpi4node {

namespace {

std::string VersionText(int v) {  // CUDA's 1000*major + 10*minor
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

std::string Join(const std::vector<TriedPath>& tried) {
  std::string out;
  for (const auto& t : tried) out += "\n  - " + t.path + ": " + t.error;
  return out;
}

// Resolves every symbol of `names` into `slots`; returns the first missing name, or empty.
template <size_t N>
std::string Resolve(void* lib, const char* const (&names)[N], void** const (&slots)[N]) {
  for (size_t i = 0; i < N; ++i) {
    void* p = dlsym(lib, names[i]);
    if (p == nullptr) return names[i];
    *slots[i] = p;
  }
  return "";
}

// dlopen's error for `c`, without the path it repeats at the start.
std::string OpenError(const std::string& c) {
  const char* e = dlerror();
  std::string err = e ? e : "dlopen failed";
  const std::string prefix = c + ": ";
  if (err.compare(0, prefix.size(), prefix) == 0) err = err.substr(prefix.size());
  return err;
}

// RTLD_LOCAL: the symbols stay ours, never interposing on a CUDA another module of the process loaded
// (a Python interpreter embedded in the same process, say).
void* OpenOne(const std::string& c, std::string* path, std::string* err) {
  dlerror();
  void* lib = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    *err = OpenError(c);
    return nullptr;
  }
  // A bare name was found through the system's search path: report the file it resolved to.
  struct link_map* lm = nullptr;
  *path = dlinfo(lib, RTLD_DI_LINKMAP, &lm) == 0 && lm != nullptr && lm->l_name != nullptr && lm->l_name[0] != 0
              ? std::string(lm->l_name)
              : c;
  return lib;
}

void* Open(const std::vector<std::string>& candidates, std::vector<TriedPath>* tried, std::string* path) {
  for (const auto& c : candidates) {
    std::string err;
    void* lib = OpenOne(c, path, &err);
    tried->push_back({c, err});
    if (lib != nullptr) return lib;
  }
  return nullptr;
}

}  // namespace

GpuLoader& GpuLoader::Get() {
  static GpuLoader* loader = new GpuLoader();  // never destroyed: the libraries stay loaded
  return *loader;
}

void GpuLoader::Load(const std::vector<std::string>& cudart, const std::vector<std::string>& nccl) {
  std::lock_guard<std::mutex> lock(mu_);
  if (attempted_) return;
  attempted_ = true;
  LoadCuda(cudart);
  LoadNccl(nccl);
}

// Each candidate that loads is asked for its devices; one this driver cannot run (too new for it, or
// a driver/runtime combination it refuses) is noted in `tried` with why, and the search goes on, so a
// libcudart.so.13 with a CUDA 12 driver does not hide a usable libcudart.so.12 later in the list. The
// first such failure is what status() reports when no candidate works (its `tried` error is then
// empty, as for the runtime in use).
void GpuLoader::LoadCuda(const std::vector<std::string>& candidates) {
  struct Failure {
    std::string code, reason, path;
    int runtime = 0, driver = 0;
    size_t tried = 0;
  };
  std::vector<Failure> failed;  // runtimes that loaded but cannot run here
  for (const auto& c : candidates) {
    std::string path, err;
    void* lib = OpenOne(c, &path, &err);
    if (lib == nullptr) {
      cudartTried_.push_back({c, err});
      continue;
    }
    const bool goOn = ProbeCuda(lib, path);
    cudartTried_.push_back({c, cudaUsable() ? "" : cudaReason_});
    cudartPath_ = path;
    if (cudaUsable()) return;
    failed.push_back({cudaCode_, cudaReason_, path, runtimeVersion_, driverVersion_, cudartTried_.size() - 1});
    // A CUDA runtime is never dlclose'd: it registers exit handlers.
    if (!goOn) break;
    cuda = CudaApi();
  }
  if (!failed.empty()) {
    const Failure& f = failed.front();
    cudaCode_ = f.code;
    cudaReason_ = f.reason;
    cudartPath_ = f.path;
    runtimeVersion_ = f.runtime;
    driverVersion_ = f.driver;
    cudartTried_[f.tried].error.clear();  // the runtime status() describes: its reason is the answer
    return;
  }
  cudaCode_ = "ERR_CUDART_NOT_FOUND";
  cudaReason_ = "the CUDA runtime (libcudart.so.13 or .12) was not found. Tried:" + Join(cudartTried_) +
                "\nInstall the CUDA toolkit or the nvidia-cuda-runtime Python wheel, or set MPI4NODE_CUDART "
                "to the library's path.";
}

bool GpuLoader::ProbeCuda(void* lib, const std::string& path) {
  CudaApi& c = cuda;
  const char* const names[] = {
      "cudaGetDeviceCount", "cudaSetDevice", "cudaGetDevice", "cudaMalloc", "cudaFree", "cudaMallocHost",
      "cudaFreeHost", "cudaMemcpy", "cudaMemcpyAsync", "cudaMemsetAsync", "cudaStreamCreateWithFlags",
      "cudaStreamDestroy", "cudaStreamSynchronize", "cudaStreamWaitEvent", "cudaEventCreateWithFlags",
      "cudaEventRecord", "cudaEventQuery", "cudaEventSynchronize", "cudaEventDestroy", "cudaGetErrorString",
      "cudaGetErrorName", "cudaGetLastError", "cudaRuntimeGetVersion", "cudaDriverGetVersion",
      "cudaPointerGetAttributes"};
  void** const slots[] = {
      (void**)&c.GetDeviceCount, (void**)&c.SetDevice, (void**)&c.GetDevice, (void**)&c.Malloc,
      (void**)&c.Free, (void**)&c.MallocHost, (void**)&c.FreeHost, (void**)&c.Memcpy,
      (void**)&c.MemcpyAsync, (void**)&c.MemsetAsync, (void**)&c.StreamCreateWithFlags,
      (void**)&c.StreamDestroy, (void**)&c.StreamSynchronize, (void**)&c.StreamWaitEvent,
      (void**)&c.EventCreateWithFlags, (void**)&c.EventRecord, (void**)&c.EventQuery,
      (void**)&c.EventSynchronize, (void**)&c.EventDestroy, (void**)&c.GetErrorString,
      (void**)&c.GetErrorName, (void**)&c.GetLastError, (void**)&c.RuntimeGetVersion,
      (void**)&c.DriverGetVersion, (void**)&c.PointerGetAttributes};
  std::string missing = Resolve(lib, names, slots);
  if (!missing.empty()) {
    cudaCode_ = "ERR_CUDART_SYMBOLS";
    cudaReason_ = path + " is not a usable CUDA runtime: it has no " + missing;
    return true;
  }
  c.RuntimeGetVersion(&runtimeVersion_);
  // 0 means no driver at all; a driver older than the runtime fails with cudaErrorInsufficientDriver.
  c.DriverGetVersion(&driverVersion_);
  int count = 0;
  const cudaError_t rc = c.GetDeviceCount(&count);
  const std::string runtime = "CUDA runtime " + VersionText(runtimeVersion_) + " (" + path + ")";
  const std::string named = std::string(c.GetErrorName(rc)) + ": " + c.GetErrorString(rc);
  bool goOn = false;
  if ((rc == cudaErrorInsufficientDriver && driverVersion_ == 0) || rc == cudaErrorStubLibrary) {
    cudaCode_ = "ERR_NO_DRIVER";
    cudaReason_ = runtime + " loaded, but no NVIDIA driver is installed" +
                  (rc == cudaErrorStubLibrary ? " (the libcuda.so.1 found is the toolkit's stub; "
                                              : " (cudaDriverGetVersion reports 0; ") +
                  "cudaGetDeviceCount: " + named + ")";
  } else if (rc == cudaErrorInsufficientDriver) {
    cudaCode_ = "ERR_DRIVER_TOO_OLD";
    cudaReason_ = runtime + " loaded, but the NVIDIA driver supports CUDA only up to " +
                  VersionText(driverVersion_) + ": " + c.GetErrorString(rc);
    goOn = true;
  } else if (rc == cudaErrorSystemDriverMismatch || rc == cudaErrorCompatNotSupportedOnDevice) {
    cudaCode_ = "ERR_DRIVER_MISMATCH";
    cudaReason_ = runtime + " loaded, but the driver (" + VersionText(driverVersion_) +
                  ") refuses this runtime: " + named;
    goOn = true;
  } else if (rc == cudaErrorNoDevice || (rc == cudaSuccess && count == 0)) {
    cudaCode_ = "ERR_NO_DEVICE";
    cudaReason_ = runtime + " and driver " + VersionText(driverVersion_) + " loaded, but there is no CUDA device" +
                  (rc == cudaSuccess ? std::string(" (cudaGetDeviceCount returned 0)") : ": " + named);
  } else if (rc != cudaSuccess) {
    cudaCode_ = "ERR_CUDA_INIT";
    cudaReason_ = runtime + " loaded, but cudaGetDeviceCount failed: " + named;
  } else {
    deviceCount_ = count;
    cudaCode_.clear();
    cudaReason_.clear();
  }
  // A failed call leaves a sticky "last error" behind in some runtimes; clear it for later calls.
  c.GetLastError();
  return goOn;
}

void GpuLoader::LoadNccl(const std::vector<std::string>& candidates) {
  void* lib = Open(candidates, &ncclTried_, &ncclPath_);
  if (lib == nullptr) {
    ncclCode_ = "ERR_NCCL_NOT_FOUND";
    ncclReason_ = "NCCL (libnccl.so.2) was not found. Tried:" + Join(ncclTried_) +
                  "\nInstall NCCL (the nvidia-nccl-cu12/cu13 Python wheel or the libnccl2 package), or set "
                  "MPI4NODE_NCCL to the library's path.";
    return;
  }
  NcclApi& n = nccl;
  const char* const names[] = {"ncclGetVersion", "ncclGetUniqueId", "ncclCommInitRank", "ncclCommDestroy",
                               "ncclCommAbort", "ncclCommGetAsyncError", "ncclGetErrorString",
                               "ncclAllReduce", "ncclBroadcast", "ncclReduce", "ncclAllGather",
                               "ncclReduceScatter", "ncclGroupStart", "ncclGroupEnd"};
  void** const slots[] = {(void**)&n.GetVersion, (void**)&n.GetUniqueId, (void**)&n.CommInitRank,
                          (void**)&n.CommDestroy, (void**)&n.CommAbort, (void**)&n.CommGetAsyncError,
                          (void**)&n.GetErrorString, (void**)&n.AllReduce, (void**)&n.Broadcast,
                          (void**)&n.Reduce, (void**)&n.AllGather, (void**)&n.ReduceScatter,
                          (void**)&n.GroupStart, (void**)&n.GroupEnd};
  std::string missing = Resolve(lib, names, slots);
  if (!missing.empty()) {
    ncclCode_ = "ERR_NCCL_SYMBOLS";
    ncclReason_ = ncclPath_ + " is not a usable NCCL: it has no " + missing;
    return;
  }
  // Non-blocking creation arrived in 2.14: without it, creation blocks (no deadline), as status() says.
  n.CommInitRankConfig = reinterpret_cast<ncclCommInitRankConfig_t>(dlsym(lib, "ncclCommInitRankConfig"));
  // Point-to-point arrived in 2.7: optional, refused at use when absent.
  n.Send = reinterpret_cast<ncclSend_t>(dlsym(lib, "ncclSend"));
  n.Recv = reinterpret_cast<ncclRecv_t>(dlsym(lib, "ncclRecv"));
  n.GetVersion(&ncclVersion_);
  ncclCode_.clear();
  ncclReason_.clear();
}

bool GpuLoader::MpiCudaAware(int force, std::string* how) {
  std::lock_guard<std::mutex> lock(mu_);
  if (force == 0 || force == 1) {
    *how = "forced by MPI4NODE_CUDA_AWARE=" + std::to_string(force);
    return force == 1;
  }
  if (cudaAware_ >= 0) {
    *how = cudaAwareHow_;
    return cudaAware_ == 1;
  }
  // The MPI library is a dependency of the addon, loaded without RTLD_GLOBAL: find it through one
  // of its own symbols and look the extensions up there.
  Dl_info info;
  void* lib = nullptr;
  if (dladdr(reinterpret_cast<void*>(&MPI_Init), &info) != 0 && info.dli_fname != nullptr) {
    lib = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  }
  cudaAware_ = 0;
  cudaAwareHow_ = "the MPI library has neither MPIX_Query_cuda_support nor MPIX_GPU_query_support";
  if (lib != nullptr) {
    using OmpiQuery = int (*)();
    using MpichQuery = int (*)(int, int*);
    if (auto q = reinterpret_cast<OmpiQuery>(dlsym(lib, "MPIX_Query_cuda_support"))) {
      cudaAware_ = q() ? 1 : 0;
      cudaAwareHow_ = std::string("MPIX_Query_cuda_support() = ") + (cudaAware_ ? "1" : "0");
    } else if (auto g = reinterpret_cast<MpichQuery>(dlsym(lib, "MPIX_GPU_query_support"))) {
      int supported = 0;
      g(0 /* MPIX_GPU_SUPPORT_CUDA */, &supported);
      cudaAware_ = supported ? 1 : 0;
      cudaAwareHow_ = std::string("MPIX_GPU_query_support(CUDA) = ") + (cudaAware_ ? "1" : "0");
    }
    dlclose(lib);  // drops only the reference RTLD_NOLOAD took
  }
  *how = cudaAwareHow_;
  return cudaAware_ == 1;
}

}  // namespace mpi4node
