// Device memory with an element type. The memory is freed by dispose(), or, if the program forgets,
// after the buffer is garbage-collected: a FinalizationRegistry callback runs as an ordinary task on
// this thread (never inside GC) and frees it there. Memory that an operation in flight uses is held by
// that operation's request, so it cannot be collected early; dispose() refuses it.
//
// Order. Work on a buffer is ordered on the device (each operation waits, cudaStreamWaitEvent, for the
// last one), except where the host drives a transfer chunk by chunk (copyFromAsync, copyToAsync,
// device messages over MPI): its chunks are issued over time, so later device work cannot be ordered
// after them. While one is in flight, what would race with it is refused (ERR_BUFFER_BUSY): any use of
// the bytes it writes, and writes to the bytes it reads.
import { native } from '../addon/binding.js';
import { describe, invalidParameterError } from '../core/checks.js';
import type { TypedArray } from '../core/dtypes.js';
import { codedError } from '../core/errors.js';
import { stagingChunk } from './config.js';
import { ensureDevice } from './device.js';
import { deviceDtype, dtypeOfArray, type DeviceDtype, type DeviceDtypeInfo } from './dtypes.js';
import { requireCuda } from './loader.js';
import { GpuRequest, type Completion } from './ops.js';

/** Bytes [from, to) of an allocation that a host-driven transfer in flight reads or writes. */
interface HostUse {
  from: number;
  to: number;
  write: boolean;
}

/** One allocation, shared by a buffer and its views (subarray). */
class Block {
  handle: number;
  busy = 0; // operations in flight
  host: HostUse[] = []; // host-driven transfers in flight
  constructor(readonly bytes: number) {
    this.handle = native.gpu.alloc(bytes);
  }
}

const freeLater = new FinalizationRegistry<number>((handle) => {
  try {
    native.gpu.free(handle);
  } catch {
    // the environment is going away; the addon frees what is left
  }
});

const MEMORY_TYPES = ['unregistered', 'host', 'device', 'managed'] as const;

export class DeviceBuffer {
  readonly dtype: DeviceDtype;
  readonly length: number;
  readonly byteLength: number;
  /** Offset in bytes of a view (subarray) into its allocation. */
  readonly byteOffset: number;
  /** The device this memory lives on. */
  readonly device: number;
  readonly #info: DeviceDtypeInfo;
  readonly #block: Block;
  readonly #view: boolean;
  #disposed = false;

  /** Allocates `length` elements of `dtype` on this rank's current device (uninitialised). */
  constructor(dtype: DeviceDtype, length: number);
  /** @internal A view. */
  constructor(dtype: DeviceDtype, length: number, view: { block: Block; byteOffset: number; device: number });
  constructor(dtype: DeviceDtype, length: number, view?: { block: Block; byteOffset: number; device: number }) {
    this.#info = deviceDtype(dtype);
    if (!Number.isSafeInteger(length) || length < 0) {
      throw invalidParameterError('ERR_INVALID_LENGTH', 'length', 'a non-negative integer', length, RangeError);
    }
    this.dtype = this.#info.name;
    this.length = length;
    this.byteLength = length * this.#info.size;
    this.#view = view !== undefined;
    if (view) {
      this.#block = view.block;
      this.byteOffset = view.byteOffset;
      this.device = view.device;
      return;
    }
    requireCuda();
    ensureDevice();
    this.#block = new Block(this.byteLength);
    this.byteOffset = 0;
    this.device = native.gpu.getDevice();
    freeLater.register(this.#block, this.#block.handle, this.#block);
  }

  /** A new device buffer holding a copy of `src` (dtype from its type unless given). */
  static from(src: TypedArray, dtype?: DeviceDtype): DeviceBuffer {
    const d = dtype ?? dtypeOfArray(src);
    if (d === undefined) throw codedError(TypeError, 'ERR_INVALID_BUFFER', `cannot infer a device dtype from ${describe(src)}`);
    const size = deviceDtype(d).size;
    if (src.byteLength % size !== 0) {
      throw codedError(RangeError, 'ERR_DTYPE_MISMATCH', `${src.byteLength} bytes are not a whole number of ${d} elements`);
    }
    return new DeviceBuffer(d, src.byteLength / size).copyFrom(src);
  }

  get disposed(): boolean {
    return this.#disposed || this.#block.handle < 0;
  }

  /** Element size in bytes. */
  get elementSize(): number {
    return this.#info.size;
  }

  /** The NCCL code of this dtype (-1 where NCCL has none). @internal */
  get _info(): DeviceDtypeInfo {
    return this.#info;
  }

  /** A view of elements [begin, end) sharing this memory (no copy). */
  subarray(begin = 0, end = this.length): DeviceBuffer {
    this._handle();
    if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end > this.length || begin > end) {
      throw codedError(RangeError, 'ERR_OUT_OF_RANGE', `subarray(${begin}, ${end}) is outside 0..${this.length}`);
    }
    return new DeviceBuffer(this.dtype, end - begin, {
      block: this.#block,
      byteOffset: this.byteOffset + begin * this.#info.size,
      device: this.device,
    });
  }

