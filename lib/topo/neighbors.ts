// What every process topology has (MPI-4.1 §8.6): neighbours in MPI's order and the neighbour
// collectives over them. GraphComm (agent graphs) and CartComm (grids) extend it; the collectives are one
// binding for both (native/mpi/coll.cc). A cartesian grid's neighbours include PROC_NULL off a
// non-periodic edge: its blocks are neither sent nor written, as MPI says.
import { native } from '../addon/binding.js';
import { asView, sameDtype, type BufferLike } from '../core/checks.js';
import { alloc, INT_MAX } from '../coll/args.js';
import { Comm } from '../comm/comm.js';
import type { TypedArray } from '../core/dtypes.js';
import { codedError } from '../core/errors.js';
import { Request } from '../core/request.js';

/** A communicator with a process topology: neighbours and neighbour collectives. */
export abstract class TopoComm extends Comm {
  /** Ranks this one receives from, in MPI's neighbour order (the order neighbour collectives use). */
  abstract readonly inNeighbors: readonly number[];
  /** Ranks this one sends to, in MPI's neighbour order. */
  abstract readonly outNeighbors: readonly number[];

  // ---- neighbour collectives (every rank of the topology calls them, in the same order) ----

  /** Every in-neighbour's `send` block, in inNeighbors order (MPI_Neighbor_allgather). */
  neighborAllgather<T extends TypedArray>(send: T | BufferLike, recv?: T): T {
    const [s, r] = this.#allgatherArgs(send, recv);
    native.neighborAllgather(s, r, s.length, this._handle(), false);
    return r as T;
  }

  /** Promise form of neighborAllgather (argument errors throw, as in every Promise form). */
  ineighborAllgather<T extends TypedArray>(send: T | BufferLike, recv?: T): Request<T> {
    const [s, r] = this.#allgatherArgs(send, recv);
    return Request._coll(native.neighborAllgather(s, r, s.length, this._handle(), true)!, this._handle(), r as T, r, s, 0);
  }

  /**
   * Block i of `send` goes to outNeighbors[i]; block j of the result came from inNeighbors[j]
   * (MPI_Neighbor_alltoall). Blocks are send.length / outNeighbors.length elements; a rank with no
   * out-neighbours passes `recv` so the block size is known.
   */
  neighborAlltoall<T extends TypedArray>(send: T | BufferLike, recv?: T): T {
    const [s, r, count] = this.#alltoallArgs(send, recv);
    native.neighborAlltoall(s, r, count, this._handle(), false);
    return r as T;
  }

  /** Promise form of neighborAlltoall. */
  ineighborAlltoall<T extends TypedArray>(send: T | BufferLike, recv?: T): Request<T> {
    const [s, r, count] = this.#alltoallArgs(send, recv);
    return Request._coll(native.neighborAlltoall(s, r, count, this._handle(), true)!, this._handle(), r as T, r, s, 0);
  }

  #allgatherArgs(send: unknown, recv: unknown): [TypedArray, TypedArray] {
    const s = asView(send, 'neighborAllgather: send');
    const want = s.length * this.inNeighbors.length;
    const r = recv === undefined ? alloc(s, want) : asView(recv, 'neighborAllgather: recv');
    checkRecv(s, r, want, 'neighborAllgather', `${this.inNeighbors.length} in-neighbours x ${s.length}`);
    return [s, r];
  }

  #alltoallArgs(send: unknown, recv: unknown): [TypedArray, TypedArray, number] {
    const s = asView(send, 'neighborAlltoall: send');
    const outs = this.outNeighbors.length, ins = this.inNeighbors.length;
    let count: number;
    if (outs > 0) {
      if (s.length % outs !== 0) {
        throw codedError(RangeError, 'ERR_COUNTS', `neighborAlltoall: send has ${s.length} elements, not a multiple of the ${outs} out-neighbours`);
      }
      count = s.length / outs;
    } else if (recv !== undefined && ins > 0) {
      count = asView(recv, 'neighborAlltoall: recv').length / ins;
    } else if (ins === 0) {
      count = 0;
    } else {
      throw codedError(TypeError, 'ERR_INVALID_BUFFER', 'neighborAlltoall: this rank has no out-neighbours, pass recv so the block size is known');
    }
    if (!Number.isInteger(count) || count > INT_MAX) throw codedError(RangeError, 'ERR_COUNTS', `neighborAlltoall: block of ${count} elements`);
    const want = count * ins;
    const r = recv === undefined ? alloc(s, want) : asView(recv, 'neighborAlltoall: recv');
    checkRecv(s, r, want, 'neighborAlltoall', `${ins} in-neighbours x ${count}`);
    return [s, r, count];
  }
}

// A neighbour collective's recv: the send's element type, and exactly the length the neighbours fill.
function checkRecv(s: TypedArray, r: TypedArray, want: number, what: string, why: string): void {
  sameDtype(s, r, what);
  if (r.length !== want) {
    throw codedError(RangeError, 'ERR_BUFFER_TOO_SMALL', `${what}: recv has ${r.length} elements, needs exactly ${want} (${why})`);
  }
}
