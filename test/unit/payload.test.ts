// Channel payloads (lib/wire/payload.ts) and the receiver's fast check (lib/wire/expect.ts). Pure
// TypeScript, no MPI. Run: node --import tsx test/unit/payload.test.ts

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fc from 'fast-check';

import { ChannelHeaderTemplate, type DecodedMessage, decodeMessage, encodeMessage, type MessageInit } from '../../lib/wire/codec.js';
import { CorruptMessageError, MessageError } from '../../lib/wire/errors.js';
import { Expectation } from '../../lib/wire/expect.js';
import { asTensor, decodePayload, encodePayload } from '../../lib/wire/payload.js';

const CHANNEL = 'agents/answers';
const SCHEMA = { major: 3, minor: 1 };

/** The message a channel would send for `value`: header + payload parts, concatenated here for the test. */
function frame(value: unknown, extra: Partial<MessageInit> = {}): Uint8Array {
  const p = encodePayload(value);
  const payload = new Uint8Array(p.length);
  let at = 0;
  for (const part of p.parts) {
    payload.set(part, at);
    at += part.byteLength;
  }
  return encodeMessage({ channel: CHANNEL, schema: SCHEMA, kind: p.kind, dtype: p.dtype, shape: p.shape, seq: 1, ...extra }, payload);
}

function roundTrip(value: unknown): unknown {
  const raw = frame(value);
  return decodePayload(decodeMessage(raw), raw);
}

test('tensors: typed arrays are 1-D, { dtype, shape, data } keeps both; dtype must fit the data', () => {
  assert.equal(roundTrip(new Int16Array([1, -2])), { dtype: 'int16', shape: [2], data: new Int16Array([1, -2]) });
  assert.equal(roundTrip({ dtype: 'bfloat16', shape: [1, 2], data: new Uint16Array([3, 4]) }),
    { dtype: 'bfloat16', shape: [1, 2], data: new Uint16Array([3, 4]) });
  assert.equal(roundTrip({ shape: [], data: new Float64Array([7]) }), { dtype: 'float64', shape: [], data: new Float64Array([7]) });
  assert.throws(() => asTensor({ dtype: 'float32', data: new Float64Array(1) }), TypeError);
  assert.throws(() => asTensor({ shape: [3], data: new Float64Array(2) }), RangeError);
  assert.is(asTensor({ data: new Float64Array(1), extra: 1 }), undefined, 'other keys: an object, not a tensor');
});

test('objects: out-of-band views arrive as views of the message; ArrayBuffers as copies of their own', () => {
  const f = new Float32Array([1, 2, 3]);
  const v = roundTrip({ f, same: f, dv: new DataView(new ArrayBuffer(3)), b: Buffer.from('x'), ab: new ArrayBuffer(5), n: [1, 'two'] }) as any;
  assert.equal(Array.from(v.f), [1, 2, 3]);
  assert.ok(v.same === v.f);
  assert.ok(v.f.buffer === v.dv.buffer && v.f.buffer === v.b.buffer, 'views share the received message');
  assert.is(v.f.byteOffset % 64, 0);
  assert.ok(Buffer.isBuffer(v.b));
  assert.is(v.ab.byteLength, 5);
  assert.ok(v.ab !== v.f.buffer);
  assert.equal(v.n, [1, 'two']);
  // Sending reads each array where it lies: the payload's parts are the arrays' own memory.
  const big = new Float64Array(1000);
  const parts = encodePayload({ big }).parts;
  assert.ok(parts.some((p) => p.buffer === big.buffer && p.byteOffset === big.byteOffset && p.byteLength === big.byteLength));
});

test('property: any object payload bytes decode to a value or a CorruptMessageError("payload")', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 8 }), (tail, prefix) => {
      const raw = encodeMessage({ channel: CHANNEL, schema: SCHEMA, kind: 'object', seq: 1 }, new Uint8Array([...prefix, ...tail]));
      const msg = decodeMessage(raw);
      try {
        decodePayload(msg, raw);
      } catch (e) {
        assert.instance(e, CorruptMessageError);
        assert.is((e as CorruptMessageError).reason, 'payload');
        assert.ok((e as CorruptMessageError).header !== undefined);
      }
    }),
    { numRuns: 500 },
  );
});

const tensors = fc.record({
  dtype: fc.constantFrom('int8', 'uint8', 'int16', 'int32', 'float32', 'float64', 'uint64', 'float16'),
  shape: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
  checksum: fc.boolean(),
  channel: fc.constantFrom(CHANNEL, 'other'),
  major: fc.constantFrom(SCHEMA.major, SCHEMA.major + 1),
});

function tensorFrame(t: { dtype: string; shape: number[]; checksum: boolean; channel: string; major: number }): Uint8Array {
  const ctor = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, int32: Int32Array, float32: Float32Array,
    float64: Float64Array, uint64: BigUint64Array, float16: Uint16Array }[t.dtype]!;
  const n = t.shape.reduce((a, b) => a * b, 1);
  return encodeMessage({ channel: t.channel, schema: { major: t.major, minor: 0 }, kind: 'tensor', dtype: t.dtype as any,
    shape: t.shape, seq: 5, checksum: t.checksum }, new ctor(n));
}

// The fast check may only ever accept what decodeMessage accepts, and must agree with it on the layout.
function agrees(b: Uint8Array): void {
  const expect = new Expectation(new ChannelHeaderTemplate(CHANNEL, SCHEMA));
  const quick = expect.tensor(b);
  let full: DecodedMessage | undefined;
  try {
    full = decodeMessage(b, { channel: CHANNEL, schemaMajor: SCHEMA.major });
  } catch (e) {
    assert.instance(e, MessageError);
  }
  if (quick === undefined) return;
  assert.ok(full !== undefined, 'the fast check accepted what decodeMessage rejects');
  assert.is(full!.header.kind, 'tensor');
  assert.is(quick.dtype.name, full!.header.dtype);
  assert.equal(quick.shape, full!.header.shape);
  assert.is(quick.payloadOffset, full!.header.payloadOffset);
  assert.is(quick.payloadLength, full!.header.payloadLength);
}

test('property: the fast check accepts its own channel\'s tensors and never more than decodeMessage', () => {
  fc.assert(fc.property(tensors, (t) => {
    const b = tensorFrame(t);
    agrees(b);
    if (t.channel === CHANNEL && t.major === SCHEMA.major) {
      assert.ok(new Expectation(new ChannelHeaderTemplate(CHANNEL, SCHEMA)).tensor(b) !== undefined, 'accepts a valid message');
    }
  }), { numRuns: 300 });
  fc.assert(fc.property(tensors, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(), (t, writes, cut) => {
    const b = tensorFrame({ ...t, channel: CHANNEL, major: SCHEMA.major });
    for (const [at, v] of writes) b[at % b.length] = v;
    agrees(b);
    agrees(b.subarray(0, cut % (b.length + 1)));
  }), { numRuns: 2000 });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => agrees(b)), { numRuns: 500 });
});

test.run();

