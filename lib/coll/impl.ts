// The collectives, each written once for both forms: `nb` false calls the blocking MPI function and
// returns the result; `nb` true posts the MPI-3 nonblocking one and returns a Request that resolves to
// the same result. `h` is the communicator handle: the user's, or its private duplicate for the
// library's own traffic (lib/coll/objects.ts). Arguments are checked (lib/coll/args.ts) before
// anything is posted, so a bad one throws on both forms and leaves the communicator usable.
import { native } from '../addon/binding.js';
import {
  aliased, alloc, blocks, bufArg, checkLayout, ints, intCount, IN_PLACE, INT_MAX, needInPlaceRecv, numArg, type Checked,
} from './args.js';
import { checkRoot, sameDtype, tooSmall } from '../core/checks.js';
import type { Comm } from '../comm/comm.js';
import type { DtypeInfo, TypedArray } from '../core/dtypes.js';
import { allreduceFast, barrierFast, DECLINED, fastResult, fastSlot, setFastArgs } from '../addon/fastpath.js';
import { codedError } from '../core/errors.js';
import type { CollOp } from '../addon/native.js';
import { AVG, SUM, elementType, halfKind, resolveOp } from './ops.js';
import { Prequest } from '../core/prequest.js';
import { Request } from '../core/request.js';

// Returns the result, or the Request for it. With a divisor (the 'avg' op), `view` (exactly the
// reduced elements; float16/bfloat16 ones when `half` is their kind) is divided once the sum is complete.
function done(nb: boolean, h: number, ret: number | undefined, result: unknown, view: TypedArray | undefined, keep: unknown,
  divisor: number, half = 0): any {
  if (nb) return Request._coll(ret!, h, result, view, keep, divisor, half);
  if (divisor > 0) native.divide(view!, divisor, half);
  return result;
}

// The op of a reduction over n elements of type `d`: a predefined op's code, AVG, or a user op.
function opArg(op: unknown, d: DtypeInfo, what: string, avgOk: boolean, n: number): CollOp {
  const o = resolveOp(op, d, what);
  if (o === AVG && !avgOk) {
    throw codedError(TypeError, 'ERR_OP', `${what}: avg is defined for allreduce, reduce, reduceScatter and reduceScatterBlock`);
  }
  if (typeof o === 'object' && n > INT_MAX) {
    throw codedError(RangeError, 'ERR_COUNTS', `${what}: user-defined reductions are limited to 2^31-1 elements, got ${n}`);
  }
  return o;
}

// 'avg' never reaches MPI: it is a sum (of d's kind), divided by the communicator size once complete
// (reduced()).
const mpiOp = (o: CollOp, d: DtypeInfo): CollOp => (o === AVG ? resolveOp('sum', d, 'avg') : o);

// The result of a reduction of n elements of type `d` into `r` with op `o`; for 'avg', exactly the
// reduced elements are divided by the communicator size.
function reduced(nb: boolean, h: number, ret: number | undefined, result: unknown, r: TypedArray, n: number, keep: unknown,
  o: CollOp, size: number, d: DtypeInfo): any {
  return o === AVG ? done(nb, h, ret, result, exact(r, n), keep, size, halfKind(d)) : done(nb, h, ret, result, r, keep, 0);
}

// MPI applies a nonblocking collective's op while progressing it, outside any JavaScript call, so a
// JavaScript op cannot run then.
function rejectUserOp(what: string): Request<never> {
  const blocking = what.slice(1);
  return Request._rejected(codedError(TypeError, 'ERR_OP',
    `${what}: user-defined ops need the blocking form (${blocking}): MPI applies the op while progressing ` +
    'the request, outside any JavaScript call'));
}

// The buffers of a reduction: `s` is the send buffer MPI gets, null in place (IN_PLACE, or send ===
// recv); `r` the caller's receive buffer, if any; `data` the array that holds this rank's contribution.
interface Reduction {
  s: TypedArray | null;
  r: TypedArray | undefined;
  data: TypedArray;
}
function reductionBufs(send: unknown, recv: unknown, what: string, usage: string): Reduction {
  let s = send === IN_PLACE ? null : numArg(send, what, 'send');
  const r = recv === undefined ? undefined : numArg(recv, what, 'recv');
  if (s === null) {
    if (r === undefined) needInPlaceRecv(what, usage);
  } else if (r !== undefined) {
    sameDtype(s, r, what);
    if (aliased(s, r, what, true)) s = null;
  }
  return { s, r, data: (s ?? r)! };
}

