// Blocking point-to-point bindings. Arguments were checked in lib/ (ranks, tags, buffers), so these
// convert and call MPI; statuses go to the shared status record, errors become MpiError.
#include "addon.h"
#include "core/buffers.h"

namespace mpi4node {

// send(buf, dest, tag, comm, synchronous)
Napi::Value Addon::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView b;
  BufArg(info, 0, &b);
  const int dest = IntArg(info, 1), tag = IntArg(info, 2);
  MPI_Comm comm = CommArg(info, 3);
  bool sync = info[4].ToBoolean();
  CountedType ct(b.count, b.type);
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    rc = sync ? MPI_Ssend(b.data, ct.count(), ct.type(), dest, tag, comm)
              : MPI_Send(b.data, ct.count(), ct.type(), dest, tag, comm);
  }
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  return env.Undefined();
}

// recv(buf, source, tag, comm)
Napi::Value Addon::Recv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView b;
  BufArg(info, 0, &b);
  const int source = IntArg(info, 1), tag = IntArg(info, 2);
  MPI_Comm comm = CommArg(info, 3);
  CountedType ct(b.count, b.type);
  MPI_Status st;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) rc = MPI_Recv(b.data, ct.count(), ct.type(), source, tag, comm, &st);
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  WriteSyncStatus(st, rc);
  return env.Undefined();
}

// sendrecv(sbuf, dest, sendtag, rbuf, source, recvtag, comm)
Napi::Value Addon::Sendrecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView s, r;
  BufArg(info, 0, &s);
  BufArg(info, 3, &r);
  const int dest = IntArg(info, 1), stag = IntArg(info, 2);
  const int source = IntArg(info, 4), rtag = IntArg(info, 5);
  MPI_Comm comm = CommArg(info, 6);
  CountedType sct(s.count, s.type), rct(r.count, r.type);
  MPI_Status st;
  int rc = sct.rc() != MPI_SUCCESS ? sct.rc() : rct.rc();
  if (rc == MPI_SUCCESS) {
    rc = MPI_Sendrecv(s.data, sct.count(), sct.type(), dest, stag, r.data, rct.count(), rct.type(), source,
                      rtag, comm, &st);
  }
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  WriteSyncStatus(st, rc);
  return env.Undefined();
}

// sendrecvReplace(buf, dest, sendtag, source, recvtag, comm)
Napi::Value Addon::SendrecvReplace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView b;
  BufArg(info, 0, &b);
  const int dest = IntArg(info, 1), stag = IntArg(info, 2);
  const int source = IntArg(info, 3), rtag = IntArg(info, 4);
  MPI_Comm comm = CommArg(info, 5);
  CountedType ct(b.count, b.type);
  MPI_Status st;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    rc = MPI_Sendrecv_replace(b.data, ct.count(), ct.type(), dest, stag, source, rtag, comm, &st);
  }
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  WriteSyncStatus(st, rc);
  return env.Undefined();
}

// probe(source, tag, comm)
Napi::Value Addon::Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  MPI_Status st;
  int rc = MPI_Probe(IntArg(info, 0), IntArg(info, 1), CommArg(info, 2), &st);
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  WriteSyncStatus(st, rc);
  return env.Undefined();
}

// iprobe(source, tag, comm) -> boolean
Napi::Value Addon::Iprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  MPI_Status st;
  int flag = 0;
  int rc = MPI_Iprobe(IntArg(info, 0), IntArg(info, 1), CommArg(info, 2), &flag, &st);
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  if (flag) WriteSyncStatus(st, rc);
  return Napi::Boolean::New(env, flag != 0);
}

// mprobe(source, tag, comm): blocks until a message matches; its handle goes to status[kMessage].
Napi::Value Addon::Mprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  MPI_Status st;
  MPI_Message msg;
  int rc = MPI_Mprobe(IntArg(info, 0), IntArg(info, 1), CommArg(info, 2), &msg, &st);
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  WriteSyncStatus(st, rc);
  status_[kMessage] = engine_->PutMessage(msg);
  return env.Undefined();
}

// mrecv(message, buf): receives a matched message.
Napi::Value Addon::Mrecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  MPI_Message msg = engine_->TakeMessage(IntArg(info, 0));
  if (msg == MPI_MESSAGE_NULL) ThrowMpi(env, MPI_ERR_REQUEST);
  BufView b;
  BufArg(info, 1, &b);
  CountedType ct(b.count, b.type);
  MPI_Status st;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) rc = MPI_Mrecv(b.data, ct.count(), ct.type(), &msg, &st);
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  WriteSyncStatus(st, rc);
  return env.Undefined();
}

}  // namespace mpi4node
