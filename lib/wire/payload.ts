// Channel message values <-> payload bytes. Pure TypeScript, no MPI; the layout is specified in
// docs/wire-format.md ("Object payloads").
//
// - A tensor ({ dtype, shape, data }, or a bare typed array as 1-D) is its data's bytes: one part, the
//   array's own memory.
// - Any other value is an object: v8's structured clone of it, with every typed array, DataView and
//   ArrayBuffer inside carried out of band. The clone holds (offset, length) references and the bytes
//   travel as further parts of the same message, each 64-byte aligned, so sending reads every array
//   where it lies and receiving makes typed arrays and DataViews views into the received buffer. A
//   bare ArrayBuffer cannot be a window of another ArrayBuffer, so it is the one thing copied on receive.
//
// Encoding returns the payload as a list of parts (never concatenated here); the channel either sends
// them as one message from their own memory or, for small messages, copies them next to the header.

import { Deserializer, Serializer } from 'node:v8';
import { asView, isTypedArray } from '../core/checks.js';
import { isErrorCode } from '../core/codes.js';
import { codedError } from '../core/errors.js';
import { type Dtype, type DtypeInfo, type TypedArray, dtypeByCode, dtypeInfo, dtypeOf } from '../core/dtypes.js';
import { type DecodedHeader, type DecodedMessage, HEADER_ALIGN, type PayloadKind, payloadView } from './codec.js';
import { CorruptMessageError } from './errors.js';

/** A dense array with its element type and row-major shape. Received tensors are views, not copies. */
export interface Tensor<A extends TypedArray = TypedArray> {
  dtype: Dtype;
  shape: number[];
  data: A;
}

/** What may be sent as a tensor: dtype defaults to the array's own, shape to [data.length]. */
export interface TensorInit {
  dtype?: Dtype | undefined;
  shape?: readonly number[] | undefined;
  data: TypedArray;
}

/** A payload ready to send: header fields and the parts whose concatenation is the payload. */
export interface EncodedPayload {
  kind: PayloadKind;
  dtype?: Dtype | undefined;
  shape?: readonly number[] | undefined;
  parts: Uint8Array[];
  length: number;
}

const TENSOR_KEYS = new Set(['dtype', 'shape', 'data']);
const ZEROS = new Uint8Array(HEADER_ALIGN);

// Out-of-band view kinds in the clone: dtype codes for typed arrays, and these.
const VIEW_BUFFER = 32; // a Node Buffer: arrives as a Buffer
const VIEW_DATAVIEW = 33;

