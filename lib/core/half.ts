// float16 and bfloat16 data on the host: Node 20 has no array type for them, so they live in Uint16Arrays
// (their bits), as the wire format and device buffers hold them. These convert to and from float32 and
// float64 arrays natively, rounding to nearest even (native/mpi/half.h), the rounding of the library's
// half-precision reductions (`{ dtype: 'float16' }` on a reduction, lib/coll/ops.ts).
import { native } from '../addon/binding.js';
import { invalidParameterError, tooSmall } from './checks.js';

export type HalfDtype = 'float16' | 'bfloat16';

function kindOf(dtype: unknown, what: string): number {
  if (dtype === 'float16') return 1;
  if (dtype === 'bfloat16') return 2;
  throw invalidParameterError('ERR_INVALID_DTYPE', `${what}: dtype`, "'float16' or 'bfloat16'", dtype);
}

function floatArg(v: unknown, what: string, name: string): Float32Array | Float64Array {
  if (v instanceof Float32Array || v instanceof Float64Array) return v;
  throw invalidParameterError('ERR_INVALID_BUFFER', `${what}: ${name}`, 'a Float32Array or Float64Array', v);
}

/**
 * `src` as float16 or bfloat16 bits, each value rounded to nearest even (float64 values through float32
 * first); NaN stays NaN and values beyond the type's range become +-Infinity. Into `dst` when given.
 */
export function toHalf(src: Float32Array | Float64Array, dtype: HalfDtype, dst?: Uint16Array): Uint16Array {
  const s = floatArg(src, 'toHalf', 'src');
  const kind = kindOf(dtype, 'toHalf');
  if (dst === undefined) dst = new Uint16Array(s.length);
  else if (!(dst instanceof Uint16Array)) throw invalidParameterError('ERR_INVALID_BUFFER', 'toHalf: dst', 'a Uint16Array', dst);
  else if (dst.length < s.length) tooSmall('toHalf', 'dst', s.length, dst.length);
  native.toHalf(s, dst, kind);
  return dst;
}

/** float16 or bfloat16 bits as numbers (exact: every half value is a float32), into `dst` or a new Float32Array. */
export function fromHalf<F extends Float32Array | Float64Array = Float32Array>(src: Uint16Array, dtype: HalfDtype, dst?: F): F {
  if (!(src instanceof Uint16Array)) throw invalidParameterError('ERR_INVALID_BUFFER', 'fromHalf: src', 'a Uint16Array', src);
  const kind = kindOf(dtype, 'fromHalf');
  const d = dst === undefined ? new Float32Array(src.length) : floatArg(dst, 'fromHalf', 'dst');
  if (d.length < src.length) tooSmall('fromHalf', 'dst', src.length, d.length);
  native.fromHalf(src, d, kind);
  return d as F;
}
