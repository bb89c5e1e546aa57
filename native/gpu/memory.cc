// Device memory: allocation on the current device, copies to and from host typed arrays, memset.
// Handles are small integers into a table (lib/gpu/buffer.ts frees them on dispose() or from a
// FinalizationRegistry callback, which runs as an ordinary task on this thread, never inside GC).
//
// Blocking copies run on the environment's copy stream after the last stream work on the buffer
// (a collective still running on an NCCL stream, say), then wait for that stream. Promise copies go
// through pinned chunks (MakeHostCopy): a cudaMemcpyAsync from pageable memory would block the
// calling thread until the stream is idle, which is exactly what the event loop must not do.
#include <cstring>

#include "addon.h"
#include "core/args.h"
#include "core/slots.h"
#include "core/exports.h"
#include "gpu/env.h"

namespace mpi4node {

namespace {

constexpr size_t kDefaultChunk = size_t{4} << 20;

// The bytes of a host typed array.
struct HostView {
  void* data;
  size_t bytes;
};
HostView Host(const Args& a, size_t i) {
  const BufView b = a.Buf(i);
  return {b.data, b.count * b.elemSize};
}

}  // namespace

// alloc(bytes) -> handle, on the current device.
Napi::Value GpuEnv::Alloc(const Napi::CallbackInfo& info) {
  Args a(addon_, info, Args::kNoMpi);
  Napi::Env env = a.env();
  RequireCuda(env);
  const size_t bytes = a.Size(0);
  int device = 0;
  Check(env, cuda().GetDevice(&device));
  void* ptr = nullptr;
  // A zero-length buffer still gets an address, so every handle names real memory.
  Check(env, cuda().Malloc(&ptr, bytes == 0 ? 1 : bytes));
  const int h = TakeIndex(mems_, freeMems_);
  mems_[h] = DeviceMem{ptr, bytes, device, true, nullptr};
  return Napi::Number::New(env, h);
}

// free(handle). lib/ never frees memory an operation in flight still uses; the cudaFree itself may
// wait until no NCCL operation is pending (GpuEnv::FreeDevice).
Napi::Value GpuEnv::Free(const Napi::CallbackInfo& info) {
  Args a(addon_, info, Args::kNoMpi);
  Napi::Env env = a.env();
  DeviceMem& m = Mem(env, a.Int(0));
  const int h = static_cast<int>(&m - mems_.data());
  void* ptr = m.ptr;
  m = DeviceMem();
  freeMems_.push_back(h);
  FreeDevice(ptr);
  return env.Undefined();
}

// The blocking operations: `enqueue(stream)` on the copy stream of m's device, after the last stream
// work on m (and on `other`, the source of a device copy), then a wait for that stream.
template <typename Enqueue>
static void Blocking(GpuEnv& g, Napi::Env env, const DeviceMem& m, const DeviceMem* other, Enqueue enqueue) {
  GpuErr err;
  DeviceGuard guard(g.cuda(), m.device);
  cudaStream_t s = g.CopyStream(m.device, &err);
  if (!err.ok()) g.Throw(env, err);
  g.Check(env, g.After(s, m));
  if (other != nullptr) g.Check(env, g.After(s, *other));
  g.Check(env, enqueue(s));
  g.Check(env, g.cuda().StreamSynchronize(s));
}

static void CopyHost(GpuEnv& g, const Args& a, bool toDevice) {
  DeviceMem& m = g.Mem(a.env(), a.Int(0));
  const HostView h = Host(a, 2);
  const size_t offset = a.Size(1);
  CheckRange(a.env(), m, offset, h.bytes);
  if (h.bytes == 0) return;
  char* dev = static_cast<char*>(m.ptr) + offset;
  Blocking(g, a.env(), m, nullptr, [&](cudaStream_t s) {
    return toDevice ? g.cuda().MemcpyAsync(dev, h.data, h.bytes, cudaMemcpyHostToDevice, s)
                    : g.cuda().MemcpyAsync(h.data, dev, h.bytes, cudaMemcpyDeviceToHost, s);
  });
}

// copyIn(handle, byteOffset, hostArray): host -> device, blocking.
Napi::Value GpuEnv::CopyIn(const Napi::CallbackInfo& info) {
  CopyHost(*this, Args(addon_, info, Args::kNoMpi), true);
  return info.Env().Undefined();
}

// copyOut(handle, byteOffset, hostArray): device -> host, blocking.
Napi::Value GpuEnv::CopyOut(const Napi::CallbackInfo& info) {
  CopyHost(*this, Args(addon_, info, Args::kNoMpi), false);
  return info.Env().Undefined();
}

// The arguments of a device -> device copy: (dst, dstOffset, src, srcOffset, bytes), ranges checked.
struct DeviceCopy {
  DeviceMem& dst;
  DeviceMem& src;
  char* to;
  const char* from;
  size_t bytes;
  cudaError_t Enqueue(CudaApi& cuda, cudaStream_t s) const {
    return cuda.MemcpyAsync(to, from, bytes, cudaMemcpyDeviceToDevice, s);
  }
};
static DeviceCopy DeviceCopyArgs(GpuEnv& g, const Args& a) {
  DeviceMem& dst = g.Mem(a.env(), a.Int(0));
  DeviceMem& src = g.Mem(a.env(), a.Int(2));
  const size_t dOff = a.Size(1), sOff = a.Size(3), bytes = a.Size(4);
  CheckRange(a.env(), dst, dOff, bytes);
  CheckRange(a.env(), src, sOff, bytes);
  return {dst, src, static_cast<char*>(dst.ptr) + dOff, static_cast<const char*>(src.ptr) + sOff, bytes};
}

// copyDevice(dst, dstOffset, src, srcOffset, bytes): device -> device, blocking.
Napi::Value GpuEnv::CopyDevice(const Napi::CallbackInfo& info) {
  Args a(addon_, info, Args::kNoMpi);
  const DeviceCopy c = DeviceCopyArgs(*this, a);
  if (c.bytes == 0) return a.env().Undefined();
  Blocking(*this, a.env(), c.dst, &c.src, [&](cudaStream_t s) { return c.Enqueue(cuda(), s); });
  return a.env().Undefined();
}

// copyDeviceAsync(dst, dstOffset, src, srcOffset, bytes) -> op id: device -> device on the copy stream,
// ordered after the last work on both buffers at post time, and recorded as the last work on both, so
// that later device work (an NCCL collective, another copy) waits for it on the device. The host never
// waits; the poller completes the op when its event has completed.
Napi::Value GpuEnv::CopyDeviceAsync(const Napi::CallbackInfo& info) {
  Args a(addon_, info, Args::kNoMpi);
  Napi::Env env = a.env();
  const DeviceCopy c = DeviceCopyArgs(*this, a);
  GpuErr err;
  DeviceGuard guard(cuda(), c.dst.device);
  cudaStream_t s = CopyStream(c.dst.device, &err);
  if (!err.ok()) Throw(env, err);
  Check(env, After(s, c.dst));
  if (&c.src != &c.dst) Check(env, After(s, c.src));
  if (c.bytes > 0) Check(env, c.Enqueue(cuda(), s));
  GpuOp op;
  op.ev = Record(s, c.dst.device, &err);
  if (!err.ok()) Throw(env, err);
  c.dst.last = op.ev;
  c.src.last = op.ev;
  return Napi::Number::New(env, AddOp(std::move(op)));
}

static Napi::Value AsyncCopy(GpuEnv& g, const Args& a, bool toDevice) {
  Napi::Env env = a.env();
  DeviceMem& m = g.Mem(env, a.Int(0));
  const size_t offset = a.Size(1);
  const HostView h = Host(a, 2);
  const size_t chunk = a[3].IsNumber() ? a.Size(3) : kDefaultChunk;
  CheckRange(env, m, offset, h.bytes);
  GpuOp op;
  GpuErr err;
  op.xfer = MakeHostCopy(g, static_cast<int>(&m - g.mems().data()), offset, h.data, h.bytes, toDevice,
                         chunk == 0 ? kDefaultChunk : chunk, &err);
  if (!err.ok()) g.Throw(env, err);
  return Napi::Number::New(env, g.AddOp(std::move(op)));
}

// copyInAsync(handle, byteOffset, hostArray, chunkBytes?) -> op id. lib/ keeps hostArray referenced.
Napi::Value GpuEnv::CopyInAsync(const Napi::CallbackInfo& info) {
  return AsyncCopy(*this, Args(addon_, info, Args::kNoMpi), true);
}
Napi::Value GpuEnv::CopyOutAsync(const Napi::CallbackInfo& info) {
  return AsyncCopy(*this, Args(addon_, info, Args::kNoMpi), false);
}

// memset(handle, byteOffset, bytes, value): blocking.
Napi::Value GpuEnv::Memset(const Napi::CallbackInfo& info) {
  Args a(addon_, info, Args::kNoMpi);
  Napi::Env env = a.env();
  DeviceMem& m = Mem(env, a.Int(0));
  const size_t offset = a.Size(1), bytes = a.Size(2);
  CheckRange(env, m, offset, bytes);
  if (bytes == 0) return env.Undefined();
  const int value = a.Int(3) & 0xff;
  Blocking(*this, env, m, nullptr,
           [&](cudaStream_t s) { return cuda().MemsetAsync(static_cast<char*>(m.ptr) + offset, value, bytes, s); });
  return env.Undefined();
}

// pointerInfo(handle) -> [memoryType, device] from cudaPointerGetAttributes. The struct grew from 24
// to 88 bytes in CUDA 13; we hand it a larger buffer and read only the fields every version has.
Napi::Value GpuEnv::PointerInfo(const Napi::CallbackInfo& info) {
  Args a(addon_, info, Args::kNoMpi);
  Napi::Env env = a.env();
  DeviceMem& m = Mem(env, a.Int(0));
  alignas(16) unsigned char attrs[MPI4NODE_CUDA_PTR_ATTR_BYTES];
  std::memset(attrs, 0, sizeof attrs);
  Check(env, cuda().PointerGetAttributes(attrs, m.ptr));
  mpi4nodeCudaPointerAttributesHead head;
  std::memcpy(&head, attrs, sizeof head);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, head.type);
  out.Set(1u, head.device);
  return out;
}

void GpuEnv::DefineMemory(Napi::Env env, Napi::Object gpu) {
  static const Export table[] = {
      {"alloc", Method<&GpuEnv::Alloc>},
      {"free", Method<&GpuEnv::Free>},
      {"copyIn", Method<&GpuEnv::CopyIn>},
      {"copyOut", Method<&GpuEnv::CopyOut>},
      {"copyDevice", Method<&GpuEnv::CopyDevice>},
      {"copyDeviceAsync", Method<&GpuEnv::CopyDeviceAsync>},
      {"copyInAsync", Method<&GpuEnv::CopyInAsync>},
      {"copyOutAsync", Method<&GpuEnv::CopyOutAsync>},
      {"memset", Method<&GpuEnv::Memset>},
      {"pointerInfo", Method<&GpuEnv::PointerInfo>},
  };
  DefineExports(env, gpu, this, table);
}

}  // namespace mpi4node
