// Wire format codec (lib/wire): CRC32C, header encode, message decode, payload views, every error.
// Pure TypeScript, no MPI. Run: node --import tsx test/unit/wire.test.ts

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fc from 'fast-check';
import { serialize, deserialize } from 'node:v8';

import { DTYPES, type Dtype, dtypeInfo } from '../../lib/core/dtypes.js';
import { crc32c } from '../../lib/wire/crc32c.js';
import {
  ChannelHeaderTemplate,
  type DecodedMessage,
  FIXED_HEADER_LENGTH,
  FLAG_CHECKSUM,
  HEADER_ALIGN,
  MAGIC,
  MAX_CHANNEL_NAME_BYTES,
  MAX_NDIM,
  type MessageInit,
  OFFSET,
  PROTOCOL,
  type PayloadKind,
  checkProtocol,
  checkSchema,
  decodeMessage,
  encodeHeader,
  encodeMessage,
  payloadIsAligned,
  payloadView,
} from '../../lib/wire/codec.js';
import {
  ChannelMismatchError,
  ChecksumError,
  CorruptMessageError,
  type CorruptReason,
  ErrorCode,
  MessageError,
  PermissionError,
  ProtocolVersionError,
  SchemaMismatchError,
  TimeoutError,
} from '../../lib/wire/errors.js';

const enc = new TextEncoder();
const SCHEMA = { major: 2, minor: 3 };

// ---------------------------------------------------------------------------------------------
// Helpers

/** A payload of `count` elements of `dtype` with distinct-ish values. */
function makePayload(dtype: Dtype, count: number): ArrayBufferView {
  const info = dtypeInfo(dtype);
  const a = new info.array(count);
  for (let i = 0; i < count; i++) {
    if (info.kind === 'bigint') (a as BigInt64Array)[i] = BigInt(i * 7 - 3);
    else if (info.kind === 'float' && info.size >= 4) (a as Float64Array)[i] = i * 1.5 - 2.25;
    else (a as Uint8Array)[i] = i * 37 + 1;
  }
  return a;
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function tensorMsg(extra: Partial<MessageInit> = {}, payload: ArrayBufferView = Float64Array.of(1, 2, 3, 4, 5, 6)): Uint8Array {
  return encodeMessage(
    { channel: 'sensors/temp', schema: SCHEMA, kind: 'tensor', shape: [2, 3], seq: 42n, correlationId: 7, ...extra },
    payload,
  );
}

function joinPayload(header: Uint8Array, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(header.byteLength + payload.byteLength);
  out.set(header);
  out.set(payload, header.byteLength);
  return out;
}

function setU16(b: Uint8Array, off: number, v: number): void {
  new DataView(b.buffer, b.byteOffset).setUint16(off, v, true);
}
function setU32(b: Uint8Array, off: number, v: number): void {
  new DataView(b.buffer, b.byteOffset).setUint32(off, v, true);
}
function getU32(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset).getUint32(off, true);
}

/** Rewrite a message as a newer minor would: `ext` appended after the v1.0 fields, longer header. */
function withExtension(msg: Uint8Array, ext: Uint8Array, minor: number): Uint8Array {
  const { header, payload } = decodeMessage(msg, { verifyChecksum: false });
  const extStart = Math.ceil(header.headerLength / 8) * 8;
  const headerLength = extStart + ext.length;
  const payloadOffset = Math.ceil(headerLength / HEADER_ALIGN) * HEADER_ALIGN;
  const out = new Uint8Array(payloadOffset + payload.length);
  out.set(msg.subarray(0, header.headerLength));
  out.set(ext, extStart);
  out.set(payload, payloadOffset);
  setU16(out, OFFSET.protocolMinor, minor);
  setU32(out, OFFSET.headerLength, headerLength);
  setU32(out, OFFSET.payloadOffset, payloadOffset);
  return out;
}

function throwsTyped<E extends Error>(fn: () => unknown, cls: abstract new (...a: never[]) => E, check?: (e: E) => void): E {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof cls)) assert.unreachable(`expected ${cls.name}, got ${String(e)}`);
    check?.(e as E);
    return e as E;
  }
  return assert.unreachable(`expected ${cls.name}, nothing thrown`) as never;
}

function corruptWith(bytes: Uint8Array, reason: CorruptReason, opts?: Parameters<typeof decodeMessage>[1]): CorruptMessageError {
  return throwsTyped(() => decodeMessage(bytes, opts), CorruptMessageError, (e) => {
    assert.is(e.reason, reason, e.message);
    assert.is(e.raw, bytes, 'raw is the input bytes');
    assert.ok(e instanceof MessageError);
  });
}

