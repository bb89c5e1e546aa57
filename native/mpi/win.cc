// One-sided communication (MPI-4.1 chapter 12): windows and the operations on them. lib/rma/window.ts
// checks every argument, the epochs (an operation outside one, an unlock without a lock) and the target
// ranges before anything reaches MPI, and holds the memory of a window and of every operation in flight;
// these bindings convert and call MPI.
//
// - Windows are small integer handles into this environment's table; each gets MPI_ERRORS_RETURN (a
//   window's default handler is MPI_ERRORS_ARE_FATAL, whatever its communicator's is).
// - Memory MPI allocates (MPI_Win_allocate, MPI_Win_allocate_shared, and what MPI_Win_shared_query
//   finds of the other ranks) reaches JavaScript as external ArrayBuffers over it. MPI_Win_free releases
//   that memory, so winFree first detaches every ArrayBuffer handed out for the window: a view kept
//   past free() then has length 0 instead of pointing at freed memory.
// - Origin and target of an operation have the origin's element type; counts above INT_MAX travel as
//   one CountedType element on both sides. Displacements are in the target window's units.
// - The request-based operations (MPI_Rput, MPI_Rget, MPI_Raccumulate, MPI_Rget_accumulate) share the
//   bindings of the plain ones through the trailing `nb` flag; their requests go to the engine.
#include <cstring>
#include <optional>
#include <string>

#include "addon.h"
#include "core/args.h"
#include "core/buffers.h"
#include "core/exports.h"
#include "core/slots.h"
#include "mpi/ops.h"

namespace mpi4node {

namespace {

// The assertion bits lib/rma/window.ts sends, as MPI's MPI_MODE_* constants.
int Assertions(int bits) {
  int a = 0;
  if (bits & 1) a |= MPI_MODE_NOCHECK;
  if (bits & 2) a |= MPI_MODE_NOSTORE;
  if (bits & 4) a |= MPI_MODE_NOPUT;
  if (bits & 8) a |= MPI_MODE_NOPRECEDE;
  if (bits & 16) a |= MPI_MODE_NOSUCCEED;
  return a;
}

// An MPI_Info from alternating keys and values (an Array of strings), or MPI_INFO_NULL for none.
class InfoArg {
 public:
  InfoArg(const Args& a, size_t i) {
    if (!a[i].IsArray()) return;
    Napi::Array kv = a[i].As<Napi::Array>();
    if (kv.Length() == 0) return;
    a.Check(MPI_Info_create(&info_));
    for (uint32_t k = 0; k + 1 < kv.Length(); k += 2) {
      const std::string key = kv.Get(k).ToString(), value = kv.Get(k + 1).ToString();
      a.Check(MPI_Info_set(info_, key.c_str(), value.c_str()));
    }
  }
  ~InfoArg() {
    if (info_ != MPI_INFO_NULL) MPI_Info_free(&info_);
  }
  InfoArg(const InfoArg&) = delete;
  InfoArg& operator=(const InfoArg&) = delete;
  MPI_Info get() const { return info_; }

