// Data-parallel training: averaging every rank's gradients after each step (the idea of Horovod's
// DistributedOptimizer and PyTorch's DDP), for named float arrays. See docs/training.md.
//
// - Arrays are registered once, in the same order on every rank (checked at the first average()), and
//   fused into buckets of at most `bucketBytes` (default 25 MiB, DDP's): one allreduce per bucket
//   instead of one per tensor, each over a staging buffer the averager owns, except where the bucket's
//   arrays already lie end to end in one buffer (one array, or views of one Float32Array, as DDP's
//   gradient_as_bucket_view): that bucket is reduced where it is, with no packing or unpacking.
// - average() packs bucket 0, starts its nonblocking allreduce-avg, packs bucket 1 while that runs,
//   starts bucket 1 once bucket 0 is done, unpacks bucket 0 while bucket 1 runs, and so on: one
//   allreduce in flight at a time. Over two ranks (uncompressed) each bucket is a reduce-scatter and an
//   allgather of halves by pairwise messages on a duplicate of comm instead (#exchange).
//   averageSync() runs one blocking allreduce per bucket.
// - compression 'float16' / 'bfloat16' sends half the bytes: the staging buffer holds the values
//   rounded to the half type, and the reduction is the library's own half op (float32 arithmetic,
//   rounded once to the half type per combination; lib/coll/ops.ts), then the average is widened back.
// - Every rank gets the same bits: MPI's allreduce hands every rank the result of the same combinations.
// - Device arrays (DeviceBuffer of float32/float64/float16/bfloat16) are averaged through the NCCL
//   communicator given as `nccl`: per bucket, device-to-device copies into a bucket buffer on the copy
//   stream, one NCCL allreduce-avg, copies back; each step waits for the previous one on the device
//   (CUDA events), never on the host, so every bucket is issued at once and average() only awaits the
//   last copies. A bucket of one array is reduced in place, without copies.
import { checkRoot, invalidParameterError, isTypedArray } from '../core/checks.js';
import { codedError } from '../core/errors.js';
import { toHalf, fromHalf, type HalfDtype } from '../core/half.js';
import { pin } from '../core/pin.js';
import { checkComm, type Comm } from '../comm/comm.js';
import { iwaitAll, type Request } from '../core/request.js';
import { IN_PLACE } from '../coll/args.js';
import { reduceLocal } from '../coll/ops.js';
import { native } from '../addon/binding.js';
import { DeviceBuffer } from '../gpu/buffer.js';
import type { NcclComm } from '../gpu/nccl.js';
import type { GpuRequest } from '../gpu/ops.js';

export type GradArray = Float32Array | Float64Array;
/** What register() takes: a host float array, or a device buffer of a float type (averaged through NCCL). */
export type Grad = GradArray | DeviceBuffer;
export type Compression = 'none' | HalfDtype;

export interface AveragerOptions {
  /** Largest bucket in bytes (of the uncompressed arrays); default 25 MiB. A tensor larger than this gets a bucket of its own. */
  bucketBytes?: number;
  /** The wire type: 'none' (the arrays' own), 'float16' or 'bfloat16' (float32 arrays only). */
  compression?: Compression;
  /**
   * The NCCL communicator that averages registered DeviceBuffers (over the same ranks as `comm`, e.g.
   * gpu.nccl(comm)); needed only when device arrays are registered. NCCL's 'avg' needs NCCL >= 2.10.3.
   */
  nccl?: NcclComm;
}

interface Bucket {
  arrays: Grad[];
  offsets: number[];
  /** The staging buffer: the arrays' element type, or Uint16Array holding half values; on the device, a DeviceBuffer (the array itself for a bucket of one). */
  flat: GradArray | Uint16Array | DeviceBuffer;
  /** With compression: the averaged values widened back. */
  wide: Float32Array | undefined;
  /** Device buckets of several arrays: each array's place in `flat`. */
  views: DeviceBuffer[] | undefined;
  /** `flat` is the arrays' own memory (one array, or views laid end to end in one buffer): nothing to pack. */
  inPlace: boolean;
  /** Two ranks: where the peer's bucket arrives (#exchange). */
  theirs?: GradArray;
}

