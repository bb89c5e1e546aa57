// Collective bindings. lib/coll/methods.ts has checked every argument and worked out every count, so
// these convert and call MPI. Each binding serves both forms: the last argument `nb` picks the
// MPI-3 nonblocking collective, whose request goes to the progress engine (the call returns -1 when it
// completed within the engine's spin, else the slot lib/core/request.ts waits on); blocking calls return
// undefined. A null send buffer stands for MPI_IN_PLACE; a null receive buffer for one MPI ignores
// (non-root ranks). Counts arrive as numbers, so block counts above INT_MAX use CountedType; the counts
// of v-collectives are int by MPI-3's definition and arrive as Int32Arrays that the caller keeps
// referenced until a nonblocking call completes (MPI reads them until then).
#include <optional>

#include "addon.h"
#include "core/buffers.h"
#include "mpi/ops.h"

namespace mpi4node {

namespace {

bool OptBuf(const Napi::CallbackInfo& info, size_t i, BufView* out) {
  if (info[i].IsNull() || info[i].IsUndefined()) return false;
  if (!GetBuf(info.Env(), info[i], out)) throw Napi::TypeError::New(info.Env(), "internal: expected a typed array");
  return true;
}

size_t SizeArg(const Napi::CallbackInfo& info, size_t i) {
  double v = 0;
  napi_get_value_double(info.Env(), info[i], &v);
  return v > 0 ? static_cast<size_t>(v) : 0;
}

// The data of an Int32Array of counts or displacements; nullptr where MPI ignores them.
const int* IntsArg(const Napi::CallbackInfo& info, size_t i) {
  if (info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  void* data = nullptr;
  napi_get_typedarray_info(info.Env(), info[i], nullptr, nullptr, &data, nullptr, nullptr);
  return static_cast<const int*>(data);
}

// The count, datatype and op MPI sees for a reduction of `count` elements of b's type. The op
// argument is a code (ops.h) or a user op { fn, commutative } from lib/coll/ops.ts.
class Reduction {
 public:
  Reduction(const Napi::CallbackInfo& info, size_t opArg, size_t count, const BufView& b, napi_value array, bool nb)
      : ct_(count, b.type) {
    Napi::Env env = info.Env();
    Napi::Value op = info[opArg];
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
    napi_get_typedarray_info(env, array, &type, nullptr, nullptr, nullptr, nullptr);
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

const void* SendPtr(bool present, const BufView& b) { return present ? b.data : MPI_IN_PLACE; }

}  // namespace

Napi::Value Addon::CollDone(Napi::Env env, int rc, bool nb, MPI_Request req) {
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  if (!nb) return env.Undefined();
  return Napi::Number::New(env, engine_->Track(req, false, status_));
}

// bcast(buf, root, comm, nb)
Napi::Value Addon::Bcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView b;
  BufArg(info, 0, &b);
  const int root = IntArg(info, 1);
  MPI_Comm comm = CommArg(info, 2);
  const bool nb = info[3].ToBoolean();
  CountedType ct(b.count, b.type);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    rc = nb ? MPI_Ibcast(b.data, ct.count(), ct.type(), root, comm, &req)
            : MPI_Bcast(b.data, ct.count(), ct.type(), root, comm);
  }
  return CollDone(env, rc, nb, req);
}

// reduce(send|null, recv|null, count, op, root, comm, nb)
Napi::Value Addon::Reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView s, r;
  const bool hasSend = OptBuf(info, 0, &s);
  const bool hasRecv = OptBuf(info, 1, &r);
  const int root = IntArg(info, 4);
  MPI_Comm comm = CommArg(info, 5);
  const bool nb = info[6].ToBoolean();
  Reduction red(info, 3, SizeArg(info, 2), hasSend ? s : r, info[hasSend ? 0 : 1], nb);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = red.rc();
  if (rc == MPI_SUCCESS) {
    const void* sb = SendPtr(hasSend, s);
    void* rb = hasRecv ? r.data : nullptr;
    rc = nb ? MPI_Ireduce(sb, rb, red.count(), red.type(), red.op(), root, comm, &req)
            : MPI_Reduce(sb, rb, red.count(), red.type(), red.op(), root, comm);
  }
  red.Rethrow(env);
  return CollDone(env, rc, nb, req);
}

// allreduce / scan / exscan (send|null, recv, count, op, comm, nb): the same arguments, three calls.
Napi::Value Addon::ReduceAll(const Napi::CallbackInfo& info, int which) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView s, r;
  const bool hasSend = OptBuf(info, 0, &s);
  BufArg(info, 1, &r);
  MPI_Comm comm = CommArg(info, 4);
  const bool nb = info[5].ToBoolean();
  Reduction red(info, 3, SizeArg(info, 2), hasSend ? s : r, info[hasSend ? 0 : 1], nb);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = red.rc();
  if (rc == MPI_SUCCESS) {
    const void* sb = SendPtr(hasSend, s);
    const int n = red.count();
    MPI_Datatype t = red.type();
    MPI_Op op = red.op();
    if (which == 0) {
      rc = nb ? MPI_Iallreduce(sb, r.data, n, t, op, comm, &req) : MPI_Allreduce(sb, r.data, n, t, op, comm);
    } else if (which == 1) {
      rc = nb ? MPI_Iscan(sb, r.data, n, t, op, comm, &req) : MPI_Scan(sb, r.data, n, t, op, comm);
    } else {
      rc = nb ? MPI_Iexscan(sb, r.data, n, t, op, comm, &req) : MPI_Exscan(sb, r.data, n, t, op, comm);
    }
  }
  red.Rethrow(env);
  return CollDone(env, rc, nb, req);
}