 private:
  MPI_Info info_ = MPI_INFO_NULL;
};

// An ArrayBuffer over `bytes` of MPI's memory at `base`, valid until the window is freed (winFree
// detaches it). An empty one gets ordinary memory: MPI may give a null or shared base for 0 bytes.
Napi::Value MemoryOf(Napi::Env env, void* base, size_t bytes) {
  if (bytes == 0 || base == nullptr) return Napi::ArrayBuffer::New(env, 0);
  napi_value ab;
  NAPI_THROW_IF_FAILED(env, napi_create_external_arraybuffer(env, base, bytes, nullptr, nullptr, &ab), Napi::Value());
  return Napi::Value(env, ab);
}

enum AccKind { kAccumulate, kGetAccumulate, kFetchAndOp };

}  // namespace

MPI_Win Addon::WinArg(const Args& a, size_t i) {
  const int h = a.Int(i);
  if (h < 0 || h >= static_cast<int>(wins_.size()) || wins_[h] == MPI_WIN_NULL) a.Throw(kErrBadHandle);
  return wins_[h];
}

Napi::Value Addon::RegisterWin(const Args& a, MPI_Win win) {
  const int rc = MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
  if (rc != MPI_SUCCESS) {
    MPI_Win_free(&win);
    a.Throw(rc);
  }
  const int32_t h = TakeIndex(wins_, freeWins_);
  wins_[h] = win;
  return Napi::Number::New(a.env(), h);
}

// winCreate(buf, dispUnit, comm, info) -> handle: MPI_Win_create over the typed array's own memory.
Napi::Value Addon::WinCreate(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const BufView b = a.Buf(0);
  const int dispUnit = a.Int(1);
  MPI_Comm comm = a.Comm(2);
  InfoArg in(a, 3);
  MPI_Win win;
  a.Check(MPI_Win_create(b.data, static_cast<MPI_Aint>(b.count * b.elemSize), dispUnit, in.get(), comm, &win));
  return RegisterWin(a, win);
}

// winAllocate(bytes, dispUnit, comm, shared, info) -> [handle, ArrayBuffer]: MPI_Win_allocate, or
// MPI_Win_allocate_shared when `shared`.
Napi::Value Addon::WinAllocate(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const size_t bytes = a.Size(0);
  const int dispUnit = a.Int(1);
  MPI_Comm comm = a.Comm(2);
  const bool shared = a.Flag(3);
  InfoArg in(a, 4);
  void* base = nullptr;
  MPI_Win win;
  const MPI_Aint n = static_cast<MPI_Aint>(bytes);
  a.Check(shared ? MPI_Win_allocate_shared(n, dispUnit, in.get(), comm, &base, &win)
                 : MPI_Win_allocate(n, dispUnit, in.get(), comm, &base, &win));
  // MPI leaves the memory as it was (a freed window's values come back in the next one); JavaScript's
  // new arrays are zeroed, and code that accumulates into a fresh window counts on it. The barrier keeps
  // a peer's first lock-and-put from landing before this rank has cleared its memory.
  if (bytes > 0) std::memset(base, 0, bytes);
  const int rc = MPI_Barrier(comm);
  if (rc != MPI_SUCCESS) {
    MPI_Win_free(&win);
    a.Check(rc);
  }
  Napi::Value h = RegisterWin(a, win);
  Napi::Array out = Napi::Array::New(a.env(), 2);
  out.Set(0u, h);
  out.Set(1u, MemoryOf(a.env(), base, bytes));
  return out;
}

// winSharedQuery(win, rank) -> [ArrayBuffer, dispUnit]: rank's segment of a shared window, mapped
// into this process (MPI_Win_shared_query).
Napi::Value Addon::WinSharedQuery(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Win win = WinArg(a, 0);
  MPI_Aint bytes = 0;
  int dispUnit = 0;
  void* base = nullptr;
  a.Check(MPI_Win_shared_query(win, a.Int(1), &bytes, &dispUnit, &base));
  Napi::Array out = Napi::Array::New(a.env(), 2);
  out.Set(0u, MemoryOf(a.env(), base, static_cast<size_t>(bytes)));
  out.Set(1u, dispUnit);
  return out;
}

// winAttr(win) -> [flavor, unified]: flavor 0 create, 1 allocate, 2 dynamic, 3 shared; whether the
// memory model is MPI_WIN_UNIFIED (else MPI_WIN_SEPARATE).
Napi::Value Addon::WinAttr(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Win win = WinArg(a, 0);
  int* flavor = nullptr;
  int* model = nullptr;
  int found = 0;
  a.Check(MPI_Win_get_attr(win, MPI_WIN_CREATE_FLAVOR, &flavor, &found));
  const int f = !found ? -1 : *flavor == MPI_WIN_FLAVOR_CREATE ? 0 : *flavor == MPI_WIN_FLAVOR_ALLOCATE ? 1
              : *flavor == MPI_WIN_FLAVOR_DYNAMIC ? 2 : 3;
  a.Check(MPI_Win_get_attr(win, MPI_WIN_MODEL, &model, &found));
  Napi::Array out = Napi::Array::New(a.env(), 2);
  out.Set(0u, f);
  out.Set(1u, found && *model == MPI_WIN_UNIFIED);
  return out;
}

// winFree(win, buffers): detaches the ArrayBuffers handed out over the window's memory, then frees it.
Napi::Value Addon::WinFree(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Win win = WinArg(a, 0);
  const int h = a.Int(0);
  Napi::Array list = a[1].As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value v = list.Get(i);
    bool detached = true;
    if (v.IsArrayBuffer() && napi_is_detached_arraybuffer(a.env(), v, &detached) == napi_ok && !detached) {
      napi_detach_arraybuffer(a.env(), v);
    }
  }
  wins_[h] = MPI_WIN_NULL;
  freeWins_.push_back(h);
  a.Check(MPI_Win_free(&win));
  return a.env().Undefined();
}

