// Test values for device dtypes: host encodings of float16/bfloat16 (Node 20 has no arrays for them)
// and expected reductions, shared by the fake-backed suites and the real-GPU script.
import type { DeviceDtype, NcclOpName } from '../../lib/gpu/index.js';

export function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  let mant = u & 0x7fffff;
  if (x === 0) return sign;
  if (exp <= 0) return sign | Math.round((mant | 0x800000) / 2 ** (14 - exp));
  // round to nearest even on the 13 dropped bits
  const dropped = mant & 0x1fff;
  mant >>>= 13;
  let h = sign | (exp << 10) | mant;
  if (dropped > 0x1000 || (dropped === 0x1000 && (mant & 1))) h++;
  return h;
}

export function fromHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 31, m = h & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export function toBf16(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export function fromBf16(h: number): number {
  return new Float32Array(new Uint32Array([h << 16]).buffer)[0]!;
}

/** Host array for `dtype` holding `values` (numbers), encoded as the device stores them. */
export function encode(dtype: DeviceDtype, values: number[]): ArrayBufferView {
  switch (dtype) {
    case 'float16': return Uint16Array.from(values, toHalf);
    case 'bfloat16': return Uint16Array.from(values, toBf16);
    case 'int64': return BigInt64Array.from(values, (v) => BigInt(Math.trunc(v)));
    case 'uint64': return BigUint64Array.from(values, (v) => BigInt(Math.trunc(v)));
    case 'int8': return Int8Array.from(values);
    case 'uint8': return Uint8Array.from(values);
    case 'int16': return Int16Array.from(values);
    case 'uint16': return Uint16Array.from(values);
    case 'int32': return Int32Array.from(values);
    case 'uint32': return Uint32Array.from(values);
    case 'float32': return Float32Array.from(values);
    case 'float64': return Float64Array.from(values);
    default: throw new Error(`no host encoding for ${dtype}`);
  }
}

/** The numbers a host array of `dtype` holds. */
export function decode(dtype: DeviceDtype, a: ArrayBufferView): number[] {
  const arr = a as unknown as ArrayLike<number | bigint>;
  const out: number[] = [];
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i]!;
    out.push(dtype === 'float16' ? fromHalf(v as number) : dtype === 'bfloat16' ? fromBf16(v as number) : Number(v));
  }
  return out;
}

export const isFloat = (d: DeviceDtype) => d.startsWith('float') || d === 'bfloat16';

/** `op` over `contributions` (one array per rank) as NCCL computes it: integer avg truncates. */
export function expected(dtype: DeviceDtype, op: NcclOpName, contributions: number[][]): number[] {
  const n = contributions.length;
  return contributions[0]!.map((_, i) => {
    const col = contributions.map((c) => c[i]!);
    switch (op) {
      case 'sum': return col.reduce((a, b) => a + b, 0);
      case 'prod': return col.reduce((a, b) => a * b, 1);
      case 'min': return Math.min(...col);
      case 'max': return Math.max(...col);
      case 'avg': {
        const s = col.reduce((a, b) => a + b, 0);
        return isFloat(dtype) ? s / n : Math.trunc(s / n);
      }
    }
  });
}

/** Relative tolerance for comparing results of `dtype`. */
export function tolerance(dtype: DeviceDtype): number {
  return dtype === 'float16' ? 2e-3 : dtype === 'bfloat16' ? 1e-2 : dtype === 'float32' ? 1e-6 : 0;
}

export function close(dtype: DeviceDtype, got: number[], want: number[]): string | undefined {
  const tol = tolerance(dtype);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (tol === 0 ? g !== w : Math.abs(g - w) > tol * Math.max(1, Math.abs(w))) return `element ${i}: got ${g}, want ${w}`;
  }
  if (got.length !== want.length) return `length ${got.length}, want ${want.length}`;
  return undefined;
}
