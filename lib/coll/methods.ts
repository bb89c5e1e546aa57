// Collective operations on every communicator, as Comm methods (declaration merging keeps comm.ts to
// communicators and point-to-point). Blocking forms return the result; Promise forms, named with an
// `i` as in MPI, return a Request for it and never block the event loop. Both throw argument errors
// before anything is posted; Promise forms reject on MPI errors. See docs/collectives.md.
//
// Conventions, the same for every collective:
// - Receive buffers are optional wherever the result's size is known locally: without one, a fresh
//   array of the send buffer's type is allocated and returned; with one, MPI writes into it (zero
//   copy) and it is returned. (scatter and scatterv need one: a non-root cannot know the size.)
// - In place is MPI's spelling: IN_PLACE as the send buffer (the receive buffer for scatter and
//   scatterv), the data then being in the receive buffer. f(buf, op, buf) is also in place.
// - Reductions take an optional last argument { dtype }: 'float16' or 'bfloat16' for Uint16Array data
//   (lib/coll/ops.ts ReduceOptions).
// - Results are typed arrays: the same object you passed, or a Uint8Array over a DataView's or
//   ArrayBuffer's memory.
import type { BufferLike } from '../core/checks.js';
import * as impl from './impl.js';
import type { InPlace, Layout } from './args.js';
import { Comm } from '../comm/comm.js';
import type { TypedArray } from '../core/dtypes.js';
import type { Op, OpName, ReduceOptions } from './ops.js';
import type { Prequest } from '../core/prequest.js';
import type { Request } from '../core/request.js';

export { IN_PLACE, type InPlace, type Layout } from './args.js';

/** The typed array a result is returned as: the same type for typed arrays, bytes otherwise. */
export type Fresh<T> = T extends TypedArray ? T : Uint8Array;

declare module '../comm/comm.js' {
  interface Comm {
    /** Blocks until every rank has called it (MPI_Barrier). */
    barrier(): void;
    ibarrier(): Request<void>;

    /** Broadcasts the root's `buf` into every other rank's `buf`, in place (MPI_Bcast). */
    bcast<T extends BufferLike>(buf: T, root?: number): Fresh<T>;
    ibcast<T extends BufferLike>(buf: T, root?: number): Request<Fresh<T>>;

    /**
     * Combines every rank's `send` with `op` into the root's result (MPI_Reduce); other ranks get
     * undefined and their `recv` is not touched. `reduce(IN_PLACE, op, root, buf)`: each rank's data is
     * in `buf`, and the root's result replaces it.
     */
    reduce<T extends TypedArray>(send: T | InPlace, op?: Op<T>, root?: number, recv?: T, options?: ReduceOptions): T | undefined;
    ireduce<T extends TypedArray>(send: T | InPlace, op?: Op<T>, root?: number, recv?: T, options?: ReduceOptions): Request<T | undefined>;

    /** Combines every rank's `send` with `op`; every rank gets the result (MPI_Allreduce). */
    allreduce<T extends TypedArray>(send: T | InPlace, op?: Op<T>, recv?: T, options?: ReduceOptions): T;
    iallreduce<T extends TypedArray>(send: T | InPlace, op?: Op<T>, recv?: T, options?: ReduceOptions): Request<T>;
    /**
     * A persistent allreduce (MPI-4 MPI_Allreduce_init; Open MPI 4's MPIX_ extension): set up once,
     * start() it every iteration. Predefined ops and 'avg'. Collective, like every start().
     */
    allreduceInit<T extends TypedArray>(send: T | InPlace, op?: OpName, recv?: T): Prequest<T>;
    /** A persistent broadcast (MPI_Bcast_init). */
    bcastInit<T extends TypedArray>(buf: T, root?: number): Prequest<T>;
    /** A persistent barrier (MPI_Barrier_init). */
    barrierInit(): Prequest<undefined>;

    /** Inclusive prefix reduction: rank r gets op over ranks 0..r (MPI_Scan). */
    scan<T extends TypedArray>(send: T | InPlace, op?: Op<T>, recv?: T, options?: ReduceOptions): T;
    iscan<T extends TypedArray>(send: T | InPlace, op?: Op<T>, recv?: T, options?: ReduceOptions): Request<T>;

