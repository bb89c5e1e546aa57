// Collective bindings, the neighbour collectives of graph communicators among them. lib/coll/ and
// lib/topo/graph.ts have checked every argument and worked out every count, so these convert and call
// MPI. Each binding serves both forms: the last argument `nb` picks the MPI-3 nonblocking collective,
// whose request goes to the progress engine (the call returns -1 when it completed within the engine's
// spin, else the slot lib/core/request.ts waits on); blocking calls return undefined. A null send
// buffer stands for MPI_IN_PLACE; a null receive buffer for one MPI ignores (non-root ranks). Counts
// arrive as numbers, so block counts above INT_MAX use CountedType; the counts of v-collectives are int
// by MPI-3's definition and arrive as Int32Arrays that the caller keeps referenced until a nonblocking
// call completes (MPI reads them until then).
#include <optional>

#include "addon.h"

#if defined(OPEN_MPI) && OPEN_MPI
#include <mpi-ext.h>  // MPIX_ persistent collectives in Open MPI 4.x
#endif
#include "core/args.h"
#include "core/exports.h"
#include "core/buffers.h"
#include "mpi/half.h"
#include "mpi/ops.h"

namespace mpi4node {

namespace {

// The count, datatype and op MPI sees for a reduction of `count` elements of b's type. The op
// argument is a code (ops.h) or a user op { fn, commutative } from lib/coll/ops.ts.
class Reduction {
 public:
  // The elements' type is the send buffer's (argument 0), or when that is null (MPI_IN_PLACE) the
  // receive buffer's (argument 1).
  Reduction(const Args& a, size_t opArg, size_t count, const std::optional<BufView>& s,
            const std::optional<BufView>& r, bool nb)
      : Reduction(a, opArg, count, s ? *s : r.value_or(BufView{}), s ? 0 : 1, nb) {}
  Reduction(const Args& a, size_t opArg, size_t count, const BufView& b, size_t arrayArg, bool nb)
      : ct_(count, b.type) {
    Napi::Env env = a.env();
    Napi::Value op = a[opArg];
    if (op.IsNumber()) {
      const int code = op.As<Napi::Number>().Int32Value();
      op_ = OpFor(code, b.type, count > static_cast<size_t>(INT_MAX));
      if (op_ == MPI_OP_NULL) throw Napi::TypeError::New(env, "internal: unknown reduction op");
      return;
    }
    if (nb) throw Napi::Error::New(env, "internal: a JavaScript op needs the blocking form");
    if (count > static_cast<size_t>(INT_MAX)) {
      throw Napi::RangeError::New(env, "user-defined reductions are limited to 2^31-1 elements");
    }
    Napi::Object o = op.As<Napi::Object>();
    napi_typedarray_type type;
    napi_get_typedarray_info(env, a[arrayArg], &type, nullptr, nullptr, nullptr, nullptr);
    js_.emplace(env, o.Get("fn"), type, b.elemSize);
    op_ = JsOp(o.Get("commutative").ToBoolean());
  }

  int rc() const { return ct_.rc(); }
  int count() const { return ct_.count(); }
  MPI_Datatype type() const { return ct_.type(); }
  MPI_Op op() const { return op_; }

  // After the MPI call: what a JavaScript op threw goes to the caller.
  void Rethrow(Napi::Env env) const {
    if (js_ && js_->exception() != nullptr) throw Napi::Error(env, js_->exception());
  }

 private:
  CountedType ct_;
  MPI_Op op_ = MPI_OP_NULL;
  std::optional<JsOpScope> js_;
};

// A null send buffer is MPI_IN_PLACE; a null receive buffer one MPI ignores.
const void* SendPtr(const std::optional<BufView>& s) { return s ? s->data : MPI_IN_PLACE; }
void* RecvPtr(const std::optional<BufView>& r) { return r ? r->data : nullptr; }
// The element type of a rooted collective: the first buffer's, or the other's where it is null.
MPI_Datatype TypeOf(const std::optional<BufView>& first, const std::optional<BufView>& other) {
  return first ? first->type : other ? other->type : MPI_DATATYPE_NULL;
}

enum ReduceKind { kAllreduce, kScan, kExscan, kReduceScatterBlock, kReduceScatter };
enum RootedKind { kGather, kScatter };
enum BlockKind { kAllgather, kAlltoall, kNeighborAllgather, kNeighborAlltoall };
enum PersistentKind { kAllreduceInit, kBcast, kBarrier };

}  // namespace

// bcast(buf, root, comm, nb)
Napi::Value Addon::Bcast(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const BufView b = a.Buf(0);
  const int root = a.Int(1);
  MPI_Comm comm = a.Comm(2);
  const bool nb = a.Flag(3);
  CountedType ct(b.count, b.type);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    rc = nb ? MPI_Ibcast(b.data, ct.count(), ct.type(), root, comm, &req)
            : MPI_Bcast(b.data, ct.count(), ct.type(), root, comm);
  }
  return a.Done(rc, nb, req);
}

