// Versioned channels under mpirun with 1-4 ranks: tensors and objects (zero copy both ways), every
// receive check and its typed error, isolation, request/reply. Messages go around a ring (to next,
// from prev), which at 1 rank is a rank talking to itself.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  world, ANY_SOURCE, ANY_TAG, DTYPES, Channel, readRaw, COPY_BELOW, PROTOCOL, encodeMessage,
  MessageError, ProtocolVersionError, SchemaMismatchError, PayloadMismatchError, ChannelMismatchError,
  CorruptMessageError, ChecksumError, TimeoutError, RemoteError, type Envelope, type Tensor,
} from '../../lib/index.js';
import { TAG_BASE } from '../../lib/channel/channel.js';
import { knownTaken } from '../../lib/channel/inbox.js';
import { native } from '../../lib/addon/binding.js';
import { OFFSET } from '../../lib/wire/codec.js';
import { crc32c } from '../../lib/wire/crc32c.js';
import { asyncBarrier, rejects, ringSend, sendRaw, sleep, thrown } from './chan-util.js';

const rank = world.rank, size = world.size;
const next = (rank + 1) % size, prev = (rank - 1 + size) % size;
const sync = world.dup();


// The payload is a view into the received message: its header lies just before it in the same memory.
function checkView(env: Envelope<Tensor>): void {
  const { data } = env.message, h = env.header;
  const start = data.byteOffset - h.payloadOffset;
  assert.ok(start >= 0 && start % 64 === 0, 'the message starts 64-byte aligned');
  assert.equal(Array.from(new Uint8Array(data.buffer, start, 4)), [0x4d, 0x34, 0x4e, 0x57], 'the header precedes the payload');
  assert.is(data.byteOffset % 64, 0);
}

test('tensors of every dtype and shape arrive as views into the received buffer', () => {
  const ch = world.channel('t/dtypes', { version: 1 });
  const shapes = [[6], [2, 3], [], [0, 4], [1, 1, 1, 1, 1, 1, 2, 3]];
  for (const d of DTYPES) {
    for (const shape of shapes) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new d.array(n);
      for (let i = 0; i < n; i++) (data as any)[i] = d.kind === 'bigint' ? BigInt(rank * 100 + i) : (rank * 10 + i) % 100;
      ringSend(ch, next, { dtype: d.name, shape, data });
      const env = ch.recv<Tensor>(prev);
      assert.is(env.message.dtype, d.name);
      assert.equal(env.message.shape, shape);
      assert.instance(env.message.data, d.array);
      const want = Array.from({ length: n }, (_, i) => (d.kind === 'bigint' ? BigInt(prev * 100 + i) : (prev * 10 + i) % 100));
      assert.equal(Array.from(env.message.data as any), want, `${d.name} [${shape}]`);
      assert.is(env.source, prev);
      checkView(env);
    }
  }
  ch.close();
});

test('a bare typed array or Buffer is a 1-D tensor; blocking and Promise forms', async () => {
  const ch = world.channel('t/bare', { version: 1 });
  const sent = ch.isend(next, new Int32Array([rank, 7, -7]));
  const a = await ch.irecv<Tensor>(prev);
  await sent;
  assert.equal(a.message, { dtype: 'int32', shape: [3], data: new Int32Array([prev, 7, -7]) });
  ringSend(ch, next, Buffer.from(`from ${rank}`));
  const b = ch.recv<Tensor<Uint8Array>>(ANY_SOURCE);
  assert.is(b.message.dtype, 'uint8');
  assert.is(Buffer.from(b.message.data).toString(), `from ${prev}`);
  ch.close();
});

test('messages on both sides of the copy threshold (COPY_BELOW, header included) arrive whole', async () => {
  // Up to COPY_BELOW a message is copied into one buffer behind its header, past it it leaves through a
  // datatype over both (the threshold is the MPI's: 4032 with Open MPI, 8192 with MPICH).
  const ch = world.channel('t/edge', { version: 1, dtype: 'uint8' });
  const first = ch.isend(next, new Uint8Array(1));
  const headerBytes = ch.recv<Tensor>(prev).header.payloadOffset;
  await first;
  const check = (env: { message: Tensor<Uint8Array> }, n: number, total: number) => {
    assert.is(env.message.data.length, n, `${total} bytes in all`);
    for (let i = 0; i < n; i++) {
      if (env.message.data[i] !== ((i * 7 + prev) & 255)) assert.unreachable(`${total} bytes in all: byte ${i} is ${env.message.data[i]}`);
    }
  };
  for (const total of [COPY_BELOW - 64, COPY_BELOW, COPY_BELOW + 64, 4096 + 128, 8192 + 64]) {
    const n = total - headerBytes;
    const data = new Uint8Array(n).map((_, i) => (i * 7 + rank) & 255);
    const sent = ch.isend(next, data);
    check(ch.recv<Tensor<Uint8Array>>(prev), n, total);
    await sent;
    const again = ch.isend(next, data);
    check(await ch.irecv<Tensor<Uint8Array>>(prev), n, total);
    await again;
  }
  ch.close();
});

