// NCCL communicators over MPI communicators. Every operation runs on the communicator's own stream and
// returns a GpuRequest resolved when a CUDA event recorded behind it completes (polled, never blocking
// the event loop); its buffers stay referenced until then. An operation that misses its deadline
// aborts the communicator (ncclCommAbort) and rejects with NcclTimeoutError rather than hang; an
// asynchronous NCCL error does the same with NcclError ERR_NCCL_ASYNC. dispose() is explicit and never
// happens from a finalizer: tearing a communicator down involves its peers.
//
// Creation has the same deadline: the communicator is made non-blocking (ncclCommInitRankConfig,
// config.blocking = 0, NCCL >= 2.14) and polled (native/gpu/nccl.cc, NcclCreation), so a rank that
// never joins costs a NcclTimeoutError, not a hung job. gpu.nccl() blocks the calling thread until the
// communicator exists (like torch.distributed.init_process_group: a training script has nothing to do
// before it); gpu.ncclAsync() does not block the event loop. On a non-blocking communicator NCCL may
// still be enqueueing an operation from a thread of its own when the call returns (ncclInProgress):
// the call waits for that, within the operation's deadline, before the completion event is recorded.
import { native } from '../addon/binding.js';
import { world, type Comm } from '../comm/comm.js';
import { ensureInit } from '../core/env.js';
import { blocks } from '../coll/args.js';
import { checkRank, checkRoot, invalidParameterError, tooSmall } from '../core/checks.js';
import { codedError } from '../core/errors.js';
import { DeviceBuffer } from './buffer.js';
import { ensureDevice } from './device.js';
import { AVG_SINCE, NCCL_OPS, atLeast, versionText, type NcclOpName, type Version } from './dtypes.js';
import { NcclError, NcclMismatchError } from './errors.js';
import { loadedNcclVersion, requireNccl, status } from './loader.js';
import { GpuRequest, failure } from './ops.js';

export interface NcclCommOptions {
  /**
   * Deadline of the creation and of each operation, in ms (0: none). Default: MPI4NODE_NCCL_TIMEOUT_MS,
   * else 300000.
   */
  timeoutMs?: number;
  /**
   * A blocking communicator (NCCL's default mode): creation and each launch block inside NCCL, with no
   * deadline for creation, but without the launch thread NCCL starts per call of a non-blocking one.
   * Default false; a NCCL without ncclCommInitRankConfig (< 2.14) gives a blocking one regardless (see
   * `blocking` on the communicator, and gpu.status().nccl.features.nonblocking).
   */
  blocking?: boolean;
  /**
   * Before launching each operation, check across ranks that every rank issued the same one (kind,
   * count, dtype, op, root; sends against receives pairwise) and throw NcclMismatchError instead of
   * hanging. Costs an MPI exchange per operation. Default: MPI4NODE_NCCL_DEBUG=1.
   */
  debug?: boolean;
}

export interface NcclOpOptions {
  /** This operation's deadline in ms, instead of the communicator's. */
  timeoutMs?: number;
}

const KIND = { allreduce: 0, broadcast: 1, reduce: 2, allgather: 3, reduceScatter: 4, send: 5, recv: 6 } as const;
type Kind = keyof typeof KIND;
const KIND_NAMES = Object.keys(KIND) as Kind[];
const OP_NAMES = Object.fromEntries(Object.entries(NCCL_OPS).map(([k, v]) => [v, k])) as Record<number, string>;
const SIG = 6; // kind, count, dtype, op, root/peer, sequence

// NCCL's group state is per OS thread, so ours is per module (one per Node environment).
let groupDepth = 0;
let groupOps: Promise<unknown>[] = [];

function defaultTimeout(): number {
  const v = Number(process.env.MPI4NODE_NCCL_TIMEOUT_MS);
  return Number.isFinite(v) && v >= 0 && process.env.MPI4NODE_NCCL_TIMEOUT_MS !== '' ? v : 300_000;
}

/** Opens a group: operations issued until the matching groupEnd() are launched together. */
export function groupStart(): void {
  requireNccl();
  native.gpu.ncclGroupStart();
  if (groupDepth++ === 0) groupOps = [];
}

