// Process topologies: the distributed graph of agent graphs (lib/topo/graph.ts), from each rank's own
// in- and out-neighbours, and cartesian grids (lib/topo/cart.ts); the one-integer agreement check that
// lets every rank reject a matrix or grid the others do not share before any of them enters MPI's
// constructor. The neighbour collectives, the same for both, are with the other collectives
// (mpi/coll.cc). lib/ checks coordinates, ranks and directions first: Open MPI 4.1.4 checks no rank in
// MPI_Cart_coords.
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

// cartCreate(comm, dims, periods, reorder) -> [handle, internal], or null on ranks past the grid's size
// (lib/ asks for grids of exactly the communicator's size).
Napi::Value Addon::CartCreate(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Comm parent = a.Comm(0);
  const Ints dims = a.IntArray(1), periods = a.IntArray(2);
  if (dims.count != periods.count || dims.count == 0) throw Napi::TypeError::New(a.env(), "internal: dims and periods differ");
  MPI_Comm cart;
  a.Check(MPI_Cart_create(parent, dims.count, dims.data, periods.data, a.Flag(3), &cart));
  if (cart != MPI_COMM_NULL) MPI_Comm_set_errhandler(cart, MPI_ERRORS_RETURN);
  return RegisterComm(a, cart);
}

// cartGet(comm) -> [dims, periods, coords] of this rank.
Napi::Value Addon::CartGet(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Comm comm = a.Comm(0);
  int n = 0;
  a.Check(MPI_Cartdim_get(comm, &n));
  std::vector<int> dims(n + 1), periods(n + 1), coords(n + 1);
  a.Check(MPI_Cart_get(comm, n, dims.data(), periods.data(), coords.data()));
  dims.resize(n), periods.resize(n), coords.resize(n);
  Napi::Env env = a.env();
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(0u, CopyInts(env, dims));
  out.Set(1u, CopyInts(env, periods));
  out.Set(2u, CopyInts(env, coords));
  return out;
}

// cartRank(comm, coords) -> rank
Napi::Value Addon::CartRank(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Comm comm = a.Comm(0);
  const Ints coords = a.IntArray(1);
  int r = 0;
  a.Check(MPI_Cart_rank(comm, coords.data, &r));
  return Napi::Number::New(a.env(), r);
}

// cartCoords(comm, rank) -> Int32Array
Napi::Value Addon::CartCoords(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Comm comm = a.Comm(0);
  int n = 0;
  a.Check(MPI_Cartdim_get(comm, &n));
  std::vector<int> coords(n + 1);
  a.Check(MPI_Cart_coords(comm, a.Int(1), n, coords.data()));
  coords.resize(n);
  return CopyInts(a.env(), coords);
}

// cartShift(comm, direction, disp) -> [source, dest]; PROC_NULL off a non-periodic edge.
Napi::Value Addon::CartShift(const Napi::CallbackInfo& info) {
  Args a(this, info);
  int source = 0, dest = 0;
  a.Check(MPI_Cart_shift(a.Comm(0), a.Int(1), a.Int(2), &source, &dest));
  return CopyInts(a.env(), {source, dest});
}

// cartSub(comm, remainDims) -> [handle, internal]: the sub-grid holding this rank. Collective.
Napi::Value Addon::CartSub(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Comm comm = a.Comm(0);
  const Ints remain = a.IntArray(1);
  MPI_Comm sub;
  a.Check(MPI_Cart_sub(comm, remain.data, &sub));
  if (sub != MPI_COMM_NULL) MPI_Comm_set_errhandler(sub, MPI_ERRORS_RETURN);
  return RegisterComm(a, sub);
}

// dimsCreate(nnodes, dims): MPI_Dims_create, filling the zero entries of `dims` in place.
Napi::Value Addon::DimsCreate(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const Ints dims = a.IntArray(1);
  return a.Done(MPI_Dims_create(a.Int(0), dims.count, NonNull(dims)));
}

void Addon::DefineTopo(Napi::Env env, Napi::Object exports) {
  static const Export table[] = {
      {"distGraphCreate", Method<&Addon::DistGraphCreate>},
      {"distGraphNeighbors", Method<&Addon::DistGraphNeighbors>},
      {"topoAgree", Method<&Addon::TopoAgree>},
      {"cartCreate", Method<&Addon::CartCreate>},
      {"cartGet", Method<&Addon::CartGet>},
      {"cartRank", Method<&Addon::CartRank>},
      {"cartCoords", Method<&Addon::CartCoords>},
      {"cartShift", Method<&Addon::CartShift>},
      {"cartSub", Method<&Addon::CartSub>},
      {"dimsCreate", Method<&Addon::DimsCreate>},
  };
  DefineExports(env, exports, this, table);
}

}  // namespace mpi4node
