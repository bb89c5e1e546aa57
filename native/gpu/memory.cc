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
#include "gpu/env.h"

namespace mpi4node {

namespace {

constexpr size_t kDefaultChunk = size_t{4} << 20;

struct HostView {
  void* data = nullptr;
  size_t bytes = 0;
};

HostView HostArg(Napi::Env env, const Napi::Value& v) {
  napi_typedarray_type t;
  size_t length;
  void* data;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &t, &length, &data, &ab, &offset) != napi_ok) {
    throw Napi::TypeError::New(env, "internal: expected a typed array");
  }
  size_t elem = 1;
  switch (t) {
    case napi_int16_array: case napi_uint16_array: elem = 2; break;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
    default: elem = 1;
  }
  return {data, length * elem};
}

size_t SizeArg(Napi::Env env, const Napi::Value& v) {
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 9007199254740991.0) throw Napi::RangeError::New(env, "internal: bad size");
  return static_cast<size_t>(d);
}

void CheckRange(Napi::Env env, const DeviceMem& m, size_t offset, size_t bytes) {
  if (offset > m.bytes || bytes > m.bytes - offset) {
    throw Napi::RangeError::New(env, "internal: device range out of bounds");
  }
}

}  // namespace

// alloc(bytes) -> handle, on the current device.
Napi::Value GpuEnv::Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireCuda(env);
  const size_t bytes = SizeArg(env, info[0]);
  int device = 0;
  Check(env, cuda().GetDevice(&device));
  void* ptr = nullptr;
  // A zero-length buffer still gets an address, so every handle names real memory.
  Check(env, cuda().Malloc(&ptr, bytes == 0 ? 1 : bytes));
  int h;
  if (!freeMems_.empty()) {
    h = freeMems_.back();
    freeMems_.pop_back();
  } else {
    h = static_cast<int>(mems_.size());
    mems_.emplace_back();
  }
  mems_[h] = DeviceMem{ptr, bytes, device, true, nullptr};
  return Napi::Number::New(env, h);
}

// free(handle). lib/ never frees memory an operation in flight still uses.
Napi::Value GpuEnv::Free(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceMem& m = Mem(env, info[0]);
  const int h = static_cast<int>(&m - mems_.data());
  void* ptr = m.ptr;
  m = DeviceMem();
  freeMems_.push_back(h);
  Check(env, cuda().Free(ptr));
  return env.Undefined();
}

static void BlockingCopy(GpuEnv& g, Napi::Env env, DeviceMem& m, size_t offset, void* host, size_t bytes,
                         bool toDevice) {
  CheckRange(env, m, offset, bytes);
  if (bytes == 0) return;
  GpuErr err;
  DeviceGuard guard(g.cuda(), m.device);
  cudaStream_t s = g.CopyStream(m.device, &err);
  if (!err.ok()) g.Throw(env, err);
  char* dev = static_cast<char*>(m.ptr) + offset;
  g.Check(env, g.After(s, m));
  g.Check(env, toDevice ? g.cuda().MemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, s)
                        : g.cuda().MemcpyAsync(host, dev, bytes, cudaMemcpyDeviceToHost, s));
  g.Check(env, g.cuda().StreamSynchronize(s));
}

// copyIn(handle, byteOffset, hostArray): host -> device, blocking.
Napi::Value GpuEnv::CopyIn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceMem& m = Mem(env, info[0]);
  HostView h = HostArg(env, info[2]);
  BlockingCopy(*this, env, m, SizeArg(env, info[1]), h.data, h.bytes, true);
  return env.Undefined();
}

// copyOut(handle, byteOffset, hostArray): device -> host, blocking.
Napi::Value GpuEnv::CopyOut(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceMem& m = Mem(env, info[0]);
  HostView h = HostArg(env, info[2]);
  BlockingCopy(*this, env, m, SizeArg(env, info[1]), h.data, h.bytes, false);
  return env.Undefined();
}

// copyDevice(dst, dstOffset, src, srcOffset, bytes): device -> device, blocking.
Napi::Value GpuEnv::CopyDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceMem& dst = Mem(env, info[0]);
  DeviceMem& src = Mem(env, info[2]);
  const size_t dOff = SizeArg(env, info[1]), sOff = SizeArg(env, info[3]), bytes = SizeArg(env, info[4]);
  CheckRange(env, dst, dOff, bytes);
  CheckRange(env, src, sOff, bytes);
  if (bytes == 0) return env.Undefined();
  GpuErr err;
  DeviceGuard guard(cuda(), dst.device);
  cudaStream_t s = CopyStream(dst.device, &err);
  if (!err.ok()) Throw(env, err);
  Check(env, After(s, dst));
  Check(env, After(s, src));
  Check(env, cuda().MemcpyAsync(static_cast<char*>(dst.ptr) + dOff, static_cast<char*>(src.ptr) + sOff, bytes,
                                cudaMemcpyDeviceToDevice, s));
  Check(env, cuda().StreamSynchronize(s));
  return env.Undefined();
}

static Napi::Value AsyncCopy(GpuEnv& g, const Napi::CallbackInfo& info, bool toDevice) {
  Napi::Env env = info.Env();
  DeviceMem& m = g.Mem(env, info[0]);
  const size_t offset = SizeArg(env, info[1]);
  HostView h = HostArg(env, info[2]);
  const size_t chunk = info[3].IsNumber() ? SizeArg(env, info[3]) : kDefaultChunk;
  CheckRange(env, m, offset, h.bytes);
  GpuOp op;
  op.xfer = MakeHostCopy(static_cast<int>(&m - g.mems().data()), offset, h.data, h.bytes, toDevice,
                         chunk == 0 ? kDefaultChunk : chunk);
  return Napi::Number::New(env, g.AddOp(std::move(op)));
}

// copyInAsync(handle, byteOffset, hostArray, chunkBytes?) -> op id. lib/ keeps hostArray referenced.
Napi::Value GpuEnv::CopyInAsync(const Napi::CallbackInfo& info) { return AsyncCopy(*this, info, true); }
Napi::Value GpuEnv::CopyOutAsync(const Napi::CallbackInfo& info) { return AsyncCopy(*this, info, false); }

// memset(handle, byteOffset, bytes, value): blocking.
Napi::Value GpuEnv::Memset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceMem& m = Mem(env, info[0]);
  const size_t offset = SizeArg(env, info[1]), bytes = SizeArg(env, info[2]);
  CheckRange(env, m, offset, bytes);
  if (bytes == 0) return env.Undefined();
  GpuErr err;
  DeviceGuard guard(cuda(), m.device);
  cudaStream_t s = CopyStream(m.device, &err);
  if (!err.ok()) Throw(env, err);
  Check(env, After(s, m));
  Check(env, cuda().MemsetAsync(static_cast<char*>(m.ptr) + offset, addon_->IntArg(info, 3) & 0xff, bytes, s));
  Check(env, cuda().StreamSynchronize(s));
  return env.Undefined();
}

// pointerInfo(handle) -> [memoryType, device] from cudaPointerGetAttributes. The struct grew from 24
// to 88 bytes in CUDA 13; we hand it a larger buffer and read only the fields every version has.
Napi::Value GpuEnv::PointerInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceMem& m = Mem(env, info[0]);
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

}  // namespace mpi4node