for (const mode of ['blocking', 'promise'] as const) {
  test(`a run of one layout is checked once (the header is remembered); any change to the header is checked again (${mode})`, async () => {
    // After two messages of one length, a receiver's addon compares each header with the last accepted
    // one (all but seq and correlation id) and a match skips the checks: dtype, shape, schema major and
    // total length must all still count, and the header and raw bytes must still be there to read. A
    // Promise receive is compared as its matched message lands in the inbox (mrecvFast).
    const name = `t/known-${mode}`;
    const rx = world.channel(name, { version: 1 });
    const tx = world.channel(name, { version: 1 }), tx2 = world.channel(name, { version: 2 });
    const receive = () => (mode === 'blocking' ? rx.recv<Tensor>(prev) : rx.irecv<Tensor>(prev));
    const block = (fill: number) => new Float32Array(8).fill(rank + fill);
    const got = async (want: { dtype: string; shape: number[]; fill: number }, fast: boolean, what: string) => {
      const before = knownTaken();
      const env = await receive();
      assert.is(knownTaken() - before, fast ? 1 : 0, `${what}: ${fast ? '' : 'not '}taken by the remembered header`);
      assert.is(env.message.dtype, want.dtype, what);
      assert.equal(env.message.shape, want.shape, what);
      assert.equal(Array.from(env.message.data as Float32Array), new Array(8).fill(prev + want.fill), what);
      assert.is(env.source, prev);
      checkView(env);
      return env;
    };
    for (let i = 0; i < 4; i++) {
      ringSend(tx, next, { dtype: 'float32', shape: [2, 4], data: block(i) });
      const env = await got({ dtype: 'float32', shape: [2, 4], fill: i }, i >= 2, `run message ${i}`);
      assert.is(env.header.seq, BigInt(i + 1), 'the header is read from the message itself');
      env.message.shape.push(99); // the caller's to change: the next message's shape is its own
    }
    ringSend(tx, next, { dtype: 'float32', shape: [4, 2], data: block(5) });
    await got({ dtype: 'float32', shape: [4, 2], fill: 5 }, false, 'another shape of the same length');
    ringSend(tx, next, { dtype: 'int32', shape: [2, 4], data: new Int32Array(8).fill(rank + 6) });
    await got({ dtype: 'int32', shape: [2, 4], fill: 6 }, false, 'another dtype of the same length');
    ringSend(tx, next, new Float32Array(8).fill(rank + 7));
    await got({ dtype: 'float32', shape: [8], fill: 7 }, false, 'another length');
    ringSend(tx2, next, { dtype: 'float32', shape: [2, 4], data: block(8) });
    const before = knownTaken();
    const err = mode === 'blocking' ? thrown(() => rx.recv(prev)) : await rx.irecv(prev).then(() => assert.unreachable('accepted'), (e: Error) => e);
    assert.instance(err, SchemaMismatchError, 'the same layout under another schema major');
    assert.is(knownTaken(), before);
    assert.equal(Array.from(readRaw<Tensor>(err.raw, err.sender).message.data as Float32Array), new Array(8).fill(prev + 8), 'nothing is lost');
    ringSend(tx, next, { dtype: 'float32', shape: [2, 4], data: block(9) });
    await got({ dtype: 'float32', shape: [2, 4], fill: 9 }, true, 'the remembered header still holds');
    assert.equal([rx.stats.received, rx.stats.errors], [8, 1]);
    for (const c of [rx, tx, tx2]) c.close();
  });
}

test('a bare array on a declared channel: sent as it is, any length the shape allows; everything else checked as before', async () => {
  const f64 = world.channel('t/bare64', { version: 1, dtype: 'float64' });
  for (const n of [1, 3, 1, 700, 3]) { // 700 elements are past COPY_BELOW: the datatype path
    const data = new Float64Array(n).map((_, i) => rank + i / 4);
    // A blocking send of 700 around the ring would wait for a receive every rank posts after it.
    const sent = n < 100 ? ringSend(f64, next, data) : f64.isend(next, data);
    const env = f64.recv<Tensor<Float64Array>>(prev);
    await sent;
    assert.equal(env.message.shape, [n]);
    assert.equal(Array.from(env.message.data), Array.from({ length: n }, (_, i) => prev + i / 4), `${n} elements`);
  }
  const four = world.channel('t/bare4', { version: 1, dtype: 'int16', shape: [4] });
  ringSend(four, next, new Int16Array([rank, -1, -2, -3]));
  assert.equal(Array.from(four.recv<Tensor>(prev).message.data as Int16Array), [prev, -1, -2, -3]);
  const short = thrown(() => four.send(next, new Int16Array(3)));
  assert.instance(short, RangeError);
  assert.is(short.code, 'ERR_CHANNEL_PAYLOAD');
  assert.is(thrown(() => four.send(next, new Uint16Array(4))).code, 'ERR_CHANNEL_PAYLOAD', 'another type of the same size');
  const bytes = world.channel('t/bare8', { version: 1, dtype: 'uint8' });
  const detached = new Uint8Array(8);
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  assert.is(thrown(() => bytes.send(next, detached)).code, 'ERR_DETACHED_BUFFER');
  assert.is(thrown(() => bytes.send(next, new Uint8ClampedArray(2))).code, 'ERR_CHANNEL_PAYLOAD');
  ringSend(bytes, next, Buffer.from([rank, 1])); // a subclass of the declared type
  ringSend(bytes, next, new Uint8Array([rank, 2]));
  assert.equal(Array.from(bytes.recv<Tensor>(prev).message.data as Uint8Array), [prev, 1]);
  assert.equal(Array.from(bytes.recv<Tensor>(prev).message.data as Uint8Array), [prev, 2]);
  const half = world.channel('t/bare16', { version: 1, dtype: 'float16' });
  assert.is(thrown(() => half.send(next, new Uint16Array(2))).code, 'ERR_CHANNEL_PAYLOAD', 'float16 is declared, uint16 is not it');
  assert.equal([f64.stats.sent, four.stats.sent, bytes.stats.sent, half.stats.sent], [5, 1, 2, 0]);
  for (const c of [f64, four, bytes, half]) await c.close();
});

