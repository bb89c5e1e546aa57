#include "core/args.h"

#include <cmath>
#include <cstdio>
#include <string>

#include "addon.h"

namespace mpi4node {

Args::Args(Addon* addon, const Napi::CallbackInfo& info, Need need) : addon_(addon), info_(info), env_(info.Env()) {
  if (need == kMpi) addon_->EnsureUsable(env());
}

void Args::RequireMpi() const { addon_->EnsureUsable(env()); }

size_t Args::Size(size_t i) const {
  double d = 0;
  if (napi_get_value_double(env_, info_[i], &d) != napi_ok) ThrowType("a number");
  // 2^53: from there on a double no longer holds every integer.
  if (d >= 0 && d < 9007199254740992.0 && d == std::floor(d)) return static_cast<size_t>(d);
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", d);
  throw Napi::RangeError::New(env(), "internal: argument " + std::to_string(i) +
                                         " must be a size (an integer from 0 to 2^53-1), got " + text);
}

Ints Args::IntArray(size_t i) const {
  Ints out;
  if (Absent(i)) return out;
  napi_typedarray_type t;
  size_t length;
  void* data;
  if (napi_get_typedarray_info(env_, info_[i], &t, &length, &data, nullptr, nullptr) != napi_ok ||
      t != napi_int32_array) {
    ThrowType("an Int32Array");
  }
  out.data = static_cast<int*>(data);
  out.count = static_cast<int>(length);
  out.present = true;
  return out;
}

MPI_Info Args::Info(size_t i) const {
  const int h = Int(i);
  if (h == -1) return MPI_INFO_NULL;
  MPI_Info v = addon_->infos().Get(h);
  if (v == MPI_INFO_NULL) Throw(kErrBadHandle);
  return v;
}

MPI_Group Args::Group(size_t i) const {
  MPI_Group v = addon_->groups().Get(Int(i));
  if (v == MPI_GROUP_NULL) Throw(kErrBadHandle);
  return v;
}

MPI_File Args::File(size_t i) const {
  MPI_File v = addon_->files().Get(Int(i));
  if (v == MPI_FILE_NULL) Throw(kErrBadHandle);
  return v;
}

std::string Args::String(size_t i) const {
  if (!info_[i].IsString()) ThrowType("a string");
  return info_[i].As<Napi::String>().Utf8Value();
}

void Args::Throw(int code) const { addon_->ThrowMpi(env(), code, comm_); }

void Args::ThrowType(const char* expected) const {
  throw Napi::TypeError::New(env(), std::string("internal: expected ") + expected);
}

Napi::Value Args::Done(int rc, bool nb, MPI_Request req, bool test) const {
  Check(rc);
  if (!nb) return env().Undefined();
  // Collective requests and sends report only their error: their status has no source or count.
  return Slot(addon_->engine()->Track(req, false, addon_->status(), test));
}

Napi::Value Args::DoneRecv(int rc, bool nb, MPI_Request req, const MPI_Status& st, bool arrived) const {
  Check(rc);
  if (nb) return Slot(addon_->engine()->Track(req, true, addon_->status(), arrived));
  addon_->WriteSyncStatus(st, rc);
  return env().Undefined();
}

Napi::Value Args::Slot(int slot) const {
  addon_->NoteOwner(slot, comm_);
  return Napi::Number::New(env(), slot);
}

}  // namespace mpi4node
