// Memory handed to MPI must stay where it is until the operation completes (MPI-4.1 §3.7.2), whatever
// JavaScript does meanwhile. The garbage collector cannot free it (the Request holds the array), but V8
// can take an ArrayBuffer's memory away by detaching it: a structuredClone or postMessage that transfers
// it (and ArrayBuffer.prototype.transfer from Node 22). N-API has no way to hold a backing store or to
// refuse a detach for a while, so a buffer handed to an operation that outlives its call is marked
// untransferable, for good (node:worker_threads markAsUntransferable, as Node does for its Buffer pool):
// a later transfer copies it instead (Node 20) or throws a DataCloneError (Node >= 21), and the memory
// MPI reads or writes stays the array's. A mark costs ~35 ns: fast-path buffers pay it once, when they
// are registered; other nonblocking operations once per call.
import { markAsUntransferable } from 'node:worker_threads';

/** Keeps `v`'s memory attached to it from now on (see above). */
export function pin(v: ArrayBufferView): void {
  markAsUntransferable(v.buffer);
}

/** pin() for every typed array or DataView in `x` (a view, an array of views, or anything else). */
export function pinAll(x: unknown): void {
  if (ArrayBuffer.isView(x)) pin(x);
  else if (Array.isArray(x)) for (const v of x) if (ArrayBuffer.isView(v)) pin(v);
}