    /** Exclusive prefix reduction: rank r > 0 gets op over ranks 0..r-1; rank 0's recv is not touched (MPI_Exscan). */
    exscan<T extends TypedArray>(send: T | InPlace, op?: Op<T>, recv?: T, options?: ReduceOptions): T;
    iexscan<T extends TypedArray>(send: T | InPlace, op?: Op<T>, recv?: T, options?: ReduceOptions): Request<T>;

    /**
     * Reduces `send` (size equal blocks) and gives rank r block r (MPI_Reduce_scatter_block). In place,
     * the input is `recv` and the result its first block, returned as a view.
     */
    reduceScatterBlock<T extends TypedArray>(send: T | InPlace, op?: Op<T>, recv?: T, options?: ReduceOptions): T;
    ireduceScatterBlock<T extends TypedArray>(send: T | InPlace, op?: Op<T>, recv?: T, options?: ReduceOptions): Request<T>;

    /** Reduces `send` and gives rank r the block of counts[r] elements after the blocks of lower ranks (MPI_Reduce_scatter). */
    reduceScatter<T extends TypedArray>(send: T | InPlace, counts: ArrayLike<number>, op?: Op<T>, recv?: T, options?: ReduceOptions): T;
    ireduceScatter<T extends TypedArray>(send: T | InPlace, counts: ArrayLike<number>, op?: Op<T>, recv?: T, options?: ReduceOptions): Request<T>;

    /** The root gets every rank's `send`, in rank order (MPI_Gather); other ranks get undefined. */
    gather<T extends BufferLike>(send: T | InPlace, root?: number, recv?: T): Fresh<T> | undefined;
    igather<T extends BufferLike>(send: T | InPlace, root?: number, recv?: T): Request<Fresh<T> | undefined>;

    /** Rank r gets block r of the root's `send` (MPI_Scatter); `send` is ignored elsewhere. */
    scatter<T extends BufferLike>(send: T | null | undefined, recv: T | InPlace, root?: number): Fresh<T>;
    iscatter<T extends BufferLike>(send: T | null | undefined, recv: T | InPlace, root?: number): Request<Fresh<T>>;

    /** Every rank gets every rank's `send`, in rank order (MPI_Allgather). */
    allgather<T extends BufferLike>(send: T | InPlace, recv?: T): Fresh<T>;
    iallgather<T extends BufferLike>(send: T | InPlace, recv?: T): Request<Fresh<T>>;

    /** Block j of rank i's `send` becomes block i of rank j's result (MPI_Alltoall). */
    alltoall<T extends BufferLike>(send: T | InPlace, recv?: T): Fresh<T>;
    ialltoall<T extends BufferLike>(send: T | InPlace, recv?: T): Request<Fresh<T>>;

    /** gather with a count (and displacement) per rank; the layout matters at the root only (MPI_Gatherv). */
    gatherv<T extends BufferLike>(send: T | InPlace, layout: Layout | null | undefined, root?: number, recv?: T): Fresh<T> | undefined;
    igatherv<T extends BufferLike>(send: T | InPlace, layout: Layout | null | undefined, root?: number, recv?: T): Request<Fresh<T> | undefined>;

    /** scatter with a count (and displacement) per rank; elsewhere than the root the layout is optional (MPI_Scatterv). */
    scatterv<T extends BufferLike>(send: T | null | undefined, layout: Layout | null | undefined, recv: T | InPlace, root?: number): Fresh<T>;
    iscatterv<T extends BufferLike>(send: T | null | undefined, layout: Layout | null | undefined, recv: T | InPlace, root?: number): Request<Fresh<T>>;

    /** allgather with a count (and displacement) per rank (MPI_Allgatherv). */
    allgatherv<T extends BufferLike>(send: T | InPlace, layout: Layout, recv?: T): Fresh<T>;
    iallgatherv<T extends BufferLike>(send: T | InPlace, layout: Layout, recv?: T): Request<Fresh<T>>;

    /** alltoall with counts and displacements per rank on both sides (MPI_Alltoallv). */
    alltoallv<T extends BufferLike>(send: T | InPlace, sendLayout: Layout | null | undefined, recvLayout: Layout, recv?: T): Fresh<T>;
    ialltoallv<T extends BufferLike>(send: T | InPlace, sendLayout: Layout | null | undefined, recvLayout: Layout, recv?: T): Request<Fresh<T>>;
  }
}

const P = Comm.prototype;

