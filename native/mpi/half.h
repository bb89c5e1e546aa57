// float16 (IEEE 754 binary16) and bfloat16 as the library computes with them: neither MPI has a type
// for them, so they travel as MPI_UINT16_T and every arithmetic step widens both operands to float32,
// combines them there and rounds the float32 result back once, to nearest, ties to even (as a float32
// result of numpy's float16 or of a GPU's bf16 conversion instruction would round). NaN stays NaN
// (quiet, sign kept), an overflow rounds to +-Inf, results below the smallest normal become subnormals.
#pragma once

#include <cstdint>
#include <cstring>

namespace mpi4node {

// How a Uint16Array's elements are read; also the bits 8-15 of an op code (lib/coll/ops.ts).
enum HalfKind : int { kNotHalf = 0, kFloat16 = 1, kBfloat16 = 2 };

inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline float BitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline float Bf16ToFloat(uint16_t h) { return BitsFloat(static_cast<uint32_t>(h) << 16); }

inline uint16_t FloatToBf16(float f) {
  const uint32_t u = FloatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
  // Adding 0x7fff plus the lowest kept bit rounds to nearest even; a carry into the exponent is right
  // (it rounds up to the next binade, or to Inf past the largest finite value).
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

inline float F16ToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return BitsFloat(sign | 0x7f800000u | (mant << 13));  // Inf, NaN (payload kept)
  if (exp != 0) return BitsFloat(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return BitsFloat(sign);  // +-0
  // A subnormal: normalise it for float32.
  int e = -1;
  do {
    mant <<= 1;
    ++e;
  } while ((mant & 0x400u) == 0);
  return BitsFloat(sign | static_cast<uint32_t>(112 - e) << 23 | ((mant & 0x3ffu) << 13));
}

inline uint16_t FloatToF16(float f) {
  const uint32_t u = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) {  // Inf, or NaN kept quiet (its top payload bits, at least the quiet bit)
    return static_cast<uint16_t>(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u | ((a >> 13) & 0x3ffu) : 0u));
  }
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520: rounds to Inf
  if (a >= 0x38800000u) {  // normal in float16 (>= 2^-14)
    // Rebias the exponent (127 -> 15) and round the 13 dropped bits to nearest even; a carry into the
    // exponent is right here as well.
    const uint32_t r = a - 0x38000000u;
    return static_cast<uint16_t>(sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13));
  }
  if (a < 0x33000000u) return sign;  // below half the smallest subnormal (2^-25): rounds to 0
  // A subnormal result: the implicit bit made explicit, shifted down to units of 2^-24, rounded to even.
  const uint32_t e = a >> 23;
  const uint32_t mant = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - e;  // 14..24
  const uint32_t half = 1u << (shift - 1);
  const uint32_t rest = mant & ((1u << shift) - 1);
  uint32_t q = mant >> shift;
  if (rest > half || (rest == half && (q & 1u))) ++q;
  return static_cast<uint16_t>(sign | q);
}

inline float HalfToFloat(int kind, uint16_t h) { return kind == kBfloat16 ? Bf16ToFloat(h) : F16ToFloat(h); }
inline uint16_t FloatToHalf(int kind, float f) { return kind == kBfloat16 ? FloatToBf16(f) : FloatToF16(f); }

}  // namespace mpi4node
