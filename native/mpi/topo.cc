// Distributed graph topology (agent graphs, lib/topo/graph.ts): creation from each rank's own in- and
// out-neighbours, the neighbour lists, neighbour collectives, and the one-integer agreement check that
// lets every rank reject a matrix the others do not share before any of them enters MPI's graph call.
#include <vector>

#include "addon.h"
#include "core/buffers.h"
#include "core/errors.h"

namespace mpi4node {

namespace {

// Int32Array argument, or null for MPI_UNWEIGHTED (weights) / no neighbours.
int* IntsArg(napi_env env, napi_value v, int* count, bool* isNull) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  *isNull = t == napi_null || t == napi_undefined;
  *count = 0;
  if (*isNull) return nullptr;
  napi_typedarray_type tt;
  size_t length;
  void* data;
  if (napi_get_typedarray_info(env, v, &tt, &length, &data, nullptr, nullptr) != napi_ok || tt != napi_int32_array) {
    throw Napi::TypeError::New(env, "internal: expected an Int32Array");
  }
  *count = static_cast<int>(length);
  return static_cast<int*>(data);
}

Napi::Int32Array CopyInts(Napi::Env env, const std::vector<int>& v) {
  Napi::Int32Array a = Napi::Int32Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a[i] = v[i];
  return a;
}

// MPI wants a non-null array for a zero-degree rank's (empty) weights.
int kNoWeights[1] = {0};

}  // namespace

// distGraphCreate(comm, sources, sourceWeights|null, dests, destWeights|null) -> [handle, internal]
// Ranks keep their order (reorder = false): the matrix is indexed by rank in the parent.
Napi::Value Addon::DistGraphCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  MPI_Comm parent = CommArg(info, 0);
  int nin, nout, nsw, ndw;
  bool nullIn, nullOut, unweighted, dUnweighted;
  int* sources = IntsArg(env, info[1], &nin, &nullIn);
  int* sw = IntsArg(env, info[2], &nsw, &unweighted);
  int* dests = IntsArg(env, info[3], &nout, &nullOut);
  int* dw = IntsArg(env, info[4], &ndw, &dUnweighted);
  if (unweighted != dUnweighted || (!unweighted && (nsw != nin || ndw != nout))) {
    throw Napi::TypeError::New(env, "internal: weights must be given for both directions, one per neighbour");
  }
  int* sWeights = unweighted ? MPI_UNWEIGHTED : (nin == 0 ? kNoWeights : sw);
  int* dWeights = unweighted ? MPI_UNWEIGHTED : (nout == 0 ? kNoWeights : dw);
  MPI_Comm graph;
  int rc = MPI_Dist_graph_create_adjacent(parent, nin, nin == 0 ? kNoWeights : sources, sWeights, nout,
                                          nout == 0 ? kNoWeights : dests, dWeights, MPI_INFO_NULL, 0, &graph);
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  MPI_Comm_set_errhandler(graph, MPI_ERRORS_RETURN);
  MPI_Comm internal;
  rc = MPI_Comm_dup(graph, &internal);
  if (rc != MPI_SUCCESS) {
    MPI_Comm_free(&graph);
    ThrowMpi(env, rc);
  }
  ProcessState& ps = ProcessState::Get();
  const int h = ps.AddComm(graph);
  const int hi = h < 0 ? -1 : ps.AddComm(internal);
  if (hi < 0) {
    if (h >= 0) ps.RemoveComm(h);
    MPI_Comm_free(&graph);
    MPI_Comm_free(&internal);
    ThrowMpi(env, kErrCommTableFull);
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, h);
  out.Set(1u, hi);
  return out;
}

