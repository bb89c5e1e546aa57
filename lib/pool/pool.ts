// A task pool in the spirit of mpi4py.futures' MPIPoolExecutor, over ranks that exist (every rank of the
// communicator serves tasks, one rank, the root, submits them) or over spawned workers ({ spawn: n }:
// n processes run lib/pool/worker and only they run tasks; lib/comm/intercomm.ts spawns them). A task is
// a function exported by a module, named by a specifier every rank can import (an absolute path or
// file: URL): what travels is the specifier, the export's name and the arguments (structured clone),
// never code. Built on
// request/reply of one channel (lib/channel/rpc.ts): a failing task rejects with RemoteError carrying
// the worker's error, stack included.
import { checkComm, Comm } from '../comm/comm.js';
import type { Intercomm } from '../comm/intercomm.js';
import type { Channel } from '../channel/channel.js';
import type { Server } from '../channel/rpc.js';
import { invalidParameterError } from '../core/checks.js';
import { codedError } from '../core/errors.js';

export interface PoolOptions {
  /** The submitting rank (default 0); every rank, this one included, runs tasks. */
  root?: number | undefined;
  /** Tasks submitted and not yet finished, at most (default 64): submit() throws ERR_POOL_FULL past it. */
  maxQueue?: number | undefined;
  /** Tasks run at once per worker (default 1). */
  perWorker?: number | undefined;
  /**
   * Spawn this many worker processes (MPI_Comm_spawn of Node running lib/pool/worker) and run the tasks
   * there only; collective over the communicator, like spawn. Open MPI only (docs/dynamic.md).
   */
  spawn?: number | undefined;
  /**
   * Sign and verify every task and result with the job key of the environment (the channel option
   * `auth: true`, docs/security.md): spawned workers read the same variables, and no key ever travels
   * on a command line.
   */
  auth?: boolean | undefined;
}

/** @internal How a pool over spawned workers is laid out: its first `parents` ranks run no tasks. */
interface Spawned { parents: number; release: () => void }

interface Task { module: string; name: string; args: unknown[] }

export class Pool {
  readonly root: number;
  readonly maxQueue: number;
  readonly perWorker: number;
  /** Resolves on every rank once the root shut the pool down. */
  readonly done: Promise<void>;
  readonly #comm: Comm;
  readonly #ch: Channel<Task>;
  readonly #server: Server;
  readonly #load: number[];
  #pending = 0;
  #waiters: (() => void)[] = [];
  #closed = false;

