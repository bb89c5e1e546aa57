// Nonblocking operations. A Request is thenable (await it), and also has MPI's own test/wait/cancel.
// It holds its buffer and sits in the `pending` table until the engine reports completion, so neither
// the request nor the memory MPI is reading or writing can be garbage-collected while in flight.
import { C, DONE_CAPACITY, doneSlots, doneStatus, native, onCompletions, statusRecord } from '../addon/binding.js';
import { fastResult } from '../addon/fastpath.js';
import type { DtypeInfo, TypedArray } from './dtypes.js';
import { bytesIn, invalidParameterError } from './checks.js';
import { codedError } from './errors.js';
import { pin, pinAll } from './pin.js';
import { STATUS } from '../addon/native.js';
import { capturedReject, capturedResolve, rejectHandled, Settling, settlesLikePromise } from './settle.js';
import { STAGED_HEADER_BYTES, StagedTail, stagedTail } from './staged.js';
import { Status } from './status.js';
import { commName } from '../comm/names.js';

/**
 * What a receive of unknown size allocates: arrays of a dtype, whose constructor is given the element
 * count. `receive`, when there, receives a matched message into memory of its own with one call (lib/channel's
 * inbox slab), leaving the engine slot of a message still on its way in fastResult() (-1: in); undefined
 * leaves the message to the general path.
 */
export interface RecvMemory extends DtypeInfo {
  receive?: (message: number, bytes: number, comm: number) => TypedArray | undefined;
}

/** Result of a receive of unknown size: a fresh array of the message's length, and its status. */
export interface Received<T extends TypedArray = TypedArray> {
  data: T;
  status: Status;
}

// Batch: a startAll of persistent requests (completes as a collective does, described by its size).
const enum Kind { Send, Recv, RecvNew, Coll, Io, Batch }
// Settled states, plus a bit for "reported": once a completion call (wait, a true test, waitAny & co.)
// has returned a request's outcome it is inactive, as in MPI (MPI-4.1 §3.7.3), and the calls that pick
// among requests skip it.
const enum State { Pending = 0, Fulfilled = 1, Rejected = 2, Settled = 3, Reported = 4 }

const pending: (Request<any> | undefined)[] = [];
// Requests that were told not to keep the event loop alive (unref()); `anyUnref` spares the hot path
// the lookup until one is.
const unrefd = new WeakSet<Request<any>>();
let anyUnref = false;
// startAll batches asked to cancel (rare: a set beside them, not a field of every Request).
const cancelledBatches = new WeakSet<Request<any>>();
const batch: (Request<any> | undefined)[] = new Array(DONE_CAPACITY);

// iwaitAll's groups still waiting.
interface Group {
  requests: readonly Request<any>[];
  next: number;
  resolve: (v: unknown[]) => void;
  reject: (e: Error) => void;
}
let groups: Group[] = [];

// Completions the engine wrote to the shared records: settles their requests.
function completed(n: number): void {
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
  if (groups.length > 0) checkGroups();
}
onCompletions(completed);

function checkGroups(): void {
  groupCheckQueued = false;
  groups = groups.filter((g) => !Request._groupDone(g));
}
// A request settled outside a sweep (wait(), test()) may complete a group too.
let groupCheckQueued = false;
function queueGroupCheck(): void {
  if (groups.length === 0 || groupCheckQueued) return;
  groupCheckQueued = true;
  afterThisJob(checkGroups);
}

// Runs `f` in a microtask: a reaction to a promise settled long ago. Node's queueMicrotask wraps each
// callback in an AsyncResource and a bound function (async_hooks' bookkeeping), ~600 instructions a call
// (bench/instructions.ts), once per receive that is not complete at post.
const SETTLED = Promise.resolve();
function afterThisJob(f: () => void): void {
  void SETTLED.then(f);
}

// Once the JavaScript that posted requests has run to its end, a short spin (native/progress/engine.h):
// a prompt reply then completes without a trip round the event loop, and a burst of posts (a window of
// receives) has reached MPI before anything waits.
// While an iwaitAll group is still waiting, the spin goes on after each completion (each progress()
// spins up to its own budget for the next one): a window's messages arrive a fraction of a microsecond
// apart, and returning at the first would leave the rest to the poller, a loop trip (~3-5 us) each.
// Bounded by SPIN_ROUNDS, so a steady stream of unrelated completions cannot hold the event loop.
const SPIN_ROUNDS = 64;
let spinQueued = false;
function spin(): void {
  spinQueued = false;
  for (let round = 0; round < SPIN_ROUNDS; round++) {
    const n = native.progress();
    if (n <= 0) return;
    completed(n);
    if (groups.length === 0) return;
  }
}
function queueSpin(): void {
  if (spinQueued) return;
  spinQueued = true;
  afterThisJob(spin);
}