test('Promise sends of bare arrays: a thousand of mixed sizes, across the end of the send slab, arrive whole and in order', async () => {
  // Up to COPY_BELOW each message is carved from one registered 64 KiB slab; one MPI completes at once
  // resolves a shared settled Promise, a larger one (not tested at post) gets its Request.
  const ch = world.channel('t/stream', { version: 1, dtype: 'float32' });
  const sizes = [1, 2, 61, 100, 700];
  const value = (from: number, i: number, j: number) => from * 1000 + i + j / 8;
  const sent: Promise<void>[] = [];
  for (let i = 0; i < 1000; i++) {
    const n = sizes[i % sizes.length]!;
    sent.push(ch.isend(next, new Float32Array(n).map((_, j) => value(rank, i, j))));
  }
  for (let i = 0; i < 1000; i++) {
    const env = await ch.irecv<Tensor<Float32Array>>(prev);
    const n = sizes[i % sizes.length]!;
    assert.equal(env.message.shape, [n], `message ${i}`);
    const d = env.message.data;
    for (let j = 0; j < n; j++) if (d[j] !== Math.fround(value(prev, i, j))) assert.unreachable(`message ${i}, element ${j}: ${d[j]}`);
  }
  await Promise.all(sent);
  assert.is(ch.stats.sent, 1000);
  await ch.close();
});

test('a large tensor leaves from its own memory as one message (header + payload, no concatenation)', async () => {
  const ch = world.channel('t/large', { version: 1 });
  const n = (1 << 20) / 8;
  const data = new Float64Array(n).map((_, i) => i + rank);
  assert.ok(data.byteLength > COPY_BELOW);
  const sent = ch.isend(next, { dtype: 'float64', shape: [n / 1024, 1024], data });
  const env = await ch.irecv<Tensor<Float64Array>>(prev);
  await sent;
  assert.equal(env.message.shape, [n / 1024, 1024]);
  assert.is(env.message.data[n - 1], n - 1 + prev);
  checkView(env);
  if (size >= 2 && rank < 2) {
    // Rendezvous: the payload moves only once rank 1 receives. Rank 0 changes its last element after
    // posting the send and before rank 1 receives; rank 1 seeing the change shows the send read the
    // array's own memory rather than a copy taken at posting time.
    if (rank === 0) {
      const pending = ch.isend(1, data);
      data[n - 1] = -1;
      sync.send(new Uint8Array(1), 1, 5);
      await pending;
    } else {
      sync.recv(new Uint8Array(1), 0, 5);
      const got = ch.recv<Tensor<Float64Array>>(0);
      assert.is(got.message.data[n - 1], -1);
      assert.is(got.message.data[0], 0);
    }
  }
  ch.close();
});

test('receive into a caller buffer: the payload is a view into it; a larger message still arrives', async () => {
  const ch = world.channel('t/into', { version: 1 });
  const buffer = new Uint8Array(4096);
  ringSend(ch, next, new Float64Array([rank, 2, 3]));
  const a = ch.recv<Tensor<Float64Array>>(prev, { buffer });
  assert.ok(a.message.data.buffer === buffer.buffer, 'blocking: in the caller memory');
  assert.equal(Array.from(a.message.data), [prev, 2, 3]);
  const sent = ch.isend(next, new Int16Array([rank, -rank]));
  const b = await ch.irecv<Tensor<Int16Array>>(prev, { buffer: buffer.buffer });
  await sent;
  assert.ok(b.message.data.buffer === buffer.buffer, 'Promise: in the caller memory');
  assert.equal(Array.from(b.message.data), [prev, -prev]);
  const big = ch.isend(next, new Uint8Array(10_000).fill(rank + 1));
  const c = ch.recv<Tensor<Uint8Array>>(prev, { buffer });
  await big;
  assert.ok(c.message.data.buffer !== buffer.buffer, 'too large: fresh memory');
  assert.is(c.message.data.length, 10_000);
  assert.is(c.message.data[9_999], prev + 1);
  ch.close();
});

