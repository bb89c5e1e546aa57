// The addon object: one per Node environment (main thread and each worker), holding that
// environment's progress engine and its references to JavaScript objects. MPI itself is process-wide
// (core/process_state.h). The bindings are methods of this class whose bodies live in files named for
// the concept they bind, each of which also defines its part of the exports (core/exports.h):
// mpi/env.cc, mpi/comm.cc, mpi/p2p.cc, mpi/coll.cc, mpi/half.cc, mpi/win.cc, mpi/topo.cc, mpi/group.cc,
// mpi/info.cc, mpi/io.cc, channel/parts.cc and the hot path, mpi/fast.cc. The GPU bindings are exported as `gpu` by GpuEnv (gpu/env.h).
#pragma once

#include <mpi.h>
#include <napi.h>

#include <cstdint>
#include <vector>

#include "core/buffers.h"
#include "core/handles.h"
#include "core/process_state.h"
#include "progress/engine.h"

namespace mpi4node {

class Args;

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);
  ~Addon();

  // Throws the JavaScript MpiError for an MPI (or library) error code; `comm` is the handle of the
  // communicator the failing call was made on (-1: none), whose error hook sees the error first.
  [[noreturn]] void ThrowMpi(Napi::Env env, int code, int comm = -1);
  // The MpiError for `code`, or what the hook of communicator `comm` (comm.onError) made of it.
  Napi::Value MakeError(Napi::Env env, int code, int comm = -1);
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
  HandleTable<MPI_Info>& infos() { return infos_; }
  HandleTable<MPI_Group>& groups() { return groups_; }
  HandleTable<MPI_File>& files() { return files_; }

  // Error hooks (comm.onError): while any communicator has one, each nonblocking operation notes its
  // communicator by engine slot (slot -1: the one that just completed within its posting call), so
  // that an error found at completion reaches the hook too. Nothing is noted while none has one.
  void NoteOwner(int slot, int comm) {
    if (hooks_ > 0) NoteOwnerSlow(slot, comm);
  }
 private:
  // Each binding file's part of the exports; the constructor calls them all.
  void DefineEnv(Napi::Env env, Napi::Object exports);
  void DefineComm(Napi::Env env, Napi::Object exports);
  void DefineP2p(Napi::Env env, Napi::Object exports);
  void DefineColl(Napi::Env env, Napi::Object exports);
  void DefineTopo(Napi::Env env, Napi::Object exports);
  void DefineGroup(Napi::Env env, Napi::Object exports);
  void DefineInfo(Napi::Env env, Napi::Object exports);
  void DefineIo(Napi::Env env, Napi::Object exports);
  void DefineParts(Napi::Env env, Napi::Object exports);
  void DefineFast(Napi::Env env, Napi::Object exports);
  void DefineHalf(Napi::Env env, Napi::Object exports);
  void DefineWin(Napi::Env env, Napi::Object exports);
  void DefineDynamic(Napi::Env env, Napi::Object exports);
  void DefineMemory(Napi::Env env, Napi::Object exports);

  // core/aligned.cc
  Napi::Value AllocAligned(const Napi::CallbackInfo& info);

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
  Napi::Value SkipFinalize(const Napi::CallbackInfo& info);
  Napi::Value KeptAliveByMpiMs(const Napi::CallbackInfo& info);

  // mpi/comm.cc
  Napi::Value CommRank(const Napi::CallbackInfo& info);
  Napi::Value CommSize(const Napi::CallbackInfo& info);
  Napi::Value CommDup(const Napi::CallbackInfo& info);
  Napi::Value CommSplit(const Napi::CallbackInfo& info);
  Napi::Value CommSplitShared(const Napi::CallbackInfo& info);
  Napi::Value CommCompare(const Napi::CallbackInfo& info);
  Napi::Value CommFree(const Napi::CallbackInfo& info);
  Napi::Value CommSetErrorsFatal(const Napi::CallbackInfo& info);
  Napi::Value SetErrorHook(const Napi::CallbackInfo& info);

  // mpi/dynamic.cc: dynamic processes and intercommunicators.
  Napi::Value CommSpawn(const Napi::CallbackInfo& info);
  Napi::Value CommGetParent(const Napi::CallbackInfo& info);
  Napi::Value OpenPort(const Napi::CallbackInfo& info);
  Napi::Value ClosePort(const Napi::CallbackInfo& info);
  Napi::Value CommAcceptConnect(const Napi::CallbackInfo& info, bool accept);
  Napi::Value IntercommMerge(const Napi::CallbackInfo& info);
  Napi::Value CommRemoteSize(const Napi::CallbackInfo& info);
  Napi::Value CommRemoteGroup(const Napi::CallbackInfo& info);

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
  Napi::Value SetRef(const Napi::CallbackInfo& info);
  Napi::Value Progress(const Napi::CallbackInfo& info);
  // Persistent requests (MPI_Send_init & co.), started one at a time or together (MPI_Startall).
  Napi::Value SendInit(const Napi::CallbackInfo& info);
  Napi::Value RecvInit(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value StartAll(const Napi::CallbackInfo& info);
  Napi::Value RequestFree(const Napi::CallbackInfo& info);
  Napi::Value BatchStatus(const Napi::CallbackInfo& info);
  // waitAll, waitAny, waitSome, testAll, testAny, testSome over engine slots (MPI_Waitall & co.).
  enum CompletionKind { kWaitAll, kWaitAny, kWaitSome, kTestAll, kTestAny, kTestSome };
  Napi::Value Complete(const Napi::CallbackInfo& info, int which);

  // mpi/coll.cc: every collective, blocking or nonblocking by the last argument.
  Napi::Value Bcast(const Napi::CallbackInfo& info);
  Napi::Value Reduce(const Napi::CallbackInfo& info);
  Napi::Value Allgatherv(const Napi::CallbackInfo& info);
  Napi::Value Alltoallv(const Napi::CallbackInfo& info);
  Napi::Value ReduceLocal(const Napi::CallbackInfo& info);
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

  // mpi/half.cc: float16/bfloat16 to and from float32/float64 arrays.
  Napi::Value HalfConvert(const Napi::CallbackInfo& info, int toHalf);

  // mpi/win.cc: one-sided communication. Windows are handles into wins_ (this environment's).
  Napi::Value WinCreate(const Napi::CallbackInfo& info);
  Napi::Value WinAllocate(const Napi::CallbackInfo& info);
  Napi::Value WinSharedQuery(const Napi::CallbackInfo& info);
  Napi::Value WinAttr(const Napi::CallbackInfo& info);
  Napi::Value WinFree(const Napi::CallbackInfo& info);
  enum WinSyncKind { kWinFence, kWinLock, kWinUnlock, kWinLockAll, kWinUnlockAll, kWinFlushAll, kWinSyncMem };
  Napi::Value WinSync(const Napi::CallbackInfo& info, int which);
  Napi::Value WinMove(const Napi::CallbackInfo& info, int get);
  Napi::Value WinAccumulate(const Napi::CallbackInfo& info, int which);
  Napi::Value WinCompareAndSwap(const Napi::CallbackInfo& info);
  Napi::Value WinProgress(const Napi::CallbackInfo& info);
  // The window of handle argument i (MpiError ERR_BAD_HANDLE for a freed or unknown one).
  MPI_Win WinArg(const Args& a, size_t i);
  Napi::Value RegisterWin(const Args& a, MPI_Win win);
  std::vector<MPI_Win> wins_;
  std::vector<int32_t> freeWins_;

  // mpi/topo.cc
  Napi::Value DistGraphCreate(const Napi::CallbackInfo& info);
  Napi::Value DistGraphNeighbors(const Napi::CallbackInfo& info);
  Napi::Value TopoAgree(const Napi::CallbackInfo& info);
  Napi::Value CartCreate(const Napi::CallbackInfo& info);
  Napi::Value CartGet(const Napi::CallbackInfo& info);
  Napi::Value CartRank(const Napi::CallbackInfo& info);
  Napi::Value CartCoords(const Napi::CallbackInfo& info);
  Napi::Value CartShift(const Napi::CallbackInfo& info);
  Napi::Value CartSub(const Napi::CallbackInfo& info);
  Napi::Value DimsCreate(const Napi::CallbackInfo& info);

  // mpi/group.cc: groups (handles of groups_) and communicators made from them.
  Napi::Value CommGroup(const Napi::CallbackInfo& info);
  Napi::Value GroupSize(const Napi::CallbackInfo& info);
  Napi::Value GroupRank(const Napi::CallbackInfo& info);
  Napi::Value GroupRanks(const Napi::CallbackInfo& info, int which);  // incl, excl
  Napi::Value GroupSet(const Napi::CallbackInfo& info, int which);    // union, intersection, difference
  Napi::Value GroupTranslate(const Napi::CallbackInfo& info);
  Napi::Value GroupCompare(const Napi::CallbackInfo& info);
  Napi::Value GroupFree(const Napi::CallbackInfo& info);
  Napi::Value CommCreateGroup(const Napi::CallbackInfo& info);

  // mpi/info.cc: info objects (handles of infos_).
  Napi::Value InfoCreate(const Napi::CallbackInfo& info);
  Napi::Value InfoSet(const Napi::CallbackInfo& info);
  Napi::Value InfoGet(const Napi::CallbackInfo& info);
  Napi::Value InfoDelete(const Napi::CallbackInfo& info);
  Napi::Value InfoKeys(const Napi::CallbackInfo& info);
  Napi::Value InfoDup(const Napi::CallbackInfo& info);
  Napi::Value InfoFree(const Napi::CallbackInfo& info);

  // mpi/io.cc: MPI-IO files (handles of files_); every data access, blocking or nonblocking by its
  // last argument, is one binding told apart by `which`.
  Napi::Value FileOpen(const Napi::CallbackInfo& info);
  Napi::Value FileClose(const Napi::CallbackInfo& info);
  Napi::Value FileDelete(const Napi::CallbackInfo& info);
  Napi::Value FileSetView(const Napi::CallbackInfo& info);
  Napi::Value FileAccess(const Napi::CallbackInfo& info, int which);
  Napi::Value FileSeek(const Napi::CallbackInfo& info);
  Napi::Value FilePosition(const Napi::CallbackInfo& info);
  Napi::Value FileSize(const Napi::CallbackInfo& info, int which);  // get, set, preallocate
  Napi::Value FileSync(const Napi::CallbackInfo& info);
  Napi::Value FileGetInfo(const Napi::CallbackInfo& info);

  // channel/parts.cc
  Napi::Value SendParts(const Napi::CallbackInfo& info);
  Napi::Value RecvMessage(const Napi::CallbackInfo& info);
  Napi::Value AllocBuffer(const Napi::CallbackInfo& info);

  // mpi/fast.cc: the hot path. Arguments arrive in the shared `args` Int32Array (FastArg layout) and
  // buffers through a small registered cache, so a call costs no typed-array lookup and no value
  // conversions: raw N-API callbacks, not node-addon-api wrappers.
  Napi::Value RegisterBuffer(const Napi::CallbackInfo& info);
  Napi::Value RegisterExpected(const Napi::CallbackInfo& info);
  // The fast calls find their Addon without napi_get_cb_info while it is the process's only one.
  static void NoteCreated(Addon* addon);
  static void NoteDestroyed(Addon* addon);

  void CheckUsable(Napi::Env env);
  static void AsyncCleanup(napi_async_cleanup_hook_handle handle, void* arg);
  void NoteOwnerSlow(int slot, int comm);
  int OwnerOf(int slot) const;

  Engine* engine_ = nullptr;
  napi_async_cleanup_hook_handle cleanupHandle_ = nullptr;
  bool usable_ = false;  // MPI initialised and this thread may call it
  Napi::FunctionReference mpiError_;
  Napi::FunctionReference onMpiError_;  // lib/comm/errhandler.ts's dispatcher
  std::vector<uint8_t> hooked_;          // by communicator handle: has an error hook
  int hooks_ = 0;                        // how many handles have one
  std::vector<int32_t> owners_;          // by engine slot: the communicator of the operation there
  int32_t immediateOwner_ = -1;
  HandleTable<MPI_Info> infos_{MPI_INFO_NULL};
  HandleTable<MPI_Group> groups_{MPI_GROUP_NULL};
  HandleTable<MPI_File> files_{MPI_FILE_NULL};
  Napi::Reference<Napi::Float64Array> statusRef_;
  Napi::Reference<Napi::Int32Array> doneSlotsRef_;
  Napi::Reference<Napi::Float64Array> doneStatusRef_;
  double* status_ = nullptr;  // status record of the last synchronous call (StatusField layout)

 public:
  // Layout of the shared argument slab written by lib/addon/fastpath.ts.
  // kResult is written back: the engine slot of an isend/irecv, or -1 when it completed at once
  // (returning it as a JS number would cost a handle scope entry per call).
  // kExpect: recvMessageFast's expected-header slot (-1: none) in, whether the message matched it out.
  enum FastArg { kBufSlot = 0, kPeer, kTagArg, kCommArg, kFlags, kResult, kExpect, kFastArgs };
  static constexpr int32_t kDeclined = -2;  // kResult of a fast call that left the work to the general path
  static constexpr int kFastBufs = 8;
  // rmaFast's kFlags: what it does (the op code of an accumulate in the bits above kRmaKindBits).
  enum RmaFastKind { kRmaPut, kRmaGet, kRmaAccumulate, kRmaFlush, kRmaFlushLocal };
  static constexpr int kRmaKindBits = 8;
  // The window of handle h, or MPI_WIN_NULL for a freed or unknown one (the fast path's WinArg).
  MPI_Win FastWin(int32_t h) const {
    return h >= 0 && h < static_cast<int32_t>(wins_.size()) ? wins_[h] : MPI_WIN_NULL;
  }
  Napi::Reference<Napi::Int32Array> argsRef_;
  int32_t* args_ = nullptr;
  // wtime() leaves MPI_Wtime here: returning a double would allocate a heap number per call.
  Napi::Reference<Napi::Float64Array> clockRef_;
  double* clock_ = nullptr;
  struct BufView fastBufs_[kFastBufs];
  Napi::ObjectReference fastBufRefs_;  // keeps registered arrays alive while cached
  // Channel headers a receiver last accepted (registerExpected): a message of `total` bytes whose header
  // equals one but for the sequence number and correlation id needs none of lib/'s checks again.
  static constexpr int kExpectSlots = 8;
  struct ExpectedHeader {
    std::vector<uint8_t> bytes;  // the header through its padding, as accepted
    size_t total = 0;            // the whole message's length
  };
  ExpectedHeader expected_[kExpectSlots];
  bool MatchesExpected(int k, const uint8_t* msg, size_t bytes) const;
};

}  // namespace mpi4node
