// The argument checks that run before MPI sees anything, for every module: buffers, ranks, tags, roots,
// and how a bad value is described in the message. A check returns its argument (or the view to use)
// and throws a coded TypeError (wrong type) or RangeError (out of range); nothing has been posted then,
// so the communicator stays usable. Comm's point-to-point checks keep their in-range tests inline (the
// hot path) and come here only to build the error.
//
// Buffers: typed arrays go to MPI as they are (their own memory, their own element type); DataView,
// ArrayBuffer and SharedArrayBuffer travel as bytes through a Uint8Array view over the same memory,
// never a copy.
import type { ArgumentErrorCode } from './codes.js';
import { dtypeOf, type TypedArray } from './dtypes.js';
import { codedError, type CodedError } from './errors.js';

export type BufferLike = TypedArray | DataView | ArrayBuffer | SharedArrayBuffer;

// %TypedArray%, the constructor every typed array class extends.
const TypedArrayProto = Object.getPrototypeOf(Int8Array) as Function;

/** True for any typed array (Buffer included), not for DataView or plain objects. */
export function isTypedArray(v: unknown): v is TypedArray {
  return v instanceof TypedArrayProto;
}

/** How a value is named in an error message: numbers by value, objects by class, strings quoted. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(v);
    case 'string':
      return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
    case 'object':
      return (v as object).constructor?.name ?? 'object';
    default:
      return typeof v;
  }
}

/** A bad parameter, always said the same way: "`name` must be `expected`, got <what it is>". */
export function invalidParameterError<C extends ArgumentErrorCode>(
  code: C, name: string, expected: string, actual: unknown, Kind: typeof TypeError | typeof RangeError = TypeError,
): CodedError<C> {
  return codedError(Kind, code, `${name} must be ${expected}, got ${describe(actual)}`);
}

/** An optional AbortSignal option, checked like every argument. */
export function checkSignal(signal: unknown, name = 'signal'): AbortSignal | undefined {
  if (signal === undefined || signal instanceof AbortSignal) return signal;
  throw invalidParameterError('ERR_INVALID_ARG_TYPE', name, 'an AbortSignal', signal);
}

// ---- buffers ----

function isDetached(ab: ArrayBufferLike): boolean {
  if (ab.byteLength !== 0 || ab instanceof SharedArrayBuffer) return false;
  try {
    new Uint8Array(ab);
    return false;
  } catch {
    return true;
  }
}

/**
 * A typed array's size in bytes. Node 20's optimising compiler inlines a typed array's `length` but
 * calls the `byteLength` and `byteOffset` getters (V8 11.3: ~9 ns a read against ~1 ns here), and hot
 * paths read sizes once or twice per message. A detached array has length 0 as well.
 */
export function bytesIn(v: TypedArray): number {
  return v.length * v.BYTES_PER_ELEMENT;
}

/** The typed array the addon reads or writes for `buf`. `what` names the argument in errors. */
export function asView(buf: unknown, what: string): TypedArray {
  if (isTypedArray(buf)) {
    if (buf.length === 0 && isDetached(buf.buffer)) throw detached(what);
    return buf;
  }
  if (buf instanceof DataView) {
    // A DataView's byteLength throws once its buffer is detached: look at the buffer first.
    if (isDetached(buf.buffer)) throw detached(what);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  if (buf instanceof ArrayBuffer || buf instanceof SharedArrayBuffer) {
    if (isDetached(buf)) throw detached(what);
    return new Uint8Array(buf);
  }
  throw invalidParameterError('ERR_INVALID_BUFFER', what, 'a TypedArray, Buffer, DataView, ArrayBuffer or SharedArrayBuffer', buf);
}

function detached(what: string) {
  return codedError(TypeError, 'ERR_DETACHED_BUFFER', `${what} is backed by a detached ArrayBuffer (it was transferred)`);
}

/** Send and receive buffers must hold the same element type. `what` names the operation. */
export function sameDtype(send: TypedArray, recv: TypedArray, what: string): void {
  if (send.constructor === recv.constructor) return;
  const a = dtypeOf(send), b = dtypeOf(recv);
  if (a === b) return;
  throw codedError(TypeError, 'ERR_DTYPE_MISMATCH',
    `${what}: send is ${send.constructor.name} (${a?.name}) but recv is ${recv.constructor.name} (${b?.name}); ` +
    'both must have the same element type');
}

/** The buffer `name` of operation `what` has `have` elements where `need` are needed. */
export function tooSmall(what: string, name: string, need: number, have: number, why = ''): never {
  throw codedError(RangeError, 'ERR_BUFFER_TOO_SMALL', `${what}: ${name} has ${have} elements but ${need} are needed${why}`);
}

// ---- ranks, tags and roots ----

/** True when `v` is a rank of a communicator of `size` ranks. */
export function isRank(v: unknown, size: number): v is number {
  return typeof v === 'number' && (v >>> 0) === v && v < size;
}

/**
 * The error for `v`, which is not a rank of a communicator of `size` ranks: ERR_INVALID_RANK when it is
 * no integer, ERR_RANK when out of range. `also` names the other values the argument may take.
 */
export function rankError(what: string, v: unknown, size: number, also = ''): CodedError<'ERR_INVALID_RANK' | 'ERR_RANK'> {
  if (typeof v !== 'number' || !Number.isInteger(v)) return invalidParameterError('ERR_INVALID_RANK', what, 'an integer rank', v);
  return codedError(RangeError, 'ERR_RANK',
    `${what} ${v} is out of range: this communicator has ranks 0..${size - 1}${also === '' ? '' : ` (or ${also})`}`);
}

/** `count` when it is an element count (a non-negative safe integer); `what` names it in the error. */
export function checkCount(count: unknown, what: string): number {
  if (Number.isSafeInteger(count) && (count as number) >= 0) return count as number;
  throw invalidParameterError('ERR_INVALID_LENGTH', what, 'a non-negative integer', count, RangeError);
}

/** `v` when it is a rank of a communicator of `size` ranks. */
export function checkRank(v: unknown, size: number, what: string): number {
  if (isRank(v, size)) return v;
  throw rankError(what, v, size);
}

/** True when `v` is a tag: an integer in 0..`ub` (MPI_TAG_UB). */
export function isTag(v: unknown, ub: number): v is number {
  return typeof v === 'number' && (v >>> 0) === v && v <= ub;
}

/** The error for `v`, which is not a tag in 0..`ub` (nor ANY_TAG where `anyOk`). */
export function tagError(v: unknown, ub: number, anyOk: boolean): CodedError<'ERR_INVALID_TAG' | 'ERR_TAG'> {
  if (typeof v !== 'number' || !Number.isInteger(v)) return invalidParameterError('ERR_INVALID_TAG', 'tag', 'an integer', v);
  return codedError(RangeError, 'ERR_TAG', `tag ${v} is out of range: tags are 0..${ub}${anyOk ? ' (or ANY_TAG)' : ''}`);
}

/** The root of collective `what` on a communicator of `size` ranks (ERR_ROOT otherwise). */
export function checkRoot(root: unknown, size: number, what: string): number {
  if (isRank(root, size)) return root;
  if (typeof root !== 'number' || !Number.isInteger(root)) {
    throw invalidParameterError('ERR_ROOT', `${what}: root`, 'an integer rank', root);
  }
  throw codedError(RangeError, 'ERR_ROOT', `${what}: root ${root} is out of range: this communicator has ranks 0..${size - 1}`);
}
