// NCCL as 2.30 has it, against the fakes (test/fakes/): non-blocking creation with a deadline (NCCL
// that never finishes, a rank that never joins, blocking mode on request), launches NCCL is still
// enqueueing when the call returns, fp8, bucketed averaging over views, and the device-side hazards a
// GPU would show but plain fakes hide: host-driven transfers racing device work, frees that would wait
// for a stalled collective, events of one device recorded on another's stream (two fake devices).
// @ranks 1,2,3,4
// @timeout 180
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildFakes, withEnv, withEnvAsync } from '../fakes/build.js';
import { throwsCode as throws } from '../thrown.js';
import { decode, encode } from '../gpu/values.js';
import { GradientAverager, gpu, world } from '../../lib/index.js';

const fakes = buildFakes();
process.env.MPI4NODE_CUDART = fakes.cudart;
process.env.MPI4NODE_NCCL = fakes.nccl;
process.env.FAKE_NCCL_VERSION = '23007';
process.env.FAKE_CUDA_DEVICES = '2';
for (const k of ['MPI4NODE_CUDA_AWARE', 'MPI4NODE_NCCL_TIMEOUT_MS', 'FAKE_NCCL_STALL', 'FAKE_NCCL_ASYNC_ERROR', 'FAKE_CUDA_EVENT_DELAY_MS',
  'FAKE_NCCL_INIT_POLLS', 'FAKE_NCCL_LAUNCH_POLLS']) {
  delete process.env[k];
}

const rank = world.rank, size = world.size;
const next = (rank + 1) % size, prev = (rank - 1 + size) % size;
const { DeviceBuffer } = gpu;

async function rejects(p: Promise<unknown>, code: string, what = code): Promise<any> {
  try {
    await p;
  } catch (e) {
    assert.is((e as { code?: string }).code, code, `${what}: ${(e as Error).message}`);
    return e;
  }
  assert.unreachable(`${what}: resolved`);
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
}

const sumOfRanks = (size * (size - 1)) / 2;

test('NCCL 2.30.7: fp8, and non-blocking creation', () => {
  const s = gpu.status();
  assert.is(s.nccl.version, '2.30.7');
  assert.equal(s.nccl.features, { bfloat16: true, avg: true, fp8: true, sendRecv: true, nonblocking: true });
  assert.is(gpu.deviceCount(), 2);
});

test('creation is non-blocking and polled: gpu.nccl() returns a working communicator, so does ncclAsync()', async () => {
  const c = withEnv({ FAKE_NCCL_INIT_POLLS: '20' }, () => gpu.nccl(world));
  assert.is(c.blocking, false);
  const b = DeviceBuffer.from(Int32Array.of(rank, 1));
  await c.allreduce(b);
  assert.equal(Array.from(b.toArray() as Int32Array), [sumOfRanks, size]);
  const c2 = await withEnvAsync({ FAKE_NCCL_INIT_POLLS: '20' }, () => {
    const r = gpu.ncclAsync(world, { timeoutMs: 10_000 });
    assert.instance(r, Promise);
    assert.not.ok(r.done, 'created by the poller, not in the call');
    return r;
  });
  assert.instance(c2, gpu.NcclComm);
  assert.equal([c2.rank, c2.size, c2.blocking, c2.timeoutMs], [rank, size, false, 10_000]);
  await c2.allreduce(b, 'max');
  assert.equal(Array.from(b.toArray() as Int32Array), [sumOfRanks, size]);
  const blocking = gpu.nccl(world, { blocking: true });
  assert.is(blocking.blocking, true);
  await blocking.allreduce(b, 'min');
  for (const x of [c, c2, blocking]) x.dispose();
  b.dispose();
});

