// GpuEnv: set-up and teardown, loading and status, devices, and the sweep that completes device
// operations (see gpu/env.h for why it is built this way; progress/poller.h drives it).
#include "gpu/env.h"

#include <algorithm>
#include <thread>

#include "addon.h"
#include "core/args.h"
#include "core/exports.h"
#include "core/errors.h"
#include "core/slots.h"

namespace mpi4node {

namespace {
constexpr size_t kPinnedPoolCap = size_t{64} << 20;  // pinned memory kept for reuse, beyond which it is freed

Napi::Array TriedList(Napi::Env env, const std::vector<TriedPath>& tried) {
  Napi::Array a = Napi::Array::New(env, tried.size());
  for (size_t i = 0; i < tried.size(); ++i) {
    Napi::Object t = Napi::Object::New(env);
    t.Set("path", tried[i].path);
    t.Set("error", tried[i].error);
    a.Set(static_cast<uint32_t>(i), t);
  }
  return a;
}

std::vector<std::string> Strings(const Napi::Value& v) {
  std::vector<std::string> out;
  if (!v.IsArray()) return out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  return out;
}

std::string UsageText(int code) {
  switch (code) {
    case kUsageBadHandle: return "the device buffer or NCCL communicator was disposed";
    case kUsageNoNcclP2p: return "this NCCL has no ncclSend/ncclRecv (they need NCCL >= 2.7)";
    case kUsageBadMessage: return "a staged device message was malformed";
  }
  return "invalid use";
}
}  // namespace

// ---- life cycle ----

void GpuEnv::Define(Addon* addon, Napi::Env env, Napi::Object exports) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  GpuEnv* self = new GpuEnv(addon, env, loop);
  napi_add_async_cleanup_hook(env, Cleanup, self, &self->cleanup_);

  Napi::Object gpu = Napi::Object::New(env);
  self->DefineEnv(env, gpu);
  self->DefineMemory(env, gpu);
  self->DefineNccl(env, gpu);
  self->DefineStaging(env, gpu);
  exports.Set("gpu", gpu);
}

GpuEnv::GpuEnv(Addon* addon, napi_env env, uv_loop_t* loop) : addon_(addon), poller_(env, loop, this) {}

GpuEnv::~GpuEnv() = default;

void GpuEnv::Cleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  static_cast<GpuEnv*>(arg)->Shutdown();
  napi_remove_async_cleanup_hook(handle);
}

// The environment is going away. Transfers let go of their MPI requests, and device and pinned memory
// is freed. NCCL communicators are left alone: tearing one down is collective, and the process (or
// the driver, at exit) reclaims them.
void GpuEnv::Shutdown() {
  for (GpuOp& op : ops_) {
    if (op.live && op.xfer) op.xfer->Abandon(*this);
    op = GpuOp();
  }
  for (auto& t : lingering_) t->Abandon(*this);
  lingering_.clear();
  liveOps_ = 0;
  ncclOps_ = 0;
  GpuLoader& l = GpuLoader::Get();
  if (l.attempted() && l.cudaUsable()) {
    CudaApi& c = l.cuda;
    FlushFrees();
    for (DeviceMem& m : mems_) {
      if (m.live) c.Free(m.ptr);
      m = DeviceMem();
    }
    for (Pinned& p : pinnedPool_) c.FreeHost(p.ptr);
    for (cudaStream_t s : copyStreams_) {
      if (s != nullptr) c.StreamDestroy(s);
    }
    for (auto& pool : eventPools_) {
      for (cudaEvent_t e : pool) c.EventDestroy(e);
    }
  }
  mems_.clear();
  pinnedPool_.clear();
  eventPools_.clear();
  // Every reference goes now, while the napi_env is alive: the poller's close callback deletes this
  // object after Node has freed the env, and a reference deleted then writes into freed memory
  // (valgrind: napi_delete_reference from ~GpuEnv; the heap corruption behind worker-teardown aborts).
  makeError_.Reset();
  doneIdsRef_.Reset();
  doneRecRef_.Reset();
  statusRef_.Reset();
  doneIds_ = nullptr;
  doneRec_ = nullptr;
  status_ = nullptr;
  capacity_ = 0;
  poller_.Close([](void* self) { delete static_cast<GpuEnv*>(self); }, this);
}

// ---- bindings ----

