// The typed-message wire format of versioned channels: header encode, message decode, payload views.
// Pure TypeScript, no MPI. The byte layout, the checks and the compatibility rule are in
// docs/wire-format.md; the constants below are the source of truth the document describes.
//
// Sending: the header is encoded into its own small buffer whose length is the payload offset (the
// header padded with zeros to HEADER_ALIGN), so a channel can send header and payload as one MPI
// message from two buffers (a derived datatype) without concatenating them. Receiving: the whole
// message is one buffer; decodeMessage checks everything and returns the payload as a view into it;
// payloadView() turns that into a typed array view without copying.

import { codedError } from '../core/errors.js';
import { type Dtype, type DtypeInfo, type TypedArray, dtypeByCode, dtypeInfo, dtypeOf } from '../core/dtypes.js';
import { crc32c, crc32cRange } from './crc32c.js';
import {
  ChannelMismatchError,
  ChecksumError,
  CorruptMessageError,
  type CorruptReason,
  MessageError,
  ProtocolVersionError,
  SchemaMismatchError,
} from './errors.js';

// ---------------------------------------------------------------------------------------------
// Constants

/** The four bytes every message starts with: ASCII "M4NW" (mpi4node wire). */
export const MAGIC_BYTES: readonly number[] = Object.freeze([0x4d, 0x34, 0x4e, 0x57]);
/** The magic read as a little-endian uint32 at offset 0. */
export const MAGIC = 0x574e344d;

export interface ProtocolVersion {
  readonly major: number;
  readonly minor: number;
}
/** A channel's schema version (what the payload means), chosen by the application. */
export interface SchemaVersion {
  readonly major: number;
  readonly minor: number;
}

/** This library's wire protocol version. Readers require the same major; any minor is accepted. */
export const PROTOCOL: ProtocolVersion = Object.freeze({ major: 1, minor: 0 });

/** The payload starts at a multiple of this many bytes from the start of the message. */
export const HEADER_ALIGN = 64;
/** Length of the fixed part of the header; shape and channel name follow it. */
export const FIXED_HEADER_LENGTH = 64;
/** Most dimensions a tensor payload may have. */
export const MAX_NDIM = 8;
/** Longest channel name, in UTF-8 bytes (at least 1). */
export const MAX_CHANNEL_NAME_BYTES = 255;
/** Largest header length a reader accepts (a newer minor's extensions included). */
export const MAX_HEADER_LENGTH = 65536;
/** Largest payload length: lengths travel as uint64 but must be exact in a JS number. */
export const MAX_PAYLOAD_LENGTH = Number.MAX_SAFE_INTEGER;

/** Byte offsets of the fixed header fields (all little-endian). */
export const OFFSET = Object.freeze({
  magic: 0, // u8[4]
  protocolMajor: 4, // u16
  protocolMinor: 6, // u16
  headerLength: 8, // u32
  payloadOffset: 12, // u32
  payloadLength: 16, // u64
  seq: 24, // u64
  correlationId: 32, // u64
  schemaMajor: 40, // u16
  schemaMinor: 42, // u16
  channelHash: 44, // u32, crc32c of the name bytes
  flags: 48, // u16
  dtype: 50, // u8
  ndim: 51, // u8
  nameLength: 52, // u8
  reserved0: 53, // u8[3], zero
  checksum: 56, // u32, crc32c of the payload when FLAG_CHECKSUM
  reserved1: 60, // u8[4], zero
  shape: 64, // u64[ndim], then the name bytes
});

/** Payload kinds, stored in the low 4 bits of the flags. */
export const PAYLOAD_KIND = Object.freeze({
  /** A dense tensor: dtype + shape, payload = product(shape) * dtype size bytes, row-major. */
  tensor: 1,
  /** A structured-clone (v8.serialize) encoded JS value. No dtype, ndim 0. */
  object: 2,
  /** An error reply (request/reply): the payload encodes the error like `object`. No dtype, ndim 0. */
  error: 3,
  /** Opaque application bytes. No dtype, ndim 0. */
  bytes: 4,
});
export type PayloadKind = keyof typeof PAYLOAD_KIND;