  /** @internal Opened by comm.pool(options) on every rank (collective in spirit: every rank serves). */
  constructor(comm: Comm, options: PoolOptions = {}, spawned?: Spawned) {
    checkComm(comm, 'pool: comm');
    if (options === null || typeof options !== 'object') throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'pool options', 'an object', options);
    const int = (v: unknown, name: string, dflt: number, min: number) => {
      if (v === undefined) return dflt;
      if (!(Number.isSafeInteger(v) && (v as number) >= min)) throw invalidParameterError('ERR_INVALID_ARG_VALUE', name, `an integer >= ${min}`, v, RangeError);
      return v as number;
    };
    this.root = int(options.root, 'pool root', 0, 0);
    if (this.root >= comm.size) throw invalidParameterError('ERR_ROOT', 'pool root', `a rank below ${comm.size}`, this.root, RangeError);
    this.maxQueue = int(options.maxQueue, 'pool maxQueue', 64, 1);
    this.perWorker = int(options.perWorker, 'pool perWorker', 1, 1);
    this.#comm = comm;
    this.#load = new Array(comm.size).fill(0);
    // The parents of spawned workers never get a task (#pick takes the least loaded rank).
    if (spawned !== undefined) this.#load.fill(Infinity, 0, spawned.parents);
    if (options.auth !== undefined && typeof options.auth !== 'boolean') {
      throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'pool auth', 'a boolean', options.auth);
    }
    this.#ch = comm.channel<Task>('mpi4node/pool', { version: 1, auth: options.auth === true });
    this.#server = this.#ch.serve(async (t) => {
      const mod = (await import(t.module)) as Record<string, unknown>;
      const fn = mod[t.name];
      if (typeof fn !== 'function') throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `${t.module} exports no function '${t.name}'`);
      return await (fn as (...a: unknown[]) => unknown)(...t.args);
    }, { source: this.root });
    this.done = this.#ch.irecv(this.root).then(() => this.#server.close()).then(() => this.#ch.close())
      .then(() => spawned?.release());
  }

  /** True on the rank that submits. */
  get isRoot(): boolean {
    return this.#comm.rank === this.root;
  }

  /** Tasks submitted and not finished. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Runs `module`'s export `name` (default 'default') with `args` on the least loaded rank; resolves with
   * its result, or rejects with RemoteError (err.remote.stack: the worker's stack). Root only.
   */
  submit<R = unknown>(module: string | URL, args: unknown[] = [], name = 'default'): Promise<R> {
    if (!this.isRoot) throw codedError(Error, 'ERR_ROOT', `submit: only the pool's root (rank ${this.root}) submits`);
    if (this.#closed) throw codedError(Error, 'ERR_CHANNEL_CLOSED', 'submit: the pool was shut down');
    const spec = module instanceof URL ? module.href : module;
    if (typeof spec !== 'string' || spec.length === 0) throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'submit: module', 'a module specifier or URL', module);
    if (!Array.isArray(args)) throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'submit: args', 'an array', args);
    if (this.#pending >= this.maxQueue) {
      throw codedError(RangeError, 'ERR_POOL_FULL', `submit: ${this.#pending} tasks are pending (maxQueue ${this.maxQueue}); await pool.room()`);
    }
    const worker = this.#pick();
    this.#pending++;
    this.#load[worker]!++;
    const settle = () => {
      this.#pending--;
      this.#load[worker]!--;
      this.#waiters.shift()?.();
    };
    const p = this.#ch.request<R>(worker, { module: spec, name, args });
    p.then(settle, settle);
    return p.then((env) => env.message);
  }

  /** Resolves once a submit() would not throw ERR_POOL_FULL. */
  room(): Promise<void> {
    return this.#pending < this.maxQueue ? Promise.resolve() : new Promise((r) => this.#waiters.push(r));
  }

  /** `fn(item)` for every item, in the pool; results in order. Never more than maxQueue tasks pending. */
  async map<R = unknown>(module: string | URL, items: Iterable<unknown>, name = 'default'): Promise<R[]> {
    const out: Promise<R>[] = [];
    for (const item of items) {
      await this.room();
      const p = this.submit<R>(module, [item], name);
      p.catch(() => {}); // reported through Promise.all below
      out.push(p);
    }
    return Promise.all(out);
  }

  /** Waits for the pending tasks and stops every rank's serving (root only); then `done` resolves everywhere. */
  async shutdown(): Promise<void> {
    if (!this.isRoot) throw codedError(Error, 'ERR_ROOT', `shutdown: only the pool's root (rank ${this.root}) shuts it down`);
    if (this.#closed) return this.done;
    this.#closed = true;
    while (this.#pending > 0) await new Promise<void>((r) => this.#waiters.push(r));
    await Promise.all(Array.from({ length: this.#comm.size }, (_, r) => this.#ch.isend(r, { module: '', name: 'stop', args: [] })));
    return this.done;
  }

  // The rank with the fewest running tasks below perWorker, the root last (it also submits).
  #pick(): number {
    let best = -1;
    for (let r = 0; r < this.#load.length; r++) {
      const w = (this.root + 1 + r) % this.#load.length;
      if (this.#load[w]! < this.perWorker && (best < 0 || this.#load[w]! < this.#load[best]!)) best = w;
    }
    if (best >= 0) return best;
    return this.#load.indexOf(Math.min(...this.#load));
  }
}

declare module '../comm/comm.js' {
  interface Comm {
    /** A task pool over this communicator's ranks (every rank calls it; the root submits). docs/pool.md. */
    pool(options?: PoolOptions): Pool;
  }
}

Comm.prototype.pool = function (this: Comm, options?: PoolOptions): Pool {
  if (options?.spawn === undefined) return new Pool(this, options);
  return spawnPool(this, options);
};

// The worker entry next to this module: worker.ts under tsx, worker.js once built (dist/pool/worker.js
// also for the CommonJS bundle, dist/cjs/index.js, whose import.meta.url is the bundle's).
const WORKER = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : /\/cjs\/index\.js$/.test(import.meta.url) ? '../pool/worker.js' : './worker.js',
  import.meta.url);

// Spawns the workers, merges parents (low ranks) and workers into one communicator, and opens the pool
// there; every parent's `done` frees that communicator and disconnects once the pool is shut down.
function spawnPool(comm: Comm, options: PoolOptions): Pool {
  const n = options.spawn;
  if (!(Number.isSafeInteger(n) && n! >= 1 && n! <= 1024)) {
    throw invalidParameterError('ERR_INVALID_ARG_VALUE', 'pool spawn', 'an integer from 1 to 1024', n, RangeError);
  }
  const root = options.root ?? 0;
  if (!(Number.isSafeInteger(root) && root >= 0 && root < comm.size)) {
    throw invalidParameterError('ERR_ROOT', 'pool root', `a rank below ${comm.size}`, root, RangeError);
  }
  if (options.auth !== undefined && typeof options.auth !== 'boolean') {
    throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'pool auth', 'a boolean', options.auth);
  }
  const inter = comm.spawnNode(WORKER, [String(root), options.auth === true ? 'auth' : 'plain'], n!, { root });
  const merged = inter.merge(false);
  const { spawn: _, ...rest } = options;
  return new Pool(merged, rest, {
    parents: comm.size,
    release: () => {
      merged.free();
      inter.disconnect();
    },
  });
}

/** @internal The worker side of a spawned pool (lib/pool/worker.ts): serves until the root shuts it down. */
export function _servePool(parent: Intercomm, root: number, auth: boolean): Pool {
  const merged = parent.merge(true);
  return new Pool(merged, { root, auth }, {
    parents: parent.remoteSize,
    release: () => {
      merged.free();
      parent.disconnect();
    },
  });
}