// setup({ onComplete, doneIds, doneRec, status, makeError })
Napi::Value GpuEnv::Setup(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  auto ids = o.Get("doneIds").As<Napi::Int32Array>();
  auto rec = o.Get("doneRec").As<Napi::Float64Array>();
  auto status = o.Get("status").As<Napi::Float64Array>();
  if (rec.ElementLength() < ids.ElementLength() * kGdFields || status.ElementLength() < kGdFields) {
    throw Napi::RangeError::New(info.Env(), "internal: GPU completion buffers too small");
  }
  doneIdsRef_ = Napi::Persistent(ids);
  doneRecRef_ = Napi::Persistent(rec);
  statusRef_ = Napi::Persistent(status);
  doneIds_ = ids.Data();
  doneRec_ = rec.Data();
  status_ = status.Data();
  capacity_ = static_cast<int>(ids.ElementLength());
  poller_.SetCallback(o.Get("onComplete").As<Napi::Function>());
  makeError_ = Napi::Persistent(o.Get("makeError").As<Napi::Function>());
  return info.Env().Undefined();
}

// load(cudartCandidates, ncclCandidates): loads once per process, then reports.
Napi::Value GpuEnv::Load(const Napi::CallbackInfo& info) {
  GpuLoader::Get().Load(Strings(info[0]), Strings(info[1]));
  return Status(info);
}

Napi::Value GpuEnv::Status(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GpuLoader& l = GpuLoader::Get();
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("code", l.cudaCode());
  cuda.Set("reason", l.cudaReason());
  cuda.Set("path", l.cudartPath());
  cuda.Set("runtimeVersion", l.runtimeVersion());
  cuda.Set("driverVersion", l.driverVersion());
  cuda.Set("devices", l.deviceCount());
  cuda.Set("tried", TriedList(env, l.cudartTried()));
  Napi::Object nccl = Napi::Object::New(env);
  nccl.Set("code", l.ncclCode());
  nccl.Set("reason", l.ncclReason());
  nccl.Set("path", l.ncclPath());
  nccl.Set("versionCode", l.ncclVersionCode());
  nccl.Set("p2p", l.ncclUsable() && l.nccl.Send != nullptr && l.nccl.Recv != nullptr);
  nccl.Set("config", l.ncclUsable() && l.nccl.CommInitRankConfig != nullptr);
  nccl.Set("tried", TriedList(env, l.ncclTried()));
  Napi::Object out = Napi::Object::New(env);
  out.Set("attempted", l.attempted());
  out.Set("cuda", cuda);
  out.Set("nccl", nccl);
  return out;
}

std::string GpuErrorText(int kind, int code) {
  GpuLoader& l = GpuLoader::Get();
  switch (kind) {
    case kGpuCuda:
      if (l.cuda.GetErrorName == nullptr) return "CUDA error " + std::to_string(code);
      return std::string(l.cuda.GetErrorName(code)) + ": " + l.cuda.GetErrorString(code);
    case kGpuNccl:
    case kGpuNcclAsync:
      if (l.nccl.GetErrorString == nullptr) return "NCCL error " + std::to_string(code);
      return l.nccl.GetErrorString(code);
    case kGpuMpi: return ErrorString(code);
    case kGpuUsage: return UsageText(code);
  }
  return "";
}

Napi::Value GpuEnv::ErrorText(const Napi::CallbackInfo& info) {
  Args a(addon_, info, Args::kNoMpi);
  return Napi::String::New(a.env(), GpuErrorText(a.Int(0), a.Int(1)));
}

void GpuEnv::Throw(Napi::Env env, GpuErr e) {
  if (e.kind == kGpuCuda && cuda().GetLastError) cuda().GetLastError();  // not sticky for the next call
  Napi::Value err = makeError_.Call({Napi::Number::New(env, e.kind), Napi::Number::New(env, e.code),
                                     Napi::String::New(env, GpuErrorText(e.kind, e.code))});
  throw Napi::Error(env, err);
}

void GpuEnv::RequireCuda(Napi::Env env) {
  GpuLoader& l = GpuLoader::Get();
  if (!l.attempted() || !l.cudaUsable()) throw Napi::Error::New(env, "internal: the GPU is not available");
}

void GpuEnv::RequireNccl(Napi::Env env) {
  RequireCuda(env);
  if (!GpuLoader::Get().ncclUsable()) throw Napi::Error::New(env, "internal: NCCL is not available");
}

Napi::Value GpuEnv::SetDevice(const Napi::CallbackInfo& info) {
  Args a(addon_, info, Args::kNoMpi);
  RequireCuda(a.env());
  Check(a.env(), cuda().SetDevice(a.Int(0)));
  return a.env().Undefined();
}

Napi::Value GpuEnv::GetDevice(const Napi::CallbackInfo& info) {
  RequireCuda(info.Env());
  int d = 0;
  Check(info.Env(), cuda().GetDevice(&d));
  return Napi::Number::New(info.Env(), d);
}