/** flags bits 0-3: the payload kind. */
export const FLAG_KIND_MASK = 0x000f;
/** flags bit 4: the checksum field holds the payload's CRC32C. */
export const FLAG_CHECKSUM = 0x0010;
/**
 * flags bit 5: the header ends with the authentication extension (lib/wire/auth.ts; older readers skip it): at
 * the first multiple of 8 after the name, u32 key id, u32 zero, then the 32-byte HMAC-SHA256.
 */
export const FLAG_AUTH = 0x0020;
/** Bytes of the authentication extension: key id (4), zero (4), HMAC-SHA256 (32). */
export const AUTH_EXTENSION_LENGTH = 40;

const KIND_BY_CODE: (PayloadKind | undefined)[] = [];
for (const k of Object.keys(PAYLOAD_KIND) as PayloadKind[]) KIND_BY_CODE[PAYLOAD_KIND[k]] = k;

const TWO32 = 4294967296;
const MAX_U64 = (1n << 64n) - 1n;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

// ---------------------------------------------------------------------------------------------
// Types

/** Per-message fields: everything in the header that is not fixed per channel. */
export interface MessageFields {
  kind: PayloadKind;
  /** Element type; required for 'tensor', must be absent otherwise. */
  dtype?: Dtype | undefined;
  /** Tensor shape (row-major). Absent for a tensor: 1-D, [payloadLength / dtype size]. [] = scalar. */
  shape?: readonly number[] | undefined;
  /** uint64 sequence number. */
  seq: bigint | number;
  /** uint64 correlation id (request/reply); 0 when unused. */
  correlationId?: bigint | number | undefined;
  /** Payload length in bytes. For a tensor it must be product(shape) * dtype size. */
  payloadLength: number;
  /** CRC32C of the payload (crc32c(payload)), if the sender wants it checked; sets FLAG_CHECKSUM. */
  checksum?: number | undefined;
}

/** Everything encodeHeader needs. */
export interface HeaderInit extends MessageFields {
  channel: string;
  schema: SchemaVersion;
}

/** A decoded, checked header. */
export interface DecodedHeader {
  /** The sender's protocol version (same major as ours; minor may differ). */
  protocol: ProtocolVersion;
  /** Meaningful header bytes (fixed part, shape, name, and any newer-minor extension). */
  headerLength: number;
  /** Where the payload starts: a multiple of HEADER_ALIGN, >= headerLength. */
  payloadOffset: number;
  payloadLength: number;
  kind: PayloadKind;
  /** The raw flags word (kind bits, FLAG_CHECKSUM, and bits a newer minor may set). */
  flags: number;
  /** The element type (tensor only; undefined otherwise, and in a CorruptMessageError for an unknown code). */
  dtype: Dtype | undefined;
  /** The dtype code as sent (0 for non-tensor payloads). */
  dtypeCode: number;
  /** Tensor shape ([] for scalars and non-tensor payloads). */
  shape: number[];
  channel: string;
  /** crc32c of the channel name's UTF-8 bytes. */
  channelHash: number;
  schema: SchemaVersion;
  seq: bigint;
  correlationId: bigint;
  /** The payload CRC32C from the header, or undefined when FLAG_CHECKSUM is clear. */
  checksum: number | undefined;
}

export interface DecodedMessage {
  header: DecodedHeader;
  /** The payload: a view into the decoded bytes (same ArrayBuffer), never a copy. */
  payload: Uint8Array;
}

export interface DecodeOptions {
  /** The channel the receiver expects; another one gives ChannelMismatchError. */
  channel?: string | undefined;
  /** The schema major the receiver expects; another one gives SchemaMismatchError. */
  schemaMajor?: number | undefined;
  /** Check the payload CRC32C when the flag says it is present (default true). */
  verifyChecksum?: boolean | undefined;
  /**
   * Accept bytes after the payload (default false: the message must end exactly at
   * payloadOffset + payloadLength, so a mis-sized receive is caught). Set it when `bytes` is a larger
   * receive buffer than the message; better, pass bytes.subarray(0, receivedCount).
   */
  allowTrailing?: boolean | undefined;
  /**
   * The protocol version the reader speaks (default PROTOCOL). Tests set it to simulate a reader of
   * another version; a reader that wants a message whatever its protocol major (reading `err.raw`
   * after a ProtocolVersionError) passes the message's own version.
   */
  protocol?: ProtocolVersion | undefined;
}