test('large received payloads stay intact while held, through garbage collections and later receives', async () => {
  const ch = world.channel('t/pool', { version: 1 });
  const held: Float64Array[] = [];
  for (let round = 0; round < 12; round++) {
    const sent = ch.isend(next, new Float64Array(40_000).fill(round * 10 + rank));
    const env = round % 2 ? ch.recv<Tensor<Float64Array>>(prev) : await ch.irecv<Tensor<Float64Array>>(prev);
    await sent;
    if (round % 3 === 0) held.push(env.message.data); // the rest is dropped: its memory may be reused
    (globalThis as { gc?: () => void }).gc?.();
    await sleep(1); // finalizers of dropped messages run on the event loop
  }
  held.forEach((d, k) => {
    const want = k * 3 * 10 + prev;
    assert.ok(d[0] === want && d[39_999] === want && d.every((x) => x === want), `held message ${k}`);
  });
  ch.close();
});

test('objects: structured clone with typed arrays, DataViews and ArrayBuffers out of band', async () => {
  const ch = world.channel('t/objects', { version: 1 });
  const f64 = new Float64Array(10_000).map((_, i) => i * 0.5 + rank);
  const backing = new ArrayBuffer(64);
  const i16 = new Int16Array(backing, 2, 5).fill(-3); // a view at an unaligned offset of its buffer
  const value = {
    rank, text: 'héllo', f64, again: f64, i16, big: new BigInt64Array([-1n, 2n ** 62n]),
    buf: Buffer.from('bytes'), dv: new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2),
    ab: new Uint8Array([9, 8, 7]).buffer, nested: [{ m: new Map([[1, new Set(['a'])]]) }, new Date(5), null, undefined, 3n],
  };
  const sent = ch.isend(next, value);
  const { message: m, header } = await ch.irecv<any>(prev);
  await sent;
  assert.is(header.kind, 'object');
  assert.is(m.rank, prev);
  assert.is(m.text, 'héllo');
  assert.is(m.f64[9_999], 9_999 * 0.5 + prev);
  assert.ok(m.again === m.f64, 'a view referenced twice arrives as one object');
  assert.equal(Array.from(m.i16), [-3, -3, -3, -3, -3]);
  assert.equal(Array.from(m.big), [-1n, 2n ** 62n]);
  assert.ok(Buffer.isBuffer(m.buf) && m.buf.toString() === 'bytes');
  assert.is(m.dv.byteLength, 2);
  assert.is(m.dv.getUint8(0), 2);
  assert.instance(m.ab, ArrayBuffer);
  assert.equal(Array.from(new Uint8Array(m.ab)), [9, 8, 7]);
  assert.ok(m.nested[0].m.get(1).has('a'));
  assert.equal(m.nested.slice(1), [new Date(5), null, undefined, 3n]);
  // Views into the one received message, each 64-byte aligned.
  for (const v of [m.f64, m.i16, m.big, m.buf, m.dv]) {
    assert.ok(v.buffer === m.f64.buffer, 'a view into the received buffer');
    assert.ok(v.buffer.byteLength >= header.payloadOffset + header.payloadLength);
    assert.is(v.byteOffset % 64, 0);
  }
  ch.close();
});

test('seq counts per destination; the header carries channel, schema, protocol and no correlation id', () => {
  const ch = world.channel('t/seq', { version: '3.4' });
  for (let i = 0; i < 3; i++) ringSend(ch, next, { i });
  for (let i = 0; i < 3; i++) {
    const { message, header } = ch.recv<any>(prev);
    assert.is(message.i, i);
    assert.is(header.seq, BigInt(i + 1));
    assert.is(header.channel, 't/seq');
    assert.equal(header.schema, { major: 3, minor: 4 });
    assert.equal(header.protocol, PROTOCOL);
    assert.is(header.correlationId, 0n);
  }
  assert.equal([ch.stats.sent, ch.stats.received, ch.stats.errors], [3, 3, 0]);
  ch.close();
});

test('schema: any minor is accepted; another major is SchemaMismatchError and the message stays readable', () => {
  const v15 = world.channel('t/schema', { version: '1.5' });
  const v10 = world.channel('t/schema', { version: { major: 1 } });
  const v2 = world.channel('t/schema', { version: 2 });
  ringSend(v15, next, { hello: rank });
  assert.equal(v10.recv(prev).message, { hello: prev });
  ringSend(v15, next, { hello: rank });
  const err = thrown(() => v2.recv(prev));
  assert.instance(err, SchemaMismatchError);
  assert.is(err.code, 'ESCHEMA');
  assert.is(err.expectedMajor, 2);
  assert.equal(err.got, { major: 1, minor: 5 });
  assert.is(err.sender, prev);
  assert.is(err.header.channel, 't/schema');
  assert.instance(err.raw, Uint8Array);
  assert.equal(readRaw(err.raw, err.sender).message, { hello: prev }, 'nothing is lost');
  assert.is(v2.stats.errors, 1);
  ringSend(v15, next, new Float32Array([1, 2]));
  assert.equal(Array.from(v10.recv<Tensor<Float32Array>>(prev).message.data), [1, 2], 'the channel goes on');
  for (const c of [v15, v10, v2]) c.close();
});

