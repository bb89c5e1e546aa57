// Point-to-point bindings and the requests they make. Arguments were checked in lib/ (ranks, tags,
// buffers), so these convert and call MPI; statuses go to the shared status record, errors become
// MpiError. send, recv and mrecv serve both forms: the last argument `nb` picks the nonblocking call,
// which returns -1 when it completed within the engine's spin (status in the record), else the slot
// lib/core/request.ts waits on. The small-buffer forms of send/recv/isend/irecv go through mpi/fast.cc.
#include "addon.h"
#include "core/args.h"
#include "core/exports.h"
#include "core/buffers.h"
#include "mpi/p2p.h"

namespace mpi4node {

// send(buf, dest, tag, comm, synchronous, nb)
Napi::Value Addon::Send(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const BufView b = a.Buf(0);
  const int dest = a.Int(1), tag = a.Int(2);
  MPI_Comm comm = a.Comm(3);
  const bool sync = a.Flag(4), nb = a.Flag(5);
  CountedType ct(b.count, b.type);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) rc = SendAs(sync, nb, b.data, ct.count(), ct.type(), dest, tag, comm, &req);
  return a.Done(rc, nb, req, b.count * b.elemSize <= Engine::kTestAtPostBytes);
}

// recv(buf, source, tag, comm, nb). Both forms keep MPI's order behind earlier receives of unknown
// size (engine.h): the blocking one waits for them to match, the nonblocking one may be deferred.
Napi::Value Addon::Recv(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const BufView b = a.Buf(0);
  const Envelope e{a.Int(1), a.Int(2), a.Comm(3)};
  if (a.Flag(4)) {
    int rc;
    const int slot = engine_->PostRecv(b.data, b.count, b.type, e, status_, &rc);
    a.Check(rc);
    return a.Slot(slot);
  }
  engine_->DriveAhead(e);
  CountedType ct(b.count, b.type);
  MPI_Status st;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) rc = MPI_Recv(b.data, ct.count(), ct.type(), e.source, e.tag, e.comm, &st);
  return a.DoneRecv(rc, false, MPI_REQUEST_NULL, st);
}

// sendrecv(sbuf, dest, sendtag, rbuf, source, recvtag, comm)
Napi::Value Addon::Sendrecv(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const BufView s = a.Buf(0), r = a.Buf(3);
  const int dest = a.Int(1), stag = a.Int(2);
  const int source = a.Int(4), rtag = a.Int(5);
  MPI_Comm comm = a.Comm(6);
  engine_->DriveAhead({source, rtag, comm});
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
  engine_->DriveAhead({source, rtag, comm});
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

// mprobe(source, tag, comm): blocks until a message matches (after every earlier unposted receive
// that could take it has matched); its handle goes to status[kMessage].
Napi::Value Addon::Mprobe(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const Envelope e{a.Int(0), a.Int(1), a.Comm(2)};
  if (e.source == MPI_PROC_NULL) return Napi::Number::New(a.env(), engine_->PostProbe(e, status_));  // -1, no message
  engine_->DriveAhead(e);
  MPI_Status st;
  MPI_Message msg;
  a.Check(MPI_Mprobe(e.source, e.tag, e.comm, &msg, &st));
  WriteSyncStatus(st, MPI_SUCCESS);
  status_[kMessage] = engine_->PutMessage(msg);
  return a.env().Undefined();
}

// improbe(source, tag, comm): mprobe's Promise form. Not an MPI request: the engine probes (matched,
// so the message is this receive's) until a message arrives, and reports it as mprobe does.
Napi::Value Addon::Improbe(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const Envelope e{a.Int(0), a.Int(1), a.Comm(2)};
  return a.Slot(engine_->PostProbe(e, status_));
}

// mrecv(message, buf, nb): receives a matched message.
Napi::Value Addon::Mrecv(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Message msg = engine_->TakeMessage(a.Int(0));
  if (msg == MPI_MESSAGE_NULL) a.Throw(MPI_ERR_REQUEST);
  const BufView b = a.Buf(1);
  const bool nb = a.Flag(2);
  CountedType ct(b.count, b.type);
  MPI_Request req = MPI_REQUEST_NULL;
  MPI_Status st;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    rc = nb ? MPI_Imrecv(b.data, ct.count(), ct.type(), &msg, &req) : MPI_Mrecv(b.data, ct.count(), ct.type(), &msg, &st);
  }
  return a.DoneRecv(rc, nb, req, st, true);
}

