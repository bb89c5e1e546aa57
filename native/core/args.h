// One binding call: its positional arguments, read by type, and its ending. lib/ has checked every
// argument before it reaches the addon, so a wrong type here is a bug in lib/ and says "internal:";
// the checks are still made, because a wrong guess about an argument would read or write the wrong
// memory. Not the hot path (mpi/fast.cc is), but kept cheap: each read is one N-API call.
//
//   Args a(this, info);                 // throws the MpiError unless MPI may be called now
//   const BufView b = a.Buf(0);
//   const int dest = a.Int(1);
//   MPI_Comm comm = a.Comm(3);
//   const bool nb = a.Flag(4);
//   ...
//   return a.Done(rc, nb, req);         // rc's MpiError, or undefined / the engine slot
#pragma once

#include <mpi.h>
#include <napi.h>

#include <cstddef>
#include <optional>
#include <string>

#include "core/buffers.h"
#include "core/errors.h"
#include "core/process_state.h"

namespace mpi4node {

class Addon;

// An Int32Array argument (counts, displacements, neighbours, weights), or null for one MPI ignores.
struct Ints {
  int* data = nullptr;
  int count = 0;
  bool present = false;
};

class Args {
 public:
  enum Need { kMpi, kNoMpi };

  // With kMpi (the default), first checks that MPI may be called from this thread now.
  Args(Addon* addon, const Napi::CallbackInfo& info, Need need = kMpi);
  Args(const Args&) = delete;
  Args& operator=(const Args&) = delete;

  Napi::Env env() const { return Napi::Env(env_); }
  Napi::Value operator[](size_t i) const { return info_[i]; }

  // A typed array (TypeError otherwise), or for OptBuf also null/undefined: absent.
  BufView Buf(size_t i) const {
    BufView b;
    if (!GetBuf(env_, info_[i], &b)) ThrowType("a typed array");
    return b;
  }
  std::optional<BufView> OptBuf(size_t i) const {
    if (Absent(i)) return std::nullopt;
    return Buf(i);
  }
  int Int(size_t i) const {
    int32_t v = 0;
    if (napi_get_value_int32(env_, info_[i], &v) != napi_ok) ThrowType("an integer argument");
    return v;
  }
  // A count, offset or length: a number that is an integer in [0, 2^53). Anything else (a negative,
  // NaN, a fraction) is a RangeError, never silently another size.
  size_t Size(size_t i) const;
  Ints IntArray(size_t i) const;
  // A communicator handle; a freed or unknown one throws the MpiError ERR_BAD_HANDLE. The first one
  // read is the call's communicator: its error hook (comm.onError) gets the call's MPI errors.
  MPI_Comm Comm(size_t i) const {
    int32_t h = -1;
    napi_get_value_int32(env_, info_[i], &h);
    MPI_Comm c = ProcessState::Get().Comm(h);
    if (c == MPI_COMM_NULL) Throw(kErrBadHandle);
    if (comm_ < 0) comm_ = h;
    return c;
  }
  // Handles of the Addon's tables (core/handles.h); a freed or unknown one throws ERR_BAD_HANDLE.
  // Info also takes -1: MPI_INFO_NULL (no hints).
  MPI_Info Info(size_t i) const;
  MPI_Group Group(size_t i) const;
  MPI_File File(size_t i) const;
  // A string argument (a path, an info key or value).
  std::string String(size_t i) const;
  // JavaScript truthiness: an omitted flag is false.
  bool Flag(size_t i) const { return info_[i].ToBoolean(); }

  // The MPI check of the constructor, for a binding that must make other checks first.
  void RequireMpi() const;

  // Throws the MpiError for `code`.
  [[noreturn]] void Throw(int code) const;
  void Check(int rc) const {
    if (rc != MPI_SUCCESS) Throw(rc);
  }
  // The end of a binding that called MPI blocking or not (`nb`): rc's MpiError, else undefined for
  // the blocking form, or for the nonblocking one what the progress engine makes of `req`: -1 when it
  // completed within the engine's spin (its status in the shared record), else the slot
  // lib/core/request.ts waits on.
  // `test`: whether a nonblocking request is tested once at post (Engine::Track).
  Napi::Value Done(int rc, bool nb = false, MPI_Request req = MPI_REQUEST_NULL, bool test = true) const;
  // The same for a receive, whose status (`st` of the blocking form) goes to the shared record.
  Napi::Value DoneRecv(int rc, bool nb, MPI_Request req, const MPI_Status& st, bool arrived = false) const;
  // An engine slot (or -1) that a binding got without Done: noted as the call's communicator's, so an
  // error found at completion reaches that communicator's hook.
  Napi::Value Slot(int slot) const;

 private:
  bool Absent(size_t i) const {
    napi_valuetype t = napi_undefined;
    napi_typeof(env_, info_[i], &t);
    return t == napi_null || t == napi_undefined;
  }
  [[noreturn]] void ThrowType(const char* expected) const;

  Addon* addon_;
  const Napi::CallbackInfo& info_;
  napi_env env_;
  mutable int comm_ = -1;  // the handle of the first communicator read
};

}  // namespace mpi4node
