// One-sided communication (MPI-4.1 chapter 12): windows of memory that other ranks put into, get from
// and accumulate into, synchronised by fences (active target) or locks (passive target). See
// docs/rma.md.
//
// What the library adds to MPI's calls:
// - Epochs are tracked here, and an operation MPI calls erroneous (a put outside any epoch, an unlock
//   without a lock, a fence inside a lock epoch, a request-based operation outside a passive one) is an
//   Error with code ERR_RMA_SYNC before MPI is called; MPI's behaviour there is undefined.
// - Every rank's window size and displacement unit are exchanged when the window is made (creation is
//   collective anyway), so a target range outside the target's window is a RangeError ERR_RMA_RANGE
//   here rather than memory corruption there.
// - Memory MPI reads or writes outlives the calls that hand it over: the window's own memory until
//   free(), an operation's origin or result buffer until the call that completes it (flush, unlock,
//   fence). The window holds them and marks them untransferable (lib/core/pin.ts) meanwhile. Memory MPI
//   allocated (allocateWindow, shared windows) is detached at free(), so a view kept past it is empty.
// - One-sided accumulates take MPI's predefined ops only (no user-defined or library ops), so where an
//   MPI's own op is wrong the operation is refused with ERR_OP naming the fault (Open MPI's saturating
//   8/16-bit sums, MPICH's signed compare of unsigned min/max; both asked of the MPI, native/mpi/ops.h).
// - Open MPI 4.1 (Debian's build, whose openmpi-mca-params.conf sets osc = ^ucx,pt2pt) makes windows
//   with osc/rdma on one host, osc/sm for shared windows. osc/rdma cannot make an MPI_Win_create window
//   on a communicator of one rank (MPI_ERR_WIN; allocateWindow works), and its compare-and-swap of
//   8-byte elements crashes the process in the vader BTL (open-mpi/ompi#7967), so that is refused with
//   ERR_UNSUPPORTED_OPERATION unless the job chose other components (--mca osc sm,pt2pt). Across hosts
//   osc/rdma has no transport and osc/pt2pt is needed: start such jobs with --mca osc sm,pt2pt
//   (docs/rma.md; the launcher does not add it, and nothing across hosts was run here).
// - MPICH serves passive-target operations on a rank's window only inside that rank's MPI calls
//   (measured: an accumulate into a rank that sleeps 2 s completes after 2 s). While a window exists the
//   library lets MPI progress every millisecond from the event loop (an unref'd timer), so a rank
//   awaiting something still serves its window; a rank that computes without returning to the event
//   loop does not. Open MPI's osc/sm and osc/rdma on one host need none of this.
// - MPICH 4.0.2 (ch4:ucx) makes only whole 16-byte blocks of an MPI_Win_allocate window reachable: a put
//   into the last size % 16 bytes is lost (measured in C: of a 24-byte window, 16 bytes arrive). So
//   allocateWindow asks MPI for a multiple of 16 bytes and shows the count asked for.
import { C, native } from '../addon/binding.js';
import { fastSlot, RMA_ACCUMULATE, RMA_FLUSH, RMA_FLUSH_LOCAL, RMA_GET, RMA_OP_SHIFT, RMA_PUT, rmaFast, setFastArgs } from '../addon/fastpath.js';
import { asView, bytesIn, checkCount, checkRank, invalidParameterError, isRank, rankError, isTypedArray, sameDtype, tooSmall } from '../core/checks.js';
import { dtypeInfo, dtypeOf, type Dtype, type DtypeInfo, type TypedArray } from '../core/dtypes.js';
import { ensureInit } from '../core/env.js';
import { codedError, MpiError } from '../core/errors.js';
import { heldUntilFinalize, released } from '../core/exit.js';
import { pin } from '../core/pin.js';
import { Request } from '../core/request.js';
import { Comm, PROC_NULL, type ArrayOf } from '../comm/comm.js';
import { allgather } from '../coll/impl.js';
import { AVG, NO_OP, REPLACE, resolveOp, type OpName } from '../coll/ops.js';
import type { BufferLike } from '../core/checks.js';

/** The ops of the one-sided accumulates: MPI's predefined ones, plus 'replace' (a put, atomic per element) and 'no_op' (a read). */
export type RmaOpName = Exclude<OpName, 'avg'> | 'replace' | 'no_op';
export type LockType = 'exclusive' | 'shared';
export type WindowFlavor = 'create' | 'allocate' | 'dynamic' | 'shared';