// sharedLocalRank(comm) -> [rank, size] among the ranks sharing this node's memory. Collective.
Napi::Value GpuEnv::SharedLocalRank(const Napi::CallbackInfo& info) {
  Args a(addon_, info);
  Napi::Env env = a.env();
  MPI_Comm local;
  a.Check(MPI_Comm_split_type(a.Comm(0), MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local));
  int r = 0, s = 0;
  MPI_Comm_rank(local, &r);
  MPI_Comm_size(local, &s);
  MPI_Comm_free(&local);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, r);
  out.Set(1u, s);
  return out;
}

// cudaAware(force) -> [aware, how]
Napi::Value GpuEnv::CudaAware(const Napi::CallbackInfo& info) {
  Args a(addon_, info);
  Napi::Env env = a.env();
  std::string how;
  const bool aware = GpuLoader::Get().MpiCudaAware(a.Int(0), &how);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, aware);
  out.Set(1u, how);
  return out;
}

Napi::Value GpuEnv::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double buffers = 0, bytes = 0;
  for (const DeviceMem& m : mems_) {
    if (!m.live) continue;
    buffers += 1;
    bytes += static_cast<double>(m.bytes);
  }
  int comms = 0;
  for (const NcclEntry& n : nccls_) comms += n.live ? 1 : 0;
  Napi::Object o = Napi::Object::New(env);
  o.Set("buffers", buffers);
  o.Set("bytes", bytes);
  o.Set("ops", liveOps_);
  o.Set("ncclComms", comms);
  o.Set("events", eventsCreated_);
  o.Set("pinnedPooled", static_cast<double>(pinnedBytes_));
  o.Set("deferredFrees", static_cast<double>(deferredFrees_.size()));
  o.Set("lingering", static_cast<double>(lingering_.size()));
  return o;
}

// wait(id): blocks this thread until the operation completes (NCCL deadlines still apply); its
// record goes to the status buffer.
Napi::Value GpuEnv::Wait(const Napi::CallbackInfo& info) {
  Args a(addon_, info, Args::kNoMpi);
  const int id = a.Int(0);
  if (Live(a.env(), ops_, id).deferred) {
    throw Napi::Error::New(a.env(), "cannot wait for an NCCL operation inside an open group: groupEnd() launches it");
  }
  Settle(id, true);
  return a.env().Undefined();
}

// test(id) -> true (record in the status buffer) when the operation has completed.
Napi::Value GpuEnv::Test(const Napi::CallbackInfo& info) {
  Args a(addon_, info, Args::kNoMpi);
  const int id = a.Int(0);
  Live(a.env(), ops_, id);
  return Napi::Boolean::New(a.env(), Settle(id, false));
}

bool GpuEnv::Settle(int id, bool block) {
  GpuErr err;
  for (int k = 0; k < kGdFields; ++k) status_[k] = 0;
  MatchAll();
  while (!StepOp(id, &err, status_)) {
    if (!block) return false;
    MatchAll();
  }
  status_[kGdKind] = err.kind;
  status_[kGdCode] = err.code;
  FinishOp(id);
  return true;
}

// ---- pools ----

EventRef GpuEnv::NewEvent(int device, GpuErr* err) {
  if (device >= static_cast<int>(eventPools_.size())) eventPools_.resize(device + 1);
  std::vector<cudaEvent_t>& pool = eventPools_[device];
  cudaEvent_t e = nullptr;
  if (!pool.empty()) {
    e = pool.back();
    pool.pop_back();
  } else {
    DeviceGuard guard(cuda(), device);
    cudaError_t rc = cuda().EventCreateWithFlags(&e, MPI4NODE_cudaEventDisableTiming);
    if (rc != cudaSuccess) {
      *err = GpuErr::Cuda(rc);
      return nullptr;
    }
    ++eventsCreated_;
  }
  return EventRef(new EventBox{e, device}, [this](EventBox* b) {
    eventPools_[b->device].push_back(b->e);
    delete b;
  });
}

EventRef GpuEnv::Record(cudaStream_t s, int device, GpuErr* err) {
  EventRef ev = NewEvent(device, err);
  if (!ev) return nullptr;
  cudaError_t rc = cuda().EventRecord(ev->e, s);
  if (rc != cudaSuccess) {
    *err = GpuErr::Cuda(rc);
    return nullptr;
  }
  return ev;
}

cudaError_t GpuEnv::After(cudaStream_t s, const DeviceMem& m) {
  return m.last ? cuda().StreamWaitEvent(s, m.last->e, 0) : cudaSuccess;
}

