// The addon object: one per Node environment (main thread and each worker), holding that
// environment's progress engine and its references to JavaScript objects. MPI itself is process-wide
// (process_state.h). Method bodies live in files named for what they bind: env_calls.cc,
// comm_calls.cc, p2p_calls.cc, request_calls.cc.
#pragma once

#include <mpi.h>
#include <napi.h>

#include <thread>

#include "core/buffers.h"
#include "progress/engine.h"
#include "core/process_state.h"

namespace mpi4node {

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);
  ~Addon();

  // Throws the JavaScript MpiError for an MPI (or library) error code.
  [[noreturn]] void ThrowMpi(Napi::Env env, int code);
  Napi::Value MakeError(Napi::Env env, int code);
  // MPI_SUCCESS when MPI may be called from this thread now, else a library error code.
  int UsableCode();
  // Throws the MpiError unless MPI may be called from this thread now: one branch once it may.
  void EnsureUsable(Napi::Env env) {
    if (!usable_ || ProcessState::Get().finalized()) CheckUsable(env);
  }
  bool usable() const { return usable_; }
  void WriteSyncStatus(const MPI_Status& st, int rc) { FillStatus(st, rc, true, status_); }
  Engine* engine() { return engine_; }
  double* status() { return status_; }

 private:
  // env_calls.cc
  Napi::Value Setup(const Napi::CallbackInfo& info);
  Napi::Value InitMpi(const Napi::CallbackInfo& info);
  Napi::Value Finalize(const Napi::CallbackInfo& info);
  Napi::Value Initialized(const Napi::CallbackInfo& info);
  Napi::Value Finalized(const Napi::CallbackInfo& info);
  Napi::Value QueryThread(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value Wtick(const Napi::CallbackInfo& info);
  Napi::Value Version(const Napi::CallbackInfo& info);
  Napi::Value LibraryVersion(const Napi::CallbackInfo& info);
  Napi::Value ProcessorName(const Napi::CallbackInfo& info);
  Napi::Value Constants(const Napi::CallbackInfo& info);
  Napi::Value TagUpperBound(const Napi::CallbackInfo& info);
  Napi::Value Pending(const Napi::CallbackInfo& info);
  Napi::Value ErrorFor(const Napi::CallbackInfo& info);

  // comm_calls.cc
  Napi::Value CommRank(const Napi::CallbackInfo& info);
  Napi::Value CommSize(const Napi::CallbackInfo& info);
  Napi::Value CommDup(const Napi::CallbackInfo& info);
  Napi::Value CommSplit(const Napi::CallbackInfo& info);
  Napi::Value CommSplitShared(const Napi::CallbackInfo& info);
  Napi::Value CommCompare(const Napi::CallbackInfo& info);
  Napi::Value CommFree(const Napi::CallbackInfo& info);

  // p2p_calls.cc
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Recv(const Napi::CallbackInfo& info);
  Napi::Value Sendrecv(const Napi::CallbackInfo& info);
  Napi::Value SendrecvReplace(const Napi::CallbackInfo& info);
  Napi::Value Probe(const Napi::CallbackInfo& info);
  Napi::Value Iprobe(const Napi::CallbackInfo& info);
  Napi::Value Mprobe(const Napi::CallbackInfo& info);
  Napi::Value Mrecv(const Napi::CallbackInfo& info);

  // request_calls.cc
  Napi::Value Improbe(const Napi::CallbackInfo& info);
  Napi::Value Wait(const Napi::CallbackInfo& info);
  Napi::Value Test(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);

  // parts_calls.cc, topo_calls.cc
  Napi::Value SendParts(const Napi::CallbackInfo& info);
  Napi::Value RecvMessage(const Napi::CallbackInfo& info);
  Napi::Value AllocBuffer(const Napi::CallbackInfo& info);
  Napi::Value DistGraphCreate(const Napi::CallbackInfo& info);
  Napi::Value DistGraphNeighbors(const Napi::CallbackInfo& info);
  Napi::Value TopoAgree(const Napi::CallbackInfo& info);
  Napi::Value NeighborAllgather(const Napi::CallbackInfo& info);
  Napi::Value NeighborAlltoall(const Napi::CallbackInfo& info);

  // fast_calls.cc: the hot path. Arguments arrive in the shared `args` Int32Array (FastArg layout) and
  // buffers through a small registered cache, so a call costs no typed-array lookup and no value
  // conversions: raw N-API callbacks, not node-addon-api wrappers.
  Napi::Value RegisterBuffer(const Napi::CallbackInfo& info);
  void DefineFastCalls(Napi::Env env, Napi::Object exports);
  // The fast calls find their Addon without napi_get_cb_info while it is the process's only one.
  static void NoteCreated(Addon* addon);
  static void NoteDestroyed(Addon* addon);

  // coll_calls.cc: every collective, blocking or nonblocking by its last argument.
  Napi::Value Bcast(const Napi::CallbackInfo& info);
  Napi::Value Reduce(const Napi::CallbackInfo& info);
  Napi::Value Allreduce(const Napi::CallbackInfo& info);
  Napi::Value Scan(const Napi::CallbackInfo& info);
  Napi::Value Exscan(const Napi::CallbackInfo& info);
  Napi::Value ReduceScatterBlock(const Napi::CallbackInfo& info);
  Napi::Value ReduceScatter(const Napi::CallbackInfo& info);
  Napi::Value Gather(const Napi::CallbackInfo& info);
  Napi::Value Scatter(const Napi::CallbackInfo& info);
  Napi::Value Allgather(const Napi::CallbackInfo& info);
  Napi::Value Alltoall(const Napi::CallbackInfo& info);
  Napi::Value Gatherv(const Napi::CallbackInfo& info);
  Napi::Value Scatterv(const Napi::CallbackInfo& info);
  Napi::Value Allgatherv(const Napi::CallbackInfo& info);
  Napi::Value Alltoallv(const Napi::CallbackInfo& info);
  Napi::Value Divide(const Napi::CallbackInfo& info);
  Napi::Value ReduceAll(const Napi::CallbackInfo& info, int which);
  Napi::Value AllToAllLike(const Napi::CallbackInfo& info, int which);

  // gpu_*.cc: CUDA and NCCL loaded at run time; device buffers, NCCL communicators and device messages
  // over MPI, exported as `gpu` by GpuEnv (gpu_env.h), which uses the argument helpers below.
  friend class GpuEnv;

  void CheckUsable(Napi::Env env);
  static void AsyncCleanup(napi_async_cleanup_hook_handle handle, void* arg);

  Engine* engine_ = nullptr;
  napi_async_cleanup_hook_handle cleanupHandle_ = nullptr;
  std::thread::id thread_;
  bool usable_ = false;  // MPI initialised and this thread may call it
  Napi::FunctionReference mpiError_;
  Napi::Reference<Napi::Float64Array> statusRef_;
  Napi::Reference<Napi::Int32Array> doneSlotsRef_;
  Napi::Reference<Napi::Float64Array> doneStatusRef_;
  double* status_ = nullptr;  // status record of the last synchronous call (StatusField layout)

 public:
  // Layout of the shared argument slab written by lib/addon/fastpath.ts.
  // kResult is written back: the engine slot of an isend/irecv, or -1 when it completed at once
  // (returning it as a JS number would cost a handle scope entry per call).
  enum FastArg { kBufSlot = 0, kPeer, kTagArg, kCommArg, kFlags, kResult, kFastArgs };
  static constexpr int32_t kDeclined = -2;  // kResult of a fast call that left the work to the general path
  static constexpr int kFastBufs = 8;
  Napi::Reference<Napi::Int32Array> argsRef_;
  int32_t* args_ = nullptr;
  // wtime() leaves MPI_Wtime here: returning a double would allocate a heap number per call.
  Napi::Reference<Napi::Float64Array> clockRef_;
  double* clock_ = nullptr;
  struct BufView fastBufs_[kFastBufs];
  Napi::ObjectReference fastBufRefs_;  // keeps registered arrays alive while cached
};

}  // namespace mpi4node