test('a sender on protocol major+1: ProtocolVersionError naming both versions, raw message readable', () => {
  const newer = world.channel('t/proto', { version: 1, _protocol: { major: PROTOCOL.major + 1, minor: 3 } });
  const ours = world.channel('t/proto', { version: 1 });
  ringSend(newer, next, { dtype: 'float32', shape: [2], data: new Float32Array([rank, 0.5]) });
  const err = thrown(() => ours.recv(prev));
  assert.instance(err, ProtocolVersionError);
  assert.is(err.code, 'EPROTOVERSION');
  assert.equal(err.ours, { major: PROTOCOL.major, minor: PROTOCOL.minor });
  assert.equal(err.theirs, { major: PROTOCOL.major + 1, minor: 3 });
  assert.match(err.message, `ours is ${PROTOCOL.major}.${PROTOCOL.minor}, theirs is ${PROTOCOL.major + 1}.3`);
  assert.is(err.sender, prev);
  assert.is(err.header.channel, 't/proto');
  const env = readRaw<Tensor>(err.raw, err.sender);
  assert.equal(Array.from(env.message.data as Float32Array), [prev, 0.5]);
  assert.is(env.source, prev);
  newer.close();
  ours.close();
});

test('a receiver on protocol major+1 gets ProtocolVersionError and can still read the raw message', async () => {
  const newer = world.channel('t/proto2', { version: 1, _protocol: { major: PROTOCOL.major + 1, minor: 0 } });
  const ours = world.channel('t/proto2', { version: 1 });
  ringSend(ours, next, { note: 'old sender', from: rank });
  const err = await rejects(newer.irecv(prev));
  assert.instance(err, ProtocolVersionError);
  assert.equal(err.ours, { major: PROTOCOL.major + 1, minor: 0 });
  assert.equal(err.theirs, PROTOCOL);
  assert.is(err.sender, prev);
  assert.equal(readRaw(err.raw).message, { note: 'old sender', from: prev });
  newer.close();
  ours.close();
});

test('every corrupt message gives its typed error with sender, raw bytes and header; the channel goes on', () => {
  const ch = world.channel('t/corrupt', { version: 2 });
  const schema = { major: 2, minor: 0 };
  const tensor = (extra: object = {}) =>
    encodeMessage({ channel: 't/corrupt', schema, kind: 'tensor', dtype: 'float64', shape: [2, 3], seq: 1, ...extra }, new Float64Array(6));
  const u16 = (b: Uint8Array, off: number, v: number) => { b[off] = v & 255; b[off + 1] = v >> 8; };
  const cases: [string, () => Uint8Array, Function, string | undefined, boolean][] = [
    ['magic', () => { const b = tensor(); b[0] = 0; return b; }, CorruptMessageError, 'magic', false],
    ['short', () => tensor().subarray(0, 6).slice(), CorruptMessageError, 'truncated', false],
    ['truncated payload', () => tensor().slice(0, -5), CorruptMessageError, 'truncated', true],
    ['shape vs length', () => { const b = tensor(); b[OFFSET.shape] = 3; return b; }, CorruptMessageError, 'shape', true],
    ['unknown dtype', () => { const b = tensor(); b[OFFSET.dtype] = 99; return b; }, CorruptMessageError, 'dtype', true],
    ['unknown kind', () => { const b = tensor(); u16(b, OFFSET.flags, 9); return b; }, CorruptMessageError, 'kind', false],
    ['name hash', () => { const b = tensor(); b[OFFSET.channelHash] ^= 1; return b; }, CorruptMessageError, 'name', false],
    ['checksum', () => { const b = tensor({ checksum: true }); b[b.length - 1] ^= 0x40; return b; }, ChecksumError, 'checksum', true],
    ['object payload', () => encodeMessage({ channel: 't/corrupt', schema, kind: 'object', seq: 1 }, new Uint8Array([5, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5])),
      CorruptMessageError, 'payload', true],
    ['other channel', () => encodeMessage({ channel: 't/other', schema, kind: 'object', seq: 1 }, new Uint8Array(8)), ChannelMismatchError, undefined, true],
  ];
  for (const [what, make, cls, reason, hasHeader] of cases) {
    const bytes = make();
    sendRaw(ch, next, bytes);
    const err = thrown(() => ch.recv(prev));
    assert.instance(err, cls, what);
    assert.instance(err, MessageError, what);
    if (reason !== undefined) assert.is(err.reason, reason, what);
    assert.is(err.sender, prev, what);
    assert.equal(Array.from(err.raw), Array.from(bytes), `${what}: raw bytes are the message as sent`);
    assert.is(err.header !== undefined, hasHeader, `${what}: header`);
  }
  assert.is(ch.stats.errors, cases.length);
  const good = encodeMessage({ channel: 't/corrupt', schema, kind: 'tensor', seq: 9, checksum: true }, new Int8Array([rank, -1]));
  sendRaw(ch, next, good);
  const env = ch.recv<Tensor>(prev);
  assert.equal(Array.from(env.message.data as Float32Array), [prev, -1]);
  assert.is(env.header.checksum, crc32c(new Int8Array([prev, -1])));
  ch.close();
});