// ---------------------------------------------------------------------------------------------
// Version rules

/** A version where only the major matters to the rule (a minor may be given and is ignored). */
export interface VersionLike {
  readonly major: number;
  readonly minor?: number | undefined;
}

/**
 * The compatibility rule for a channel's schema version (the same as for the protocol version):
 * the major version must be the same; any minor is accepted, newer or older. A newer minor only
 * appends fields the reader ignores; an older minor lacks fields the reader must default.
 */
export function checkSchema(expected: VersionLike, got: VersionLike): boolean {
  return expected.major === got.major;
}

/** The same rule for the wire protocol: `theirs` is readable by us iff the majors are equal. */
export function checkProtocol(theirs: VersionLike, ours: ProtocolVersion = PROTOCOL): boolean {
  return ours.major === theirs.major;
}

// ---------------------------------------------------------------------------------------------
// Encoding

function validU16(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff;
}

function putU16(b: Uint8Array, off: number, v: number): void {
  b[off] = v;
  b[off + 1] = v >>> 8;
}

function putU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v;
  b[off + 1] = v >>> 8;
  b[off + 2] = v >>> 16;
  b[off + 3] = v >>> 24;
}

function putU64(b: Uint8Array, off: number, v: bigint | number, what: string): void {
  if (typeof v === 'number') {
    if (!(Number.isSafeInteger(v) && v >= 0)) throw codedError(RangeError, 'ERR_INVALID_ARG_VALUE', `${what} must be a non-negative safe integer or a bigint, got ${v}`);
    putU32(b, off, v >>> 0);
    putU32(b, off + 4, Math.floor(v / TWO32));
  } else if (typeof v === 'bigint') {
    if (v < 0n || v > MAX_U64) throw codedError(RangeError, 'ERR_INVALID_ARG_VALUE', `${what} must fit in uint64, got ${v}`);
    putU32(b, off, Number(v & 0xffffffffn));
    putU32(b, off + 4, Number(v >> 32n));
  } else {
    throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `${what} must be a number or a bigint, got ${typeof v}`);
  }
}

// Fresh header buffers are carved from a slab (like Node's Buffer pool): allocating an ArrayBuffer
// per header costs more than the whole encode. Each call gets its own never-reused region, so headers
// of sends in flight never alias; a slab is freed once no header in it is referenced.
const SLAB_SIZE = 64 * 1024;
let slab = new Uint8Array(0);
let slabUsed = 0;

function freshBuffer(len: number): Uint8Array {
  if (len > SLAB_SIZE >>> 3) return new Uint8Array(len);
  if (slabUsed + len > slab.length) {
    slab = new Uint8Array(SLAB_SIZE);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + len);
  slabUsed += len; // len is a multiple of HEADER_ALIGN, so every header starts 64-aligned in the slab
  return out;
}

/**
 * The fixed-per-channel part of the header, built once per channel (name encoded, hashed and
 * validated once), and stamped with the per-message fields on every send. Create one per channel
 * and schema version and keep it.
 *
 * encode() returns a fresh buffer per call (safe with many sends in flight); encodeInto() writes
 * into a caller-owned buffer (e.g. from a pool of header buffers, reused once its send completed).
 */
export class ChannelHeaderTemplate {
  readonly channel: string;
  readonly schema: SchemaVersion;
  /** crc32c of the channel name's UTF-8 bytes. */
  readonly channelHash: number;
  /** The protocol version the headers say (PROTOCOL unless a test simulates another). */
  readonly protocol: ProtocolVersion;
  readonly #name: Uint8Array;
  /** Pre-stamped header images, one per ndim (built lazily): fixed fields, name, zero padding. */
  readonly #images: (Uint8Array | undefined)[] = [];

  /** Headers carry the authentication extension (FLAG_AUTH), its key id and MAC left zero to stamp. */
  readonly auth: boolean;