const DEVICE_DTYPES = new Set(['float32', 'float64', 'float16', 'bfloat16']);
// Arrays of one kind share a bucket: a host array type, or a device element type.
const kindOf = (a: Grad) => (a instanceof DeviceBuffer ? `device ${a.dtype}` : a.constructor.name);

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
  readonly nccl: NcclComm | undefined;
  readonly #names: string[] = [];
  readonly #arrays: Grad[] = [];
  #buckets: Bucket[] | undefined;
  #checked = false;
  /** Two ranks: a duplicate of comm for average()'s pairwise exchanges (#exchange). */
  #pair: Comm | undefined;
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
    const n = options.nccl;
    if (n !== undefined && (n === null || typeof (n as NcclComm).allreduce !== 'function')) {
      throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'GradientAverager: nccl', 'an NcclComm (gpu.nccl(comm))', n);
    }
    if (n !== undefined && n.size !== comm.size) {
      throw codedError(RangeError, 'ERR_INVALID_ARG_VALUE', `GradientAverager: the NCCL communicator has ${n.size} ranks, comm ${comm.size}`);
    }
    this.comm = comm;
    this.bucketBytes = b;
    this.compression = c;
    this.nccl = n;
  }

  /** Registers `array` under `name` (before the first average() or broadcastParameters()). */
  register(name: string, array: Grad): this {
    if (typeof name !== 'string' || name === '') throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'register: name', 'a non-empty string', name);
    if (array instanceof DeviceBuffer) return this.#registerDevice(name, array);
    if (!isTypedArray(array) || !(array instanceof Float32Array || array instanceof Float64Array)) {
      throw invalidParameterError('ERR_INVALID_BUFFER', 'register: array', 'a Float32Array, Float64Array or DeviceBuffer', array);
    }
    if (this.compression !== 'none' && !(array instanceof Float32Array)) {
      throw codedError(TypeError, 'ERR_INVALID_DTYPE', `register: ${this.compression} compression takes Float32Array gradients, '${name}' is a Float64Array`);
    }
    this.#unique(name);
    pin(array);
    this.#names.push(name);
    this.#arrays.push(array);
    return this;
  }

  #unique(name: string): void {
    if (this.#names.includes(name)) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `register: '${name}' is registered already`);
    if (this.#buckets !== undefined) throw codedError(Error, 'ERR_BUFFER_BUSY', `register: '${name}' comes after the buckets were made (register every array first)`);
  }

  #registerDevice(name: string, array: DeviceBuffer): this {
    if (this.nccl === undefined) {
      throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `register: '${name}' is a DeviceBuffer: device arrays need an NCCL ` +
        'communicator, new GradientAverager(comm, { nccl: gpu.nccl(comm) })');
    }
    if (!DEVICE_DTYPES.has(array.dtype)) {
      throw codedError(TypeError, 'ERR_INVALID_DTYPE', `register: '${name}' holds ${array.dtype}; device arrays are averaged in float32, float64, float16 or bfloat16`);
    }
    if (this.compression !== 'none') {
      throw codedError(TypeError, 'ERR_INVALID_DTYPE', `register: '${name}' is a DeviceBuffer: ${this.compression} compression is for host ` +
        `Float32Arrays (keep device gradients in ${this.compression} to halve the wire)`);
    }
    if (array.device !== this.nccl.device) {
      throw codedError(RangeError, 'ERR_WRONG_DEVICE', `register: '${name}' is on device ${array.device}, the NCCL communicator's on ${this.nccl.device}`);
    }
    array._handle(); // disposed: ERR_BUFFER_DISPOSED now rather than at the first average()
    this.#unique(name);
    this.#names.push(name);
    this.#arrays.push(array);
    return this;
  }

  /** The registered arrays by name. */
  get arrays(): ReadonlyMap<string, Grad> {
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
    let cur: Grad[] = [];
    let bytes = 0;
    const close = () => {
      if (cur.length === 0) return;
      const offsets: number[] = [];
      let n = 0;
      for (const a of cur) {
        offsets.push(n);
        n += a.length;
      }
      const first = cur[0]!;
      if (first instanceof DeviceBuffer) {
        const flat = cur.length === 1 ? first : new DeviceBuffer(first.dtype, n);
        const views = cur.length === 1 ? undefined : cur.map((a, i) => flat.subarray(offsets[i]!, offsets[i]! + a.length));
        buckets.push({ arrays: cur, offsets, flat, wide: undefined, views, inPlace: views === undefined });
        cur = [];
        bytes = 0;
        return;
      }
      const half = this.compression !== 'none';
      const Ctor = first.constructor as Float32ArrayConstructor | Float64ArrayConstructor;
      // Arrays that already lie end to end in one buffer are reduced where they are (no staging copies).
      const host = cur as GradArray[];
      const inPlace = !half && host.every((a, i) => i === 0 || (a.buffer === first.buffer && a.byteOffset === host[i - 1]!.byteOffset + host[i - 1]!.byteLength));
      const flat = inPlace ? new Ctor(first.buffer as ArrayBuffer, first.byteOffset, n) : half ? new Uint16Array(n) : new Ctor(n);
      pin(flat);
      buckets.push({ arrays: cur, offsets, flat, wide: half ? new Float32Array(n) : undefined, views: undefined, inPlace });
      cur = [];
      bytes = 0;
    };
    for (const a of this.#arrays) {
      if (cur.length > 0 && (bytes + a.byteLength > this.bucketBytes || kindOf(cur[0]!) !== kindOf(a))) close();
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
    const mine = JSON.stringify(this.#names.map((n, i) => [n, this.#arrays[i]!.length, kindOf(this.#arrays[i]!)]));
    const all = this.comm.allgatherObject(mine);
    const bad = all.findIndex((x) => x !== all[0]);
    if (bad >= 0) {
      throw codedError(Error, 'ERR_LENGTH_MISMATCH', `GradientAverager: rank ${bad} registered other arrays than rank 0 (names, lengths and types must match on every rank)`);
    }
    if (this.comm.size === 2 && this.compression === 'none') this.#pair = this.comm.dup();
    this.#checked = true;
  }

  #pack(b: Bucket): void {
    if (b.inPlace) return;
    const wire = this.compression === 'none' ? (b.flat as GradArray) : b.wide!;
    for (let i = 0; i < b.arrays.length; i++) wire.set(b.arrays[i] as GradArray, b.offsets[i]);
    if (wire !== b.flat) toHalf(wire, this.compression as HalfDtype, b.flat as Uint16Array);
  }

  #unpack(b: Bucket): void {
    if (b.inPlace) return;
    let wire = b.flat as GradArray;
    if (this.compression !== 'none') wire = fromHalf(b.flat as Uint16Array, this.compression as HalfDtype, b.wide!);
    for (let i = 0; i < b.arrays.length; i++) {
      const a = b.arrays[i] as GradArray;
      a.set(wire.subarray(b.offsets[i]!, b.offsets[i]! + a.length) as never);
    }
  }

  // A device bucket, issued whole: copies in, NCCL allreduce-avg, copies out, ordered on the device.
  // Returns every request (each must be awaited or waited: all of them hold buffers).
  #device(b: Bucket): GpuRequest<any>[] {
    const flat = b.flat as DeviceBuffer;
    if (b.views === undefined) return [this.nccl!.allreduce(flat, 'avg')];
    const reqs: GpuRequest<any>[] = b.views.map((v, i) => v.copyFromDeviceAsync(b.arrays[i] as DeviceBuffer));
    reqs.push(this.nccl!.allreduce(flat, 'avg'));
    for (let i = 0; i < b.views.length; i++) reqs.push((b.arrays[i] as DeviceBuffer).copyFromDeviceAsync(b.views[i]!));
    return reqs;
  }

  // Two ranks, uncompressed: a reduce-scatter and an allgather by pairwise exchanges of halves. Open MPI
  // 4.1's libnbc runs a 2-rank MPI_Iallreduce as a reduce then a broadcast of the whole buffer, one
  // after the other (measured 2.2-2.5x MPI_Allreduce for 9-25 MiB). Here each rank sums and divides one
  // half (the peer's copy of it added to its own, MPI_Reduce_local) and sends it back finished, so
  // every element is computed once, by one rank, and both hold the same bits; the division is avg's own.
  async #exchange(b: Bucket): Promise<void> {
    const flat = b.flat as GradArray, pair = this.#pair!;
    const n = flat.length, h = n >> 1, me = this.comm.rank, peer = 1 - me;
    const mine = me === 0 ? flat.subarray(0, h) : flat.subarray(h);
    const other = me === 0 ? flat.subarray(h) : flat.subarray(0, h);
    const theirs = (b.theirs ??= new (flat.constructor as Float32ArrayConstructor | Float64ArrayConstructor)(n - h)).subarray(0, mine.length);
    await iwaitAll([pair.irecv(theirs, peer, 0), pair.isend(other, peer, 0)]);
    reduceLocal(theirs, mine, 'sum');
    native.divide(mine, 2);
    await iwaitAll([pair.irecv(other, peer, 1), pair.isend(mine, peer, 1)]);
  }

  #start(b: Bucket): Request<any> | Promise<void> {
    if (this.#pair !== undefined) return this.#exchange(b);
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
      const device: GpuRequest<any>[] = [];
      // Device buckets first: the device works on them meanwhile.
      for (const b of buckets) if (b.flat instanceof DeviceBuffer) device.push(...this.#device(b));
      // One host bucket in flight at a time (several nonblocking allreduces at once share MPI's progress:
      // measured 1.9-4.5x slower than one after another for 4 x 25 MiB): bucket k+1 is packed while
      // bucket k reduces, and bucket k unpacked while bucket k+1 does.
      let flying: [Bucket, PromiseLike<unknown>] | undefined;
      for (const b of buckets) {
        if (b.flat instanceof DeviceBuffer) continue;
        this.#pack(b);
        if (flying !== undefined) await flying[1];
        const r = this.#start(b);
        if (flying !== undefined) this.#unpack(flying[0]);
        flying = [b, r];
      }
      if (flying !== undefined) {
        await flying[1];
        this.#unpack(flying[0]);
      }
      await Promise.all(device);
    } finally {
      this.#busy = false;
    }
  }

  /**
   * average(), blocking: for a training step that must not return to the event loop. Each bucket is
   * one blocking allreduce (measured: waiting on nonblocking ones from a blocked thread was slower).
   */
  averageSync(): void {
    const buckets = this.#enter('averageSync');
    const device: GpuRequest<any>[] = [];
    for (const b of buckets) if (b.flat instanceof DeviceBuffer) device.push(...this.#device(b));
    for (const b of buckets) {
      if (b.flat instanceof DeviceBuffer) continue;
      this.#pack(b);
      if (this.compression === 'none') this.comm.allreduce(IN_PLACE, 'avg', b.flat as GradArray);
      else this.comm.allreduce(IN_PLACE, 'avg', b.flat as Uint16Array, { dtype: this.compression });
      this.#unpack(b);
    }
    for (const r of device) r.wait();
  }

  /** Copies the root's arrays to every rank (at the start of training, so every replica begins equal). Collective; never compressed. */
  broadcastParameters(root = 0): void {
    const rt = checkRoot(root, this.comm.size, 'broadcastParameters');
    const buckets = this.#enter('broadcastParameters');
    // Device arrays: one NCCL broadcast each, in place (once, at the start of training).
    const device: GpuRequest<any>[] = [];
    for (const b of buckets) {
      if (b.flat instanceof DeviceBuffer) for (const a of b.arrays) device.push(this.nccl!.broadcast(a as DeviceBuffer, rt));
    }
    for (const r of device) r.wait();
    for (const b of buckets) {
      if (b.flat instanceof DeviceBuffer) continue;
      const arrays = b.arrays as GradArray[];
      const flat = new (arrays[0]!.constructor as Float32ArrayConstructor | Float64ArrayConstructor)(b.offsets.at(-1)! + arrays.at(-1)!.length);
      if (this.comm.rank === rt) for (let i = 0; i < arrays.length; i++) flat.set(arrays[i]! as never, b.offsets[i]);
      this.comm.bcast(flat, rt);
      if (this.comm.rank !== rt) {
        for (let i = 0; i < arrays.length; i++) arrays[i]!.set(flat.subarray(b.offsets[i]!, b.offsets[i]! + arrays[i]!.length) as never);
      }
    }
  }
}
