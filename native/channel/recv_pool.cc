#include "channel/recv_pool.h"

#include <cstdint>
#include <cstdlib>

namespace mpi4node {

namespace {
// Size class of a block for `bytes`: its size is 2^(kMinShift + cls); -1 for blocks too large to keep.
int ClassOf(size_t bytes) {
  int shift = RecvPool::kMinShift;
  while ((size_t{1} << shift) < bytes && shift <= RecvPool::kMaxShift) ++shift;
  return shift > RecvPool::kMaxShift ? -1 : shift - RecvPool::kMinShift;
}

size_t BlockSize(int cls, size_t bytes) {
  return cls < 0 ? (bytes + 63) / 64 * 64 : size_t{1} << (RecvPool::kMinShift + cls);
}
}  // namespace

RecvPool& RecvPool::Get() {
  static RecvPool* pool = new RecvPool();  // never destroyed: finalizers may run during teardown
  return *pool;
}

Napi::Value RecvPool::New(Napi::Env env, size_t bytes, void** data) {
  const int cls = ClassOf(bytes);
  const size_t size = BlockSize(cls, bytes);
  void* block = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (outstanding_ + size > kOutstandingBytes) {
      Napi::Buffer<char> plain = Napi::Buffer<char>::New(env, bytes);
      *data = plain.Data();
      return plain;
    }
    outstanding_ += size;
    if (cls >= 0 && !free_[cls].empty()) {
      block = free_[cls].back();
      free_[cls].pop_back();
      cached_ -= size;
    }
  }
  if (block == nullptr) block = std::aligned_alloc(64, size);
  napi_value out;
  // The hint carries the size class, or the block size for a block too large to keep.
  void* hint = reinterpret_cast<void*>(static_cast<intptr_t>(cls >= 0 ? cls : -static_cast<intptr_t>(size)));
  if (block == nullptr || napi_create_external_buffer(env, bytes, block, Release, hint, &out) != napi_ok) {
    std::free(block);
    std::lock_guard<std::mutex> lock(mu_);
    outstanding_ -= size;
    throw Napi::Error::New(env, "out of memory for a received message");
  }
  *data = block;
  return Napi::Value(env, out);
}

void RecvPool::Release(napi_env, void* data, void* hint) {
  const intptr_t h = reinterpret_cast<intptr_t>(hint);
  Get().Put(data, h >= 0 ? static_cast<int>(h) : -1, h >= 0 ? BlockSize(static_cast<int>(h), 0) : static_cast<size_t>(-h));
}

void RecvPool::Put(void* block, int cls, size_t size) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    outstanding_ -= size;
    if (cls >= 0 && cached_ + size <= kCacheBytes) {
      free_[cls].push_back(block);
      cached_ += size;
      return;
    }
  }
  std::free(block);
}

}  // namespace mpi4node
