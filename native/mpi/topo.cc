// Distributed graph topology (agent graphs, lib/topo/graph.ts): creation from each rank's own in- and
// out-neighbours, the neighbour lists, and the one-integer agreement check that lets every rank reject
// a matrix the others do not share before any of them enters MPI's graph call. The neighbour
// collectives are with the other collectives (mpi/coll.cc).
#include <vector>

#include "addon.h"
#include "core/args.h"
#include "core/exports.h"
#include "core/buffers.h"
#include "mpi/comm.h"

namespace mpi4node {

namespace {

Napi::Int32Array CopyInts(Napi::Env env, const std::vector<int>& v) {
  Napi::Int32Array a = Napi::Int32Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a[i] = v[i];
  return a;
}

// MPI wants a non-null array for a zero-degree rank's (empty) neighbours and weights.
int kNoWeights[1] = {0};
int* NonNull(const Ints& v) { return v.count == 0 ? kNoWeights : v.data; }

}  // namespace

// distGraphCreate(comm, sources, sourceWeights|null, dests, destWeights|null) -> [handle, internal]
// Ranks keep their order (reorder = false): the matrix is indexed by rank in the parent.
Napi::Value Addon::DistGraphCreate(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Comm parent = a.Comm(0);
  const Ints sources = a.IntArray(1), sw = a.IntArray(2), dests = a.IntArray(3), dw = a.IntArray(4);
  const bool unweighted = !sw.present;
  if (unweighted == dw.present || (!unweighted && (sw.count != sources.count || dw.count != dests.count))) {
    throw Napi::TypeError::New(a.env(), "internal: weights must be given for both directions, one per neighbour");
  }
  MPI_Comm graph;
  a.Check(MPI_Dist_graph_create_adjacent(parent, sources.count, NonNull(sources),
                                         unweighted ? MPI_UNWEIGHTED : NonNull(sw), dests.count, NonNull(dests),
                                         unweighted ? MPI_UNWEIGHTED : NonNull(dw), MPI_INFO_NULL, 0, &graph));
  MPI_Comm_set_errhandler(graph, MPI_ERRORS_RETURN);
  return RegisterComm(a, graph);
}

// distGraphNeighbors(comm) -> [sources, sourceWeights, dests, destWeights, weighted], in MPI's order.
Napi::Value Addon::DistGraphNeighbors(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Comm comm = a.Comm(0);
  int nin = 0, nout = 0, weighted = 0;
  a.Check(MPI_Dist_graph_neighbors_count(comm, &nin, &nout, &weighted));
  std::vector<int> s(nin + 1), sw(nin + 1), d(nout + 1), dw(nout + 1);
  a.Check(MPI_Dist_graph_neighbors(comm, nin, s.data(), sw.data(), nout, d.data(), dw.data()));
  s.resize(nin), sw.resize(nin), d.resize(nout), dw.resize(nout);
  Napi::Env env = a.env();
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
  Args a(this, info);
  MPI_Comm comm = a.Comm(0);
  const uint32_t v = a[1].As<Napi::Number>().Uint32Value();
  // max(v) == v and max(~v) == ~v on every rank iff all values are equal.
  uint32_t mine[2] = {v, ~v}, max[2];
  a.Check(MPI_Allreduce(mine, max, 2, MPI_UINT32_T, MPI_MAX, comm));
  return Napi::Boolean::New(a.env(), max[0] == v && max[1] == static_cast<uint32_t>(~v));
}

void Addon::DefineTopo(Napi::Env env, Napi::Object exports) {
  static const Export table[] = {
      {"distGraphCreate", Method<&Addon::DistGraphCreate>},
      {"distGraphNeighbors", Method<&Addon::DistGraphNeighbors>},
      {"topoAgree", Method<&Addon::TopoAgree>},
  };
  DefineExports(env, exports, this, table);
}

}  // namespace mpi4node