// The receive buffer of a result of n elements: the caller's, long enough, or a fresh one like `data`.
function resultOf(r: TypedArray | undefined, data: TypedArray, n: number, what: string): TypedArray {
  if (r === undefined) return alloc(data, n);
  if (r.length < n) tooSmall(what, 'recv', n, r.length);
  return r;
}

const exact = (a: TypedArray, n: number) => (a.length === n ? a : a.subarray(0, n));

export function barrier(_c: Comm, h: number, nb: boolean): any {
  setFastArgs(0, 0, 0, h, nb ? 1 : 0);
  barrierFast();
  return nb ? Request._coll(fastResult(), h, undefined, undefined, undefined, 0) : undefined;
}

export function bcast(c: Comm, h: number, nb: boolean, buf: unknown, root: unknown): any {
  const what = nb ? 'ibcast' : 'bcast';
  const rt = checkRoot(root, c.size, what);
  const v = bufArg(buf, what, 'buf');
  return done(nb, h, native.bcast(v, rt, h, nb), v, v, undefined, 0);
}

const enum All { Allreduce, Scan, Exscan }
const ALL_NAMES = [['allreduce', 'iallreduce'], ['scan', 'iscan'], ['exscan', 'iexscan']] as const;
const ALL_USAGE = ['allreduce(IN_PLACE, op, buf)', 'scan(IN_PLACE, op, buf)', 'exscan(IN_PLACE, op, buf)'] as const;

/** allreduce, scan and exscan: same arguments, same shapes. */
export function reduceAll(kind: All, c: Comm, h: number, nb: boolean, send: unknown, op: unknown, recv: unknown,
  options?: unknown): any {
  const what = ALL_NAMES[kind][nb ? 1 : 0];
  const { s, r: given, data } = reductionBufs(send, recv, what, ALL_USAGE[kind]);
  const n = data.length;
  const d = elementType(data, options, what);
  const o = opArg(op, d, what, kind === All.Allreduce, n);
  if (nb && typeof o === 'object') return rejectUserOp(what);
  const code = mpiOp(o, d);
  const r = resultOf(given, data, n, what);
  const ret = kind === All.Allreduce ? native.allreduce(s, r, n, code, h, nb)
    : kind === All.Scan ? native.scan(s, r, n, code, h, nb) : native.exscan(s, r, n, code, h, nb);
  return reduced(nb, h, ret, r, r, n, s, o, c._peers(), d); // 'avg' of an intercommunicator: over the remote group
}

// Persistent collectives (MPI-4 MPI_Allreduce_init & co.): checked as the nonblocking forms, then set up
// once; each start() runs the collective again on the buffers' current contents.
export function allreduceInit(c: Comm, h: number, send: unknown, op: unknown, recv: unknown): Prequest<TypedArray> {
  const what = 'allreduceInit';
  const { s, r: given, data } = reductionBufs(send, recv, what, 'allreduceInit(IN_PLACE, op, buf)');
  const n = data.length;
  const d = elementType(data, undefined, what);
  const o = opArg(op, d, what, true, n);
  if (typeof o === 'object') {
    throw codedError(TypeError, 'ERR_OP', `${what}: user-defined ops need the blocking allreduce: MPI applies the op while progressing the request`);
  }
  const r = resultOf(given, data, n, what);
  const id = native.allreduceInit(s, r, n, mpiOp(o, d) as number, h);
  return Prequest._coll(id, h, r, o === AVG ? exact(r, n) : r, s, o === AVG ? c.size : 0, halfKind(d));
}
export function bcastInit(c: Comm, h: number, buf: unknown, root: unknown): Prequest<TypedArray> {
  const rt = checkRoot(root, c.size, 'bcastInit');
  const v = bufArg(buf, 'bcastInit', 'buf');
  return Prequest._coll(native.bcastInit(v, rt, h), h, v, v, undefined, 0);
}
export function barrierInit(_c: Comm, h: number): Prequest<undefined> {
  return Prequest._coll(native.barrierInit(h), h, undefined, undefined, undefined, 0);
}

