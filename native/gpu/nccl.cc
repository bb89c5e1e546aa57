// NCCL communicators and operations. A communicator is bootstrapped over a private duplicate of an MPI
// communicator (rank 0 makes the unique id, MPI broadcasts it: 128 bytes, passed by value to
// ncclCommInitRank[Config]), with a deadline (NcclCreation below), and gets a stream of its own. Every
// operation is enqueued on that stream, after the last stream work on its buffers
// (cudaStreamWaitEvent: no host wait), and completes through an event recorded behind it. Inside a group (ncclGroupStart/End) the launch happens at groupEnd, so the
// events are recorded there. Deadlines and asynchronous errors are checked by the sweep (gpu/env.cc),
// which aborts the communicator rather than let a rank hang.
#include <algorithm>
#include <chrono>
#include <thread>

#include "addon.h"
#include "core/args.h"
#include "core/errors.h"
#include "core/exports.h"
#include "gpu/env.h"

static_assert(offsetof(ncclConfig_t, blocking) == 16, "ncclConfig_t: blocking as in NCCL 2.14+");
static_assert(offsetof(ncclConfig_t, netName) == 32 && offsetof(ncclConfig_t, splitShare) == 40,
              "ncclConfig_t: the 2.17/2.18 fields");
static_assert(offsetof(ncclConfig_t, commName) == 48 && sizeof(ncclConfig_t) == 96, "ncclConfig_t: NCCL 2.30.7's");

namespace mpi4node {

namespace {

enum NcclKind { kAllReduce = 0, kBroadcast, kReduce, kAllGather, kReduceScatter, kSend, kRecv };
constexpr int kCheckTag = 1;

size_t DtypeSize(int dtype) {
  static const size_t sizes[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2, 1, 1};
  return dtype >= 0 && dtype < 12 ? sizes[dtype] : 0;
}

// Completes the debug-mode signature sends that have arrived; with `all`, waits for every one.
void ReapChecks(NcclEntry& n, bool all) {
  for (size_t i = 0; i < n.checks.size();) {
    int flag = 0;
    if (all) {
      MPI_Wait(&n.checks[i].first, MPI_STATUS_IGNORE);
      flag = 1;
    } else {
      MPI_Test(&n.checks[i].first, &flag, MPI_STATUS_IGNORE);
    }
    if (flag) {
      n.checks.erase(n.checks.begin() + i);
    } else {
      ++i;
    }
  }
}

}  // namespace

// ---- creation ----

// Creating a communicator, step by step, so that it has a deadline (a rank that never joins must not
// hang the others, nor a blocking call the event loop):
//   1. MPI_Comm_idup of the MPI communicator: the private duplicate (bootstrap and debug checks);
//   2. MPI_Ibcast of rank 0's ncclUniqueId (with rank 0's ncclGetUniqueId result, so a failure there
//      fails every rank);
//   3. ncclCommInitRankConfig with config.blocking = 0, then ncclCommGetAsyncError until it is no
//      longer ncclInProgress. Without that function (NCCL < 2.14), or when asked for a blocking
//      communicator, ncclCommInitRank, which blocks until every rank has joined (no deadline there).
// Past the deadline in step 3 the communicator is aborted (ncclCommAbort). In steps 1 and 2 there is
// nothing to abort, and MPI cannot cancel a collective: the creation fails at once, and the transfer
// lingers to see its MPI part through (rank 0 then broadcasts kBootAbandoned, so ranks that join late
// fail promptly instead of waiting for it).
class NcclCreation : public Transfer {
 public:
  NcclCreation(MPI_Comm comm, uint64_t timeoutNs, bool nonblocking)
      : comm_(comm), timeoutNs_(timeoutNs), nonblocking_(nonblocking) {}

  GpuErr Post(GpuEnv& g) {
    int rank = 0;
    MPI_Comm_rank(comm_, &rank);
    cudaError_t crc = g.cuda().GetDevice(&n_.device);
    if (crc != cudaSuccess) return GpuErr::Cuda(crc);
    if (rank == 0) boot_.rc = g.nccl().GetUniqueId(&boot_.id);
    const int rc = MPI_Comm_idup(comm_, &n_.mpi, &req_);
    if (rc != MPI_SUCCESS) return {kGpuMpi, rc};
    if (timeoutNs_ != 0) deadline_ = uv_hrtime() + timeoutNs_;
    return GpuErr();
  }

