// Object collectives for small control data (configurations, metrics, flags): any value the structured
// clone algorithm takes (node:v8 serialize/deserialize), moved by the typed collectives on the
// communicator's private duplicate so it never meets the user's own traffic. Each is two collectives:
// the byte lengths, then the bytes. A value that cannot be serialized is reported on every rank that
// waits for it (its length travels as -1), so no rank is left blocked and the communicator stays usable.
// A rank's own entry is its own value, not a copy; other entries are structured clones.
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

P.bcastObject = function <T>(this: Comm, obj: T, root = 0): T {
  const h = this._handle(true);
  const rt = checkRoot(root, this.size, 'bcastObject');
  const isRoot = this.rank === rt;
  const failed: { error?: unknown } = {};
  const bytes = isRoot ? trySerialize(obj, failed) : NONE;
  const len = new Float64Array([lengthOf(bytes, failed)]);
  impl.bcast(this, h, false, len, rt);
  if (len[0]! < 0) throw failure('bcastObject', isRoot ? 'this rank' : `the root (rank ${rt})`, failed.error);
  if (isRoot) {
    impl.bcast(this, h, false, bytes, rt);
    return obj;
  }
  const buf = new Uint8Array(len[0]!);
  impl.bcast(this, h, false, buf, rt);
  return deserialize(buf) as T;
};

P.gatherObject = function <T>(this: Comm, obj: T, root = 0): T[] | undefined {
  const h = this._handle(true);
  const size = this.size;
  const rt = checkRoot(root, size, 'gatherObject');
  const isRoot = this.rank === rt;
  const failed: { error?: unknown } = {};
  const bytes = isRoot ? NONE : trySerialize(obj, failed);
  const lens = impl.gather(this, h, false, new Float64Array([lengthOf(bytes, failed)]), rt, undefined) as Float64Array | undefined;
  // Ranks that failed send nothing; the others cannot know, so the bytes still travel and the root
  // reports the failure afterwards.
  const counts = isRoot ? Array.from(lens!, (n) => Math.max(n, 0)) : null;
  if (counts !== null) checkTotal(counts, 'gatherObject');
  const all = impl.gatherv(this, h, false, bytes, counts, rt, undefined) as Uint8Array | undefined;
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
};

P.allgatherObject = function <T>(this: Comm, obj: T): T[] {
  const h = this._handle(true);
  const size = this.size, rank = this.rank;
  const failed: { error?: unknown } = {};
  const bytes = trySerialize(obj, failed);
  const lens = impl.allgather(this, h, false, new Float64Array([lengthOf(bytes, failed)]), undefined) as Float64Array;
  // Every rank sees every length, so a failure is reported everywhere before the bytes move.
  const bad = lens.findIndex((n) => n < 0);
  if (bad >= 0) throw failure('allgatherObject', bad === rank ? 'this rank' : `rank ${bad}`, bad === rank ? failed.error : undefined);
  const counts = Array.from(lens);
  checkTotal(counts, 'allgatherObject');
  const all = impl.allgatherv(this, h, false, bytes, counts, undefined) as Uint8Array;
  const out: T[] = new Array(size);
  let at = 0;
  for (let i = 0; i < size; i++) {
    out[i] = i === rank ? obj : (deserialize(all.subarray(at, at + counts[i]!)) as T);
    at += counts[i]!;
  }
  return out;
};

P.scatterObject = function <T>(this: Comm, objs: readonly T[] | null | undefined, root = 0): T {
  const h = this._handle(true);
  const size = this.size;
  const rt = checkRoot(root, size, 'scatterObject');
  const isRoot = this.rank === rt;
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
  const mine = impl.scatter(this, h, false, isRoot ? lens : null, new Float64Array(1), rt) as Float64Array;
  if (badArg !== undefined) throw badArg;
  if (mine[0]! < 0) throw failure('scatterObject', isRoot ? 'this rank' : `the root (rank ${rt})`, failed.error);
  const recv = new Uint8Array(mine[0]!);
  impl.scatterv(this, h, false, isRoot ? Buffer.concat(parts) : null, isRoot ? Array.from(lens) : null, recv, rt);
  return isRoot ? objs![rt]! : (deserialize(recv) as T);
};