export function allreduce(c: Comm, h: number, nb: boolean, send: unknown, op: unknown, recv: unknown, options?: unknown): any {
  return (options === undefined ? smallAllreduce(h, nb, send, op, recv) : undefined) ??
    reduceAll(All.Allreduce, c, h, nb, send, op, recv, options);
}

// The op code of a predefined op (not avg) on arrays like `data`, or -1; one entry remembered, since a
// loop reduces the same dtype with the same op.
let lastOp: unknown, lastCtor: unknown, lastCode = -1;
function predefinedOp(op: string, data: TypedArray): number {
  if (op === lastOp && data.constructor === lastCtor) return lastCode;
  let code = -1;
  try {
    const o = resolveOp(op, elementType(data, undefined, 'allreduce'), 'allreduce');
    if (typeof o === 'number' && o !== AVG) code = o;
  } catch {} // reduceAll reports it
  lastOp = op;
  lastCtor = data.constructor;
  lastCode = code;
  return code;
}

// Small arrays (lib/addon/fastpath.ts): two registered arrays of one type in separate memory and a predefined
// op go straight to the addon, skipping ~0.1 us of general argument handling. Anything else, and
// every error, takes reduceAll; undefined means "not taken".
function smallAllreduce(h: number, nb: boolean, send: unknown, op: unknown, recv: unknown): any {
  if (typeof op !== 'string' || recv === undefined || send === recv) return undefined;
  const ks = fastSlot(send), kr = fastSlot(recv);
  if (ks < 0 || kr < 0) return undefined;
  const s = send as TypedArray, r = recv as TypedArray;
  const n = s.length;
  if (s.constructor !== r.constructor || r.length < n) return undefined;
  const code = predefinedOp(op, s);
  if (code < 0) return undefined;
  setFastArgs(kr, ks, n, h, nb ? code | 256 : code);
  allreduceFast();
  const slot = fastResult();
  if (slot === DECLINED) return undefined; // s and r share memory
  return nb ? Request._coll(slot, h, r, r, s, 0) : r;
}
export const scan = reduceAll.bind(null, All.Scan);
export const exscan = reduceAll.bind(null, All.Exscan);

export function reduce(c: Comm, h: number, nb: boolean, send: unknown, op: unknown, root: unknown, recv: unknown,
  options?: unknown): any {
  const what = nb ? 'ireduce' : 'reduce';
  const rt = checkRoot(root, c.size, what);
  const isRoot = c.rank === rt;
  const { s, r: given, data } = reductionBufs(send, recv, what, 'reduce(IN_PLACE, op, root, buf)');
  const n = data.length;
  const d = elementType(data, options, what);
  const o = opArg(op, d, what, true, n);
  if (nb && typeof o === 'object') return rejectUserOp(what);
  const code = mpiOp(o, d);
  if (!isRoot) {
    // MPI_IN_PLACE is the root's; elsewhere this rank's contribution (in recv when IN_PLACE) is sent
    // as is, and no receive buffer is touched.
    return done(nb, h, native.reduce(data, null, n, code, rt, h, nb), undefined, undefined, data, 0);
  }
  const r = resultOf(given, data, n, what);
  return reduced(nb, h, native.reduce(s, r, n, code, rt, h, nb), r, r, n, s, o, c.size, d);
}

const enum Scatter { Block, Counts }
const SCATTER_NAMES = [['reduceScatterBlock', 'ireduceScatterBlock'], ['reduceScatter', 'ireduceScatter']] as const;
const SCATTER_USAGE = [
  'reduceScatterBlock(IN_PLACE, op, buf), the result going to its start',
  'reduceScatter(IN_PLACE, counts, op, buf), the result going to its start',
] as const;