  bool usesMpi() const override { return true; }
  bool Lingers() const override { return lingering_; }

  bool Step(GpuEnv& g, GpuErr* err, double* rec) override {
    if (!ProcessState::Get().CallerMayUseMpi()) return Fail(g, {kGpuMpi, kErrNotInitialized}, err);
    if (lingering_) return Linger(g);
    GpuErr e;
    if (phase_ == kDup) {
      if (!Done(&e)) return Late(g, err);
      if (!e.ok()) return Fail(g, e, err);
      MPI_Comm_rank(n_.mpi, &n_.rank);
      MPI_Comm_size(n_.mpi, &n_.size);
      if (!Bcast(&e)) return Fail(g, e, err);
    }
    if (phase_ == kBcast) {
      if (!Done(&e)) return Late(g, err);
      if (!e.ok()) return Fail(g, e, err);
      if (boot_.rc == kBootAbandoned) return Fail(g, {kGpuAborted, kGpuInitTimeout}, err);
      if (boot_.rc != ncclSuccess) return Fail(g, {kGpuNccl, boot_.rc}, err);
      if (!Begin(g, &e)) return Fail(g, e, err);
    }
    if (nonblocking_) {
      ncclResult_t state = ncclInProgress;
      const ncclResult_t rc = g.nccl().CommGetAsyncError(n_.comm, &state);
      if (rc != ncclSuccess) state = rc;
      if (state == ncclInProgress) {
        if (deadline_ == 0 || uv_hrtime() <= deadline_) return false;
        return Fail(g, {kGpuInitTimeoutNccl, static_cast<int>(timeoutNs_ / 1'000'000)}, err);
      }
      if (state != ncclSuccess) return Fail(g, {kGpuNccl, state}, err);
    }
    n_.live = true;
    n_.nonblocking = nonblocking_;
    stream_ = nullptr;
    rec[kGdSource] = g.AddNccl(std::move(n_));
    n_ = NcclEntry();
    return true;
  }

  // Releases what is not tied to a pending MPI collective: a request that cannot be cancelled, and
  // the duplicate it runs on, are left to MPI.
  void Abandon(GpuEnv& g) override {
    if (n_.comm != nullptr) g.nccl().CommAbort(n_.comm);
    n_.comm = nullptr;
    if (stream_ != nullptr) g.cuda().StreamDestroy(stream_);
    stream_ = nullptr;
    if (req_ == MPI_REQUEST_NULL && n_.mpi != MPI_COMM_NULL && ProcessState::Get().CallerMayUseMpi()) {
      MPI_Comm_free(&n_.mpi);
    }
  }

 private:
  enum Phase { kDup, kBcast, kNccl };

  bool Done(GpuErr* e) {
    int flag = 0;
    const int rc = MPI_Test(&req_, &flag, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) *e = {kGpuMpi, rc};
    return rc != MPI_SUCCESS || flag != 0;
  }

  bool Bcast(GpuErr* e) {
    phase_ = kBcast;
    const int rc = MPI_Ibcast(&boot_, sizeof boot_, MPI_BYTE, 0, n_.mpi, &req_);
    if (rc != MPI_SUCCESS) *e = {kGpuMpi, rc};
    return rc == MPI_SUCCESS;
  }

  bool Begin(GpuEnv& g, GpuErr* e) {
    phase_ = kNccl;
    DeviceGuard guard(g.cuda(), n_.device);
    const cudaError_t crc = g.cuda().StreamCreateWithFlags(&stream_, MPI4NODE_cudaStreamNonBlocking);
    if (crc != cudaSuccess) {
      stream_ = nullptr;
      *e = GpuErr::Cuda(crc);
      return false;
    }
    n_.stream = stream_;
    ncclResult_t rc;
    if (nonblocking_) {
      ncclConfig_t config = mpi4nodeNcclConfigDefaults();
      config.blocking = 0;
      rc = g.nccl().CommInitRankConfig(&n_.comm, n_.size, boot_.id, n_.rank, &config);
      if (rc == ncclInProgress) rc = ncclSuccess;
    } else {
      rc = g.nccl().CommInitRank(&n_.comm, n_.size, boot_.id, n_.rank);
    }
    if (rc != ncclSuccess) {
      // A communicator that failed to start may still have been handed back (non-blocking creation).
      *e = {kGpuNccl, rc};
      return false;
    }
    return true;
  }