Napi::Value Addon::Allreduce(const Napi::CallbackInfo& info) { return ReduceAll(info, 0); }
Napi::Value Addon::Scan(const Napi::CallbackInfo& info) { return ReduceAll(info, 1); }
Napi::Value Addon::Exscan(const Napi::CallbackInfo& info) { return ReduceAll(info, 2); }

// reduceScatterBlock(send|null, recv, count, op, comm, nb): count is each rank's block.
Napi::Value Addon::ReduceScatterBlock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView s, r;
  const bool hasSend = OptBuf(info, 0, &s);
  BufArg(info, 1, &r);
  MPI_Comm comm = CommArg(info, 4);
  const bool nb = info[5].ToBoolean();
  Reduction red(info, 3, SizeArg(info, 2), hasSend ? s : r, info[hasSend ? 0 : 1], nb);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = red.rc();
  if (rc == MPI_SUCCESS) {
    const void* sb = SendPtr(hasSend, s);
    rc = nb ? MPI_Ireduce_scatter_block(sb, r.data, red.count(), red.type(), red.op(), comm, &req)
            : MPI_Reduce_scatter_block(sb, r.data, red.count(), red.type(), red.op(), comm);
  }
  red.Rethrow(env);
  return CollDone(env, rc, nb, req);
}

// reduceScatter(send|null, recv, counts, op, comm, nb)
Napi::Value Addon::ReduceScatter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView s, r;
  const bool hasSend = OptBuf(info, 0, &s);
  BufArg(info, 1, &r);
  const int* counts = IntsArg(info, 2);
  MPI_Comm comm = CommArg(info, 4);
  const bool nb = info[5].ToBoolean();
  // Block counts are int (MPI-3), so the plain predefined op and base type serve: count 0 picks them.
  Reduction red(info, 3, 0, hasSend ? s : r, info[hasSend ? 0 : 1], nb);
  MPI_Request req = MPI_REQUEST_NULL;
  const void* sb = SendPtr(hasSend, s);
  int rc = nb ? MPI_Ireduce_scatter(sb, r.data, counts, red.type(), red.op(), comm, &req)
              : MPI_Reduce_scatter(sb, r.data, counts, red.type(), red.op(), comm);
  red.Rethrow(env);
  return CollDone(env, rc, nb, req);
}

