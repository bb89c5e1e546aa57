#include "mpi/ops.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "mpi/half.h"

namespace mpi4node {

namespace {

thread_local JsOpScope* tCurrent = nullptr;

bool IsNamed(MPI_Datatype t) {
  int ni, na, nd, combiner;
  MPI_Type_get_envelope(t, &ni, &na, &nd, &combiner);
  return combiner == MPI_COMBINER_NAMED;
}

// The predefined type a CountedType is made of. Every component of its contiguous and struct levels
// has the same base, so the first one is followed; the handles MPI_Type_get_contents returns for
// derived components are new objects and are freed on the way.
MPI_Datatype BaseOf(MPI_Datatype t) {
  bool owned = false;
  while (!IsNamed(t)) {
    int ni, na, nd, combiner;
    MPI_Type_get_envelope(t, &ni, &na, &nd, &combiner);
    std::vector<int> ints(ni);
    std::vector<MPI_Aint> addrs(na);
    std::vector<MPI_Datatype> types(nd);
    MPI_Type_get_contents(t, ni, na, nd, ints.data(), addrs.data(), types.data());
    for (int k = 1; k < nd; ++k) {
      if (!IsNamed(types[k])) MPI_Type_free(&types[k]);
    }
    if (owned) MPI_Type_free(&t);
    t = types[0];
    owned = true;
  }
  return t;
}

// Applies predefined `op` to `len` elements of the derived type `dt`, in pieces MPI_Reduce_local's int
// count can hold. CountedType elements have no gaps, so the buffers are plain arrays of the base type.
void ReduceOver(MPI_Op op, void* in, void* inout, int len, MPI_Datatype dt) {
  MPI_Datatype base = BaseOf(dt);
  int baseSize = 0;
  MPI_Count bytes = 0;
  MPI_Type_size(base, &baseSize);
  MPI_Type_size_x(dt, &bytes);
  if (baseSize <= 0 || bytes <= 0 || len <= 0) return;
  const size_t n = static_cast<size_t>(bytes) / static_cast<size_t>(baseSize) * static_cast<size_t>(len);
  constexpr size_t kPiece = size_t{1} << 30;
  char* a = static_cast<char*>(in);
  char* b = static_cast<char*>(inout);
  for (size_t off = 0; off < n; off += kPiece) {
    const int count = static_cast<int>(std::min(kPiece, n - off));
    MPI_Reduce_local(a + off * baseSize, b + off * baseSize, count, base, op);
  }
}

}  // namespace

MPI_Op PredefinedOp(int code) {
  switch (code) {
    case kSum: return MPI_SUM;
    case kProd: return MPI_PROD;
    case kMin: return MPI_MIN;
    case kMax: return MPI_MAX;
    case kLand: return MPI_LAND;
    case kLor: return MPI_LOR;
    case kLxor: return MPI_LXOR;
    case kBand: return MPI_BAND;
    case kBor: return MPI_BOR;
    case kBxor: return MPI_BXOR;
    case kReplace: return MPI_REPLACE;
    case kNoOp: return MPI_NO_OP;
    default: return MPI_OP_NULL;
  }
}

namespace {

template <int K>
void BigOpFn(void* in, void* inout, int* len, MPI_Datatype* dt) {
  ReduceOver(PredefinedOp(K), in, inout, *len, *dt);
}

bool IsNarrowInt(MPI_Datatype t) {
  return t == MPI_INT8_T || t == MPI_UINT8_T || t == MPI_INT16_T || t == MPI_UINT16_T;
}

// Unsigned addition wraps by definition; the same bits are the two's-complement signed sum.
template <typename U>
void AddWrapping(const void* in, void* inout, size_t n) {
  const U* a = static_cast<const U*>(in);
  U* b = static_cast<U*>(inout);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<U>(a[i] + b[i]);
}

// The bytes `len` elements of `dt` (predefined or CountedType) hold, and their base type: what the
// library's own ops walk over as a plain array.
size_t BytesOf(int len, MPI_Datatype dt, MPI_Datatype* base) {
  *base = BaseOf(dt);
  MPI_Count bytes = 0;
  MPI_Type_size_x(dt, &bytes);
  return bytes <= 0 || len <= 0 ? 0 : static_cast<size_t>(bytes) * static_cast<size_t>(len);
}

void WrapSumFn(void* in, void* inout, int* len, MPI_Datatype* dt) {
  MPI_Datatype base;
  const size_t total = BytesOf(*len, *dt, &base);
  if (base == MPI_INT8_T || base == MPI_UINT8_T) {
    AddWrapping<uint8_t>(in, inout, total);
  } else {
    AddWrapping<uint16_t>(in, inout, total / 2);
  }
}

bool IsUnsigned(MPI_Datatype t) {
  return t == MPI_UINT8_T || t == MPI_UINT16_T || t == MPI_UINT32_T || t == MPI_UINT64_T;
}

template <typename U, bool kMin>
void Pick(const void* in, void* inout, size_t n) {
  const U* a = static_cast<const U*>(in);
  U* b = static_cast<U*>(inout);
  for (size_t i = 0; i < n; ++i) {
    if (kMin ? a[i] < b[i] : a[i] > b[i]) b[i] = a[i];
  }
}

// MIN or MAX over unsigned elements of any width, predefined or CountedType.
template <bool kMin>
void UnsignedPickFn(void* in, void* inout, int* len, MPI_Datatype* dt) {
  MPI_Datatype base;
  const size_t total = BytesOf(*len, *dt, &base);
  if (base == MPI_UINT8_T) Pick<uint8_t, kMin>(in, inout, total);
  else if (base == MPI_UINT16_T) Pick<uint16_t, kMin>(in, inout, total / 2);
  else if (base == MPI_UINT32_T) Pick<uint32_t, kMin>(in, inout, total / 4);
  else Pick<uint64_t, kMin>(in, inout, total / 8);
}

// Whether this MPI's MIN/MAX treat unsigned integers as signed: MPICH 4.0.2 does, for every width
// (MIN of {255, 3} on MPI_UINT8_T is 255; test/unit/mpi-quirks.test.ts reproduces it in C). Asked of
// the MPI itself, so a fixed MPICH gets its own ops back.
bool AskUnsignedPickBroken() {
  const uint8_t a8 = 255;
  uint8_t b8 = 3;
  const uint64_t a64 = ~uint64_t{0};
  uint64_t b64 = 3;
  MPI_Reduce_local(&a8, &b8, 1, MPI_UINT8_T, MPI_MIN);
  MPI_Reduce_local(&a64, &b64, 1, MPI_UINT64_T, MPI_MIN);
  return b8 != 3 || b64 != 3;
}

// min and max of two values widened from halves: a NaN wins, and -0 counts as below +0, so the result
// does not depend on the order MPI combines ranks in.
template <int kOp>
float Combine(float a, float b) {
  switch (kOp) {
    case kSum: return a + b;
    case kProd: return a * b;
    default: {
      if (a != a) return a;
      if (b != b) return b;
      if (a == b) return (kOp == kMin) == ((FloatBits(a) & 0x80000000u) != 0) ? a : b;
      return (kOp == kMin) == (a < b) ? a : b;
    }
  }
}

// sum, prod, min or max of float16/bfloat16 elements (MPI_UINT16_T, predefined or CountedType).
template <int kKind, int kOp>
void HalfFn(void* in, void* inout, int* len, MPI_Datatype* dt) {
  MPI_Count bytes = 0;
  MPI_Type_size_x(*dt, &bytes);
  if (bytes <= 0 || *len <= 0) return;
  const size_t n = static_cast<size_t>(bytes) * static_cast<size_t>(*len) / 2;
  const uint16_t* a = static_cast<const uint16_t*>(in);
  uint16_t* b = static_cast<uint16_t*>(inout);
  for (size_t i = 0; i < n; ++i) {
    if (kKind == kBfloat16) b[i] = FloatToBf16(Combine<kOp>(Bf16ToFloat(a[i]), Bf16ToFloat(b[i])));
    else b[i] = FloatToF16(Combine<kOp>(F16ToFloat(a[i]), F16ToFloat(b[i])));
  }
}

// Whether MPI_SUM saturates int8 in a whole vector (Open MPI 4.1's op/avx; see ops.h).
bool AskNarrowSumSaturates() {
  int8_t a[64], b[64];
  for (int i = 0; i < 64; ++i) a[i] = b[i] = 100;
  MPI_Reduce_local(a, b, 64, MPI_INT8_T, MPI_SUM);
  return b[0] == 127;
}

struct OpTable {
  MPI_Op big[kOpCount];
  MPI_Op js[2];  // [non-commutative, commutative]
  MPI_Op wrapSum;
  MPI_Op unsignedPick[2] = {MPI_OP_NULL, MPI_OP_NULL};  // [max, min], when the MPI's are wrong
  bool unsignedPickBroken = AskUnsignedPickBroken();
  bool narrowSumSaturates = AskNarrowSumSaturates();
  MPI_Op half[3][4] = {};  // [kind][sum, prod, min, max]