  // No answer yet in an MPI phase: past the deadline the caller gets the timeout now and the MPI part
  // goes on without it (Lingers()).
  bool Late(GpuEnv& g, GpuErr* err) {
    if (deadline_ == 0 || uv_hrtime() <= deadline_) return false;
    lingering_ = true;
    *err = {kGpuInitTimeout, static_cast<int>(timeoutNs_ / 1'000'000)};
    return true;
  }

  // The MPI part after the caller gave up. Returns true once nothing is left pending.
  bool Linger(GpuEnv& g) {
    GpuErr e;
    if (!Done(&e)) return false;
    if (e.ok() && phase_ == kDup) {
      MPI_Comm_rank(n_.mpi, &n_.rank);
      if (n_.rank == 0) boot_.rc = kBootAbandoned;
      if (Bcast(&e)) return false;
    }
    req_ = MPI_REQUEST_NULL;
    Abandon(g);
    return true;
  }

  PendingMpi pending_;
  MPI_Comm comm_;
  uint64_t timeoutNs_, deadline_ = 0;
  bool nonblocking_;
  bool lingering_ = false;
  Phase phase_ = kDup;
  MPI_Request req_ = MPI_REQUEST_NULL;
  struct {
    int rc;
    ncclUniqueId id;
  } boot_{};
  NcclEntry n_;
  cudaStream_t stream_ = nullptr;
};

// The arguments of both forms of creation: (comm, timeoutMs, nonblocking).
static std::unique_ptr<NcclCreation> StartInit(GpuEnv& g, const Args& a) {
  Napi::Env env = a.env();
  g.RequireNccl(env);
  a.RequireMpi();
  const double ms = a[1].As<Napi::Number>().DoubleValue();
  const bool nonblocking = a.Flag(2) && g.nccl().CommInitRankConfig != nullptr;
  auto t = std::make_unique<NcclCreation>(a.Comm(0), ms > 0 ? static_cast<uint64_t>(ms * 1e6) : 0, nonblocking);
  GpuErr e = t->Post(g);
  if (!e.ok()) g.Throw(env, e);
  return t;
}

// ncclCreate(comm, timeoutMs, nonblocking) -> id. Collective over comm; blocks this thread until the
// communicator exists or the deadline has passed.
Napi::Value GpuEnv::NcclCreate(const Napi::CallbackInfo& info) {
  Args a(addon_, info, Args::kNoMpi);
  std::unique_ptr<NcclCreation> t = StartInit(*this, a);
  GpuErr err;
  double rec[kGdFields] = {};
  // Rank 0's id and NCCL's bootstrap take milliseconds: spin briefly, then poll without burning the
  // core NCCL's own threads need.
  const uint64_t spinUntil = uv_hrtime() + 1'000'000;
  while (!t->Step(*this, &err, rec)) {
    if (uv_hrtime() > spinUntil) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (t->Lingers()) {
    lingering_.push_back(std::move(t));
    Arm();
  }
  if (!err.ok()) Throw(a.env(), err);
  return Napi::Number::New(a.env(), rec[kGdSource]);
}

// ncclInit(comm, timeoutMs, nonblocking) -> op id; its completion's source is the communicator id.
// Collective over comm; never blocks (except inside a blocking ncclCommInitRank).
Napi::Value GpuEnv::NcclInit(const Napi::CallbackInfo& info) {
  Args a(addon_, info, Args::kNoMpi);
  GpuOp op;
  op.xfer = StartInit(*this, a);
  return Napi::Number::New(a.env(), AddOp(std::move(op)));
}

// ncclInfo(id) -> [rank, size, device, nonblocking]
Napi::Value GpuEnv::NcclInfo(const Napi::CallbackInfo& info) {
  Args a(addon_, info, Args::kNoMpi);
  Napi::Env env = a.env();
  NcclEntry& n = Nccl(env, a.Int(0));
  Napi::Array out = Napi::Array::New(env, 4);
  out.Set(0u, n.rank);
  out.Set(1u, n.size);
  out.Set(2u, n.device);
  out.Set(3u, n.nonblocking);
  return out;
}

// ncclDestroy(id): ncclCommDestroy (unless aborted), then its stream and MPI duplicate. lib/ calls it
// only with nothing in flight, never from a finalizer.
Napi::Value GpuEnv::NcclDestroy(const Napi::CallbackInfo& info) {
  Args a(addon_, info, Args::kNoMpi);
  Napi::Env env = a.env();
  NcclEntry& n = Nccl(env, a.Int(0));
  // Operations of an aborted communicator fail at the next sweep; any other must have finished.
  if (n.pending > 0 && !n.aborted) throw Napi::Error::New(env, "internal: NCCL operations still in flight");
  ncclResult_t rc = ncclSuccess;
  if (!n.aborted) rc = nccl().CommDestroy(n.comm);
  cuda().StreamDestroy(n.stream);
  if (ProcessState::Get().CallerMayUseMpi()) {
    ReapChecks(n, true);
    MPI_Comm_free(&n.mpi);
  }
  n.live = false;
  n.comm = nullptr;
  n.stream = nullptr;
  n.mpi = MPI_COMM_NULL;
  n.checks.clear();
  if (rc != ncclSuccess) Throw(env, {kGpuNccl, rc});
  return env.Undefined();
}

// ncclAbort(id): ncclCommAbort now; operations in flight fail with kGpuAborted.
Napi::Value GpuEnv::NcclAbort(const Napi::CallbackInfo& info) {
  Args a(addon_, info, Args::kNoMpi);
  Napi::Env env = a.env();
  NcclEntry& n = Nccl(env, a.Int(0));
  AbortNccl(static_cast<int>(&n - nccls_.data()), 0);
  return env.Undefined();
}

// ncclOp(id, kind, send, sendOffset, recv, recvOffset, count, dtype, op, rootOrPeer, timeoutMs) -> op id.
// Buffers are handles (-1 where the operation has none); offsets are bytes, count elements.
Napi::Value GpuEnv::NcclOp(const Napi::CallbackInfo& info) {
  Args a(addon_, info, Args::kNoMpi);
  Napi::Env env = a.env();
  RequireNccl(env);
  NcclEntry& n = Nccl(env, a.Int(0));
  const int nid = static_cast<int>(&n - nccls_.data());
  if (n.aborted) Throw(env, {kGpuAborted, n.abortKind});
  const int kind = a.Int(1);
  const int sendH = a.Int(2), recvH = a.Int(4);
  const size_t sendOff = a.Size(3), recvOff = a.Size(5), count = a.Size(6);
  const int dtype = a.Int(7), redop = a.Int(8), peer = a.Int(9);
  const double timeoutMs = a[10].As<Napi::Number>().DoubleValue();
  const size_t elem = DtypeSize(dtype);
  if (elem == 0) throw Napi::RangeError::New(env, "internal: bad NCCL dtype");
  if ((kind == kSend || kind == kRecv) && (nccl().Send == nullptr || nccl().Recv == nullptr)) {
    Throw(env, {kGpuUsage, kUsageNoNcclP2p});
  }
  // Elements each buffer must hold, by operation (MPI's and NCCL's conventions).
  const size_t size = static_cast<size_t>(n.size);
  size_t sendCount = count, recvCount = count;
  if (kind == kAllGather) recvCount = count * size;
  if (kind == kReduceScatter) sendCount = count * size;
  DeviceMem* s = sendH >= 0 ? &Mem(env, sendH) : nullptr;
  DeviceMem* r = recvH >= 0 ? &Mem(env, recvH) : nullptr;
  if ((s && (sendOff > s->bytes || sendCount * elem > s->bytes - sendOff)) ||
      (r && (recvOff > r->bytes || recvCount * elem > r->bytes - recvOff))) {
    throw Napi::RangeError::New(env, "internal: NCCL buffer range out of bounds");
  }
  const void* sp = s ? static_cast<const char*>(s->ptr) + sendOff : nullptr;
  void* rp = r ? static_cast<char*>(r->ptr) + recvOff : nullptr;

  DeviceGuard guard(cuda(), n.device);
  if (s) Check(env, After(n.stream, *s));
  if (r && r != s) Check(env, After(n.stream, *r));
  ncclResult_t rc = ncclInvalidArgument;
  NcclApi& api = nccl();
  switch (kind) {
    case kAllReduce: rc = api.AllReduce(sp, rp, count, dtype, redop, n.comm, n.stream); break;
    case kBroadcast: rc = api.Broadcast(sp, rp, count, dtype, peer, n.comm, n.stream); break;
    case kReduce: rc = api.Reduce(sp, rp, count, dtype, redop, peer, n.comm, n.stream); break;
    case kAllGather: rc = api.AllGather(sp, rp, count, dtype, n.comm, n.stream); break;
    case kReduceScatter: rc = api.ReduceScatter(sp, rp, count, dtype, redop, n.comm, n.stream); break;
    case kSend: rc = api.Send(sp, count, dtype, peer, n.comm, n.stream); break;
    case kRecv: rc = api.Recv(rp, count, dtype, peer, n.comm, n.stream); break;
    default: throw Napi::RangeError::New(env, "internal: bad NCCL operation");
  }
  if (rc != ncclSuccess && rc != ncclInProgress) Throw(env, {kGpuNccl, rc});

  GpuOp op;
  op.nccl = nid;
  op.timeoutNs = timeoutMs > 0 ? static_cast<uint64_t>(timeoutMs * 1e6) : 0;
  if (rc == ncclInProgress && groupDepth == 0) {
    GpuErr launch = WaitLaunch(nid, op.timeoutNs);
    if (!launch.ok()) Throw(env, launch);
  }
  if (groupDepth > 0) {
    op.deferred = true;
    if (sendH >= 0) op.mems.push_back(sendH);
    if (recvH >= 0) op.mems.push_back(recvH);
    const int id = AddOp(std::move(op));
    deferredOps.push_back(id);
    return Napi::Number::New(env, id);
  }
  GpuErr err;
  op.ev = Record(n.stream, n.device, &err);
  if (!err.ok()) Throw(env, err);
  if (s) s->last = op.ev;
  if (r) r->last = op.ev;
  return Napi::Number::New(env, AddOp(std::move(op)));
}

Napi::Value GpuEnv::NcclGroupStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireNccl(env);
  const ncclResult_t rc = nccl().GroupStart();
  if (rc != ncclSuccess) Throw(env, {kGpuNccl, rc});
  ++groupDepth;
  return env.Undefined();
}

// ncclGroupEnd() -> ncclResult_t. At the outermost end the work is launched: each operation of the
// group gets an event on its communicator's stream (one per communicator) and its deadline starts.
// A failed launch fails every operation of the group through its completion.
Napi::Value GpuEnv::NcclGroupEnd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireNccl(env);
  if (groupDepth == 0) throw Napi::Error::New(env, "internal: ncclGroupEnd without ncclGroupStart");
  const ncclResult_t rc = nccl().GroupEnd();
  if (--groupDepth > 0) return Napi::Number::New(env, rc);
  // Non-blocking communicators: the group is launched by a thread of NCCL's; each communicator of it
  // is waited for (bounded by the shortest deadline of its operations) before events follow the work.
  std::vector<std::pair<int, GpuErr>> launched;  // per communicator
  if (rc == ncclInProgress) {
    for (int id : deferredOps) {
      const GpuOp& op = ops_[id];
      if (!op.live || std::any_of(launched.begin(), launched.end(), [&](auto& l) { return l.first == op.nccl; })) continue;
      uint64_t timeoutNs = 0;
      for (int other : deferredOps) {
        const GpuOp& o = ops_[other];
        if (o.live && o.nccl == op.nccl && o.timeoutNs != 0 && (timeoutNs == 0 || o.timeoutNs < timeoutNs)) timeoutNs = o.timeoutNs;
      }
      launched.emplace_back(op.nccl, nccls_[op.nccl].aborted ? GpuErr{kGpuAborted, nccls_[op.nccl].abortKind}
                                                             : WaitLaunch(op.nccl, timeoutNs));
    }
  }
  std::vector<std::pair<int, EventRef>> events;  // per communicator
  const uint64_t now = uv_hrtime();
  for (int id : deferredOps) {
    GpuOp& op = ops_[id];
    if (!op.live) continue;
    op.deferred = false;
    if (rc != ncclSuccess && rc != ncclInProgress) {
      op.failed = {kGpuNccl, rc};
      continue;
    }
    const auto l = std::find_if(launched.begin(), launched.end(), [&](auto& x) { return x.first == op.nccl; });
    if (l != launched.end() && !l->second.ok()) {
      op.failed = l->second;
      continue;
    }
    EventRef ev;
    for (auto& [comm, e] : events) {
      if (comm == op.nccl) ev = e;
    }
    if (!ev) {
      GpuErr err;
      DeviceGuard guard(cuda(), nccls_[op.nccl].device);
      ev = Record(nccls_[op.nccl].stream, nccls_[op.nccl].device, &err);
      if (!err.ok()) {
        op.failed = err;
        continue;
      }
      events.emplace_back(op.nccl, ev);
    }
    op.ev = ev;
    if (op.timeoutNs) op.deadline = now + op.timeoutNs;
    for (int h : op.mems) {
      if (h < static_cast<int>(mems_.size()) && mems_[h].live) mems_[h].last = ev;
    }
    op.mems.clear();
  }
  deferredOps.clear();
  Arm();
  return Napi::Number::New(env, rc);
}