test('creation NCCL never finishes: NcclTimeoutError after the deadline, aborted, nothing left behind', async () => {
  const before = gpu.stats().ncclComms;
  const e = throws(() => withEnv({ FAKE_NCCL_INIT_POLLS: '-1' }, () => gpu.nccl(world, { timeoutMs: 1000 })), 'ERR_NCCL_TIMEOUT');
  assert.instance(e, gpu.NcclTimeoutError);
  assert.is(e.timeoutMs, 1000);
  assert.match(e.message, /within 1000 ms \(ncclCommInitRankConfig was still in progress\); it was aborted \(ncclCommAbort\)/);
  // The same through the Promise form: the loop keeps running meanwhile.
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const t0 = performance.now();
  await withEnvAsync({ FAKE_NCCL_INIT_POLLS: '-1' }, () => rejects(gpu.ncclAsync(world, { timeoutMs: 1000 }), 'ERR_NCCL_TIMEOUT', 'ncclAsync'));
  clearInterval(timer);
  assert.ok(performance.now() - t0 >= 990, 'not before the deadline');
  assert.ok(ticks >= 1, `timers ran while creation was polled (${ticks})`);
  assert.is(gpu.stats().ncclComms, before);
  await until(() => gpu.stats().lingering === 0, 'no creation left behind');
  gpu.nccl(world).dispose(); // and a later one works
});

test('a rank that never joins: the others time out; rank 0 tells a late one it gave up', async () => {
  if (size < 2) return;
  const d = world.dup();
  const late = size - 1;
  if (rank !== late) {
    const e = await rejects(gpu.ncclAsync(d, { timeoutMs: 200 }), 'ERR_NCCL_TIMEOUT', 'waiting for the absent rank');
    assert.match(e.message, /not every rank of the MPI communicator joined/);
    assert.is(gpu.stats().lingering, 1, 'its MPI part goes on in the background');
  }
  await world.ibarrier();
  if (rank === late) {
    const e = await rejects(gpu.ncclAsync(d, { timeoutMs: 10_000 }), 'ERR_NCCL_ABORTED', 'the late rank');
    assert.match(e.message, /rank 0 gave up creating it/);
  }
  await world.ibarrier();
  await until(() => gpu.stats().lingering === 0, 'the abandoned creations finished their MPI part');
  d.free();
});

test('non-blocking launches: each waits until NCCL has enqueued its work; a launch that never ends times out', async () => {
  const c = gpu.nccl(world);
  const a = DeviceBuffer.from(Float64Array.of(rank + 1)), b = DeviceBuffer.from(Int32Array.of(rank));
  await withEnv({ FAKE_NCCL_LAUNCH_POLLS: '10' }, async () => {
    await c.allreduce(a, 'sum');
    await c.group(() => {
      c.allreduce(a, 'max');
      c.allreduce(b, 'sum');
    });
    const out = new DeviceBuffer('int32', 1);
    await c.group(() => {
      c.send(b, next);
      c.recv(out, prev);
    });
    assert.is((out.toArray() as Int32Array)[0], sumOfRanks);
  });
  assert.is((a.toArray() as Float64Array)[0], ((size * (size + 1)) / 2));
  c.dispose();
  const stuck = gpu.nccl(world); // the deadline on the launch only: creation's MPI part may be slow here
  const e = throws(() => withEnv({ FAKE_NCCL_LAUNCH_POLLS: '-1' }, () => stuck.allreduce(a, 'sum', a, { timeoutMs: 100 })), 'ERR_NCCL_TIMEOUT');
  assert.instance(e, gpu.NcclTimeoutError);
  assert.ok(stuck.aborted, 'the communicator was aborted');
  throws(() => stuck.allreduce(a), 'ERR_NCCL_ABORTED');
  stuck.dispose();
  a.dispose();
  b.dispose();
});

test('fp8 reductions; fp8 avg over a one-rank communicator is refused with the reason', async () => {
  const c = gpu.nccl(world);
  for (const d of ['float8e4m3', 'float8e5m2'] as const) {
    const x = DeviceBuffer.from(encodeFp8(d, [1, 2, 0.5]), d);
    await c.allreduce(x, 'sum');
    assert.equal(decodeFp8(d, x.toArray() as Uint8Array), [size, 2 * size, 0.5 * size]);
    if (size === 1) {
      const e = throws(() => c.allreduce(x, 'avg'), 'ERR_NCCL_UNSUPPORTED');
      assert.match(e.message, /'avg' on float8.* over a one-rank communicator/);
    } else {
      await c.allreduce(x, 'avg');
      assert.equal(decodeFp8(d, x.toArray() as Uint8Array), [size, 2 * size, 0.5 * size]);
    }
  }
  c.dispose();
});