// ---- requests (engine slots) ----

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

// setRef(slot, ref): whether the request keeps the event loop alive.
Napi::Value Addon::SetRef(const Napi::CallbackInfo& info) {
  Args a(this, info);
  return a.Done(engine_->SetRef(a.Int(0), a.Flag(1)));
}

// progress(): after a burst of posts, a short spin (engine.h); returns how many completions it wrote
// to the shared completion records, which the caller reports.
Napi::Value Addon::Progress(const Napi::CallbackInfo& info) {
  Args a(this, info);
  return Napi::Number::New(a.env(), engine_->Progress(Engine::kPostSpinNs));
}

// sendInit(buf, dest, tag, comm, synchronous) / recvInit(buf, source, tag, comm) -> persistent id.
// The caller keeps buf referenced (and pinned) until the request is freed.
Napi::Value Addon::SendInit(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const BufView b = a.Buf(0);
  const int dest = a.Int(1), tag = a.Int(2);
  MPI_Comm comm = a.Comm(3);
  CountedType ct(b.count, b.type);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = ct.rc();
  // With MPI_PROC_NULL MPI is not asked (Engine::AddPersistent).
  if (rc == MPI_SUCCESS && dest != MPI_PROC_NULL) {
    rc = a.Flag(4) ? MPI_Ssend_init(b.data, ct.count(), ct.type(), dest, tag, comm, &req)
                   : MPI_Send_init(b.data, ct.count(), ct.type(), dest, tag, comm, &req);
  }
  a.Check(rc);
  return Napi::Number::New(a.env(), engine_->AddPersistent(req, false, {dest, tag, comm}));
}

Napi::Value Addon::RecvInit(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const BufView b = a.Buf(0);
  const Envelope e{a.Int(1), a.Int(2), a.Comm(3)};
  CountedType ct(b.count, b.type);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS && e.source != MPI_PROC_NULL) rc = MPI_Recv_init(b.data, ct.count(), ct.type(), e.source, e.tag, e.comm, &req);
  a.Check(rc);
  return Napi::Number::New(a.env(), engine_->AddPersistent(req, true, e));
}

// start(id) -> -1 (complete, status in the record) or a slot; startAll(ids, n) -> one slot for them all
// (-1 when all were complete at start).
Napi::Value Addon::Start(const Napi::CallbackInfo& info) {
  Args a(this, info);
  int rc;
  const int slot = engine_->StartPersistent(a.Int(0), status_, &rc);
  a.Check(rc);
  return Napi::Number::New(a.env(), slot);
}

Napi::Value Addon::StartAll(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const Ints ids = a.IntArray(0);
  const int n = a.Int(1);
  if (n < 1 || n > ids.count) throw Napi::RangeError::New(a.env(), "internal: bad arguments for startAll");
  int rc;
  const int slot = engine_->StartBatch(ids.data, n, status_, &rc);
  a.Check(rc);
  return Napi::Number::New(a.env(), slot);
}

// requestFree(id): releases an inactive persistent request.
Napi::Value Addon::RequestFree(const Napi::CallbackInfo& info) {
  Args a(this, info);
  return a.Done(engine_->FreePersistent(a.Int(0)));
}

