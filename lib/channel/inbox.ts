// Where received channel messages land. A receive of unknown size needs memory no earlier message is
// using (payloads are handed out as views, never copies), and a fresh ArrayBuffer per message is slow:
// ~0.5 us for a small one, ~0.7 ms for 1 MiB on this VM (page faults and zeroing).
// - Messages up to SLAB_MAX bytes take consecutive 64-byte aligned regions of a shared 64 KiB slab, as
//   Node's Buffer pool does: a region is never reused, and a slab is freed once nothing in it is referenced.
// - Larger ones get a block of the native receive pool (native/channel/recv_pool.h), recycled once collected.
import { native, statusRecord } from '../addon/binding.js';
import { DECLINED, fastExpect, fastResult, mrecvFast, ownSlot, recvMessageFast, setFastArgs, setFastExpect, setFastResult } from '../addon/fastpath.js';
import { STATUS } from '../addon/native.js';
import { dtypeInfo, type TypedArray, type TypedArrayConstructor } from '../core/dtypes.js';
import type { RecvMemory } from '../core/request.js';

const SLAB_SIZE = 64 * 1024;
/** Largest message placed in a slab. */
export const SLAB_MAX = 8 * 1024;

let slab: Uint8Array = new Uint8Array(0);
// slab.buffer, kept: reading a typed array's `buffer` is a call into V8's runtime (~16 ns here).
let slabBuffer = slab.buffer as ArrayBuffer; // never shared: allocated here
let used = 0;

function room(): void {
  if (used + SLAB_MAX > slab.length) {
    // Not zeroed (~10 ns a message here): every region handed out is covered by the message received
    // into it. Like Node's own Buffer pool, the rest of the ArrayBuffer behind a payload's `buffer` is
    // other messages and memory not yet written.
    slab = plain(Buffer.allocUnsafeSlow(SLAB_SIZE));
    slabBuffer = slab.buffer as ArrayBuffer;
    used = 0;
  }
}

function takeSlab(bytes: number): Uint8Array {
  const v = new Uint8Array(slabBuffer, used, bytes);
  used += (bytes + 63) & ~63;
  return v;
}

// Channel headers receivers accepted, held by the addon (native Addon::kExpectSlots): a message received
// into the slab is compared with the one its receiver names, in native code, as it arrives. Slots are
// reused round robin; `holders` says whose header each slot has.
const EXPECT_SLOTS = 8;
const holders: (object | undefined)[] = new Array(EXPECT_SLOTS).fill(undefined);
let expectVictim = 0;
// The payload receive() or receiveMatched() last returned for a message that matched its receiver's
// header, and the expectation it matched, until takeKnown() hands them over.
let knownPayload: TypedArray | undefined;
let knownOf: Known | undefined;
let knownHits = 0;

/**
 * What a receiver knows of the messages it expects: the slot holding their header (expectHeader), and
 * the type, offset and length of their payload.
 */
export interface Known {
  slot: number;
  array: TypedArrayConstructor;
  payloadOffset: number;
  count: number;
}

/**
 * Gives `holder` a slot holding `header` (a message's header through its padding), accepted with a
 * message of `total` bytes; the slot is `holder`'s until holdsExpected() says otherwise.
 */
export function expectHeader(holder: object, header: Uint8Array, total: number): number {
  const k = expectVictim;
  expectVictim = (expectVictim + 1) % EXPECT_SLOTS;
  native.registerExpected(k, header, total);
  holders[k] = holder;
  return k;
}

/** Whether slot k still holds `holder`'s header. */
export function holdsExpected(k: number, holder: object): boolean {
  return k >= 0 && holders[k] === holder;
}

/**
 * The expectation `data` matched, when `data` is the payload receive() or receiveMatched() has just
 * returned for a message that matched its receiver's header (see those); undefined for anything else.
 */
export function takeKnown(data: unknown): Known | undefined {
  if (data !== knownPayload || data === undefined) return undefined;
  const k = knownOf;
  knownPayload = knownOf = undefined;
  knownHits++;
  return k;
}

/** How many messages takeKnown() has handed over (tests see the natively checked path taken through it). */
export function knownTaken(): number {
  return knownHits;
}

// A message received whole at the slab's current region that matched `known`: its payload, viewed as `known` says.
function knownView(known: Known, bytes: number): TypedArray {
  const payload = new known.array(slabBuffer, used + known.payloadOffset, known.count);
  used += (bytes + 63) & ~63;
  knownPayload = payload;
  knownOf = known;
  return payload;
}

