// The hot path: send/recv/isend/irecv of small buffers. An N-API call through node-addon-api with a
// typed array and four integers costs ~70 ns here, of which ~20 ns is the typed-array lookup and ~20 ns
// the integer conversions; a bare call costs ~10 ns. So lib/addon/fastpath.ts registers each small buffer
// once (registerBuffer(k, buf) below), writes the integer arguments into a shared Int32Array, and calls
// these zero-argument raw callbacks. C MPI's 8-byte ping-pong is ~0.43 us: every 10 ns is 2%.
#include <atomic>
#include <cstring>
#include <mutex>

#include "addon.h"
#include "core/args.h"
#include "core/errors.h"
#include "core/exports.h"
#include "mpi/ops.h"

namespace mpi4node {

namespace {

// The per-message fields of a channel header, sequence number and correlation id (docs/wire-format.md).
constexpr size_t kSeqBegin = 24, kSeqEnd = 40;

// While one environment has the addon (the usual process: no worker threads load it), its Addon is
// `sole` and the fast calls skip napi_get_cb_info (~35 instructions of ~250 per call). A second
// environment clears it before its own JavaScript can call in, and the first environment reading the
// old value still gets its own Addon, so a stale read is never wrong.
// `live` and the choice of `sole` change together under `soleMu`: two environments loading the addon at
// once (workers, the main thread without it) could otherwise each count, and the first one's late store
// make it `sole` while the second, sharing the process, called in with the first one's slab.
std::mutex soleMu;
int live = 0;
std::atomic<Addon*> sole{nullptr};

Addon* Self(napi_env env, napi_callback_info info) {
  if (Addon* a = sole.load(std::memory_order_relaxed)) return a;
  void* data = nullptr;
  napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data);
  return static_cast<Addon*>(data);
}

// `comm`: the handle of the call's communicator, whose error hook sees the error first (-1: none).
napi_value ThrowCode(napi_env env, Addon* self, int code, int comm = -1) {
  try {
    napi_throw(env, self->MakeError(Napi::Env(env), code, comm));
  } catch (const Napi::Error& e) {
    napi_throw(env, e.Value());
  }
  return nullptr;
}

// Addon::usable_ is set once UsableCode() has passed on this environment's thread (each Node
// environment has a thread of its own); finalisation is the only thing that revokes it, and it is
// checked. UsableCode itself costs ~55 instructions (four atomic loads, pthread_self).
inline int FastUsable(Addon* self, const ProcessState& ps) {
  if (self->usable() && !ps.finalized()) return MPI_SUCCESS;
  return self->UsableCode();
}

}  // namespace

void Addon::NoteCreated(Addon* addon) {
  std::lock_guard<std::mutex> lock(soleMu);
  sole.store(++live == 1 ? addon : nullptr);
}

void Addon::NoteDestroyed(Addon* addon) {
  std::lock_guard<std::mutex> lock(soleMu);
  --live;
  if (sole.load() == addon) sole.store(nullptr);
}

// registerBuffer(k, buf): caches buf's memory in slot k and holds a reference to it until replaced.
Napi::Value Addon::RegisterBuffer(const Napi::CallbackInfo& info) {
  Args a(this, info, Args::kNoMpi);
  const int k = a.Int(0);
  if (k < 0 || k >= kFastBufs) throw Napi::RangeError::New(a.env(), "internal: bad fast buffer slot");
  fastBufs_[k] = a.Buf(1);
  fastBufRefs_.Set(static_cast<uint32_t>(k), a[1]);
  return a.env().Undefined();
}

// registerExpected(k, header, total): slot k now holds a channel header a receiver accepted (through
// its padding) and the length of the message it came with.
Napi::Value Addon::RegisterExpected(const Napi::CallbackInfo& info) {
  Args a(this, info, Args::kNoMpi);
  const int k = a.Int(0);
  if (k < 0 || k >= kExpectSlots) throw Napi::RangeError::New(a.env(), "internal: bad expected-header slot");
  const BufView h = a.Buf(1);
  const size_t total = a.Size(2);
  const size_t n = h.count * h.elemSize;
  if (n < kSeqEnd || total < n) throw Napi::RangeError::New(a.env(), "internal: bad expected header");
  const auto* p = static_cast<const uint8_t*>(h.data);
  expected_[k].bytes.assign(p, p + n);
  expected_[k].total = total;
  return a.env().Undefined();
}