test('checksums: sent on request, verified on receipt', async () => {
  const ch = world.channel('t/crc', { version: 1, checksum: true });
  ringSend(ch, next, { dtype: 'uint8', shape: [3], data: new Uint8Array([1, 2, rank]) });
  const env = ch.recv<Tensor>(prev);
  assert.is(env.header.checksum, crc32c(new Uint8Array([1, 2, prev])));
  const sent = ch.isend(next, { big: new Float32Array(20_000).fill(rank) }); // out-of-band parts: the datatype path
  const obj = ch.recv<any>(prev);
  await sent;
  assert.type(obj.header.checksum, 'number');
  assert.is(obj.message.big[19_999], prev);
  ch.close();
});

test('declared dtype and shape: sends checked before anything moves, receives verified', () => {
  const typed = world.channel('t/typed', { version: 1, dtype: 'float32', shape: [-1, 2] });
  const loose = world.channel('t/typed', { version: 1 });
  assert.is(thrown(() => typed.send(next, { a: 1 })).code, 'ERR_CHANNEL_PAYLOAD');
  assert.instance(thrown(() => typed.send(next, new Float64Array(4))), TypeError);
  assert.instance(thrown(() => typed.send(next, { dtype: 'float32', shape: [2, 3], data: new Float32Array(6) })), RangeError);
  assert.instance(thrown(() => typed.send(next, new Float32Array(4))), RangeError, '1-D is not [-1, 2]');
  ringSend(typed, next, { dtype: 'float32', shape: [3, 2], data: new Float32Array(6).fill(rank) });
  assert.equal(typed.recv<Tensor>(prev).message.shape, [3, 2]);
  const mismatches: [unknown, string][] = [
    [new Float64Array(4), 'dtype'],
    [{ dtype: 'float32', shape: [2, 2, 1], data: new Float32Array(4) }, 'shape'],
    [{ not: 'a tensor' }, 'kind'],
  ];
  for (const [msg, field] of mismatches) {
    ringSend(loose, next, msg);
    const err = thrown(() => typed.recv(prev));
    assert.instance(err, PayloadMismatchError);
    assert.instance(err, SchemaMismatchError);
    assert.is(err.field, field);
    assert.is(err.sender, prev);
    assert.ok(readRaw(err.raw).message !== undefined);
  }
  assert.is(thrown(() => world.channel('t/bad', { version: 1, shape: [2] })).code, 'ERR_INVALID_ARG_VALUE');
  typed.close();
  loose.close();
});

test('channels never match user point-to-point traffic, nor each other', async () => {
  const a = world.channel('t/iso-a', { version: 1 }), b = world.channel('t/iso-b', { version: 1 });
  assert.not.equal(a.tag, b.tag);
  ringSend(a, next, { on: 'a', rank });
  ringSend(b, next, { on: 'b', rank });
  // Both channel messages are waiting here, and a wildcard probe of the user's communicator sees neither.
  while (!native.iprobe(prev, b.tag, world._handle(true))) await sleep(1);
  assert.ok(native.iprobe(prev, a.tag, world._handle(true)));
  assert.is(world.iprobe(ANY_SOURCE, ANY_TAG), undefined);
  await asyncBarrier(sync);
  if (size > 1) world.send(new Int32Array([rank]), next, 0);
  else void world.isend(new Int32Array([rank]), next, 0); // see ringSend
  // The user's wildcard receive gets only the user's message; the channel messages are elsewhere.
  const got = new Int32Array(1);
  const st = world.recv(got, prev, ANY_TAG);
  assert.is(got[0], prev);
  assert.is(st.tag, 0);
  assert.equal(b.recv(prev).message, { on: 'b', rank: prev }, 'b first: a is not consumed by b');
  assert.equal((await a.irecv(prev)).message, { on: 'a', rank: prev });
  a.close();
  b.close();
});