// reduce(send|null, recv|null, count, op, root, comm, nb)
Napi::Value Addon::Reduce(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const std::optional<BufView> s = a.OptBuf(0), r = a.OptBuf(1);
  const int root = a.Int(4);
  MPI_Comm comm = a.Comm(5);
  const bool nb = a.Flag(6);
  Reduction red(a, 3, a.Size(2), s, r, nb);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = red.rc();
  if (rc == MPI_SUCCESS) {
    rc = nb ? MPI_Ireduce(SendPtr(s), RecvPtr(r), red.count(), red.type(), red.op(), root, comm, &req)
            : MPI_Reduce(SendPtr(s), RecvPtr(r), red.count(), red.type(), red.op(), root, comm);
  }
  red.Rethrow(a.env());
  return a.Done(rc, nb, req);
}

// allreduce / scan / exscan / reduceScatterBlock (send|null, recv, count, op, comm, nb) and
// reduceScatter (send|null, recv, counts, op, comm, nb): the same arguments, five calls.
// reduceScatterBlock's count is each rank's block; reduceScatter's counts an Int32Array of them.
Napi::Value Addon::ReduceAll(const Napi::CallbackInfo& info, int which) {
  Args a(this, info);
  const std::optional<BufView> s = a.OptBuf(0), r = a.Buf(1);
  MPI_Comm comm = a.Comm(4);
  const bool nb = a.Flag(5);
  const Ints counts = which == kReduceScatter ? a.IntArray(2) : Ints();
  // reduceScatter's block counts are int (MPI-3), so the plain predefined op and base type serve:
  // count 0 picks them.
  Reduction red(a, 3, which == kReduceScatter ? 0 : a.Size(2), s, r, nb);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = red.rc();
  if (rc == MPI_SUCCESS) {
    const void* sb = SendPtr(s);
    void* rb = r->data;
    const int n = red.count();
    MPI_Datatype t = red.type();
    MPI_Op op = red.op();
    switch (which) {
      case kAllreduce:
        rc = nb ? MPI_Iallreduce(sb, rb, n, t, op, comm, &req) : MPI_Allreduce(sb, rb, n, t, op, comm);
        break;
      case kScan:
        rc = nb ? MPI_Iscan(sb, rb, n, t, op, comm, &req) : MPI_Scan(sb, rb, n, t, op, comm);
        break;
      case kExscan:
        rc = nb ? MPI_Iexscan(sb, rb, n, t, op, comm, &req) : MPI_Exscan(sb, rb, n, t, op, comm);
        break;
      case kReduceScatterBlock:
        rc = nb ? MPI_Ireduce_scatter_block(sb, rb, n, t, op, comm, &req) : MPI_Reduce_scatter_block(sb, rb, n, t, op, comm);
        break;
      default:
        rc = nb ? MPI_Ireduce_scatter(sb, rb, counts.data, t, op, comm, &req)
                : MPI_Reduce_scatter(sb, rb, counts.data, t, op, comm);
    }
  }
  red.Rethrow(a.env());
  return a.Done(rc, nb, req);
}

