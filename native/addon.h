// The addon object: one per Node environment (main thread and each worker), holding that
// environment's progress engine and its references to JavaScript objects. MPI itself is process-wide
// (core/process_state.h). The bindings are methods of this class whose bodies live in files named for
// the concept they bind, each of which also defines its part of the exports (core/exports.h):
// mpi/env.cc, mpi/comm.cc, mpi/p2p.cc, mpi/coll.cc, mpi/topo.cc, channel/parts.cc and the hot path,
// mpi/fast.cc. The GPU bindings are exported as `gpu` by GpuEnv (gpu/env.h).
#pragma once

#include <mpi.h>
#include <napi.h>

#include "core/buffers.h"
#include "core/process_state.h"
#include "progress/engine.h"

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
  void WriteSyncStatus(const MPI_Status& st, int rc) { FillStatus(st, rc, true, false, status_); }
  Engine* engine() { return engine_; }
  double* status() { return status_; }

 private:
  // Each binding file's part of the exports; the constructor calls them all.
  void DefineEnv(Napi::Env env, Napi::Object exports);
  void DefineComm(Napi::Env env, Napi::Object exports);
  void DefineP2p(Napi::Env env, Napi::Object exports);
  void DefineColl(Napi::Env env, Napi::Object exports);
  void DefineTopo(Napi::Env env, Napi::Object exports);
  void DefineParts(Napi::Env env, Napi::Object exports);
  void DefineFast(Napi::Env env, Napi::Object exports);

  // mpi/env.cc
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

  // mpi/comm.cc
  Napi::Value CommRank(const Napi::CallbackInfo& info);
  Napi::Value CommSize(const Napi::CallbackInfo& info);
  Napi::Value CommDup(const Napi::CallbackInfo& info);
  Napi::Value CommSplit(const Napi::CallbackInfo& info);
  Napi::Value CommSplitShared(const Napi::CallbackInfo& info);
  Napi::Value CommCompare(const Napi::CallbackInfo& info);
  Napi::Value CommFree(const Napi::CallbackInfo& info);

  // mpi/p2p.cc: point-to-point, blocking or nonblocking by the last argument, and requests.
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Recv(const Napi::CallbackInfo& info);
  Napi::Value Sendrecv(const Napi::CallbackInfo& info);
  Napi::Value SendrecvReplace(const Napi::CallbackInfo& info);
  Napi::Value Probe(const Napi::CallbackInfo& info);
  Napi::Value Iprobe(const Napi::CallbackInfo& info);
  Napi::Value Mprobe(const Napi::CallbackInfo& info);
  Napi::Value Improbe(const Napi::CallbackInfo& info);
  Napi::Value Mrecv(const Napi::CallbackInfo& info);
  Napi::Value Wait(const Napi::CallbackInfo& info);
  Napi::Value Test(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Progress(const Napi::CallbackInfo& info);
  // Persistent requests (MPI_Send_init & co.), started one at a time or together (MPI_Startall).
  Napi::Value SendInit(const Napi::CallbackInfo& info);
  Napi::Value RecvInit(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value StartAll(const Napi::CallbackInfo& info);
  Napi::Value RequestFree(const Napi::CallbackInfo& info);
  // waitAll, waitAny, waitSome, testAll, testAny, testSome over engine slots (MPI_Waitall & co.).
  enum CompletionKind { kWaitAll, kWaitAny, kWaitSome, kTestAll, kTestAny, kTestSome };
  Napi::Value Complete(const Napi::CallbackInfo& info, int which);

  // mpi/coll.cc: every collective, blocking or nonblocking by the last argument.
  Napi::Value Bcast(const Napi::CallbackInfo& info);
  Napi::Value Reduce(const Napi::CallbackInfo& info);
  Napi::Value Allgatherv(const Napi::CallbackInfo& info);
  Napi::Value Alltoallv(const Napi::CallbackInfo& info);
  Napi::Value Divide(const Napi::CallbackInfo& info);
  Napi::Value Quirks(const Napi::CallbackInfo& info);
  // Persistent collectives (MPI-4; Open MPI 4's MPIX_ extension): allreduceInit, bcastInit, barrierInit.
  Napi::Value CollInit(const Napi::CallbackInfo& info, int which);
  // Bindings that serve several exports, told apart by `which` (registered as Method<M, which>):
  // allreduce, scan, exscan, reduceScatterBlock, reduceScatter; gather, scatter; gatherv, scatterv; allgather,
  // alltoall and the neighbour collectives.
  Napi::Value ReduceAll(const Napi::CallbackInfo& info, int which);
  Napi::Value Rooted(const Napi::CallbackInfo& info, int which);
  Napi::Value RootedV(const Napi::CallbackInfo& info, int which);
  Napi::Value AllToAllLike(const Napi::CallbackInfo& info, int which);

  // mpi/topo.cc
  Napi::Value DistGraphCreate(const Napi::CallbackInfo& info);
  Napi::Value DistGraphNeighbors(const Napi::CallbackInfo& info);
  Napi::Value TopoAgree(const Napi::CallbackInfo& info);

  // channel/parts.cc
  Napi::Value SendParts(const Napi::CallbackInfo& info);
  Napi::Value RecvMessage(const Napi::CallbackInfo& info);
  Napi::Value AllocBuffer(const Napi::CallbackInfo& info);

  // mpi/fast.cc: the hot path. Arguments arrive in the shared `args` Int32Array (FastArg layout) and
  // buffers through a small registered cache, so a call costs no typed-array lookup and no value
  // conversions: raw N-API callbacks, not node-addon-api wrappers.
  Napi::Value RegisterBuffer(const Napi::CallbackInfo& info);
  // The fast calls find their Addon without napi_get_cb_info while it is the process's only one.
  static void NoteCreated(Addon* addon);
  static void NoteDestroyed(Addon* addon);

  void CheckUsable(Napi::Env env);
  static void AsyncCleanup(napi_async_cleanup_hook_handle handle, void* arg);

  Engine* engine_ = nullptr;
  napi_async_cleanup_hook_handle cleanupHandle_ = nullptr;
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
