// GPU state of one Node environment (main thread or a worker): device allocations, pooled CUDA events
// and pinned host chunks, NCCL communicators, and the operations in flight with the poller that
// completes them. Bindings are exported as `exports.gpu` (lib/addon/native.ts, NativeGpu); their bodies
// live in gpu/env.cc (loading, status, devices, completion), gpu/memory.cc, gpu/nccl.cc and
// gpu/staging.cc.
//
// Completion: an operation is a CUDA event recorded after its work, or a host-driven transfer (a
// pipelined chunk loop) that steps on CUDA events and MPI requests. The poller the MPI engine uses
// (progress/poller.h) sweeps them, so waiting on a long kernel costs a few percent of a core, not all
// of it, and all completions of one sweep reach JavaScript in one callback. Nothing here ever blocks
// the event loop except the explicitly blocking calls (wait, the blocking copies).
#pragma once

#include <mpi.h>
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/process_state.h"
#include "gpu/loader.h"
#include "progress/poller.h"

namespace mpi4node {

class Addon;
class Args;
class GpuEnv;

// Error kinds of completion records and thrown errors; lib/gpu/errors.ts mirrors them.
enum GpuErrKind : int {
  kGpuOk = 0,
  kGpuCuda = 1,        // code: cudaError_t
  kGpuNccl = 2,        // code: ncclResult_t
  kGpuMpi = 3,         // code: MPI error code
  kGpuTimeout = 4,     // code: milliseconds of the deadline; the communicator was aborted
  kGpuNcclAsync = 5,   // code: ncclResult_t from ncclCommGetAsyncError; the communicator was aborted
  kGpuAborted = 6,     // code: the kind that made the communicator abort (or 0: abort()/dispose())
  kGpuUsage = 7,       // code: GpuUsage below
  kGpuInitTimeout = 8,      // code: ms; creation: not every rank joined the MPI bootstrap in time
  kGpuInitTimeoutNccl = 9,  // code: ms; creation: NCCL's own set-up was still in progress (aborted)
};
// The unique id rank 0 broadcasts is replaced by this when rank 0 gave up before the others joined
// (they then fail with kGpuAborted, code kGpuInitTimeout, instead of waiting for a rank that left).
constexpr int kBootAbandoned = -1;
enum GpuUsage : int { kUsageBadHandle = 1, kUsageNoNcclP2p = 2, kUsageBadMessage = 3 };

struct GpuErr {
  int kind = kGpuOk;
  int code = 0;
  bool ok() const { return kind == kGpuOk; }
  static GpuErr Cuda(cudaError_t rc) { return {kGpuCuda, rc}; }
};

// One completion record (Float64Array fields), shared with lib/gpu/ops.ts.
enum GpuDoneField { kGdKind = 0, kGdCode, kGdSource, kGdTag, kGdBytes, kGdFields };

struct EventBox {
  cudaEvent_t e = nullptr;
  int device = 0;  // an event is recorded only on streams of the device it was made on
};
// Events are shared by an operation and the buffers it touched (the last work on a buffer, which
// later work on another stream waits for); the last owner returns the event to the pool.
using EventRef = std::shared_ptr<EventBox>;

struct DeviceMem {
  void* ptr = nullptr;
  size_t bytes = 0;
  int device = 0;
  bool live = false;
  EventRef last;  // recorded after the last stream work that read or wrote this memory
};

struct NcclEntry {
  ncclComm_t comm = nullptr;
  MPI_Comm mpi = MPI_COMM_NULL;  // private duplicate: bootstrap and debug checks
  cudaStream_t stream = nullptr;
  int device = 0, rank = 0, size = 0;
  bool live = false;
  bool nonblocking = false;  // made with ncclCommInitRankConfig(blocking = 0): calls may return ncclInProgress
  bool aborted = false;
  int abortKind = 0;  // why it was aborted (GpuErrKind), 0 for abort()/dispose()
  int pending = 0;    // operations in flight
  // Signatures of debug-mode sends still on their way to the peer (MPI_Isend buffers).
  std::vector<std::pair<MPI_Request, std::vector<double>>> checks;
};

// A pinned host chunk from the pool.
struct Pinned {
  void* ptr = nullptr;
  size_t bytes = 0;
};

// A host-driven operation: staged MPI transfers and chunked Promise copies. Step() does what can be
// done now without blocking and returns true once finished (err says how; rec gets source, tag,
// bytes). Abandon() releases what it holds without finishing (environment teardown).
class Transfer {
 public:
  virtual ~Transfer() = default;
  virtual bool Step(GpuEnv& g, GpuErr* err, double* rec) = 0;
  virtual void Abandon(GpuEnv& g) = 0;
  virtual bool usesMpi() const = 0;
  // True when, finished from the caller's point of view (it failed), the transfer still has MPI work
  // of its own to see through (a collective that cannot be cancelled): the environment keeps stepping
  // it until Step returns true again.
  virtual bool Lingers() const { return false; }
  // Staged receives match their first message by matched probe; GpuEnv::MatchAll drives that in
  // posting order, so receives match as MPI's own would even when a later one is waited for first.
  virtual bool Probing() const { return false; }
  virtual bool Probe(MPI_Message* msg, MPI_Status* st) { return false; }
  virtual MPI_Comm probeComm() const { return MPI_COMM_NULL; }
  virtual bool Accepts(MPI_Comm comm, const MPI_Status& st) const { return false; }
  virtual void Accept(GpuEnv& g, MPI_Message msg, const MPI_Status& st) {}