  constructor(channel: string, schema: SchemaVersion, protocol: ProtocolVersion = PROTOCOL, auth = false) {
    this.auth = auth;
    if (typeof channel !== 'string') throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'channel name must be a string');
    const name = utf8Encoder.encode(channel);
    if (name.length === 0 || name.length > MAX_CHANNEL_NAME_BYTES) {
      throw codedError(RangeError, 'ERR_INVALID_ARG_VALUE', `channel name must be 1..${MAX_CHANNEL_NAME_BYTES} UTF-8 bytes, got ${name.length}`);
    }
    if (utf8Decoder.decode(name) !== channel) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'channel name is not well-formed Unicode (lone surrogate)');
    if (schema === null || typeof schema !== 'object' || !validU16(schema.major) || !validU16(schema.minor)) {
      throw codedError(RangeError, 'ERR_INVALID_ARG_VALUE', 'schema version must be { major, minor } with uint16 integers');
    }
    this.channel = channel;
    this.schema = Object.freeze({ major: schema.major, minor: schema.minor });
    if (protocol === null || typeof protocol !== 'object' || !validU16(protocol.major) || !validU16(protocol.minor)) {
      throw codedError(RangeError, 'ERR_INVALID_ARG_VALUE', 'protocol version must be { major, minor } with uint16 integers');
    }
    this.protocol = Object.freeze({ major: protocol.major, minor: protocol.minor });
    this.#name = name;
    this.channelHash = crc32c(name);
  }

  /** Header length in bytes for a message with `ndim` dimensions (0 for non-tensor kinds), excluding padding. */
  headerLength(ndim: number): number {
    const known = FIXED_HEADER_LENGTH + 8 * ndim + this.#name.length;
    return this.auth ? align(known, 8) + AUTH_EXTENSION_LENGTH : known;
  }

  /** The encoded header's byteLength for `ndim` dimensions = the payload offset (a multiple of HEADER_ALIGN). */
  byteLength(ndim: number): number {
    return align(this.headerLength(ndim), HEADER_ALIGN);
  }

  /**
   * Encode a header into a fresh buffer of byteLength(ndim) bytes (the payload offset). Fresh means
   * not shared with any other header, so it may stay in flight; it is a view into a pooled slab
   * (byteOffset need not be 0), never reused: do not assume it owns its whole ArrayBuffer.
   */
  encode(fields: MessageFields): Uint8Array {
    const ndim = ndimOf(fields);
    const image = this.#image(ndim);
    const out = freshBuffer(image.length);
    out.set(image);
    stamp(out, fields, ndim);
    return out;
  }

  /**
   * Encode a header into `target` (at least byteLength(ndim) bytes; padding is re-zeroed) and return
   * target.subarray(0, byteLength(ndim)).
   */
  encodeInto(target: Uint8Array, fields: MessageFields): Uint8Array {
    const ndim = ndimOf(fields);
    const image = this.#image(ndim);
    if (!(target instanceof Uint8Array)) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'target must be a Uint8Array');
    if (target.byteLength < image.byteLength) {
      throw codedError(RangeError, 'ERR_INVALID_ARG_VALUE', `target has ${target.byteLength} bytes, the header needs ${image.byteLength}`);
    }
    const out = target.byteLength === image.byteLength ? target : target.subarray(0, image.byteLength);
    out.set(image);
    stamp(out, fields, ndim);
    return out;
  }

  #image(ndim: number): Uint8Array {
    let img = this.#images[ndim];
    if (img === undefined) {
      const headerLength = this.headerLength(ndim);
      const payloadOffset = align(headerLength, HEADER_ALIGN);
      img = new Uint8Array(payloadOffset);
      putU32(img, OFFSET.magic, MAGIC);
      putU16(img, OFFSET.protocolMajor, this.protocol.major);
      putU16(img, OFFSET.protocolMinor, this.protocol.minor);
      putU32(img, OFFSET.headerLength, headerLength);
      putU32(img, OFFSET.payloadOffset, payloadOffset);
      putU16(img, OFFSET.schemaMajor, this.schema.major);
      putU16(img, OFFSET.schemaMinor, this.schema.minor);
      putU32(img, OFFSET.channelHash, this.channelHash);
      img[OFFSET.ndim] = ndim;
      img[OFFSET.nameLength] = this.#name.length;
      img.set(this.#name, OFFSET.shape + 8 * ndim);
      if (this.auth) putU16(img, OFFSET.flags, FLAG_AUTH);
      this.#images[ndim] = img;
    }
    return img;
  }
}

