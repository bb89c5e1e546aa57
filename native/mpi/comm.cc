// Bindings for communicators. New communicators come with their private duplicate; both are returned
// as handles ([user, internal]) and freed together by lib/comm/comm.ts.
#include "addon.h"
#include "core/args.h"
#include "core/exports.h"
#include "core/errors.h"
#include "mpi/comm.h"

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

}  // namespace

Napi::Value RegisterComm(const Args& a, MPI_Comm comm) {
  if (comm == MPI_COMM_NULL) return a.env().Null();
  int handles[2];
  a.Check(Register(comm, handles));
  Napi::Array out = Napi::Array::New(a.env(), 2);
  out.Set(0u, handles[0]);
  out.Set(1u, handles[1]);
  return out;
}

Napi::Value Addon::CommRank(const Napi::CallbackInfo& info) {
  Args a(this, info);
  int r = 0;
  a.Check(MPI_Comm_rank(a.Comm(0), &r));
  return Napi::Number::New(a.env(), r);
}

Napi::Value Addon::CommSize(const Napi::CallbackInfo& info) {
  Args a(this, info);
  int s = 0;
  a.Check(MPI_Comm_size(a.Comm(0), &s));
  return Napi::Number::New(a.env(), s);
}

Napi::Value Addon::CommDup(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Comm out;
  a.Check(MPI_Comm_dup(a.Comm(0), &out));
  return RegisterComm(a, out);
}

// color MPI_UNDEFINED yields null: this rank is in no new communicator.
Napi::Value Addon::CommSplit(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Comm out;
  a.Check(MPI_Comm_split(a.Comm(0), a.Int(1), a.Int(2), &out));
  return RegisterComm(a, out);
}

Napi::Value Addon::CommSplitShared(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Comm out;
  a.Check(MPI_Comm_split_type(a.Comm(0), MPI_COMM_TYPE_SHARED, a.Int(1), MPI_INFO_NULL, &out));
  return RegisterComm(a, out);
}

Napi::Value Addon::CommCompare(const Napi::CallbackInfo& info) {
  Args a(this, info);
  int result = 0;
  a.Check(MPI_Comm_compare(a.Comm(0), a.Comm(1), &result));
  return Napi::Number::New(a.env(), result);
}

Napi::Value Addon::CommFree(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const int h = a.Int(0);
  if (h < kFirstUserHandle) a.Throw(MPI_ERR_COMM);
  MPI_Comm c = a.Comm(0);
  ProcessState::Get().RemoveComm(h);
  a.Check(MPI_Comm_free(&c));
  return a.env().Undefined();
}

void Addon::DefineComm(Napi::Env env, Napi::Object exports) {
  static const Export table[] = {
      {"commRank", Method<&Addon::CommRank>},
      {"commSize", Method<&Addon::CommSize>},
      {"commDup", Method<&Addon::CommDup>},
      {"commSplit", Method<&Addon::CommSplit>},
      {"commSplitShared", Method<&Addon::CommSplitShared>},
      {"commCompare", Method<&Addon::CommCompare>},
      {"commFree", Method<&Addon::CommFree>},
  };
  DefineExports(env, exports, this, table);
}

}  // namespace mpi4node