  OpTable() {
    static MPI_User_function* const fns[kOpCount] = {
        BigOpFn<kSum>,  BigOpFn<kProd>, BigOpFn<kMin>,  BigOpFn<kMax>, BigOpFn<kLand>,
        BigOpFn<kLor>,  BigOpFn<kLxor>, BigOpFn<kBand>, BigOpFn<kBor>, BigOpFn<kBxor>,
    };
    for (int k = 0; k < kOpCount; ++k) {
      if (MPI_Op_create(fns[k], 1, &big[k]) != MPI_SUCCESS) big[k] = MPI_OP_NULL;
    }
    for (int c = 0; c < 2; ++c) {
      if (MPI_Op_create(CallJsOp, c, &js[c]) != MPI_SUCCESS) js[c] = MPI_OP_NULL;
    }
    if (MPI_Op_create(WrapSumFn, 1, &wrapSum) != MPI_SUCCESS) wrapSum = MPI_OP_NULL;
    if (unsignedPickBroken) {
      MPI_Op_create(UnsignedPickFn<false>, 1, &unsignedPick[0]);
      MPI_Op_create(UnsignedPickFn<true>, 1, &unsignedPick[1]);
    }
    static MPI_User_function* const halves[2][4] = {
        {HalfFn<kFloat16, kSum>, HalfFn<kFloat16, kProd>, HalfFn<kFloat16, kMin>, HalfFn<kFloat16, kMax>},
        {HalfFn<kBfloat16, kSum>, HalfFn<kBfloat16, kProd>, HalfFn<kBfloat16, kMin>, HalfFn<kBfloat16, kMax>},
    };
    for (int k = 0; k < 2; ++k) {
      for (int o = 0; o < 4; ++o) {
        if (MPI_Op_create(halves[k][o], 1, &half[k + 1][o]) != MPI_SUCCESS) half[k + 1][o] = MPI_OP_NULL;
      }
    }
  }
};

// Made once per process on first use (MPI is process-wide); MPI_Finalize releases them.
const OpTable& Ops() {
  static const OpTable table;
  return table;
}

}  // namespace

MPI_Op OpFor(int op, MPI_Datatype base, bool derived) {
  const int code = op & ((1 << kHalfShift) - 1), half = op >> kHalfShift;
  if (code < 0 || code >= kOpCount) return MPI_OP_NULL;
  if (half != kNotHalf) {
    if ((half != kFloat16 && half != kBfloat16) || base != MPI_UINT16_T || code > kMax) return MPI_OP_NULL;
    return Ops().half[half][code];
  }
  if (code == kSum && IsNarrowInt(base)) return Ops().wrapSum;
  if ((code == kMin || code == kMax) && Ops().unsignedPickBroken && IsUnsigned(base)) {
    return Ops().unsignedPick[code == kMin ? 1 : 0];
  }
  return derived ? Ops().big[code] : PredefinedOp(code);
}

bool UnsignedMinMaxReplaced() { return Ops().unsignedPickBroken; }

bool NarrowSumSaturates() { return Ops().narrowSumSaturates; }

MPI_Op JsOp(bool commutative) { return Ops().js[commutative ? 1 : 0]; }

JsOpScope::JsOpScope(napi_env env, napi_value fn, napi_typedarray_type type, size_t elemSize)
    : env_(env), fn_(fn), type_(type), elemSize_(elemSize), outer_(tCurrent) {
  tCurrent = this;
}

JsOpScope::~JsOpScope() { tCurrent = outer_; }

void CallJsOp(void* in, void* inout, int* len, MPI_Datatype*) {
  JsOpScope* s = tCurrent;
  if (s == nullptr || s->exception_ != nullptr || *len <= 0) return;
  s->Apply(in, inout, static_cast<size_t>(*len));
}

void JsOpScope::Apply(void* in, void* inout, size_t n) {
  const size_t bytes = n * elemSize_;
  if (bytes > capacity_) {
    // Made in the caller's handle scope, so they serve every later call of the op during this call.
    if (napi_create_arraybuffer(env_, bytes, &inData_, &inBuf_) != napi_ok ||
        napi_create_arraybuffer(env_, bytes, &inoutData_, &inoutBuf_) != napi_ok) {
      napi_get_and_clear_last_exception(env_, &exception_);
      return;
    }
    capacity_ = bytes;
  }
  std::memcpy(inData_, in, bytes);
  std::memcpy(inoutData_, inout, bytes);

  napi_escapable_handle_scope scope;
  napi_open_escapable_handle_scope(env_, &scope);
  napi_value argv[2], recv, result;
  napi_get_undefined(env_, &recv);
  napi_create_typedarray(env_, type_, n, inBuf_, 0, &argv[0]);
  napi_create_typedarray(env_, type_, n, inoutBuf_, 0, &argv[1]);
  napi_value error = nullptr;
  if (napi_call_function(env_, recv, fn_, 2, argv, &result) == napi_ok) {
    size_t length = 0;
    void* data = nullptr;
    napi_get_typedarray_info(env_, argv[1], nullptr, &length, &data, nullptr, nullptr);
    if (length == n) {
      std::memcpy(inout, data, bytes);
    } else {  // the function transferred (detached) the buffer it was given
      napi_value msg;
      napi_create_string_utf8(env_, "the reduction function detached its inoutvec buffer", NAPI_AUTO_LENGTH, &msg);
      napi_create_error(env_, nullptr, msg, &error);
    }
  } else {
    napi_get_and_clear_last_exception(env_, &error);
  }
  if (error != nullptr) napi_escape_handle(env_, scope, error, &exception_);
  napi_close_escapable_handle_scope(env_, scope);
}

}  // namespace mpi4node