function ndimOf(f: MessageFields): number {
  if (f === null || typeof f !== 'object') throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'message fields must be an object');
  if (f.kind !== 'tensor') return 0;
  const shape = f.shape;
  if (shape === undefined) return 1;
  if (!Array.isArray(shape)) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'shape must be an array of non-negative integers');
  if (shape.length > MAX_NDIM) throw codedError(RangeError, 'ERR_INVALID_ARG_VALUE', `ndim ${shape.length} exceeds MAX_NDIM (${MAX_NDIM})`);
  return shape.length;
}

/** Write the per-message fields into a header image copy; validates them (TypeError/RangeError). */
function stamp(out: Uint8Array, f: MessageFields, ndim: number): void {
  if (!Object.hasOwn(PAYLOAD_KIND, f.kind)) {
    throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `unknown payload kind '${String(f.kind)}'; expected ${Object.keys(PAYLOAD_KIND).join(', ')}`);
  }
  const kindCode: number = PAYLOAD_KIND[f.kind];
  const len = f.payloadLength;
  if (!(Number.isSafeInteger(len) && len >= 0)) throw codedError(RangeError, 'ERR_INVALID_ARG_VALUE', `payloadLength must be a non-negative safe integer, got ${len}`);

  let flags = kindCode | (getU16(out, OFFSET.flags) & FLAG_AUTH); // the template's image sets FLAG_AUTH
  if (kindCode === PAYLOAD_KIND.tensor) {
    if (f.dtype === undefined) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', "a 'tensor' payload needs a dtype");
    const info = dtypeInfo(f.dtype);
    out[OFFSET.dtype] = info.code;
    const shape = f.shape;
    if (shape === undefined) {
      if (len % info.size !== 0) throw codedError(RangeError, 'ERR_INVALID_ARG_VALUE', `payloadLength ${len} is not a multiple of the ${info.name} size ${info.size}`);
      putU64(out, OFFSET.shape, len / info.size, 'shape[0]');
    } else {
      let elems = 1;
      for (let i = 0; i < ndim; i++) {
        const d = shape[i];
        if (!(typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
          throw codedError(RangeError, 'ERR_INVALID_ARG_VALUE', `shape[${i}] must be a non-negative safe integer, got ${String(d)}`);
        }
        elems *= d;
        putU64(out, OFFSET.shape + 8 * i, d, 'shape');
      }
      if (elems * info.size !== len) {
        throw codedError(RangeError, 'ERR_INVALID_ARG_VALUE', `shape [${shape.join(', ')}] of ${info.name} needs ${elems * info.size} bytes, payloadLength is ${len}`);
      }
    }
  } else {
    if (f.dtype !== undefined) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `a '${f.kind}' payload has no dtype`);
    if (f.shape !== undefined) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `a '${f.kind}' payload has no shape`);
    out[OFFSET.dtype] = 0;
  }

  const checksum = f.checksum;
  if (checksum !== undefined) {
    if (!(Number.isInteger(checksum) && checksum >= 0 && checksum <= 0xffffffff)) {
      throw codedError(RangeError, 'ERR_INVALID_ARG_VALUE', `checksum must be a uint32 (crc32c of the payload), got ${checksum}`);
    }
    flags |= FLAG_CHECKSUM;
    putU32(out, OFFSET.checksum, checksum);
  } else {
    putU32(out, OFFSET.checksum, 0);
  }
  putU16(out, OFFSET.flags, flags);
  putU64(out, OFFSET.payloadLength, len, 'payloadLength');
  putU64(out, OFFSET.seq, f.seq, 'seq');
  putU64(out, OFFSET.correlationId, f.correlationId ?? 0, 'correlationId');
}

const templateCache = new Map<string, ChannelHeaderTemplate>();
const TEMPLATE_CACHE_MAX = 1024;

/** The (cached) template for a channel and schema version. */
export function channelTemplate(channel: string, schema: SchemaVersion): ChannelHeaderTemplate {
  const t = templateCache.get(channel);
  if (t !== undefined && t.schema.major === schema.major && t.schema.minor === schema.minor) return t;
  const nt = new ChannelHeaderTemplate(channel, schema);
  if (templateCache.size >= TEMPLATE_CACHE_MAX) templateCache.clear();
  templateCache.set(channel, nt);
  return nt;
}

/**
 * Encode a header into a fresh buffer: the header bytes followed by zero padding up to the payload
 * offset, so header.byteLength === payload offset (a multiple of HEADER_ALIGN). The payload itself
 * is not copied: send header and payload back to back as one message.
 */