/** reduceScatterBlock and reduceScatter: rank r gets block r of the reduction (equal blocks, or counts[r] elements). */
function reduceScatterAny(kind: Scatter, c: Comm, h: number, nb: boolean, send: unknown, counts: unknown, op: unknown,
  recv: unknown, options: unknown): any {
  const what = SCATTER_NAMES[kind][nb ? 1 : 0];
  const size = c.size;
  const { s, r: given, data } = reductionBufs(send, recv, what, SCATTER_USAGE[kind]);
  const cs = kind === Scatter.Counts ? scatterCounts(counts, size, what, s, given) : undefined;
  const n = cs === undefined ? blocks(data.length, size, what, s === null ? 'recv' : 'send') : cs[c.rank]!;
  const d = elementType(data, options, what);
  const o = opArg(op, d, what, true, n);
  if (nb && typeof o === 'object') return rejectUserOp(what);
  const code = mpiOp(o, d);
  const r = resultOf(given, data, n, what);
  // In place, the result is the first block of the buffer.
  const result = s === null ? r.subarray(0, n) : r;
  const ret = cs === undefined ? native.reduceScatterBlock(s, r, n, code, h, nb)
    : native.reduceScatter(s, r, cs, code, h, nb);
  return reduced(nb, h, ret, result, r, n, cs === undefined ? s : nb ? [s, cs] : undefined, o, size, d);
}
export function reduceScatterBlock(c: Comm, h: number, nb: boolean, send: unknown, op: unknown, recv: unknown,
  options?: unknown): any {
  return reduceScatterAny(Scatter.Block, c, h, nb, send, undefined, op, recv, options);
}
export function reduceScatter(c: Comm, h: number, nb: boolean, send: unknown, counts: unknown, op: unknown, recv: unknown,
  options?: unknown): any {
  return reduceScatterAny(Scatter.Counts, c, h, nb, send, counts, op, recv, options);
}

// reduceScatter's counts (MPI-3 int counts), checked against the buffer that holds the data.
function scatterCounts(counts: unknown, size: number, what: string, s: TypedArray | null, r: TypedArray | undefined): Int32Array {
  const cs = ints(counts, size, what, 'counts');
  let total = 0;
  for (let i = 0; i < size; i++) total += cs[i]!;
  if (s !== null && s.length !== total) {
    throw codedError(RangeError, 'ERR_COUNTS', `${what}: send has ${s.length} elements but counts add up to ${total}`);
  }
  if (s === null && r!.length < total) tooSmall(what, 'recv', total, r!.length);
  intCount(total, what, 'the reduced buffer');
  return cs;
}

// What gather and gatherv check first: the root, and the send (null: IN_PLACE) and receive buffers.
function gathering(c: Comm, what: string, send: unknown, root: unknown, recv: unknown) {
  const rt = checkRoot(root, c.size, what);
  return {
    what, size: c.size, rt, isRoot: c.rank === rt,
    s: send === IN_PLACE ? null : bufArg(send, what, 'send'),
    r: recv === undefined ? undefined : bufArg(recv, what, 'recv'),
  };
}

export function gather(c: Comm, h: number, nb: boolean, send: unknown, root: unknown, recv: unknown): any {
  let { what, size, rt, isRoot, s, r } = gathering(c, nb ? 'igather' : 'gather', send, root, recv);
  let n: number;
  if (s === null) {
    if (r === undefined) needInPlaceRecv(what, 'gather(IN_PLACE, root, buf), this rank\'s block in place');
    n = blocks(r.length, size, what, 'recv');
    if (!isRoot) s = r.subarray(c.rank * n, c.rank * n + n);
  } else {
    n = s.length;
    if (isRoot) {
      if (r === undefined) {
        r = alloc(s, size * n);
      } else {
        sameDtype(s, r, what);
        if (r.length < size * n) tooSmall(what, 'recv', size * n, r.length);
        aliased(s, r, what, false);
      }
    }
  }
  const ret = native.gather(s, isRoot ? r! : null, n, rt, h, nb);
  return done(nb, h, ret, isRoot ? r : undefined, isRoot ? r : undefined, s, 0);
}

