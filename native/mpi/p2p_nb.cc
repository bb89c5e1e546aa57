// Nonblocking bindings. A posting call returns -1 when the operation completed within the engine's
// spin (its status is in the shared status record), else the slot lib/core/request.ts waits on.
#include "addon.h"
#include "core/buffers.h"

namespace mpi4node {

// isend(buf, dest, tag, comm, synchronous)
Napi::Value Addon::Isend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView b;
  BufArg(info, 0, &b);
  const int dest = IntArg(info, 1), tag = IntArg(info, 2);
  MPI_Comm comm = CommArg(info, 3);
  const bool sync = info[4].ToBoolean();
  CountedType ct(b.count, b.type);
  MPI_Request req;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    rc = sync ? MPI_Issend(b.data, ct.count(), ct.type(), dest, tag, comm, &req)
              : MPI_Isend(b.data, ct.count(), ct.type(), dest, tag, comm, &req);
  }
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  return Napi::Number::New(env, engine_->Track(req, false, status_));
}

// irecv(buf, source, tag, comm)
Napi::Value Addon::Irecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView b;
  BufArg(info, 0, &b);
  const int source = IntArg(info, 1), tag = IntArg(info, 2);
  MPI_Comm comm = CommArg(info, 3);
  CountedType ct(b.count, b.type);
  MPI_Request req;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) rc = MPI_Irecv(b.data, ct.count(), ct.type(), source, tag, comm, &req);
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  return Napi::Number::New(env, engine_->Track(req, true, status_));
}

// improbe(source, tag, comm): waits for a message of unknown size without blocking the loop.
Napi::Value Addon::Improbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  const int source = IntArg(info, 0), tag = IntArg(info, 1);
  MPI_Comm comm = CommArg(info, 2);
  return Napi::Number::New(env, engine_->TrackProbe(source, tag, comm, status_));
}

// imrecv(message, buf)
Napi::Value Addon::Imrecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  MPI_Message msg = engine_->TakeMessage(IntArg(info, 0));
  if (msg == MPI_MESSAGE_NULL) ThrowMpi(env, MPI_ERR_REQUEST);
  BufView b;
  BufArg(info, 1, &b);
  CountedType ct(b.count, b.type);
  MPI_Request req;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) rc = MPI_Imrecv(b.data, ct.count(), ct.type(), &msg, &req);
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  return Napi::Number::New(env, engine_->Track(req, true, status_));
}

// wait(slot): blocks this thread like MPI_Wait; the status (with its error code) goes to the record.
Napi::Value Addon::Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  status_[kError] = engine_->Wait(IntArg(info, 0), status_);
  return env.Undefined();
}

// test(slot) -> boolean; when true the status is in the record.
Napi::Value Addon::Test(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  bool done = false;
  int rc = engine_->Test(IntArg(info, 0), &done, status_);
  if (done) status_[kError] = rc;
  return Napi::Boolean::New(env, done);
}

Napi::Value Addon::Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  int rc = engine_->Cancel(IntArg(info, 0));
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  return env.Undefined();
}

}  // namespace mpi4node
