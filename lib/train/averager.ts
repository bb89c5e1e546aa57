// Data-parallel training: averaging every rank's gradients after each step (the idea of Horovod's
// DistributedOptimizer and PyTorch's DDP), for named float arrays. See docs/training.md.
//
// - Arrays are registered once, in the same order on every rank (checked at the first average()), and
//   fused into buckets of at most `bucketBytes` (default 25 MiB, DDP's): one allreduce per bucket
//   instead of one per tensor, each over a staging buffer the averager owns.
// - average() packs bucket 0, starts its nonblocking allreduce-avg, packs bucket 1 while that runs, and
//   so on; then it waits for the buckets in order and unpacks each into the caller's arrays.
//   averageSync() runs one blocking allreduce per bucket.
// - compression 'float16' / 'bfloat16' sends half the bytes: the staging buffer holds the values
//   rounded to the half type, and the reduction is the library's own half op (float32 arithmetic,
//   rounded once to the half type per combination; lib/coll/ops.ts), then the average is widened back.
// - Every rank gets the same bits: MPI's allreduce hands every rank the result of the same combinations.
import { checkRoot, invalidParameterError, isTypedArray } from '../core/checks.js';
import { codedError } from '../core/errors.js';
import { toHalf, fromHalf, type HalfDtype } from '../core/half.js';
import { pin } from '../core/pin.js';
import { checkComm, type Comm } from '../comm/comm.js';
import type { Request } from '../core/request.js';
import { IN_PLACE } from '../coll/args.js';

export type GradArray = Float32Array | Float64Array;
export type Compression = 'none' | HalfDtype;

export interface AveragerOptions {
  /** Largest bucket in bytes (of the uncompressed arrays); default 25 MiB. A tensor larger than this gets a bucket of its own. */
  bucketBytes?: number;
  /** The wire type: 'none' (the arrays' own), 'float16' or 'bfloat16' (float32 arrays only). */
  compression?: Compression;
}

interface Bucket {
  arrays: GradArray[];
  offsets: number[];
  /** The staging buffer: the arrays' element type, or Uint16Array holding half values. */
  flat: GradArray | Uint16Array;
  /** With compression: the averaged values widened back. */
  wide: Float32Array | undefined;
}

const DEFAULT_BUCKET = 25 * 1024 * 1024;

/**
 * Averages named float arrays over every rank of a communicator. Register the arrays (the same names,
 * in the same order, with the same lengths on every rank), then call average() (a Promise) or
 * averageSync() after each backward pass; broadcastParameters() copies the root's values to every
 * rank once at the start.
 */
export class GradientAverager {
  readonly comm: Comm;
  readonly bucketBytes: number;
  readonly compression: Compression;
  readonly #names: string[] = [];
  readonly #arrays: GradArray[] = [];
  #buckets: Bucket[] | undefined;
  #checked = false;
  #busy = false;