// Everything but the sequence number and correlation id (docs/wire-format.md: bytes 24-39), which
// differ per message and which a receiver without authentication does not check.
bool Addon::MatchesExpected(int k, const uint8_t* msg, size_t bytes) const {
  const ExpectedHeader& e = expected_[k & (kExpectSlots - 1)];
  const size_t n = e.bytes.size();
  if (bytes != e.total || n == 0) return false;
  const uint8_t* h = e.bytes.data();
  return std::memcmp(msg, h, kSeqBegin) == 0 && std::memcmp(msg + kSeqEnd, h + kSeqEnd, n - kSeqEnd) == 0;
}

// The fast path only carries buffers lib/ registered, all far below INT_MAX elements.
// FAST_ENTRY: the addon, MPI usable, the slab; FAST_PROLOGUE adds the registered array and the communicator.
#define FAST_ENTRY                                                      \
  Addon* self = Self(env, info);                                        \
  const ProcessState& ps = ProcessState::Get();                         \
  int rc = FastUsable(self, ps);                                        \
  if (rc != MPI_SUCCESS) return ThrowCode(env, self, rc);               \
  const int32_t* a = self->args_

#define FAST_PROLOGUE                                                   \
  FAST_ENTRY;                                                           \
  const BufView& b = self->fastBufs_[a[Addon::kBufSlot] & (Addon::kFastBufs - 1)]; \
  MPI_Comm comm = ps.Comm(a[Addon::kCommArg]);                          \
  if (comm == MPI_COMM_NULL) return ThrowCode(env, self, kErrBadHandle)

static napi_value SendFast(napi_env env, napi_callback_info info) {
  FAST_PROLOGUE;
  const int count = static_cast<int>(b.count);
  rc = a[Addon::kFlags] ? MPI_Ssend(b.data, count, b.type, a[Addon::kPeer], a[Addon::kTagArg], comm)
                        : MPI_Send(b.data, count, b.type, a[Addon::kPeer], a[Addon::kTagArg], comm);
  if (rc != MPI_SUCCESS) return ThrowCode(env, self, rc, a[Addon::kCommArg]);
  return nullptr;
}

static napi_value RecvFast(napi_env env, napi_callback_info info) {
  FAST_PROLOGUE;
  self->engine()->DriveAhead({a[Addon::kPeer], a[Addon::kTagArg], comm});  // one test while nothing is unposted
  MPI_Status st;
  rc = MPI_Recv(b.data, static_cast<int>(b.count), b.type, a[Addon::kPeer], a[Addon::kTagArg], comm, &st);
  if (rc != MPI_SUCCESS) return ThrowCode(env, self, rc, a[Addon::kCommArg]);
  self->WriteSyncStatus(st, rc);
  return nullptr;
}

// recvMessageFast(): a channel's blocking receive of unknown size into its inbox slab (lib/channel/inbox.ts),
// the slab registered like any fast buffer. The slab holds [slab slot, source, tag, comm, offset] and, on
// entry, kResult = the room at `offset`. The message is matched (MPI_Mprobe) and received at slab[offset]
// when it fits: kResult = its bytes, and when kExpect names an expected-header slot, kExpect = 1 if the
// message matches it (else 0). A larger one stays matched in the engine (status record as mprobe
// leaves it, kMessage its id) and kResult = kDeclined: lib/ receives it into memory of its size.
// Against recvMessage's node-addon-api call with six arguments this saves the typed-array lookup, the
// conversions and a returned number per message.
static napi_value RecvMessageFast(napi_env env, napi_callback_info info) {
  FAST_PROLOGUE;
  const Envelope e{a[Addon::kPeer], a[Addon::kTagArg], comm};
  const size_t offset = static_cast<size_t>(a[Addon::kFlags]), room = static_cast<size_t>(a[Addon::kResult]);
  if (a[Addon::kFlags] < 0 || a[Addon::kResult] < 0 || offset + room > b.count * b.elemSize) {
    napi_throw_error(env, nullptr, "internal: bad arguments for recvMessageFast");
    return nullptr;
  }
  self->engine()->DriveAhead(e);
  MPI_Message msg;
  MPI_Status st;
  rc = MPI_Mprobe(e.source, e.tag, e.comm, &msg, &st);
  if (rc != MPI_SUCCESS) return ThrowCode(env, self, rc, a[Addon::kCommArg]);
  int bytes = 0;
  MPI_Get_count(&st, MPI_BYTE, &bytes);
  if (bytes == MPI_UNDEFINED || static_cast<size_t>(bytes) > room) {
    self->WriteSyncStatus(st, MPI_SUCCESS);
    self->status()[kMessage] = self->engine()->PutMessage(msg);
    self->args_[Addon::kResult] = Addon::kDeclined;
    return nullptr;
  }
  char* at = static_cast<char*>(b.data) + offset;
  rc = MPI_Mrecv(at, bytes, MPI_BYTE, &msg, &st);
  if (rc != MPI_SUCCESS) return ThrowCode(env, self, rc, a[Addon::kCommArg]);
  self->WriteSyncStatus(st, rc);
  self->args_[Addon::kResult] = bytes;
  if (a[Addon::kExpect] >= 0) {
    self->args_[Addon::kExpect] = self->MatchesExpected(a[Addon::kExpect], reinterpret_cast<const uint8_t*>(at), bytes);
  }
  return nullptr;
}