export interface WindowOptions {
  /** MPI info hints (e.g. { no_locks: 'true', accumulate_ordering: 'none', alloc_shared_noncontig: 'true' }). */
  info?: Record<string, string>;
  /**
   * Let MPI progress every millisecond from the event loop while the window exists, so that other
   * ranks' passive-target operations on it complete while this rank is idle. Default: true on MPICH and
   * where Open MPI runs osc/pt2pt (which need it), false elsewhere.
   */
  progress?: boolean;
}

/** Assertions of a fence (MPI_MODE_*): promises that let MPI skip work. */
export interface FenceAssert {
  /** No local store to the window since the last synchronisation. */
  nostore?: boolean;
  /** No put or accumulate will target this window until the next synchronisation. */
  noput?: boolean;
  /** The fence ends no epoch: no RMA call since the previous one. */
  noprecede?: boolean;
  /** The fence starts no epoch: no RMA call follows before the next one. */
  nosucceed?: boolean;
}

export interface LockAssert {
  /** No other rank holds or will try for a conflicting lock meanwhile (MPI_MODE_NOCHECK). */
  nocheck?: boolean;
}

const FLAVORS: WindowFlavor[] = ['create', 'allocate', 'dynamic', 'shared'];

function fenceBits(a: FenceAssert | undefined): number {
  if (a === undefined) return 0;
  if (a === null || typeof a !== 'object') throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'fence: assert', 'an object of flags', a);
  return (a.nostore ? 2 : 0) | (a.noput ? 4 : 0) | (a.noprecede ? 8 : 0) | (a.nosucceed ? 16 : 0);
}

function lockBits(a: LockAssert | undefined, what: string): number {
  if (a === undefined) return 0;
  if (a === null || typeof a !== 'object') throw invalidParameterError('ERR_INVALID_ARG_TYPE', `${what}: assert`, 'an object { nocheck }', a);
  return a.nocheck ? 1 : 0;
}

function infoArg(info: unknown, what: string): string[] | null {
  if (info === undefined) return null;
  if (info === null || typeof info !== 'object') throw invalidParameterError('ERR_INVALID_ARG_TYPE', `${what}: info`, 'an object of strings', info);
  const kv: string[] = [];
  for (const [k, v] of Object.entries(info)) {
    if (typeof v !== 'string') throw invalidParameterError('ERR_INVALID_ARG_TYPE', `${what}: info.${k}`, 'a string', v);
    kv.push(k, v);
  }
  return kv;
}

function epochError(what: string, why: string) {
  return codedError(Error, 'ERR_RMA_SYNC', `${what}: ${why}`);
}

// ---- MPI's faulty ops, asked once ----

let quirks: { unsignedMinMax: boolean; narrowSumSaturates: boolean } | undefined;
const NARROW = new Set<Dtype>(['int8', 'uint8', 'int16', 'uint16']);
const UNSIGNED = new Set<Dtype>(['uint8', 'uint8clamped', 'uint16', 'uint32', 'uint64']);

/** The op code of a one-sided accumulate over `d`, or ERR_OP. */
function rmaOp(op: unknown, d: DtypeInfo, what: string): number {
  if (op === 'replace') return REPLACE;
  if (op === 'no_op') return NO_OP;
  if (op === 'avg') throw codedError(TypeError, 'ERR_OP', `${what}: avg is not an accumulate op (MPI's predefined ops, replace and no_op are)`);
  const o = resolveOp(op, d, what);
  if (typeof o !== 'number' || o === AVG) {
    throw codedError(TypeError, 'ERR_OP', `${what}: one-sided accumulates take MPI's predefined ops only, not a user-defined one`);
  }
  quirks ??= native.quirks();
  if (quirks.narrowSumSaturates && op === 'sum' && NARROW.has(d.name)) {
    throw codedError(TypeError, 'ERR_OP', `${what}: this MPI's MPI_SUM saturates ${d.name} in whole vectors (Open MPI's op/avx, ` +
      'open-mpi/ompi#8045), so an overflowing sum would depend on the element\'s position; accumulate into 32-bit integers');
  }
  if (quirks.unsignedMinMax && (op === 'min' || op === 'max') && UNSIGNED.has(d.name)) {
    throw codedError(TypeError, 'ERR_OP', `${what}: this MPI's MPI_${op.toUpperCase()} compares ${d.name} as signed (MPICH 4.0.2), ` +
      'and accumulates cannot take the library\'s own op');
  }
  return o;
}