cudaStream_t GpuEnv::CopyStream(int device, GpuErr* err) {
  if (device >= static_cast<int>(copyStreams_.size())) copyStreams_.resize(device + 1, nullptr);
  if (copyStreams_[device] == nullptr) {
    DeviceGuard guard(cuda(), device);
    cudaError_t rc = cuda().StreamCreateWithFlags(&copyStreams_[device], MPI4NODE_cudaStreamNonBlocking);
    if (rc != cudaSuccess) {
      *err = GpuErr::Cuda(rc);
      copyStreams_[device] = nullptr;
    }
  }
  return copyStreams_[device];
}

Pinned GpuEnv::TakePinned(size_t bytes, GpuErr* err) {
  for (size_t i = 0; i < pinnedPool_.size(); ++i) {
    if (pinnedPool_[i].bytes >= bytes) {
      Pinned p = pinnedPool_[i];
      pinnedPool_.erase(pinnedPool_.begin() + i);
      pinnedBytes_ -= p.bytes;
      return p;
    }
  }
  Pinned p;
  cudaError_t rc = cuda().MallocHost(&p.ptr, bytes);
  if (rc != cudaSuccess) {
    *err = GpuErr::Cuda(rc);
    return Pinned();
  }
  p.bytes = bytes;
  return p;
}

void GpuEnv::GivePinned(Pinned p) {
  if (p.ptr == nullptr) return;
  if (pinnedBytes_ + p.bytes > kPinnedPoolCap) {
    FreeHost(p.ptr);
    return;
  }
  pinnedBytes_ += p.bytes;
  pinnedPool_.push_back(p);
}

void GpuEnv::FreeDevice(void* p) {
  if (ncclOps_ > 0) deferredFrees_.emplace_back(p, false);
  else cuda().Free(p);
}

void GpuEnv::FreeHost(void* p) {
  if (ncclOps_ > 0) deferredFrees_.emplace_back(p, true);
  else cuda().FreeHost(p);
}

void GpuEnv::FlushFrees() {
  for (auto& [p, host] : deferredFrees_) {
    if (host) cuda().FreeHost(p);
    else cuda().Free(p);
  }
  deferredFrees_.clear();
}

// ---- operations and their sweep ----

int GpuEnv::AddOp(GpuOp op) {
  const int id = TakeIndex(ops_, freeOps_);
  op.live = true;
  if (op.nccl >= 0) {
    nccls_[op.nccl].pending++;
    ++ncclOps_;
  }
  if (!op.deferred && op.timeoutNs) op.deadline = uv_hrtime() + op.timeoutNs;
  ops_[id] = std::move(op);
  order_.push_back(id);
  ++liveOps_;
  if (!ops_[id].deferred) Arm();
  return id;
}

void GpuEnv::FinishOp(int id) {
  GpuOp& op = ops_[id];
  if (op.nccl >= 0) {
    nccls_[op.nccl].pending--;
    if (--ncclOps_ == 0 && !deferredFrees_.empty()) FlushFrees();
  }
  if (op.xfer && op.xfer->Lingers()) {
    lingering_.push_back(std::move(op.xfer));
    Arm();
  }
  op = GpuOp();
  freeOps_.push_back(id);
  order_.erase(std::find(order_.begin(), order_.end(), id));
  --liveOps_;
}

void GpuEnv::MatchAll() {
  sweep_ = order_;
  for (size_t i = 0; i < sweep_.size(); ++i) {
    Transfer* r = ops_[sweep_[i]].xfer.get();
    MPI_Message msg;
    MPI_Status st;
    while (r != nullptr && r->Probing() && r->Probe(&msg, &st)) {
      // r itself accepts it, unless an earlier receive does (the message arrived after it probed).
      for (size_t j = 0; j <= i; ++j) {
        Transfer* e = ops_[sweep_[j]].xfer.get();
        if (e != nullptr && e->Probing() && e->Accepts(r->probeComm(), st)) {
          e->Accept(*this, msg, st);
          break;
        }
      }
    }
  }
}

int GpuEnv::AddNccl(NcclEntry n) {
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
  return id;
}

GpuErr GpuEnv::WaitLaunch(int id, uint64_t timeoutNs) {
  const uint64_t start = uv_hrtime();
  for (;;) {
    ncclResult_t state = ncclInProgress;
    const ncclResult_t rc = nccl().CommGetAsyncError(nccls_[id].comm, &state);
    if (rc != ncclSuccess) state = rc;
    if (state == ncclSuccess) return GpuErr();
    if (state != ncclInProgress) {
      AbortNccl(id, kGpuNcclAsync);
      return {kGpuNcclAsync, state};
    }
    if (timeoutNs != 0 && uv_hrtime() - start > timeoutNs) {
      AbortNccl(id, kGpuTimeout);
      return {kGpuTimeout, static_cast<int>(timeoutNs / 1'000'000)};
    }
    std::this_thread::yield();  // NCCL's launch thread may need this very core
  }
}