 protected:
  // Ends Step with error `e`, releasing what the transfer holds.
  bool Fail(GpuEnv& g, GpuErr e, GpuErr* err) {
    *err = e;
    Abandon(g);
    return true;
  }
};

// Counts an MPI transfer among the requests that keep MPI from being finalised at exit.
class PendingMpi {
 public:
  PendingMpi() { ProcessState::Get().pending.fetch_add(1, std::memory_order_relaxed); }
  ~PendingMpi() { ProcessState::Get().pending.fetch_sub(1, std::memory_order_relaxed); }
  PendingMpi(const PendingMpi&) = delete;
  PendingMpi& operator=(const PendingMpi&) = delete;
};

struct GpuOp {
  bool live = false;
  bool deferred = false;   // inside an open NCCL group: its event is recorded by groupEnd
  int nccl = -1;           // NCCL communicator (timeouts, asynchronous errors)
  uint64_t timeoutNs = 0;  // 0: none; the deadline starts when the work is launched
  uint64_t deadline = 0;
  EventRef ev;
  GpuErr failed;           // set when the launch failed after the operation was accepted (groupEnd)
  std::unique_ptr<Transfer> xfer;
  std::vector<int> mems;  // buffers whose `last` becomes ev once it is recorded (deferred ops)
};

class GpuEnv final : Poller::Source {
 public:
  static void Define(Addon* addon, Napi::Env env, Napi::Object exports);

  // ---- helpers for the binding files and transfers ----
  CudaApi& cuda() { return GpuLoader::Get().cuda; }
  NcclApi& nccl() { return GpuLoader::Get().nccl; }
  [[noreturn]] void Throw(Napi::Env env, GpuErr e);
  void Check(Napi::Env env, cudaError_t rc) {
    if (rc != cudaSuccess) Throw(env, GpuErr::Cuda(rc));
  }
  void RequireCuda(Napi::Env env);
  void RequireNccl(Napi::Env env);
  // The live entry `h` of a table (device buffers, NCCL communicators, operations); a disposed or
  // unknown one throws the usage error kUsageBadHandle.
  template <typename T>
  T& Live(Napi::Env env, std::vector<T>& table, int h) {
    if (h < 0 || h >= static_cast<int>(table.size()) || !table[h].live) Throw(env, {kGpuUsage, kUsageBadHandle});
    return table[h];
  }
  DeviceMem& Mem(Napi::Env env, int h) { return Live(env, mems_, h); }
  NcclEntry& Nccl(Napi::Env env, int h) { return Live(env, nccls_, h); }