// ---- Open MPI's one-sided components ----

/** Whether Open MPI may pick osc/rdma for a non-shared window: unless OMPI_MCA_osc lists components without it. */
function openMpiRdma(): boolean {
  if (C.IMPLEMENTATION !== 'openmpi') return false;
  const osc = process.env.OMPI_MCA_osc?.trim();
  return osc === undefined || osc === '' || osc.startsWith('^') || /\brdma\b/.test(osc);
}

/** Whether osc/pt2pt serves windows (it needs the target's MPI calls to progress passive epochs, as MPICH). */
function openMpiPt2pt(): boolean {
  return C.IMPLEMENTATION === 'openmpi' && /\bpt2pt\b/.test(process.env.OMPI_MCA_osc ?? '') && !process.env.OMPI_MCA_osc!.trim().startsWith('^');
}

// MPI_Win_create, with Open MPI's failure on a one-rank communicator explained.
function create(c: Comm, v: TypedArray, h: number, info: string[] | null): number {
  try {
    return native.winCreate(v, v.BYTES_PER_ELEMENT, h, info);
  } catch (e) {
    if (!(e instanceof MpiError) || e.code !== 'ERR_WIN' || C.IMPLEMENTATION !== 'openmpi' || c.size !== 1) throw e;
    throw new MpiError(`${e.message.replace(/^ERR_WIN: /, '')}: Open MPI's osc/rdma cannot make an MPI_Win_create window on a ` +
      'communicator of one rank, and osc/pt2pt, which can, is excluded by the MPI\'s configuration (Debian: ' +
      'osc = ^ucx,pt2pt in openmpi-mca-params.conf). Use allocateWindow(), or start the job with --mca osc sm,pt2pt,rdma',
    'ERR_WIN', e.errorClass, e.errorCode);
  }
}

// A put, get or accumulate of a small array through the raw call (native rmaFast): false when the array
// or displacement needs the general call.
function fastMove(h: number, v: TypedArray, target: number, disp: number, kind: number): boolean {
  if (disp > 0x7fffffff) return false;
  const slot = fastSlot(v);
  if (slot < 0) return false;
  setFastArgs(slot, target, disp, h, kind);
  rmaFast();
  return true;
}

// ---- the event-loop progress of passive targets (MPICH, Open MPI's osc/pt2pt) ----

let progressing = 0;
let progressTimer: ReturnType<typeof setInterval> | undefined;
function startProgress(): void {
  if (progressing++ > 0) return;
  progressTimer = setInterval(() => {
    try {
      native.winProgress(C.WORLD_INTERNAL);
    } catch {
      stopProgress(true); // MPI finalised
    }
  }, 1);
  progressTimer.unref();
}
function stopProgress(all = false): void {
  progressing = all ? 0 : progressing - 1;
  if (progressing > 0 || progressTimer === undefined) return;
  clearInterval(progressTimer);
  progressTimer = undefined;
}

// The arrays of a rank's operations not yet completed. Cleared in place, and an array already last in
// it is not added again: a put + flush loop over one buffer allocates nothing (measured: a new list per
// flush made 8 B put + flush 0.44-1.0 us instead of ~0.3 us, to oneself).
class Held {
  #items: unknown[] = [];
  #n = 0;