void GpuEnv::AbortNccl(int id, int why) {
  NcclEntry& n = nccls_[id];
  if (n.aborted) return;
  nccl().CommAbort(n.comm);
  n.aborted = true;
  n.abortKind = why;
  Arm();  // the other operations on it fail at the next sweep
}

bool GpuEnv::StepOp(int id, GpuErr* err, double* rec) {
  GpuOp& op = ops_[id];
  if (op.xfer) return op.xfer->Step(*this, err, rec);
  if (op.deferred) return false;
  if (!op.failed.ok()) {
    *err = op.failed;
    return true;
  }
  if (op.nccl >= 0 && nccls_[op.nccl].aborted) {
    *err = {kGpuAborted, nccls_[op.nccl].abortKind};
    return true;
  }
  const cudaError_t q = cuda().EventQuery(op.ev->e);
  if (q == cudaSuccess) return true;
  if (q != cudaErrorNotReady) {
    cuda().GetLastError();
    *err = GpuErr::Cuda(q);
    return true;
  }
  if (op.nccl >= 0) {
    NcclEntry& n = nccls_[op.nccl];
    ncclResult_t async = ncclSuccess;
    nccl().CommGetAsyncError(n.comm, &async);
    if (async != ncclSuccess && async != ncclInProgress) {
      AbortNccl(op.nccl, kGpuNcclAsync);
      *err = {kGpuNcclAsync, async};
      return true;
    }
    if (op.deadline != 0 && uv_hrtime() > op.deadline) {
      AbortNccl(op.nccl, kGpuTimeout);
      *err = {kGpuTimeout, static_cast<int>(op.timeoutNs / 1'000'000)};
      return true;
    }
  }
  return false;
}

int GpuEnv::Sweep() {
  int n = 0;
  for (size_t i = 0; i < lingering_.size();) {
    GpuErr ignored;
    double rec[kGdFields];
    if (lingering_[i]->Step(*this, &ignored, rec)) {
      lingering_.erase(lingering_.begin() + i);
    } else {
      ++i;
    }
  }
  MatchAll();
  sweep_ = order_;  // finishing an operation edits order_
  // Work on one stream completes in order: once an NCCL operation is not done, the later ones of its
  // communicator are not either, and only their deadlines need a look (many in flight stay cheap).
  blocked_.clear();
  for (int id : sweep_) {
    if (n >= capacity_) break;
    GpuOp& op = ops_[id];
    if (!op.live || op.deferred) continue;
    double* rec = doneRec_ + n * kGdFields;
    for (int k = 0; k < kGdFields; ++k) rec[k] = 0;
    GpuErr err;
    const bool behind = op.nccl >= 0 && !op.xfer && std::find(blocked_.begin(), blocked_.end(), op.nccl) != blocked_.end();
    if (behind && !nccls_[op.nccl].aborted && !(op.deadline != 0 && uv_hrtime() > op.deadline)) continue;
    if (!StepOp(id, &err, rec)) {
      if (op.nccl >= 0 && !behind) blocked_.push_back(op.nccl);
      continue;
    }
    rec[kGdKind] = err.kind;
    rec[kGdCode] = err.code;
    doneIds_[n++] = id;
    FinishOp(id);
  }
  return n;
}

bool GpuEnv::Pending() const {
  if (!lingering_.empty()) return true;
  for (const GpuOp& op : ops_) {
    if (op.live && !op.deferred) return true;
  }
  return false;
}

void GpuEnv::DefineEnv(Napi::Env env, Napi::Object gpu) {
  static const Export table[] = {
      {"setup", Method<&GpuEnv::Setup>},
      {"load", Method<&GpuEnv::Load>},
      {"status", Method<&GpuEnv::Status>},
      {"errorText", Method<&GpuEnv::ErrorText>},
      {"setDevice", Method<&GpuEnv::SetDevice>},
      {"getDevice", Method<&GpuEnv::GetDevice>},
      {"sharedLocalRank", Method<&GpuEnv::SharedLocalRank>},
      {"cudaAware", Method<&GpuEnv::CudaAware>},
      {"stats", Method<&GpuEnv::Stats>},
      {"wait", Method<&GpuEnv::Wait>},
      {"test", Method<&GpuEnv::Test>},
  };
  DefineExports(env, gpu, this, table);
}

}  // namespace mpi4node
