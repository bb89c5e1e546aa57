// Blocking point-to-point bindings. Arguments were checked in lib/ (ranks, tags, buffers), so these
// convert and call MPI; statuses go to the shared status record, errors become MpiError.
#include "addon.h"
#include "core/args.h"
#include "core/buffers.h"

namespace mpi4node {

// send(buf, dest, tag, comm, synchronous)
Napi::Value Addon::Send(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const BufView b = a.Buf(0);
  const int dest = a.Int(1), tag = a.Int(2);
  MPI_Comm comm = a.Comm(3);
  const bool sync = a.Flag(4);
  CountedType ct(b.count, b.type);
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    rc = sync ? MPI_Ssend(b.data, ct.count(), ct.type(), dest, tag, comm)
              : MPI_Send(b.data, ct.count(), ct.type(), dest, tag, comm);
  }
  return a.Done(rc);
}

// recv(buf, source, tag, comm)
Napi::Value Addon::Recv(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const BufView b = a.Buf(0);
  const int source = a.Int(1), tag = a.Int(2);
  MPI_Comm comm = a.Comm(3);
  CountedType ct(b.count, b.type);
  MPI_Status st;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) rc = MPI_Recv(b.data, ct.count(), ct.type(), source, tag, comm, &st);
  return a.DoneRecv(rc, false, MPI_REQUEST_NULL, st);
}

// sendrecv(sbuf, dest, sendtag, rbuf, source, recvtag, comm)
Napi::Value Addon::Sendrecv(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const BufView s = a.Buf(0), r = a.Buf(3);
  const int dest = a.Int(1), stag = a.Int(2);
  const int source = a.Int(4), rtag = a.Int(5);
  MPI_Comm comm = a.Comm(6);
  CountedType sct(s.count, s.type), rct(r.count, r.type);
  MPI_Status st;
  int rc = sct.rc() != MPI_SUCCESS ? sct.rc() : rct.rc();
  if (rc == MPI_SUCCESS) {
    rc = MPI_Sendrecv(s.data, sct.count(), sct.type(), dest, stag, r.data, rct.count(), rct.type(), source,
                      rtag, comm, &st);
  }
  return a.DoneRecv(rc, false, MPI_REQUEST_NULL, st);
}

// sendrecvReplace(buf, dest, sendtag, source, recvtag, comm)
Napi::Value Addon::SendrecvReplace(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const BufView b = a.Buf(0);
  const int dest = a.Int(1), stag = a.Int(2);
  const int source = a.Int(3), rtag = a.Int(4);
  MPI_Comm comm = a.Comm(5);
  CountedType ct(b.count, b.type);
  MPI_Status st;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    rc = MPI_Sendrecv_replace(b.data, ct.count(), ct.type(), dest, stag, source, rtag, comm, &st);
  }
  return a.DoneRecv(rc, false, MPI_REQUEST_NULL, st);
}

// probe(source, tag, comm)
Napi::Value Addon::Probe(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Status st;
  const int rc = MPI_Probe(a.Int(0), a.Int(1), a.Comm(2), &st);
  return a.DoneRecv(rc, false, MPI_REQUEST_NULL, st);
}

// iprobe(source, tag, comm) -> boolean
Napi::Value Addon::Iprobe(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Status st;
  int flag = 0;
  a.Check(MPI_Iprobe(a.Int(0), a.Int(1), a.Comm(2), &flag, &st));
  if (flag) WriteSyncStatus(st, MPI_SUCCESS);
  return Napi::Boolean::New(a.env(), flag != 0);
}

// mprobe(source, tag, comm): blocks until a message matches; its handle goes to status[kMessage].
Napi::Value Addon::Mprobe(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Status st;
  MPI_Message msg;
  a.Check(MPI_Mprobe(a.Int(0), a.Int(1), a.Comm(2), &msg, &st));
  WriteSyncStatus(st, MPI_SUCCESS);
  status_[kMessage] = engine_->PutMessage(msg);
  return a.env().Undefined();
}

// mrecv(message, buf): receives a matched message.
Napi::Value Addon::Mrecv(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Message msg = engine_->TakeMessage(a.Int(0));
  if (msg == MPI_MESSAGE_NULL) a.Throw(MPI_ERR_REQUEST);
  const BufView b = a.Buf(1);
  CountedType ct(b.count, b.type);
  MPI_Status st;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) rc = MPI_Mrecv(b.data, ct.count(), ct.type(), &msg, &st);
  return a.DoneRecv(rc, false, MPI_REQUEST_NULL, st);
}

}  // namespace mpi4node
