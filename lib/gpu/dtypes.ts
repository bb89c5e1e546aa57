// Element types of device buffers, their NCCL codes, and the NCCL versions that first support them.
// float16/bfloat16 live in Uint16Array on the host and the fp8 types in Uint8Array (Node 20 has no
// array type for any of them): the bytes are the device's bytes.
import type { TypedArray, TypedArrayConstructor } from '../core/dtypes.js';
import { codedError } from '../core/errors.js';
import { invalidParameterError } from '../core/checks.js';

export type DeviceDtype =
  | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64'
  | 'float16' | 'bfloat16' | 'float32' | 'float64' | 'float8e4m3' | 'float8e5m2';

export type NcclOpName = 'sum' | 'prod' | 'min' | 'max' | 'avg';

/** An NCCL version: [major, minor, patch]. */
export type Version = readonly [number, number, number];

export interface DeviceDtypeInfo {
  readonly name: DeviceDtype;
  readonly size: number;
  /** The host array type that holds its elements. */
  readonly array: TypedArrayConstructor;
  /** ncclDataType_t, or -1 where NCCL has no such type. */
  readonly nccl: number;
  /** The first NCCL version with it. */
  readonly since?: Version;
}

const table: DeviceDtypeInfo[] = [
  { name: 'int8', size: 1, array: Int8Array, nccl: 0 },
  { name: 'uint8', size: 1, array: Uint8Array, nccl: 1 },
  { name: 'int16', size: 2, array: Int16Array, nccl: -1 },
  { name: 'uint16', size: 2, array: Uint16Array, nccl: -1 },
  { name: 'int32', size: 4, array: Int32Array, nccl: 2 },
  { name: 'uint32', size: 4, array: Uint32Array, nccl: 3 },
  { name: 'int64', size: 8, array: BigInt64Array, nccl: 4 },
  { name: 'uint64', size: 8, array: BigUint64Array, nccl: 5 },
  { name: 'float16', size: 2, array: Uint16Array, nccl: 6 },
  { name: 'float32', size: 4, array: Float32Array, nccl: 7 },
  { name: 'float64', size: 8, array: Float64Array, nccl: 8 },
  { name: 'bfloat16', size: 2, array: Uint16Array, nccl: 9, since: [2, 10, 3] },
  { name: 'float8e4m3', size: 1, array: Uint8Array, nccl: 10, since: [2, 24, 3] },
  { name: 'float8e5m2', size: 1, array: Uint8Array, nccl: 11, since: [2, 24, 3] },
];

const byName = new Map(table.map((d) => [d.name, d]));

export const DEVICE_DTYPES: readonly DeviceDtypeInfo[] = table;

export function deviceDtype(name: string): DeviceDtypeInfo {
  const d = byName.get(name as DeviceDtype);
  if (d === undefined) {
    const shown = typeof name === 'string' ? `'${name}'` : `(a ${typeof name})`;
    throw codedError(TypeError, 'ERR_INVALID_DTYPE', `unknown device dtype ${shown}; expected one of ${table.map((t) => t.name).join(', ')}`);
  }
  return d;
}

/** The device dtype of a host typed array (Uint16Array is uint16: say float16/bfloat16 explicitly). */
export function dtypeOfArray(a: TypedArray): DeviceDtype | undefined {
  const byCtor: [Function, DeviceDtype][] = [
    [Int8Array, 'int8'], [Uint8Array, 'uint8'], [Uint8ClampedArray, 'uint8'], [Int16Array, 'int16'],
    [Uint16Array, 'uint16'], [Int32Array, 'int32'], [Uint32Array, 'uint32'], [BigInt64Array, 'int64'],
    [BigUint64Array, 'uint64'], [Float32Array, 'float32'], [Float64Array, 'float64'],
  ];
  for (const [ctor, name] of byCtor) if (a instanceof ctor) return name;
  return undefined;
}

export const NCCL_OPS: Record<NcclOpName, number> = { sum: 0, prod: 1, max: 2, min: 3, avg: 4 };
/** avg arrived in NCCL 2.10.3. */
export const AVG_SINCE: Version = [2, 10, 3];

/**
 * ncclGetVersion's code as [major, minor, patch]: X*1000+Y*100+Z before 2.9, X*10000+Y*100+Z from 2.9
 * on (2.8.4 is 2804, 2.9.0 is 20900, 2.21.5 is 21505).
 */
export function decodeNcclVersion(code: number): Version {
  if (!Number.isSafeInteger(code) || code < 0) throw invalidParameterError('ERR_INVALID_ARG_VALUE', 'decodeNcclVersion: code', 'a non-negative integer', code, RangeError);
  if (code >= 10000) return [Math.floor(code / 10000), Math.floor((code % 10000) / 100), code % 100];
  return [Math.floor(code / 1000), Math.floor((code % 1000) / 100), code % 100];
}

export function versionText(v: Version): string {
  return v.join('.');
}

export function atLeast(v: Version, min: Version): boolean {
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i]! > min[i]!;
  return true;
}

/** CUDA's 1000*major + 10*minor as 'major.minor'. */
export function cudaVersionText(v: number): string {
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}
