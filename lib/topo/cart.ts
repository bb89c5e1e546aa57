// Cartesian topologies (MPI-4.1 §8.5): comm.cart(dims, periods, reorder) arranges the ranks in a grid;
// a CartComm maps ranks to coordinates and back, finds the neighbours of a shift (PROC_NULL off a
// non-periodic edge), splits into sub-grids, and has the neighbour collectives (TopoComm), whose
// neighbours are, per dimension, the one at -1 then the one at +1.
//
// Collective safety as for graphs (lib/topo/graph.ts): every rank first agrees on a digest of what it
// was given, then validates locally, so every rank throws the same error and none waits in
// MPI_Cart_create. Coordinates, ranks and directions are checked here before MPI sees them: Open MPI
// 4.1.4 checks no rank in MPI_Cart_coords.
import { native } from '../addon/binding.js';
import { describe, invalidParameterError, rankError } from '../core/checks.js';
import { Comm } from '../comm/comm.js';
import { ensureInit } from '../core/env.js';
import { codedError } from '../core/errors.js';
import { digest } from './adjacency.js';
import { TopoComm } from './neighbors.js';

/** The ranks next to this one along a dimension (PROC_NULL off a non-periodic edge). */
export interface Shift {
  /** The rank `disp` steps back: the one this rank receives from in a shift. */
  source: number;
  /** The rank `disp` steps forward: the one this rank sends to. */
  dest: number;
}

/** A communicator whose ranks form a grid (MPI's cartesian topology). */
export class CartComm extends TopoComm {
  /** The grid's extent in each dimension. */
  readonly dims: readonly number[];
  /** Whether each dimension wraps around. */
  readonly periods: readonly boolean[];
  readonly inNeighbors: readonly number[];
  readonly outNeighbors: readonly number[];
  readonly #coords: readonly number[];

  /** @internal Made by comm.cart() and sub(). */
  constructor(handle: number, internal: number) {
    super(handle, internal);
    const [dims, periods, coords] = native.cartGet(handle);
    this.dims = Object.freeze(Array.from(dims));
    this.periods = Object.freeze(Array.from(periods, (p) => p !== 0));
    this.#coords = Object.freeze(Array.from(coords));
    const neighbors: number[] = [];
    for (let d = 0; d < dims.length; d++) {
      const [source, dest] = native.cartShift(handle, d, 1);
      neighbors.push(source!, dest!);
    }
    this.inNeighbors = this.outNeighbors = Object.freeze(neighbors);
  }

  get ndims(): number {
    return this.dims.length;
  }

  /** The coordinates of `rank` (this rank's by default): row-major, the last dimension fastest. */
  coords(rank: number = this.rank): number[] {
    if (rank === this.rank) return [...this.#coords];
    if (!(Number.isInteger(rank) && rank >= 0 && rank < this.size)) throw rankError('coords: rank', rank, this.size);
    return Array.from(native.cartCoords(this._handle(), rank));
  }

  /**
   * The rank at `coords`. A coordinate out of its dimension's range wraps around in a periodic
   * dimension and is a RangeError (ERR_COORDS) in a non-periodic one.
   */
  rankOf(coords: readonly number[]): number {
    if (!Array.isArray(coords)) throw invalidParameterError('ERR_COORDS', 'rankOf: coords', 'an array of integers', coords);
    if (coords.length !== this.ndims) {
      throw codedError(RangeError, 'ERR_COORDS', `rankOf: ${coords.length} coordinates for a grid of ${this.ndims} dimensions`);
    }
    coords.forEach((c, d) => {
      if (!Number.isInteger(c)) throw invalidParameterError('ERR_COORDS', `rankOf: coordinate ${d}`, 'an integer', c);
      if (!this.periods[d] && (c < 0 || c >= this.dims[d]!)) {
        throw codedError(RangeError, 'ERR_COORDS',
          `rankOf: coordinate ${c} in dimension ${d} is out of range 0..${this.dims[d]! - 1} (the dimension is not periodic)`);
      }
    });
    return native.cartRank(this._handle(), Int32Array.from(coords));
  }

  /** The ranks `disp` steps back and forward along `direction` (MPI_Cart_shift). */
  shift(direction: number, disp = 1): Shift {
    this.#direction(direction, 'shift');
    if (!Number.isInteger(disp) || Math.abs(disp) > 0x7fffffff) {
      throw invalidParameterError('ERR_INVALID_ARG_VALUE', 'shift: disp', 'an integer', disp, RangeError);
    }
    const [source, dest] = native.cartShift(this._handle(), direction, disp);
    return { source: source!, dest: dest! };
  }

  /**
   * The sub-grid through this rank that keeps the dimensions where `remainDims` is true
   * (MPI_Cart_sub). Collective; with none kept, a grid of this rank alone with no dimensions.
   */
  sub(remainDims: readonly boolean[]): CartComm {
    if (!Array.isArray(remainDims) || remainDims.length !== this.ndims || !remainDims.every((b) => typeof b === 'boolean')) {
      throw codedError(RangeError, 'ERR_DIMS', `sub: remainDims must be ${this.ndims} booleans (one per dimension), got ${describe(remainDims)}`);
    }
    const [h, i] = native.cartSub(this._handle(), Int32Array.from(remainDims, Number));
    return new CartComm(h, i);
  }

  #direction(direction: number, what: string): void {
    if (!(Number.isInteger(direction) && direction >= 0 && direction < this.ndims)) {
      throw codedError(RangeError, 'ERR_DIMS', `${what}: direction ${describe(direction)} is out of range: the grid has dimensions 0..${this.ndims - 1}`);
    }
  }
}