export function scatter(c: Comm, h: number, nb: boolean, send: unknown, recv: unknown, root: unknown): any {
  const what = nb ? 'iscatter' : 'scatter';
  const size = c.size;
  const rt = checkRoot(root, size, what);
  const isRoot = c.rank === rt;
  let s: TypedArray | null = null;
  let n = 0;
  if (isRoot || recv === IN_PLACE) {
    s = bufArg(send, what, 'send');
    n = blocks(s.length, size, what, 'send');
  }
  let r: TypedArray | null;
  let result: TypedArray;
  if (recv === IN_PLACE) {
    // This rank's block of send is its result: the root's stays where it is, the others land there.
    result = s!.subarray(c.rank * n, c.rank * n + n);
    r = isRoot ? null : result;
  } else {
    if (recv === undefined) {
      throw codedError(TypeError, 'ERR_INVALID_BUFFER', `${what}: recv is required (its length is the block each rank receives), or IN_PLACE`);
    }
    r = result = bufArg(recv, what, 'recv');
    if (isRoot) {
      sameDtype(s!, r, what);
      if (r.length < n) tooSmall(what, 'recv', n, r.length);
      aliased(s!, r, what, false);
    } else {
      n = r.length;
    }
  }
  const ret = native.scatter(isRoot ? s : null, r, n, rt, h, nb);
  return done(nb, h, ret, result, result, s, 0);
}

const enum Each { Allgather, Alltoall }

/** allgather and alltoall: every rank sends and receives one block per rank. */
function eachToAll(kind: Each, c: Comm, h: number, nb: boolean, send: unknown, recv: unknown): any {
  const name = kind === Each.Allgather ? 'allgather' : 'alltoall';
  const what = nb ? (kind === Each.Allgather ? 'iallgather' : 'ialltoall') : name;
  const size = c.size;
  const s = send === IN_PLACE ? null : bufArg(send, what, 'send');
  let r = recv === undefined ? undefined : bufArg(recv, what, 'recv');
  let n: number;
  if (s === null) {
    if (r === undefined) needInPlaceRecv(what, `${name}(IN_PLACE, buf), this rank's block in place`);
    n = blocks(r.length, size, what, 'recv');
  } else {
    n = kind === Each.Allgather ? s.length : blocks(s.length, size, what, 'send');
    if (r === undefined) {
      r = alloc(s, size * n);
    } else {
      sameDtype(s, r, what);
      if (r.length < size * n) tooSmall(what, 'recv', size * n, r.length);
      aliased(s, r, what, false);
    }
  }
  const ret = kind === Each.Allgather ? native.allgather(s, r, n, h, nb) : native.alltoall(s, r, n, h, nb);
  return done(nb, h, ret, r, r, s, 0);
}
export const allgather = eachToAll.bind(null, Each.Allgather);
export const alltoall = eachToAll.bind(null, Each.Alltoall);

export function gatherv(c: Comm, h: number, nb: boolean, send: unknown, layout: unknown, root: unknown, recv: unknown): any {
  let { what, size, rt, isRoot, s, r } = gathering(c, nb ? 'igatherv' : 'gatherv', send, root, recv);
  let L: Checked | undefined;
  if (s === null) {
    if (r === undefined) needInPlaceRecv(what, 'gatherv(IN_PLACE, layout, root, buf), this rank\'s block in place');
    L = checkLayout(layout, size, what, 'layout', r.length, true);
    if (!isRoot) s = r.subarray(L.displs[c.rank]!, L.displs[c.rank]! + L.counts[c.rank]!);
  } else {
    intCount(s.length, what, 'send');
    // Only the root needs the layout; a rank that passes one has it checked against its send too.
    if (isRoot || (layout !== undefined && layout !== null)) {
      L = checkLayout(layout, size, what, 'layout', isRoot ? r?.length : undefined, true);
      if (s.length !== L.counts[c.rank]) {
        throw codedError(RangeError, 'ERR_COUNTS', `${what}: send has ${s.length} elements but this rank's count is ${L.counts[c.rank]}`);
      }
    }
    if (isRoot) {
      L = L!;
      if (r === undefined) {
        r = alloc(s, L.extent);
      } else {
        sameDtype(s, r, what);
        aliased(s, r, what, false);
      }
    }
  }
  const ret = isRoot ? native.gatherv(s, r!, L!.counts, L!.displs, rt, h, nb) : native.gatherv(s, null, null, null, rt, h, nb);
  return done(nb, h, ret, isRoot ? r : undefined, isRoot ? r : undefined, nb ? [s, L] : undefined, 0);
}