  // A pooled event of `device` (events and streams must share a device).
  EventRef NewEvent(int device, GpuErr* err);
  // Records a fresh event on `s`, a stream of `device`.
  EventRef Record(cudaStream_t s, int device, GpuErr* err);
  // Makes `s` wait for the last work on `m` (another stream's); no host wait.
  cudaError_t After(cudaStream_t s, const DeviceMem& m);
  cudaStream_t CopyStream(int device, GpuErr* err);
  Pinned TakePinned(size_t bytes, GpuErr* err);
  void GivePinned(Pinned p);
  // cudaFree and cudaFreeHost may wait for the whole device (cuda_runtime_api.h), and a collective in
  // flight may wait for a peer that waits for this rank: while any NCCL operation is pending the frees
  // are queued and done once none is.
  void FreeDevice(void* p);
  void FreeHost(void* p);
  int AddOp(GpuOp op);  // returns its id and arms the poller
  // Gives every message that has arrived for a waiting staged receive to the EARLIEST-posted receive
  // that matches it (a later one may probe first: a message arriving in between must not go to it).
  void MatchAll();
  void Arm() { poller_.Arm(); }
  // Aborts an NCCL communicator; every operation pending on it then fails with kGpuAborted (the one
  // that caused it with `why`).
  void AbortNccl(int id, int why);
  // A new communicator entry; returns its id.
  int AddNccl(NcclEntry n);
  // On a non-blocking communicator an NCCL call may return ncclInProgress while NCCL enqueues the work
  // from a thread of its own: waits (bounded by `timeoutNs`, 0 = none) until it is enqueued, so an
  // event recorded afterwards really follows the work. Aborts the communicator on failure.
  GpuErr WaitLaunch(int id, uint64_t timeoutNs);

  Addon* addon() { return addon_; }
  std::vector<DeviceMem>& mems() { return mems_; }
  std::vector<NcclEntry>& nccls() { return nccls_; }
  double* status() { return status_; }
  int groupDepth = 0;
  std::vector<int> deferredOps;

 private:
  GpuEnv(Addon* addon, napi_env env, uv_loop_t* loop);
  ~GpuEnv();
  static void Cleanup(napi_async_cleanup_hook_handle handle, void* arg);
  void Shutdown();

  // Each binding file's part of `exports.gpu` (core/exports.h); Define calls them all.
  void DefineEnv(Napi::Env env, Napi::Object gpu);
  void DefineMemory(Napi::Env env, Napi::Object gpu);
  void DefineNccl(Napi::Env env, Napi::Object gpu);
  void DefineStaging(Napi::Env env, Napi::Object gpu);

