// Communicators and point-to-point messaging. Arguments are checked here, before MPI is called, so a
// bad rank, tag or buffer is a TypeError/RangeError and the communicator stays usable.
import { C, native, onMpiErrors, statusRecord } from '../addon/binding.js';
import { asView, checkSignal, invalidParameterError, rankError, tagError, type BufferLike } from '../core/checks.js';
import { AbortError } from '../wire/errors.js';
import { fastResult, fastSlot, irecvFast, isendFast, recvFast, sendFast, setFastArgs, slotElementSize } from '../addon/fastpath.js';
import { dtypeInfo, type Dtype, type TypedArray } from '../core/dtypes.js';
import { ensureInit } from '../core/env.js';
import { codedError, type MpiError } from '../core/errors.js';
import { withInfo, type InfoLike } from '../core/info.js';
import { STATUS } from '../addon/native.js';
import { pin } from '../core/pin.js';
import { Prequest } from '../core/prequest.js';
import { Request, type Received } from '../core/request.js';
import { Status } from '../core/status.js';
import { nameComm } from './names.js';
import type { DeviceBuffer } from '../gpu/buffer.js';
import type { GpuRequest } from '../gpu/ops.js';
import { STAGED_HEADER_BYTES, stagedTail } from '../core/staged.js';

export const ANY_SOURCE = C.ANY_SOURCE;
export const ANY_TAG = C.ANY_TAG;
export const PROC_NULL = C.PROC_NULL;

export type Comparison = 'ident' | 'congruent' | 'similar' | 'unequal';

/** Array type of a dtype name, for receives of unknown size. */
export type ArrayOf<D extends Dtype> = D extends 'int8' ? Int8Array : D extends 'uint8' ? Uint8Array
  : D extends 'uint8clamped' ? Uint8ClampedArray : D extends 'int16' ? Int16Array
  : D extends 'uint16' | 'float16' | 'bfloat16' ? Uint16Array : D extends 'int32' ? Int32Array
  : D extends 'uint32' ? Uint32Array : D extends 'int64' ? BigInt64Array : D extends 'uint64' ? BigUint64Array
  : D extends 'float32' ? Float32Array : D extends 'float64' ? Float64Array : TypedArray;

// Error hooks (comm.onError), by handle: the user's and the private duplicate's. The addon calls the
// dispatcher from the binding that got the error code (never from inside MPI, where no JavaScript may
// run), before the error is thrown or a Request rejects with it; what a hook throws is used instead.
const errorHooks = new Map<number, (error: MpiError) => void>();
onMpiErrors((handle, error) => {
  const hook = errorHooks.get(handle);
  if (hook === undefined) return error;
  try {
    hook(error as MpiError);
    return error;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e), { cause: e });
  }
});

/**
 * @internal How DeviceBuffers travel over MPI (lib/gpu/p2p.ts registers it when the GPU module loads).
 * Point-to-point calls look for a DeviceBuffer only after the typed-array fast path has declined the
 * buffer, so host messages never pay for it.
 */
export interface DeviceMessages {
  is(buf: unknown): buf is DeviceBuffer;
  post(comm: Comm, buf: DeviceBuffer, peer: number, tag: number, isSend: boolean): GpuRequest<Status>;
}
let device: DeviceMessages | undefined;
/** @internal */
export function _setDeviceMessages(d: DeviceMessages): void {
  device = d;
}

let tagUb = -1;
/** @internal MPI_TAG_UB, read once. */
export function tagUpperBound(): number {
  if (tagUb < 0) tagUb = native.tagUpperBound();
  return tagUb;
}

/** `v` as a Comm, or the coded error naming the argument `what`. */
export function checkComm(v: unknown, what: string): Comm {
  if (!(v instanceof Comm)) throw invalidParameterError('ERR_INVALID_ARG_TYPE', what, 'a Comm', v);
  return v;
}

export class Comm {
  #handle: number;
  #internal: number;
  #rank = -1;
  #size = -1;
  /** The ranks point-to-point calls name: this group's size, or an intercommunicator's remote size. */
  #peers = -1;
  readonly #inter: boolean;
  #disconnected = false;

  /** @internal Made by world/self, dup and split; `inter` for an Intercomm (lib/comm/intercomm.ts). */
  constructor(handle: number, internal: number, inter = false) {
    this.#handle = handle;
    this.#internal = internal;
    this.#inter = inter;
    nameComm(handle, internal, handle === C.WORLD ? 'world' : handle === C.SELF ? 'self' : `communicator ${handle}`);
  }