/** The payload lies within `bytes` and shares its buffer. */
function assertWithin(bytes: Uint8Array, d: DecodedMessage): void {
  assert.ok(d.payload.buffer === bytes.buffer, 'payload shares the input buffer');
  assert.ok(d.payload.byteOffset >= bytes.byteOffset, 'payload starts within the input');
  assert.ok(d.payload.byteOffset + d.payload.byteLength <= bytes.byteOffset + bytes.byteLength, 'payload ends within the input');
}

// ---------------------------------------------------------------------------------------------
// CRC32C

test('crc32c: known vectors (RFC 3720 B.4 and the check value)', () => {
  assert.is(crc32c(enc.encode('123456789')), 0xe3069283);
  assert.is(crc32c(new Uint8Array(0)), 0);
  assert.is(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.is(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.is(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.is(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  assert.is(crc32c(enc.encode('a')), 0xc1d04330);
  assert.is(crc32c(enc.encode('The quick brown fox jumps over the lazy dog')), 0x22620404);
});

function crcBitwise(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

test('crc32c: matches a bitwise reference at any offset and length, chains, accepts any view', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(7), (data, off) => {
      const buf = new Uint8Array(data.length + off);
      buf.set(data, off);
      const view = buf.subarray(off);
      const ref = crcBitwise(data);
      assert.is(crc32c(view), ref);
      const cut = data.length >> 1;
      assert.is(crc32c(view.subarray(cut), crc32c(view.subarray(0, cut))), ref);
    }),
  );
  const f = Float64Array.of(1, 2, 3);
  assert.is(crc32c(f), crcBitwise(bytesOf(f)));
  assert.is(crc32c(f.buffer), crcBitwise(bytesOf(f)));
  assert.is(crc32c(new DataView(f.buffer, 4, 12)), crcBitwise(new Uint8Array(f.buffer, 4, 12)));
});

// ---------------------------------------------------------------------------------------------
// Round trips

const SHAPES: number[][] = [[], [0], [1], [5], [2, 3], [3, 0, 2], [1, 2, 1, 3, 1, 1, 2, 1]];

test('round trip: every dtype, scalar, empty and multi-dimensional shapes', () => {
  for (const d of DTYPES) {
    for (const shape of SHAPES) {
      const count = shape.reduce((a, b) => a * b, 1);
      const payload = makePayload(d.name, count);
      const msg = encodeMessage(
        { channel: 'ch', schema: { major: 1, minor: 0 }, kind: 'tensor', dtype: d.name, shape, seq: 1, checksum: true },
        payload,
      );
      const dec = decodeMessage(msg, { channel: 'ch', schemaMajor: 1 });
      const h = dec.header;
      assert.is(h.kind, 'tensor');
      assert.is(h.dtype, d.name);
      assert.is(h.dtypeCode, d.code);
      assert.equal(h.shape, shape);
      assert.is(h.payloadLength, count * d.size);
      assert.is(h.payloadOffset % HEADER_ALIGN, 0);
      assert.ok(h.payloadOffset >= h.headerLength);
      assert.is(msg.byteLength, h.payloadOffset + h.payloadLength);
      const view = payloadView(dec);
      assert.is(view.constructor, d.array, `${d.name} view type`);
      assert.is(view.length, count);
      assert.ok(view.buffer === msg.buffer, 'payloadView is a view');
      assert.is(view.byteOffset, msg.byteOffset + h.payloadOffset);
      assert.equal(Array.from(bytesOf(view)), Array.from(bytesOf(payload)), `${d.name} ${JSON.stringify(shape)} bytes`);
      assert.ok(payloadIsAligned(dec));
    }
  }
});

test('round trip: header fields (uint64 seq/correlation as bigint, schema, channel, checksum)', () => {
  const max = (1n << 64n) - 1n;
  for (const [seq, corr] of [
    [0, 0],
    [2 ** 53 - 1, 2 ** 32],
    [max, max - 1n],
    [123n, 456n],
  ] as [bigint | number, bigint | number][]) {
    const msg = tensorMsg({ seq, correlationId: corr });
    const { header } = decodeMessage(msg);
    assert.is(header.seq, BigInt(seq));
    assert.is(header.correlationId, BigInt(corr));
  }
  const { header } = decodeMessage(tensorMsg({ checksum: true }));
  assert.equal(header.protocol, { major: PROTOCOL.major, minor: PROTOCOL.minor });
  assert.equal(header.schema, SCHEMA);
  assert.is(header.channel, 'sensors/temp');
  assert.is(header.channelHash, crc32c(enc.encode('sensors/temp')));
  assert.is(header.checksum, crc32c(Float64Array.of(1, 2, 3, 4, 5, 6)));
  assert.ok(header.flags & FLAG_CHECKSUM);
  assert.is(decodeMessage(tensorMsg()).header.checksum, undefined);
  // Unicode channel names, up to the limit.
  for (const name of ['ünïcødé/频道/🚀', 'x'.repeat(MAX_CHANNEL_NAME_BYTES), '\uFEFFbom']) {
    const m = encodeMessage({ channel: name, schema: SCHEMA, kind: 'bytes', seq: 0 }, new Uint8Array(3));
    assert.is(decodeMessage(m, { channel: name }).header.channel, name);
  }
});

test('round trip: object, error and bytes kinds', () => {
  const value = { a: 1, b: [1, 2, 3], c: new Map([['k', 'v']]), d: 10n };
  const ser = serialize(value);
  const msg = encodeMessage({ channel: 'rpc', schema: SCHEMA, kind: 'object', seq: 9, correlationId: 77n, checksum: true }, ser);
  const dec = decodeMessage(msg, { channel: 'rpc', schemaMajor: SCHEMA.major });
  assert.is(dec.header.kind, 'object');
  assert.is(dec.header.dtype, undefined);
  assert.equal(dec.header.shape, []);
  assert.equal(deserialize(dec.payload), value);
  assert.ok(payloadView(dec) === dec.payload, 'non-tensor payloadView is the payload bytes');

  const err = serialize({ name: 'Error', message: 'boom', code: 'EFAIL' });
  const em = encodeMessage({ channel: 'rpc', schema: SCHEMA, kind: 'error', seq: 10, correlationId: 77n }, err);
  const ed = decodeMessage(em);
  assert.is(ed.header.kind, 'error');
  assert.is(ed.header.correlationId, 77n);
  assert.equal(deserialize(ed.payload), { name: 'Error', message: 'boom', code: 'EFAIL' });

  const bm = encodeMessage({ channel: 'raw', schema: SCHEMA, kind: 'bytes', seq: 1 }, new Uint8Array(0));
  const bd = decodeMessage(bm);
  assert.is(bd.header.kind, 'bytes');
  assert.is(bd.payload.byteLength, 0);
  assert.is(bm.byteLength % HEADER_ALIGN, 0);
});

test('payload view: zero copy, aligned, in place; copy fallback when the input is misaligned', () => {
  const msg = tensorMsg();
  const dec = decodeMessage(msg);
  assert.ok(dec.payload.buffer === msg.buffer);
  assert.is(dec.payload.byteOffset - msg.byteOffset, dec.header.payloadOffset);
  const v = payloadView(dec) as Float64Array;
  assert.ok(v instanceof Float64Array);
  v[0] = 99; // writes through to the message bytes: it is a view
  assert.is(new DataView(msg.buffer).getFloat64(dec.header.payloadOffset, true), 99);

  // The same message at byteOffset 64 inside a larger buffer: still a view.
  const big = new Uint8Array(msg.length + 128);
  big.set(msg, 64);
  const at64 = big.subarray(64, 64 + msg.length);
  const d64 = decodeMessage(at64);
  const v64 = payloadView(d64);
  assert.ok(v64.buffer === big.buffer);
  assert.is(v64.byteOffset, 64 + d64.header.payloadOffset);

  // At byteOffset 3: Float64Array cannot view it; payloadView copies (documented).
  const odd = new Uint8Array(msg.length + 3);
  odd.set(msg, 3);
  const d3 = decodeMessage(odd.subarray(3));
  assertWithin(odd.subarray(3), d3);
  assert.not.ok(payloadIsAligned(d3));
  const v3 = payloadView(d3) as Float64Array;
  assert.ok(v3 instanceof Float64Array);
  assert.ok(v3.buffer !== odd.buffer, 'misaligned input is copied');
  assert.equal(Array.from(v3), [99, 2, 3, 4, 5, 6]);

  // A Node Buffer (Uint8Array subclass, possibly from the shared pool) decodes the same.
  const nb = Buffer.from(msg);
  const dn = decodeMessage(nb);
  assertWithin(nb, dn);
  assert.equal(Array.from(payloadView(dn) as Float64Array), [99, 2, 3, 4, 5, 6]);
});

// ---------------------------------------------------------------------------------------------
// Encoding

test('encodeHeader: byteLength is the aligned payload offset; template encode/encodeInto agree', () => {
  const init = { channel: 'c', schema: SCHEMA, kind: 'tensor' as const, dtype: 'uint8' as const, seq: 5n, correlationId: 0, payloadLength: 8 };
  const h = encodeHeader(init);
  assert.is(h.byteLength, 128); // 64 fixed + 8 shape + 1 name = 73 -> 128
  assert.is(getU32(h, OFFSET.magic), MAGIC);
  assert.is(getU32(h, OFFSET.headerLength), FIXED_HEADER_LENGTH + 8 + 1);
  assert.is(getU32(h, OFFSET.payloadOffset), 128);
  for (let i = FIXED_HEADER_LENGTH + 9; i < 128; i++) assert.is(h[i], 0, 'padding is zero');

  const t = new ChannelHeaderTemplate('c', SCHEMA);
  assert.is(t.byteLength(1), 128);
  assert.is(t.byteLength(0), 128);
  const a = t.encode(init);
  const b = t.encode(init);
  assert.equal(Array.from(a), Array.from(h));
  // Fresh each time: distinct, non-overlapping memory (possibly in one pooled slab), 64-aligned there.
  const disjoint = a.buffer !== b.buffer || a.byteOffset + a.byteLength <= b.byteOffset || b.byteOffset + b.byteLength <= a.byteOffset;
  assert.ok(disjoint, 'encode gives fresh memory each time');
  a[OFFSET.seq] = 0xff;
  assert.is(b[OFFSET.seq], 5);
  assert.is(a.byteOffset % HEADER_ALIGN, 0);
  const many = Array.from({ length: 2000 }, (_, i) => t.encode({ ...init, seq: i }));
  many.forEach((m, i) => assert.is(decodeMessage(joinPayload(m, new Uint8Array(8))).header.seq, BigInt(i)));

  const pool = new Uint8Array(512).fill(0xee);
  const into = t.encodeInto(pool, init);
  assert.ok(into.buffer === pool.buffer);
  assert.is(into.byteLength, 128);
  assert.equal(Array.from(into), Array.from(h), 'encodeInto re-zeroes padding and reserved bytes');
  assert.throws(() => t.encodeInto(new Uint8Array(64), init), RangeError);

  // Header + payload sent as two buffers == the concatenated message.
  const payload = Float32Array.of(1, 2, 3);
  const hdr = encodeHeader({ channel: 'x', schema: SCHEMA, kind: 'tensor', dtype: 'float32', shape: [3], seq: 1, payloadLength: 12 });
  const joined = new Uint8Array(hdr.byteLength + 12);
  joined.set(hdr);
  joined.set(bytesOf(payload), hdr.byteLength);
  assert.equal(Array.from(payloadView(decodeMessage(joined)) as Float32Array), [1, 2, 3]);
  // Shape defaults to 1-D.
  assert.equal(decodeMessage(joined).header.shape, [3]);
  const joined2 = new Uint8Array(hdr.byteLength + 12);
  joined2.set(encodeHeader({ channel: 'x', schema: SCHEMA, kind: 'tensor', dtype: 'float32', seq: 1, payloadLength: 12 }));
  assert.equal(decodeMessage(joined2).header.shape, [3]);
});

test('encodeHeader: rejects bad input with TypeError/RangeError', () => {
  const base = { channel: 'c', schema: SCHEMA, kind: 'tensor' as PayloadKind, dtype: 'float64' as Dtype, seq: 0, payloadLength: 8 };
  assert.throws(() => encodeHeader({ ...base, channel: '' }), RangeError);
  assert.throws(() => encodeHeader({ ...base, channel: 'x'.repeat(256) }), RangeError);
  assert.throws(() => encodeHeader({ ...base, channel: 'bad\uD800' }), TypeError);
  assert.throws(() => encodeHeader({ ...base, schema: { major: -1, minor: 0 } }), RangeError);
  assert.throws(() => encodeHeader({ ...base, schema: { major: 1, minor: 65536 } }), RangeError);
  assert.throws(() => encodeHeader({ ...base, dtype: undefined }), TypeError);
  assert.throws(() => encodeHeader({ ...base, dtype: 'complex64' as Dtype }), TypeError);
  assert.throws(() => encodeHeader({ ...base, shape: [2] }), RangeError); // 16 != 8
  assert.throws(() => encodeHeader({ ...base, payloadLength: 7 }), RangeError);
  assert.throws(() => encodeHeader({ ...base, shape: [1.5] }), RangeError);
  assert.throws(() => encodeHeader({ ...base, shape: new Array<number>(MAX_NDIM + 1).fill(1) }), RangeError);
  assert.throws(() => encodeHeader({ ...base, seq: -1 }), RangeError);
  assert.throws(() => encodeHeader({ ...base, seq: 1n << 64n }), RangeError);
  assert.throws(() => encodeHeader({ ...base, correlationId: 2 ** 53 }), RangeError);
  assert.throws(() => encodeHeader({ ...base, checksum: 2 ** 32 }), RangeError);
  assert.throws(() => encodeHeader({ ...base, kind: 'nope' as PayloadKind }), TypeError);
  assert.throws(() => encodeHeader({ ...base, kind: 'toString' as PayloadKind }), TypeError);
  assert.throws(() => encodeHeader({ ...base, kind: 'object' }), TypeError); // dtype on an object payload
  assert.throws(() => encodeHeader({ channel: 'c', schema: SCHEMA, kind: 'object', shape: [1], seq: 0, payloadLength: 1 }), TypeError);
  assert.throws(() => encodeMessage({ channel: 'c', schema: SCHEMA, kind: 'tensor', seq: 0 }, new DataView(new ArrayBuffer(8))), TypeError);
  assert.ok(encodeHeader({ ...base, shape: new Array<number>(MAX_NDIM).fill(1) }).byteLength % HEADER_ALIGN === 0);
});

// ---------------------------------------------------------------------------------------------
// Versioning

test('version rules: checkSchema / checkProtocol', () => {
  assert.ok(checkSchema({ major: 2, minor: 3 }, { major: 2, minor: 3 }));
  assert.ok(checkSchema({ major: 2, minor: 3 }, { major: 2, minor: 9 }), 'newer minor accepted');
  assert.ok(checkSchema({ major: 2, minor: 3 }, { major: 2, minor: 0 }), 'older minor accepted');
  assert.not.ok(checkSchema({ major: 2, minor: 3 }, { major: 3, minor: 0 }));
  assert.not.ok(checkSchema({ major: 2, minor: 3 }, { major: 1, minor: 9 }));
  assert.ok(checkProtocol({ major: PROTOCOL.major, minor: PROTOCOL.minor + 5 }));
  assert.not.ok(checkProtocol({ major: PROTOCOL.major + 1, minor: 0 }));
});

test('protocol major + 1 -> ProtocolVersionError naming both versions, with raw bytes and header', () => {
  const msg = tensorMsg();
  setU16(msg, OFFSET.protocolMajor, PROTOCOL.major + 1);
  setU16(msg, OFFSET.protocolMinor, 4);
  const e = throwsTyped(() => decodeMessage(msg), ProtocolVersionError);
  assert.ok(e instanceof MessageError);
  assert.is(e.code, ErrorCode.PROTOCOL_VERSION);
  assert.equal(e.ours, { major: PROTOCOL.major, minor: PROTOCOL.minor });
  assert.equal(e.theirs, { major: PROTOCOL.major + 1, minor: 4 });
  assert.match(e.message, `${PROTOCOL.major}.${PROTOCOL.minor}`);
  assert.match(e.message, `${PROTOCOL.major + 1}.4`);
  assert.is(e.raw, msg);
  assert.ok(e.header !== undefined, 'header decoded (best effort)');
  assert.is(e.header?.channel, 'sensors/temp');
  assert.equal(e.header?.protocol, { major: PROTOCOL.major + 1, minor: 4 });
  assert.is(e.sender, undefined);
  e.sender = 3; // the channel fills it in
  assert.is(e.sender, 3);
  // A different major whose header does not parse under our layout: no header, still the version error.
  const short = msg.slice(0, 16);
  const e2 = throwsTyped(() => decodeMessage(short), ProtocolVersionError);
  assert.is(e2.header, undefined);
  // Major - 1 too.
  const old = tensorMsg();
  setU16(old, OFFSET.protocolMajor, PROTOCOL.major - 1);
  throwsTyped(() => decodeMessage(old), ProtocolVersionError);
});

test('protocol minor + 1 with an extension field in a longer header -> accepted, extension ignored', () => {
  const orig = tensorMsg({ checksum: true });
  const ext = new Uint8Array(24).fill(0xab); // e.g. a 1.1 "trace id" field
  const newer = withExtension(orig, ext, PROTOCOL.minor + 1);
  assert.ok(newer.byteLength > orig.byteLength || getU32(newer, OFFSET.headerLength) > getU32(orig, OFFSET.headerLength));
  const dec = decodeMessage(newer, { channel: 'sensors/temp', schemaMajor: SCHEMA.major });
  assert.equal(dec.header.protocol, { major: PROTOCOL.major, minor: PROTOCOL.minor + 1 });
  assert.is(dec.header.headerLength, getU32(newer, OFFSET.headerLength));
  assert.equal(Array.from(payloadView(dec) as Float64Array), [1, 2, 3, 4, 5, 6]);
  // A large extension pushing the payload to a later 64-byte boundary, and unknown flag bits.
  const big = withExtension(orig, new Uint8Array(300).fill(1), PROTOCOL.minor + 7);
  setU16(big, OFFSET.flags, new DataView(big.buffer).getUint16(OFFSET.flags, true) | 0x8000);
  const bd = decodeMessage(big);
  assert.is(bd.header.payloadOffset % HEADER_ALIGN, 0);
  assert.equal(Array.from(payloadView(bd) as Float64Array), [1, 2, 3, 4, 5, 6]);
  // An older minor is accepted as well.
  const older = tensorMsg();
  setU16(older, OFFSET.protocolMinor, 0);
  decodeMessage(older);
});

test('schema: major mismatch -> SchemaMismatchError; other minors accepted', () => {
  const msg = tensorMsg();
  const e = throwsTyped(() => decodeMessage(msg, { schemaMajor: SCHEMA.major + 1 }), SchemaMismatchError);
  assert.is(e.code, ErrorCode.SCHEMA_MISMATCH);
  assert.is(e.expectedMajor, SCHEMA.major + 1);
  assert.equal(e.got, SCHEMA);
  assert.is(e.raw, msg);
  assert.is(e.header?.channel, 'sensors/temp');
  const m2 = encodeMessage({ channel: 'sensors/temp', schema: { major: 2, minor: 99 }, kind: 'bytes', seq: 0 }, new Uint8Array(1));
  assert.equal(decodeMessage(m2, { schemaMajor: 2 }).header.schema, { major: 2, minor: 99 });
});

test('channel mismatch -> ChannelMismatchError', () => {
  const msg = tensorMsg();
  const e = throwsTyped(() => decodeMessage(msg, { channel: 'sensors/humidity' }), ChannelMismatchError);
  assert.is(e.code, ErrorCode.CHANNEL_MISMATCH);
  assert.is(e.expected, 'sensors/humidity');
  assert.is(e.got, 'sensors/temp');
  assert.is(e.raw, msg);
  assert.ok(e.header !== undefined);
  assert.ok(e instanceof MessageError);
  assert.not.ok(e instanceof SchemaMismatchError);
});

// ---------------------------------------------------------------------------------------------
// Corruption

test('bad magic -> CorruptMessageError(magic)', () => {
  const msg = tensorMsg();
  msg[0] ^= 0xff;
  const e = corruptWith(msg, 'magic');
  assert.is(e.code, ErrorCode.CORRUPT);
  assert.is(e.header, undefined);
  corruptWith(new Uint8Array(200), 'magic');
  corruptWith(new Uint8Array(3), 'truncated');
});

test('shape/length inconsistency -> CorruptMessageError(shape) with header', () => {
  const msg = tensorMsg();
  new DataView(msg.buffer).setUint32(OFFSET.shape, 3, true); // shape [3, 3] but 48 payload bytes
  const e = corruptWith(msg, 'shape');
  assert.equal(e.header?.shape, [3, 3]);
  // A dimension >= 2^53.
  const m2 = tensorMsg();
  new DataView(m2.buffer).setUint32(OFFSET.shape + 4, 0x200000, true);
  corruptWith(m2, 'shape');
  // ndim above the limit.
  const m3 = tensorMsg();
  m3[OFFSET.ndim] = MAX_NDIM + 1;
  corruptWith(m3, 'shape');
  // Shape product overflowing a double still compares unequal.
  const m4 = encodeMessage({ channel: 'c', schema: SCHEMA, kind: 'tensor', shape: [1, 1, 1, 1], seq: 0 }, new Uint8Array(1));
  const dv = new DataView(m4.buffer);
  for (let i = 0; i < 4; i++) dv.setUint32(OFFSET.shape + 8 * i + 4, 0x1fffff, true);
  corruptWith(m4, 'shape');
  // dtype / shape on a non-tensor payload.
  const m5 = encodeMessage({ channel: 'c', schema: SCHEMA, kind: 'object', seq: 0 }, serialize(1));
  m5[OFFSET.dtype] = 2;
  corruptWith(m5, 'dtype');
});

test('payload length vs buffer: truncated, trailing bytes, lengths insane', () => {
  const msg = tensorMsg();
  const t = corruptWith(msg.subarray(0, msg.length - 1), 'truncated');
  assert.ok(t.header !== undefined, 'header decoded when only the payload is cut');
  corruptWith(msg.subarray(0, 70), 'truncated'); // inside the header
  corruptWith(msg.subarray(0, 40), 'truncated'); // inside the fixed part
  const longer = new Uint8Array(msg.length + 8);
  longer.set(msg);
  corruptWith(longer, 'length');
  const ok = decodeMessage(longer, { allowTrailing: true });
  assert.is(ok.payload.byteLength, 48);
  // payloadLength says more than there is.
  const m2 = tensorMsg({ kind: 'bytes', shape: undefined, dtype: undefined });
  new DataView(m2.buffer).setUint32(OFFSET.payloadLength, 1000, true);
  corruptWith(m2, 'truncated');
  new DataView(m2.buffer).setUint32(OFFSET.payloadLength + 4, 0xffffffff, true);
  corruptWith(m2, 'length');
  // headerLength / payloadOffset inconsistencies.
  const m3 = tensorMsg();
  setU32(m3, OFFSET.headerLength, 10);
  corruptWith(m3, 'length');
  const m4 = tensorMsg();
  setU32(m4, OFFSET.payloadOffset, getU32(m4, OFFSET.payloadOffset) + 8);
  corruptWith(m4, 'length'); // not aligned
  const m5 = tensorMsg();
  setU32(m5, OFFSET.headerLength, 0xfffffff0);
  corruptWith(m5, 'length');
  const m6 = tensorMsg();
  setU32(m6, OFFSET.payloadOffset, 0);
  corruptWith(m6, 'length');
});

test('channel name: hash mismatch, empty, invalid UTF-8 -> CorruptMessageError(name)', () => {
  const msg = tensorMsg();
  const nameAt = OFFSET.shape + 8 * 2;
  msg[nameAt] ^= 0x01;
  corruptWith(msg, 'name');
  const m2 = tensorMsg();
  m2[OFFSET.nameLength] = 0;
  corruptWith(m2, 'name');
  // Invalid UTF-8 with a matching hash.
  const m3 = encodeMessage({ channel: 'ab', schema: SCHEMA, kind: 'bytes', seq: 0 }, new Uint8Array(1));
  m3[FIXED_HEADER_LENGTH] = 0xff;
  setU32(m3, OFFSET.channelHash, crc32c(m3.subarray(FIXED_HEADER_LENGTH, FIXED_HEADER_LENGTH + 2)));
  corruptWith(m3, 'name');
});

test('unknown dtype / kind -> CorruptMessageError(dtype / kind)', () => {
  const msg = tensorMsg();
  msg[OFFSET.dtype] = 99;
  const e = corruptWith(msg, 'dtype');
  assert.is(e.header?.dtypeCode, 99);
  assert.is(e.header?.dtype, undefined);
  msg[OFFSET.dtype] = 0;
  corruptWith(msg, 'dtype');
  const m2 = tensorMsg();
  setU16(m2, OFFSET.flags, 0x000f);
  corruptWith(m2, 'kind');
  setU16(m2, OFFSET.flags, 0);
  corruptWith(m2, 'kind');
});

test('checksum mismatch -> ChecksumError (a CorruptMessageError); verifyChecksum:false skips it', () => {
  const msg = tensorMsg({ checksum: true });
  const dec = decodeMessage(msg);
  msg[dec.header.payloadOffset + 5] ^= 0x10;
  const e = throwsTyped(() => decodeMessage(msg), ChecksumError);
  assert.ok(e instanceof CorruptMessageError);
  assert.is(e.reason, 'checksum');
  assert.is(e.code, ErrorCode.CHECKSUM);
  assert.is(e.expected, dec.header.checksum);
  assert.not.equal(e.actual, e.expected);
  assert.ok(e.header !== undefined);
  assert.is(e.raw, msg);
  const skipped = decodeMessage(msg, { verifyChecksum: false });
  assert.is(skipped.header.checksum, e.expected);
  // Corrupted checksum field.
  const m2 = tensorMsg({ checksum: true });
  m2[OFFSET.checksum] ^= 1;
  throwsTyped(() => decodeMessage(m2), ChecksumError);
});

test('TimeoutError / PermissionError: plain typed errors with stable codes', () => {
  const t = new TimeoutError('recv timed out', 250, { operation: 'recv', channel: 'c', peer: 2 });
  assert.ok(t instanceof Error);
  assert.not.ok(t instanceof MessageError);
  assert.is(t.name, 'TimeoutError');
  assert.is(t.code, 'ETIMEDOUT');
  assert.is(t.timeoutMs, 250);
  assert.is(t.peer, 2);
  const p = new PermissionError('read-only channel', { operation: 'send', channel: 'c' });
  assert.is(p.name, 'PermissionError');
  assert.is(p.code, 'EPERM');
  assert.is(p.channel, 'c');
  assert.is(new ProtocolVersionError(PROTOCOL, { major: 9, minor: 0 }, new Uint8Array(0)).name, 'ProtocolVersionError');
  assert.is(new ChecksumError(1, 2, new Uint8Array(0)).name, 'ChecksumError');
});

// ---------------------------------------------------------------------------------------------
// Properties: any input gives a typed error or a valid decode within the input

const dtypeNames = DTYPES.map((d) => d.name);
const kinds: PayloadKind[] = ['tensor', 'object', 'error', 'bytes'];

const validMessage = fc
  .record({
    kind: fc.constantFrom(...kinds),
    dtype: fc.constantFrom(...dtypeNames),
    shape: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 4 }),
    channel: fc.string({ minLength: 1, maxLength: 20, unit: 'grapheme' }),
    schema: fc.record({ major: fc.integer({ min: 0, max: 0xffff }), minor: fc.integer({ min: 0, max: 0xffff }) }),
    seq: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    correlationId: fc.oneof(fc.nat(), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
    checksum: fc.boolean(),
    objectLen: fc.nat(100),
  })
  .filter((r) => enc.encode(r.channel).length <= MAX_CHANNEL_NAME_BYTES)
  .map((r) => {
    const { objectLen, ...init } = r;
    if (r.kind === 'tensor') {
      const count = r.shape.reduce((a, b) => a * b, 1);
      return encodeMessage(init, makePayload(r.dtype, count));
    }
    const payload = Uint8Array.from({ length: objectLen }, (_, i) => (i * 13) & 0xff);
    return encodeMessage({ ...init, dtype: undefined, shape: undefined }, payload);
  });

/** Decode: it must either succeed with a payload within `bytes`, or throw a MessageError. */
function decodeSafely(bytes: Uint8Array, opts?: Parameters<typeof decodeMessage>[1]): DecodedMessage | MessageError {
  let d: DecodedMessage;
  try {
    d = decodeMessage(bytes, opts);
  } catch (e) {
    if (e instanceof MessageError) {
      assert.is(e.raw, bytes);
      return e;
    }
    throw new Error(`decodeMessage threw a non-MessageError: ${String(e)}`);
  }
  assertWithin(bytes, d);
  const v = payloadView(d); // never throws on a valid decode
  if (payloadIsAligned(d)) {
    assert.ok(v.buffer === bytes.buffer);
    assert.ok(v.byteOffset >= bytes.byteOffset && v.byteOffset + v.byteLength <= bytes.byteOffset + bytes.byteLength);
  }
  return d;
}

/** `bytes` copied to byteOffset `off` of a larger buffer with garbage around it. */
function placed(bytes: Uint8Array, off: number): Uint8Array {
  const buf = new Uint8Array(off + bytes.length + 16).fill(0xa5);
  buf.set(bytes, off);
  return buf.subarray(off, off + bytes.length);
}

test('property: valid messages round trip at any byteOffset', () => {
  fc.assert(
    fc.property(validMessage, fc.nat(17), (msg, off) => {
      const r = decodeSafely(placed(msg, off));
      assert.not.ok(r instanceof MessageError, String(r));
    }),
    { numRuns: 300 },
  );
});

test('property: arbitrary bytes only give MessageErrors or a valid decode', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(9), (bytes, off) => {
      decodeSafely(placed(bytes, off));
    }),
    { numRuns: 500 },
  );
  // Arbitrary bytes behind a valid magic and version, to get past the first checks.
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), fc.constantFrom(0, 1, 2), (rest, minor) => {
      const b = new Uint8Array(8 + rest.length);
      setU32(b, 0, MAGIC);
      setU16(b, 4, PROTOCOL.major);
      setU16(b, 6, minor);
      b.set(rest, 8);
      decodeSafely(b, { channel: 'x', schemaMajor: 1 });
    }),
    { numRuns: 500 },
  );
});

