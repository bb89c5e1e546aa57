// The host end of staged device messages. Where MPI is not CUDA-aware, a DeviceBuffer of 32 bytes or
// more is sent as a 32-byte header on the caller's communicator and tag, then its bytes in chunks on
// the communicator's private duplicate (native/gpu/staging.cc). A receive into a host array matches the
// header as it would any message; a receive that gets exactly 32 bytes looks here, and when they are a
// header that checks out, receives the chunks into the same array, one at a time (host memory: nothing
// to pipeline), so the caller sees the whole message and its size. Only a message of exactly 32 bytes
// costs a look, so host messages pay one comparison.
import { C, native, statusRecord } from '../addon/binding.js';
import { STATUS } from '../addon/native.js';
import type { TypedArray } from './dtypes.js';
import { pin } from './pin.js';
import { Status } from './status.js';

/** Bytes of a staging header: the only message size that can be one. */
export const STAGED_HEADER_BYTES = 32;
const MAGIC = 0x444e344d; // "M4ND", little-endian on the wire
const VERSION = 2;
const CHECK0 = 0x9e3779b9, CHECK1 = 0x7f4a7c15;

interface Header {
  chunk: number;
  tag: number;
  total: number;
}

/** The staging header in the first 32 bytes of `buf`, or undefined when they are not one. */
export function stagedHeader(buf: TypedArray): Header | undefined {
  if (buf.byteLength < STAGED_HEADER_BYTES) return undefined;
  const v = new DataView(buf.buffer, buf.byteOffset, STAGED_HEADER_BYTES);
  if (v.getUint32(0, true) !== MAGIC || v.getUint16(4, true) !== VERSION) return undefined;
  const chunk = v.getUint32(8, true), tag = v.getUint32(12, true);
  const lo = v.getUint32(16, true), hi = v.getUint32(20, true);
  if (chunk === 0 || v.getUint32(24, true) !== ((lo ^ tag ^ CHECK0) >>> 0) || v.getUint32(28, true) !== ((hi ^ chunk ^ CHECK1) >>> 0)) {
    return undefined;
  }
  return { chunk, tag, total: hi * 2 ** 32 + lo };
}

/**
 * The chunks of one staged message, received into `into` (or, when it is too small, drained into
 * scratch memory: the receive then fails with ERR_TRUNCATE, as MPI's own, with nothing left behind).
 */
export class StagedTail {
  #next = 0;
  readonly #chunks: number;
  readonly #scratch: Uint8Array | undefined;

  constructor(
    readonly header: Header,
    /** The array the chunks go to (for a receive of unknown size, one allocated at the message's size). */
    readonly into: TypedArray,
    readonly source: number,
    readonly tag: number,
    readonly internal: number,
    /** Extra state of the receive (the dtype of a receive of unknown size). */
    readonly extra?: unknown,
  ) {
    this.#chunks = Math.ceil(header.total / header.chunk);
    if (header.total > into.byteLength) this.#scratch = new Uint8Array(header.chunk);
  }

  /** The status of the whole message (for `elementSize`-byte elements), or the truncation error. */
  result(elementSize: number): Status {
    if (this.#scratch !== undefined) throw native.errorFor(C.ERR_TRUNCATE);
    return new Status(this.source, this.tag, this.header.total, false, elementSize);
  }

  /**
   * Posts the receive of the next chunk: its engine slot; -1 when it completed at once (its status in
   * the status record); -2 when every chunk is in.
   */
  next(): number {
    if (this.#next >= this.#chunks) return -2;
    const k = this.#next++;
    const { chunk, total, tag } = this.header;
    const len = Math.min(chunk, total - k * chunk);
    const to = this.#scratch !== undefined
      ? this.#scratch.subarray(0, len)
      : new Uint8Array(this.into.buffer, this.into.byteOffset + k * chunk, len);
    pin(to);
    return native.recv(to, this.source, tag, this.internal, true)!;
  }

  /** Receives every remaining chunk, blocking; throws MPI's error (or ERR_TRUNCATE at the end). */
  finish(elementSize: number): Status {
    for (let slot = this.next(); slot !== -2; slot = this.next()) {
      if (slot >= 0) native.wait(slot);
      const err = statusRecord[STATUS.error]!;
      if (err !== 0) throw native.errorFor(err);
    }
    return this.result(elementSize);
  }
}

/**
 * After a receive into `buf` that got exactly 32 bytes from `source` with `tag`: the rest of the staged
 * message when they are a header, else undefined (an ordinary 32-byte message). `into` is where the
 * message goes (default `buf`), or a function making it from the header's size in bytes.
 */
export function stagedTail(buf: TypedArray, source: number, tag: number, internal: number,
  into?: (bytes: number) => TypedArray, extra?: unknown): StagedTail | undefined {
  const h = stagedHeader(buf);
  if (h === undefined) return undefined;
  return new StagedTail(h, into ? into(h.total) : buf, source, tag, internal, extra);
}
