// Nonblocking operations. A Request is thenable (await it), and also has MPI's own test/wait/cancel.
// It holds its buffer and sits in the `pending` table until the engine reports completion, so neither
// the request nor the memory MPI is reading or writing can be garbage-collected while in flight.
import { DONE_CAPACITY, doneSlots, doneStatus, native, onCompletions, statusRecord } from '../addon/binding.js';
import type { DtypeInfo, TypedArray } from './dtypes.js';
import { codedError } from './errors.js';
import { STATUS } from '../addon/native.js';
import { capturedReject, capturedResolve, rejectHandled, Settling, settlesLikePromise } from './settle.js';
import { Status } from './status.js';

/** Result of a receive of unknown size: a fresh array of the message's length, and its status. */
export interface Received<T extends TypedArray = TypedArray> {
  data: T;
  status: Status;
}

const enum Kind { Send, Recv, RecvNew, Coll }
const enum State { Pending, Fulfilled, Rejected }

const pending: (Request<any> | undefined)[] = [];
const batch: (Request<any> | undefined)[] = new Array(DONE_CAPACITY);

onCompletions((n) => {
  // Take the whole batch out first: settling one request may post another that reuses a freed slot.
  for (let i = 0; i < n; i++) {
    const slot = doneSlots[i]!;
    batch[i] = pending[slot];
    pending[slot] = undefined;
  }
  for (let i = 0; i < n; i++) {
    const r = batch[i];
    batch[i] = undefined;
    r?._settle(doneStatus, i * STATUS.fields);
  }
});

/**
 * A nonblocking operation in flight: a real Promise (await it, Promise.all it) with MPI's test, wait and
 * cancel. Its prototype's `constructor` is %Promise% on purpose: `await` then takes the request as a
 * native promise (one microtask hop) instead of as a foreign thenable (three hops and two extra
 * promises), which is a measurable share of a Promise round trip (lib/core/settle.ts).
 */
export class Request<T = Status> extends Settling<T> {
  // Every field costs a store (with a write barrier) per request, and small windows post millions of
  // requests a second: the fields are shared between kinds rather than one per purpose.
  #slot = -1;
  #state = State.Pending;
  /** The value or error once settled; a collective's value from the start. */
  #result: unknown;
  #resolve: (v: T) => void;
  #reject: (e: Error) => void;
  #buffer: TypedArray | undefined;
  readonly #kind: Kind;
  /** Send: the destination; Coll: the divisor applied on completion ('avg'), or 0. */
  readonly #peer: number;
  readonly #tag: number;
  /** RecvNew: the dtype to allocate; Coll: memory MPI uses besides #buffer, held until completion. */
  #extra: unknown;

  /** @internal Requests are made by Comm methods (isend, irecv, ...) through the static factories. */
  constructor(kind: Kind, buffer: TypedArray | undefined, peer: number, tag: number, extra: unknown) {
    super();
    this.#resolve = capturedResolve();
    this.#reject = capturedReject();
    this.#kind = kind;
    this.#buffer = buffer;
    this.#peer = peer;
    this.#tag = tag;
    this.#extra = extra;
  }

  /** The buffer this request reads or writes (for a receive of unknown size, once it is allocated). */
  get buffer(): TypedArray | undefined {
    return this.#buffer;
  }

  get done(): boolean {
    return this.#state !== State.Pending;
  }

  /** The result once done (a Status, or { data, status } for a receive of unknown size). */
  get value(): T | undefined {
    return this.#state === State.Fulfilled ? (this.#result as T) : undefined;
  }