export function encodeHeader(h: HeaderInit): Uint8Array {
  if (h === null || typeof h !== 'object') throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'header fields must be an object');
  return channelTemplate(h.channel, h.schema).encode(h);
}

/** encodeMessage's input: the header fields without the ones the payload determines. */
export interface MessageInit extends Omit<HeaderInit, 'payloadLength' | 'checksum'> {
  /** Compute and include the payload CRC32C (default false). */
  checksum?: boolean | undefined;
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/**
 * Header + payload concatenated into one new buffer (a copy of the payload). For tests, files and
 * transports that need one contiguous buffer; channels send the two parts without concatenating.
 * A 'tensor' without a dtype takes the payload's typed array type (float16/bfloat16 must be named).
 */
export function encodeMessage(init: MessageInit, payload: ArrayBufferView): Uint8Array {
  if (init === null || typeof init !== 'object') throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'message fields must be an object');
  if (!ArrayBuffer.isView(payload)) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'payload must be a typed array, DataView or Buffer');
  const bytes = bytesOf(payload);
  let dtype = init.dtype;
  if (init.kind === 'tensor' && dtype === undefined) {
    const d = dtypeOf(payload);
    if (d === undefined) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', "a 'tensor' payload needs a dtype (the payload is not a typed array)");
    dtype = d.name;
  }
  const header = encodeHeader({
    ...init,
    dtype,
    payloadLength: bytes.byteLength,
    checksum: init.checksum === true ? crc32c(bytes) : undefined,
  });
  const out = new Uint8Array(header.byteLength + bytes.byteLength);
  out.set(header);
  out.set(bytes, header.byteLength);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Small cache of decoded channel names by hash, so decoding does not run TextDecoder per message. */
const nameCache = new Map<number, { bytes: Uint8Array; name: string }>();
const NAME_CACHE_MAX = 256;

/** Decode a channel name from bytes[start, end); undefined when it is not valid UTF-8. */
function decodeName(bytes: Uint8Array, start: number, end: number, hash: number): string | undefined {
  const hit = nameCache.get(hash);
  if (hit !== undefined && hit.bytes.length === end - start) {
    const hb = hit.bytes;
    let i = 0;
    while (i < hb.length && hb[i] === bytes[start + i]) i++;
    if (i === hb.length) return hit.name;
  }
  const nameBytes = bytes.subarray(start, end);
  let name: string;
  try {
    name = utf8Decoder.decode(nameBytes);
  } catch {
    return undefined;
  }
  if (nameCache.size >= NAME_CACHE_MAX) nameCache.clear();
  nameCache.set(hash, { bytes: new Uint8Array(nameBytes), name }); // a copy even for a Buffer (whose slice is a view)
  return name;
}

function corrupt(reason: CorruptReason, msg: string, raw: Uint8Array, header?: DecodedHeader): CorruptMessageError {
  return new CorruptMessageError(reason, msg, raw, header === undefined ? undefined : { header });
}

function getU16(b: Uint8Array, off: number): number {
  return b[off] | (b[off + 1] << 8);
}

function getU32(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}

/** Read a u64 that must be exact as a number; -1 when it is not (>= 2^53). */
function getSafeU64(b: Uint8Array, off: number): number {
  const hi = getU32(b, off + 4);
  if (hi > 0x1fffff) return -1;
  return hi * TWO32 + getU32(b, off);
}

