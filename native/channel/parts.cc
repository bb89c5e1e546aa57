// Channel message transport (lib/channel/channel.ts).
//
// Sending: several buffers as ONE MPI message without concatenating them (channel header + payload, an
// object's serialised form + its out-of-band typed arrays). The parts are described by an hindexed
// datatype over their absolute addresses and sent as one element from MPI_BOTTOM, so MPI reads each
// part where it lies. The receiver sees an ordinary byte message of the summed length. Creating and
// committing a type costs a few microseconds, more than a small message's whole trip, so lib/ copies
// small payloads next to their header and sends one buffer instead (docs/channels.md has the figures).
//
// Receiving: a message of unknown size in one call (matched probe + receive), into lib/'s slab when it
// fits there, else into a block of the receive pool (recv_pool.h): never into memory already handed out.
#include <climits>
#include <vector>

#include "addon.h"
#include "core/buffers.h"
#include "channel/recv_pool.h"

namespace mpi4node {

namespace {

// MPI block lengths are int: parts above this are described as several blocks.
constexpr size_t kMaxBlock = size_t{1} << 30;

// The datatype for one parts message. MPI may free a type while an operation using it is pending,
// so the destructor can release it as soon as the operation is posted.
class PartsType {
 public:
  ~PartsType() {
    if (owned_) MPI_Type_free(&type_);
  }

  // Reads `parts` (an array of typed arrays; lib/ checked it). Returns MPI_SUCCESS or an error code.
  int Build(napi_env env, napi_value parts) {
    uint32_t n = 0;
    if (napi_get_array_length(env, parts, &n) != napi_ok) return MPI_ERR_ARG;
    lens_.reserve(n);
    displs_.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      napi_value v;
      BufView b;
      if (napi_get_element(env, parts, i, &v) != napi_ok || !GetBuf(env, v, &b)) return MPI_ERR_ARG;
      size_t bytes = b.count * b.elemSize;
      char* p = static_cast<char*>(b.data);
      while (bytes > 0) {
        const size_t len = bytes < kMaxBlock ? bytes : kMaxBlock;
        MPI_Aint addr;
        MPI_Get_address(p, &addr);
        lens_.push_back(static_cast<int>(len));
        displs_.push_back(addr);
        first_ = lens_.size() == 1 ? p : first_;
        p += len;
        bytes -= len;
      }
    }
    // One block (or none) needs no derived type: send it as plain bytes.
    if (lens_.size() <= 1) {
      count_ = lens_.empty() ? 0 : lens_[0];
      return MPI_SUCCESS;
    }
    int rc = MPI_Type_create_hindexed(static_cast<int>(lens_.size()), lens_.data(), displs_.data(), MPI_BYTE, &type_);
    if (rc != MPI_SUCCESS) return rc;
    owned_ = true;
    count_ = 1;
    return MPI_Type_commit(&type_);
  }

  const void* buf() const { return owned_ ? MPI_BOTTOM : first_; }
  int count() const { return count_; }
  MPI_Datatype type() const { return type_; }

 private:
  std::vector<int> lens_;
  std::vector<MPI_Aint> displs_;
  char* first_ = nullptr;
  int count_ = 0;
  MPI_Datatype type_ = MPI_BYTE;
  bool owned_ = false;
};

}  // namespace

// sendParts(parts, dest, tag, comm, synchronous)
Napi::Value Addon::SendParts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  const int dest = IntArg(info, 1), tag = IntArg(info, 2);
  MPI_Comm comm = CommArg(info, 3);
  const bool sync = info[4].ToBoolean();
  PartsType pt;
  int rc = pt.Build(env, info[0]);
  if (rc == MPI_SUCCESS) {
    rc = sync ? MPI_Ssend(pt.buf(), pt.count(), pt.type(), dest, tag, comm)
              : MPI_Send(pt.buf(), pt.count(), pt.type(), dest, tag, comm);
  }
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  return env.Undefined();
}

// isendParts(parts, dest, tag, comm, synchronous) -> slot, or -1 when already complete
Napi::Value Addon::IsendParts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  const int dest = IntArg(info, 1), tag = IntArg(info, 2);
  MPI_Comm comm = CommArg(info, 3);
  const bool sync = info[4].ToBoolean();
  PartsType pt;
  MPI_Request req;
  int rc = pt.Build(env, info[0]);
  if (rc == MPI_SUCCESS) {
    rc = sync ? MPI_Issend(pt.buf(), pt.count(), pt.type(), dest, tag, comm, &req)
              : MPI_Isend(pt.buf(), pt.count(), pt.type(), dest, tag, comm, &req);
  }
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  return Napi::Number::New(env, engine_->Track(req, false, status_));
}

// recvMessage(source, tag, comm, slab, offset, capacity) -> bytes received at slab[offset], or, for a
// message larger than `capacity`, a Buffer of exactly its length from the receive pool. Blocking.
Napi::Value Addon::RecvMessage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  const int source = IntArg(info, 0), tag = IntArg(info, 1);
  MPI_Comm comm = CommArg(info, 2);
  BufView slab;
  BufArg(info, 3, &slab);
  const double offset = info[4].As<Napi::Number>().DoubleValue();
  const double capacity = info[5].As<Napi::Number>().DoubleValue();
  MPI_Message msg;
  MPI_Status st;
  int rc = MPI_Mprobe(source, tag, comm, &msg, &st);
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  MPI_Count bytes = 0;
  MPI_Get_elements_x(&st, MPI_BYTE, &bytes);
  void* data;
  Napi::Value out;
  if (static_cast<double>(bytes) <= capacity && offset + capacity <= static_cast<double>(slab.count * slab.elemSize)) {
    data = static_cast<char*>(slab.data) + static_cast<size_t>(offset);
    out = Napi::Number::New(env, static_cast<double>(bytes));
  } else {
    out = RecvPool::Get().New(env, static_cast<size_t>(bytes), &data);
  }
  CountedType ct(static_cast<size_t>(bytes), MPI_BYTE);
  rc = ct.rc();
  if (rc == MPI_SUCCESS) rc = MPI_Mrecv(data, ct.count(), ct.type(), &msg, &st);
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  WriteSyncStatus(st, rc);
  return out;
}

// allocBuffer(bytes) -> a Buffer of exactly `bytes` (> 0) from the receive pool, not zeroed.
Napi::Value Addon::AllocBuffer(const Napi::CallbackInfo& info) {
  void* data;
  return RecvPool::Get().New(info.Env(), static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue()), &data);
}

}  // namespace mpi4node
