// Argument checks for collectives, run before MPI is called: a bad buffer, layout or op is a
// TypeError/RangeError on the calling rank, and since nothing was posted the communicator stays usable.
// The checks every module shares (root, buffers, element types) are lib/core/checks.ts; these are the
// collectives' own (layouts, equal blocks, in place, aliasing).
// (What one rank cannot see, such as another rank passing a different count, MPI reports or, for
// mismatched collectives, cannot: see docs/collectives.md.)
import { asView, invalidParameterError, isTypedArray, tooSmall } from '../core/checks.js';
import { dtypeOf, type TypedArray } from '../core/dtypes.js';
import { codedError } from '../core/errors.js';

export const INT_MAX = 2 ** 31 - 1;

/** Stands for MPI_IN_PLACE: pass it as the send buffer (the receive buffer for scatter and scatterv). */
export const IN_PLACE: unique symbol = Symbol('mpi4node.IN_PLACE');
export type InPlace = typeof IN_PLACE;

/** Counts per rank, in elements; displacements (elements) default to the running sum of the counts. */
export type Layout = ArrayLike<number> | { counts: ArrayLike<number>; displs?: ArrayLike<number> };

/** A buffer of a collective that moves data (any BufferLike; DataView and ArrayBuffer travel as bytes). */
export function bufArg(buf: unknown, what: string, name: string): TypedArray {
  return asView(buf, `${what}: ${name}`);
}

/** A buffer of a reduction: a typed array, whose element type decides the arithmetic. */
export function numArg(buf: unknown, what: string, name: string): TypedArray {
  if (isTypedArray(buf)) return asView(buf, `${what}: ${name}`);
  throw invalidParameterError('ERR_INVALID_BUFFER', `${what}: ${name}`, 'a typed array (its element type decides the arithmetic)', buf);
}

export function needInPlaceRecv(what: string, usage: string): never {
  throw codedError(TypeError, 'ERR_INVALID_BUFFER', `${what}: IN_PLACE needs the receive buffer, which holds this rank's data: ${usage}`);
}

/**
 * MPI forbids a send buffer that overlaps the receive buffer (other than through IN_PLACE). Returns
 * true when both cover exactly the same memory, which reductions take as the in-place spelling
 * f(buf, op, buf) (`sameOk`); any other overlap is ERR_BUFFER_ALIAS.
 */
export function aliased(a: TypedArray, b: TypedArray, what: string, sameOk: boolean): boolean {
  if (a === b && sameOk) return true;
  if (a.buffer !== b.buffer || a.byteLength === 0 || b.byteLength === 0) return false;
  if (sameOk && a.byteOffset === b.byteOffset && a.byteLength === b.byteLength) return true;
  if (a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength) {
    throw codedError(RangeError, 'ERR_BUFFER_ALIAS', `${what}: send and recv overlap in memory; use IN_PLACE for an in-place operation`);
  }
  return false;
}

/** The length as a count of equal blocks, one per rank. */
export function blocks(len: number, size: number, what: string, name: string): number {
  if (len % size === 0) return len / size;
  throw codedError(RangeError, 'ERR_COUNTS', `${what}: ${name} has ${len} elements, not a multiple of the communicator size ${size}`);
}

/** v-collectives take int counts (MPI-3). */
export function intCount(n: number, what: string, name: string): number {
  if (n <= INT_MAX) return n;
  throw codedError(RangeError, 'ERR_COUNTS', `${what}: ${name} has ${n} elements; MPI-3 v-collectives take int counts (at most 2^31-1)`);
}

/** A fresh, zeroed array of `like`'s element type (a Buffer for a Buffer, a Uint8Array for bytes). */
export function alloc(like: TypedArray, n: number): TypedArray {
  if (like instanceof Buffer) return Buffer.alloc(n);
  return new (dtypeOf(like)!.array)(n);
}

export interface Checked {
  counts: Int32Array;
  displs: Int32Array;
  /** One past the last element any block touches. */
  extent: number;
}

