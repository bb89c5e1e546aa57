// Persistent requests (MPI-4.1 §3.9, mpi4py's Prequest): a send, receive or collective set up once with
// its buffer, envelope and op, then started again and again. For loops that move the same buffers every
// iteration (halo exchange, windows, pipelines): MPI prepares the operation once, and a batch started
// with startAll() is one MPI_Startall and one completion (MPI_Testall or MPI_Waitall) for all of it.
import { native, statusRecord } from '../addon/binding.js';
import { STATUS } from '../addon/native.js';
import { commName } from '../comm/names.js';
import { bytesIn, invalidParameterError } from './checks.js';
import type { TypedArray } from './dtypes.js';
import { codedError } from './errors.js';
import { pin, pinAll } from './pin.js';
import { describeP2p, Request } from './request.js';
import { Status } from './status.js';

const enum PKind { Send, Recv, Coll }

/** A persistent request: start() it (MPI_Start) as often as needed, one activation at a time; free() it. */
export class Prequest<T = Status> {
  #id: number;
  readonly #kind: PKind;
  readonly #buffer: TypedArray | undefined;
  readonly #peer: number;
  readonly #tag: number;
  /** The communicator handle (named in messages about operations in flight). */
  readonly #comm: number;
  /** Coll: what an activation resolves to, the array divided on completion ('avg'), the divisor. */
  readonly #result: unknown;
  readonly #keep: unknown;
  readonly #divisor: number;
  /** The activation start() reuses, and what this request has before its first start. */
  readonly #own = new Activation(undefined, NONE, NO_IDS, NONE);
  /** Its latest activation: #own after start() or free(), shared by the requests of a startAll batch. */
  #latest: Activation = this.#own;
  /** The startAll call that last listed this request (finds one listed twice in one pass). */
  #listed = 0;

  /** @internal Made by comm.sendInit/recvInit and the collectives' *Init methods. */
  constructor(id: number, kind: PKind, buffer: TypedArray | undefined, peer: number, tag: number, comm: number,
    result: unknown, keep: unknown, divisor: number) {
    this.#id = id;
    this.#comm = comm;
    this.#kind = kind;
    this.#buffer = buffer;
    this.#peer = peer;
    this.#tag = tag;
    this.#result = result;
    this.#keep = keep;
    this.#divisor = divisor;
    // MPI holds the addresses from now until free(): they must stay attached (lib/core/pin.ts).
    if (buffer !== undefined) pin(buffer);
    pinAll(keep);
  }

  /** The buffer MPI reads or writes (the receive buffer of a collective). */
  get buffer(): TypedArray | undefined {
    return this.#buffer;
  }

  /** True while an activation has not completed. */
  get active(): boolean {
    const r = this.#latest.request;
    return r !== undefined && !r.done;
  }

  get freed(): boolean {
    return this.#id < 0;
  }

