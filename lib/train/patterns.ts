// Two small patterns of distributed training (docs/training.md):
// - ParameterServer: workers push gradients stamped with the parameter version they computed them
//   from; the server averages a round's fresh gradients, applies them, and sends every worker the new
//   parameters and version. A push stamped with an older version is stale: it is counted, left out of
//   the average, and answered with the current parameters so the worker catches up.
// - ParameterBlock: one parameter array on an RMA window at an owner rank that every rank adds to with
//   accumulate (under a shared lock: accumulates of one op are atomic per element) and reads with get
//   (under an exclusive lock, so no accumulate runs meanwhile).
import { checkRoot, invalidParameterError } from '../core/checks.js';
import { codedError } from '../core/errors.js';
import { checkComm, type Comm } from '../comm/comm.js';
import type { Window } from '../rma/window.js';
import '../rma/window.js';

const TAG = 7_400;

export interface ServerRound {
  /** The version the parameters have after the round. */
  version: number;
  /** Ranks whose push carried an older version (left out of the average). */
  stale: number[];
}

/**
 * Rank `root` of `comm` holds the parameters and serves; the other ranks are workers. The parameters
 * travel as float64 messages [version, ...values] on a duplicate of `comm` (freed by free()).
 */
export class ParameterServer {
  readonly root: number;
  /** The parameters (the server's master copy, or the worker's latest copy). */
  readonly params: Float64Array;
  #version = 0;
  readonly #comm: Comm;
  readonly #msg: Float64Array;

  constructor(comm: Comm, params: Float64Array, root = 0) {
    checkComm(comm, 'ParameterServer: comm');
    if (!(params instanceof Float64Array)) throw invalidParameterError('ERR_INVALID_BUFFER', 'ParameterServer: params', 'a Float64Array', params);
    this.root = checkRoot(root, comm.size, 'ParameterServer');
    this.#comm = comm.dup();
    this.params = params;
    this.#msg = new Float64Array(params.length + 1);
    // Every worker starts from the server's parameters.
    this.#comm.bcast(params, this.root);
  }

  get version(): number {
    return this.#version;
  }

  get isServer(): boolean {
    return this.#comm.rank === this.root;
  }

  /**
   * Server: one round. Takes one push from every worker, averages the fresh gradients, applies
   * `update(params, averageGradient)` (default: params -= 0.1 * average), bumps the version when
   * there was a fresh one, and replies to every worker.
   */
  async serve(update: (params: Float64Array, grad: Float64Array) => void = sgd(0.1)): Promise<ServerRound> {
    if (!this.isServer) throw codedError(Error, 'ERR_INVALID_ARG_VALUE', 'serve: only the server rank serves; workers push()');
    const n = this.params.length, workers = this.#comm.size - 1;
    const sum = new Float64Array(n);
    const stale: number[] = [];
    let fresh = 0;
    for (let k = 0; k < workers; k++) {
      const st = await this.#comm.irecv(this.#msg, undefined, TAG);
      if (this.#msg[0] !== this.#version) {
        stale.push(st.source);
        continue;
      }
      fresh++;
      for (let i = 0; i < n; i++) sum[i] += this.#msg[i + 1]!;
    }
    if (fresh > 0) {
      for (let i = 0; i < n; i++) sum[i] /= fresh;
      update(this.params, sum);
      this.#version++;
    }
    this.#msg[0] = this.#version;
    this.#msg.set(this.params, 1);
    const sends = [];
    for (let r = 0; r < this.#comm.size; r++) if (r !== this.root) sends.push(this.#comm.isend(this.#msg, r, TAG + 1));
    await Promise.all(sends);
    return { version: this.#version, stale: stale.sort((a, b) => a - b) };
  }

  /**
   * Worker: sends `grad` stamped with `version` (default: the version of the parameters it holds),
   * then takes the server's reply into params. Returns whether the push was stale.
   */
  async push(grad: Float64Array, version = this.#version): Promise<{ version: number; stale: boolean }> {
    if (this.isServer) throw codedError(Error, 'ERR_INVALID_ARG_VALUE', 'push: the server rank serves(); workers push');
    if (!(grad instanceof Float64Array) || grad.length !== this.params.length) {
      throw invalidParameterError('ERR_INVALID_BUFFER', 'push: grad', `a Float64Array of ${this.params.length} elements`, grad);
    }
    const out = new Float64Array(grad.length + 1);
    out[0] = version;
    out.set(grad, 1);
    const reply = this.#comm.irecv(this.#msg, this.root, TAG + 1);
    await this.#comm.isend(out, this.root, TAG);
    await reply;
    const stale = version !== this.#version;
    this.#version = this.#msg[0]!;
    this.params.set(this.#msg.subarray(1));
    return { version: this.#version, stale };
  }

  free(): void {
    this.#comm.free();
  }
}

/** Plain SGD: params -= lr * grad. */
export function sgd(lr: number) {
  return (params: Float64Array, grad: Float64Array) => {
    for (let i = 0; i < params.length; i++) params[i] -= lr * grad[i]!;
  };
}

/** A float64 parameter array at rank `owner` of `comm`, updated by every rank with one-sided accumulates. Collective to make and free. */
export class ParameterBlock {
  readonly owner: number;
  readonly length: number;
  readonly #win: Window<Float64Array>;

  constructor(comm: Comm, length: number, owner = 0) {
    checkComm(comm, 'ParameterBlock: comm');
    if (!Number.isSafeInteger(length) || length < 0) throw invalidParameterError('ERR_INVALID_LENGTH', 'ParameterBlock: length', 'a non-negative integer', length, RangeError);
    this.owner = checkRoot(owner, comm.size, 'ParameterBlock');
    this.length = length;
    this.#win = comm.allocateWindow('float64', comm.rank === this.owner ? length : 0);
  }

  /** Adds `delta` element-wise to the block (MPI_Accumulate with MPI_SUM under a shared lock). */
  add(delta: Float64Array, offset = 0): void {
    this.#win.lock(this.owner, 'shared');
    try {
      this.#win.accumulate(delta, this.owner, offset, 'sum');
    } finally {
      this.#win.unlock(this.owner);
    }
  }

  /** Replaces the block's values from `values` (MPI_Put under an exclusive lock). */
  write(values: Float64Array, offset = 0): void {
    this.#win.lock(this.owner, 'exclusive');
    try {
      this.#win.put(values, this.owner, offset);
    } finally {
      this.#win.unlock(this.owner);
    }
  }

  /** The block's values into `into` (MPI_Get under an exclusive lock: no update is half-seen). */
  read(into = new Float64Array(this.length), offset = 0): Float64Array {
    this.#win.lock(this.owner, 'exclusive');
    try {
      this.#win.get(into, this.owner, offset);
    } finally {
      this.#win.unlock(this.owner);
    }
    return into;
  }

  free(): void {
    this.#win.free();
  }
}