test('property: truncations, bit flips and byte overwrites of valid messages', () => {
  fc.assert(
    fc.property(validMessage, fc.nat(), fc.nat(7), (msg, cut, off) => {
      decodeSafely(placed(msg.subarray(0, cut % (msg.length + 1)), off));
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(validMessage, fc.array(fc.tuple(fc.nat(), fc.nat(7)), { minLength: 1, maxLength: 4 }), fc.nat(7), (msg, flips, off) => {
      const b = placed(msg, off);
      for (const [pos, bit] of flips) b[pos % b.length] ^= 1 << bit;
      decodeSafely(b);
    }),
    { numRuns: 500 },
  );
  // Overwrite header bytes only (where the interesting checks are), with random values.
  fc.assert(
    fc.property(validMessage, fc.array(fc.tuple(fc.nat(127), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (msg, writes) => {
      const b = msg.slice();
      for (const [pos, val] of writes) if (pos < b.length) b[pos] = val;
      decodeSafely(b, { verifyChecksum: true });
    }),
    { numRuns: 500 },
  );
});

test('property: a bit flip in a checksummed payload is always caught', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(), fc.nat(7), (payload, pos, bit) => {
      const msg = encodeMessage({ channel: 'c', schema: SCHEMA, kind: 'bytes', seq: 0, checksum: true }, payload);
      const off = getU32(msg, OFFSET.payloadOffset);
      msg[off + (pos % payload.length)] ^= 1 << bit;
      const r = decodeSafely(msg);
      assert.ok(r instanceof ChecksumError);
    }),
    { numRuns: 200 },
  );
});

test.run();