function bytesOf(v: ArrayBufferView): Uint8Array {
  return v instanceof Uint8Array && v.constructor === Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function align(n: number): number {
  return Math.ceil(n / HEADER_ALIGN) * HEADER_ALIGN;
}

/** The tensor a message denotes, or undefined when it is an object. Throws when it is a malformed tensor. */
export function asTensor(m: unknown): { dtype: DtypeInfo; shape: readonly number[] | undefined; data: TypedArray } | undefined {
  if (isTypedArray(m)) return { dtype: dtypeOf(m)!, shape: undefined, data: m };
  if (m === null || typeof m !== 'object' || !isTypedArray((m as TensorInit).data)) return undefined;
  for (const k of Object.keys(m)) if (!TENSOR_KEYS.has(k)) return undefined;
  const { dtype, shape, data } = m as TensorInit;
  if (shape !== undefined && !Array.isArray(shape)) return undefined;
  if (dtype !== undefined && typeof dtype !== 'string') return undefined;
  const own = dtypeOf(data)!;
  let info = own;
  if (dtype !== undefined) {
    info = dtypeInfo(dtype);
    if (info.array !== own.array) {
      throw codedError(TypeError, 'ERR_CHANNEL_PAYLOAD', `tensor dtype '${dtype}' is held in ${info.array.name}, but data is a ${data.constructor.name}`);
    }
  }
  if (shape !== undefined) {
    let n = 1;
    for (const d of shape) n *= d;
    if (!(n === data.length || (shape.includes(0) && data.length === 0))) {
      throw codedError(RangeError, 'ERR_CHANNEL_PAYLOAD', `tensor shape [${shape.join(', ')}] holds ${n} elements, data has ${data.length}`);
    }
  }
  return { dtype: info, shape, data };
}

/** The payload of a message value: a tensor's bytes, or an object's clone and out-of-band parts. */
export function encodePayload(value: unknown, kind: 'object' | 'error' = 'object'): EncodedPayload {
  if (kind === 'object') {
    const t = asTensor(value);
    if (t !== undefined) return encodeTensor(t);
  }
  return encodeObject(value, kind);
}

/** The payload of a tensor asTensor() returned. */
export function encodeTensor(t: { dtype: DtypeInfo; shape: readonly number[] | undefined; data: TypedArray }): EncodedPayload {
  const bytes = bytesOf(asView(t.data, 'the message'));
  return { kind: 'tensor', dtype: t.dtype.name, shape: t.shape, parts: [bytes], length: bytes.length };
}

class OutOfBandSerializer extends Serializer {
  /** Parts of the out-of-band area, padding included; `size` is their total length. */
  readonly parts: Uint8Array[] = [];
  size = 0;

  constructor() {
    super();
    // Node's own hook (undeclared in @types/node): views reach _writeHostObject instead of being copied.
    (this as unknown as { _setTreatArrayBufferViewsAsHostObjects(on: boolean): void })._setTreatArrayBufferViewsAsHostObjects(true);
  }

  /** Places `bytes` at the next aligned offset of the out-of-band area and returns that offset. */
  place(bytes: Uint8Array): number {
    const pad = align(this.size) - this.size;
    if (pad > 0) this.parts.push(ZEROS.subarray(0, pad));
    const at = this.size + pad;
    if (bytes.byteLength > 0) this.parts.push(bytes);
    this.size = at + bytes.byteLength;
    return at;
  }

  _writeHostObject(obj: object): void {
    if (!ArrayBuffer.isView(obj)) throw new TypeError(`${obj.constructor?.name ?? 'object'} cannot be cloned`);
    if (!(obj instanceof DataView)) asView(obj, 'an array in the message'); // a detached one: ERR_DETACHED_BUFFER
    const kind = obj instanceof DataView ? VIEW_DATAVIEW : Buffer.isBuffer(obj) ? VIEW_BUFFER : dtypeOf(obj)!.code;
    const at = this.place(bytesOf(obj));
    this.writeUint32(kind);
    writeU64(this, at);
    writeU64(this, obj.byteLength);
  }
}

function writeU64(s: Serializer, v: number): void {
  s.writeUint64(Math.floor(v / 4294967296), v >>> 0);
}

function readU64(d: Deserializer): number {
  const [hi, lo] = d.readUint64();
  return hi! * 4294967296 + lo!;
}

function encodeObject(value: unknown, kind: 'object' | 'error'): EncodedPayload {
  const s = new OutOfBandSerializer();
  const buffers = findArrayBuffers(value);
  const prefix = new Uint8Array(8 + 16 * buffers.length);
  const pv = new DataView(prefix.buffer);
  buffers.forEach((ab, i) => {
    s.transferArrayBuffer(i, ab);
    const at = s.place(new Uint8Array(ab));
    setU64(pv, 8 + 16 * i, at);
    setU64(pv, 16 + 16 * i, ab.byteLength);
  });
  s.writeHeader();
  try {
    s.writeValue(value);
  } catch (e) {
    if (isErrorCode((e as { code?: unknown })?.code)) throw e;
    throw codedError(Error, 'ERR_SERIALIZE', `the message cannot be serialized: ${(e as Error)?.message ?? String(e)}`, e);
  }
  const clone = s.releaseBuffer();
  pv.setUint32(0, clone.byteLength, true);
  pv.setUint32(4, buffers.length, true);
  const parts: Uint8Array[] = [prefix, clone];
  let length = prefix.byteLength + clone.byteLength;
  if (s.size > 0) {
    const start = align(length);
    if (start > length) parts.push(ZEROS.subarray(0, start - length));
    parts.push(...s.parts);
    length = start + s.size;
  }
  return { kind, parts, length };
}

// A copy of bytes [at, at + length): an ArrayBuffer of its own. (Not slice(): on a Buffer that is a view.)
function copyOf(b: Uint8Array, at: number, length: number): ArrayBuffer {
  const out = new Uint8Array(length);
  out.set(b.subarray(at, at + length));
  return out.buffer;
}

function setU64(v: DataView, off: number, n: number): void {
  v.setUint32(off, n >>> 0, true);
  v.setUint32(off + 4, Math.floor(n / 4294967296), true);
}

function getU64(v: DataView, off: number): number {
  return v.getUint32(off + 4, true) * 4294967296 + v.getUint32(off, true);
}

// The ArrayBuffers a structured clone would reach, so they can travel out of band. Views are host
// objects (their bytes go out of band anyway) and are not looked into.
function findArrayBuffers(root: unknown): ArrayBuffer[] {
  if (root === null || typeof root !== 'object') return [];
  const found: ArrayBuffer[] = [];
  const seen = new Set<object>();
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (v instanceof ArrayBuffer) {
      if (v.byteLength > 0) found.push(v);
    } else if (ArrayBuffer.isView(v)) {
      continue;
    } else if (v instanceof Map) {
      for (const [k, x] of v) stack.push(k, x);
    } else if (v instanceof Set) {
      for (const x of v) stack.push(x);
    } else {
      for (const k of Object.keys(v)) stack.push((v as Record<string, unknown>)[k]);
    }
  }
  return found;
}

