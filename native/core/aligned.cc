// Page-aligned host memory for large messages (lib/core/alloc.ts: allocate()).
//
// Why: V8 takes an ArrayBuffer's memory from calloc, which starts a large one 16 bytes past a page
// boundary, while MPI's own memory (windows, its shared-memory segments) and C programs' posix_memalign
// buffers start on one. A copy between memory whose offsets within a page differ by a few bytes stalls
// on 4K aliasing. Measured with the C osu_get_latency at 1 MiB (medians of 5-6 runs, one machine
// state each): page-aligned 19.2 / 21.3 us, 64 bytes past a page 22.4 us, 16 bytes past 26.2 us.
#include <cstdlib>
#include <cstring>
#include <string>

#include "addon.h"
#include "core/args.h"
#include "core/exports.h"

namespace mpi4node {

namespace {

constexpr size_t kPage = 4096;

// The ArrayBuffer was collected: its memory goes back, and V8 stops counting it.
void Release(napi_env env, void* data, void* hint) {
  free(data);
  int64_t total = 0;
  napi_adjust_external_memory(env, -static_cast<int64_t>(reinterpret_cast<uintptr_t>(hint)), &total);
}

}  // namespace

// allocAligned(bytes) -> an ArrayBuffer of `bytes` zeroed bytes starting on a page boundary, freed when
// it is collected. Zeroing also maps every page now, as the C benchmarks' osu_alloc does.
Napi::Value Addon::AllocAligned(const Napi::CallbackInfo& info) {
  Args a(this, info, Args::kNoMpi);
  const size_t bytes = a.Size(0);
  if (bytes == 0) return Napi::ArrayBuffer::New(a.env(), 0);
  void* p = nullptr;
  if (posix_memalign(&p, kPage, bytes) != 0) {
    throw Napi::RangeError::New(a.env(), "allocate: cannot allocate " + std::to_string(bytes) + " bytes");
  }
  memset(p, 0, bytes);
  napi_value ab;
  if (napi_create_external_arraybuffer(a.env(), p, bytes, Release, reinterpret_cast<void*>(bytes), &ab) != napi_ok) {
    free(p);
    throw Napi::Error::New(a.env(), "allocate: this runtime refuses external ArrayBuffers");
  }
  // V8 schedules collections by the memory it knows of: without this, many large arrays would wait.
  int64_t total = 0;
  napi_adjust_external_memory(a.env(), static_cast<int64_t>(bytes), &total);
  return Napi::Value(a.env(), ab);
}

void Addon::DefineMemory(Napi::Env env, Napi::Object exports) {
  static const Export table[] = {
      {"allocAligned", Method<&Addon::AllocAligned>},
  };
  DefineExports(env, exports, this, table);
}

}  // namespace mpi4node