// mrecvFast(): the Promise form's half of the same: a channel receive whose message the engine has matched
// (MPI_Improbe) and lib/core/request.ts receives into the inbox slab. The slab holds [slab slot, message
// id, -, comm, offset], kResult = the message's bytes (the probe's count) and kExpect an expected-header
// slot or -1. The message is received at slab[offset] (MPI_Imrecv, tested once, as mrecv(message, buf,
// true) does): kResult = the engine slot of a message still on its way, or -1 once it is in (status in the
// record), and then kExpect = 1 if it matches the expected header, else 0.
static napi_value MrecvFast(napi_env env, napi_callback_info info) {
  FAST_PROLOGUE;
  const size_t offset = static_cast<size_t>(a[Addon::kFlags]), bytes = static_cast<size_t>(a[Addon::kResult]);
  if (a[Addon::kFlags] < 0 || a[Addon::kResult] < 0 || offset + bytes > b.count * b.elemSize) {
    napi_throw_error(env, nullptr, "internal: bad arguments for mrecvFast");
    return nullptr;
  }
  MPI_Message msg = self->engine()->TakeMessage(a[Addon::kPeer]);
  if (msg == MPI_MESSAGE_NULL) return ThrowCode(env, self, MPI_ERR_REQUEST, a[Addon::kCommArg]);
  char* at = static_cast<char*>(b.data) + offset;
  MPI_Request req;
  rc = MPI_Imrecv(at, static_cast<int>(bytes), MPI_BYTE, &msg, &req);
  if (rc != MPI_SUCCESS) return ThrowCode(env, self, rc, a[Addon::kCommArg]);
  const int slot = self->engine()->Track(req, true, self->status(), true);
  self->NoteOwner(slot, a[Addon::kCommArg]);
  self->args_[Addon::kResult] = slot;
  if (slot < 0 && a[Addon::kExpect] >= 0) {
    self->args_[Addon::kExpect] = self->status()[kError] == MPI_SUCCESS &&
                                  self->MatchesExpected(a[Addon::kExpect], reinterpret_cast<const uint8_t*>(at), bytes);
  }
  return nullptr;
}

static napi_value IsendFast(napi_env env, napi_callback_info info) {
  FAST_PROLOGUE;
  MPI_Request req;
  const int count = static_cast<int>(b.count);
  rc = a[Addon::kFlags] ? MPI_Issend(b.data, count, b.type, a[Addon::kPeer], a[Addon::kTagArg], comm, &req)
                        : MPI_Isend(b.data, count, b.type, a[Addon::kPeer], a[Addon::kTagArg], comm, &req);
  if (rc != MPI_SUCCESS) return ThrowCode(env, self, rc, a[Addon::kCommArg]);
  self->args_[Addon::kResult] =
      self->engine()->Track(req, false, self->status(), b.count * b.elemSize <= Engine::kTestAtPostBytes);
  self->NoteOwner(self->args_[Addon::kResult], a[Addon::kCommArg]);
  return nullptr;
}

// isendSpanFast(): MPI_Isend of the bytes [offset, offset + kResult) of a registered array: a channel's
// small nonblocking messages, carved from one registered slab (lib/channel/outbox.ts). The slab holds
// [slot, dest, tag, comm, offset, bytes]; kResult is left as isendFast leaves it.
static napi_value IsendSpanFast(napi_env env, napi_callback_info info) {
  FAST_PROLOGUE;
  const int32_t offset = a[Addon::kFlags], bytes = a[Addon::kResult];
  if (offset < 0 || bytes < 0 || static_cast<size_t>(offset) + static_cast<size_t>(bytes) > b.count * b.elemSize) {
    napi_throw_error(env, nullptr, "internal: bad arguments for isendSpanFast");
    return nullptr;
  }
  MPI_Request req;
  rc = MPI_Isend(static_cast<char*>(b.data) + offset, bytes, MPI_BYTE, a[Addon::kPeer], a[Addon::kTagArg], comm, &req);
  if (rc != MPI_SUCCESS) return ThrowCode(env, self, rc, a[Addon::kCommArg]);
  self->args_[Addon::kResult] =
      self->engine()->Track(req, false, self->status(), static_cast<size_t>(bytes) <= Engine::kTestAtPostBytes);
  self->NoteOwner(self->args_[Addon::kResult], a[Addon::kCommArg]);
  return nullptr;
}