test('a second name on the same tags is refused while the first is open', () => {
  const slots = Math.floor((native.tagUpperBound() - TAG_BASE + 1) / 4);
  const enc = new TextEncoder();
  const seen = new Map<number, string>();
  let pair: [string, string] | undefined;
  for (let i = 0; pair === undefined; i++) {
    const name = `c${i}`, s = crc32c(enc.encode(name)) % slots;
    const other = seen.get(s);
    if (other !== undefined) pair = [other, name];
    seen.set(s, name);
  }
  const first = world.channel(pair[0], { version: 1 });
  const again = world.channel(pair[0], { version: 2 }); // the same name twice is one mailbox, not a collision
  const err = thrown(() => world.channel(pair![1], { version: 1 }));
  assert.is(err.code, 'ERR_CHANNEL_COLLISION');
  assert.match(err.message, pair[0]);
  first.close();
  assert.is(thrown(() => world.channel(pair![1], { version: 1 })).code, 'ERR_CHANNEL_COLLISION');
  again.close();
  world.channel(pair[1], { version: 1 }).close();
  // On another communicator the same tags are another mailbox.
  const c = world.dup();
  const x = world.channel(pair[0], { version: 1 }), y = c.channel(pair[1], { version: 1 });
  x.close();
  y.close();
  c.free();
});

test('bad arguments are TypeError/RangeError before anything moves; a closed channel refuses', async () => {
  assert.is(thrown(() => world.channel('x', {} as any)).code, 'ERR_INVALID_ARG_VALUE');
  assert.is(thrown(() => world.channel('x', { version: 1.5 })).code, 'ERR_INVALID_ARG_VALUE');
  assert.is(thrown(() => world.channel('x', { version: '1.x' })).code, 'ERR_INVALID_ARG_VALUE');
  assert.instance(thrown(() => world.channel('', { version: 1 })), RangeError);
  const ch = world.channel('t/args', { version: 1 });
  assert.is(thrown(() => ch.send(size, {})).code, 'ERR_RANK');
  assert.is(thrown(() => ch.send(-1, {})).code, 'ERR_RANK');
  assert.is(thrown(() => ch.recv(1.5)).code, 'ERR_INVALID_RANK');
  assert.is(thrown(() => ch.irecv(size)).code, 'ERR_RANK');
  assert.instance(thrown(() => ch.send(next, { f: () => 1 })), Error, 'functions cannot be cloned');
  await ch.close();
  assert.is(thrown(() => ch.send(next, {})).code, 'ERR_CHANNEL_CLOSED');
  assert.is(thrown(() => ch.request(next, {})).code, 'ERR_CHANNEL_CLOSED');
});

// ---- request/reply ----

test('request/reply between every pair, concurrent requests matched by correlation id', async () => {
  const ch = world.channel('t/rpc', { version: 1 });
  const server = ch.serve(async (m: any, env) => {
    await sleep(m.delay); // later requests overtake earlier ones
    return { sum: m.a + m.b, by: rank, to: env.source };
  });
  const asks: Promise<Envelope<any>>[] = [];
  for (let dest = 0; dest < size; dest++) {
    for (let i = 0; i < 5; i++) asks.push(ch.request(dest, { a: i, b: rank * 100, delay: (5 - i) * 4 }, { timeoutMs: 20_000 }));
  }
  const replies = await Promise.all(asks);
  replies.forEach((r, k) => {
    const dest = Math.floor(k / 5), i = k % 5;
    assert.equal(r.message, { sum: i + rank * 100, by: dest, to: rank });
    assert.is(r.source, dest);
    assert.ok(r.header.correlationId > 0n);
  });
  await asyncBarrier(sync);
  await server.close();
  assert.is(ch.stats.served, 5 * size);
  assert.is(ch.stats.requests, 5 * size);
  await asyncBarrier(sync); // every first server is closed before any request can reach the second
  // Tensors both ways.
  const srv2 = ch.serve((m: Tensor<Float64Array>) => ({ dtype: 'float64', shape: m.shape, data: m.data.map((x) => x * 2) }));
  const r = await ch.request<Tensor>(next, { dtype: 'float64', shape: [2], data: new Float64Array([rank, 1]) });
  assert.equal(Array.from(r.message.data as Float64Array), [rank * 2, 2]);
  await asyncBarrier(sync);
  await srv2.close();
  await ch.close();
});

test('two channel objects of one name share the reply tag; every reply reaches its own request', async () => {
  const a = world.channel('t/rpc-twice', { version: 1 }), b = world.channel('t/rpc-twice', { version: 1 });
  const server = a.serve(async (m: { x: number }) => {
    await sleep((m.x * 7) % 5);
    return m.x * 10;
  });
  const asks = Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).request<number>(next, { x: i }, { timeoutMs: 20_000 }));
  (await Promise.all(asks)).forEach((r, i) => assert.is(r.message, i * 10));
  assert.is(a.stats.requests + b.stats.requests, 12);
  assert.is(a.stats.lateReplies + b.stats.lateReplies, 0);
  await asyncBarrier(sync);
  await server.close();
  a.close();
  b.close();
});

test('a handler that throws is a RemoteError at the requester', async () => {
  const ch = world.channel('t/rpc-err', { version: 1 });
  const server = ch.serve((m: any) => {
    if (m.fail) throw Object.assign(new RangeError(`bad input ${m.fail}`), { code: 'E_BAD' });
    return 'ok';
  });
  const err = await rejects(ch.request(next, { fail: rank + 1 }));
  assert.instance(err, RemoteError);
  assert.is(err.code, 'EREMOTE');
  assert.is(err.sender, next);
  assert.is(err.remote.name, 'RangeError');
  assert.is(err.remote.message, `bad input ${rank + 1}`);
  assert.is(err.remote.code, 'E_BAD');
  assert.match(err.message, 'RangeError: bad input');
  assert.is((await ch.request(next, {})).message, 'ok', 'the server goes on');
  await asyncBarrier(sync);
  await server.close();
  await ch.close();
});

