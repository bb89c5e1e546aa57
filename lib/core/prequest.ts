// Persistent requests (MPI-4.1 §3.9, mpi4py's Prequest): a send, receive or collective set up once with
// its buffer, envelope and op, then started again and again. For loops that move the same buffers every
// iteration (halo exchange, windows, pipelines): MPI prepares the operation once, and a batch started
// with startAll() is one MPI_Startall and one completion (MPI_Waitall without statuses) for all of it.
import { native } from '../addon/binding.js';
import { invalidParameterError } from './checks.js';
import type { TypedArray } from './dtypes.js';
import { codedError } from './errors.js';
import { pin, pinAll } from './pin.js';
import { Request } from './request.js';
import type { Status } from './status.js';

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
  #current: Request<any> | undefined;
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
    return this.#current !== undefined && !this.#current.done;
  }

  get freed(): boolean {
    return this.#id < 0;
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
    this.#current = r;
    return r as Request<T>;
  }

  /** Releases the request (MPI_Request_free); an active one must complete first. Freeing twice does nothing. */
  free(): void {
    if (this.#id < 0) return;
    native.requestFree(this.#startable('free'));
    this.#id = -1;
  }

  /** @internal Starts every request of `ps` with one MPI_Startall; one Request for the batch. */
  static _startAll(ps: readonly Prequest<any>[]): Request<void> {
    if (!Array.isArray(ps) || ps.length === 0) {
      throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'prequests', 'a non-empty array of persistent requests', ps);
    }
    if (ids.length < ps.length) ids = new Int32Array(Math.max(ps.length, ids.length * 2));
    const listing = ++listings;
    for (let i = 0; i < ps.length; i++) {
      const p = ps[i];
      if (!(p instanceof Prequest)) {
        throw invalidParameterError('ERR_INVALID_ARG_TYPE', `prequests[${i}]`, 'a persistent request', p);
      }
      if (p.#divisor > 0) {
        throw codedError(TypeError, 'ERR_OP', `startAll: prequests[${i}] averages ('avg'), which needs its own start(): ` +
          'a batch completes without running the division');
      }
      ids[i] = p.#startable('startAll');
      if (p.#listed === listing) {
        throw codedError(Error, 'ERR_REQUEST_ACTIVE', `startAll: prequests[${i}] is also prequests[${ps.indexOf(p)}]`);
      }
      p.#listed = listing;
    }
    const batch = Request._batch(native.startAll(ids, ps.length), ps[0]!.#comm, ps);
    for (const p of ps) p.#current = batch;
    return batch;
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

let ids = new Int32Array(64);
// Numbers startAll calls (Prequest #listed).
let listings = 0;

/**
 * Starts every persistent request of `ps` at once (MPI_Startall) and returns one Request that resolves
 * (to undefined) when all have completed — await it, or wait() it (MPI_Waitall). Statuses are not
 * collected; start() one request for its Status.
 */
export function startAll(ps: readonly Prequest<any>[]): Request<void> {
  return Prequest._startAll(ps);
}
