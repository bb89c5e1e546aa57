// What may be sent or received, and the checks that run before MPI sees it. Typed arrays go to MPI as
// they are (their own memory, their own element type); DataView, ArrayBuffer and SharedArrayBuffer
// travel as bytes through a Uint8Array view over the same memory, never a copy.
import { typeError } from './errors.js';
import type { TypedArray } from './dtypes.js';

export type BufferLike = TypedArray | DataView | ArrayBuffer | SharedArrayBuffer;

const TypedArrayProto = Object.getPrototypeOf(Int8Array) as Function;

function isDetached(ab: ArrayBufferLike): boolean {
  if (ab.byteLength !== 0 || ab instanceof SharedArrayBuffer) return false;
  try {
    new Uint8Array(ab);
    return false;
  } catch {
    return true;
  }
}

/** The typed array the addon reads or writes for `buf`. `what` names the argument in errors. */
export function asView(buf: unknown, what: string): TypedArray {
  if (buf instanceof TypedArrayProto) {
    const v = buf as TypedArray;
    if (v.byteLength === 0 && isDetached(v.buffer)) throw detached(what);
    return v;
  }
  if (buf instanceof DataView) {
    if (buf.byteLength === 0 && isDetached(buf.buffer)) throw detached(what);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  if (buf instanceof ArrayBuffer || buf instanceof SharedArrayBuffer) {
    if (isDetached(buf)) throw detached(what);
    return new Uint8Array(buf);
  }
  throw typeError(
    'ERR_INVALID_BUFFER',
    `${what} must be a TypedArray, Buffer, DataView, ArrayBuffer or SharedArrayBuffer, got ${describe(buf)}`,
  );
}

function detached(what: string) {
  return typeError('ERR_DETACHED_BUFFER', `${what} is backed by a detached ArrayBuffer (it was transferred)`);
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}
