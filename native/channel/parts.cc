// Channel message transport: lib/channel/outbox.ts sends with sendParts, lib/channel/inbox.ts receives
// with recvMessage.
//
// Sending: several buffers as ONE MPI message without concatenating them (channel header + payload, an
// object's serialised form + its out-of-band typed arrays). The parts are described by an hindexed
// datatype over their absolute addresses and sent as one element from MPI_BOTTOM, so MPI reads each
// part where it lies. The receiver sees an ordinary byte message of the summed length. Creating and
// committing a type costs ~0.4 us, more than a small message's whole trip, so lib/ copies small
// payloads next to their header and sends one buffer instead (docs/channels.md has the figures).
//
// Receiving: a message of unknown size in one call (matched probe + receive), into lib/'s slab when it
// fits there, else into a block of the receive pool (recv_pool.h): never into memory already handed out.
#include <climits>
#include <vector>

#include "addon.h"
#include "core/args.h"
#include "core/exports.h"
#include "core/buffers.h"
#include "channel/recv_pool.h"
#include "mpi/p2p.h"

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

// sendParts(parts, dest, tag, comm, synchronous, nb)
Napi::Value Addon::SendParts(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const int dest = a.Int(1), tag = a.Int(2);
  MPI_Comm comm = a.Comm(3);
  const bool sync = a.Flag(4), nb = a.Flag(5);
  PartsType pt;
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = pt.Build(a.env(), a[0]);
  if (rc == MPI_SUCCESS) rc = SendAs(sync, nb, pt.buf(), pt.count(), pt.type(), dest, tag, comm, &req);
  return a.Done(rc, nb, req);
}

// recvMessage(source, tag, comm, slab, offset, capacity) -> bytes received at slab[offset], or, for a
// message larger than `capacity`, a Buffer of exactly its length from the receive pool. Blocking.
Napi::Value Addon::RecvMessage(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const int source = a.Int(0), tag = a.Int(1);
  MPI_Comm comm = a.Comm(2);
  const BufView slab = a.Buf(3);
  const size_t offset = a.Size(4), capacity = a.Size(5);
  engine_->DriveAhead({source, tag, comm});
  MPI_Message msg;
  MPI_Status st;
  a.Check(MPI_Mprobe(source, tag, comm, &msg, &st));
  MPI_Count count = 0;
  MPI_Get_elements_x(&st, MPI_BYTE, &count);
  const size_t bytes = static_cast<size_t>(count);
  void* data;
  Napi::Value out;
  if (bytes <= capacity && offset + capacity <= slab.count * slab.elemSize) {
    data = static_cast<char*>(slab.data) + offset;
    out = Napi::Number::New(a.env(), static_cast<double>(bytes));
  } else {
    out = RecvPool::Get().New(a.env(), bytes, &data);
  }
  CountedType ct(bytes, MPI_BYTE);
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) rc = MPI_Mrecv(data, ct.count(), ct.type(), &msg, &st);
  a.DoneRecv(rc, false, MPI_REQUEST_NULL, st);
  return out;
}

// allocBuffer(bytes) -> a Buffer of exactly `bytes` (> 0) from the receive pool, not zeroed.
Napi::Value Addon::AllocBuffer(const Napi::CallbackInfo& info) {
  Args a(this, info, Args::kNoMpi);
  void* data;
  return RecvPool::Get().New(a.env(), a.Size(0), &data);
}

void Addon::DefineParts(Napi::Env env, Napi::Object exports) {
  static const Export table[] = {
      {"sendParts", Method<&Addon::SendParts>},
      {"recvMessage", Method<&Addon::RecvMessage>},
      {"allocBuffer", Method<&Addon::AllocBuffer>},
  };
  DefineExports(env, exports, this, table);
}

}  // namespace mpi4node
