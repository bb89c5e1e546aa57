// Conversions between float16/bfloat16 (in Uint16Arrays) and float32/float64 arrays, rounded as
// mpi/half.h says: for users who hold data in halves, and for the gradient averager's compression
// (lib/train/averager.ts), which packs float32 gradients into halves for the wire and back.
#include "addon.h"
#include "core/args.h"
#include "core/exports.h"
#include "mpi/half.h"

namespace mpi4node {

namespace {

template <typename F>
void Encode(const F* src, uint16_t* dst, size_t n, int kind) {
  // float64 rounds to float32 first: the library's half arithmetic is float32 arithmetic (half.h).
  if (kind == kBfloat16) {
    for (size_t i = 0; i < n; ++i) dst[i] = FloatToBf16(static_cast<float>(src[i]));
  } else {
    for (size_t i = 0; i < n; ++i) dst[i] = FloatToF16(static_cast<float>(src[i]));
  }
}

template <typename F>
void Decode(const uint16_t* src, F* dst, size_t n, int kind) {
  if (kind == kBfloat16) {
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<F>(Bf16ToFloat(src[i]));
  } else {
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<F>(F16ToFloat(src[i]));
  }
}

}  // namespace

// toHalf(src, dst, kind) and fromHalf(src, dst, kind): n = min of the lengths lib/ checked equal;
// src/dst a Float32Array or Float64Array on the float side, a Uint16Array on the half side.
Napi::Value Addon::HalfConvert(const Napi::CallbackInfo& info, int toHalf) {
  Args a(this, info, Args::kNoMpi);
  const BufView src = a.Buf(0), dst = a.Buf(1);
  const int kind = a.Int(2);
  const BufView& f = toHalf ? src : dst;
  const BufView& h = toHalf ? dst : src;
  if (h.type != MPI_UINT16_T || (f.type != MPI_FLOAT && f.type != MPI_DOUBLE) ||
      (kind != kFloat16 && kind != kBfloat16)) {
    throw Napi::TypeError::New(a.env(), "internal: half conversion needs a Uint16Array, a float array and a kind");
  }
  const size_t n = src.count < dst.count ? src.count : dst.count;
  uint16_t* hp = static_cast<uint16_t*>(h.data);
  if (toHalf) {
    if (f.type == MPI_FLOAT) Encode(static_cast<const float*>(f.data), hp, n, kind);
    else Encode(static_cast<const double*>(f.data), hp, n, kind);
  } else {
    if (f.type == MPI_FLOAT) Decode(hp, static_cast<float*>(f.data), n, kind);
    else Decode(hp, static_cast<double*>(f.data), n, kind);
  }
  return a.env().Undefined();
}

void Addon::DefineHalf(Napi::Env env, Napi::Object exports) {
  static const Export table[] = {
      {"toHalf", Method<&Addon::HalfConvert, 1>},
      {"fromHalf", Method<&Addon::HalfConvert, 0>},
  };
  DefineExports(env, exports, this, table);
}

}  // namespace mpi4node