static napi_value IrecvFast(napi_env env, napi_callback_info info) {
  FAST_PROLOGUE;
  // It may have to wait behind a receive of unknown size; PROC_NULL the engine completes itself.
  if (self->engine()->HasUnposted() || a[Addon::kPeer] == MPI_PROC_NULL) {
    const int slot = self->engine()->PostRecv(b.data, b.count, b.type, {a[Addon::kPeer], a[Addon::kTagArg], comm},
                                              self->status(), &rc);
    if (rc != MPI_SUCCESS) return ThrowCode(env, self, rc, a[Addon::kCommArg]);
    self->args_[Addon::kResult] = slot;
    self->NoteOwner(slot, a[Addon::kCommArg]);
    return nullptr;
  }
  MPI_Request req;
  rc = MPI_Irecv(b.data, static_cast<int>(b.count), b.type, a[Addon::kPeer], a[Addon::kTagArg], comm, &req);
  if (rc != MPI_SUCCESS) return ThrowCode(env, self, rc, a[Addon::kCommArg]);
  self->args_[Addon::kResult] = self->engine()->Track(req, true, self->status(), false);
  self->NoteOwner(self->args_[Addon::kResult], a[Addon::kCommArg]);
  return nullptr;
}

// allreduceFast(): the slab holds [recv slot, send slot or -1 for IN_PLACE, count, comm,
// op code | nonblocking << 8]. lib/coll/impl.ts takes this path only for a predefined op on two
// registered arrays of one element type; it checked the count against both. Arrays that share memory
// are declined (kResult = kDeclined, nothing called): the general path tells the in-place spelling
// from an error, and the addresses are at hand here while JavaScript's `.buffer` is a runtime call.
// A 4-byte allreduce in C is ~0.55 us at 2 ranks; the general binding costs ~0.3 us on top.
static napi_value AllreduceFast(napi_env env, napi_callback_info info) {
  FAST_PROLOGUE;
  const int sendSlot = a[Addon::kPeer];
  const int count = a[Addon::kTagArg];
  const BufView* s = sendSlot >= 0 ? &self->fastBufs_[sendSlot & (Addon::kFastBufs - 1)] : nullptr;
  const MPI_Op op = OpFor(a[Addon::kFlags] & 0xff, b.type, false);
  if (count < 0 || static_cast<size_t>(count) > b.count || op == MPI_OP_NULL ||
      (s != nullptr && (s->type != b.type || static_cast<size_t>(count) > s->count))) {
    napi_throw_error(env, nullptr, "internal: bad arguments for allreduceFast");
    return nullptr;
  }
  if (s != nullptr) {
    const char* s0 = static_cast<const char*>(s->data);
    const char* r0 = static_cast<const char*>(b.data);
    if (s0 < r0 + b.count * b.elemSize && r0 < s0 + s->count * s->elemSize) {
      self->args_[Addon::kResult] = Addon::kDeclined;
      return nullptr;
    }
  }
  const void* sb = s != nullptr ? s->data : MPI_IN_PLACE;
  self->args_[Addon::kResult] = -1;
  if ((a[Addon::kFlags] >> 8) & 1) {
    MPI_Request req;
    rc = MPI_Iallreduce(sb, b.data, count, b.type, op, comm, &req);
    if (rc != MPI_SUCCESS) return ThrowCode(env, self, rc, a[Addon::kCommArg]);
    self->args_[Addon::kResult] = self->engine()->Track(req, false, self->status(), true);
    self->NoteOwner(self->args_[Addon::kResult], a[Addon::kCommArg]);
    return nullptr;
  }
  rc = MPI_Allreduce(sb, b.data, count, b.type, op, comm);
  if (rc != MPI_SUCCESS) return ThrowCode(env, self, rc, a[Addon::kCommArg]);
  return nullptr;
}