function getBigU64(b: Uint8Array, off: number): bigint {
  const lo = getU32(b, off);
  const hi = getU32(b, off + 4);
  return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

/**
 * Structural parse under our (major 1) layout: lengths, ndim, shape values, name. Returns the header
 * (dtype/shape consistency and payload bounds not yet checked) or throws CorruptMessageError.
 */
function parseHeader(bytes: Uint8Array): DecodedHeader {
  const n = bytes.byteLength;
  if (n < FIXED_HEADER_LENGTH) throw corrupt('truncated', `${n} bytes, the fixed header alone is ${FIXED_HEADER_LENGTH}`, bytes);

  const headerLength = getU32(bytes, OFFSET.headerLength);
  const payloadOffset = getU32(bytes, OFFSET.payloadOffset);
  const ndim = bytes[OFFSET.ndim];
  const nameLength = bytes[OFFSET.nameLength];
  const known = FIXED_HEADER_LENGTH + 8 * ndim + nameLength;

  if (ndim > MAX_NDIM) throw corrupt('shape', `ndim ${ndim} exceeds ${MAX_NDIM}`, bytes);
  if (nameLength === 0) throw corrupt('name', 'empty channel name', bytes);
  if (headerLength < known || headerLength > MAX_HEADER_LENGTH) {
    throw corrupt('length', `header length ${headerLength} (fields need ${known}, limit ${MAX_HEADER_LENGTH})`, bytes);
  }
  if (payloadOffset % HEADER_ALIGN !== 0 || payloadOffset < headerLength || payloadOffset > MAX_HEADER_LENGTH) {
    throw corrupt('length', `payload offset ${payloadOffset} (header length ${headerLength}, alignment ${HEADER_ALIGN})`, bytes);
  }
  if (headerLength > n) throw corrupt('truncated', `${n} bytes, the header is ${headerLength}`, bytes);

  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) {
    const d = getSafeU64(bytes, OFFSET.shape + 8 * i);
    if (d < 0) throw corrupt('shape', `shape[${i}] is not below 2^53`, bytes);
    shape.push(d);
  }

  const nameStart = OFFSET.shape + 8 * ndim;
  const channelHash = getU32(bytes, OFFSET.channelHash);
  const actualHash = crc32cRange(bytes, nameStart, nameStart + nameLength);
  if (actualHash !== channelHash) {
    throw corrupt('name', `channel name hash 0x${channelHash.toString(16)} does not match its bytes (0x${actualHash.toString(16)})`, bytes);
  }
  const channel = decodeName(bytes, nameStart, nameStart + nameLength, channelHash);
  if (channel === undefined) throw corrupt('name', 'channel name is not valid UTF-8', bytes);

  const payloadLength = getSafeU64(bytes, OFFSET.payloadLength);
  if (payloadLength < 0) throw corrupt('length', 'payload length is not below 2^53', bytes);

  const flags = getU16(bytes, OFFSET.flags);
  const kind = KIND_BY_CODE[flags & FLAG_KIND_MASK];
  if (kind === undefined) throw corrupt('kind', `unknown payload kind ${flags & FLAG_KIND_MASK}`, bytes);
  const dtypeCode = bytes[OFFSET.dtype];

  return {
    protocol: { major: getU16(bytes, OFFSET.protocolMajor), minor: getU16(bytes, OFFSET.protocolMinor) },
    headerLength,
    payloadOffset,
    payloadLength,
    kind,
    flags,
    dtype: kind === 'tensor' ? dtypeByCode(dtypeCode)?.name : undefined,
    dtypeCode,
    shape,
    channel,
    channelHash,
    schema: { major: getU16(bytes, OFFSET.schemaMajor), minor: getU16(bytes, OFFSET.schemaMinor) },
    seq: getBigU64(bytes, OFFSET.seq),
    correlationId: getBigU64(bytes, OFFSET.correlationId),
    checksum: flags & FLAG_CHECKSUM ? getU32(bytes, OFFSET.checksum) : undefined,
  };
}

/**
 * Decode and check a whole received message (header + payload in one buffer). Every check runs
 * (docs/wire-format.md, "Checks"); any failure is a MessageError subclass, for any input bytes.
 * The returned payload is a view into `bytes` (same ArrayBuffer), not a copy.
 */