/**
 * Receives the next message from `source` with `tag` on `comm` (blocking; matched probe + receive), into
 * `into` when given and large enough, else into fresh inbox memory. The status is in the status record.
 * Returns the message's bytes; but when `known` is given (its slot still held) and the message matched
 * its header, only the payload, viewed as `known` says (takeKnown() then says so).
 */
export function receive(source: number, tag: number, comm: number, into?: Uint8Array, known?: Known): Uint8Array | TypedArray {
  if (into !== undefined) {
    const got = native.recvMessage(source, tag, comm, into, 0, into.byteLength);
    return typeof got === 'number' ? into.subarray(0, got) : plain(got);
  }
  room();
  // The slab is a registered fast buffer (it is never transferable, as a view's transfer would take every
  // other message in it too): the receive is a raw call, the message's length comes back in the slab.
  const k = ownSlot(slab); // room() has just read its length: a detached slab would have been replaced
  if (k < 0) {
    const got = native.recvMessage(source, tag, comm, slab, used, SLAB_MAX);
    return typeof got === 'number' ? takeSlab(got) : plain(got);
  }
  setFastArgs(k, source, tag, comm, used);
  setFastResult(SLAB_MAX);
  setFastExpect(known === undefined ? -1 : known.slot);
  recvMessageFast();
  const got = fastResult();
  if (got !== DECLINED) return known === undefined || fastExpect() !== 1 ? takeSlab(got) : knownView(known, got);
  // Larger than a slab region: matched already (status as mprobe leaves it), received into its own block.
  const b = plain(native.allocBuffer(statusRecord[STATUS.bytes]!));
  native.mrecv(statusRecord[STATUS.message]!, b, false);
  return b;
}

/**
 * A Promise receive's half of receive(): the message `message` that the engine matched (`bytes` long, on
 * `comm`) received into fresh slab memory with one raw call (RecvMemory.receive, lib/core/request.ts),
 * the engine slot of one still on its way left in fastResult() (-1: in). Returns the message's bytes, or
 * its payload as receive() does when it is in and matched `known`; undefined when it is larger than a
 * slab region (the general path gives it memory of its own).
 */
export function receiveMatched(message: number, bytes: number, comm: number, known?: Known): Uint8Array | TypedArray | undefined {
  if (bytes > SLAB_MAX) return undefined;
  room();
  const k = ownSlot(slab);
  if (k < 0) return undefined;
  setFastArgs(k, message, 0, comm, used);
  setFastResult(bytes);
  setFastExpect(known === undefined ? -1 : known.slot);
  mrecvFast();
  return fastResult() >= 0 || known === undefined || fastExpect() !== 1 ? takeSlab(bytes) : knownView(known, bytes);
}

/** Fresh memory for a message of `bytes` bytes: a slab region or a pooled block. */
export function take(bytes: number): Uint8Array {
  if (bytes > SLAB_MAX) return plain(native.allocBuffer(bytes));
  room();
  return takeSlab(bytes);
}

/**
 * A plain Uint8Array over a pooled Buffer's memory. Messages are handed on as plain views: a Buffer's
 * slice() is a view too, and code that means to copy with slice() would keep the whole block alive.
 */
export function plain(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

// Request._recvNew allocates a receive of unknown size with `new dtype.array(n)`: a constructor that
// returns an object yields that object, so this one hands it inbox memory instead of a new ArrayBuffer.
function InboxBytes(n: number): Uint8Array {
  return take(n);
}

/**
 * The "dtype" of receives into inbox memory (uint8 elements): a matched message of slab size is received
 * with one raw call (receiveMatched), anything larger into memory the constructor hands out.
 */
export const INBOX: RecvMemory = {
  ...dtypeInfo('uint8'), array: InboxBytes as unknown as TypedArrayConstructor,
  receive: (message, bytes, comm) => receiveMatched(message, bytes, comm),
};

/**
 * INBOX for the receives of one receiver whose expectation `known()` gives, when it still holds its slot:
 * a message that matches it is handed over as its payload (takeKnown()).
 */
export function inboxKnowing(holder: object, known: () => Known | undefined): RecvMemory {
  return {
    ...INBOX,
    receive: (message, bytes, comm) => {
      const k = known();
      return receiveMatched(message, bytes, comm, k !== undefined && holdsExpected(k.slot, holder) ? k : undefined);
    },
  };
}

/** The same for a receive into the caller's memory, falling back to inbox memory when it is too small. */
export function inboxInto(into: Uint8Array): RecvMemory {
  function IntoBytes(n: number): Uint8Array {
    return n <= into.byteLength ? into.subarray(0, n) : take(n);
  }
  return { ...INBOX, array: IntoBytes as unknown as TypedArrayConstructor, receive: undefined };
}
