// Groups (lib/comm/group.ts): MPI_Group handles of the Addon's groups_ table, the group operations, and
// MPI_Comm_create_group. lib/ checks every rank list before it gets here: Open MPI 4.1.4 and MPICH 4.0.2
// both accept duplicate ranks in MPI_Group_incl (an erroneous call) without an error.
#include "addon.h"
#include "core/args.h"
#include "core/errors.h"
#include "core/exports.h"
#include "mpi/comm.h"

namespace mpi4node {

namespace {

enum RanksKind { kIncl, kExcl };
enum SetKind { kUnion, kIntersection, kDifference };

// MPI_GROUP_EMPTY is what MPI returns for every empty result; it is predefined, so never freed.
int FreeGroup(MPI_Group g) {
  if (g == MPI_GROUP_NULL || g == MPI_GROUP_EMPTY) return MPI_SUCCESS;
  return MPI_Group_free(&g);
}

}  // namespace

Napi::Value Addon::CommGroup(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Group g;
  a.Check(MPI_Comm_group(a.Comm(0), &g));
  return Napi::Number::New(a.env(), groups_.Add(g));
}

Napi::Value Addon::GroupSize(const Napi::CallbackInfo& info) {
  Args a(this, info);
  int n = 0;
  a.Check(MPI_Group_size(a.Group(0), &n));
  return Napi::Number::New(a.env(), n);
}

// groupRank(h) -> this process's rank in the group, or MPI_UNDEFINED when it is not a member.
Napi::Value Addon::GroupRank(const Napi::CallbackInfo& info) {
  Args a(this, info);
  int r = 0;
  a.Check(MPI_Group_rank(a.Group(0), &r));
  return Napi::Number::New(a.env(), r);
}

// groupIncl / groupExcl (h, ranks) -> h. The range forms are these over the ranks lib/ expands and
// checks (MPI defines them so).
Napi::Value Addon::GroupRanks(const Napi::CallbackInfo& info, int which) {
  Args a(this, info);
  MPI_Group g = a.Group(0);
  const Ints r = a.IntArray(1);
  static int none[1] = {0};
  int* ranks = r.count == 0 ? none : r.data;
  MPI_Group out;
  a.Check(which == kIncl ? MPI_Group_incl(g, r.count, ranks, &out) : MPI_Group_excl(g, r.count, ranks, &out));
  return Napi::Number::New(a.env(), groups_.Add(out));
}

// groupUnion / groupIntersection / groupDifference (a, b) -> h
Napi::Value Addon::GroupSet(const Napi::CallbackInfo& info, int which) {
  Args a(this, info);
  MPI_Group x = a.Group(0), y = a.Group(1), out;
  const int rc = which == kUnion          ? MPI_Group_union(x, y, &out)
                 : which == kIntersection ? MPI_Group_intersection(x, y, &out)
                                          : MPI_Group_difference(x, y, &out);
  a.Check(rc);
  return Napi::Number::New(a.env(), groups_.Add(out));
}

// groupTranslate(a, ranks, b) -> Int32Array: each rank of `a` in `b`, MPI_UNDEFINED where it is not.
Napi::Value Addon::GroupTranslate(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Group x = a.Group(0), y = a.Group(2);
  const Ints r = a.IntArray(1);
  Napi::Int32Array out = Napi::Int32Array::New(a.env(), r.count);
  if (r.count > 0) a.Check(MPI_Group_translate_ranks(x, r.count, r.data, y, out.Data()));
  return out;
}

Napi::Value Addon::GroupCompare(const Napi::CallbackInfo& info) {
  Args a(this, info);
  int result = 0;
  a.Check(MPI_Group_compare(a.Group(0), a.Group(1), &result));
  return Napi::Number::New(a.env(), result);
}

Napi::Value Addon::GroupFree(const Napi::CallbackInfo& info) {
  Args a(this, info);
  a.Group(0);
  return a.Done(FreeGroup(groups_.Take(a.Int(0))));
}

// commCreateGroup(comm, group, tag) -> [handle, internal]: MPI_Comm_create_group, collective over the
// group's members only (lib/ calls it on members alone).
Napi::Value Addon::CommCreateGroup(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Comm out;
  a.Check(MPI_Comm_create_group(a.Comm(0), a.Group(1), a.Int(2), &out));
  if (out != MPI_COMM_NULL) MPI_Comm_set_errhandler(out, MPI_ERRORS_RETURN);
  return RegisterComm(a, out);
}

void Addon::DefineGroup(Napi::Env env, Napi::Object exports) {
  static const Export table[] = {
      {"commGroup", Method<&Addon::CommGroup>},
      {"groupSize", Method<&Addon::GroupSize>},
      {"groupRank", Method<&Addon::GroupRank>},
      {"groupIncl", Method<&Addon::GroupRanks, kIncl>},
      {"groupExcl", Method<&Addon::GroupRanks, kExcl>},
      {"groupUnion", Method<&Addon::GroupSet, kUnion>},
      {"groupIntersection", Method<&Addon::GroupSet, kIntersection>},
      {"groupDifference", Method<&Addon::GroupSet, kDifference>},
      {"groupTranslate", Method<&Addon::GroupTranslate>},
      {"groupCompare", Method<&Addon::GroupCompare>},
      {"groupFree", Method<&Addon::GroupFree>},
      {"commCreateGroup", Method<&Addon::CommCreateGroup>},
  };
  DefineExports(env, exports, this, table);
}

}  // namespace mpi4node
