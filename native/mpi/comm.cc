// Bindings for communicators. New communicators come with their private duplicate; both are returned
// as handles ([user, internal]) and freed together by lib/comm/comm.ts.
#include "addon.h"
#include "core/errors.h"

namespace mpi4node {

namespace {
// Registers `comm` and a private duplicate of it. On failure frees what it made and returns the error.
int Register(MPI_Comm comm, int handles[2]) {
  MPI_Comm internal;
  int rc = MPI_Comm_dup(comm, &internal);
  if (rc != MPI_SUCCESS) {
    MPI_Comm_free(&comm);
    return rc;
  }
  ProcessState& ps = ProcessState::Get();
  handles[0] = ps.AddComm(comm);
  handles[1] = handles[0] < 0 ? -1 : ps.AddComm(internal);
  if (handles[1] < 0) {
    if (handles[0] >= 0) ps.RemoveComm(handles[0]);
    MPI_Comm_free(&comm);
    MPI_Comm_free(&internal);
    return kErrCommTableFull;
  }
  return MPI_SUCCESS;
}

Napi::Value HandlePair(Napi::Env env, const int handles[2]) {
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, handles[0]);
  a.Set(1u, handles[1]);
  return a;
}
}  // namespace

Napi::Value Addon::CommRank(const Napi::CallbackInfo& info) {
  EnsureUsable(info.Env());
  int r = 0;
  int rc = MPI_Comm_rank(CommArg(info, 0), &r);
  if (rc != MPI_SUCCESS) ThrowMpi(info.Env(), rc);
  return Napi::Number::New(info.Env(), r);
}

Napi::Value Addon::CommSize(const Napi::CallbackInfo& info) {
  EnsureUsable(info.Env());
  int s = 0;
  int rc = MPI_Comm_size(CommArg(info, 0), &s);
  if (rc != MPI_SUCCESS) ThrowMpi(info.Env(), rc);
  return Napi::Number::New(info.Env(), s);
}

Napi::Value Addon::CommDup(const Napi::CallbackInfo& info) {
  EnsureUsable(info.Env());
  MPI_Comm out;
  int rc = MPI_Comm_dup(CommArg(info, 0), &out);
  if (rc != MPI_SUCCESS) ThrowMpi(info.Env(), rc);
  int handles[2];
  rc = Register(out, handles);
  if (rc != MPI_SUCCESS) ThrowMpi(info.Env(), rc);
  return HandlePair(info.Env(), handles);
}

// color MPI_UNDEFINED yields null: this rank is in no new communicator.
Napi::Value Addon::CommSplit(const Napi::CallbackInfo& info) {
  EnsureUsable(info.Env());
  MPI_Comm out;
  int rc = MPI_Comm_split(CommArg(info, 0), IntArg(info, 1), IntArg(info, 2), &out);
  if (rc != MPI_SUCCESS) ThrowMpi(info.Env(), rc);
  if (out == MPI_COMM_NULL) return info.Env().Null();
  int handles[2];
  rc = Register(out, handles);
  if (rc != MPI_SUCCESS) ThrowMpi(info.Env(), rc);
  return HandlePair(info.Env(), handles);
}

Napi::Value Addon::CommSplitShared(const Napi::CallbackInfo& info) {
  EnsureUsable(info.Env());
  MPI_Comm out;
  int rc = MPI_Comm_split_type(CommArg(info, 0), MPI_COMM_TYPE_SHARED, IntArg(info, 1), MPI_INFO_NULL, &out);
  if (rc != MPI_SUCCESS) ThrowMpi(info.Env(), rc);
  if (out == MPI_COMM_NULL) return info.Env().Null();
  int handles[2];
  rc = Register(out, handles);
  if (rc != MPI_SUCCESS) ThrowMpi(info.Env(), rc);
  return HandlePair(info.Env(), handles);
}

Napi::Value Addon::CommCompare(const Napi::CallbackInfo& info) {
  EnsureUsable(info.Env());
  int result = 0;
  int rc = MPI_Comm_compare(CommArg(info, 0), CommArg(info, 1), &result);
  if (rc != MPI_SUCCESS) ThrowMpi(info.Env(), rc);
  return Napi::Number::New(info.Env(), result);
}

Napi::Value Addon::CommFree(const Napi::CallbackInfo& info) {
  EnsureUsable(info.Env());
  const int h = IntArg(info, 0);
  if (h < kFirstUserHandle) ThrowMpi(info.Env(), MPI_ERR_COMM);
  MPI_Comm c = CommArg(info, 0);
  ProcessState::Get().RemoveComm(h);
  int rc = MPI_Comm_free(&c);
  if (rc != MPI_SUCCESS) ThrowMpi(info.Env(), rc);
  return info.Env().Undefined();
}

}  // namespace mpi4node
