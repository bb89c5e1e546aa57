// The small-message hot path. Reading a typed array's address through N-API costs about as much as
// the rest of the call, so small arrays are registered with the addon once and then named by their
// cache slot; the integer arguments travel in a shared Int32Array (see native/mpi/fast.cc).
//
// A cached array is referenced until evicted (at most SLOTS arrays of at most MAX_BYTES each), and a
// hit re-checks byteLength, so a detached or shrunk array falls back to the checked path.
import { args, clock, native } from './binding.js';
import { isTypedArray } from '../core/checks.js';
import { pin } from '../core/pin.js';
import type { TypedArray } from '../core/dtypes.js';

const SLOTS = 8; // must match native Addon::kFastBufs
const MAX_BYTES = 64 * 1024;
// Empty slots hold an object no caller has, so that no argument (undefined included) matches one.
const EMPTY = Object.freeze({}) as TypedArray;
const cached: TypedArray[] = new Array(SLOTS).fill(EMPTY);
// Element counts, compared with `length` on each hit (V8 inlines that read, not byteLength's: core/checks.ts bytesIn).
const lengths = new Int32Array(SLOTS);
/** Element size of the array in each slot: a receive reads it here, not from the array (a polymorphic load). */
export const slotElementSize = new Int32Array(SLOTS);
let victim = 0;

/** The cache slot of `buf`, registering it on a miss; -1 when it must take the checked path. */
export function fastSlot(buf: unknown): number {
  const k = cachedSlot(buf);
  if (k >= 0) return (buf as TypedArray).length === lengths[k] ? k : -1;
  return register(buf);
}

/**
 * fastSlot() of an array of the library's own that its caller has just seen attached at its full length
 * (lib/channel's inbox slab and send scratch): a hit needs no length check.
 */
export function ownSlot(buf: Uint8Array): number {
  const k = cachedSlot(buf);
  return k >= 0 ? k : register(buf);
}

function cachedSlot(buf: unknown): number {
  for (let i = 0; i < SLOTS; i++) if (cached[i] === buf) return i;
  return -1;
}

function register(buf: unknown): number {
  if (!isTypedArray(buf)) return -1;
  const n = buf.byteLength;
  if (n === 0 || n > MAX_BYTES) return -1;
  const k = victim;
  victim = (victim + 1) % SLOTS;
  native.registerBuffer(k, buf);
  pin(buf); // a registered buffer may take part in nonblocking calls from now on (core/pin.ts)
  cached[k] = buf;
  lengths[k] = buf.length;
  slotElementSize[k] = buf.BYTES_PER_ELEMENT;
  return k;
}

/** Writes the integer arguments of the next fast call (native Addon::FastArg layout). */
export function setFastArgs(slot: number, peer: number, tag: number, comm: number, flags: number): void {
  // `| 0` is the truncation the Int32Array store does anyway; spelt out, TurboFan specialises it to the
  // small integers callers pass (a Smi check each) where the store alone converted each argument
  // through a double. Callers often do not inline this: callgrind, its own instructions 200 -> 144 a
  // put + flush, 100 -> 71 a send + recv.
  args[0] = slot | 0;
  args[1] = peer | 0;
  args[2] = tag | 0;
  args[3] = comm | 0;
  args[4] = flags | 0;
}

/** fastResult() of a fast call that did nothing and left the work to the general path (native kDeclined). */
export const DECLINED = -2;

/** What isendFast/irecvFast leave in the slab: the engine slot, or -1 when already complete. */
export function fastResult(): number {
  return args[5]!;
}

/** Sets kResult before a call that reads it (recvMessageFast's room, mrecvFast's bytes). */
export function setFastResult(v: number): void {
  args[5] = v;
}

/** recvMessageFast's and mrecvFast's expected-header slot (native Addon::kExpect), -1 for none; the call leaves 1 there on a match. */
export function setFastExpect(k: number): void {
  args[6] = k;
}

export function fastExpect(): number {
  return args[6]!;
}

// The fast calls as plain functions (they find their addon through their N-API data, not `this`).
// The addon's exports object is in dictionary mode (~90 methods, defined one by one), so each
// `native.sendFast()` is a hash lookup: calling these instead saves ~5 ns a call (measured: 8-byte
// send+recv to self, 171 -> 161 ns).
export const { sendFast, recvFast, recvMessageFast, mrecvFast, isendFast, isendSpanFast, irecvFast, allreduceFast, barrierFast, wtimeFast, rmaFast } = native;

/** rmaFast's kinds (native Addon::RmaFastKind); an accumulate carries its op code above RMA_OP_SHIFT. */
export const RMA_PUT = 0, RMA_GET = 1, RMA_ACCUMULATE = 2, RMA_FLUSH = 3, RMA_FLUSH_LOCAL = 4, RMA_OP_SHIFT = 8;

/** MPI_Wtime. */
export function wtime(): number {
  wtimeFast();
  return clock[0]!;
}