// barrierFast(): the slab holds [-, -, -, comm, nonblocking]. Benchmarks put a barrier between timed
// calls, and a late return from it is time the partner waits in the next one.
static napi_value BarrierFast(napi_env env, napi_callback_info info) {
  FAST_PROLOGUE;
  (void)b;
  if (a[Addon::kFlags] != 0) {
    MPI_Request req;
    rc = MPI_Ibarrier(comm, &req);
    if (rc != MPI_SUCCESS) return ThrowCode(env, self, rc, a[Addon::kCommArg]);
    self->args_[Addon::kResult] = self->engine()->Track(req, false, self->status(), true);
    self->NoteOwner(self->args_[Addon::kResult], a[Addon::kCommArg]);
    return nullptr;
  }
  rc = MPI_Barrier(comm);
  if (rc != MPI_SUCCESS) return ThrowCode(env, self, rc, a[Addon::kCommArg]);
  return nullptr;
}

#undef FAST_PROLOGUE

// rmaFast(): one-sided put, get or accumulate of a registered array, or a flush. The slab holds
// [buf slot, target rank, displacement, window handle, kind | op code << kRmaKindBits]. lib/rma/window.ts
// checked the epoch, the rank and the target range, and resolved the op (a predefined one) first. C's
// 8-byte put + flush is ~0.03 us on one host (osc/sm: a store and a barrier), so here the call itself is
// the cost: three node-addon-api calls with five arguments each were ~0.3 us, this is two bare ones.
static napi_value RmaFast(napi_env env, napi_callback_info info) {
  FAST_ENTRY;
  MPI_Win win = self->FastWin(a[Addon::kCommArg]);
  if (win == MPI_WIN_NULL) return ThrowCode(env, self, kErrBadHandle);
  const int rank = a[Addon::kPeer];
  const int kind = a[Addon::kFlags] & ((1 << Addon::kRmaKindBits) - 1);
  if (kind == Addon::kRmaFlush || kind == Addon::kRmaFlushLocal) {
    rc = kind == Addon::kRmaFlush ? MPI_Win_flush(rank, win) : MPI_Win_flush_local(rank, win);
    return rc == MPI_SUCCESS ? nullptr : ThrowCode(env, self, rc);
  }
  const BufView& b = self->fastBufs_[a[Addon::kBufSlot] & (Addon::kFastBufs - 1)];
  const MPI_Aint disp = a[Addon::kTagArg];
  const int n = static_cast<int>(b.count);
  const MPI_Op op = kind == Addon::kRmaAccumulate ? PredefinedOp(a[Addon::kFlags] >> Addon::kRmaKindBits) : MPI_OP_NULL;
  if (disp < 0 || kind > Addon::kRmaAccumulate || (kind == Addon::kRmaAccumulate && op == MPI_OP_NULL)) {
    napi_throw_error(env, nullptr, "internal: bad arguments for rmaFast");
    return nullptr;
  }
  rc = kind == Addon::kRmaPut   ? MPI_Put(b.data, n, b.type, rank, disp, n, b.type, win)
       : kind == Addon::kRmaGet ? MPI_Get(b.data, n, b.type, rank, disp, n, b.type, win)
                                : MPI_Accumulate(b.data, n, b.type, rank, disp, n, b.type, op, win);
  return rc == MPI_SUCCESS ? nullptr : ThrowCode(env, self, rc);
}

#undef FAST_ENTRY

// wtimeFast(): MPI_Wtime into the clock slab; timing loops call it twice per iteration. Open MPI
// answers before MPI_Init and after MPI_Finalize, MPICH ends the process, so neither is let through
// (lib/core/env.ts initialises on the error, as on any first MPI call).
static napi_value WtimeFast(napi_env env, napi_callback_info info) {
  Addon* self = Self(env, info);
  const ProcessState& ps = ProcessState::Get();
  if (!ps.running()) return ThrowCode(env, self, kErrNotInitialized);
  self->clock_[0] = MPI_Wtime();
  return nullptr;
}

// The fast calls are raw callbacks already (no node-addon-api wrapper, no exception handling of their
// own beyond ThrowCode); registerBuffer, which lib/ calls once per buffer, is an ordinary method.
void Addon::DefineFast(Napi::Env env, Napi::Object exports) {
  static const Export table[] = {
      {"registerBuffer", Method<&Addon::RegisterBuffer>},
      {"registerExpected", Method<&Addon::RegisterExpected>},
      {"sendFast", SendFast},
      {"recvFast", RecvFast},
      {"recvMessageFast", RecvMessageFast},
      {"mrecvFast", MrecvFast},
      {"isendFast", IsendFast},
      {"isendSpanFast", IsendSpanFast},
      {"irecvFast", IrecvFast},
      {"allreduceFast", AllreduceFast},
      {"barrierFast", BarrierFast},
      {"wtimeFast", WtimeFast},
      {"rmaFast", RmaFast},
  };
  DefineExports(env, exports, this, table);
}

}  // namespace mpi4node