// The synchronisation calls: winFence(win, assert), winLock(win, rank, exclusive, assert),
// winUnlock(win, rank), winLockAll(win, assert), winUnlockAll(win),
// winFlushAll(win, local), winSync(win). A flush to one rank is rmaFast (mpi/fast.cc).
Napi::Value Addon::WinSync(const Napi::CallbackInfo& info, int which) {
  Args a(this, info);
  MPI_Win win = WinArg(a, 0);
  int rc;
  switch (which) {
    case kWinFence: rc = MPI_Win_fence(Assertions(a.Int(1)), win); break;
    case kWinLock:
      rc = MPI_Win_lock(a.Flag(2) ? MPI_LOCK_EXCLUSIVE : MPI_LOCK_SHARED, a.Int(1), Assertions(a.Int(3)), win);
      break;
    case kWinUnlock: rc = MPI_Win_unlock(a.Int(1), win); break;
    case kWinLockAll: rc = MPI_Win_lock_all(Assertions(a.Int(1)), win); break;
    case kWinUnlockAll: rc = MPI_Win_unlock_all(win); break;
    case kWinFlushAll: rc = a.Flag(1) ? MPI_Win_flush_local_all(win) : MPI_Win_flush_all(win); break;
    default: rc = MPI_Win_sync(win);
  }
  return a.Done(rc);
}

// winPut / winGet (win, buf, rank, disp, nb): buf's elements to or from the target at disp; nb: MPI_Rput
// / MPI_Rget, whose request the engine tracks.
Napi::Value Addon::WinMove(const Napi::CallbackInfo& info, int get) {
  Args a(this, info);
  MPI_Win win = WinArg(a, 0);
  const BufView b = a.Buf(1);
  const int rank = a.Int(2);
  const MPI_Aint disp = static_cast<MPI_Aint>(a.Size(3));
  const bool nb = a.Flag(4);
  CountedType ct(b.count, b.type);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    const int n = ct.count();
    MPI_Datatype t = ct.type();
    if (get) {
      rc = nb ? MPI_Rget(b.data, n, t, rank, disp, n, t, win, &req) : MPI_Get(b.data, n, t, rank, disp, n, t, win);
    } else {
      rc = nb ? MPI_Rput(b.data, n, t, rank, disp, n, t, win, &req) : MPI_Put(b.data, n, t, rank, disp, n, t, win);
    }
  }
  return a.Done(rc, nb, req);
}