class OutOfBandDeserializer extends Deserializer {
  constructor(clone: Uint8Array, private readonly area: Uint8Array) {
    super(clone);
  }

  _readHostObject(): unknown {
    const kind = this.readUint32();
    const at = readU64(this);
    const length = readU64(this);
    const area = this.area;
    if (at % HEADER_ALIGN !== 0 || at + length > area.byteLength) {
      throw new RangeError(`out-of-band part [${at}, ${at + length}) outside the ${area.byteLength}-byte area`);
    }
    const off = area.byteOffset + at;
    if (kind === VIEW_DATAVIEW) return new DataView(area.buffer, off, length);
    if (kind === VIEW_BUFFER) return Buffer.from(area.buffer, off, length);
    const info = dtypeByCode(kind);
    if (info === undefined || length % info.size !== 0) throw new RangeError(`out-of-band part of kind ${kind} and ${length} bytes`);
    const ctor = info.array as unknown as new (b: ArrayBufferLike, o: number, n: number) => TypedArray;
    if (off % info.size === 0) return new ctor(area.buffer, off, length / info.size);
    return new ctor(copyOf(area, at, length), 0, length / info.size); // misaligned input only
  }
}

/** The value of an object or error payload. Malformed payloads give CorruptMessageError('payload'). */
export function decodeObject(payload: Uint8Array, raw: Uint8Array, header: DecodedHeader): unknown {
  try {
    const n = payload.byteLength;
    if (n < 8) throw new RangeError(`${n} bytes, the object prefix alone is 8`);
    const pv = new DataView(payload.buffer, payload.byteOffset, n);
    const cloneLength = pv.getUint32(0, true);
    const count = pv.getUint32(4, true);
    const start = 8 + 16 * count;
    if (start + cloneLength > n) throw new RangeError(`clone of ${cloneLength} bytes and ${count} buffers exceed ${n} bytes`);
    const area = payload.subarray(Math.min(align(start + cloneLength), n));
    const d = new OutOfBandDeserializer(payload.subarray(start, start + cloneLength), area);
    for (let i = 0; i < count; i++) {
      const at = getU64(pv, 8 + 16 * i), length = getU64(pv, 16 + 16 * i);
      if (at % HEADER_ALIGN !== 0 || at + length > area.byteLength) throw new RangeError(`buffer ${i} outside the out-of-band area`);
      d.transferArrayBuffer(i, copyOf(area, at, length));
    }
    d.readHeader();
    return d.readValue();
  } catch (e) {
    throw new CorruptMessageError('payload', `the ${header.kind} payload does not decode: ${(e as Error)?.message ?? e}`, raw, {
      header,
      cause: e,
    });
  }
}

/** The value a decoded message carries: a Tensor, an object, or (kind 'bytes') a Uint8Array view. */
export function decodePayload(msg: DecodedMessage, raw: Uint8Array): unknown {
  const h = msg.header;
  if (h.kind === 'tensor') return { dtype: h.dtype!, shape: h.shape, data: payloadView(msg) } satisfies Tensor;
  if (h.kind === 'bytes') return msg.payload;
  return decodeObject(msg.payload, raw, h);
}