// gather / scatter (send|null, recv|null, count, root, comm, nb): count elements from or to each rank.
// Where a buffer is null: gather's send is MPI_IN_PLACE (root) and its receive ignored (non-roots);
// scatter's receive is MPI_IN_PLACE (root) and its send ignored (non-roots).
Napi::Value Addon::Rooted(const Napi::CallbackInfo& info, int which) {
  const bool scatter = which == kScatter;
  Args a(this, info);
  const std::optional<BufView> s = a.OptBuf(0), r = a.OptBuf(1);
  const int root = a.Int(3);
  MPI_Comm comm = a.Comm(4);
  const bool nb = a.Flag(5);
  CountedType ct(a.Size(2), scatter ? TypeOf(r, s) : TypeOf(s, r));
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    const int n = ct.count();
    MPI_Datatype t = ct.type();
    if (scatter) {
      const void* sb = s ? s->data : nullptr;
      void* rb = r ? r->data : MPI_IN_PLACE;
      rc = nb ? MPI_Iscatter(sb, n, t, rb, n, t, root, comm, &req) : MPI_Scatter(sb, n, t, rb, n, t, root, comm);
    } else {
      const void* sb = SendPtr(s);
      void* rb = RecvPtr(r);
      rc = nb ? MPI_Igather(sb, n, t, rb, n, t, root, comm, &req) : MPI_Gather(sb, n, t, rb, n, t, root, comm);
    }
  }
  return a.Done(rc, nb, req);
}

// allgather / alltoall / neighborAllgather / neighborAlltoall (send|null, recv, count, comm, nb):
// count elements to and from each rank (each neighbour of a graph communicator, lib/topo/graph.ts).
Napi::Value Addon::AllToAllLike(const Napi::CallbackInfo& info, int which) {
  Args a(this, info);
  const std::optional<BufView> s = a.OptBuf(0);
  const BufView r = a.Buf(1);
  MPI_Comm comm = a.Comm(3);
  const bool nb = a.Flag(4);
  CountedType ct(a.Size(2), r.type);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    const void* sb = SendPtr(s);
    void* rb = r.data;
    const int n = ct.count();
    MPI_Datatype t = ct.type();
    switch (which) {
      case kAllgather:
        rc = nb ? MPI_Iallgather(sb, n, t, rb, n, t, comm, &req) : MPI_Allgather(sb, n, t, rb, n, t, comm);
        break;
      case kAlltoall:
        rc = nb ? MPI_Ialltoall(sb, n, t, rb, n, t, comm, &req) : MPI_Alltoall(sb, n, t, rb, n, t, comm);
        break;
      case kNeighborAllgather:
        rc = nb ? MPI_Ineighbor_allgather(sb, n, t, rb, n, t, comm, &req) : MPI_Neighbor_allgather(sb, n, t, rb, n, t, comm);
        break;
      default:
        rc = nb ? MPI_Ineighbor_alltoall(sb, n, t, rb, n, t, comm, &req) : MPI_Neighbor_alltoall(sb, n, t, rb, n, t, comm);
    }
  }
  return a.Done(rc, nb, req);
}

// gatherv(send|null, recv|null, counts|null, displs|null, root, comm, nb) and
// scatterv(send|null, counts|null, displs|null, recv|null, root, comm, nb): counts and displacements
// matter at the root only; null buffers as for gather and scatter.
Napi::Value Addon::RootedV(const Napi::CallbackInfo& info, int which) {
  const bool scatter = which == kScatter;
  Args a(this, info);
  const std::optional<BufView> s = a.OptBuf(0), r = a.OptBuf(scatter ? 3 : 1);
  const size_t at = scatter ? 1 : 2;
  const Ints counts = a.IntArray(at), displs = a.IntArray(at + 1);
  const int root = a.Int(4);
  MPI_Comm comm = a.Comm(5);
  const bool nb = a.Flag(6);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc;
  if (scatter) {
    const MPI_Datatype t = TypeOf(r, s);
    const void* sb = s ? s->data : nullptr;
    void* rb = r ? r->data : MPI_IN_PLACE;
    const int n = r ? static_cast<int>(r->count) : 0;
    rc = nb ? MPI_Iscatterv(sb, counts.data, displs.data, t, rb, n, t, root, comm, &req)
            : MPI_Scatterv(sb, counts.data, displs.data, t, rb, n, t, root, comm);
  } else {
    const MPI_Datatype t = TypeOf(s, r);
    const int n = s ? static_cast<int>(s->count) : 0;
    rc = nb ? MPI_Igatherv(SendPtr(s), n, t, RecvPtr(r), counts.data, displs.data, t, root, comm, &req)
            : MPI_Gatherv(SendPtr(s), n, t, RecvPtr(r), counts.data, displs.data, t, root, comm);
  }
  return a.Done(rc, nb, req);
}