  add(x: unknown): void {
    if (this.#n > 0 && this.#items[this.#n - 1] === x) return;
    this.#items[this.#n++] = x;
  }

  clear(): void {
    for (let i = 0; i < this.#n; i++) this.#items[i] = undefined;
    this.#n = 0;
  }
}

/**
 * A window: this rank's memory exposed to one-sided operations of every rank of `comm`. Made
 * collectively by comm.window(array), comm.allocateWindow(dtype, count) or
 * comm.allocateSharedWindow(dtype, count); free() it collectively.
 */
export class Window<T extends TypedArray = TypedArray> {
  /** The communicator the window was made over (its ranks are the targets). */
  readonly comm: Comm;
  /** This rank's part of the window. For allocated windows, MPI's memory; empty once freed. */
  readonly memory: T;
  readonly flavor: WindowFlavor;
  /** MPI's memory model: 'unified' (public and private copies are one) or 'separate'. */
  readonly model: 'unified' | 'separate';
  #h: number;
  readonly #bytes: Float64Array;
  readonly #units: Float64Array;
  /** ArrayBuffers over MPI's memory, detached at free(). */
  readonly #external: ArrayBuffer[] = [];
  readonly #shared = new Map<number, T>();
  readonly #dtype: DtypeInfo | undefined;
  readonly #progress: boolean;
  // Epochs: a fence epoch (and whether an operation ran in it), locks by target, lock_all.
  #fence = false;
  #fenceOps = 0;
  readonly #locks = new Map<number, LockType>();
  #lockAll = false;
  /** Origin and result buffers of operations not yet completed, by target rank. */
  readonly #held = new Map<number, Held>();
  #lastPinned: TypedArray | undefined;

  /** @internal Made by Comm.window / allocateWindow / allocateSharedWindow. */
  constructor(comm: Comm, handle: number, memory: T, dtype: DtypeInfo | undefined, external: ArrayBuffer | undefined,
    progress: boolean | undefined) {
    this.comm = comm;
    this.#h = handle;
    heldUntilFinalize(this);
    this.memory = memory;
    this.#dtype = dtype;
    if (external !== undefined) this.#external.push(external);
    const [flavor, unified] = native.winAttr(handle);
    this.flavor = FLAVORS[flavor] ?? 'create';
    this.model = unified ? 'unified' : 'separate';
    // Every rank's size and displacement unit, for the range checks (on the private duplicate).
    const mine = new Float64Array([memory.byteLength, memory.BYTES_PER_ELEMENT]);
    const all = allgather(comm, comm._handle(true), false, mine, undefined) as Float64Array;
    this.#bytes = new Float64Array(comm.size);
    this.#units = new Float64Array(comm.size);
    for (let r = 0; r < comm.size; r++) {
      this.#bytes[r] = all[2 * r]!;
      this.#units[r] = all[2 * r + 1]!;
    }
    this.#progress = progress ?? (C.IMPLEMENTATION === 'mpich' || openMpiPt2pt());
    if (this.#progress) startProgress();
  }

  get freed(): boolean {
    return this.#h < 0;
  }

  /** The size in bytes of `rank`'s part of the window. */
  byteLengthOf(rank: number): number {
    return this.#bytes[checkRank(rank, this.comm.size, 'byteLengthOf: rank')]!;
  }

  #handle(): number {
    if (this.#h < 0) throw codedError(TypeError, 'ERR_WIN_FREED', 'this window was freed');
    return this.#h;
  }

  // ---- shared windows ----

  /**
   * `rank`'s part of a shared window (allocateSharedWindow), as a typed array onto the node's shared
   * memory (MPI_Win_shared_query): loads and stores reach it directly. Synchronise as MPI says (a
   * lock epoch with sync(), or fences, plus a barrier) before reading what another rank stored.
   */
  shared(rank: number): T {
    const h = this.#handle();
    if (this.flavor !== 'shared') throw codedError(TypeError, 'ERR_RMA_FLAVOR', `shared: this is a ${this.flavor} window, not a shared one`);
    const r = checkRank(rank, this.comm.size, 'shared: rank');
    let v = this.#shared.get(r);
    if (v === undefined) {
      const [ab] = native.winSharedQuery(h, r);
      this.#external.push(ab);
      pin(new Uint8Array(ab));
      v = new this.#dtype!.array(ab) as T;
      this.#shared.set(r, v);
    }
    return v;
  }

  // ---- synchronisation ----

  /** Collective: ends the previous fence epoch and starts the next (MPI_Win_fence). */
  fence(assert?: FenceAssert): void {
    const h = this.#handle();
    if (this.#locks.size > 0 || this.#lockAll) throw epochError('fence', 'a passive-target epoch is open (unlock first)');
    const bits = fenceBits(assert);
    native.winFence(h, bits);
    this.#release();
    this.#fence = (bits & 16) === 0;
    this.#fenceOps = 0;
  }

  /** Starts a passive-target epoch to `rank` (MPI_Win_lock); 'exclusive' by default, as mpi4py's. */
  lock(rank: number, type: LockType = 'exclusive', assert?: LockAssert): void {
    const h = this.#handle();
    const r = checkRank(rank, this.comm.size, 'lock: rank');
    if (type !== 'exclusive' && type !== 'shared') throw invalidParameterError('ERR_INVALID_ARG_VALUE', 'lock: type', "'exclusive' or 'shared'", type);
    if (this.#locks.has(r)) throw epochError('lock', `rank ${r} is locked already`);
    if (this.#lockAll) throw epochError('lock', 'lockAll() holds every rank already');
    this.#leaveFence('lock');
    native.winLock(h, r, type === 'exclusive', lockBits(assert, 'lock'));
    this.#locks.set(r, type);
  }

  /** Ends the passive-target epoch to `rank`: its operations are complete here and there (MPI_Win_unlock). */
  unlock(rank: number): void {
    const h = this.#handle();
    const r = checkRank(rank, this.comm.size, 'unlock: rank');
    if (!this.#locks.has(r)) throw epochError('unlock', `rank ${r} is not locked${this.#lockAll ? ' (lockAll() is: use unlockAll())' : ''}`);
    native.winUnlock(h, r);
    this.#locks.delete(r);
    this.#release(r);
  }

  /** A shared lock on every rank (MPI_Win_lock_all). */
  lockAll(assert?: LockAssert): void {
    const h = this.#handle();
    if (this.#lockAll) throw epochError('lockAll', 'lockAll() was called already');
    if (this.#locks.size > 0) throw epochError('lockAll', `rank ${[...this.#locks.keys()][0]} is locked (unlock it first)`);
    this.#leaveFence('lockAll');
    native.winLockAll(h, lockBits(assert, 'lockAll'));
    this.#lockAll = true;
  }

  unlockAll(): void {
    const h = this.#handle();
    if (!this.#lockAll) throw epochError('unlockAll', 'lockAll() was not called');
    native.winUnlockAll(h);
    this.#lockAll = false;
    this.#release();
  }

  /** Completes this rank's operations to `rank`, there as here, inside the epoch (MPI_Win_flush). */
  flush(rank: number): void {
    this.#flush(rank, false, 'flush');
  }

  /** Completes this rank's operations to `rank` here: origin buffers reusable, results arrived (MPI_Win_flush_local). */
  flushLocal(rank: number): void {
    this.#flush(rank, true, 'flushLocal');
  }

  flushAll(): void {
    this.#flushAll(false, 'flushAll');
  }

  flushLocalAll(): void {
    this.#flushAll(true, 'flushLocalAll');
  }

  /** Synchronises the public and private copies of this rank's window (MPI_Win_sync), inside a passive epoch. */
  sync(): void {
    const h = this.#handle();
    if (!this.#passiveAny()) throw epochError('sync', 'no passive-target epoch is open (lock or lockAll first)');
    native.winSync(h);
  }

  #flush(rank: number, local: boolean, what: string): void {
    const h = this.#handle();
    if (!isRank(rank, this.comm.size)) throw rankError(`${what}: rank`, rank, this.comm.size);
    const r = rank;
    if (!this.#lockAll && !this.#locks.has(r)) throw epochError(what, `rank ${r} is not locked (lock(${r}) or lockAll() first)`);
    setFastArgs(0, r, 0, h, local ? RMA_FLUSH_LOCAL : RMA_FLUSH);
    rmaFast();
    this.#release(r);
  }

  #flushAll(local: boolean, what: string): void {
    const h = this.#handle();
    if (!this.#passiveAny()) throw epochError(what, 'no passive-target epoch is open (lock or lockAll first)');
    native.winFlushAll(h, local);
    this.#release();
  }

  #passiveAny(): boolean {
    return this.#lockAll || this.#locks.size > 0;
  }

  // A passive-target epoch may start after a fence only if that fence's epoch saw no operation.
  #leaveFence(what: string): void {
    if (this.#fence && this.#fenceOps > 0) {
      throw epochError(what, 'a fence epoch with operations is open: end it with fence({ nosucceed: true }) first');
    }
    this.#fence = false;
  }

  // Buffers of completed operations are let go (all of them, or those to `rank`).
  #release(rank?: number): void {
    if (rank === undefined) {
      for (const list of this.#held.values()) list.clear();
    } else {
      this.#held.get(rank)?.clear();
    }
  }

  // Holds the arrays of one operation until its epoch's next completion. Called per put/get, so no rest
  // array, and an array pinned by the previous call (a loop over one buffer) is not pinned again.
  #hold(rank: number, a: TypedArray, b?: TypedArray, c?: TypedArray): void {
    if (rank === PROC_NULL) return; // MPI touches nothing
    if (a !== this.#lastPinned) {
      pin(a);
      this.#lastPinned = a;
    }
    if (b !== undefined) pin(b);
    if (c !== undefined) pin(c);
    let list = this.#held.get(rank);
    if (list === undefined) this.#held.set(rank, (list = new Held()));
    list.add(a);
    if (b !== undefined) list.add(b);
    if (c !== undefined) list.add(c);
  }

  // ---- operations ----

  // The target of an operation: a rank in an open epoch with room for `bytes` at `disp`, or PROC_NULL.
  #target(rank: unknown, disp: unknown, bytes: number, what: string, requestBased: boolean): number {
    const h = this.#handle();
    if (rank === PROC_NULL) {
      if (!this.#fence && !this.#passiveAny()) throw epochError(what, 'no epoch is open (fence, lock or lockAll first)');
      return h;
    }
    // The message is built only on failure: a template per call is garbage per put.
    if (!isRank(rank, this.comm.size)) throw rankError(`${what}: target`, rank, this.comm.size);
    const r = rank;
    if (!Number.isSafeInteger(disp) || (disp as number) < 0) {
      throw invalidParameterError('ERR_INVALID_ARG_VALUE', `${what}: disp`, 'a non-negative integer', disp, RangeError);
    }
    const passive = this.#lockAll || this.#locks.has(r);
    if (requestBased && !passive) {
      throw epochError(what, `request-based operations need a passive-target epoch: lock(${r}) or lockAll() first`);
    }
    if (!passive && !this.#fence) {
      throw epochError(what, `no epoch is open to rank ${r}: fence(), lock(${r}) or lockAll() first`);
    }
    const end = (disp as number) * this.#units[r]! + bytes;
    if (end > this.#bytes[r]!) {
      throw codedError(RangeError, 'ERR_RMA_RANGE',
        `${what}: ${bytes} bytes at displacement ${disp} (unit ${this.#units[r]} bytes) end at byte ${end}, but rank ${r}'s window has ${this.#bytes[r]}`);
    }
    if (!passive) this.#fenceOps++;
    return h;
  }

  /** Writes `origin` into `target`'s window at element `disp` (MPI_Put); complete at the next flush, unlock or fence. */
  put(origin: BufferLike, target: number, disp = 0): void {
    const o = asView(origin, 'put: origin');
    const h = this.#target(target, disp, bytesIn(o), 'put', false);
    if (!fastMove(h, o, target, disp, RMA_PUT)) native.winPut(h, o, target, disp, false);
    this.#hold(target, o);
  }

  /** Reads `target`'s window at element `disp` into `result` (MPI_Get); the data is there after the next flush, unlock or fence. */
  get<R extends BufferLike>(result: R, target: number, disp = 0): R {
    const r = asView(result, 'get: result');
    const h = this.#target(target, disp, bytesIn(r), 'get', false);
    if (!fastMove(h, r, target, disp, RMA_GET)) native.winGet(h, r, target, disp, false);
    this.#hold(target, r);
    return result;
  }

  /** Combines `origin` into `target`'s window with `op`, atomically per element (MPI_Accumulate). */
  accumulate(origin: TypedArray, target: number, disp = 0, op: RmaOpName = 'sum'): void {
    const o = this.#num(origin, 'accumulate', 'origin');
    const code = rmaOp(op, dtypeOf(o)!, 'accumulate');
    const h = this.#target(target, disp, bytesIn(o), 'accumulate', false);
    if (!fastMove(h, o, target, disp, RMA_ACCUMULATE | (code << RMA_OP_SHIFT))) native.winAccumulate(h, o, target, disp, code, false);
    this.#hold(target, o);
  }

  /**
   * `result` gets the target's elements as they were, and `origin` is combined in with `op`, atomically
   * (MPI_Get_accumulate). `origin` null with op 'no_op': an atomic read.
   */
  getAccumulate<R extends TypedArray>(origin: R | null, result: R, target: number, disp = 0, op: RmaOpName = 'sum'): R {
    const { o, r, code } = this.#fetchArgs(origin, result, op, 'getAccumulate');
    const h = this.#target(target, disp, bytesIn(r), 'getAccumulate', false);
    native.winGetAccumulate(h, o, r, target, disp, code, false);
    this.#hold(target, r, o ?? undefined);
    return result;
  }

  /** getAccumulate of one element (MPI_Fetch_and_op): `origin` and `result` hold one element each. */
  fetchAndOp<R extends TypedArray>(origin: R | null, result: R, target: number, disp = 0, op: RmaOpName = 'sum'): R {
    const { o, r, code } = this.#fetchArgs(origin, result, op, 'fetchAndOp');
    if (r.length !== 1) throw codedError(RangeError, 'ERR_INVALID_LENGTH', `fetchAndOp: result must hold one element, it has ${r.length}`);
    const h = this.#target(target, disp, bytesIn(r), 'fetchAndOp', false);
    native.winFetchAndOp(h, o, r, target, disp, code);
    this.#hold(target, r, o ?? undefined);
    return result;
  }

  /**
   * Atomically: if the target's element equals `compare`, it becomes `origin`; `result` gets its old value
   * (MPI_Compare_and_swap). One element each, of an integer type.
   */
  compareAndSwap<R extends TypedArray>(origin: R, compare: R, result: R, target: number, disp = 0): R {
    const what = 'compareAndSwap';
    const o = this.#num(origin, what, 'origin'), c = this.#num(compare, what, 'compare'), r = this.#num(result, what, 'result');
    sameDtype(o, c, what);
    sameDtype(o, r, what);
    const d = dtypeOf(o)!;
    if (d.kind === 'float') throw codedError(TypeError, 'ERR_INVALID_DTYPE', `${what}: MPI defines it on integer types, not ${d.name}`);
    for (const [name, v] of [['origin', o], ['compare', c], ['result', r]] as const) {
      if (v.length !== 1) throw codedError(RangeError, 'ERR_INVALID_LENGTH', `${what}: ${name} must hold one element, it has ${v.length}`);
    }
    if (d.size === 8 && this.flavor !== 'shared' && openMpiRdma()) {
      throw codedError(Error, 'ERR_UNSUPPORTED_OPERATION', `${what}: Open MPI's osc/rdma crashes in a compare-and-swap of 8-byte ` +
        'elements (the vader BTL\'s emulated atomics, open-mpi/ompi#7967): use 4-byte elements, a shared window, or start ' +
        'the job with --mca osc sm,pt2pt');
    }
    const h = this.#target(target, disp, bytesIn(r), what, false);
    native.winCompareAndSwap(h, o, c, r, target, disp);
    this.#hold(target, o, c, r);
    return result;
  }

  /** put as a Request (MPI_Rput), resolved once `origin` may be reused; remote completion needs a flush. */
  rput(origin: BufferLike, target: number, disp = 0): Request<void> {
    const o = asView(origin, 'rput: origin');
    const h = this.#target(target, disp, bytesIn(o), 'rput', true);
    return Request._coll<void>(native.winPut(h, o, target, disp, true)!, this.comm._handle(), undefined, o, undefined, 0);
  }

  /** get as a Request (MPI_Rget), resolved to `result` once the data has arrived. */
  rget<R extends BufferLike>(result: R, target: number, disp = 0): Request<R> {
    const r = asView(result, 'rget: result');
    const h = this.#target(target, disp, bytesIn(r), 'rget', true);
    return Request._coll(native.winGet(h, r, target, disp, true)!, this.comm._handle(), result, r, undefined, 0);
  }

  /** accumulate as a Request (MPI_Raccumulate), resolved once `origin` may be reused. */
  raccumulate(origin: TypedArray, target: number, disp = 0, op: RmaOpName = 'sum'): Request<void> {
    const o = this.#num(origin, 'raccumulate', 'origin');
    const code = rmaOp(op, dtypeOf(o)!, 'raccumulate');
    const h = this.#target(target, disp, bytesIn(o), 'raccumulate', true);
    return Request._coll<void>(native.winAccumulate(h, o, target, disp, code, true)!, this.comm._handle(), undefined, o, undefined, 0);
  }

  /** getAccumulate as a Request (MPI_Rget_accumulate), resolved to `result`. */
  rgetAccumulate<R extends TypedArray>(origin: R | null, result: R, target: number, disp = 0, op: RmaOpName = 'sum'): Request<R> {
    const { o, r, code } = this.#fetchArgs(origin, result, op, 'rgetAccumulate');
    const h = this.#target(target, disp, bytesIn(r), 'rgetAccumulate', true);
    return Request._coll(native.winGetAccumulate(h, o, r, target, disp, code, true)!, this.comm._handle(), result, r, o, 0);
  }

  #num(v: unknown, what: string, name: string): TypedArray {
    if (!isTypedArray(v)) throw invalidParameterError('ERR_INVALID_BUFFER', `${what}: ${name}`, 'a typed array (its element type decides the arithmetic)', v);
    return asView(v, `${what}: ${name}`);
  }

  #fetchArgs(origin: unknown, result: unknown, op: unknown, what: string): { o: TypedArray | null; r: TypedArray; code: number } {
    const r = this.#num(result, what, 'result');
    const code = rmaOp(op, dtypeOf(r)!, what);
    if (origin === null || origin === undefined) {
      if (code !== NO_OP) throw codedError(TypeError, 'ERR_INVALID_BUFFER', `${what}: origin may be null with op 'no_op' only`);
      return { o: null, r, code };
    }
    const o = this.#num(origin, what, 'origin');
    sameDtype(o, r, what);
    if (o.length !== r.length) tooSmall(what, o.length < r.length ? 'origin' : 'result', Math.max(o.length, r.length), Math.min(o.length, r.length), ' (origin and result are the same length)');
    return { o, r, code };
  }

  /**
   * Collective: frees the window (MPI_Win_free). Every epoch must be closed. Memory MPI allocated is
   * released: views onto it (memory, shared()) become empty; a window over your own array leaves it be.
   */
  free(): void {
    const h = this.#handle();
    if (this.#passiveAny()) throw epochError('free', 'a passive-target epoch is open (unlock first)');
    this.#freeNow(h);
  }

  #freeNow(h: number): void {
    released(this);
    native.winFree(h, this.#external);
    this.#h = -1;
    this.#held.clear();
    this.#shared.clear();
    if (this.#progress) stopProgress();
  }

  /** @internal At exit or finalize with the window not freed: epochs are closed as MPI_Win_free needs. */
  _releaseAtExit(): void {
    if (this.#h < 0) return;
    const h = this.#h;
    if (this.#passiveAny()) {
      for (const target of this.#locks.keys()) native.winUnlock(h, target);
      if (this.#lockAll) native.winUnlockAll(h);
    }
    this.#freeNow(h);
  }
}

// ---- making windows: Comm methods ----

declare module '../comm/comm.js' {
  interface Comm {
    /** Collective: a window over `buf`'s own memory (MPI_Win_create); displacements count its elements. */
    window<T extends BufferLike>(buf: T, options?: WindowOptions): Window<T extends TypedArray ? T : Uint8Array>;
    /**
     * Collective: a window of `count` elements of `dtype` in memory MPI allocates (MPI_Win_allocate),
     * zeroed at every rank before any rank returns (MPI itself leaves it as it was).
     */
    allocateWindow<D extends Dtype>(dtype: D, count: number, options?: WindowOptions): Window<ArrayOf<D>>;
    /**
     * Collective over ranks sharing memory (a comm from splitShared()): `count` elements of `dtype` per
     * rank in the node's shared memory (MPI_Win_allocate_shared), zeroed as allocateWindow's is;
     * win.shared(rank) views any rank's.
     */
    allocateSharedWindow<D extends Dtype>(dtype: D, count: number, options?: WindowOptions): Window<ArrayOf<D>>;
  }
}


function optionsArg(options: unknown, what: string): WindowOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') throw invalidParameterError('ERR_INVALID_ARG_TYPE', `${what}: options`, 'an object', options);
  return options as WindowOptions;
}

const P = Comm.prototype;

P.window = function (this: Comm, buf: BufferLike, options?: WindowOptions) {
  const o = optionsArg(options, 'window');
  const v = asView(buf, 'window: buf');
  const info = infoArg(o.info, 'window');
  const h = this._handle();
  pin(v);
  return new Window(this, create(this, v, h, info), v, dtypeOf(v), undefined, o.progress) as any;
};

function allocate(c: Comm, dtype: Dtype, count: unknown, options: unknown, shared: boolean): Window<any> {
  const what = shared ? 'allocateSharedWindow' : 'allocateWindow';
  const o = optionsArg(options, what);
  const d = dtypeInfo(dtype);
  const n = checkCount(count, `${what}: count`);
  const info = infoArg(o.info, what);
  const h = c._handle();
  ensureInit();
  // Shared windows are contiguous across ranks: their sizes stay as asked (MPICH reaches every byte there).
  const bytes = shared ? n * d.size : Math.ceil((n * d.size) / 16) * 16;
  const [win, ab] = native.winAllocate(bytes, d.size, h, shared, info);
  pin(new Uint8Array(ab));
  return new Window(c, win, new d.array(ab, 0, n), d, ab, o.progress);
}

P.allocateWindow = function (this: Comm, dtype: Dtype, count: number, options?: WindowOptions) {
  return allocate(this, dtype, count, options, false) as any;
};
P.allocateSharedWindow = function (this: Comm, dtype: Dtype, count: number, options?: WindowOptions) {
  return allocate(this, dtype, count, options, true) as any;
};