P.barrier = function () { return impl.barrier(this, this._handle(), false); };
P.ibarrier = function () { return impl.barrier(this, this._handle(), true); };
P.bcast = function (buf, root = 0) { return impl.bcast(this, this._handle(), false, buf, root); };
P.ibcast = function (buf, root = 0) { return impl.bcast(this, this._handle(), true, buf, root); };
P.reduce = function (send, op = 'sum', root = 0, recv, o) { return impl.reduce(this, this._handle(), false, send, op, root, recv, o); };
P.ireduce = function (send, op = 'sum', root = 0, recv, o) { return impl.reduce(this, this._handle(), true, send, op, root, recv, o); };
P.allreduce = function (send, op = 'sum', recv, o) { return impl.allreduce(this, this._handle(), false, send, op, recv, o); };
P.iallreduce = function (send, op = 'sum', recv, o) { return impl.allreduce(this, this._handle(), true, send, op, recv, o); };
P.allreduceInit = function (send, op = 'sum', recv) { return impl.allreduceInit(this, this._handle(), send, op, recv) as any; };
P.bcastInit = function (buf, root = 0) { return impl.bcastInit(this, this._handle(), buf, root) as any; };
P.barrierInit = function () { return impl.barrierInit(this, this._handle()); };
P.scan = function (send, op = 'sum', recv, o) { return impl.scan(this, this._handle(), false, send, op, recv, o); };
P.iscan = function (send, op = 'sum', recv, o) { return impl.scan(this, this._handle(), true, send, op, recv, o); };
P.exscan = function (send, op = 'sum', recv, o) { return impl.exscan(this, this._handle(), false, send, op, recv, o); };
P.iexscan = function (send, op = 'sum', recv, o) { return impl.exscan(this, this._handle(), true, send, op, recv, o); };
P.reduceScatterBlock = function (send, op = 'sum', recv, o) {
  return impl.reduceScatterBlock(this, this._handle(), false, send, op, recv, o);
};
P.ireduceScatterBlock = function (send, op = 'sum', recv, o) {
  return impl.reduceScatterBlock(this, this._handle(), true, send, op, recv, o);
};
P.reduceScatter = function (send, counts, op = 'sum', recv, o) {
  return impl.reduceScatter(this, this._handle(), false, send, counts, op, recv, o);
};
P.ireduceScatter = function (send, counts, op = 'sum', recv, o) {
  return impl.reduceScatter(this, this._handle(), true, send, counts, op, recv, o);
};
P.gather = function (send, root = 0, recv) { return impl.gather(this, this._handle(), false, send, root, recv); };
P.igather = function (send, root = 0, recv) { return impl.gather(this, this._handle(), true, send, root, recv); };
P.scatter = function (send, recv, root = 0) { return impl.scatter(this, this._handle(), false, send, recv, root); };
P.iscatter = function (send, recv, root = 0) { return impl.scatter(this, this._handle(), true, send, recv, root); };
P.allgather = function (send, recv) { return impl.allgather(this, this._handle(), false, send, recv); };
P.iallgather = function (send, recv) { return impl.allgather(this, this._handle(), true, send, recv); };
P.alltoall = function (send, recv) { return impl.alltoall(this, this._handle(), false, send, recv); };
P.ialltoall = function (send, recv) { return impl.alltoall(this, this._handle(), true, send, recv); };
P.gatherv = function (send, layout, root = 0, recv) { return impl.gatherv(this, this._handle(), false, send, layout, root, recv); };
P.igatherv = function (send, layout, root = 0, recv) { return impl.gatherv(this, this._handle(), true, send, layout, root, recv); };
P.scatterv = function (send, layout, recv, root = 0) { return impl.scatterv(this, this._handle(), false, send, layout, recv, root); };
P.iscatterv = function (send, layout, recv, root = 0) { return impl.scatterv(this, this._handle(), true, send, layout, recv, root); };
P.allgatherv = function (send, layout, recv) { return impl.allgatherv(this, this._handle(), false, send, layout, recv); };
P.iallgatherv = function (send, layout, recv) { return impl.allgatherv(this, this._handle(), true, send, layout, recv); };
P.alltoallv = function (send, sl, rl, recv) { return impl.alltoallv(this, this._handle(), false, send, sl, rl, recv); };
P.ialltoallv = function (send, sl, rl, recv) { return impl.alltoallv(this, this._handle(), true, send, sl, rl, recv); };