test('bucketed averaging: views of one flat buffer, averaged in one group', async () => {
  const c = gpu.nccl(world);
  const n = 1000;
  const flat = DeviceBuffer.from(Float32Array.from({ length: n }, (_, i) => rank + i));
  const buckets = [flat.subarray(0, 300), flat.subarray(300, 800), flat.subarray(800)];
  const results: Promise<unknown>[] = [];
  await c.group(() => {
    for (const b of buckets) results.push(c.allreduce(b, 'avg'));
  });
  assert.equal(await Promise.all(results), buckets);
  const mean = (size - 1) / 2;
  assert.equal(Array.from(flat.toArray() as Float32Array), Array.from({ length: n }, (_, i) => mean + i));
  // bf16 and fp16 buckets, in place and out of place
  for (const d of ['bfloat16', 'float16'] as const) {
    const g = DeviceBuffer.from(encode(d, [rank, 2 * rank, 4]) as Uint16Array, d);
    const out = new DeviceBuffer(d, 3);
    await c.allreduce(g.subarray(0, 2), 'avg', out.subarray(1, 3));
    assert.equal(decode(d, out.toArray()).slice(1), [mean, 2 * mean]);
  }
  c.dispose();
  flat.dispose();
});

test('GradientAverager: device arrays through NCCL, packed on the device; host arrays beside them', async () => {
  const c = gpu.nccl(world);
  const lens = [3, 100, 7, 600, 1];
  const fill = (d: InstanceType<typeof DeviceBuffer>, i: number, r: number) => d.copyFrom(Float32Array.from({ length: d.length }, (_, k) => r * (i + 1) + k));
  const dev = lens.map((n, i) => fill(new DeviceBuffer('float32', n), i, rank));
  const host = new Float64Array(5).fill(rank);
  const half = DeviceBuffer.from(encode('bfloat16', [rank, 2 * rank]) as Uint16Array, 'bfloat16');
  const avg = new GradientAverager(world, { bucketBytes: 1000, nccl: c });
  dev.forEach((d, i) => avg.register(`d${i}`, d));
  avg.register('host', host).register('half', half);
  // 440 B of float32, then an oversize array alone, then each change of kind starts a bucket.
  assert.equal(avg.buckets, [['d0', 'd1', 'd2'], ['d3'], ['d4'], ['host'], ['half']]);
  const mean = (size - 1) / 2;
  const expectMean = (what: string) => {
    dev.forEach((d, i) => assert.equal(Array.from(d.toArray() as Float32Array), Array.from({ length: d.length }, (_, k) => mean * (i + 1) + k), `${what} d${i}`));
    assert.equal(Array.from(host), new Array(5).fill(mean), `${what} host`);
    assert.equal(decode('bfloat16', half.toArray()), [mean, 2 * mean], `${what} half`);
  };
  // Events that complete late: average() settles only after the last copy back has.
  await withEnvAsync({ FAKE_CUDA_EVENT_DELAY_MS: '30' }, async () => {
    const p = avg.average();
    assert.instance(p, Promise);
    assert.ok(gpu.stats().ops > 0, 'device work in flight while average() is pending');
    await p;
  });
  expectMean('average()');
  dev.forEach((d, i) => fill(d, i, rank));
  host.fill(rank);
  half.copyFrom(encode('bfloat16', [rank, 2 * rank]) as Uint16Array);
  avg.averageSync();
  expectMean('averageSync()');
  // Parameters from the root: every rank gets rank 0's.
  dev.forEach((d, i) => fill(d, i, rank + 1));
  avg.broadcastParameters(0);
  dev.forEach((d, i) => assert.equal(Array.from(d.toArray() as Float32Array), Array.from({ length: d.length }, (_, k) => i + 1 + k), `broadcast d${i}`));
  assert.is(gpu.stats().ops, 0, 'nothing left in flight');
  // What device arrays need, refused at register() with the reason.
  throws(() => new GradientAverager(world).register('x', dev[0]!), 'ERR_INVALID_ARG_VALUE', 'no NCCL communicator');
  throws(() => new GradientAverager(world, { nccl: c }).register('x', new DeviceBuffer('int32', 2)), 'ERR_INVALID_DTYPE', 'an integer device array');
  throws(() => new GradientAverager(world, { nccl: c, compression: 'bfloat16' }).register('x', dev[0]!), 'ERR_INVALID_DTYPE', 'compression');
  for (const d of [...dev, half]) d.dispose();
  c.dispose();
});

