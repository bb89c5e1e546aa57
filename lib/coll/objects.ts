// Object collectives for small control data (configurations, metrics, flags): any value the structured
// clone algorithm takes (node:v8 serialize/deserialize), moved by the typed collectives on the
// communicator's private duplicate so it never meets the user's own traffic. Each is two collectives:
// the byte lengths, then the bytes. A value that cannot be serialized is reported on every rank that
// waits for it (its length travels as -1), so no rank is left blocked and the communicator stays usable.
// A rank's own entry is its own value, not a copy; other entries are structured clones.
// Each is written once, as a generator that yields its collectives: the blocking form runs it with
// blocking collectives, the Promise form (ibcastObject, ...) with nonblocking ones and awaits each, so a
// rank waiting for objects keeps serving its event loop. The Promise forms of one communicator run one
// after another in call order (a queue per communicator), which keeps MPI's collective order the same
// on every rank when several are started at once.
import { deserialize, serialize } from 'node:v8';
import { INT_MAX } from './args.js';
import { checkRoot } from '../core/checks.js';
import * as impl from './impl.js';
import { Comm } from '../comm/comm.js';
import { codedError } from '../core/errors.js';

declare module '../comm/comm.js' {
  interface Comm {
    /** The root's `obj` on every rank (the root gets its own object back). */
    bcastObject<T>(obj: T, root?: number): T;
    /** At the root, every rank's `obj` in rank order; undefined elsewhere. */
    gatherObject<T>(obj: T, root?: number): T[] | undefined;
    /** Every rank's `obj`, in rank order, on every rank. */
    allgatherObject<T>(obj: T): T[];
    /** Rank r gets `objs[r]` of the root's array (one entry per rank); `objs` is ignored elsewhere. */
    scatterObject<T>(objs: readonly T[] | null | undefined, root?: number): T;
    /** bcastObject as a Promise: the event loop runs while it waits. */
    ibcastObject<T>(obj: T, root?: number): Promise<T>;
    /** gatherObject as a Promise. */
    igatherObject<T>(obj: T, root?: number): Promise<T[] | undefined>;
    /** allgatherObject as a Promise. */
    iallgatherObject<T>(obj: T): Promise<T[]>;
    /** scatterObject as a Promise. */
    iscatterObject<T>(objs: readonly T[] | null | undefined, root?: number): Promise<T>;
  }
}

const NONE = new Uint8Array(0);

function trySerialize(obj: unknown, failed: { error?: unknown }): Uint8Array {
  try {
    return serialize(obj);
  } catch (e) {
    failed.error = e;
    return NONE;
  }
}

function failure(what: string, who: string, cause: unknown): Error {
  const message = who === 'this rank'
    ? `${what}: this rank could not serialize its value: ${cause instanceof Error ? cause.message : String(cause)}`
    : `${what}: ${who} could not serialize or send its value (see the error on that rank)`;
  return codedError(Error, 'ERR_SERIALIZE', message, cause);
}

// MPI-3 v-collectives take int counts: the serialized values must add up to less than 2 GiB.
function checkTotal(counts: number[], what: string): void {
  if (counts.reduce((a, b) => a + b, 0) > INT_MAX) {
    throw codedError(RangeError, 'ERR_COUNTS', `${what}: the values add up to more than 2 GiB serialized; use typed collectives`);
  }
}

// Lengths travel as float64 so any byte count fits; -1 marks a value that could not be serialized.
function lengthOf(bytes: Uint8Array, failed: { error?: unknown }): number {
  return failed.error !== undefined ? -1 : bytes.length;
}

const P = Comm.prototype;

function* bcastObject<T>(c: Comm, nb: boolean, obj: T, root = 0): Generator<unknown, T, any> {
  const h = c._handle(true);
  const rt = checkRoot(root, c.size, 'bcastObject');
  const isRoot = c.rank === rt;
  const failed: { error?: unknown } = {};
  const bytes = isRoot ? trySerialize(obj, failed) : NONE;
  const len = new Float64Array([lengthOf(bytes, failed)]);
  yield impl.bcast(c, h, nb, len, rt);
  if (len[0]! < 0) throw failure('bcastObject', isRoot ? 'this rank' : `the root (rank ${rt})`, failed.error);
  if (isRoot) {
    yield impl.bcast(c, h, nb, bytes, rt);
    return obj;
  }
  const buf = new Uint8Array(len[0]!);
  yield impl.bcast(c, h, nb, buf, rt);
  return deserialize(buf) as T;
}

function* gatherObject<T>(c: Comm, nb: boolean, obj: T, root = 0): Generator<unknown, T[] | undefined, any> {
  const h = c._handle(true);
  const size = c.size;
  const rt = checkRoot(root, size, 'gatherObject');
  const isRoot = c.rank === rt;
  const failed: { error?: unknown } = {};
  const bytes = isRoot ? NONE : trySerialize(obj, failed);
  const lens = (yield impl.gather(c, h, nb, new Float64Array([lengthOf(bytes, failed)]), rt, undefined)) as Float64Array | undefined;
  // Ranks that failed send nothing; the others cannot know, so the bytes still travel and the root
  // reports the failure afterwards.
  const counts = isRoot ? Array.from(lens!, (n) => Math.max(n, 0)) : null;
  if (counts !== null) checkTotal(counts, 'gatherObject');
  const all = (yield impl.gatherv(c, h, nb, bytes, counts, rt, undefined)) as Uint8Array | undefined;
  if (failed.error !== undefined) throw failure('gatherObject', 'this rank', failed.error);
  if (!isRoot) return undefined;
  const out: T[] = new Array(size);
  let at = 0;
  for (let i = 0; i < size; i++) {
    if (lens![i]! < 0) throw failure('gatherObject', `rank ${i}`, undefined);
    out[i] = i === rt ? obj : (deserialize(all!.subarray(at, at + counts![i]!)) as T);
    at += counts![i]!;
  }
  return out;
}