/** Closes a group; at the outermost one the work is launched. Resolves when all of it has completed. */
export function groupEnd(): Promise<void> {
  if (groupDepth === 0) throw codedError(TypeError, 'ERR_NCCL_GROUP', 'groupEnd() without groupStart()');
  native.gpu.ncclGroupEnd();
  if (--groupDepth > 0) return Promise.resolve();
  const ops = groupOps;
  groupOps = [];
  return Promise.all(ops).then(() => undefined);
}

/** Runs `fn` inside groupStart()/groupEnd(): its operations are one launch. */
export function group(fn: () => void): Promise<void> {
  groupStart();
  try {
    fn();
  } catch (e) {
    void groupEnd().catch(() => {});
    throw e;
  }
  return groupEnd();
}

export class NcclComm {
  /** The MPI communicator this one was made from. */
  readonly comm: Comm;
  readonly rank: number;
  readonly size: number;
  /** The device this communicator's ranks use (the current device at creation). */
  readonly device: number;
  /** Whether NCCL runs it in blocking mode (see NcclCommOptions.blocking). */
  readonly blocking: boolean;
  timeoutMs: number;
  debug: boolean;
  #id: number;
  #seq = 0;
  #pending = 0;
  #aborted = false;

  /**
   * Collective over `comm`: rank 0 makes the NCCL unique id and MPI broadcasts it. Blocks until every
   * rank has joined, or throws NcclTimeoutError once `timeoutMs` has passed.
   */
  constructor(comm?: Comm, options?: NcclCommOptions);
  /** @internal A communicator the addon made (gpu.ncclAsync). */
  constructor(comm: Comm, options: NcclCommOptions, made: number);
  constructor(comm: Comm = world, options: NcclCommOptions = {}, made?: number) {
    const timeoutMs = creation(options);
    const id = made ?? native.gpu.ncclCreate(comm._handle(), timeoutMs, options.blocking !== true);
    const [rank, size, device, nonblocking] = native.gpu.ncclInfo(id);
    this.comm = comm;
    this.#id = id;
    this.rank = rank;
    this.size = size;
    this.device = device;
    this.blocking = !nonblocking;
    this.timeoutMs = timeoutMs;
    this.debug = options.debug ?? process.env.MPI4NODE_NCCL_DEBUG === '1';
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get disposed(): boolean {
    return this.#id < 0;
  }

  /** Operations in flight. */
  get pending(): number {
    return this.#pending;
  }

  /** Every rank's `send` combined with `op`, into `recv` (default: in place). Resolves to `recv`. */
  allreduce(send: DeviceBuffer, op: NcclOpName = 'sum', recv: DeviceBuffer = send, options?: NcclOpOptions): GpuRequest<DeviceBuffer> {
    this.#same(send, recv, send.length, recv.length, 'allreduce');
    return this.#op('allreduce', send, recv, send.length, op, -1, options, () => recv);
  }

  /** The root's `buf` to every rank's `recv` (default: `buf`, in place). Resolves to `recv`. */
  broadcast(buf: DeviceBuffer, root = 0, recv: DeviceBuffer = buf, options?: NcclOpOptions): GpuRequest<DeviceBuffer> {
    this.#same(buf, recv, buf.length, recv.length, 'broadcast');
    return this.#op('broadcast', buf, recv, buf.length, undefined, checkRoot(root, this.size, 'broadcast'), options, () => recv);
  }

  /** Every rank's `send` combined with `op` into the root's `recv` (default in place); others get undefined. */
  reduce(send: DeviceBuffer, op: NcclOpName = 'sum', root = 0, recv: DeviceBuffer = send, options?: NcclOpOptions): GpuRequest<DeviceBuffer | undefined> {
    const r = checkRoot(root, this.size, 'reduce');
    this.#same(send, recv, send.length, recv.length, 'reduce');
    return this.#op('reduce', send, recv, send.length, op, r, options, () => (this.rank === r ? recv : undefined));
  }

  /** Every rank's `send`, concatenated in rank order into `recv` (size × send.length; fresh if omitted). */
  allgather(send: DeviceBuffer, recv?: DeviceBuffer, options?: NcclOpOptions): GpuRequest<DeviceBuffer> {
    const out = recv ?? new DeviceBuffer(send.dtype, send.length * this.size);
    this.#same(send, out, send.length * this.size, out.length, 'allgather');
    return this.#op('allgather', send, out, send.length, undefined, -1, options, () => out);
  }

  /** `send` (size equal blocks) combined with `op`; rank r gets block r in `recv` (fresh if omitted). */
  reduceScatter(send: DeviceBuffer, op: NcclOpName = 'sum', recv?: DeviceBuffer, options?: NcclOpOptions): GpuRequest<DeviceBuffer> {
    const count = blocks(send.length, this.size, 'reduceScatter', 'send');
    const out = recv ?? new DeviceBuffer(send.dtype, count);
    this.#same(send, out, count, out.length, 'reduceScatter');
    return this.#op('reduceScatter', send, out, count, op, -1, options, () => out);
  }

  /** Sends `buf` to `peer` (ncclSend); pair it with peer's recv, both inside a group when both send. */
  send(buf: DeviceBuffer, peer: number, options?: NcclOpOptions): GpuRequest<DeviceBuffer> {
    return this.#op('send', buf, undefined, buf.length, undefined, checkRank(peer, this.size, 'peer'), options, () => buf);
  }

  /** Receives `buf.length` elements from `peer` into `buf` (ncclRecv). */
  recv(buf: DeviceBuffer, peer: number, options?: NcclOpOptions): GpuRequest<DeviceBuffer> {
    return this.#op('recv', undefined, buf, buf.length, undefined, checkRank(peer, this.size, 'peer'), options, () => buf);
  }

  /** Runs `fn` as one NCCL group (see group()). */
  group(fn: () => void): Promise<void> {
    return group(fn);
  }

  /** ncclCommAbort: local and immediate; operations in flight reject with ERR_NCCL_ABORTED. */
  abort(): void {
    if (this.#id < 0 || this.#aborted) return;
    native.gpu.ncclAbort(this.#id);
    this.#aborted = true;
  }

  /** Destroys the communicator (call it on every rank). Refused while operations are in flight. */
  dispose(): void {
    if (this.#id < 0) return;
    if (this.#pending > 0 && !this.#aborted) {
      throw codedError(TypeError, 'ERR_NCCL_BUSY', `cannot dispose an NCCL communicator with ${this.#pending} operation(s) in flight`);
    }
    const id = this.#id;
    this.#id = -1;
    native.gpu.ncclDestroy(id);
  }

  // ---- internals ----

  // The receive buffer `b` of operation `what` on data `a`: the same dtype, and room for `need` elements.
  #same(a: DeviceBuffer, b: DeviceBuffer, need: number, have: number, what: string): void {
    if (a.dtype !== b.dtype) throw codedError(TypeError, 'ERR_DTYPE_MISMATCH', `${what}: recv holds ${b.dtype} but the data is ${a.dtype}`);
    if (have < need) tooSmall(what, 'recv', need, have);
  }

  #usable(): number {
    if (this.#id < 0) throw codedError(TypeError, 'ERR_NCCL_DISPOSED', 'this NCCL communicator was disposed');
    if (this.#aborted) throw new NcclError('the NCCL communicator was aborted: it cannot be used again', 'ERR_NCCL_ABORTED');
    return this.#id;
  }

  // Refuses, with the reason, what this NCCL cannot do (the version gates of bf16, fp8 and avg).
  #supported(buf: DeviceBuffer, op: NcclOpName | undefined): number {
    const info = buf._info;
    if (info.nccl < 0) throw new NcclError(`NCCL has no ${info.name} type (use a 1-, 4- or 8-byte integer type or a float type)`, 'ERR_NCCL_DTYPE');
    const v = loadedNcclVersion();
    const tooOld = (what: string, min: Version) =>
      new NcclError(`${what} needs NCCL >= ${versionText(min)}, but the NCCL loaded (${status().nccl.path}) is ${versionText(v)}`, 'ERR_NCCL_VERSION');
    if (info.since && !atLeast(v, info.since)) throw tooOld(info.name, info.since);
    if (op !== undefined) {
      if (!(op in NCCL_OPS)) throw invalidParameterError('ERR_OP', 'op', `one of ${Object.keys(NCCL_OPS).join(', ')}`, op);
      if (op === 'avg' && !atLeast(v, AVG_SINCE)) throw tooOld("the 'avg' op", AVG_SINCE);
      // NCCL runs 'avg' on fp8 as a pre-multiplied sum, which its one-rank path (src/device/onerank.cu)
      // has no fp8 case for: ncclInvalidArgument at launch, in every version from 2.24.3 to 2.30.7.
      if (op === 'avg' && info.size === 1 && info.name.startsWith('float8') && this.size === 1) {
        throw new NcclError(`NCCL refuses 'avg' on ${info.name} over a one-rank communicator (its one-rank path has no ` +
          "fp8 pre-multiplied sum); over one rank the average is the data itself: copy it, or use 'sum'", 'ERR_NCCL_UNSUPPORTED');
      }
    }
    return info.nccl;
  }

  #op<R>(kind: Kind, send: DeviceBuffer | undefined, recv: DeviceBuffer | undefined, count: number, op: NcclOpName | undefined,
    rootOrPeer: number, options: NcclOpOptions | undefined, result: () => R): GpuRequest<R> {
    const id = this.#usable();
    const buf = (send ?? recv)!;
    if (!(buf instanceof DeviceBuffer) || (recv !== undefined && !(recv instanceof DeviceBuffer))) {
      throw codedError(TypeError, 'ERR_INVALID_BUFFER', 'NCCL operations take DeviceBuffers');
    }
    for (const b of [send, recv]) {
      if (b && b.device !== this.device) {
        throw codedError(RangeError, 'ERR_WRONG_DEVICE', `a buffer on device ${b.device} cannot be used by an NCCL communicator of device ${this.device}`);
      }
    }
    const dtype = this.#supported(buf, op);
    const opCode = op === undefined ? 0 : NCCL_OPS[op];
    const timeoutMs = options?.timeoutMs ?? this.timeoutMs;
    if (!(timeoutMs >= 0)) throw invalidParameterError('ERR_INVALID_ARG_VALUE', 'timeoutMs', 'a non-negative number', timeoutMs, RangeError);
    if (this.debug) this.#check(kind, count, dtype, op === undefined ? -1 : opCode, rootOrPeer);
    // In place, the one buffer is written; out of place, send is only read.
    const sendH = send ? send._use(send === recv) : -1, recvH = recv ? recv._use(true) : -1;
    let opId: number;
    try {
      opId = native.gpu.ncclOp(id, KIND[kind], sendH, send ? send.byteOffset : 0, recvH, recv ? recv.byteOffset : 0,
        count, dtype, opCode, rootOrPeer, timeoutMs);
    } catch (e) {
      // A launch that NCCL was still enqueueing when its deadline passed aborted the communicator.
      if (e instanceof NcclError) this.#noteFailure(e);
      throw e;
    }
    this.#pending++;
    const others = send && recv && recv !== send ? [recv] : [];
    const req = buf._track(opId, (c) => {
      this.#pending--;
      if ((c as { error?: Error }).error instanceof NcclError) this.#noteFailure((c as { error?: Error }).error as NcclError);
      return result();
    }, [], others);
    if (groupDepth > 0) groupOps.push(req);
    return req;
  }

  // A timeout or asynchronous error aborted the communicator in the addon; remember it here.
  #noteFailure(e: NcclError): void {
    if (e.code === 'ERR_NCCL_TIMEOUT' || e.code === 'ERR_NCCL_ASYNC' || e.code === 'ERR_NCCL_ABORTED') this.#aborted = true;
  }

  // Debug mode: every rank's signature, compared before anything is launched.
  #check(kind: Kind, count: number, dtype: number, op: number, rootOrPeer: number): void {
    const seq = this.#seq++;
    const mine = new Float64Array([KIND[kind], count, dtype, op, rootOrPeer, seq]);
    if (kind === 'send' || kind === 'recv') {
      const theirs = native.gpu.ncclCheckPeer(this.#id, rootOrPeer, kind === 'send', mine);
      if (theirs === null) return;
      const ok = theirs[0] === KIND.send && theirs[1] === count && theirs[2] === dtype;
      if (!ok) {
        const issued = [`rank ${this.rank}: ${describe(mine)}`, `rank ${rootOrPeer}: ${describe(theirs)}`];
        throw new NcclMismatchError(`NCCL debug: rank ${this.rank}'s recv from rank ${rootOrPeer} does not match what that ` +
          `rank sent:\n  ${issued.join('\n  ')}`, issued);
      }
      return;
    }
    const all = native.gpu.ncclCheck(this.#id, mine);
    const issued: string[] = [];
    let differ = false;
    for (let r = 0; r < this.size; r++) {
      const s = all.subarray(r * SIG, (r + 1) * SIG);
      issued.push(`rank ${r}: ${describe(s)}`);
      for (let k = 0; k < 5; k++) if (s[k] !== all[k]) differ = true;
    }
    if (differ) {
      throw new NcclMismatchError(`NCCL debug: the ranks did not issue the same operation (operation #${seq} on this ` +
        `communicator); launched, it would hang or corrupt data:\n  ${issued.join('\n  ')}`, issued);
    }
  }
}

function describe(s: Float64Array): string {
  const kind = KIND_NAMES[s[0]!] ?? `kind ${s[0]}`;
  const dtype = ['int8', 'uint8', 'int32', 'uint32', 'int64', 'uint64', 'float16', 'float32', 'float64', 'bfloat16',
    'float8e4m3', 'float8e5m2'][s[2]!] ?? `dtype ${s[2]}`;
  const parts = [`count=${s[1]}`, dtype];
  if (s[3]! >= 0) parts.push(OP_NAMES[s[3]!] ?? `op ${s[3]}`);
  if (kind === 'broadcast' || kind === 'reduce') parts.push(`root=${s[4]}`);
  if (kind === 'send') parts.push(`to rank ${s[4]}`);
  if (kind === 'recv') parts.push(`from rank ${s[4]}`);
  return `${kind}(${parts.join(', ')})`;
}

// Checks common to both forms of creation; the deadline.
function creation(options: NcclCommOptions): number {
  requireNccl();
  ensureInit();
  ensureDevice();
  const timeoutMs = options.timeoutMs ?? defaultTimeout();
  if (!(timeoutMs >= 0)) throw invalidParameterError('ERR_INVALID_ARG_VALUE', 'timeoutMs', 'a non-negative number', timeoutMs, RangeError);
  return timeoutMs;
}

/**
 * Makes an NCCL communicator over `comm` (collective); see NcclComm. Blocks the calling thread until
 * every rank has joined, or throws NcclTimeoutError after `timeoutMs`.
 */
export function nccl(comm: Comm = world, options?: NcclCommOptions): NcclComm {
  return new NcclComm(comm, options);
}

/**
 * gpu.nccl() without blocking the event loop: resolves to the communicator once every rank has
 * joined, or rejects with NcclTimeoutError after `timeoutMs` (then nothing is left to dispose).
 * Collective over `comm`, like gpu.nccl(); wait() blocks for it.
 */
export function ncclAsync(comm: Comm = world, options: NcclCommOptions = {}): GpuRequest<NcclComm> {
  const timeoutMs = creation(options);
  const id = native.gpu.ncclInit(comm._handle(), timeoutMs, options.blocking !== true);
  return new GpuRequest<NcclComm>(id, (c) => (failure(c) ? (undefined as never) : new NcclComm(comm, { ...options, timeoutMs }, c.source)),
    [comm]);
}

/** Groups in progress (for tests and sanity checks). @internal */
export function _groupDepth(): number {
  return groupDepth;
}