// batchStatus(id, cancelAsked): the status record of id's part in the startAll batch that last
// completed it, in the status slab (Engine::BatchStatus).
Napi::Value Addon::BatchStatus(const Napi::CallbackInfo& info) {
  Args a(this, info);
  if (!engine_->BatchStatus(a.Int(0), a.Flag(1), status_)) throw Napi::RangeError::New(a.env(), "internal: bad id for batchStatus");
  return a.env().Undefined();
}

// waitAll / waitAny / waitSome / testAll / testAny / testSome (slots, n, records[, positions]): the
// engine slots of the requests still pending, one MPI call over all of them. Records go to
// records[position * fields]. waitAny/testAny return the position that completed, -1 when none is
// pending (MPI_UNDEFINED), testAny -2 when none has completed yet; waitSome/testSome return how many
// completed (their positions in `positions`) or -1; testAll whether all did (else nothing changed).
Napi::Value Addon::Complete(const Napi::CallbackInfo& info, int which) {
  Args a(this, info);
  const Ints slots = a.IntArray(0);
  const int n = a.Int(1);
  const BufView out = a.Buf(2);
  if (n < 0 || n > slots.count || out.count < static_cast<size_t>(n) * kStatusFields || out.type != MPI_DOUBLE) {
    throw Napi::RangeError::New(a.env(), "internal: bad arguments for a multiple completion");
  }
  double* rec = static_cast<double*>(out.data);
  switch (which) {
    case kWaitAll: engine_->WaitAll(slots.data, n, rec); return a.env().Undefined();
    case kWaitAny: return Napi::Number::New(a.env(), engine_->WaitAny(slots.data, n, rec));
    case kTestAny: return Napi::Number::New(a.env(), engine_->TestAny(slots.data, n, rec));
    case kTestAll: return Napi::Boolean::New(a.env(), engine_->TestAll(slots.data, n, rec));
    default: {
      const Ints positions = a.IntArray(3);
      if (positions.count < n) throw Napi::RangeError::New(a.env(), "internal: bad arguments for a multiple completion");
      const int c = which == kWaitSome ? engine_->WaitSome(slots.data, n, positions.data, rec)
                                       : engine_->TestSome(slots.data, n, positions.data, rec);
      return Napi::Number::New(a.env(), c);
    }
  }
}

void Addon::DefineP2p(Napi::Env env, Napi::Object exports) {
  static const Export table[] = {
      {"send", Method<&Addon::Send>},
      {"recv", Method<&Addon::Recv>},
      {"sendrecv", Method<&Addon::Sendrecv>},
      {"sendrecvReplace", Method<&Addon::SendrecvReplace>},
      {"probe", Method<&Addon::Probe>},
      {"iprobe", Method<&Addon::Iprobe>},
      {"mprobe", Method<&Addon::Mprobe>},
      {"improbe", Method<&Addon::Improbe>},
      {"mrecv", Method<&Addon::Mrecv>},
      {"wait", Method<&Addon::Wait>},
      {"test", Method<&Addon::Test>},
      {"cancel", Method<&Addon::Cancel>},
      {"setRef", Method<&Addon::SetRef>},
      {"progress", Method<&Addon::Progress>},
      {"sendInit", Method<&Addon::SendInit>},
      {"recvInit", Method<&Addon::RecvInit>},
      {"start", Method<&Addon::Start>},
      {"startAll", Method<&Addon::StartAll>},
      {"requestFree", Method<&Addon::RequestFree>},
      {"batchStatus", Method<&Addon::BatchStatus>},
      {"waitAll", Method<&Addon::Complete, kWaitAll>},
      {"waitAny", Method<&Addon::Complete, kWaitAny>},
      {"waitSome", Method<&Addon::Complete, kWaitSome>},
      {"testAll", Method<&Addon::Complete, kTestAll>},
      {"testAny", Method<&Addon::Complete, kTestAny>},
      {"testSome", Method<&Addon::Complete, kTestSome>},
  };
  DefineExports(env, exports, this, table);
}

}  // namespace mpi4node
