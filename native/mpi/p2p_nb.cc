// Nonblocking bindings. A posting call returns -1 when the operation completed within the engine's
// spin (its status is in the shared status record), else the slot lib/core/request.ts waits on.
#include "addon.h"
#include "core/args.h"
#include "core/buffers.h"

namespace mpi4node {

// isend(buf, dest, tag, comm, synchronous)
Napi::Value Addon::Isend(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const BufView b = a.Buf(0);
  const int dest = a.Int(1), tag = a.Int(2);
  MPI_Comm comm = a.Comm(3);
  const bool sync = a.Flag(4);
  CountedType ct(b.count, b.type);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    rc = sync ? MPI_Issend(b.data, ct.count(), ct.type(), dest, tag, comm, &req)
              : MPI_Isend(b.data, ct.count(), ct.type(), dest, tag, comm, &req);
  }
  return a.Done(rc, true, req);
}

// irecv(buf, source, tag, comm)
Napi::Value Addon::Irecv(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const BufView b = a.Buf(0);
  const int source = a.Int(1), tag = a.Int(2);
  MPI_Comm comm = a.Comm(3);
  CountedType ct(b.count, b.type);
  MPI_Request req = MPI_REQUEST_NULL;
  MPI_Status st;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) rc = MPI_Irecv(b.data, ct.count(), ct.type(), source, tag, comm, &req);
  return a.DoneRecv(rc, true, req, st);
}

// improbe(source, tag, comm): waits for a message of unknown size without blocking the loop.
Napi::Value Addon::Improbe(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const int source = a.Int(0), tag = a.Int(1);
  MPI_Comm comm = a.Comm(2);
  return Napi::Number::New(a.env(), engine_->TrackProbe(source, tag, comm, status_));
}

// imrecv(message, buf)
Napi::Value Addon::Imrecv(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Message msg = engine_->TakeMessage(a.Int(0));
  if (msg == MPI_MESSAGE_NULL) a.Throw(MPI_ERR_REQUEST);
  const BufView b = a.Buf(1);
  CountedType ct(b.count, b.type);
  MPI_Request req = MPI_REQUEST_NULL;
  MPI_Status st;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) rc = MPI_Imrecv(b.data, ct.count(), ct.type(), &msg, &req);
  return a.DoneRecv(rc, true, req, st);
}

// wait(slot): blocks this thread like MPI_Wait; the status (with its error code) goes to the record.
Napi::Value Addon::Wait(const Napi::CallbackInfo& info) {
  Args a(this, info);
  status_[kError] = engine_->Wait(a.Int(0), status_);
  return a.env().Undefined();
}

// test(slot) -> boolean; when true the status is in the record.
Napi::Value Addon::Test(const Napi::CallbackInfo& info) {
  Args a(this, info);
  bool done = false;
  const int rc = engine_->Test(a.Int(0), &done, status_);
  if (done) status_[kError] = rc;
  return Napi::Boolean::New(a.env(), done);
}

Napi::Value Addon::Cancel(const Napi::CallbackInfo& info) {
  Args a(this, info);
  return a.Done(engine_->Cancel(a.Int(0)));
}

}  // namespace mpi4node
