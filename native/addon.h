// The addon object: one per Node environment (main thread and each worker), holding that
// environment's progress engine and its references to JavaScript objects. MPI itself is process-wide
// (process_state.h). Method bodies live in files named for what they bind: env_calls.cc,
// comm_calls.cc, p2p_calls.cc, request_calls.cc.
#pragma once

#include <mpi.h>
#include <napi.h>

#include <thread>

#include "engine.h"
#include "process_state.h"

namespace mpi4node {

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);
  ~Addon();

  // Throws the JavaScript MpiError for an MPI (or library) error code.
  [[noreturn]] void ThrowMpi(Napi::Env env, int code);
  Napi::Value MakeError(Napi::Env env, int code);

 private:
  // env_calls.cc
  Napi::Value Setup(const Napi::CallbackInfo& info);
  Napi::Value InitMpi(const Napi::CallbackInfo& info);
  Napi::Value Finalize(const Napi::CallbackInfo& info);
  Napi::Value Initialized(const Napi::CallbackInfo& info);
  Napi::Value Finalized(const Napi::CallbackInfo& info);
  Napi::Value QueryThread(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value Wtime(const Napi::CallbackInfo& info);
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
  Napi::Value Isend(const Napi::CallbackInfo& info);
  Napi::Value Irecv(const Napi::CallbackInfo& info);
  Napi::Value Improbe(const Napi::CallbackInfo& info);
  Napi::Value Imrecv(const Napi::CallbackInfo& info);
  Napi::Value Wait(const Napi::CallbackInfo& info);
  Napi::Value Test(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);

  // Shared argument helpers for the binding files.
  MPI_Comm CommArg(const Napi::CallbackInfo& info, size_t i);
  int IntArg(const Napi::CallbackInfo& info, size_t i);
  void BufArg(const Napi::CallbackInfo& info, size_t i, struct BufView* out);
  // Checks, in one branch on the hot path, that MPI may be called from this thread now.
  void EnsureUsable(Napi::Env env) {
    if (!usable_ || ProcessState::Get().finalized()) CheckUsable(env);
  }
  void CheckUsable(Napi::Env env);
  void WriteSyncStatus(const MPI_Status& st, int rc) { FillStatus(st, rc, true, status_); }

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
};

}  // namespace mpi4node
