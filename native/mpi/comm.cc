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

// commSplitShared(comm, key, info): info -1 is MPI_INFO_NULL.
Napi::Value Addon::CommSplitShared(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Comm out;
  a.Check(MPI_Comm_split_type(a.Comm(0), MPI_COMM_TYPE_SHARED, a.Int(1), a.Info(2), &out));
  return RegisterComm(a, out);
}

Napi::Value Addon::CommCompare(const Napi::CallbackInfo& info) {
  Args a(this, info);
  int result = 0;
  a.Check(MPI_Comm_compare(a.Comm(0), a.Comm(1), &result));
  return Napi::Number::New(a.env(), result);
}

// commFree(comm, disconnect): MPI_Comm_free, or with `disconnect` MPI_Comm_disconnect (waits for the
// communicator's pending traffic; what ends a connection to spawned or connected processes).
Napi::Value Addon::CommFree(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const int h = a.Int(0);
  if (h < kFirstUserHandle) a.Throw(MPI_ERR_COMM);
  MPI_Comm c = a.Comm(0);
  if (h < static_cast<int>(hooked_.size()) && hooked_[h]) {
    hooked_[h] = 0;
    --hooks_;
  }
  ProcessState::Get().RemoveComm(h);
  a.Check(a.Flag(1) ? MPI_Comm_disconnect(&c) : MPI_Comm_free(&c));
  return a.env().Undefined();
}

// commSetErrorsFatal(comm, fatal): MPI_ERRORS_ARE_FATAL (the job aborts on this communicator's next
// MPI error) or back to MPI_ERRORS_RETURN, the library's default.
Napi::Value Addon::CommSetErrorsFatal(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Comm c = a.Comm(0);
  return a.Done(MPI_Comm_set_errhandler(c, a.Flag(1) ? MPI_ERRORS_ARE_FATAL : MPI_ERRORS_RETURN));
}

// setErrorHook(comm, on): whether the MPI errors of calls on handle `comm` go through the dispatcher
// (lib/comm/errhandler.ts) first. No MPI call: MPI's own error handler stays MPI_ERRORS_RETURN, since a
// C handler would run inside MPI, where no JavaScript may run.
Napi::Value Addon::SetErrorHook(const Napi::CallbackInfo& info) {
  Args a(this, info);
  a.Comm(0);
  const int h = a.Int(0);
  const bool on = a.Flag(1);
  if (h >= static_cast<int>(hooked_.size())) hooked_.resize(h + 1, 0);
  if (on == (hooked_[h] != 0)) return a.env().Undefined();
  hooked_[h] = on;
  if (on && hooks_++ == 0) {
    // Operations posted while no hook existed noted nothing: forget what older ones noted.
    owners_.assign(owners_.size(), -1);
    immediateOwner_ = -1;
  }
  if (!on) --hooks_;
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
      {"commSetErrorsFatal", Method<&Addon::CommSetErrorsFatal>},
      {"setErrorHook", Method<&Addon::SetErrorHook>},
  };
  DefineExports(env, exports, this, table);
}

}  // namespace mpi4node
