// MPI-IO (lib/io/file.ts): files are MPI_File handles of the Addon's files_ table. Errors on files use
// MPI's default file error handler, MPI_ERRORS_RETURN, which the library never changes.
//
// Every data access is one binding, told apart by `which`, that serves the blocking and the nonblocking
// form (last argument `nb`), as the collectives do: the buffer is the typed array's own memory (MPI
// reads or writes it directly), its element type is MPI's datatype (lib/ has checked that it matches
// the file view's), and counts above INT_MAX travel as one CountedType element. Offsets arrive as
// numbers below 2^53 and become MPI_Offset. A completed access reports its byte count in the status
// record, as a receive does (the engine's receive kind: the bytes are all that is read there).
#include <cmath>
#include <string>

#include "addon.h"
#include "core/args.h"
#include "core/buffers.h"
#include "core/errors.h"
#include "core/exports.h"

namespace mpi4node {

namespace {

enum AccessKind {
  kReadAt, kWriteAt, kReadAtAll, kWriteAtAll, kRead, kWrite, kReadAll, kWriteAll,
  kReadShared, kWriteShared, kReadOrdered, kWriteOrdered,
};
enum SizeKind { kGetSize, kSetSize, kPreallocate };

// The MPI call of one access. The ordered forms have no nonblocking form (MPI has split collectives
// there, not requests): lib/ offers them blocking only.
int Access(int which, bool nb, MPI_File f, MPI_Offset off, void* buf, int n, MPI_Datatype t, MPI_Status* st,
           MPI_Request* req) {
  switch (which) {
    case kReadAt: return nb ? MPI_File_iread_at(f, off, buf, n, t, req) : MPI_File_read_at(f, off, buf, n, t, st);
    case kWriteAt: return nb ? MPI_File_iwrite_at(f, off, buf, n, t, req) : MPI_File_write_at(f, off, buf, n, t, st);
    case kReadAtAll:
      return nb ? MPI_File_iread_at_all(f, off, buf, n, t, req) : MPI_File_read_at_all(f, off, buf, n, t, st);
    case kWriteAtAll:
      return nb ? MPI_File_iwrite_at_all(f, off, buf, n, t, req) : MPI_File_write_at_all(f, off, buf, n, t, st);
    case kRead: return nb ? MPI_File_iread(f, buf, n, t, req) : MPI_File_read(f, buf, n, t, st);
    case kWrite: return nb ? MPI_File_iwrite(f, buf, n, t, req) : MPI_File_write(f, buf, n, t, st);
    case kReadAll: return nb ? MPI_File_iread_all(f, buf, n, t, req) : MPI_File_read_all(f, buf, n, t, st);
    case kWriteAll: return nb ? MPI_File_iwrite_all(f, buf, n, t, req) : MPI_File_write_all(f, buf, n, t, st);
    case kReadShared: return nb ? MPI_File_iread_shared(f, buf, n, t, req) : MPI_File_read_shared(f, buf, n, t, st);
    case kWriteShared:
      return nb ? MPI_File_iwrite_shared(f, buf, n, t, req) : MPI_File_write_shared(f, buf, n, t, st);
    case kReadOrdered: return MPI_File_read_ordered(f, buf, n, t, st);
    default: return MPI_File_write_ordered(f, buf, n, t, st);
  }
}

// A signed offset (seek's, relative to the current position or the end): an integer of magnitude
// below 2^53.
MPI_Offset SignedOffset(const Args& a, size_t i) {
  const double d = a[i].As<Napi::Number>().DoubleValue();
  if (!(std::fabs(d) < 9007199254740992.0) || d != std::floor(d)) {
    throw Napi::RangeError::New(a.env(), "internal: offset must be an integer below 2^53 in magnitude");
  }
  return static_cast<MPI_Offset>(d);
}

}  // namespace

// fileOpen(comm, path, amode, info, truncate) -> handle. Collective; `truncate` (Node's 'w' modes) sets
// the size to 0 once every rank has it open, since MPI's MPI_MODE_CREATE keeps an existing file's bytes.
Napi::Value Addon::FileOpen(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Comm comm = a.Comm(0);
  const std::string path = a.String(1);
  MPI_File f;
  a.Check(MPI_File_open(comm, path.c_str(), a.Int(2), a.Info(3), &f));
  if (a.Flag(4)) {
    const int rc = MPI_File_set_size(f, 0);
    if (rc != MPI_SUCCESS) {
      MPI_File_close(&f);
      a.Throw(rc);
    }
  }
  return Napi::Number::New(a.env(), files_.Add(f));
}

// fileClose(h). Collective.
Napi::Value Addon::FileClose(const Napi::CallbackInfo& info) {
  Args a(this, info);
  a.File(0);
  MPI_File f = files_.Take(a.Int(0));
  return a.Done(MPI_File_close(&f));
}

// fileDelete(path, info)
Napi::Value Addon::FileDelete(const Napi::CallbackInfo& info) {
  Args a(this, info);
  const std::string path = a.String(0);
  return a.Done(MPI_File_delete(path.c_str(), a.Info(1)));
}

// fileSetView(h, disp, etype, info): elements of `etype`'s datatype (an empty typed array of the element
// type; null for bytes) from byte `disp` on, in the "native" representation. Collective.
Napi::Value Addon::FileSetView(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_File f = a.File(0);
  const MPI_Offset disp = static_cast<MPI_Offset>(a.Size(1));
  const std::optional<BufView> witness = a.OptBuf(2);
  const MPI_Datatype t = witness ? witness->type : MPI_BYTE;
  return a.Done(MPI_File_set_view(f, disp, t, t, "native", a.Info(3)));
}

// fileReadAt / fileWriteAt / ... (h, buf, offset, nb): offset in elements of the view (ignored by the
// forms that use a file pointer). The blocking form leaves the byte count in the status record.
Napi::Value Addon::FileAccess(const Napi::CallbackInfo& info, int which) {
  Args a(this, info);
  MPI_File f = a.File(0);
  const BufView b = a.Buf(1);
  const MPI_Offset off = static_cast<MPI_Offset>(a.Size(2));
  const bool nb = a.Flag(3) && which != kReadOrdered && which != kWriteOrdered;
  CountedType ct(b.count, b.type);
  MPI_Request req = MPI_REQUEST_NULL;
  MPI_Status st;
  int rc = ct.rc();
  if (rc == MPI_SUCCESS) rc = Access(which, nb, f, off, b.data, ct.count(), ct.type(), &st, &req);
  return a.DoneRecv(rc, nb, req, st);
}

// fileSeek(h, offset, whence, shared): whence 0 set, 1 current, 2 end; `shared` moves the shared file
// pointer (collective) instead of this rank's own.
Napi::Value Addon::FileSeek(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_File f = a.File(0);
  const MPI_Offset off = SignedOffset(a, 1);
  const int w = a.Int(2);
  const int whence = w == 1 ? MPI_SEEK_CUR : w == 2 ? MPI_SEEK_END : MPI_SEEK_SET;
  return a.Done(a.Flag(3) ? MPI_File_seek_shared(f, off, whence) : MPI_File_seek(f, off, whence));
}

// filePosition(h, shared) -> the individual (or shared) file pointer, in elements of the view.
Napi::Value Addon::FilePosition(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_File f = a.File(0);
  MPI_Offset off = 0;
  a.Check(a.Flag(1) ? MPI_File_get_position_shared(f, &off) : MPI_File_get_position(f, &off));
  return Napi::Number::New(a.env(), static_cast<double>(off));
}

// fileGetSize(h) -> bytes; fileSetSize / filePreallocate (h, bytes), collective.
Napi::Value Addon::FileSize(const Napi::CallbackInfo& info, int which) {
  Args a(this, info);
  MPI_File f = a.File(0);
  if (which == kGetSize) {
    MPI_Offset size = 0;
    a.Check(MPI_File_get_size(f, &size));
    return Napi::Number::New(a.env(), static_cast<double>(size));
  }
  const MPI_Offset size = static_cast<MPI_Offset>(a.Size(1));
  return a.Done(which == kSetSize ? MPI_File_set_size(f, size) : MPI_File_preallocate(f, size));
}

// fileSync(h): MPI_File_sync, collective.
Napi::Value Addon::FileSync(const Napi::CallbackInfo& info) {
  Args a(this, info);
  return a.Done(MPI_File_sync(a.File(0)));
}

// fileGetInfo(h) -> an info handle (the hints in use; the caller frees it).
Napi::Value Addon::FileGetInfo(const Napi::CallbackInfo& info) {
  Args a(this, info);
  MPI_Info out;
  a.Check(MPI_File_get_info(a.File(0), &out));
  return Napi::Number::New(a.env(), infos_.Add(out));
}

void Addon::DefineIo(Napi::Env env, Napi::Object exports) {
  static const Export table[] = {
      {"fileOpen", Method<&Addon::FileOpen>},
      {"fileClose", Method<&Addon::FileClose>},
      {"fileDelete", Method<&Addon::FileDelete>},
      {"fileSetView", Method<&Addon::FileSetView>},
      {"fileReadAt", Method<&Addon::FileAccess, kReadAt>},
      {"fileWriteAt", Method<&Addon::FileAccess, kWriteAt>},
      {"fileReadAtAll", Method<&Addon::FileAccess, kReadAtAll>},
      {"fileWriteAtAll", Method<&Addon::FileAccess, kWriteAtAll>},
      {"fileRead", Method<&Addon::FileAccess, kRead>},
      {"fileWrite", Method<&Addon::FileAccess, kWrite>},
      {"fileReadAll", Method<&Addon::FileAccess, kReadAll>},
      {"fileWriteAll", Method<&Addon::FileAccess, kWriteAll>},
      {"fileReadShared", Method<&Addon::FileAccess, kReadShared>},
      {"fileWriteShared", Method<&Addon::FileAccess, kWriteShared>},
      {"fileReadOrdered", Method<&Addon::FileAccess, kReadOrdered>},
      {"fileWriteOrdered", Method<&Addon::FileAccess, kWriteOrdered>},
      {"fileSeek", Method<&Addon::FileSeek>},
      {"filePosition", Method<&Addon::FilePosition>},
      {"fileGetSize", Method<&Addon::FileSize, kGetSize>},
      {"fileSetSize", Method<&Addon::FileSize, kSetSize>},
      {"filePreallocate", Method<&Addon::FileSize, kPreallocate>},
      {"fileSync", Method<&Addon::FileSync>},
      {"fileGetInfo", Method<&Addon::FileGetInfo>},
  };
  DefineExports(env, exports, this, table);
}

}  // namespace mpi4node
