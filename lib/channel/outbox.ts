// How a channel message leaves: header + payload as ONE MPI message (docs/wire-format.md, "Transport").
//
// A payload goes out from its own memory next to a separately encoded header: an hindexed datatype over
// both (native/channel/parts.cc). Building that datatype costs ~0.4 us, more than an 8-byte message's whole
// trip, so a message of at most COPY_BELOW bytes, header included, is copied into one buffer instead:
// up to the MPI's shared-memory eager limit the copy is cheaper than the type, and past it the datatype
// path is also faster than a contiguous send of the same bytes (docs/channels.md has the figures).
// The limit is the MPI's: Open MPI 4.1's is 4 KiB less its own match header; MPICH 4.0's is 8 KiB, and
// there the datatype path costs more (a C ping-pong of 4 224 bytes: contiguous 2.2 us a round trip,
// hindexed 5.7; of 8 192: 2.7 against 8.9; of 8 320, past the limit: 9.4 against 6.4).
//
// The header is encoded (and so validated) once per change of the payload's kind, dtype, shape and
// length; each message only stamps its sequence number, correlation id and checksum into it.
import { C, native, statusRecord } from '../addon/binding.js';
import { STATUS } from '../addon/native.js';
import type { Dtype, TypedArray, TypedArrayConstructor } from '../core/dtypes.js';
import { bytesIn } from '../core/checks.js';
import { fastResult, isendSpanFast, ownSlot, sendFast, setFastArgs, setFastResult } from '../addon/fastpath.js';
import { plain } from './inbox.js';
import { pinAll } from '../core/pin.js';
import { Request } from '../core/request.js';
import { type ChannelHeaderTemplate, OFFSET, type PayloadKind } from '../wire/codec.js';
import { crc32c } from '../wire/crc32c.js';
import { type KeyRing, sign } from '../wire/auth.js';
import type { EncodedPayload } from '../wire/payload.js';

/**
 * Messages of at most this many bytes, header included, are copied into one buffer; larger payloads never
 * are. The MPI's shared-memory eager limit: 4032 with Open MPI, 8192 with MPICH.
 */
export const COPY_BELOW: number = C.IMPLEMENTATION === 'mpich' ? 8192 : 4032;

export class Outbox {
  readonly #tpl: ChannelHeaderTemplate;
  readonly #checksum: boolean;
  readonly #what: string;
  // Per destination; shared by every channel object of the name, so a receiver sees one rising sequence.
  readonly #seq: number[];
  readonly #ring: KeyRing | undefined;
  readonly #me: number;
  // The padded header of the last payload signature sent (everything but seq, correlation id, checksum).
  #hdr: Uint8Array | undefined;
  #hdrKind: PayloadKind | undefined;
  #hdrDtype: Dtype | undefined;
  #hdrShape: readonly number[] | undefined;
  #hdrLength = -1;
  // A blocking send's buffer, reused (MPI_Send returns once it is free), and the header already in it.
  #scratch = new Uint8Array(0);
  #scratchHdr: Uint8Array | undefined;
  #typed: TypedArray | undefined;
  #typedAt = 0;

  constructor(tpl: ChannelHeaderTemplate, checksum: boolean, seq: number[], ring?: KeyRing, me = 0) {
    this.#tpl = tpl;
    this.#checksum = checksum;
    this.#what = `send of channel '${tpl.channel}'`;
    this.#seq = seq;
    this.#ring = ring;
    this.#me = me;
  }