test('host-driven transfers in flight refuse what would race with them (ERR_BUFFER_BUSY)', async () => {
  const c = gpu.nccl(world);
  const b = DeviceBuffer.from(new Float32Array(1000).fill(1));
  const half = b.subarray(0, 500);
  const writing = withEnv({ FAKE_CUDA_EVENT_DELAY_MS: '40' }, () => half.copyFromAsync(new Float32Array(500).fill(2)));
  throws(() => c.allreduce(b), 'ERR_BUFFER_BUSY', 'a collective over bytes being written');
  throws(() => b.subarray(400, 600).toArray(), 'ERR_BUFFER_BUSY', 'reading bytes being written');
  throws(() => gpu.send(world, half, rank, 1), 'ERR_BUFFER_BUSY', 'sending bytes being written');
  b.subarray(500).fill(0); // other bytes of the same allocation are free
  await writing;
  const reading = withEnv({ FAKE_CUDA_EVENT_DELAY_MS: '40' }, () => b.copyToAsync());
  assert.is((b.toArray() as Float32Array)[0], 2, 'reads alongside a read');
  throws(() => b.fill(0), 'ERR_BUFFER_BUSY', 'writing bytes being read');
  throws(() => c.allreduce(b, 'sum'), 'ERR_BUFFER_BUSY', 'a collective in place');
  const out = new DeviceBuffer('float32', 1000);
  await c.allreduce(b, 'sum', out); // out of place only reads b
  assert.is((await reading)[999], 0);
  assert.is((out.toArray() as Float32Array)[0], 2 * size);
  c.dispose();
  b.dispose();
  out.dispose();
});

test('frees wait while NCCL work is pending (cudaFree would wait for it), then happen', async () => {
  const c = gpu.nccl(world);
  const x = new DeviceBuffer('float32', 4).zero();
  const stalled = withEnv({ FAKE_NCCL_STALL: '1' }, () => c.allreduce(x, 'sum', x, { timeoutMs: 150 })); // read at launch, in the call
  const before = gpu.stats();
  new DeviceBuffer('uint8', 100).dispose(); // the fake's cudaFree fails while a stream is stalled
  assert.is(gpu.stats().deferredFrees, before.deferredFrees + 1);
  assert.is(gpu.stats().buffers, before.buffers, 'the handle is gone at once');
  await rejects(stalled, 'ERR_NCCL_TIMEOUT');
  assert.is(gpu.stats().deferredFrees, 0, 'freed once nothing was pending');
  c.dispose();
  x.dispose();
});

test('two devices: events are pooled per device, never recorded on another device\'s stream', async () => {
  const was = gpu.device();
  for (const dev of [0, 1, 0, 1]) {
    gpu.setDevice(dev);
    const b = new DeviceBuffer('float32', 64);
    assert.is(b.device, dev);
    await b.copyFromAsync(new Float32Array(64).fill(dev + 1));
    assert.is((await b.copyToAsync())[63], dev + 1);
    b.dispose();
  }
  gpu.setDevice(was);
});

// fp8 host encodings: exact for the small values used here (powers of two and their small multiples).
function encodeFp8(d: 'float8e4m3' | 'float8e5m2', xs: number[]): Uint8Array {
  const table = fp8Table(d);
  return Uint8Array.from(xs, (x) => table.indexOf(x));
}
function decodeFp8(d: 'float8e4m3' | 'float8e5m2', a: Uint8Array): number[] {
  const table = fp8Table(d);
  return Array.from(a, (b) => table[b]!);
}
function fp8Table(d: 'float8e4m3' | 'float8e5m2'): number[] {
  const e5 = d === 'float8e5m2', mbits = e5 ? 2 : 3, bias = e5 ? 15 : 7;
  return Array.from({ length: 128 }, (_, b) => {
    const e = b >> mbits, m = b & ((1 << mbits) - 1);
    return e === 0 ? m * 2 ** (1 - bias - mbits) : (m + (1 << mbits)) * 2 ** (e - bias - mbits);
  });
}

test.run();