export function scatterv(c: Comm, h: number, nb: boolean, send: unknown, layout: unknown, recv: unknown, root: unknown): any {
  const what = nb ? 'iscatterv' : 'scatterv';
  const size = c.size, rank = c.rank;
  const rt = checkRoot(root, size, what);
  const isRoot = rank === rt;
  let s: TypedArray | null = null;
  let L: Checked | undefined;
  if (isRoot || recv === IN_PLACE) {
    s = bufArg(send, what, 'send');
    L = checkLayout(layout, size, what, 'layout', s.length);
  }
  let r: TypedArray | null;
  let result: TypedArray;
  if (recv === IN_PLACE) {
    result = s!.subarray(L!.displs[rank]!, L!.displs[rank]! + L!.counts[rank]!);
    r = isRoot ? null : result;
  } else {
    if (recv === undefined) {
      throw codedError(TypeError, 'ERR_INVALID_BUFFER', `${what}: recv is required (it receives this rank's block), or IN_PLACE`);
    }
    result = bufArg(recv, what, 'recv');
    if (isRoot) {
      sameDtype(s!, result, what);
      aliased(s!, result, what, false);
    } else if (layout !== undefined && layout !== null) {
      L = checkLayout(layout, size, what, 'layout');
    }
    // With a layout, this rank receives its count (the buffer may be longer); without, the buffer's length.
    const n = L === undefined ? intCount(result.length, what, 'recv') : L.counts[rank]!;
    if (result.length < n) tooSmall(what, 'recv', n, result.length);
    r = exact(result, n);
  }
  const ret = isRoot ? native.scatterv(s, L!.counts, L!.displs, r, rt, h, nb) : native.scatterv(null, null, null, r, rt, h, nb);
  return done(nb, h, ret, result, result, nb ? [s, L] : undefined, 0);
}

export function allgatherv(c: Comm, h: number, nb: boolean, send: unknown, layout: unknown, recv: unknown): any {
  const what = nb ? 'iallgatherv' : 'allgatherv';
  const size = c.size;
  const s = send === IN_PLACE ? null : bufArg(send, what, 'send');
  let r = recv === undefined ? undefined : bufArg(recv, what, 'recv');
  const L = checkLayout(layout, size, what, 'layout', r?.length, true);
  if (s === null) {
    if (r === undefined) needInPlaceRecv(what, 'allgatherv(IN_PLACE, layout, buf), this rank\'s block in place');
  } else {
    if (s.length !== L.counts[c.rank]) {
      throw codedError(RangeError, 'ERR_COUNTS', `${what}: send has ${s.length} elements but this rank's count is ${L.counts[c.rank]}`);
    }
    if (r === undefined) {
      r = alloc(s, L.extent);
    } else {
      sameDtype(s, r, what);
      aliased(s, r, what, false);
    }
  }
  const ret = native.allgatherv(s, r!, L.counts, L.displs, h, nb);
  return done(nb, h, ret, r, r, nb ? [s, L] : undefined, 0);
}

export function alltoallv(c: Comm, h: number, nb: boolean, send: unknown, sendLayout: unknown, recvLayout: unknown, recv: unknown): any {
  const what = nb ? 'ialltoallv' : 'alltoallv';
  const size = c.size;
  const s = send === IN_PLACE ? null : bufArg(send, what, 'send');
  let r = recv === undefined ? undefined : bufArg(recv, what, 'recv');
  const RL = checkLayout(recvLayout, size, what, 'recvLayout', r?.length, true);
  let SL: Checked | undefined;
  if (s === null) {
    if (r === undefined) needInPlaceRecv(what, 'alltoallv(IN_PLACE, null, layout, buf)');
  } else {
    SL = checkLayout(sendLayout, size, what, 'sendLayout', s.length);
    if (r === undefined) {
      r = alloc(s, RL.extent);
    } else {
      sameDtype(s, r, what);
      aliased(s, r, what, false);
    }
  }
  const ret = native.alltoallv(s, SL?.counts ?? null, SL?.displs ?? null, r!, RL.counts, RL.displs, h, nb);
  return done(nb, h, ret, r, r, nb ? [s, SL, RL] : undefined, 0);
}