function* allgatherObject<T>(c: Comm, nb: boolean, obj: T): Generator<unknown, T[], any> {
  const h = c._handle(true);
  const size = c.size, rank = c.rank;
  const failed: { error?: unknown } = {};
  const bytes = trySerialize(obj, failed);
  const lens = (yield impl.allgather(c, h, nb, new Float64Array([lengthOf(bytes, failed)]), undefined)) as Float64Array;
  // Every rank sees every length, so a failure is reported everywhere before the bytes move.
  const bad = lens.findIndex((n) => n < 0);
  if (bad >= 0) throw failure('allgatherObject', bad === rank ? 'this rank' : `rank ${bad}`, bad === rank ? failed.error : undefined);
  const counts = Array.from(lens);
  checkTotal(counts, 'allgatherObject');
  const all = (yield impl.allgatherv(c, h, nb, bytes, counts, undefined)) as Uint8Array;
  const out: T[] = new Array(size);
  let at = 0;
  for (let i = 0; i < size; i++) {
    out[i] = i === rank ? obj : (deserialize(all.subarray(at, at + counts[i]!)) as T);
    at += counts[i]!;
  }
  return out;
}

function* scatterObject<T>(c: Comm, nb: boolean, objs: readonly T[] | null | undefined, root = 0): Generator<unknown, T, any> {
  const h = c._handle(true);
  const size = c.size;
  const rt = checkRoot(root, size, 'scatterObject');
  const isRoot = c.rank === rt;
  const failed: { error?: unknown } = {};
  let badArg: Error | undefined;
  let parts: Uint8Array[] = [];
  const lens = new Float64Array(size);
  if (isRoot) {
    // A bad argument at the root still takes part in the lengths, so that the others fail too.
    if (!Array.isArray(objs)) {
      badArg = codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'scatterObject: objs must be an array with one entry per rank at the root');
    } else if (objs.length !== size) {
      badArg = codedError(RangeError, 'ERR_COUNTS', `scatterObject: objs has ${objs.length} entries; the communicator has ${size} ranks`);
    } else {
      parts = objs.map((o, i) => (i === rt || failed.error !== undefined ? NONE : trySerialize(o, failed)));
    }
    const ok = badArg === undefined && failed.error === undefined;
    for (let i = 0; i < size; i++) lens[i] = ok ? parts[i]!.length : -1;
  }
  const mine = (yield impl.scatter(c, h, nb, isRoot ? lens : null, new Float64Array(1), rt)) as Float64Array;
  if (badArg !== undefined) throw badArg;
  if (mine[0]! < 0) throw failure('scatterObject', isRoot ? 'this rank' : `the root (rank ${rt})`, failed.error);
  const recv = new Uint8Array(mine[0]!);
  yield impl.scatterv(c, h, nb, isRoot ? Buffer.concat(parts) : null, isRoot ? Array.from(lens) : null, recv, rt);
  return isRoot ? objs![rt]! : (deserialize(recv) as T);
}

// The blocking form: every yielded value is a collective's result already.
function runSync<R>(g: Generator<unknown, R, any>): R {
  let r = g.next();
  while (!r.done) r = g.next(r.value);
  return r.value;
}

// The Promise form: each yielded Request is awaited; one communicator's calls queued in call order.
const queues = new WeakMap<Comm, Promise<unknown>>();
function runAsync<R>(c: Comm, g: Generator<unknown, R, any>): Promise<R> {
  const run = async () => {
    let r = g.next();
    while (!r.done) r = g.next(await r.value);
    return r.value;
  };
  const prev = queues.get(c);
  const p = prev === undefined ? run() : prev.then(run, run);
  queues.set(c, p.catch(() => undefined));
  return p;
}

P.bcastObject = function (obj, root = 0) { return runSync(bcastObject(this, false, obj, root)); };
P.gatherObject = function (obj, root = 0) { return runSync(gatherObject(this, false, obj, root)); };
P.allgatherObject = function (obj) { return runSync(allgatherObject(this, false, obj)); };
P.scatterObject = function (objs, root = 0) { return runSync(scatterObject(this, false, objs, root)); };
P.ibcastObject = function (obj, root = 0) { return runAsync(this, bcastObject(this, true, obj, root)); };
P.igatherObject = function (obj, root = 0) { return runAsync(this, gatherObject(this, true, obj, root)); };
P.iallgatherObject = function (obj) { return runAsync(this, allgatherObject(this, true, obj)); };
P.iscatterObject = function (objs, root = 0) { return runAsync(this, scatterObject(this, true, objs, root)); };