  /** @internal The handle of this communicator, or of its private duplicate for library traffic. */
  _handle(internal = false): number {
    if (this.#size < 0) this.#ready();
    return internal ? this.#internal : this.#handle;
  }

  // World and self exist before MPI is initialised; rank and size are read on first use.
  #ready(): number {
    if (this.#handle < 0) {
      throw this.#disconnected ? codedError(Error, 'ERR_COMM_DISCONNECTED', 'this intercommunicator was disconnected')
        : codedError(TypeError, 'ERR_COMM_FREED', 'this communicator was freed');
    }
    ensureInit();
    this.#rank = native.commRank(this.#handle);
    this.#size = native.commSize(this.#handle);
    this.#peers = this.#inter ? native.commRemoteSize(this.#handle) : this.#size;
    return this.#size;
  }

  /**
   * @internal How many ranks a point-to-point call (or a channel) may name: the size, or for an
   * intercommunicator the remote group's size.
   */
  _peers(): number {
    if (this.#size < 0) this.#ready();
    return this.#peers;
  }

  /** Whether this is an intercommunicator (two groups; ranks name the remote group's processes). */
  get isInter(): boolean {
    return this.#inter;
  }

  get rank(): number {
    if (this.#size < 0) this.#ready();
    return this.#rank;
  }

  get size(): number {
    return this.#size < 0 ? this.#ready() : this.#size;
  }

  get freed(): boolean {
    return this.#handle < 0;
  }

  // ---- argument checks: the in-range tests stay here, inline (the hot path); lib/core/checks.ts makes the errors ----

  #dest(dest: number): number {
    if (this.#size < 0) this.#ready();
    const size = this.#peers;
    if (typeof dest === 'number' && (dest >>> 0) === dest && dest < size) return dest;
    if (dest === PROC_NULL) return dest;
    throw rankError('dest', dest, size, 'PROC_NULL');
  }

  #source(source: number): number {
    if (this.#size < 0) this.#ready();
    const size = this.#peers;
    if (typeof source === 'number' && (source >>> 0) === source && source < size) return source;
    if (source === ANY_SOURCE || source === PROC_NULL) return source;
    throw rankError('source', source, size, 'ANY_SOURCE or PROC_NULL');
  }

  #tag(tag: number, anyOk: boolean): number {
    if (typeof tag === 'number' && (tag >>> 0) === tag && tag <= 32767) return tag; // MPI guarantees at least 32767
    if (anyOk && tag === ANY_TAG) return tag;
    if (typeof tag === 'number' && (tag >>> 0) === tag && tag <= tagUpperBound()) return tag;
    throw tagError(tag, tagUpperBound(), anyOk);
  }

  #h(): number {
    if (this.#size < 0) this.#ready();
    return this.#handle;
  }

  // ---- communicator management ----

  /** A new communicator with the same group (MPI_Comm_dup). Collective. */
  dup(): Comm {
    const [h, i] = native.commDup(this.#h());
    return new Comm(h, i);
  }

  /**
   * Partitions this communicator by `color`; ranks are ordered by `key` then old rank. Collective.
   * Ranks passing `undefined` (MPI_UNDEFINED) join no new communicator and get null.
   */
  split(color: number | undefined, key: number = this.rank): Comm | null {
    if (color !== undefined && !(Number.isInteger(color) && color >= 0)) {
      throw invalidParameterError('ERR_INVALID_COLOR', 'color', 'a non-negative integer or undefined', color, RangeError);
    }
    if (!Number.isInteger(key)) throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'key', 'an integer', key);
    const r = native.commSplit(this.#h(), color === undefined ? C.UNDEFINED : color, key);
    return r === null ? null : new Comm(r[0], r[1]);
  }

  /**
   * The ranks that share memory with this one (one node), as MPI_Comm_split_type(SHARED). Collective.
   * `info`: hints for MPI (an Info or a plain object).
   */
  splitShared(key: number = this.rank, info?: InfoLike): Comm {
    if (!Number.isInteger(key)) throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'key', 'an integer', key);
    const h = this.#h();
    const r = withInfo(info, (i) => native.commSplitShared(h, key, i));
    if (r === null) throw new Error('MPI_Comm_split_type returned no communicator');
    return new Comm(r[0], r[1]);
  }

  compare(other: Comm): Comparison {
    checkComm(other, 'compare: other');
    const r = native.commCompare(this.#h(), other.#h());
    return r === C.IDENT ? 'ident' : r === C.CONGRUENT ? 'congruent' : r === C.SIMILAR ? 'similar' : 'unequal';
  }

  // ---- errors ----

  /**
   * Calls `hook` with every MpiError of a call on this communicator (blocking, or a Request's) before it
   * is thrown or the Request rejects with it; what the hook throws is thrown (or rejected) instead.
   * Argument errors found before MPI is called are not MPI's and do not reach it. `undefined` removes
   * the hook. MPI's own handler stays MPI_ERRORS_RETURN: the hook runs in the call that got the code.
   */
  onError(hook: ((error: MpiError) => void) | undefined): void {
    if (hook !== undefined && typeof hook !== 'function') {
      throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'hook', 'a function or undefined', hook);
    }
    const h = this.#h();
    for (const k of [h, this.#internal]) {
      if (hook === undefined) errorHooks.delete(k);
      else errorHooks.set(k, hook);
      native.setErrorHook(k, hook !== undefined);
    }
  }

  /**
   * MPI_ERRORS_ARE_FATAL on this communicator: its next MPI error aborts the whole job, as C MPI does by
   * default. `setErrorsFatal(false)` goes back to MPI_ERRORS_RETURN, the library's default (errors are
   * thrown as MpiError).
   */
  setErrorsFatal(fatal = true): void {
    const h = this.#h();
    native.commSetErrorsFatal(h, fatal);
    native.commSetErrorsFatal(this.#internal, fatal);
  }

  /** Frees this communicator and its private duplicate. World and self cannot be freed. */
  free(): void {
    this._release(false);
  }

  /** @internal free(), or with `disconnect` MPI_Comm_disconnect (Intercomm.disconnect). */
  _release(disconnect: boolean): void {
    const h = this.#h();
    if (h === C.WORLD || h === C.SELF) throw codedError(TypeError, 'ERR_COMM_PREDEFINED', 'world and self cannot be freed');
    errorHooks.delete(h);
    errorHooks.delete(this.#internal);
    native.commFree(this.#internal, disconnect);
    native.commFree(h, disconnect);
    this.#handle = this.#internal = -1;
    this.#size = this.#rank = this.#peers = -1;
    this.#disconnected = disconnect;
  }

  // ---- blocking point-to-point ----

  /**
   * Sends `buf` to `dest` (MPI_Send): the array's own memory is read, nothing is copied. A DeviceBuffer
   * goes to MPI as it is where MPI is CUDA-aware, else staged through pinned host memory (docs/gpu.md).
   */
  send(buf: BufferLike | DeviceBuffer, dest: number, tag = 0): void {
    const d = this.#dest(dest), t = this.#tag(tag, false), k = fastSlot(buf);
    if (k >= 0) {
      setFastArgs(k, d, t, this.#handle, 0);
      return sendFast();
    }
    if (device !== undefined && device.is(buf)) {
      device.post(this, buf, d, t, true).wait();
      return;
    }
    native.send(asView(buf, 'buf'), d, t, this.#handle, false, false);
  }

  /** Synchronous send (MPI_Ssend): returns once the receiver has started receiving. */
  ssend(buf: BufferLike, dest: number, tag = 0): void {
    native.send(asView(buf, 'buf'), this.#dest(dest), this.#tag(tag, false), this.#handle, true, false);
  }

  /**
   * Receives into `buf` (MPI_Recv) and returns the status. Given a dtype name instead of a buffer,
   * receives a message of any size into a fresh array of exactly its length (matched probe + receive).
   * `buf` may be a DeviceBuffer; a host array may receive a message sent from one.
   */
  recv(buf: BufferLike | DeviceBuffer, source?: number, tag?: number): Status;
  recv<D extends Dtype>(dtype: D, source?: number, tag?: number): Received<ArrayOf<D>>;
  recv(buf: BufferLike | DeviceBuffer | Dtype, source = ANY_SOURCE, tag = ANY_TAG): Status | Received {
    if (typeof buf === 'string') return this.#recvNew(buf, source, tag);
    const s = this.#source(source), t = this.#tag(tag, true), k = fastSlot(buf);
    if (k >= 0) {
      setFastArgs(k, s, t, this.#handle, 0);
      recvFast();
      if (statusRecord[STATUS.bytes] === STAGED_HEADER_BYTES) return this.#staged(buf as TypedArray);
      return Status._fromRecord(statusRecord, 0, slotElementSize[k]!);
    }
    if (device !== undefined && device.is(buf)) return device.post(this, buf, s, t, false).wait();
    const v = asView(buf, 'buf');
    native.recv(v, s, t, this.#handle, false);
    if (statusRecord[STATUS.bytes] === STAGED_HEADER_BYTES) return this.#staged(v);
    return Status._fromRecord(statusRecord, 0, v.BYTES_PER_ELEMENT);
  }

  // A blocking receive into `v` got 32 bytes (status in the record): a staged device message's header,
  // whose chunks follow, or an ordinary message.
  #staged(v: TypedArray): Status {
    const tail = stagedTail(v, statusRecord[STATUS.source]!, statusRecord[STATUS.tag]!, this.#internal);
    return tail ? tail.finish(v.BYTES_PER_ELEMENT) : Status._fromRecord(statusRecord, 0, v.BYTES_PER_ELEMENT);
  }

  #recvNew(dtype: Dtype, source: number, tag: number): Received<any> {
    const info = dtypeInfo(dtype);
    native.mprobe(this.#source(source), this.#tag(tag, true), this.#handle);
    const message = statusRecord[STATUS.message]!;
    const data = new info.array(Math.ceil(statusRecord[STATUS.bytes]! / info.size));
    if (message >= 0) native.mrecv(message, data, false); // else from PROC_NULL: nothing to receive
    if (statusRecord[STATUS.bytes] === STAGED_HEADER_BYTES) {
      const tail = stagedTail(data, statusRecord[STATUS.source]!, statusRecord[STATUS.tag]!, this.#internal,
        (bytes) => new info.array(Math.ceil(bytes / info.size)));
      if (tail) return { status: tail.finish(info.size), data: tail.into };
    }
    return { data, status: Status._fromRecord(statusRecord, 0, info.size) };
  }

  /** Sends and receives in one call (MPI_Sendrecv); safe against the deadlock of send-then-recv rings. */
  sendrecv(sendbuf: BufferLike, dest: number, recvbuf: BufferLike, source = ANY_SOURCE, sendtag = 0, recvtag = ANY_TAG): Status {
    const r = asView(recvbuf, 'recvbuf');
    native.sendrecv(asView(sendbuf, 'sendbuf'), this.#dest(dest), this.#tag(sendtag, false), r,
      this.#source(source), this.#tag(recvtag, true), this.#handle);
    return Status._fromRecord(statusRecord, 0, r.BYTES_PER_ELEMENT);
  }

  /** Sends `buf` and receives into the same buffer (MPI_Sendrecv_replace). */
  sendrecvReplace(buf: BufferLike, dest: number, source = ANY_SOURCE, sendtag = 0, recvtag = ANY_TAG): Status {
    const v = asView(buf, 'buf');
    native.sendrecvReplace(v, this.#dest(dest), this.#tag(sendtag, false), this.#source(source),
      this.#tag(recvtag, true), this.#handle);
    return Status._fromRecord(statusRecord, 0, v.BYTES_PER_ELEMENT);
  }

  /** Blocks until a matching message is available and returns its status (MPI_Probe); count is in bytes. */
  probe(source = ANY_SOURCE, tag = ANY_TAG): Status {
    native.probe(this.#source(source), this.#tag(tag, true), this.#handle);
    return Status._fromRecord(statusRecord, 0, 1);
  }

  /** The status of a matching message if one is available now (MPI_Iprobe), else undefined. */
  iprobe(source = ANY_SOURCE, tag = ANY_TAG): Status | undefined {
    if (!native.iprobe(this.#source(source), this.#tag(tag, true), this.#handle)) return undefined;
    return Status._fromRecord(statusRecord, 0, 1);
  }

  // ---- nonblocking point-to-point (await the Request, or test/wait it) ----

  /** Nonblocking send; for a DeviceBuffer, a GpuRequest (see send). */
  isend(buf: DeviceBuffer, dest: number, tag?: number): GpuRequest<Status>;
  isend(buf: BufferLike, dest: number, tag?: number): Request<Status>;
  isend(buf: BufferLike | DeviceBuffer, dest: number, tag = 0): Request<Status> | GpuRequest<Status> {
    const d = this.#dest(dest), t = this.#tag(tag, false), k = fastSlot(buf);
    if (k >= 0) {
      setFastArgs(k, d, t, this.#handle, 0);
      isendFast();
      return Request._send(fastResult(), buf as TypedArray, d, t, this.#handle);
    }
    if (device !== undefined && device.is(buf)) return device.post(this, buf, d, t, true);
    const v = asView(buf, 'buf');
    pin(v);
    return Request._send(native.send(v, d, t, this.#handle, false, true)!, v, d, t, this.#handle);
  }

  issend(buf: BufferLike, dest: number, tag = 0): Request<Status> {
    const v = asView(buf, 'buf');
    const d = this.#dest(dest), t = this.#tag(tag, false);
    pin(v);
    return Request._send(native.send(v, d, t, this.#handle, true, true)!, v, d, t, this.#handle);
  }

  // ---- persistent point-to-point (MPI_Send_init & co.: start() them again and again; lib/core/prequest.ts) ----

  /** A persistent send of `buf` to `dest` (MPI_Send_init): each start() sends the buffer's current contents. */
  sendInit(buf: BufferLike, dest: number, tag = 0): Prequest<Status> {
    const v = asView(buf, 'buf'), d = this.#dest(dest), t = this.#tag(tag, false);
    return Prequest._send(native.sendInit(v, d, t, this.#handle, false), v, d, t, this.#handle);
  }

  /** A persistent synchronous send (MPI_Ssend_init). */
  ssendInit(buf: BufferLike, dest: number, tag = 0): Prequest<Status> {
    const v = asView(buf, 'buf'), d = this.#dest(dest), t = this.#tag(tag, false);
    return Prequest._send(native.sendInit(v, d, t, this.#handle, true), v, d, t, this.#handle);
  }

  /** A persistent receive into `buf` (MPI_Recv_init). */
  recvInit(buf: BufferLike, source = ANY_SOURCE, tag = ANY_TAG): Prequest<Status> {
    const v = asView(buf, 'buf'), s = this.#source(source), t = this.#tag(tag, true);
    return Prequest._recv(native.recvInit(v, s, t, this.#handle), v, s, t, this.#handle);
  }

  /**
   * Nonblocking receive into `buf`, or, given a dtype name, into a fresh array of the message's size;
   * for a DeviceBuffer, a GpuRequest (see recv). `options.signal` cancels the receive (MPI_Cancel): the
   * Request then rejects with AbortError (code 'ABORT_ERR') and the message, when it comes, is left for
   * the next receive; if it had already matched, the Request completes with it.
   */
  irecv(buf: DeviceBuffer, source?: number, tag?: number): GpuRequest<Status>;
  irecv(buf: BufferLike, source?: number, tag?: number, options?: IrecvOptions): Request<Status>;
  irecv<D extends Dtype>(dtype: D, source?: number, tag?: number, options?: IrecvOptions): Request<Received<ArrayOf<D>>>;
  irecv(buf: BufferLike | DeviceBuffer | Dtype, source = ANY_SOURCE, tag = ANY_TAG, options?: IrecvOptions): Request<Status> | Request<Received> | GpuRequest<Status> {
    if (options !== undefined) return this.#irecvAbortable(buf, source, tag, options);
    if (typeof buf === 'string') {
      const info = dtypeInfo(buf);
      const s = this.#source(source), t = this.#tag(tag, true);
      return Request._recvNew(native.improbe(s, t, this.#handle), info, s, t, this.#handle, this.#internal);
    }
    const s = this.#source(source), t = this.#tag(tag, true), k = fastSlot(buf);
    if (k >= 0) {
      setFastArgs(k, s, t, this.#handle, 0);
      irecvFast();
      return Request._recv(fastResult(), buf as TypedArray, s, t, this.#handle, this.#internal);
    }
    if (device !== undefined && device.is(buf)) return device.post(this, buf, s, t, false);
    const v = asView(buf, 'buf');
    pin(v);
    return Request._recv(native.recv(v, s, t, this.#handle, true)!, v, s, t, this.#handle, this.#internal);
  }

  // irecv with options: checked, then posted as without them and tied to the signal.
  #irecvAbortable(buf: BufferLike | DeviceBuffer | Dtype, source: number, tag: number, options: IrecvOptions): Request<any> {
    if (options === null || typeof options !== 'object') throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'irecv: options', 'an object', options);
    const signal = checkSignal(options.signal, 'irecv: signal');
    if (signal !== undefined && device !== undefined && device.is(buf)) {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'irecv: a DeviceBuffer receive takes no signal (its staged chunks cannot be cancelled one by one)');
    }
    const s = this.#source(source), t = this.#tag(tag, true);
    const aborted = () => new AbortError(`irecv from ${s === ANY_SOURCE ? 'any source' : `rank ${s}`} was aborted`,
      { operation: 'irecv', peer: s, cause: signal!.reason });
    if (signal?.aborted) return Request._rejected(aborted());
    const r = this.irecv(buf as BufferLike, s, t);
    return signal === undefined ? r : r._abortOn(signal, aborted);
  }
}

/** Options of Comm.irecv. */
export interface IrecvOptions {
  /** Cancels the receive when aborted (see Comm.irecv). */
  signal?: AbortSignal | undefined;
}

/** All processes of the job. MPI is initialised on first use unless init() was called before. */
export const world = new Comm(C.WORLD, C.WORLD_INTERNAL);
/** This process alone. */
export const self = new Comm(C.SELF, C.SELF_INTERNAL);