/** A grid's dimensions: positive integers. */
function checkDims(dims: unknown, what: string): number[] {
  if (!Array.isArray(dims) || dims.length === 0) {
    throw invalidParameterError('ERR_DIMS', `${what}: dims`, 'a non-empty array of integers', dims);
  }
  return dims.map((d, i) => {
    if (!Number.isInteger(d)) throw invalidParameterError('ERR_DIMS', `${what}: dims[${i}]`, 'an integer', d);
    return d as number;
  });
}

/**
 * Balanced dimensions for a grid of `nnodes` ranks (MPI_Dims_create): `dims` is the number of
 * dimensions, or an array whose zero entries are filled in (non-zero ones are kept), e.g.
 * dimsCreate(12, 2) -> [4, 3], dimsCreate(12, [0, 2]) -> [6, 2].
 */
export function dimsCreate(nnodes: number, dims: number | readonly number[]): number[] {
  if (!(Number.isInteger(nnodes) && nnodes > 0 && nnodes <= 0x7fffffff)) {
    throw invalidParameterError('ERR_DIMS', 'dimsCreate: nnodes', 'a positive integer', nnodes, RangeError);
  }
  if (typeof dims === 'number' && !(Number.isInteger(dims) && dims > 0 && dims <= 64)) {
    throw invalidParameterError('ERR_DIMS', 'dimsCreate: dims', 'a number of dimensions (1..64) or an array', dims, RangeError);
  }
  const given = typeof dims === 'number' ? new Array<number>(dims).fill(0) : checkDims(dims, 'dimsCreate');
  let fixed = 1;
  for (const d of given) {
    if (d < 0) throw codedError(RangeError, 'ERR_DIMS', `dimsCreate: dims has ${d}; entries are 0 (to fill in) or positive`);
    if (d > 0) fixed *= d;
  }
  if (nnodes % fixed !== 0 || (!given.includes(0) && fixed !== nnodes)) {
    throw codedError(RangeError, 'ERR_DIMS', `dimsCreate: ${nnodes} ranks cannot fill dims [${given.join(', ')}]`);
  }
  ensureInit();
  const out = Int32Array.from(given);
  native.dimsCreate(nnodes, out);
  return Array.from(out);
}

declare module '../comm/comm.js' {
  interface Comm {
    /**
     * A cartesian grid of this communicator's ranks (MPI_Cart_create): `dims` the extent of each
     * dimension (their product must be the communicator's size; dimsCreate() balances one), `periods`
     * whether each dimension wraps around (one boolean for all, default false), `reorder` whether MPI
     * may renumber the ranks (default false). Collective; every rank passes the same arguments.
     */
    cart(dims: readonly number[], periods?: boolean | readonly boolean[], reorder?: boolean): CartComm;
  }
}

Comm.prototype.cart = function (this: Comm, dims: readonly number[], periods: boolean | readonly boolean[] = false,
  reorder = false): CartComm {
  const size = this.size;
  const flags = (p: unknown) => (typeof p === 'boolean' ? Number(p) : p);
  const given = [dims, typeof periods === 'boolean' ? [Number(periods)] : Array.isArray(periods) ? periods.map(flags) : periods,
    [flags(reorder)]];
  if (!native.topoAgree(this._handle(true), digest(given))) {
    throw codedError(RangeError, 'ERR_DIMS', 'comm.cart: the ranks passed different grids; every rank must pass the same dims, periods and reorder');
  }
  const d = checkDims(dims, 'comm.cart');
  if (d.some((x) => x <= 0) || d.reduce((a, b) => a * b, 1) !== size) {
    throw codedError(RangeError, 'ERR_DIMS',
      `comm.cart: dims [${d.join(', ')}] make a grid of ${d.reduce((a, b) => a * b, 1)} ranks; the communicator has ${size} ` +
      '(every extent positive, their product the size: see dimsCreate)');
  }
  const p = typeof periods === 'boolean' ? d.map(() => periods) : periods;
  if (!Array.isArray(p) || p.length !== d.length || !p.every((x) => typeof x === 'boolean')) {
    throw codedError(TypeError, 'ERR_DIMS', `comm.cart: periods must be a boolean or ${d.length} booleans, got ${describe(periods)}`);
  }
  if (typeof reorder !== 'boolean') throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'comm.cart: reorder', 'a boolean', reorder);
  const r = native.cartCreate(this._handle(), Int32Array.from(d), Int32Array.from(p, Number), reorder);
  if (r === null) throw new Error('MPI_Cart_create returned no communicator for a grid of the communicator\'s size');
  return new CartComm(r[0], r[1]);
};