// allgatherv(send|null, recv, counts, displs, comm, nb)
Napi::Value Addon::Allgatherv(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const std::optional<BufView> s = a.OptBuf(0);
  const BufView r = a.Buf(1);
  const Ints counts = a.IntArray(2), displs = a.IntArray(3);
  MPI_Comm comm = a.Comm(4);
  const bool nb = a.Flag(5);
  const int n = s ? static_cast<int>(s->count) : 0;
  MPI_Request req = MPI_REQUEST_NULL;
  const int rc = nb ? MPI_Iallgatherv(SendPtr(s), n, r.type, r.data, counts.data, displs.data, r.type, comm, &req)
                    : MPI_Allgatherv(SendPtr(s), n, r.type, r.data, counts.data, displs.data, r.type, comm);
  return a.Done(rc, nb, req);
}

// alltoallv(send|null, scounts|null, sdispls|null, recv, rcounts, rdispls, comm, nb)
Napi::Value Addon::Alltoallv(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const std::optional<BufView> s = a.OptBuf(0);
  const Ints scounts = a.IntArray(1), sdispls = a.IntArray(2);
  const BufView r = a.Buf(3);
  const Ints rcounts = a.IntArray(4), rdispls = a.IntArray(5);
  MPI_Comm comm = a.Comm(6);
  const bool nb = a.Flag(7);
  MPI_Request req = MPI_REQUEST_NULL;
  const int rc = nb ? MPI_Ialltoallv(SendPtr(s), scounts.data, sdispls.data, r.type, r.data, rcounts.data,
                                     rdispls.data, r.type, comm, &req)
                    : MPI_Alltoallv(SendPtr(s), scounts.data, sdispls.data, r.type, r.data, rcounts.data,
                                    rdispls.data, r.type, comm);
  return a.Done(rc, nb, req);
}

// reduceLocal(in, inout, count, op): inout = in op inout, on this rank alone (MPI_Reduce_local), with the
// ops the collectives use (the library's own included), so they can be checked without a partner.
Napi::Value Addon::ReduceLocal(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const BufView in = a.Buf(0), inout = a.Buf(1);
  Reduction red(a, 3, a.Size(2), in, 0, false);
  int rc = red.rc();
  if (rc == MPI_SUCCESS) rc = MPI_Reduce_local(in.data, inout.data, red.count(), red.type(), red.op());
  red.Rethrow(a.env());
  return a.Done(rc);
}


// Persistent collectives: MPI-4's MPI_Allreduce_init & co., or in Open MPI 4.x the same calls as the
// MPIX_ pcollreq extension (mpi-ext.h). The request joins the engine's persistent table (start/startAll).
#if MPI_VERSION >= 4
#define PERSISTENT_COLL(name) MPI_##name##_init
#elif defined(OMPI_HAVE_MPI_EXT_PCOLLREQ) && OMPI_HAVE_MPI_EXT_PCOLLREQ
#define PERSISTENT_COLL(name) MPIX_##name##_init
#endif

// allreduceInit(send|null, recv, count, op, comm) / bcastInit(buf, root, comm) / barrierInit(comm)
// -> persistent id. The caller keeps the buffers referenced (and pinned) until it frees the request.
Napi::Value Addon::CollInit(const Napi::CallbackInfo& info, int which) {
  Args a(this, info);
#ifdef PERSISTENT_COLL
  MPI_Request req = MPI_REQUEST_NULL;
  int rc;
  if (which == kAllreduceInit) {
    const std::optional<BufView> s = a.OptBuf(0);
    const BufView r = a.Buf(1);
    MPI_Comm comm = a.Comm(4);
    Reduction red(a, 3, a.Size(2), s, r, true);
    rc = red.rc();
    if (rc == MPI_SUCCESS) {
      rc = PERSISTENT_COLL(Allreduce)(s ? s->data : MPI_IN_PLACE, r.data, red.count(), red.type(), red.op(), comm,
                                       MPI_INFO_NULL, &req);
    }
  } else if (which == kBcast) {
    const BufView b = a.Buf(0);
    const int root = a.Int(1);
    MPI_Comm comm = a.Comm(2);
    CountedType ct(b.count, b.type);
    rc = ct.rc();
    if (rc == MPI_SUCCESS) rc = PERSISTENT_COLL(Bcast)(b.data, ct.count(), ct.type(), root, comm, MPI_INFO_NULL, &req);
  } else {
    rc = PERSISTENT_COLL(Barrier)(a.Comm(0), MPI_INFO_NULL, &req);
  }
  a.Check(rc);
  return Napi::Number::New(a.env(), engine_->AddPersistent(req, false, {MPI_PROC_NULL, 0, MPI_COMM_NULL}, true));
#else
  (void)which;
  a.Throw(kErrNoPersistentColl);
#endif
}