  // gpu/env.cc
  Napi::Value Setup(const Napi::CallbackInfo& info);
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Status(const Napi::CallbackInfo& info);
  Napi::Value ErrorText(const Napi::CallbackInfo& info);
  Napi::Value SetDevice(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  Napi::Value SharedLocalRank(const Napi::CallbackInfo& info);
  Napi::Value CudaAware(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Wait(const Napi::CallbackInfo& info);
  Napi::Value Test(const Napi::CallbackInfo& info);
  // gpu/memory.cc
  Napi::Value Alloc(const Napi::CallbackInfo& info);
  Napi::Value Free(const Napi::CallbackInfo& info);
  Napi::Value CopyIn(const Napi::CallbackInfo& info);
  Napi::Value CopyOut(const Napi::CallbackInfo& info);
  Napi::Value CopyDevice(const Napi::CallbackInfo& info);
  Napi::Value CopyDeviceAsync(const Napi::CallbackInfo& info);
  Napi::Value CopyInAsync(const Napi::CallbackInfo& info);
  Napi::Value CopyOutAsync(const Napi::CallbackInfo& info);
  Napi::Value Memset(const Napi::CallbackInfo& info);
  Napi::Value PointerInfo(const Napi::CallbackInfo& info);
  // gpu/nccl.cc
  Napi::Value NcclCreate(const Napi::CallbackInfo& info);
  Napi::Value NcclInit(const Napi::CallbackInfo& info);
  Napi::Value NcclInfo(const Napi::CallbackInfo& info);
  Napi::Value NcclDestroy(const Napi::CallbackInfo& info);
  Napi::Value NcclAbort(const Napi::CallbackInfo& info);
  Napi::Value NcclOp(const Napi::CallbackInfo& info);
  Napi::Value NcclGroupStart(const Napi::CallbackInfo& info);
  Napi::Value NcclGroupEnd(const Napi::CallbackInfo& info);
  Napi::Value NcclCheck(const Napi::CallbackInfo& info);
  Napi::Value NcclCheckPeer(const Napi::CallbackInfo& info);
  // gpu/staging.cc
  Napi::Value Isend(const Napi::CallbackInfo& info);
  Napi::Value Irecv(const Napi::CallbackInfo& info);
  Napi::Value PostMessage(const Args& a, bool isSend);

  // Completion (gpu/env.cc).
  bool StepOp(int id, GpuErr* err, double* rec);
  // Steps operation `id` until it is done (`block`) or once; when done, its record goes to the status
  // buffer, the operation is finished and the result is true.
  bool Settle(int id, bool block);
  void FinishOp(int id);
  // Poller::Source: steps every operation once, in posting order, writing completions to the sink.
  int Sweep() override;
  bool Pending() const override;

  Addon* addon_;
  napi_async_cleanup_hook_handle cleanup_ = nullptr;
  Poller poller_;

  std::vector<DeviceMem> mems_;
  std::vector<int> freeMems_;
  std::vector<NcclEntry> nccls_;
  std::vector<GpuOp> ops_;
  std::vector<int> freeOps_;
  std::vector<int> order_;  // live operation ids in posting order: sweeps and matching go in this order
  std::vector<int> sweep_;
  std::vector<int> blocked_;  // NCCL communicators whose oldest operation is not done (this sweep)
  int liveOps_ = 0;
  int ncclOps_ = 0;  // operations pending on NCCL communicators
  std::vector<std::unique_ptr<Transfer>> lingering_;
  std::vector<std::pair<void*, bool>> deferredFrees_;  // (pointer, pinned host memory)
  void FlushFrees();
  std::vector<std::vector<cudaEvent_t>> eventPools_;  // per device
  int eventsCreated_ = 0;
  std::vector<Pinned> pinnedPool_;
  size_t pinnedBytes_ = 0;
  std::vector<cudaStream_t> copyStreams_;  // per device

  Napi::FunctionReference makeError_;
  Napi::Reference<Napi::Int32Array> doneIdsRef_;
  Napi::Reference<Napi::Float64Array> doneRecRef_;
  Napi::Reference<Napi::Float64Array> statusRef_;
  int32_t* doneIds_ = nullptr;
  double* doneRec_ = nullptr;
  double* status_ = nullptr;  // record of the last blocking wait
  int capacity_ = 0;
};

// Makes `device` current for the life of the guard (buffers remember the device they live on).
class DeviceGuard {
 public:
  DeviceGuard(CudaApi& c, int device) : c_(c) {
    c_.GetDevice(&prev_);
    if (prev_ != device) c_.SetDevice(device);
    else prev_ = -1;
  }
  ~DeviceGuard() {
    if (prev_ >= 0) c_.SetDevice(prev_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  CudaApi& c_;
  int prev_ = -1;
};

// Throws unless [offset, offset + bytes) lies within m.
inline void CheckRange(Napi::Env env, const DeviceMem& m, size_t offset, size_t bytes) {
  if (offset > m.bytes || bytes > m.bytes - offset) {
    throw Napi::RangeError::New(env, "internal: device range out of bounds");
  }
}

// The message for an error of kind `kind` (GpuErrKind) and code `code`.
std::string GpuErrorText(int kind, int code);

// Transfers (gpu/staging.cc), also used by the chunked Promise copies of gpu/memory.cc. The copy is
// ordered after the stream work already issued on the buffer; err says when that failed.
std::unique_ptr<Transfer> MakeHostCopy(GpuEnv& g, int mem, size_t offset, void* host, size_t bytes, bool toDevice,
                                       size_t chunk, GpuErr* err);

}  // namespace mpi4node
