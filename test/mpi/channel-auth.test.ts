// Authenticated channels under mpirun with 1-4 ranks: signed messages around a ring (to next, from prev),
// job keys from the environment and a file, and every forged message (unsigned, tampered, wrong key,
// unknown key id, replayed, signed for another rank) as an AuthenticationError that keeps the bytes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { world, readRaw, AuthenticationError, KeyRing, jobKeys, TimeoutError, PROTOCOL, type Tensor } from '../../lib/index.js';
import { ChannelHeaderTemplate } from '../../lib/wire/codec.js';
import { sign } from '../../lib/wire/auth.js';
import { asyncBarrier, rejects, ringSend, sendRaw, thrown } from './chan-util.js';

const rank = world.rank, size = world.size;
const next = (rank + 1) % size, prev = (rank - 1 + size) % size;
const sync = world.dup();
const KEY1 = '11'.repeat(32), KEY2 = '22'.repeat(32);
const keys = [{ id: 1, key: KEY1 }];

/** A float64 tensor message of channel `name` (schema 1), signed by `ring` as from `from` to `to`. */
function forged(name: string, ring: KeyRing | undefined, from: number, to: number, seq: number, values: number[]): Uint8Array {
  const tpl = new ChannelHeaderTemplate(name, { major: 1, minor: 0 }, PROTOCOL, ring !== undefined);
  const data = new Float64Array(values);
  const hdr = tpl.encode({ kind: 'tensor', dtype: 'float64', shape: [data.length], seq, correlationId: 0, payloadLength: data.byteLength });
  const bytes = new Uint8Array(hdr.byteLength + data.byteLength);
  bytes.set(hdr);
  bytes.set(new Uint8Array(data.buffer), hdr.byteLength);
  if (ring !== undefined) sign(ring, bytes.subarray(0, hdr.byteLength), [bytes.subarray(hdr.byteLength)], from, to);
  return bytes;
}

test('signed tensors and objects, small (copied) and large (zero copy), blocking and Promise', async () => {
  const ch = world.channel('a/basic', { version: 1, auth: keys });
  ringSend(ch, next, new Float64Array([rank, 1, 2]));
  const a = ch.recv<Tensor>(prev);
  assert.equal(Array.from(a.message.data as Float64Array), [prev, 1, 2]);
  assert.is(a.header.flags & 0x20, 0x20, 'the header says it is signed');
  const big = new Float32Array(1 << 18).fill(rank);
  const p = ch.irecv<{ big: Float32Array; who: number }>(prev);
  await ch.isend(next, { big, who: rank });
  const b = await p;
  assert.is(b.message.who, prev);
  assert.is(b.message.big[1000], prev);
  assert.is(ch.stats.errors, 0);
  await ch.close();
});

test('job keys come from MPI4NODE_AUTH_KEY or the file MPI4NODE_AUTH_KEY_FILE; the first signs, all verify', async () => {
  const env = { MPI4NODE_AUTH_KEY: `2:${KEY2},1:${KEY1}` };
  assert.is(jobKeys(env).signingId, 2);
  const dir = mkdtempSync(path.join(tmpdir(), 'm4n-key-'));
  writeFileSync(path.join(dir, 'key'), `1:${KEY1}\n`, { mode: 0o600 });
  try {
    process.env.MPI4NODE_AUTH_KEY_FILE = path.join(dir, 'key');
    delete process.env.MPI4NODE_AUTH_KEY;
    const fromFile = world.channel('a/rotate', { version: 1, auth: true }); // signs with key 1
    process.env.MPI4NODE_AUTH_KEY = env.MPI4NODE_AUTH_KEY;
    const rotated = world.channel('a/rotate', { version: 1, auth: true }); // signs with key 2, accepts 1
    ringSend(fromFile, next, new Int32Array([rank]));
    assert.equal(Array.from(rotated.recv<Tensor>(prev).message.data as Int32Array), [prev], 'key 1 accepted by the rotated ring');
    await asyncBarrier(sync);
    ringSend(rotated, next, new Int32Array([rank + 10]));
    const err = thrown(() => fromFile.recv(prev));
    assert.instance(err, AuthenticationError);
    assert.is(err.reason, 'key', 'key 2 is unknown to a ring holding only key 1');
    assert.equal(Array.from(readRaw<Tensor>(err.raw).message.data as Int32Array), [prev + 10]);
    fromFile.close();
    rotated.close();
  } finally {
    delete process.env.MPI4NODE_AUTH_KEY;
    delete process.env.MPI4NODE_AUTH_KEY_FILE;
  }
  assert.is(thrown(() => world.channel('a/nokey', { version: 1, auth: true })).code, 'ERR_AUTH_KEY');
});