  constructor(comm: Comm, options: AveragerOptions = {}) {
    checkComm(comm, 'GradientAverager: comm');
    if (options === null || typeof options !== 'object') throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'GradientAverager: options', 'an object', options);
    const b = options.bucketBytes ?? DEFAULT_BUCKET;
    if (!Number.isSafeInteger(b) || b < 1) throw invalidParameterError('ERR_INVALID_ARG_VALUE', 'GradientAverager: bucketBytes', 'a positive integer', b, RangeError);
    const c = options.compression ?? 'none';
    if (c !== 'none' && c !== 'float16' && c !== 'bfloat16') {
      throw invalidParameterError('ERR_INVALID_ARG_VALUE', 'GradientAverager: compression', "'none', 'float16' or 'bfloat16'", c);
    }
    this.comm = comm;
    this.bucketBytes = b;
    this.compression = c;
  }

  /** Registers `array` under `name` (before the first average() or broadcastParameters()). */
  register(name: string, array: GradArray): this {
    if (typeof name !== 'string' || name === '') throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'register: name', 'a non-empty string', name);
    if (!isTypedArray(array) || !(array instanceof Float32Array || array instanceof Float64Array)) {
      throw invalidParameterError('ERR_INVALID_BUFFER', 'register: array', 'a Float32Array or Float64Array', array);
    }
    if (this.compression !== 'none' && !(array instanceof Float32Array)) {
      throw codedError(TypeError, 'ERR_INVALID_DTYPE', `register: ${this.compression} compression takes Float32Array gradients, '${name}' is a Float64Array`);
    }
    if (this.#names.includes(name)) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `register: '${name}' is registered already`);
    if (this.#buckets !== undefined) throw codedError(Error, 'ERR_BUFFER_BUSY', `register: '${name}' comes after the buckets were made (register every array first)`);
    pin(array);
    this.#names.push(name);
    this.#arrays.push(array);
    return this;
  }

  /** The registered arrays by name. */
  get arrays(): ReadonlyMap<string, GradArray> {
    return new Map(this.#names.map((n, i) => [n, this.#arrays[i]!]));
  }

  /** How the arrays were fused: the names in each bucket, in order. */
  get buckets(): string[][] {
    return this.#plan().map((b) => b.arrays.map((a) => this.#names[this.#arrays.indexOf(a)]!));
  }

  // Buckets of consecutive arrays of one element type, each at most bucketBytes (or one oversize array).
  #plan(): Bucket[] {
    if (this.#buckets !== undefined) return this.#buckets;
    const buckets: Bucket[] = [];
    let cur: GradArray[] = [];
    let bytes = 0;
    const close = () => {
      if (cur.length === 0) return;
      const offsets: number[] = [];
      let n = 0;
      for (const a of cur) {
        offsets.push(n);
        n += a.length;
      }
      const half = this.compression !== 'none';
      const flat = half ? new Uint16Array(n) : new (cur[0]!.constructor as Float32ArrayConstructor | Float64ArrayConstructor)(n);
      pin(flat);
      buckets.push({ arrays: cur, offsets, flat, wide: half ? new Float32Array(n) : undefined });
      cur = [];
      bytes = 0;
    };
    for (const a of this.#arrays) {
      if (cur.length > 0 && (bytes + a.byteLength > this.bucketBytes || cur[0]!.constructor !== a.constructor)) close();
      cur.push(a);
      bytes += a.byteLength;
    }
    close();
    this.#buckets = buckets;
    return buckets;
  }

  // Every rank registered the same names and lengths (once, collectively, before the first exchange).
  #check(): void {
    if (this.#checked) return;
    const mine = JSON.stringify(this.#names.map((n, i) => [n, this.#arrays[i]!.length, this.#arrays[i]!.BYTES_PER_ELEMENT]));
    const all = this.comm.allgatherObject(mine);
    const bad = all.findIndex((x) => x !== all[0]);
    if (bad >= 0) {
      throw codedError(Error, 'ERR_LENGTH_MISMATCH', `GradientAverager: rank ${bad} registered other arrays than rank 0 (names, lengths and types must match on every rank)`);
    }
    this.#checked = true;
  }

  #pack(b: Bucket): void {
    const wire = this.compression === 'none' ? (b.flat as GradArray) : b.wide!;
    for (let i = 0; i < b.arrays.length; i++) wire.set(b.arrays[i]! as never, b.offsets[i]);
    if (wire !== b.flat) toHalf(wire, this.compression as HalfDtype, b.flat as Uint16Array);
  }

  #unpack(b: Bucket): void {
    let wire = b.flat as GradArray;
    if (this.compression !== 'none') wire = fromHalf(b.flat as Uint16Array, this.compression as HalfDtype, b.wide!);
    for (let i = 0; i < b.arrays.length; i++) {
      const a = b.arrays[i]!;
      a.set(wire.subarray(b.offsets[i]!, b.offsets[i]! + a.length) as never);
    }
  }

  #start(b: Bucket): Request<any> {
    return this.compression === 'none'
      ? this.comm.iallreduce(IN_PLACE, 'avg', b.flat as GradArray)
      : this.comm.iallreduce(IN_PLACE, 'avg', b.flat as Uint16Array, { dtype: this.compression });
  }

  #enter(what: string): Bucket[] {
    if (this.#busy) throw codedError(Error, 'ERR_BUFFER_BUSY', `${what}: an average() of this averager is still running`);
    if (this.#arrays.length === 0) throw codedError(Error, 'ERR_INVALID_ARG_VALUE', `${what}: no arrays are registered`);
    this.#check();
    return this.#plan();
  }

  /**
   * Replaces every registered array by its average over the ranks. Collective. The arrays must not be
   * touched until the Promise settles.
   */
  async average(): Promise<void> {
    const buckets = this.#enter('average');
    this.#busy = true;
    try {
      const reqs: Request<any>[] = [];
      // Bucket k+1 is packed while bucket k's allreduce runs.
      for (const b of buckets) {
        this.#pack(b);
        reqs.push(this.#start(b));
      }
      for (let i = 0; i < buckets.length; i++) {
        await reqs[i];
        this.#unpack(buckets[i]!);
      }
    } finally {
      this.#busy = false;
    }
  }

  /**
   * average(), blocking: for a training step that must not return to the event loop. Each bucket is
   * one blocking allreduce (measured: waiting on nonblocking ones from a blocked thread was slower).
   */
  averageSync(): void {
    for (const b of this.#enter('averageSync')) {
      this.#pack(b);
      if (this.compression === 'none') this.comm.allreduce(IN_PLACE, 'avg', b.flat as GradArray);
      else this.comm.allreduce(IN_PLACE, 'avg', b.flat as Uint16Array, { dtype: this.compression });
      this.#unpack(b);
    }
  }

  /** Copies the root's arrays to every rank (at the start of training, so every replica begins equal). Collective; never compressed. */
  broadcastParameters(root = 0): void {
    const rt = checkRoot(root, this.comm.size, 'broadcastParameters');
    const buckets = this.#enter('broadcastParameters');
    for (const b of buckets) {
      const flat = new (b.arrays[0]!.constructor as Float32ArrayConstructor | Float64ArrayConstructor)(b.offsets.at(-1)! + b.arrays.at(-1)!.length);
      if (this.comm.rank === rt) for (let i = 0; i < b.arrays.length; i++) flat.set(b.arrays[i]! as never, b.offsets[i]);
      this.comm.bcast(flat, rt);
      if (this.comm.rank !== rt) {
        for (let i = 0; i < b.arrays.length; i++) b.arrays[i]!.set(flat.subarray(b.offsets[i]!, b.offsets[i]! + b.arrays[i]!.length) as never);
      }
    }
  }
}