// distGraphNeighbors(comm) -> [sources, sourceWeights, dests, destWeights, weighted], in MPI's order.
Napi::Value Addon::DistGraphNeighbors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  MPI_Comm comm = CommArg(info, 0);
  int nin = 0, nout = 0, weighted = 0;
  int rc = MPI_Dist_graph_neighbors_count(comm, &nin, &nout, &weighted);
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  std::vector<int> s(nin + 1), sw(nin + 1), d(nout + 1), dw(nout + 1);
  rc = MPI_Dist_graph_neighbors(comm, nin, s.data(), sw.data(), nout, d.data(), dw.data());
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  s.resize(nin), sw.resize(nin), d.resize(nout), dw.resize(nout);
  Napi::Array out = Napi::Array::New(env, 5);
  out.Set(0u, CopyInts(env, s));
  out.Set(1u, CopyInts(env, sw));
  out.Set(2u, CopyInts(env, d));
  out.Set(3u, CopyInts(env, dw));
  out.Set(4u, Napi::Boolean::New(env, weighted != 0));
  return out;
}

// topoAgree(comm, value) -> whether every rank passed the same uint32. Collective.
Napi::Value Addon::TopoAgree(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  MPI_Comm comm = CommArg(info, 0);
  const uint32_t v = info[1].As<Napi::Number>().Uint32Value();
  // max(v) == v and max(~v) == ~v on every rank iff all values are equal.
  uint32_t mine[2] = {v, ~v}, max[2];
  int rc = MPI_Allreduce(mine, max, 2, MPI_UINT32_T, MPI_MAX, comm);
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  return Napi::Boolean::New(env, max[0] == v && max[1] == static_cast<uint32_t>(~v));
}

// neighborAllgather(sendbuf, recvbuf, comm): recvbuf holds indegree blocks of sendbuf's length.
Napi::Value Addon::NeighborAllgather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView s, r;
  BufArg(info, 0, &s);
  BufArg(info, 1, &r);
  MPI_Comm comm = CommArg(info, 2);
  CountedType ct(s.count, s.type);
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) rc = MPI_Neighbor_allgather(s.data, ct.count(), ct.type(), r.data, ct.count(), ct.type(), comm);
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  return env.Undefined();
}

// neighborAlltoall(sendbuf, recvbuf, count, comm): `count` elements to and from each neighbour.
Napi::Value Addon::NeighborAlltoall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView s, r;
  BufArg(info, 0, &s);
  BufArg(info, 1, &r);
  const double count = info[2].As<Napi::Number>().DoubleValue();
  MPI_Comm comm = CommArg(info, 3);
  CountedType ct(static_cast<size_t>(count), s.type);
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) rc = MPI_Neighbor_alltoall(s.data, ct.count(), ct.type(), r.data, ct.count(), ct.type(), comm);
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  return env.Undefined();
}

// ineighborAllgather(sendbuf, recvbuf, comm) -> slot, or -1 when already complete
Napi::Value Addon::IneighborAllgather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView s, r;
  BufArg(info, 0, &s);
  BufArg(info, 1, &r);
  MPI_Comm comm = CommArg(info, 2);
  CountedType ct(s.count, s.type);
  MPI_Request req;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    rc = MPI_Ineighbor_allgather(s.data, ct.count(), ct.type(), r.data, ct.count(), ct.type(), comm, &req);
  }
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  // Collective requests report only their error: their status has no source or count.
  return Napi::Number::New(env, engine_->Track(req, false, status_));
}

// ineighborAlltoall(sendbuf, recvbuf, count, comm) -> slot, or -1 when already complete
Napi::Value Addon::IneighborAlltoall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  BufView s, r;
  BufArg(info, 0, &s);
  BufArg(info, 1, &r);
  const double count = info[2].As<Napi::Number>().DoubleValue();
  MPI_Comm comm = CommArg(info, 3);
  CountedType ct(static_cast<size_t>(count), s.type);
  MPI_Request req;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) {
    rc = MPI_Ineighbor_alltoall(s.data, ct.count(), ct.type(), r.data, ct.count(), ct.type(), comm, &req);
  }
  if (rc != MPI_SUCCESS) ThrowMpi(env, rc);
  return Napi::Number::New(env, engine_->Track(req, false, status_));
}

}  // namespace mpi4node
