// The Promise that operations in flight are: Request (MPI, lib/core/request.ts) and GpuRequest (device
// operations, lib/gpu/ops.ts) extend Settling. A request is settled from outside, by the completion
// handler or by wait()/test(), through resolving functions kept in its own fields:
// - the executor runs synchronously inside super(), and a module-level function hands out the resolving
//   functions (capturedResolve/capturedReject, read right after super()), so no closure is allocated
//   per request;
// - a subclass's prototype gets %Promise% as its `constructor` (settlesLikePromise): `await` then takes
//   the request as a native promise (one microtask hop) instead of as a foreign thenable (three hops and
//   two extra promises), a measurable share of a Promise round trip;
// - rejectHandled marks the rejection handled, since a request may be consumed with wait()/test() and
//   never awaited (an unhandled rejection aborts the job); awaiting it still rejects.
// Settling itself has no fields: a private field declared here, below the subclass, costs every request
// ~7 ns more to construct than the same field declared in the subclass (V8 in Node 20), so the state
// (pending/fulfilled/rejected, the value or error, the resolving functions) stays in each subclass.

let nextResolve: ((v: any) => void) | undefined;
let nextReject: ((e: Error) => void) | undefined;
function capture(resolve: (v: any) => void, reject: (e: Error) => void): void {
  nextResolve = resolve;
  nextReject = reject;
}
const markHandled = () => {};

/**
 * A Promise subclass whose constructor captures the resolving functions (capturedResolve/capturedReject).
 * Each subclass calls settlesLikePromise(itself).
 */
export class Settling<T> extends Promise<T> {
  constructor() {
    super(capture);
  }
}

/** The resolve function of the Settling constructed last: a subclass constructor reads it right after super(). */
export function capturedResolve<T>(): (v: T) => void {
  return nextResolve!;
}

/** The reject function of the Settling constructed last. */
export function capturedReject(): (e: Error) => void {
  return nextReject!;
}

/** Rejects `p` (through its `reject`) with `e`, marked handled. */
export function rejectHandled(p: Settling<unknown>, reject: (e: Error) => void, e: Error): void {
  Promise.prototype.then.call(p, undefined, markHandled);
  reject(e);
}

/** Gives a Settling subclass's prototype %Promise% as its `constructor` (see above). */
export function settlesLikePromise(cls: { prototype: Settling<unknown> }): void {
  Object.defineProperty(cls.prototype, 'constructor', { value: Promise, writable: true, configurable: true });
}

settlesLikePromise(Settling);
