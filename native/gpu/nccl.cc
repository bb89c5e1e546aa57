// NCCL communicators and operations. A communicator is bootstrapped over a private duplicate of an MPI
// communicator (rank 0 makes the unique id, MPI broadcasts it: 128 bytes, passed by value to
// ncclCommInitRank) and gets a stream of its own. Every operation is enqueued on that stream, after
// the last stream work on its buffers (cudaStreamWaitEvent: no host wait), and completes through an
// event recorded behind it. Inside a group (ncclGroupStart/End) the launch happens at groupEnd, so the
// events are recorded there. Deadlines and asynchronous errors are checked by the sweep (gpu/env.cc),
// which aborts the communicator rather than let a rank hang.
#include "addon.h"
#include "core/args.h"
#include "core/exports.h"
#include "gpu/env.h"

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

// ncclCreate(comm) -> [id, rank, size, device]. Collective over comm.
Napi::Value GpuEnv::NcclCreate(const Napi::CallbackInfo& info) {
  Args a(addon_, info, Args::kNoMpi);
  Napi::Env env = a.env();
  RequireNccl(env);
  a.RequireMpi();
  NcclEntry n;
  a.Check(MPI_Comm_dup(a.Comm(0), &n.mpi));
  MPI_Comm_rank(n.mpi, &n.rank);
  MPI_Comm_size(n.mpi, &n.size);
  auto fail = [&](GpuErr e) {
    if (n.stream != nullptr) cuda().StreamDestroy(n.stream);
    MPI_Comm_free(&n.mpi);
    Throw(env, e);
  };
  cudaError_t crc = cuda().GetDevice(&n.device);
  if (crc != cudaSuccess) fail(GpuErr::Cuda(crc));
  // The id and rank 0's result travel together, so a failure there fails every rank instead of
  // leaving them in ncclCommInitRank.
  struct {
    int rc;
    ncclUniqueId id;
  } boot{};
  if (n.rank == 0) boot.rc = nccl().GetUniqueId(&boot.id);
  const int rc = MPI_Bcast(&boot, sizeof boot, MPI_BYTE, 0, n.mpi);
  if (rc != MPI_SUCCESS) {
    MPI_Comm_free(&n.mpi);
    a.Throw(rc);
  }
  if (boot.rc != ncclSuccess) fail({kGpuNccl, boot.rc});
  crc = cuda().StreamCreateWithFlags(&n.stream, MPI4NODE_cudaStreamNonBlocking);
  if (crc != cudaSuccess) fail(GpuErr::Cuda(crc));
  const ncclResult_t nrc = nccl().CommInitRank(&n.comm, n.size, boot.id, n.rank);
  if (nrc != ncclSuccess) fail({kGpuNccl, nrc});
  n.live = true;
  int id = -1;
  for (size_t i = 0; i < nccls_.size(); ++i) {
    if (!nccls_[i].live && nccls_[i].pending == 0) {
      id = static_cast<int>(i);
      break;
    }
  }
  if (id < 0) {
    id = static_cast<int>(nccls_.size());
    nccls_.emplace_back();
  }
  nccls_[id] = std::move(n);
  Napi::Array out = Napi::Array::New(env, 4);
  out.Set(0u, id);
  out.Set(1u, nccls_[id].rank);
  out.Set(2u, nccls_[id].size);
  out.Set(3u, nccls_[id].device);
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
  if (groupDepth > 0) {
    op.deferred = true;
    if (sendH >= 0) op.mems.push_back(sendH);
    if (recvH >= 0) op.mems.push_back(recvH);
    const int id = AddOp(std::move(op));
    deferredOps.push_back(id);
    return Napi::Number::New(env, id);
  }
  GpuErr err;
  op.ev = Record(n.stream, &err);
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
    EventRef ev;
    for (auto& [comm, e] : events) {
      if (comm == op.nccl) ev = e;
    }
    if (!ev) {
      GpuErr err;
      DeviceGuard guard(cuda(), nccls_[op.nccl].device);
      ev = Record(nccls_[op.nccl].stream, &err);
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