// gather(send|null, recv|null, count, root, comm, nb): count elements from each rank.
Napi::Value Addon::Gather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView s, r;
  const bool hasSend = OptBuf(info, 0, &s);
  const bool hasRecv = OptBuf(info, 1, &r);
  const int root = IntArg(info, 3);
  MPI_Comm comm = CommArg(info, 4);
  const bool nb = info[5].ToBoolean();
  CountedType ct(SizeArg(info, 2), hasSend ? s.type : r.type);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    const void* sb = SendPtr(hasSend, s);
    void* rb = hasRecv ? r.data : nullptr;
    rc = nb ? MPI_Igather(sb, ct.count(), ct.type(), rb, ct.count(), ct.type(), root, comm, &req)
            : MPI_Gather(sb, ct.count(), ct.type(), rb, ct.count(), ct.type(), root, comm);
  }
  return CollDone(env, rc, nb, req);
}

// scatter(send|null, recv|null, count, root, comm, nb): null recv is MPI_IN_PLACE (root only).
Napi::Value Addon::Scatter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView s, r;
  const bool hasSend = OptBuf(info, 0, &s);
  const bool hasRecv = OptBuf(info, 1, &r);
  const int root = IntArg(info, 3);
  MPI_Comm comm = CommArg(info, 4);
  const bool nb = info[5].ToBoolean();
  CountedType ct(SizeArg(info, 2), hasRecv ? r.type : s.type);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    const void* sb = hasSend ? s.data : nullptr;
    void* rb = hasRecv ? r.data : MPI_IN_PLACE;
    rc = nb ? MPI_Iscatter(sb, ct.count(), ct.type(), rb, ct.count(), ct.type(), root, comm, &req)
            : MPI_Scatter(sb, ct.count(), ct.type(), rb, ct.count(), ct.type(), root, comm);
  }
  return CollDone(env, rc, nb, req);
}

// allgather / alltoall (send|null, recv, count, comm, nb): count elements per rank.
Napi::Value Addon::AllToAllLike(const Napi::CallbackInfo& info, bool alltoall) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView s, r;
  const bool hasSend = OptBuf(info, 0, &s);
  BufArg(info, 1, &r);
  MPI_Comm comm = CommArg(info, 3);
  const bool nb = info[4].ToBoolean();
  CountedType ct(SizeArg(info, 2), r.type);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    const void* sb = SendPtr(hasSend, s);
    const int n = ct.count();
    MPI_Datatype t = ct.type();
    if (alltoall) {
      rc = nb ? MPI_Ialltoall(sb, n, t, r.data, n, t, comm, &req) : MPI_Alltoall(sb, n, t, r.data, n, t, comm);
    } else {
      rc = nb ? MPI_Iallgather(sb, n, t, r.data, n, t, comm, &req) : MPI_Allgather(sb, n, t, r.data, n, t, comm);
    }
  }
  return CollDone(env, rc, nb, req);
}

Napi::Value Addon::Allgather(const Napi::CallbackInfo& info) { return AllToAllLike(info, false); }
Napi::Value Addon::Alltoall(const Napi::CallbackInfo& info) { return AllToAllLike(info, true); }

// gatherv(send|null, recv|null, counts|null, displs|null, root, comm, nb)
Napi::Value Addon::Gatherv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView s, r;
  const bool hasSend = OptBuf(info, 0, &s);
  const bool hasRecv = OptBuf(info, 1, &r);
  const int* counts = IntsArg(info, 2);
  const int* displs = IntsArg(info, 3);
  const int root = IntArg(info, 4);
  MPI_Comm comm = CommArg(info, 5);
  const bool nb = info[6].ToBoolean();
  const MPI_Datatype t = hasSend ? s.type : r.type;
  const void* sb = SendPtr(hasSend, s);
  const int n = static_cast<int>(s.count);
  void* rb = hasRecv ? r.data : nullptr;
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = nb ? MPI_Igatherv(sb, n, t, rb, counts, displs, t, root, comm, &req)
              : MPI_Gatherv(sb, n, t, rb, counts, displs, t, root, comm);
  return CollDone(env, rc, nb, req);
}