export function decodeMessage(bytes: Uint8Array, expect?: DecodeOptions): DecodedMessage {
  if (!(bytes instanceof Uint8Array)) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'decodeMessage needs a Uint8Array');
  const n = bytes.byteLength;
  if (n < 8) throw corrupt('truncated', `${n} bytes, not even a magic and a version`, bytes);
  if (bytes[0] !== 0x4d || bytes[1] !== 0x34 || bytes[2] !== 0x4e || bytes[3] !== 0x57) {
    throw corrupt('magic', `bad magic ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')}`, bytes);
  }
  const major = getU16(bytes, OFFSET.protocolMajor);
  const ours = expect?.protocol ?? PROTOCOL;
  if (major !== ours.major) {
    const theirs = { major, minor: getU16(bytes, OFFSET.protocolMinor) };
    let header: DecodedHeader | undefined;
    try {
      header = parseHeader(bytes); // best effort: only if it also parses under our layout
    } catch {
      header = undefined;
    }
    throw new ProtocolVersionError(ours, theirs, bytes, { header });
  }

  const header = parseHeader(bytes);

  // Payload kind, dtype and shape consistency.
  if (header.kind === 'tensor') {
    const info = dtypeByCode(header.dtypeCode);
    if (info === undefined) throw corrupt('dtype', `unknown dtype code ${header.dtypeCode}`, bytes, header);
    let elems = 1;
    let zero = false;
    for (const d of header.shape) {
      if (d === 0) zero = true;
      else elems *= d;
    }
    const need = zero ? 0 : elems * info.size;
    if (need !== header.payloadLength) {
      throw corrupt(
        'shape',
        `shape [${header.shape.join(', ')}] of ${info.name} needs ${need} bytes, payload length is ${header.payloadLength}`,
        bytes,
        header,
      );
    }
  } else if (header.dtypeCode !== 0 || header.shape.length !== 0) {
    throw corrupt('dtype', `a '${header.kind}' payload with dtype code ${header.dtypeCode} and ndim ${header.shape.length}`, bytes, header);
  }

  // Payload bounds.
  const end = header.payloadOffset + header.payloadLength;
  if (end > n) {
    throw corrupt('truncated', `message needs ${end} bytes (payload ${header.payloadLength} at ${header.payloadOffset}), got ${n}`, bytes, header);
  }
  if (end < n && expect?.allowTrailing !== true) {
    throw corrupt('length', `${n - end} bytes after the payload (message is ${end} bytes, got ${n})`, bytes, header);
  }

  // What the receiver expects.
  if (expect !== undefined) {
    if (expect.channel !== undefined && expect.channel !== header.channel) {
      throw new ChannelMismatchError(expect.channel, header.channel, bytes, { header });
    }
    if (expect.schemaMajor !== undefined && !checkSchema({ major: expect.schemaMajor }, header.schema)) {
      throw new SchemaMismatchError(expect.schemaMajor, header.schema, bytes, { header });
    }
  }

  const payload = bytes.subarray(header.payloadOffset, end);

  if (header.checksum !== undefined && expect?.verifyChecksum !== false) {
    const actual = crc32c(payload);
    if (actual !== header.checksum) throw new ChecksumError(header.checksum, actual, bytes, { header });
  }

  return { header, payload };
}

/** true for the errors decodeMessage throws on bad input. */
export function isMessageError(e: unknown): e is MessageError {
  return e instanceof MessageError;
}

type ViewCtor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => TypedArray;

/**
 * The payload as a typed array: the dtype's array type for a tensor (float16/bfloat16 as
 * Uint16Array), a Uint8Array for other kinds. A view on the same memory, no copy — except when the
 * payload's position in its ArrayBuffer is not a multiple of the element size, which happens only if
 * the decoded `bytes` itself started at a misaligned byteOffset (the payload is HEADER_ALIGN-aligned
 * relative to the message start): then the payload is copied into a fresh, aligned buffer.
 */
export function payloadView(msg: DecodedMessage): TypedArray {
  if (msg === null || typeof msg !== 'object' || !(msg.payload instanceof Uint8Array) || msg.header === null || typeof msg.header !== 'object') {
    throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'payloadView needs a DecodedMessage (from decodeMessage)');
  }
  const { header, payload } = msg;
  if (header.kind !== 'tensor' || header.dtype === undefined) return payload;
  const info: DtypeInfo = dtypeInfo(header.dtype);
  const ctor = info.array as unknown as ViewCtor;
  const count = payload.byteLength / info.size;
  if (payload.byteOffset % info.size === 0) return new ctor(payload.buffer, payload.byteOffset, count);
  const copy = new Uint8Array(payload.byteLength);
  copy.set(payload);
  return new ctor(copy.buffer, 0, count);
}

/** Whether payloadView(msg) would be a view (true) or a copy (false). */
export function payloadIsAligned(msg: DecodedMessage): boolean {
  const { header, payload } = msg;
  if (header.kind !== 'tensor' || header.dtype === undefined) return true;
  return payload.byteOffset % dtypeInfo(header.dtype).size === 0;
}