// winAccumulate(win, origin, rank, disp, op, nb)
// winGetAccumulate(win, origin|null, result, rank, disp, op, nb): null origin with op no_op
// winFetchAndOp(win, origin|null, result, rank, disp, op): one element
// `op` is an op code (mpi/ops.h, kReplace and kNoOp included); accumulates take MPI's predefined ops only.
Napi::Value Addon::WinAccumulate(const Napi::CallbackInfo& info, int which) {
  Args a(this, info);
  MPI_Win win = WinArg(a, 0);
  const bool fetch = which != kAccumulate;
  const std::optional<BufView> origin = a.OptBuf(1);
  const std::optional<BufView> result = fetch ? std::optional<BufView>(a.Buf(2)) : std::nullopt;
  const size_t at = fetch ? 3 : 2;
  const int rank = a.Int(at);
  const MPI_Aint disp = static_cast<MPI_Aint>(a.Size(at + 1));
  const MPI_Op op = PredefinedOp(a.Int(at + 2));
  const bool nb = which != kFetchAndOp && a.Flag(at + 3);
  if (op == MPI_OP_NULL) throw Napi::TypeError::New(a.env(), "internal: unknown one-sided op");
  // The elements are the result's when there is no origin (no_op): MPI ignores the origin then.
  const BufView& data = origin ? *origin : *result;
  CountedType ct(data.count, data.type);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    const int n = ct.count();
    MPI_Datatype t = ct.type();
    void* o = origin ? origin->data : result->data;
    switch (which) {
      case kAccumulate:
        rc = nb ? MPI_Raccumulate(o, n, t, rank, disp, n, t, op, win, &req) : MPI_Accumulate(o, n, t, rank, disp, n, t, op, win);
        break;
      case kGetAccumulate:
        rc = nb ? MPI_Rget_accumulate(o, n, t, result->data, n, t, rank, disp, n, t, op, win, &req)
                : MPI_Get_accumulate(o, n, t, result->data, n, t, rank, disp, n, t, op, win);
        break;
      default: rc = MPI_Fetch_and_op(o, result->data, data.type, rank, disp, op, win);
    }
  }
  return a.Done(rc, nb, req);
}

// winCompareAndSwap(win, origin, compare, result, rank, disp): one element.
Napi::Value Addon::WinCompareAndSwap(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Win win = WinArg(a, 0);
  const BufView o = a.Buf(1), c = a.Buf(2), r = a.Buf(3);
  const int rank = a.Int(4);
  const MPI_Aint disp = static_cast<MPI_Aint>(a.Size(5));
  return a.Done(MPI_Compare_and_swap(o.data, c.data, r.data, o.type, rank, disp, win));
}

// winProgress(comm): lets the MPI progress engine run once, by an MPI_Iprobe on `comm` (which matches
// and takes nothing). MPICH serves other ranks' passive-target operations on this rank's window only
// inside MPI calls of this rank; lib/rma/window.ts calls this from a timer while a window exists. (An
// MPI_Iprobe on MPI_COMM_SELF does not do it in MPICH 4.0.2: measured in C, it never progresses them.)
Napi::Value Addon::WinProgress(const Napi::CallbackInfo& info) {
  Args a(this, info);
  int flag = 0;
  MPI_Status st;
  return a.Done(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, a.Comm(0), &flag, &st));
}

void Addon::DefineWin(Napi::Env env, Napi::Object exports) {
  static const Export table[] = {
      {"winCreate", Method<&Addon::WinCreate>},
      {"winAllocate", Method<&Addon::WinAllocate>},
      {"winSharedQuery", Method<&Addon::WinSharedQuery>},
      {"winAttr", Method<&Addon::WinAttr>},
      {"winFree", Method<&Addon::WinFree>},
      {"winFence", Method<&Addon::WinSync, kWinFence>},
      {"winLock", Method<&Addon::WinSync, kWinLock>},
      {"winUnlock", Method<&Addon::WinSync, kWinUnlock>},
      {"winLockAll", Method<&Addon::WinSync, kWinLockAll>},
      {"winUnlockAll", Method<&Addon::WinSync, kWinUnlockAll>},
      {"winFlushAll", Method<&Addon::WinSync, kWinFlushAll>},
      {"winSync", Method<&Addon::WinSync, kWinSyncMem>},
      {"winPut", Method<&Addon::WinMove, 0>},
      {"winGet", Method<&Addon::WinMove, 1>},
      {"winAccumulate", Method<&Addon::WinAccumulate, kAccumulate>},
      {"winGetAccumulate", Method<&Addon::WinAccumulate, kGetAccumulate>},
      {"winFetchAndOp", Method<&Addon::WinAccumulate, kFetchAndOp>},
      {"winCompareAndSwap", Method<&Addon::WinCompareAndSwap>},
      {"winProgress", Method<&Addon::WinProgress>},
  };
  DefineExports(env, exports, this, table);
}

}  // namespace mpi4node
