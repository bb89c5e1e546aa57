// Memory for received messages of unknown size (channel messages): blocks of at least 64 KiB, handed
// to JavaScript as Buffers, and kept for reuse once JavaScript has dropped them.
//
// Why: such a receive needs fresh memory per message (its payload is handed out as a view, so it must
// never be overwritten), and fresh memory is expensive here: a new 1 MiB ArrayBuffer costs ~0.7 ms in
// page faults and zeroing on this VM, ten times the transfer itself. A block whose Buffer was
// collected is kept (up to kCacheBytes in all) and handed out again with its pages already mapped.
// The memory is not zeroed: MPI overwrites every byte of the exact-length Buffer.
//
// Node returns an external Buffer's memory (runs its finalizer) on the event loop, so a blocking loop
// that never yields gets nothing back until it does. Past kOutstandingBytes handed out and not yet
// returned, New() therefore gives ordinary Buffers, which V8 frees by itself.
#pragma once

#include <napi.h>

#include <cstddef>
#include <mutex>
#include <vector>

namespace mpi4node {

class RecvPool {
 public:
  static constexpr int kMinShift = 16;  // 64 KiB: smaller messages go to lib/'s slab
  static constexpr int kMaxShift = 26;  // 64 MiB: larger blocks are not kept
  static constexpr size_t kCacheBytes = size_t{128} << 20;
  static constexpr size_t kOutstandingBytes = size_t{64} << 20;

  static RecvPool& Get();

  // A Buffer of exactly `bytes` bytes (> 0) over a 64-byte aligned block; `*data` is its memory.
  Napi::Value New(Napi::Env env, size_t bytes, void** data);

 private:
  static void Release(napi_env env, void* data, void* hint);
  void Put(void* block, int cls, size_t size);

  std::mutex mu_;
  std::vector<void*> free_[kMaxShift - kMinShift + 1];
  size_t cached_ = 0;
  size_t outstanding_ = 0;
};

}  // namespace mpi4node
