// Agent graphs: comm.graph(adjacency) builds an MPI distributed graph communicator from a square matrix
// (A[i][j] > 0: rank i may send to rank j, with weight A[i][j]). Channels opened on it refuse to send
// or receive along an edge the matrix does not have (PermissionError, before any byte moves), and the
// neighbour collectives exchange with exactly the graph's neighbours, in its neighbour order.
//
// Collective safety: every rank first enters one agreement check on a digest of what it was given
// (any value, matrix or not), then validates locally. Ranks with the same matrix reach the same
// verdict; ranks with different ones all learn that from the agreement check. Either way every rank
// throws the same AdjacencyError and none is left waiting in MPI's graph constructor.
import { native } from '../addon/binding.js';
import { isRank } from '../core/checks.js';
import { Channel, type ChannelOptions } from '../channel/channel.js';
import { INT_MAX } from '../coll/args.js';
import { Comm } from '../comm/comm.js';
import { AdjacencyError, type Adjacency, type Matrix, digest, validate } from './adjacency.js';
import { TopoComm } from './neighbors.js';

/** A distributed graph communicator; the neighbour collectives are TopoComm's. */
export class GraphComm extends TopoComm {
  readonly #m: Matrix;
  /** Ranks with an edge to this one, in MPI's neighbour order (the order neighbour collectives use). */
  readonly inNeighbors: readonly number[];
  /** Ranks this one has an edge to, in MPI's neighbour order. */
  readonly outNeighbors: readonly number[];

  /** @internal Made by comm.graph(adjacency). */
  constructor(handle: number, internal: number, m: Matrix) {
    super(handle, internal);
    this.#m = m;
    const [sources, , dests] = native.distGraphNeighbors(handle);
    this.inNeighbors = Object.freeze(Array.from(sources));
    this.outNeighbors = Object.freeze(Array.from(dests));
  }

  /** Whether the matrix has the edge from -> to (rank `from` may send to rank `to`). */
  canSend(from: number, to: number): boolean {
    const n = this.#m.n;
    return isRank(from, n) && isRank(to, n) && this.#m.a[from * n + to]! > 0;
  }

  /** The weight of edge from -> to (0 when there is none). */
  weight(from: number, to: number): number {
    return this.canSend(from, to) ? this.#m.a[from * this.#m.n + to]! : 0;
  }

  /** The matrix, as rows of numbers (a copy). */
  get adjacency(): number[][] {
    const { n, a } = this.#m;
    return Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * n, (i + 1) * n)));
  }

  /** A channel that may only carry messages along the graph's edges (see Comm.channel). */
  override channel(name: string, options: ChannelOptions): Channel {
    return new Channel(this, name, options, this);
  }
}

declare module '../comm/comm.js' {
  interface Comm {
    /**
     * A distributed graph communicator from an adjacency matrix (A[i][j] > 0: rank i may send to rank j,
     * weight A[i][j]) of this communicator's size. Collective; an invalid matrix, or ranks passing
     * different ones, throws the same AdjacencyError on every rank.
     */
    graph(adjacency: Adjacency): GraphComm;
  }
}

Comm.prototype.graph = function (this: Comm, adjacency: Adjacency): GraphComm {
  const size = this.size;
  if (!native.topoAgree(this._handle(true), digest(adjacency))) {
    throw new AdjacencyError('disagree', 'comm.graph: the ranks passed different adjacency matrices; every rank must pass the same one');
  }
  const m = validate(adjacency, size);
  const me = this.rank, n = m.n, a = m.a;
  const sources: number[] = [], sw: number[] = [], dests: number[] = [], dw: number[] = [];
  let integral = true;
  for (let k = 0; k < n; k++) {
    const win = a[k * n + me]!, wout = a[me * n + k]!;
    if (win > 0) sources.push(k), sw.push(win);
    if (wout > 0) dests.push(k), dw.push(wout);
  }
  // MPI's weights are ints; any other weights stay ours alone (graph.weight()).
  for (let k = 0; k < n * n; k++) if (!(Number.isInteger(a[k]) && a[k]! <= INT_MAX)) integral = false;
  const [h, i] = native.distGraphCreate(this._handle(), Int32Array.from(sources), integral ? Int32Array.from(sw) : null,
    Int32Array.from(dests), integral ? Int32Array.from(dw) : null);
  return new GraphComm(h, i, m);
};

export { AdjacencyError, type Adjacency } from './adjacency.js';