// quirks() -> { unsignedMinMax, narrowSumSaturates }: which of this MPI's own reductions are wrong
// (mpi/ops.h): collectives use the library's own ops instead, one-sided accumulates cannot.
Napi::Value Addon::Quirks(const Napi::CallbackInfo& info) {
  Args a(this, info);
  Napi::Object o = Napi::Object::New(a.env());
  o.Set("unsignedMinMax", UnsignedMinMaxReplaced());
  o.Set("narrowSumSaturates", NarrowSumSaturates());
  return o;
}

// divide(buf, n, half): buf[i] /= n over a Float32Array or Float64Array, or a Uint16Array of the
// HalfKind `half` (in float32, rounded once); 'avg' is a sum then this. Float division here and in
// JavaScript (Math.fround(x / n)) round alike.
Napi::Value Addon::Divide(const Napi::CallbackInfo& info) {
  Args a(this, info, Args::kNoMpi);
  const BufView b = a.Buf(0);
  const double n = a[1].As<Napi::Number>().DoubleValue();
  const int half = info.Length() > 2 && !info[2].IsUndefined() ? a.Int(2) : kNotHalf;
  if (half != kNotHalf && b.type == MPI_UINT16_T) {
    uint16_t* p = static_cast<uint16_t*>(b.data);
    const float d = static_cast<float>(n);
    for (size_t i = 0; i < b.count; ++i) p[i] = FloatToHalf(half, HalfToFloat(half, p[i]) / d);
  } else if (b.type == MPI_FLOAT) {
    float* p = static_cast<float*>(b.data);
    const float d = static_cast<float>(n);
    for (size_t i = 0; i < b.count; ++i) p[i] /= d;
  } else if (b.type == MPI_DOUBLE) {
    double* p = static_cast<double*>(b.data);
    for (size_t i = 0; i < b.count; ++i) p[i] /= n;
  } else {
    throw Napi::TypeError::New(a.env(), "internal: divide needs a float array");
  }
  return a.env().Undefined();
}

void Addon::DefineColl(Napi::Env env, Napi::Object exports) {
  static const Export table[] = {
      {"bcast", Method<&Addon::Bcast>},
      {"reduce", Method<&Addon::Reduce>},
      {"allreduce", Method<&Addon::ReduceAll, kAllreduce>},
      {"scan", Method<&Addon::ReduceAll, kScan>},
      {"exscan", Method<&Addon::ReduceAll, kExscan>},
      {"reduceScatterBlock", Method<&Addon::ReduceAll, kReduceScatterBlock>},
      {"reduceScatter", Method<&Addon::ReduceAll, kReduceScatter>},
      {"gather", Method<&Addon::Rooted, kGather>},
      {"scatter", Method<&Addon::Rooted, kScatter>},
      {"allgather", Method<&Addon::AllToAllLike, kAllgather>},
      {"alltoall", Method<&Addon::AllToAllLike, kAlltoall>},
      {"neighborAllgather", Method<&Addon::AllToAllLike, kNeighborAllgather>},
      {"neighborAlltoall", Method<&Addon::AllToAllLike, kNeighborAlltoall>},
      {"gatherv", Method<&Addon::RootedV, kGather>},
      {"scatterv", Method<&Addon::RootedV, kScatter>},
      {"allgatherv", Method<&Addon::Allgatherv>},
      {"alltoallv", Method<&Addon::Alltoallv>},
      {"reduceLocal", Method<&Addon::ReduceLocal>},
      {"divide", Method<&Addon::Divide>},
      {"quirks", Method<&Addon::Quirks>},
      {"allreduceInit", Method<&Addon::CollInit, kAllreduceInit>},
      {"bcastInit", Method<&Addon::CollInit, kBcast>},
      {"barrierInit", Method<&Addon::CollInit, kBarrier>},
  };
  DefineExports(env, exports, this, table);
}

}  // namespace mpi4node