test('unsigned, tampered, wrong-key, unknown-key, misaddressed and replayed messages are AuthenticationErrors', async () => {
  const name = 'a/forged';
  const ch = world.channel(name, { version: 1, auth: keys });
  const ring = new KeyRing(keys), other = new KeyRing([{ id: 1, key: KEY2 }]), unknown = new KeyRing([{ id: 7, key: KEY1 }]);
  const tampered = forged(name, ring, rank, next, 1, [9]);
  tampered[tampered.length - 1]! ^= 1;
  const cases: [string, Uint8Array][] = [
    ['unsigned', forged(name, undefined, rank, next, 1, [1])],
    ['mac', tampered],
    ['mac', forged(name, other, rank, next, 1, [2])],
    ['key', forged(name, unknown, rank, next, 1, [3])],
  ];
  if (size > 1) cases.push(['mac', forged(name, ring, rank, (next + 1) % size, 1, [4])]); // signed for another receiver
  const good = forged(name, ring, rank, next, 1000, [5]);
  for (const [, bytes] of cases) sendRaw(ch, next, bytes);
  sendRaw(ch, next, good);
  sendRaw(ch, next, good); // the same bytes again: a replay
  sendRaw(ch, next, forged(name, ring, rank, next, 999, [6])); // an older sequence number
  for (const [reason, bytes] of cases) {
    const err = thrown(() => ch.recv(prev));
    assert.instance(err, AuthenticationError);
    assert.is(err.code, 'EAUTH');
    assert.is(err.reason, reason);
    assert.is(err.sender, prev, 'the claimed sender');
    assert.is(err.raw.byteLength, bytes.byteLength, 'the raw bytes are kept');
    assert.ok(readRaw(err.raw).message !== undefined, 'and still readable');
  }
  assert.equal(Array.from(ch.recv<Tensor>(prev).message.data as Float64Array), [5]);
  for (let i = 0; i < 2; i++) assert.is(thrown(() => ch.recv(prev)).reason, 'replay');
  assert.is(ch.stats.errors, cases.length + 2);
  await ch.close();
});

test('a channel without auth refuses nothing signed; an auth channel refuses a plain sender', async () => {
  const plain = world.channel('a/mixed', { version: 1 });
  const signed = world.channel('a/mixed', { version: 1, auth: keys });
  ringSend(signed, next, new Int8Array([1]));
  assert.equal(Array.from(plain.recv<Tensor>(prev).message.data as Int8Array), [1]);
  await asyncBarrier(sync);
  ringSend(plain, next, new Int8Array([2]));
  const err = thrown(() => signed.recv(prev));
  assert.is(err.reason, 'unsigned');
  await asyncBarrier(sync);
  ringSend(signed, next, new Int8Array([3]));
  assert.equal(Array.from(signed.recv<Tensor>(prev).message.data as Int8Array), [3], 'usable after the failure');
  plain.close();
  await signed.close();
});

test('request/reply on an authenticated channel; a request under a wrong key is not served and reaches onError', async () => {
  const ch = world.channel('a/rpc', { version: 1, auth: keys });
  const wrong = world.channel('a/rpc', { version: 1, auth: [{ id: 1, key: KEY2 }] });
  const seen: Error[] = [];
  const server = ch.serve((m: number) => m * 2, { onError: (e) => seen.push(e) });
  assert.is((await ch.request<number>(next, 21, { timeoutMs: 20_000 })).message, 42);
  assert.instance(await rejects(wrong.request(next, 1, { timeoutMs: 200 })), TimeoutError);
  await asyncBarrier(sync);
  await server.close();
  // The request, and (if it came before the close) its cancel notice after the timeout, signed with the same wrong key.
  assert.ok(seen.length === 1 || seen.length === 2, `${seen.length} errors`);
  for (const e of seen) {
    assert.instance(e, AuthenticationError);
    assert.is((e as AuthenticationError).reason, 'mac');
  }
  await ch.close();
  await wrong.close();
});

test('bad keys are coded errors before anything moves', () => {
  assert.is(thrown(() => world.channel('a/bad', { version: 1, auth: [{ id: 1, key: 'abcd' }] })).code, 'ERR_AUTH_KEY');
  assert.is(thrown(() => world.channel('a/bad', { version: 1, auth: [{ id: -1, key: KEY1 }] })).code, 'ERR_AUTH_KEY');
  assert.is(thrown(() => world.channel('a/bad', { version: 1, auth: [] })).code, 'ERR_AUTH_KEY');
  assert.is(thrown(() => world.channel('a/bad', { version: 1, auth: 'key' as never })).code, 'ERR_INVALID_ARG_TYPE');
  assert.is(thrown(() => jobKeys({ MPI4NODE_AUTH_KEY: 'secret' })).code, 'ERR_AUTH_KEY');
  assert.not.ok(thrown(() => jobKeys({ MPI4NODE_AUTH_KEY: 'secret' })).message.includes('secret'), 'the key is not shown');
});

test.after(() => sync.free());

test.run();
