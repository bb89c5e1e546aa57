// Where received channel messages land. A receive of unknown size needs memory no earlier message is
// using (payloads are handed out as views, never copies), and a fresh ArrayBuffer per message is slow:
// ~0.5 us for a small one, ~0.7 ms for 1 MiB on this VM (page faults and zeroing).
// - Messages up to SLAB_MAX bytes take consecutive 64-byte aligned regions of a shared 64 KiB slab, as
//   Node's Buffer pool does: a region is never reused, and a slab is freed once nothing in it is referenced.
// - Larger ones get a block of the native receive pool (native/channel/recv_pool.h), recycled once collected.
import { native, statusRecord } from '../addon/binding.js';
import { DECLINED, fastResult, fastSlot, recvMessageFast, setFastArgs, setFastResult } from '../addon/fastpath.js';
import { STATUS } from '../addon/native.js';
import { dtypeInfo, type DtypeInfo, type TypedArrayConstructor } from '../core/dtypes.js';

const SLAB_SIZE = 64 * 1024;
/** Largest message placed in a slab. */
export const SLAB_MAX = 8 * 1024;

let slab = new Uint8Array(0);
let used = 0;

function room(): void {
  if (used + SLAB_MAX > slab.byteLength) {
    slab = new Uint8Array(SLAB_SIZE);
    used = 0;
  }
}

function takeSlab(bytes: number): Uint8Array {
  const v = new Uint8Array(slab.buffer, used, bytes);
  used += (bytes + 63) & ~63;
  return v;
}

/**
 * Receives the next message from `source` with `tag` on `comm` (blocking; matched probe + receive), into
 * `into` when given and large enough, else into fresh inbox memory. The status is in the status record.
 */
export function receive(source: number, tag: number, comm: number, into?: Uint8Array): Uint8Array {
  if (into !== undefined) {
    const got = native.recvMessage(source, tag, comm, into, 0, into.byteLength);
    return typeof got === 'number' ? into.subarray(0, got) : plain(got);
  }
  room();
  // The slab is a registered fast buffer (it is never transferable, as a view's transfer would take every
  // other message in it too): the receive is a raw call, the message's length comes back in the slab.
  const k = fastSlot(slab);
  if (k < 0) {
    const got = native.recvMessage(source, tag, comm, slab, used, SLAB_MAX);
    return typeof got === 'number' ? takeSlab(got) : plain(got);
  }
  setFastArgs(k, source, tag, comm, used);
  setFastResult(SLAB_MAX);
  recvMessageFast();
  const got = fastResult();
  if (got !== DECLINED) return takeSlab(got);
  // Larger than a slab region: matched already (status as mprobe leaves it), received into its own block.
  const b = plain(native.allocBuffer(statusRecord[STATUS.bytes]!));
  native.mrecv(statusRecord[STATUS.message]!, b, false);
  return b;
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

/** The "dtype" of receives into inbox memory (uint8 elements). */
export const INBOX: DtypeInfo = { ...dtypeInfo('uint8'), array: InboxBytes as unknown as TypedArrayConstructor };

/** The same for a receive into the caller's memory, falling back to inbox memory when it is too small. */
export function inboxInto(into: Uint8Array): DtypeInfo {
  function IntoBytes(n: number): Uint8Array {
    return n <= into.byteLength ? into.subarray(0, n) : take(n);
  }
  return { ...INBOX, array: IntoBytes as unknown as TypedArrayConstructor };
}
