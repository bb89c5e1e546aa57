// What the shape of a request costs, in V8 alone (no MPI): the question of whether a request
// should be a Promise only once someone touches `then`, or come from a pool, measured against what
// lib/core/request.ts does (a Promise subclass from the start, lib/core/settle.ts).
//
// - promise: a Settling subclass with the Request's eleven fields, resolved on completion.
// - lazy: a plain object with the same fields; `then` makes the Promise on first use (settled already:
//   Promise.resolve of the value). `await` on it is a foreign thenable's await.
// - pooled: the lazy object, recycled through a free list once its window's waitAll returned (a pool
//   needs that promise from the caller: a request still referenced must not be reused).
//
// Three loops, ns per request (medians of 7):
// - window: 64 requests made, each completed with a fresh status, then all checked done (waitAll's
//   case: nobody awaits);
// - await, done at post: `await` a request completed when made (an eager send);
// - await, done later: `await` a request completed by a later microtask (a completion from the engine).
// What the figures decide is in docs/benchmarks.md ("A request that costs nothing until awaited").
//
//   node --import tsx bench/node/request-shapes.ts
import { Settling, capturedReject, capturedResolve, settlesLikePromise } from '../../lib/core/settle.js';
import { nsPerAsync } from './ns.js';

interface Shape {
  make(buffer: Uint8Array, peer: number, tag: number): Req;
}
interface Req extends PromiseLike<unknown> {
  settle(v: unknown): void;
  readonly done: boolean;
}

class PromiseRequest extends Settling<unknown> implements Req {
  #slot = -1;
  #state = 0;
  #result: unknown;
  #resolve: (v: unknown) => void;
  #reject: (e: Error) => void;
  #buffer: Uint8Array | undefined;
  readonly #kind: number;
  readonly #peer: number;
  readonly #tag: number;
  readonly #comm: number;
  #extra: unknown;
  constructor(buffer: Uint8Array, peer: number, tag: number) {
    super();
    this.#resolve = capturedResolve();
    this.#reject = capturedReject();
    this.#kind = 1;
    this.#buffer = buffer;
    this.#peer = peer;
    this.#tag = tag;
    this.#comm = 0;
    this.#extra = undefined;
  }
  settle(v: unknown): void {
    this.#slot = -1;
    this.#state = 1;
    this.#result = v;
    this.#resolve(v);
  }
  get done(): boolean {
    return this.#state !== 0;
  }
  get fields(): unknown[] {
    return [this.#reject, this.#buffer, this.#kind, this.#peer, this.#tag, this.#comm, this.#extra, this.#slot, this.#result];
  }
}
settlesLikePromise(PromiseRequest);

class LazyRequest implements Req {
  slot = -1;
  state = 0;
  result: unknown;
  promise: Promise<unknown> | undefined;
  resolve: ((v: unknown) => void) | undefined;
  buffer: Uint8Array | undefined;
  kind = 1;
  peer: number;
  tag: number;
  comm = 0;
  extra: unknown;
  constructor(buffer: Uint8Array, peer: number, tag: number) {
    this.buffer = buffer;
    this.peer = peer;
    this.tag = tag;
  }
  settle(v: unknown): void {
    this.slot = -1;
    this.state = 1;
    this.result = v;
    this.resolve?.(v);
  }
  get done(): boolean {
    return this.state !== 0;
  }
  then<A = unknown, B = never>(onFulfilled?: ((v: unknown) => A | PromiseLike<A>) | null, onRejected?: ((e: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    if (this.promise === undefined) {
      this.promise = this.state !== 0 ? Promise.resolve(this.result) : new Promise((res) => { this.resolve = res; });
    }
    return this.promise.then(onFulfilled, onRejected);
  }
}

const free: LazyRequest[] = [];
function pooled(buffer: Uint8Array, peer: number, tag: number): LazyRequest {
  const r = free.pop();
  if (r === undefined) return new LazyRequest(buffer, peer, tag);
  r.slot = -1;
  r.state = 0;
  r.result = undefined;
  r.promise = undefined;
  r.resolve = undefined;
  r.buffer = buffer;
  r.peer = peer;
  r.tag = tag;
  r.extra = undefined;
  return r;
}

const shapes: Record<string, Shape> = {
  promise: { make: (b, p, t) => new PromiseRequest(b, p, t) },
  lazy: { make: (b, p, t) => new LazyRequest(b, p, t) },
  pooled: { make: pooled },
};

const buf = new Uint8Array(8);
const reqs: Req[] = new Array(64);
const status = (i: number) => ({ source: 0, tag: i & 7, count: 8, cancelled: false });

function window(shape: Shape, recycle: boolean, n: number): void {
  for (let w = 0; w < n; w++) {
    for (let j = 0; j < 64; j++) reqs[j] = shape.make(buf, 0, j);
    for (let j = 0; j < 64; j++) reqs[j]!.settle(status(j));
    for (let j = 0; j < 64; j++) if (!reqs[j]!.done) throw new Error('not done');
    if (recycle) for (let j = 0; j < 64; j++) free.push(reqs[j] as LazyRequest);
  }
}

async function awaitDoneAtPost(shape: Shape, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = shape.make(buf, 0, i);
    r.settle(status(i));
    await r;
  }
}

async function awaitDoneLater(shape: Shape, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = shape.make(buf, 0, i);
    queueMicrotask(() => r.settle(status(i)));
    await r;
  }
}

async function time(what: string, shape: string, f: (n: number) => void | Promise<void>, n: number, per: number): Promise<void> {
  const value = await nsPerAsync(f, n, per, 20);
  process.stdout.write(JSON.stringify({ bench: 'request-shapes', impl: shape, what, value, unit: 'ns' }) + '\n');
}

for (const [name, shape] of Object.entries(shapes)) {
  await time('window of 64, nobody awaits', name, (n) => window(shape, name === 'pooled', n), 4000, 64);
  await time('await, done at post', name, (n) => awaitDoneAtPost(shape, n), 200000, 1);
  await time('await, done by a later microtask', name, (n) => awaitDoneLater(shape, n), 200000, 1);
}