// scatterv(send|null, counts|null, displs|null, recv|null, root, comm, nb): null recv is MPI_IN_PLACE.
Napi::Value Addon::Scatterv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView s, r;
  const bool hasSend = OptBuf(info, 0, &s);
  const int* counts = IntsArg(info, 1);
  const int* displs = IntsArg(info, 2);
  const bool hasRecv = OptBuf(info, 3, &r);
  const int root = IntArg(info, 4);
  MPI_Comm comm = CommArg(info, 5);
  const bool nb = info[6].ToBoolean();
  const MPI_Datatype t = hasRecv ? r.type : s.type;
  const void* sb = hasSend ? s.data : nullptr;
  void* rb = hasRecv ? r.data : MPI_IN_PLACE;
  const int n = static_cast<int>(r.count);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = nb ? MPI_Iscatterv(sb, counts, displs, t, rb, n, t, root, comm, &req)
              : MPI_Scatterv(sb, counts, displs, t, rb, n, t, root, comm);
  return CollDone(env, rc, nb, req);
}

// allgatherv(send|null, recv, counts, displs, comm, nb)
Napi::Value Addon::Allgatherv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView s, r;
  const bool hasSend = OptBuf(info, 0, &s);
  BufArg(info, 1, &r);
  const int* counts = IntsArg(info, 2);
  const int* displs = IntsArg(info, 3);
  MPI_Comm comm = CommArg(info, 4);
  const bool nb = info[5].ToBoolean();
  const void* sb = SendPtr(hasSend, s);
  const int n = static_cast<int>(s.count);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = nb ? MPI_Iallgatherv(sb, n, r.type, r.data, counts, displs, r.type, comm, &req)
              : MPI_Allgatherv(sb, n, r.type, r.data, counts, displs, r.type, comm);
  return CollDone(env, rc, nb, req);
}

// alltoallv(send|null, scounts|null, sdispls|null, recv, rcounts, rdispls, comm, nb)
Napi::Value Addon::Alltoallv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView s, r;
  const bool hasSend = OptBuf(info, 0, &s);
  const int* scounts = IntsArg(info, 1);
  const int* sdispls = IntsArg(info, 2);
  BufArg(info, 3, &r);
  const int* rcounts = IntsArg(info, 4);
  const int* rdispls = IntsArg(info, 5);
  MPI_Comm comm = CommArg(info, 6);
  const bool nb = info[7].ToBoolean();
  const void* sb = SendPtr(hasSend, s);
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = nb ? MPI_Ialltoallv(sb, scounts, sdispls, r.type, r.data, rcounts, rdispls, r.type, comm, &req)
              : MPI_Alltoallv(sb, scounts, sdispls, r.type, r.data, rcounts, rdispls, r.type, comm);
  return CollDone(env, rc, nb, req);
}

// divide(buf, n): buf[i] /= n over a Float32Array or Float64Array; 'avg' is a sum then this. Float
// division here and in JavaScript (Math.fround(x / n)) round alike.
Napi::Value Addon::Divide(const Napi::CallbackInfo& info) {
  BufView b;
  BufArg(info, 0, &b);
  const double n = info[1].As<Napi::Number>().DoubleValue();
  if (b.type == MPI_FLOAT) {
    float* p = static_cast<float*>(b.data);
    const float d = static_cast<float>(n);
    for (size_t i = 0; i < b.count; ++i) p[i] /= d;
  } else if (b.type == MPI_DOUBLE) {
    double* p = static_cast<double*>(b.data);
    for (size_t i = 0; i < b.count; ++i) p[i] /= n;
  } else {
    throw Napi::TypeError::New(info.Env(), "internal: divide needs a float array");
  }
  return info.Env().Undefined();
}

}  // namespace mpi4node