// ncclCheck(id, signature) -> every rank's signature, concatenated (debug mode). Collective.
Napi::Value GpuEnv::NcclCheck(const Napi::CallbackInfo& info) {
  Args a(addon_, info);
  Napi::Env env = a.env();
  NcclEntry& n = Nccl(env, a.Int(0));
  auto sig = a[1].As<Napi::Float64Array>();
  const int len = static_cast<int>(sig.ElementLength());
  auto all = Napi::Float64Array::New(env, static_cast<size_t>(len) * n.size);
  a.Check(MPI_Allgather(sig.Data(), len, MPI_DOUBLE, all.Data(), len, MPI_DOUBLE, n.mpi));
  return all;
}

// ncclCheckPeer(id, peer, isSend, signature) -> the peer's signature (receiver) or null (sender). The
// sender's signature goes ahead without waiting, so two ranks that both send first cannot block.
Napi::Value GpuEnv::NcclCheckPeer(const Napi::CallbackInfo& info) {
  Args a(addon_, info);
  Napi::Env env = a.env();
  NcclEntry& n = Nccl(env, a.Int(0));
  const int peer = a.Int(1);
  auto sig = a[3].As<Napi::Float64Array>();
  const int len = static_cast<int>(sig.ElementLength());
  ReapChecks(n, false);
  if (a.Flag(2)) {
    n.checks.emplace_back(MPI_REQUEST_NULL, std::vector<double>(sig.Data(), sig.Data() + len));
    auto& [req, data] = n.checks.back();
    const int rc = MPI_Isend(data.data(), len, MPI_DOUBLE, peer, kCheckTag, n.mpi, &req);
    if (rc != MPI_SUCCESS) {
      n.checks.pop_back();
      a.Throw(rc);
    }
    return env.Null();
  }
  auto theirs = Napi::Float64Array::New(env, len);
  a.Check(MPI_Recv(theirs.Data(), len, MPI_DOUBLE, peer, kCheckTag, n.mpi, MPI_STATUS_IGNORE));
  return theirs;
}

void GpuEnv::DefineNccl(Napi::Env env, Napi::Object gpu) {
  static const Export table[] = {
      {"ncclCreate", Method<&GpuEnv::NcclCreate>},
      {"ncclInit", Method<&GpuEnv::NcclInit>},
      {"ncclInfo", Method<&GpuEnv::NcclInfo>},
      {"ncclDestroy", Method<&GpuEnv::NcclDestroy>},
      {"ncclAbort", Method<&GpuEnv::NcclAbort>},
      {"ncclOp", Method<&GpuEnv::NcclOp>},
      {"ncclGroupStart", Method<&GpuEnv::NcclGroupStart>},
      {"ncclGroupEnd", Method<&GpuEnv::NcclGroupEnd>},
      {"ncclCheck", Method<&GpuEnv::NcclCheck>},
      {"ncclCheckPeer", Method<&GpuEnv::NcclCheckPeer>},
  };
  DefineExports(env, gpu, this, table);
}

}  // namespace mpi4node