  /**
   * Sends `p` to `dest` with `tag` on `comm` (the channel's private duplicate): blocking (returns once
   * the memory may be reused) or not (a Promise of the same). A bad shape throws before anything moves.
   */
  send(dest: number, tag: number, comm: number, p: EncodedPayload, correlationId: number, blocking: boolean, sync = false): Promise<void> | undefined {
    const hdr = this.#header(p.kind, p.dtype, p.shape, p.length);
    const seq = this.#next(dest);
    let checksum = -1;
    if (this.#checksum) {
      checksum = 0;
      for (const part of p.parts) checksum = crc32c(part, checksum);
    }
    const total = hdr.length + p.length;
    if (total <= COPY_BELOW) {
      const buf = blocking ? this.#scratchFor(hdr, total) : outgoing(total);
      if (!blocking) buf.set(hdr);
      stampIds(buf, seq, correlationId, checksum);
      let at = hdr.length;
      for (const part of p.parts) {
        buf.set(part, at);
        at += part.byteLength;
      }
      if (this.#ring !== undefined) sign(this.#ring, buf.subarray(0, hdr.length), [buf.subarray(hdr.length)], this.#me, dest);
      if (!blocking) return Request._send(native.send(buf, dest, tag, comm, sync, true)!, buf, dest, tag, comm)._label(this.#what).then(ignore);
      sendBlocking(buf, dest, tag, comm, sync);
      return undefined;
    }
    const header = hdr.slice();
    stampIds(header, seq, correlationId, checksum);
    if (this.#ring !== undefined) sign(this.#ring, header, p.parts, this.#me, dest);
    const parts = [header, ...p.parts];
    if (blocking) {
      native.sendParts(parts, dest, tag, comm, sync, false);
      return undefined;
    }
    // The Request holds the header; the closure holds the other parts until the send completes, and the
    // caller's arrays among them stay attached (core/pin.ts).
    pinAll(parts);
    return Request._send(native.sendParts(parts, dest, tag, comm, sync, true)!, header, dest, tag, comm)._label(this.#what)
      .then(() => void parts);
  }

  /**
   * send() of a bare typed array of `dtype` (a 1-D tensor) as a blocking data message, without building
   * its payload description: false when that path does not apply (a checksum or signature to compute, a
   * message past COPY_BELOW, an empty or detached array), and the caller then takes send().
   */
  sendArray(dest: number, tag: number, comm: number, data: TypedArray, dtype: Dtype): boolean {
    const n = bytesIn(data), hdr = this.#arrayHeader(n, dtype);
    if (hdr === undefined) return false;
    const at = hdr.length, total = at + n;
    const buf = this.#scratchFor(hdr, total);
    stampIds(buf, this.#next(dest), 0, -1);
    if (data instanceof Uint8Array) buf.set(data, at);
    else (this.#scratchAs(data.constructor as TypedArrayConstructor, at, data.length) as { set(a: TypedArray): void }).set(data);
    sendBlocking(buf, dest, tag, comm, false);
    return true;
  }

  /**
   * The Promise form of sendArray(): the message goes from the registered slab of small nonblocking
   * sends in one raw call, and one complete at once (an eager message) resolves a shared settled
   * Promise instead of a Request. Undefined when that path does not apply.
   */
  isendArray(dest: number, tag: number, comm: number, data: TypedArray, dtype: Dtype): Promise<void> | undefined {
    const n = bytesIn(data), hdr = this.#arrayHeader(n, dtype);
    if (hdr === undefined) return undefined;
    const hl = hdr.length, total = hl + n;
    const at = reserve(total), slab = outSlab;
    slab.set(hdr, at);
    stampIds(slab, this.#next(dest), 0, -1, at);
    if (data instanceof Uint8Array) slab.set(data, at + hl);
    else (new (data.constructor as TypedArrayConstructor)(outBuffer, at + hl, data.length) as { set(a: TypedArray): void }).set(data);
    const k = ownSlot(slab); // reserve() has just read its length
    let slot: number;
    if (k < 0) {
      slot = native.send(new Uint8Array(outBuffer, at, total), dest, tag, comm, false, true)!;
    } else {
      setFastArgs(k, dest, tag, comm, at);
      setFastResult(total);
      isendSpanFast();
      slot = fastResult();
    }
    if (slot < 0 && statusRecord[STATUS.error] === 0) return SENT;
    return Request._send(slot, new Uint8Array(outBuffer, at, total), dest, tag, comm)._label(this.#what).then(ignore);
  }

  // The header of a bare array of `n` bytes when the array paths take it (not empty or detached, no
  // checksum or signature, header and payload within COPY_BELOW), else undefined.
  #arrayHeader(n: number, dtype: Dtype): Uint8Array | undefined {
    if (n === 0 || this.#checksum || this.#ring !== undefined) return undefined;
    const hdr = this.#header('tensor', dtype, undefined, n);
    return hdr.length + n <= COPY_BELOW ? hdr : undefined;
  }

  // The next sequence number towards `dest`.
  #next(dest: number): number {
    const seq = (this.#seq[dest] ?? 0) + 1;
    this.#seq[dest] = seq;
    return seq;
  }

  // The blocking sends' buffer for a message of `total` bytes with `hdr` in it already.
  #scratchFor(hdr: Uint8Array, total: number): Uint8Array {
    if (this.#scratch.length !== total) {
      this.#scratch = new Uint8Array(total);
      this.#scratchHdr = undefined;
      this.#typed = undefined;
    }
    if (this.#scratchHdr !== hdr) this.#scratch.set(hdr);
    this.#scratchHdr = hdr;
    return this.#scratch;
  }

  // The scratch's payload as an array of the payload's own type, so that copying into it is a memcpy
  // (a byte view of a small array would move its memory off V8's heap first).
  #scratchAs(ctor: TypedArrayConstructor, at: number, length: number): TypedArray {
    const t = this.#typed;
    if (t !== undefined && t.constructor === ctor && this.#typedAt === at && t.length === length) return t;
    this.#typedAt = at;
    return (this.#typed = new ctor(this.#scratch.buffer, at, length));
  }

  #header(kind: PayloadKind, dtype: Dtype | undefined, shape: readonly number[] | undefined, length: number): Uint8Array {
    if (this.#hdr !== undefined && kind === this.#hdrKind && dtype === this.#hdrDtype && length === this.#hdrLength &&
      sameShape(shape, this.#hdrShape)) {
      return this.#hdr;
    }
    const hdr = this.#tpl.encode({
      kind, dtype, shape, seq: 0, correlationId: 0, payloadLength: length, checksum: this.#checksum ? 0 : undefined,
    });
    this.#hdr = hdr;
    this.#hdrKind = kind;
    this.#hdrDtype = dtype;
    this.#hdrShape = shape === undefined ? undefined : [...shape];
    this.#hdrLength = length;
    return hdr;
  }
}

// A blocking send of the scratch (#scratchFor, which has checked its length): the raw call when it can be
// registered (addon/fastpath.ts).
function sendBlocking(buf: Uint8Array, dest: number, tag: number, comm: number, sync: boolean): void {
  const k = sync ? -1 : ownSlot(buf);
  if (k < 0) {
    native.send(buf, dest, tag, comm, sync, false);
  } else {
    setFastArgs(k, dest, tag, comm, 0);
    sendFast();
  }
}

function ignore(): void {}

// What a nonblocking send resolves with when MPI completed it within the call.
const SENT: Promise<void> = Promise.resolve();

// Buffers of small non-blocking sends, carved from a slab as received messages are (a fresh ArrayBuffer
// per message costs more than the send itself); never reused, since a send may still be reading one.
// Not zeroed: every region is written whole before it is sent.
let outSlab: Uint8Array = new Uint8Array(0);
let outBuffer = outSlab.buffer as ArrayBuffer; // outSlab.buffer, kept (inbox.ts says why)
let outUsed = 0;

// Where the next `bytes` of outSlab are.
function reserve(bytes: number): number {
  if (outUsed + bytes > outSlab.length) {
    outSlab = plain(Buffer.allocUnsafeSlow(64 * 1024));
    outBuffer = outSlab.buffer as ArrayBuffer;
    outUsed = 0;
  }
  const at = outUsed;
  outUsed += (bytes + 63) & ~63;
  return at;
}

function outgoing(bytes: number): Uint8Array {
  const at = reserve(bytes); // first: it may start a new slab
  return new Uint8Array(outBuffer, at, bytes);
}

/** Writes the per-message fields into an encoded header at `at` (checksum -1: none). */
function stampIds(b: Uint8Array, seq: number, correlationId: number, checksum: number, at = 0): void {
  putU64(b, at + OFFSET.seq, seq);
  putU64(b, at + OFFSET.correlationId, correlationId);
  if (checksum >= 0) {
    const c = at + OFFSET.checksum;
    b[c] = checksum;
    b[c + 1] = checksum >>> 8;
    b[c + 2] = checksum >>> 16;
    b[c + 3] = checksum >>> 24;
  }
}

function putU64(b: Uint8Array, at: number, v: number): void {
  const lo = v >>> 0, hi = (v - lo) / 4294967296;
  b[at] = lo;
  b[at + 1] = lo >>> 8;
  b[at + 2] = lo >>> 16;
  b[at + 3] = lo >>> 24;
  b[at + 4] = hi;
  b[at + 5] = hi >>> 8;
  b[at + 6] = hi >>> 16;
  b[at + 7] = hi >>> 24;
}

function sameShape(a: readonly number[] | undefined, b: readonly number[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