/**
 * Checks a layout against the communicator size and, when `len` is given, a buffer of that length.
 * Blocks outside the buffer are ERR_COUNTS with explicit displacements, ERR_BUFFER_TOO_SMALL without.
 * A layout MPI writes through (`writes`: a receive layout) must not have overlapping blocks, since MPI
 * forbids writing any location twice (MPI-4.1 §6.5.2, §6.6, §6.8): ERR_COUNTS. (A scatterv may send one
 * block to several ranks: reading twice is harmless, and MPI implementations allow it.)
 */
export function checkLayout(spec: unknown, size: number, what: string, name: string, len?: number, writes = false): Checked {
  if (spec === null || typeof spec !== 'object') {
    throw invalidParameterError('ERR_COUNTS', `${what}: ${name}`, 'an array of counts or { counts, displs }', spec);
  }
  const given = isArrayLike(spec) ? undefined : (spec as { displs?: ArrayLike<number> }).displs;
  const countsIn = isArrayLike(spec) ? spec : (spec as { counts: ArrayLike<number> }).counts;
  const counts = ints(countsIn, size, what, `${name} counts`);
  let displs: Int32Array;
  if (given === undefined) {
    displs = new Int32Array(size);
    let at = 0;
    for (let i = 0; i < size; i++) {
      if (at > INT_MAX) throw codedError(RangeError, 'ERR_COUNTS', `${what}: ${name}: displacement ${at} exceeds 2^31-1 (MPI-3 takes int displacements)`);
      displs[i] = at;
      at += counts[i]!;
    }
  } else {
    displs = ints(given, size, what, `${name} displs`);
  }
  let extent = 0;
  for (let i = 0; i < size; i++) extent = Math.max(extent, displs[i]! + counts[i]!);
  if (len !== undefined && extent > len) {
    let i = 0;
    while (displs[i]! + counts[i]! <= len) i++;
    const where = `block ${i} [${displs[i]}, ${displs[i]! + counts[i]!})`;
    if (given !== undefined) throw codedError(RangeError, 'ERR_COUNTS', `${what}: ${name}: ${where} is outside the buffer (${len} elements)`);
    tooSmall(what, name, extent, len);
  }
  if (writes && given !== undefined) checkDisjoint(counts, displs, what, name);
  return { counts, displs, extent };
}

function checkDisjoint(counts: Int32Array, displs: Int32Array, what: string, name: string): void {
  const order = Array.from(counts.keys()).filter((i) => counts[i]! > 0).sort((a, b) => displs[a]! - displs[b]!);
  for (let k = 1; k < order.length; k++) {
    const a = order[k - 1]!, b = order[k]!;
    if (displs[b]! < displs[a]! + counts[a]!) {
      throw codedError(RangeError, 'ERR_COUNTS',
        `${what}: ${name}: the blocks of ranks ${Math.min(a, b)} and ${Math.max(a, b)} overlap ([${displs[a]}, ${displs[a]! + counts[a]!}) and ` +
        `[${displs[b]}, ${displs[b]! + counts[b]!})); MPI writes no element twice`);
    }
  }
}

function isArrayLike(v: object): v is ArrayLike<number> {
  return Array.isArray(v) || ArrayBuffer.isView(v);
}

/** Checks `size` counts or displacements and copies them into the Int32Array MPI reads. */
export function ints(v: unknown, size: number, what: string, name: string): Int32Array {
  if (v === null || typeof v !== 'object' || typeof (v as ArrayLike<number>).length !== 'number') {
    throw invalidParameterError('ERR_COUNTS', `${what}: ${name}`, `an array of ${size} integers`, v);
  }
  const a = v as ArrayLike<number>;
  if (a.length !== size) throw codedError(RangeError, 'ERR_COUNTS', `${what}: ${name} has ${a.length} entries; the communicator has ${size} ranks`);
  const out = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    const x = a[i];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > INT_MAX) {
      throw codedError(RangeError, 'ERR_COUNTS', `${what}: ${name}[${i}] is ${String(x)}; expected an integer in [0, 2^31-1]`);
    }
    out[i] = x;
  }
  return out;
}
