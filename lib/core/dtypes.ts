// Element types the library moves. The numeric codes are the wire format's (docs/wire-format.md) and
// name the types each reduction op is defined on (lib/coll/ops.ts), so they are part of the protocol:
// append, never renumber.
import { codedError } from './errors.js';

export type Dtype =
  | 'int8' | 'uint8' | 'uint8clamped' | 'int16' | 'uint16' | 'int32' | 'uint32'
  | 'int64' | 'uint64' | 'float32' | 'float64' | 'float16' | 'bfloat16';

export type TypedArray =
  | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array
  | BigInt64Array | BigUint64Array | Float32Array | Float64Array;

export type TypedArrayConstructor =
  | Int8ArrayConstructor | Uint8ArrayConstructor | Uint8ClampedArrayConstructor | Int16ArrayConstructor
  | Uint16ArrayConstructor | Int32ArrayConstructor | Uint32ArrayConstructor | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor | Float32ArrayConstructor | Float64ArrayConstructor;

export interface DtypeInfo {
  readonly name: Dtype;
  readonly code: number;
  readonly size: number;
  /** The host array type holding it; float16/bfloat16 have none in Node 20 and travel as Uint16Array. */
  readonly array: TypedArrayConstructor;
  readonly kind: 'int' | 'uint' | 'float' | 'bigint';
}

const table: DtypeInfo[] = [
  { name: 'int8', code: 1, size: 1, array: Int8Array, kind: 'int' },
  { name: 'uint8', code: 2, size: 1, array: Uint8Array, kind: 'uint' },
  { name: 'uint8clamped', code: 3, size: 1, array: Uint8ClampedArray, kind: 'uint' },
  { name: 'int16', code: 4, size: 2, array: Int16Array, kind: 'int' },
  { name: 'uint16', code: 5, size: 2, array: Uint16Array, kind: 'uint' },
  { name: 'int32', code: 6, size: 4, array: Int32Array, kind: 'int' },
  { name: 'uint32', code: 7, size: 4, array: Uint32Array, kind: 'uint' },
  { name: 'int64', code: 8, size: 8, array: BigInt64Array, kind: 'bigint' },
  { name: 'uint64', code: 9, size: 8, array: BigUint64Array, kind: 'bigint' },
  { name: 'float32', code: 10, size: 4, array: Float32Array, kind: 'float' },
  { name: 'float64', code: 11, size: 8, array: Float64Array, kind: 'float' },
  { name: 'float16', code: 12, size: 2, array: Uint16Array, kind: 'float' },
  { name: 'bfloat16', code: 13, size: 2, array: Uint16Array, kind: 'float' },
];

const byName = new Map<string, DtypeInfo>(table.map((d) => [d.name, d]));
const byCode: (DtypeInfo | undefined)[] = [];
for (const d of table) byCode[d.code] = d;

// Constructor -> dtype; float16/bfloat16 share Uint16Array, so the first entry (uint16) wins there.
const byCtor = new Map<Function, DtypeInfo>();
for (const d of table) if (!byCtor.has(d.array)) byCtor.set(d.array, d);

export const DTYPES: readonly DtypeInfo[] = table;

export function dtypeInfo(name: string): DtypeInfo {
  const d = byName.get(name);
  if (d === undefined) {
    const shown = typeof name === 'string' ? `'${name}'` : `(a ${typeof name})`;
    throw codedError(TypeError, 'ERR_INVALID_DTYPE', `unknown dtype ${shown}; expected one of ${table.map((t) => t.name).join(', ')}`);
  }
  return d;
}

export function dtypeByCode(code: number): DtypeInfo | undefined {
  return byCode[code];
}

/** The dtype of a typed array, or undefined for anything else (DataView, ArrayBuffer, plain objects). */
export function dtypeOf(view: ArrayBufferView): DtypeInfo | undefined {
  if (view === null || typeof view !== 'object') return undefined;
  return byCtor.get(view.constructor) ?? protoDtype(view);
}

// Subclasses (Buffer is a Uint8Array subclass) are found through their prototype chain.
function protoDtype(view: ArrayBufferView): DtypeInfo | undefined {
  let p = Object.getPrototypeOf(view);
  while (p !== null && p !== Object.prototype) {
    const d = byCtor.get(p.constructor);
    if (d !== undefined) return d;
    p = Object.getPrototypeOf(p);
  }
  return undefined;
}