  #track(slot: number): void {
    this.#slot = slot;
    pending[slot] = this;
  }

  // Posted: tracked by the engine, or (slot -1) already complete with its status in the record.
  #posted(slot: number): this {
    if (slot >= 0) this.#track(slot);
    else this._settle(statusRecord, 0);
    return this;
  }

  /** @internal Called with the status record of a completion. */
  _settle(rec: Float64Array, off: number): void {
    this.#slot = -1;
    const err = rec[off + STATUS.error]!;
    if (err !== 0) return this.#fail(native.errorFor(err));
    switch (this.#kind) {
      case Kind.Send: {
        const b = this.#buffer!;
        return this.#fulfill(new Status(this.#peer, this.#tag, b.byteLength, rec[off + STATUS.cancelled] !== 0, b.BYTES_PER_ELEMENT) as T);
      }
      case Kind.Recv:
        return this.#fulfill(Status.fromRecord(rec, off, this.#buffer!.BYTES_PER_ELEMENT) as T);
      case Kind.Coll:
        this.#extra = undefined;
        if (this.#peer > 0) {
          try {
            native.divide(this.#buffer!, this.#peer);
          } catch (e) {
            return this.#fail(e as Error);
          }
        }
        return this.#fulfill(this.#result as T);
      default: {
        let v: Received | undefined;
        try {
          v = this.#matched(rec, off);
        } catch (e) {
          return this.#fail(e as Error);
        }
        if (v !== undefined) this.#fulfill(v as T); // else the matched message is still being received
      }
    }
  }

  #fulfill(value: T): void {
    this.#state = State.Fulfilled;
    this.#result = value;
    this.#resolve(value);
  }

  // A receive of unknown size has matched a message: allocate exactly its size and receive it.
  #matched(rec: Float64Array, off: number): Received | undefined {
    const info = this.#extra as DtypeInfo;
    if (this.#buffer !== undefined) {
      return { data: this.#buffer, status: Status.fromRecord(rec, off, info.size) };
    }
    if (rec[off + STATUS.cancelled] !== 0) {
      const data = new info.array(0);
      this.#buffer = data;
      return { data, status: Status.fromRecord(rec, off, info.size) };
    }
    const bytes = rec[off + STATUS.bytes]!;
    const data = new info.array(Math.ceil(bytes / info.size));
    this.#buffer = data;
    const slot = native.mrecv(rec[off + STATUS.message]!, data, true)!;
    if (slot >= 0) {
      this.#track(slot);
      return undefined;
    }
    const err = statusRecord[STATUS.error]!;
    if (err !== 0) throw native.errorFor(err);
    return { data, status: Status.fromRecord(statusRecord, 0, info.size) };
  }

  #fail(e: Error): void {
    this.#state = State.Rejected;
    this.#result = e;
    rejectHandled(this, this.#reject, e);
  }

  #settled(): T {
    if (this.#state === State.Rejected) throw this.#result;
    return this.#result as T;
  }

  /** Blocks this thread until the operation completes (MPI_Wait). Prefer `await` in event-driven code. */
  wait(): T {
    while (this.#state === State.Pending) {
      const slot = this.#slot;
      native.wait(slot);
      pending[slot] = undefined;
      this._settle(statusRecord, 0);
    }
    return this.#settled();
  }

  /** Never blocks: true when the operation has completed (MPI_Test). */
  test(): boolean {
    if (this.#state === State.Pending && native.test(this.#slot)) {
      pending[this.#slot] = undefined;
      this._settle(statusRecord, 0);
    }
    return this.#state !== State.Pending;
  }

  /** Asks MPI to cancel; the request still completes, with `status.cancelled` true if it worked. */
  cancel(): void {
    if (this.#kind === Kind.Coll) throw codedError(TypeError, 'ERR_CANCEL_COLLECTIVE', 'a collective operation cannot be cancelled (MPI-3.1 §5.12)');
    if (this.#state === State.Pending) native.cancel(this.#slot);
  }

  /**
   * @internal A collective just posted (slot from the addon): it resolves to `result`. `view` is the
   * array MPI writes, divided by `divisor` on completion when that is > 0 (the 'avg' op); `keep` is the
   * other memory MPI uses until then.
   */
  static _coll<R>(slot: number, result: R, view: TypedArray | undefined, keep: unknown, divisor: number): Request<R> {
    const r = new Request<R>(Kind.Coll, view, divisor, 0, keep);
    r.#result = result;
    return r.#posted(slot);
  }
  /** @internal A request that failed before anything was posted. */
  static _rejected<R>(error: Error): Request<R> {
    const r = new Request<R>(Kind.Coll, undefined, 0, 0, undefined);
    r.#fail(error);
    return r;
  }
  /** @internal */
  static _send(slot: number, buf: TypedArray, dest: number, tag: number): Request<Status> {
    return new Request<Status>(Kind.Send, buf, dest, tag, undefined).#posted(slot);
  }
  /** @internal */
  static _recv(slot: number, buf: TypedArray): Request<Status> {
    return new Request<Status>(Kind.Recv, buf, 0, 0, undefined).#posted(slot);
  }
  /** @internal */
  static _recvNew<A extends TypedArray>(slot: number, dtype: DtypeInfo): Request<Received<A>> {
    return new Request<Received<A>>(Kind.RecvNew, undefined, 0, 0, dtype).#posted(slot);
  }
}

settlesLikePromise(Request);

/** Waits for all (MPI_Waitall); throws the first error after every request has completed. */
export function waitAll<T>(requests: readonly Request<T>[]): T[] {
  let first: unknown;
  const out: T[] = [];
  for (const r of requests) {
    try {
      out.push(r.wait());
    } catch (e) {
      first ??= e;
    }
  }
  if (first !== undefined) throw first;
  return out;
}

/** Blocks until one completes (MPI_Waitany); returns its index and value. */
export function waitAny<T>(requests: readonly Request<T>[]): { index: number; value: T } {
  if (requests.length === 0) throw codedError(RangeError, 'ERR_INVALID_ARG_VALUE', 'waitAny needs at least one request');
  for (;;) {
    for (let i = 0; i < requests.length; i++) {
      if (requests[i]!.test()) return { index: i, value: requests[i]!.wait() };
    }
  }
}

/** Blocks until at least one completes (MPI_Waitsome); returns the indices of all that have. */
export function waitSome<T>(requests: readonly Request<T>[]): number[] {
  if (requests.length === 0) return [];
  for (;;) {
    const done: number[] = [];
    for (let i = 0; i < requests.length; i++) if (requests[i]!.test()) done.push(i);
    if (done.length > 0) return done;
  }
}

/** Never blocks: the values if all have completed (MPI_Testall), else undefined. */
export function testAll<T>(requests: readonly Request<T>[]): T[] | undefined {
  let all = true;
  for (const r of requests) all = r.test() && all;
  return all ? requests.map((r) => r.wait()) : undefined;
}

/** Requests in flight in this environment (used at exit). */
export function pendingRequests(): Request<any>[] {
  return pending.filter((r): r is Request<any> => r !== undefined);
}