  /** Copies `src` into this buffer from element `offset` on; blocks until done. */
  copyFrom(src: ArrayBufferView, offset = 0): this {
    const host = this.#host(src, 'src', offset);
    native.gpu.copyIn(this._use(true), this.#at(offset), host);
    return this;
  }

  /** Copies this buffer (from element `offset`) into `dst`, or into a fresh host array; blocks. */
  copyTo<A extends ArrayBufferView = TypedArray>(dst?: A, offset = 0): A {
    const out = (dst ?? this.#fresh(offset)) as A;
    const host = this.#host(out, 'dst', offset);
    native.gpu.copyOut(this._use(false), this.#at(offset), host);
    return out;
  }

  /** The whole buffer as a host array (float16/bfloat16 in a Uint16Array, fp8 in a Uint8Array). */
  toArray(): TypedArray {
    return this.copyTo();
  }

  /** copyFrom without blocking: through pinned chunks, completed by the GPU poller. */
  copyFromAsync(src: ArrayBufferView, offset = 0): GpuRequest<this> {
    const host = this.#host(src, 'src', offset);
    const h = this._use(true);
    const id = native.gpu.copyInAsync(h, this.#at(offset), host, stagingChunk());
    return this._track(id, () => this, [host], [], 'write');
  }

  /** copyTo without blocking; resolves to the host array. */
  copyToAsync<A extends ArrayBufferView = TypedArray>(dst?: A, offset = 0): GpuRequest<A> {
    const out = (dst ?? this.#fresh(offset)) as A;
    const host = this.#host(out, 'dst', offset);
    const id = native.gpu.copyOutAsync(this._use(false), this.#at(offset), host, stagingChunk());
    return this._track(id, () => out, [host], [], 'read');
  }

  /** Copies another device buffer's contents into this one (same byte length); blocks. */
  copyFromDevice(src: DeviceBuffer): this {
    if (src.byteLength !== this.byteLength) {
      throw codedError(RangeError, 'ERR_LENGTH_MISMATCH', `source has ${src.byteLength} bytes, this buffer ${this.byteLength}`);
    }
    native.gpu.copyDevice(this._use(true), this.byteOffset, src._use(false), src.byteOffset, this.byteLength);
    return this;
  }

  /**
   * copyFromDevice without blocking: ordered on the device after the last work on both buffers, and
   * before later work on either (an NCCL collective, another copy), so it need not be awaited before
   * that work is issued. Resolves once the copy has completed.
   */
  copyFromDeviceAsync(src: DeviceBuffer): GpuRequest<this> {
    if (!(src instanceof DeviceBuffer)) throw invalidParameterError('ERR_INVALID_BUFFER', 'copyFromDeviceAsync: src', 'a DeviceBuffer', src);
    if (src.byteLength !== this.byteLength) {
      throw codedError(RangeError, 'ERR_LENGTH_MISMATCH', `source has ${src.byteLength} bytes, this buffer ${this.byteLength}`);
    }
    if (src.device !== this.device) {
      throw codedError(RangeError, 'ERR_WRONG_DEVICE', `copyFromDeviceAsync: the source is on device ${src.device}, this buffer on ${this.device}`);
    }
    const id = native.gpu.copyDeviceAsync(this._use(true), this.byteOffset, src._use(false), src.byteOffset, this.byteLength);
    return this._track(id, () => this, [], [src]);
  }

  /** Sets every byte to `value` (cudaMemset); zero() is fill(0). Blocks. */
  fill(value = 0): this {
    native.gpu.memset(this._use(true), this.byteOffset, this.byteLength, value & 0xff);
    return this;
  }

  zero(): this {
    return this.fill(0);
  }

  /** What CUDA says about this memory (cudaPointerGetAttributes). */
  pointerInfo(): { type: (typeof MEMORY_TYPES)[number]; device: number } {
    const [type, dev] = native.gpu.pointerInfo(this._handle());
    return { type: MEMORY_TYPES[type] ?? 'unregistered', device: dev };
  }

  /**
   * Frees the memory now (its views become unusable). Refused while an operation uses it. On a view
   * (subarray) it only retires the view.
   */
  dispose(): void {
    if (this.disposed) return;
    if (this.#view) {
      this.#disposed = true;
      return;
    }
    const b = this.#block;
    if (b.busy > 0) {
      throw codedError(TypeError, 'ERR_BUFFER_BUSY', `cannot dispose a device buffer while ${b.busy} operation(s) in flight use it`);
    }
    freeLater.unregister(b);
    const h = b.handle;
    b.handle = -1;
    this.#disposed = true;
    native.gpu.free(h);
  }

  /** @internal The native handle; throws if disposed. */
  _handle(): number {
    const h = this.#block.handle;
    if (h < 0 || this.#disposed) throw codedError(TypeError, 'ERR_BUFFER_DISPOSED', 'this device buffer was disposed');
    return h;
  }

  /**
   * @internal The handle, for an operation that reads (`write` false) or writes this buffer's bytes;
   * refused (ERR_BUFFER_BUSY) while a host-driven transfer in flight writes them, or, for a write,
   * reads them (see the top of this file).
   */
  _use(write: boolean): number {
    const h = this._handle();
    const from = this.byteOffset, to = from + this.byteLength;
    for (const u of this.#block.host) {
      if ((u.write || write) && u.from < to && from < u.to) {
        throw codedError(TypeError, 'ERR_BUFFER_BUSY', `this device buffer's bytes ${u.from}..${u.to} are being ` +
          `${u.write ? 'written' : 'read'} by a transfer the host drives chunk by chunk (copyFromAsync, copyToAsync or a ` +
          'device message), which later device work cannot be ordered after: await it first');
      }
    }
    return h;
  }

  /**
   * @internal A request for operation `id` on this buffer (and `others`): they count as busy until it
   * settles, and it holds them (and `keep`) so none can be collected while in flight. `host`: the
   * operation is a host-driven transfer that reads or writes this buffer's bytes (see _use).
   */
  _track<T>(id: number, finish: (c: Completion) => T, keep: unknown[], others: DeviceBuffer[] = [],
    host?: 'read' | 'write'): GpuRequest<T> {
    const blocks = [this.#block, ...others.map((o) => o.#block)];
    for (const b of blocks) b.busy++;
    const use = host && { from: this.byteOffset, to: this.byteOffset + this.byteLength, write: host === 'write' };
    if (use) this.#block.host.push(use);
    return new GpuRequest<T>(id, (c) => {
      for (const b of blocks) b.busy--;
      if (use) this.#block.host.splice(this.#block.host.indexOf(use), 1);
      return finish(c);
    }, [this, others, keep]);
  }

  #at(offset: number): number {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.length) {
      throw codedError(RangeError, 'ERR_OUT_OF_RANGE', `offset ${offset} is outside 0..${this.length}`);
    }
    return this.byteOffset + offset * this.#info.size;
  }

  #fresh(offset: number): TypedArray {
    return new this.#info.array(Math.max(0, this.length - offset)) as TypedArray;
  }

  // The host side of a copy: the dtype's own array type, or raw bytes (Uint8Array, Buffer, DataView).
  #host(a: ArrayBufferView, what: string, offset: number): ArrayBufferView {
    if (!ArrayBuffer.isView(a)) {
      throw invalidParameterError('ERR_INVALID_BUFFER', what, 'a typed array or DataView', a);
    }
    const bytes = a instanceof DataView ? new Uint8Array(a.buffer, a.byteOffset, a.byteLength) : a;
    const raw = bytes instanceof Uint8Array || (bytes as TypedArray).BYTES_PER_ELEMENT === 1 && this.#info.size === 1;
    if (!raw && !(bytes instanceof this.#info.array)) {
      throw codedError(TypeError, 'ERR_DTYPE_MISMATCH', `${what} is a ${describe(a)} but this device buffer holds ${this.dtype} ` +
        `(use a ${this.#info.array.name}, or raw bytes in a Uint8Array)`);
    }
    if (bytes.byteLength % this.#info.size !== 0) {
      throw codedError(RangeError, 'ERR_DTYPE_MISMATCH', `${what} has ${bytes.byteLength} bytes, not a whole number of ${this.dtype} elements`);
    }
    const room = (this.length - Math.min(offset, this.length)) * this.#info.size;
    if (bytes.byteLength > room) {
      throw codedError(RangeError, 'ERR_OUT_OF_RANGE', `${what} has ${bytes.byteLength} bytes but the device buffer has room for ` +
        `${room} from element ${offset}`);
    }
    return bytes;
  }
}