test('timeout: TimeoutError; the late reply is dropped and counted, never given to the next request', async () => {
  const ch = world.channel('t/rpc-timeout', { version: 1 });
  // Handlers run one after another, so the late reply always leaves before the next one: MPI keeps
  // their order, and the next request's reply receive meets the late reply first.
  let last: Promise<unknown> = Promise.resolve();
  const server = ch.serve((m: any) => (last = last.then(() => sleep(m.delay)).then(() => m.n)));
  const err = await rejects(ch.request(next, { n: 1, delay: 300 }, { timeoutMs: 40 }));
  assert.instance(err, TimeoutError);
  assert.is(err.code, 'ETIMEDOUT');
  assert.is(err.timeoutMs, 40);
  assert.is(err.peer, next);
  assert.is(ch.stats.timeouts, 1);
  await sleep(50);
  const r = await ch.request(next, { n: 2, delay: 0 }, { timeoutMs: 20_000 });
  assert.is(r.message, 2, 'the next request gets its own reply');
  assert.is(ch.stats.lateReplies, 1);
  await asyncBarrier(sync);
  await server.close();
  await asyncBarrier(sync);
  // Nothing serves now: a request times out and leaves no receive behind.
  assert.instance(await rejects(ch.request(next, { n: 3, delay: 0 }, { timeoutMs: 30 })), TimeoutError);
  await asyncBarrier(sync);
  // That request was queued at `next` and will never be served; take it out so the next suite starts clean.
  const stray = ch._listen(prev, 1);
  const got = await stray;
  assert.ok(got.data.byteLength > 0);
  await ch.close();
});

test('a request the server cannot read is answered with an error, and onError sees it', async () => {
  const v1 = world.channel('t/rpc-schema', { version: 1 });
  const v2 = world.channel('t/rpc-schema', { version: 2 });
  const seen: Error[] = [];
  const server = v1.serve(() => 'never', { onError: (e) => seen.push(e) });
  const err = await rejects(v2.request(next, { hi: 1 }, { timeoutMs: 20_000 }));
  assert.instance(err, RemoteError);
  assert.is(err.remote.name, 'SchemaMismatchError');
  assert.is(err.remote.code, 'ESCHEMA');
  await asyncBarrier(sync);
  await server.close();
  assert.is(seen.length, 1);
  assert.instance(seen[0], SchemaMismatchError);
  assert.is((seen[0] as SchemaMismatchError).sender, prev);
  v1.close();
  v2.close();
});

test('serve on a typed channel: a reply of the wrong type becomes an error reply', async () => {
  const ch = world.channel('t/rpc-typed', { version: 1, dtype: 'int32' });
  const server = ch.serve((m: Tensor<Int32Array>) => (m.data[0] === 0 ? { not: 'a tensor' } : m.data.map((x) => -x)));
  const ok = await ch.request<Tensor>(next, new Int32Array([5, 6]));
  assert.equal(Array.from(ok.message.data as Int32Array), [-5, -6]);
  const err = await rejects(ch.request(next, new Int32Array([0])));
  assert.instance(err, RemoteError);
  assert.is(err.remote.code, 'ERR_CHANNEL_PAYLOAD');
  await asyncBarrier(sync);
  await server.close();
  await ch.close();
});

test('close() stops serving cleanly: the pending receive is cancelled and nothing is left in flight', async () => {
  const ch = world.channel('t/rpc-close', { version: 1 });
  const server = ch.serve(() => 1);
  assert.is(server.closed, false);
  await server.close();
  assert.is(server.closed, true);
  assert.is(native.pending(), 0);
  await asyncBarrier(sync); // no request may reach the first server
  const again = ch.serve((m: any) => m * 2);
  assert.is((await ch.request(next, 21)).message, 42);
  await asyncBarrier(sync);
  await ch.close(); // closes its servers too
  assert.is(again.closed, true);
  assert.is(native.pending(), 0);
});

test('closing a channel while its handler runs still sends the reply', async () => {
  const srv = world.channel('t/rpc-closing', { version: 1 }), cli = world.channel('t/rpc-closing', { version: 1 });
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  srv.serve(async (m: number) => {
    started();
    await sleep(50);
    return m + 1;
  });
  const reply = cli.request<number>(next, rank, { timeoutMs: 20_000 });
  await running;
  await srv.close();
  assert.is(srv.closed, true);
  assert.is(srv.stats.served, 1);
  assert.is((await reply).message, rank + 1);
  await asyncBarrier(sync);
  await cli.close();
});

test.after(() => sync.free());

test.run();

void Channel;