  /**
   * The Status of its latest activation once that completed, whether start() or a startAll batch
   * started it (the statuses of the batch's MPI_Waitall): a receive's source, tag and count; `cancelled`
   * after cancel() on its Request or its batch's. Undefined while active, before the first start, when
   * the activation failed, for a collective, and once freed.
   */
  get status(): Status | undefined {
    const a = this.#latest, r = a.request;
    if (r === undefined || !r._fulfilled || this.#kind === PKind.Coll || this.#id < 0) return undefined;
    if (a === this.#own) return r.value as Status;
    const b = this.#buffer!, asked = r._cancelAsked;
    if (this.#kind === PKind.Recv) {
      native.batchStatus(this.#id, asked);
      return Status._fromRecord(statusRecord, 0, b.BYTES_PER_ELEMENT);
    }
    let cancelled = false;
    if (asked) {
      native.batchStatus(this.#id, true);
      cancelled = statusRecord[STATUS.cancelled] !== 0;
    }
    return new Status(this.#peer, this.#tag, bytesIn(b), cancelled, b.BYTES_PER_ELEMENT);
  }

  /** Whether its latest activation was cancelled (`status.cancelled`; false while there is no status). */
  get cancelled(): boolean {
    return this.status?.cancelled === true;
  }

  /** @internal Whether this is a send. */
  get _sending(): boolean {
    return this.#kind === PKind.Send;
  }

  /** @internal What this request is, for messages about operations in flight. */
  _describe(): string {
    const on = `on ${commName(this.#comm, false)}`;
    if (this.#kind === PKind.Coll) return `a persistent collective ${on}`;
    return describeP2p(this.#kind === PKind.Send, undefined, this.#buffer!.byteLength, this.#peer, this.#tag, on);
  }

  #startable(what: string): number {
    if (this.#id < 0) throw codedError(Error, 'ERR_REQUEST_FREED', `${what}: this persistent request was freed`);
    if (this.active) {
      throw codedError(Error, 'ERR_REQUEST_ACTIVE', `${what}: this persistent request is active; wait for it (or await it) before starting it again`);
    }
    return this.#id;
  }

  /** Starts one activation (MPI_Start); the Request resolves as the matching nonblocking call's would. */
  start(): Request<T> {
    const slot = native.start(this.#startable('start'));
    const c = this.#comm;
    const r: Request<any> = this.#kind === PKind.Send ? Request._send(slot, this.#buffer!, this.#peer, this.#tag, c)
      : this.#kind === PKind.Recv ? Request._recv(slot, this.#buffer!, this.#peer, this.#tag, c)
      : Request._coll(slot, c, this.#result, this.#buffer, this.#keep, this.#divisor, this.#tag);
    this.#moveTo(this.#own);
    this.#own.request = r;
    return r as Request<T>;
  }

  /** Releases the request (MPI_Request_free); an active one must complete first. Freeing twice does nothing. */
  free(): void {
    if (this.#id < 0) return;
    native.requestFree(this.#startable('free'));
    this.#id = -1;
    this.#moveTo(this.#own); // a batch's array that lists it is checked in full, and names it freed
  }

  /** A batch that started this request again no longer describes its array (startAll checks it in full). */
  #moveTo(a: Activation): void {
    this.#latest.stale = true;
    this.#latest = a;
  }

  /** @internal Starts every request of `ps` with one MPI_Startall; one Request for the batch. */
  static _startAll(ps: readonly Prequest<any>[]): Request<void> {
    // A loop starts the same arrays again and again. When this array's requests were last started together,
    // by this array, none of them since, that batch has completed and the array lists the same requests,
    // each is known startable and their ids are at hand: comparing the elements is the whole check.
    const first = Array.isArray(ps) ? ps[0] : undefined;
    if (first instanceof Prequest) {
      const last = first.#latest;
      const items = last.items, n = items.length;
      if (last.list === ps && !last.stale && last.request!.done && ps.length === n) {
        let i = 0;
        while (i < n && ps[i] === items[i]) i++;
        if (i === n) {
          const batch = Request._batch(native.startAll(last.ids, n), first.#comm, ps);
          last.request = batch;
          return batch;
        }
      }
    }
    const ids = Prequest.#check(ps);
    const a = new Activation(Request._batch(native.startAll(ids, ps.length), ps[0]!.#comm, ps), ps, ids, ps.slice());
    for (const p of ps) p.#moveTo(a);
    return a.request!;
  }

  /** Checks each of `ps` can start now (JavaScript's errors, named by index); their ids. */
  static #check(ps: readonly Prequest<any>[]): Int32Array<ArrayBuffer> {
    if (!Array.isArray(ps) || ps.length === 0) {
      throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'prequests', 'a non-empty array of persistent requests', ps);
    }
    const ids = new Int32Array(ps.length);
    const listing = ++listings;
    for (let i = 0; i < ps.length; i++) {
      const p = ps[i];
      if (!(p instanceof Prequest)) throw notStartable(i, p, 'type');
      if (p.#divisor > 0) throw notStartable(i, p, 'avg');
      ids[i] = p.#startable('startAll');
      if (p.#listed === listing) throw notStartable(i, ps.indexOf(p), 'twice');
      p.#listed = listing;
    }
    return ids;
  }

  /** @internal */
  static _send(id: number, buf: TypedArray, dest: number, tag: number, comm: number): Prequest<Status> {
    return new Prequest(id, PKind.Send, buf, dest, tag, comm, undefined, undefined, 0);
  }
  /** @internal */
  static _recv(id: number, buf: TypedArray, source: number, tag: number, comm: number): Prequest<Status> {
    return new Prequest(id, PKind.Recv, buf, source, tag, comm, undefined, undefined, 0);
  }
  /**
   * @internal A persistent collective resolving to `result`; `view` is divided by `divisor` when > 0 (its
   * elements float16/bfloat16 when `half` is their kind, kept where a point-to-point request keeps its tag).
   */
  static _coll<R>(id: number, comm: number, result: R, view: TypedArray | undefined, keep: unknown, divisor: number, half = 0): Prequest<R> {
    return new Prequest<R>(id, PKind.Coll, view, 0, half, comm, result, keep, divisor);
  }
}

const NONE: readonly Prequest<any>[] = [];
const NO_IDS = new Int32Array(0);

/** What a persistent request last started with, and for a startAll batch, what it was started from. */
class Activation {
  /** Set when one of its requests starts again elsewhere or is freed. */
  stale = false;
  constructor(
    public request: Request<any> | undefined,
    /** The array startAll was given (NONE for a start()), its elements then, and their ids. */
    readonly list: readonly Prequest<any>[],
    readonly ids: Int32Array<ArrayBuffer>,
    readonly items: readonly Prequest<any>[],
  ) {}
}

// Numbers startAll's checks (Prequest #listed).
let listings = 0;

// Built apart from the check's loop: V8 computed the messages' `${i}` on every pass when they were inline.
function notStartable(i: number, p: unknown, why: 'type' | 'avg' | 'twice'): Error {
  if (why === 'type') return invalidParameterError('ERR_INVALID_ARG_TYPE', `prequests[${i}]`, 'a persistent request', p);
  if (why === 'avg') {
    return codedError(TypeError, 'ERR_OP', `startAll: prequests[${i}] averages ('avg'), which needs its own start(): ` +
      'a batch completes without running the division');
  }
  return codedError(Error, 'ERR_REQUEST_ACTIVE', `startAll: prequests[${i}] is also prequests[${p as number}]`);
}

/**
 * Starts every persistent request of `ps` at once (MPI_Startall) and returns one Request that resolves
 * (to undefined) when all have completed — await it, or wait() it (MPI_Waitall); then each request's
 * `status` is its part of the batch's statuses. Starting the array of the last batch of its requests
 * again, unchanged, costs a comparison of its elements instead of a check of each: keep the array.
 */
export function startAll(ps: readonly Prequest<any>[]): Request<void> {
  return Prequest._startAll(ps);
}