/**
 * @internal A send's or receive's words in messages about operations in flight (`what`: the library's
 * label for its own traffic, whose tag means nothing to the reader; else isend / irecv).
 */
export function describeP2p(sending: boolean, what: string | undefined, bytes: number, peer: number, tag: number, on: string): string {
  const t = what !== undefined ? '' : tag === C.ANY_TAG ? ', any tag' : `, tag ${tag}`;
  if (sending) return `${what ?? 'isend'}${what === undefined ? ` of ${bytes} bytes` : ''} to rank ${peer}${t}, ${on}`;
  return `${what ?? 'irecv'} from ${peer === C.ANY_SOURCE ? 'any source' : `rank ${peer}`}${t}, ${on}`;
}

/**
 * A nonblocking operation in flight: a real Promise (await it, Promise.all it) with MPI's test, wait and
 * cancel. Its prototype's `constructor` is %Promise% on purpose: `await` then takes the request as a
 * native promise (one microtask hop) instead of as a foreign thenable (three hops and two extra
 * promises), which is a measurable share of a Promise round trip (lib/core/settle.ts).
 */
// Receives given an AbortSignal (Request._abortOn): the error each rejects with once MPI cancelled it.
const aborting = new WeakMap<object, () => Error>();

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
  /** Send: the destination; Recv, RecvNew: the source asked for; Coll: the divisor applied on completion ('avg'), or 0. */
  readonly #peer: number;
  /** Send, Recv, RecvNew: the tag (asked for); Coll: the half kind of the elements the divisor applies to (lib/coll/ops.ts halfKind). */
  readonly #tag: number;
  /** The communicator handle. */
  readonly #comm: number;
  /**
   * Recv, RecvNew: the handle of the communicator's private duplicate, where a staged device message's
   * chunks come from (lib/core/staged.ts), or -1 where none can (channels).
   */
  #internal = -1;
  /**
   * RecvNew: the dtype to allocate; Coll: memory MPI uses besides #buffer, held until completion;
   * Recv, RecvNew: the StagedTail while a staged device message's chunks are being received.
   */
  #extra: unknown;
  /**
   * What this request is where kind, peer and tag do not say it all (a channel's traffic), read only to
   * describe operations in flight. A field, not a WeakMap entry: an entry per message cost a channel
   * ~450 ns a request (the set, and the ephemeron table the scavenger then walks).
   */
  #label: string | undefined;

  /** @internal Requests are made by Comm methods (isend, irecv, ...) through the static factories. */
  constructor(kind: Kind, buffer: TypedArray | undefined, peer: number, tag: number, comm: number, extra: unknown) {
    super();
    this.#resolve = capturedResolve();
    this.#reject = capturedReject();
    this.#kind = kind;
    this.#buffer = buffer;
    this.#peer = peer;
    this.#tag = tag;
    this.#comm = comm;
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
    return (this.#state & State.Settled) === State.Fulfilled ? (this.#result as T) : undefined;
  }

  #track(slot: number): void {
    this.#slot = slot;
    pending[slot] = this;
    if (anyUnref && unrefd.has(this)) native.setRef(slot, false);
  }

  // Posted: tracked by the engine, or (slot -1) already complete with its status in the record.
  #posted(slot: number): this {
    if (slot < 0) {
      this._settle(statusRecord, 0);
    } else {
      this.#track(slot);
      queueSpin();
    }
    return this;
  }

  /** @internal Called with the status record of a completion. */
  _settle(rec: Float64Array, off: number): void {
    const slot = this.#slot;
    this.#slot = -1;
    const err = rec[off + STATUS.error]!;
    // The slot it had (-1: done within its posting call) finds its communicator's error hook.
    if (err !== 0) return this.#fail(native.errorFor(err, slot));
    switch (this.#kind) {
      case Kind.Send: {
        const b = this.#buffer!;
        return this.#fulfill(new Status(this.#peer, this.#tag, bytesIn(b), rec[off + STATUS.cancelled] !== 0, b.BYTES_PER_ELEMENT) as T);
      }
      case Kind.Recv:
        if (rec[off + STATUS.cancelled] !== 0 && aborting.has(this)) return this.#fail(aborting.get(this)!());
        if ((rec[off + STATUS.bytes] === STAGED_HEADER_BYTES && this.#internal >= 0) || this.#extra !== undefined) {
          return this.#staged(rec, off);
        }
        return this.#fulfill(Status._fromRecord(rec, off, this.#buffer!.BYTES_PER_ELEMENT) as T);
      case Kind.Io: // a file access: the elements it moved
        return this.#fulfill(Math.floor(rec[off + STATUS.bytes]! / this.#buffer!.BYTES_PER_ELEMENT) as T);
      case Kind.Coll:
      case Kind.Batch:
        this.#extra = undefined;
        if (this.#peer > 0) {
          try {
            native.divide(this.#buffer!, this.#peer, this.#tag);
          } catch (e) {
            return this.#fail(e as Error);
          }
        }
        return this.#fulfill(this.#result as T);
      default: {
        if (this.#extra instanceof StagedTail) return this.#drive(this.#extra);
        let v: Received | undefined;
        try {
          v = this.#matched(rec, off);
        } catch (e) {
          return this.#fail(e as Error);
        }
        if (v !== undefined) this.#finish(v); // else the matched message is still being received
      }
    }
  }

  // A receive of unknown size is done: its value is the Received, or what the finisher it was posted
  // with (_recvNew) makes of it, a throw rejecting it.
  #finish(got: Received): void {
    const finish = this.#result as ((got: Received) => T) | undefined;
    if (finish === undefined) return this.#fulfill(got as T);
    let value: T;
    try {
      value = finish(got);
    } catch (e) {
      return this.#fail(e as Error);
    }
    this.#fulfill(value);
  }

  #fulfill(value: T): void {
    this.#state = State.Fulfilled;
    this.#result = value;
    this.#resolve(value);
    if (groups.length > 0) queueGroupCheck();
  }

  // A receive into a host array got 32 bytes: when they are a staged device message's header, its
  // chunks are received (one engine slot at a time) before the request settles.
  #staged(rec: Float64Array, off: number): void {
    let tail = this.#extra as StagedTail | undefined;
    if (tail === undefined) {
      tail = stagedTail(this.#buffer!, rec[off + STATUS.source]!, rec[off + STATUS.tag]!, this.#internal);
      if (tail === undefined) return this.#fulfill(Status._fromRecord(rec, off, this.#buffer!.BYTES_PER_ELEMENT) as T);
      this.#extra = tail;
    }
    this.#drive(tail);
  }

  // Posts the next chunk of a staged message (tracked as this request's slot), or settles once all are in.
  #drive(tail: StagedTail): void {
    for (let slot = tail.next(); slot !== -2; slot = tail.next()) {
      if (slot >= 0) return this.#track(slot);
      const err = statusRecord[STATUS.error]!;
      if (err !== 0) return this.#fail(native.errorFor(err));
    }
    this.#extra = undefined;
    try {
      const info = tail.extra as DtypeInfo | undefined;
      this.#fulfill((info ? { data: tail.into, status: tail.result(info.size) } : tail.result(this.#buffer!.BYTES_PER_ELEMENT)) as T);
    } catch (e) {
      this.#fail(e as Error);
    }
  }

  // A receive of unknown size received `data` (status at rec[off]): done, unless it is a staged header.
  #received(data: TypedArray, info: DtypeInfo, rec: Float64Array, off: number): Received | undefined {
    if (rec[off + STATUS.bytes] === STAGED_HEADER_BYTES && this.#internal >= 0) {
      const tail = stagedTail(data, rec[off + STATUS.source]!, rec[off + STATUS.tag]!, this.#internal,
        (bytes) => new info.array(Math.ceil(bytes / info.size)), info);
      if (tail !== undefined) {
        this.#buffer = tail.into;
        this.#extra = tail;
        this.#drive(tail);
        return undefined;
      }
    }
    return { data, status: Status._fromRecord(rec, off, info.size) };
  }

  // A receive of unknown size has matched a message: allocate exactly its size and receive it.
  #matched(rec: Float64Array, off: number): Received | undefined {
    const info = this.#extra as RecvMemory;
    if (this.#buffer !== undefined) return this.#received(this.#buffer, info, rec, off);
    if (rec[off + STATUS.message]! < 0) { // cancelled, or from PROC_NULL: no message to receive
      if (rec[off + STATUS.cancelled] !== 0 && aborting.has(this)) throw aborting.get(this)!();
      const data = new info.array(0);
      this.#buffer = data;
      return { data, status: Status._fromRecord(rec, off, info.size) };
    }
    const bytes = rec[off + STATUS.bytes]!, message = rec[off + STATUS.message]!;
    let data = info.receive?.(message, bytes, this.#comm);
    let slot: number;
    if (data !== undefined) {
      slot = fastResult();
    } else {
      data = new info.array(Math.ceil(bytes / info.size));
      slot = native.mrecv(message, data, true)!;
    }
    this.#buffer = data;
    if (slot >= 0) { // a large message still on its way (rendezvous)
      this.#track(slot);
      queueSpin();
      return undefined;
    }
    const err = statusRecord[STATUS.error]!;
    if (err !== 0) throw native.errorFor(err);
    return this.#received(data, info, statusRecord, 0);
  }

  #fail(e: Error): void {
    this.#state = State.Rejected;
    this.#result = e;
    rejectHandled(this, this.#reject, e);
    if (groups.length > 0) queueGroupCheck();
  }

  // The outcome, reported: from now on the request is inactive.
  #report(): T {
    this.#state |= State.Reported;
    if ((this.#state & State.Settled) === State.Rejected) throw this.#result;
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
    return this.#report();
  }

  /** Never blocks: true when the operation has completed (MPI_Test). */
  test(): boolean {
    if (this.#state === State.Pending && native.test(this.#slot)) {
      pending[this.#slot] = undefined;
      this._settle(statusRecord, 0);
    }
    if (this.#state === State.Pending) return false;
    this.#state |= State.Reported;
    return true;
  }

  /**
   * Asks MPI to cancel; the request still completes, with `status.cancelled` true if it worked. A
   * startAll batch's: every send and receive in it (its collectives complete as usual); once the batch
   * is done, each persistent request's `cancelled` says whether its own was.
   */
  cancel(): void {
    if (this.#kind === Kind.Coll) throw codedError(TypeError, 'ERR_CANCEL_COLLECTIVE', 'a collective operation cannot be cancelled (MPI-3.1 §5.12)');
    if (this.#state !== State.Pending) return;
    if (this.#kind === Kind.Batch) cancelledBatches.add(this);
    native.cancel(this.#slot);
  }

  /** @internal Whether it completed successfully (a batch's value is undefined either way). */
  get _fulfilled(): boolean {
    return (this.#state & State.Settled) === State.Fulfilled;
  }

  /** @internal Whether cancel() was called on this startAll batch while it was pending. */
  get _cancelAsked(): boolean {
    return cancelledBatches.has(this);
  }

  /** @internal The persistent requests of a pending startAll batch (none once it completed). */
  get _members(): readonly object[] {
    return this.#kind === Kind.Batch && this.#extra !== undefined ? (this.#extra as readonly object[]) : [];
  }

  /**
   * @internal A receive that `signal` cancels: on abort MPI is asked to cancel it, and if MPI did, the
   * request rejects with `error()` (a message that arrives later stays for the next receive); if the
   * message was already matched, the request completes with it. Kept beside the request, not in a
   * field, so requests without a signal pay nothing (the map is read only for a cancelled receive).
   */
  _abortOn(signal: AbortSignal, error: () => Error): this {
    aborting.set(this, error);
    // A weak reference, and no then(): the signal does not keep a settled request alive, and a
    // rejection nobody awaits is still reported as unhandled.
    const me = new WeakRef(this);
    signal.addEventListener('abort', () => me.deref()?.cancel(), { once: true });
    return this;
  }

  /**
   * Lets the process exit while this request is still pending, as `unref()` does for a Node timer or
   * socket: it no longer keeps the event loop alive. If the process exits before it completes, a receive
   * is cancelled then (a send is given a moment to complete: see README, "Exit"). Returns the request.
   */
  unref(): this {
    anyUnref = true;
    unrefd.add(this);
    if (this.#state === State.Pending && this.#slot >= 0) native.setRef(this.#slot, false);
    return this;
  }

  /** Undoes unref(): the pending request keeps the event loop alive again (the default). */
  ref(): this {
    unrefd.delete(this);
    if (this.#state === State.Pending && this.#slot >= 0) native.setRef(this.#slot, true);
    return this;
  }

  /** @internal Whether this request keeps the event loop alive (not unref()'d). */
  get _refed(): boolean {
    return !(anyUnref && unrefd.has(this));
  }

  /** @internal Whether this is a send. */
  get _sending(): boolean {
    return this.#kind === Kind.Send;
  }

  /** @internal What this request is, for messages about operations in flight. */
  _describe(): string {
    // A labelled request is the library's own traffic for something the label names (a channel): its
    // tag and private communicator mean nothing to the reader.
    const label = this.#label;
    const on = `on ${commName(this.#comm, label !== undefined)}`;
    if (this.#kind === Kind.Coll) return `${label ?? 'a nonblocking collective'} ${on}`;
    if (this.#kind === Kind.Batch) return `startAll of ${(this.#extra as unknown[]).length} persistent request(s) ${on}`;
    return describeP2p(this.#kind === Kind.Send, label, this.#buffer?.byteLength ?? 0, this.#peer, this.#tag, on);
  }

  /** @internal Names what this request is in messages about operations in flight. */
  _label(what: string): this {
    this.#label = what;
    return this;
  }

  /**
   * @internal A collective just posted (slot from the addon): it resolves to `result`. `view` is the
   * array MPI writes, divided by `divisor` on completion when that is > 0 (the 'avg' op; float16/bfloat16
   * elements when `half` is their kind); `keep` is the other memory MPI uses until then.
   */
  static _coll<R>(slot: number, comm: number, result: R, view: TypedArray | undefined, keep: unknown, divisor: number, half = 0): Request<R> {
    const r = new Request<R>(Kind.Coll, view, divisor, half, comm, keep);
    r.#result = result;
    if (view !== undefined) pin(view);
    pinAll(keep);
    return r.#posted(slot);
  }
  /**
   * @internal The Request of one startAll (slot from the addon) of `ps`, held until it completes. Not a
   * labelled _coll: a WeakMap entry per start is a measurable share of a persistent window.
   */
  static _batch(slot: number, comm: number, ps: readonly object[]): Request<void> {
    return new Request<void>(Kind.Batch, undefined, 0, 0, comm, ps).#posted(slot);
  }
  /** @internal A request that failed before anything was posted. */
  static _rejected<R>(error: Error): Request<R> {
    const r = new Request<R>(Kind.Coll, undefined, 0, 0, -1, undefined);
    r.#fail(error);
    return r;
  }
  /** @internal */
  static _send(slot: number, buf: TypedArray, dest: number, tag: number, comm: number): Request<Status> {
    return new Request<Status>(Kind.Send, buf, dest, tag, comm, undefined).#posted(slot);
  }
  /** @internal */
  static _recv(slot: number, buf: TypedArray, source: number, tag: number, comm: number, internal = -1): Request<Status> {
    const r = new Request<Status>(Kind.Recv, buf, source, tag, comm, undefined);
    r.#internal = internal;
    return r.#posted(slot);
  }
  /** @internal A file access just posted (lib/io/file.ts): resolves to the elements moved. */
  static _io(slot: number, buf: TypedArray, comm: number): Request<number> {
    pin(buf);
    return new Request<number>(Kind.Io, buf, 0, 0, comm, undefined).#posted(slot);
  }
  /** @internal */
  static _recvNew<A extends TypedArray>(slot: number, dtype: RecvMemory, source: number, tag: number, comm: number,
    internal = -1): Request<Received<A>> {
    const r = new Request<Received<A>>(Kind.RecvNew, undefined, source, tag, comm, dtype);
    r.#internal = internal;
    return r.#posted(slot);
  }
  /**
   * @internal _recvNew whose value is `finish` of the Received (a throw rejects): one Promise instead of
   * the Request and a then() of it, which cost a channel's Promise receive an object and a microtask hop.
   * Never a staged device message (no `internal` communicator), whose tail completes elsewhere.
   */
  static _recvThen<R>(slot: number, dtype: RecvMemory, source: number, tag: number, comm: number, finish: (got: Received<Uint8Array>) => R): Request<R> {
    const r = new Request<R>(Kind.RecvNew, undefined, source, tag, comm, dtype);
    r.#result = finish; // until it is settled, the value's slot holds what makes the value
    return r.#posted(slot);
  }
  // ---- several requests at once: one native call over the engine slots of the pending ones ----

  /** Gathers the pending requests among `requests` (each once) into the scratch slots; how many. */
  static #gather(requests: readonly Request<any>[]): number {
    const gen = ++gathering;
    let k = 0;
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i];
      if (!(r instanceof Request)) throw notRequests(requests);
      if (r.#state !== State.Pending || marks[r.#slot] === gen) continue;
      if (r.#slot >= marks.length) marks = widen(marks, r.#slot);
      marks[r.#slot] = gen;
      if (k === slots.length) grow();
      slots[k] = r.#slot;
      at[k++] = i;
    }
    return k;
  }

  // The request gathered at position `pos` completed with the record there; true once it is settled
  // (a receive of unknown size has only matched its message by then, and goes on with a new slot).
  static #completed(requests: readonly Request<any>[], pos: number): boolean {
    const r = requests[at[pos]!]!;
    pending[r.#slot] = undefined;
    r._settle(records, pos * STATUS.fields);
    if (r.#state !== State.Pending) return true;
    slots[pos] = r.#slot;
    return false;
  }

  /** @internal */
  static _waitAll<T>(requests: readonly Request<T>[]): T[] {
    if (!Array.isArray(requests)) throw notRequests(requests);
    for (let k = Request.#gather(requests); k > 0; k = Request.#gather(requests)) {
      native.waitAll(slots, k, records);
      for (let pos = 0; pos < k; pos++) Request.#completed(requests, pos);
    }
    let first: unknown;
    const out: T[] = new Array(requests.length);
    for (let i = 0; i < requests.length; i++) {
      try {
        out[i] = requests[i]!.#report();
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined) throw first;
    return out;
  }

  /** @internal waitAny (block) and testAny. */
  static _pickAny<T>(requests: readonly Request<T>[], block: boolean): { index: number; value: T } | false | undefined {
    if (!Array.isArray(requests)) throw notRequests(requests);
    // One that completed already (awaited, or settled by a sweep) but was not reported comes first.
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i];
      if (!(r instanceof Request)) throw notRequests(requests);
      if ((r.#state & State.Settled) !== 0 && (r.#state & State.Reported) === 0) return { index: i, value: r.#report() };
    }
    const k = Request.#gather(requests);
    if (k === 0) return undefined;
    for (;;) {
      const pos = block ? native.waitAny(slots, k, records) : native.testAny(slots, k, records);
      if (pos === -1) return undefined;
      if (pos < 0) return false;
      if (Request.#completed(requests, pos)) return { index: at[pos]!, value: requests[at[pos]!]!.#report() };
      if (!block) return false;
    }
  }

  /** @internal waitSome (block) and testSome. */
  static _pickSome(requests: readonly Request<any>[], block: boolean): number[] | undefined {
    if (!Array.isArray(requests)) throw notRequests(requests);
    const done: number[] = [];
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i];
      if (!(r instanceof Request)) throw notRequests(requests);
      if ((r.#state & State.Settled) !== 0 && (r.#state & State.Reported) === 0) {
        r.#state |= State.Reported;
        done.push(i);
      }
    }
    if (done.length > 0) return done;
    const k = Request.#gather(requests);
    if (k === 0) return undefined;
    for (;;) {
      const c = block ? native.waitSome(slots, k, records, positions) : native.testSome(slots, k, records, positions);
      if (c < 0) return undefined;
      for (let q = 0; q < c; q++) {
        const pos = positions[q]!;
        if (!Request.#completed(requests, pos)) continue;
        requests[at[pos]!]!.#state |= State.Reported;
        done.push(at[pos]!);
      }
      if (done.length > 0 || !block) return done.sort((a, b) => a - b);
    }
  }

  /** @internal */
  static _iwaitAll<T>(requests: readonly Request<T>[]): Promise<T[]> {
    if (!Array.isArray(requests)) throw notRequests(requests);
    for (const r of requests) if (!(r instanceof Request)) throw notRequests(requests);
    const g: Group = { requests, next: 0, resolve: undefined!, reject: undefined! };
    const p = new Promise<T[]>((res, rej) => {
      g.resolve = res as (v: unknown[]) => void;
      g.reject = rej;
    });
    if (!Request._groupDone(g)) groups.push(g);
    return p;
  }

  /**
   * @internal Whether group `g` is complete (then settled): its requests are looked at from the first
   * one not yet done, so each is passed over once however many sweeps it takes.
   */
  static _groupDone(g: Group): boolean {
    const rs = g.requests as Request<any>[];
    while (g.next < rs.length && rs[g.next]!.#state !== State.Pending) g.next++;
    if (g.next < rs.length) return false;
    let first: unknown;
    const out = new Array(rs.length);
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i]!;
      if ((r.#state & State.Settled) === State.Rejected) first ??= r.#result;
      else out[i] = r.#result;
    }
    if (first !== undefined) g.reject(first as Error);
    else g.resolve(out);
    return true;
  }

  /** @internal */
  static _testAll<T>(requests: readonly Request<T>[]): T[] | undefined {
    if (!Array.isArray(requests)) throw notRequests(requests);
    const k = Request.#gather(requests);
    if (k > 0) {
      if (!native.testAll(slots, k, records)) return undefined;
      let all = true;
      for (let pos = 0; pos < k; pos++) all = Request.#completed(requests, pos) && all;
      if (!all) return undefined;
    }
    return Request._waitAll(requests);
  }
}

// Scratch for the calls over several requests: engine slots, where each came from in the caller's
// array, the positions the engine reports, records, and a per-slot mark that finds a request passed twice.
let slots = new Int32Array(64);
let at = new Int32Array(64);
let positions = new Int32Array(64);
let records = new Float64Array(64 * STATUS.fields);
let marks = new Int32Array(256);
let gathering = 0;
function widen(a: Int32Array<ArrayBuffer>, index: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(Math.max(index + 1, a.length * 2));
  b.set(a);
  return b;
}
function grow(): void {
  const n = slots.length * 2;
  slots = widen(slots, n - 1);
  at = widen(at, n - 1);
  positions = new Int32Array(n);
  records = new Float64Array(n * STATUS.fields);
}
function notRequests(v: unknown) {
  return invalidParameterError('ERR_INVALID_ARG_TYPE', 'requests', 'an array of Requests', v);
}

settlesLikePromise(Request);

/** Waits for all (MPI_Waitall), in one MPI call; throws the first error once every request has completed. */
export function waitAll<T>(requests: readonly Request<T>[]): T[] {
  return Request._waitAll(requests);
}

/**
 * waitAll's Promise form: resolves to the values once every request has completed (rejects with the
 * first error), without blocking. One Promise for the lot: completions are counted as the engine reports
 * them, where `Promise.all` pays a reaction and a microtask per request (~0.4 us each here).
 */
export function iwaitAll<T>(requests: readonly Request<T>[]): Promise<T[]> {
  return Request._iwaitAll(requests);
}

/**
 * Blocks until one active request completes (MPI_Waitany) and returns its index and value (throwing its
 * error if it failed); it is inactive from then on. Undefined when no request is active (MPI_UNDEFINED),
 * so `for (let r; (r = waitAny(reqs)) !== undefined; )` visits each request once.
 */
export function waitAny<T>(requests: readonly Request<T>[]): { index: number; value: T } | undefined {
  return Request._pickAny(requests, true) as { index: number; value: T } | undefined;
}

/** Never blocks (MPI_Testany): as waitAny when one has completed, false when active ones have not yet. */
export function testAny<T>(requests: readonly Request<T>[]): { index: number; value: T } | false | undefined {
  return Request._pickAny(requests, false);
}

/**
 * Blocks until at least one active request completes (MPI_Waitsome) and returns the indices of every
 * active request that has, which are inactive from then on; undefined when none is active.
 */
export function waitSome<T>(requests: readonly Request<T>[]): number[] | undefined {
  return Request._pickSome(requests, true);
}

/** Never blocks (MPI_Testsome): as waitSome, with [] when active requests have not completed yet. */
export function testSome<T>(requests: readonly Request<T>[]): number[] | undefined {
  return Request._pickSome(requests, false);
}

/** Never blocks (MPI_Testall): the values if every request has completed (then all are inactive), else undefined. */
export function testAll<T>(requests: readonly Request<T>[]): T[] | undefined {
  return Request._testAll(requests);
}

/** Requests in flight in this environment (used at exit). */
export function pendingRequests(): Request<any>[] {
  return pending.filter((r): r is Request<any> => r !== undefined);
}
