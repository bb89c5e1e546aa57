// The GPU path end to end against the test-only fake CUDA runtime and fake NCCL (test/fakes/): loading,
// device buffers, NCCL bootstrap and every collective, grouping, timeouts, asynchronous errors, debug
// mode, and device buffers over MPI (staged: Debian's OpenMPI is not CUDA-aware). Every rank makes
// the same collective calls in the same order.
// @ranks 1,2,3,4
// @timeout 300
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildFakes, withEnv } from '../fakes/build.js';
import { throwsCode as throws } from '../thrown.js';
import { close, decode, encode, expected } from '../gpu/values.js';
import { ANY_SOURCE, MpiError, PROC_NULL, gpu, world, type Status } from '../../lib/index.js';
import type { DeviceDtype, NcclOpName } from '../../lib/gpu/index.js';

// Before the first GPU call, which is when the libraries are loaded.
const fakes = buildFakes();
process.env.MPI4NODE_CUDART = fakes.cudart;
process.env.MPI4NODE_NCCL = fakes.nccl;
for (const k of ['MPI4NODE_CUDA_AWARE', 'FAKE_NCCL_STALL', 'FAKE_NCCL_ASYNC_ERROR', 'FAKE_CUDA_EVENT_DELAY_MS', 'FAKE_NCCL_VERSION']) {
  delete process.env[k];
}

const rank = world.rank, size = world.size;
const next = (rank + 1) % size, prev = (rank - 1 + size) % size;
const { DeviceBuffer } = gpu;

async function rejects(p: Promise<unknown>, check: (e: any) => boolean, what: string): Promise<any> {
  try {
    await p;
  } catch (e) {
    assert.ok(check(e), `${what}: unexpected ${(e as Error)?.name}: ${(e as Error)?.message}`);
    return e;
  }
  assert.unreachable(`${what}: resolved`);
}

let shared: gpu.NcclComm | undefined;
const comm = () => (shared ??= gpu.nccl(world));

test('the fakes load from the explicit paths, with their versions', () => {
  const s = gpu.status();
  assert.ok(s.available, s.reason);
  assert.is(s.code, '');
  assert.is(s.cuda.path, fakes.cudart);
  assert.equal(s.cuda.tried.map((t) => t.path), [fakes.cudart], 'an explicit path is the only one tried');
  assert.is(s.cuda.runtimeVersion, '13.0');
  assert.is(s.cuda.driverVersion, '13.0');
  assert.is(s.cuda.devices, 1);
  assert.ok(s.nccl.available, s.nccl.reason);
  assert.is(s.nccl.path, fakes.nccl);
  assert.is(s.nccl.version, '2.21.5');
  assert.equal(s.nccl.features, { bfloat16: true, avg: true, fp8: false, sendRecv: true, nonblocking: true });
  assert.ok(gpu.available());
  assert.is(gpu.deviceCount(), 1);
  assert.is(gpu.device(), 0);
  assert.is(gpu.selectDevice(), 0, 'collective: local rank modulo one device');
  assert.equal(gpu.mpiCudaAware().aware, false, gpu.mpiCudaAware().how);
});

test('device buffers: every dtype round-trips, with offsets and views', () => {
  for (const d of gpu.DEVICE_DTYPES) {
    const n = 37;
    const bytes = new Uint8Array(n * d.size).map((_, i) => (i * 7 + rank) & 0xff);
    const host = new d.array(bytes.buffer);
    const b = DeviceBuffer.from(host, d.name);
    assert.is(b.dtype, d.name);
    assert.is(b.length, n);
    assert.is(b.byteLength, n * d.size);
    assert.equal(new Uint8Array(b.toArray().buffer), bytes, d.name);
    assert.equal(b.pointerInfo(), { type: 'device', device: 0 }, 'cudaPointerGetAttributes (88-byte struct)');
    // offsets, views, raw bytes
    const tail = b.copyTo(undefined, 30);
    assert.is(tail.byteLength, 7 * d.size);
    const v = b.subarray(5, 9);
    assert.is(v.byteOffset, 5 * d.size);
    assert.equal(new Uint8Array(v.toArray().buffer), bytes.subarray(5 * d.size, 9 * d.size));
    v.copyFrom(new Uint8Array(4 * d.size).fill(0xee));
    assert.equal(new Uint8Array(b.toArray().buffer).subarray(5 * d.size, 9 * d.size), new Uint8Array(4 * d.size).fill(0xee));
    b.copyFrom(new Uint8Array(d.size).fill(1), 36);
    assert.equal(Array.from(new Uint8Array(b.toArray().buffer).subarray(36 * d.size)), new Array(d.size).fill(1));
    v.dispose();
    assert.ok(v.disposed && !b.disposed, 'disposing a view retires only the view');
    b.fill(0);
    assert.ok(new Uint8Array(b.toArray().buffer).every((x) => x === 0));
    const c = new DeviceBuffer(d.name, n).copyFromDevice(DeviceBuffer.from(host, d.name));
    assert.equal(new Uint8Array(c.toArray().buffer), bytes);
    b.dispose();
    c.dispose();
    assert.ok(b.disposed);
  }
});

test('Promise copies go through pinned chunks and resolve later; wait() blocks for them', async () => {
  gpu.configureStaging({ chunkBytes: 100 });
  try {
    const src = Float64Array.from({ length: 1000 }, (_, i) => i * 1.5 - rank);
    const b = new DeviceBuffer('float64', 1000);
    const r = b.copyFromAsync(src);
    assert.instance(r, Promise);
    assert.is(await r, b);
    const back = await b.copyToAsync();
    assert.equal(back, src);
    const part = await b.copyToAsync(new Float64Array(10), 990);
    assert.equal(Array.from(part), Array.from(src.subarray(990)));
    const late = withEnv({ FAKE_CUDA_EVENT_DELAY_MS: '30' }, () => b.copyToAsync(new Float64Array(1000)));
    assert.not.ok(late.done, 'completes through the poller, not in the call');
    assert.not.ok(late.test());
    assert.equal(late.wait(), src);
    assert.ok(late.done);
    b.dispose();
  } finally {
    gpu.configureStaging({ chunkBytes: 4 << 20 });
  }
});

test('device buffer argument errors are typed', async () => {
  const b = new DeviceBuffer('int32', 4);
  throws(() => b.copyFrom(new Float32Array(4)), 'ERR_DTYPE_MISMATCH');
  throws(() => b.copyFrom(new Int32Array(5)), 'ERR_OUT_OF_RANGE');
  throws(() => b.copyFrom(new Uint8Array(3)), 'ERR_DTYPE_MISMATCH', 'bytes not a whole element');
  throws(() => new DeviceBuffer('complex64' as DeviceDtype, 1), 'ERR_INVALID_DTYPE');
  throws(() => new DeviceBuffer('int8', -1), 'ERR_INVALID_LENGTH');
  throws(() => b.subarray(2, 9), 'ERR_OUT_OF_RANGE');
  const pending = withEnv({ FAKE_CUDA_EVENT_DELAY_MS: '30' }, () => b.copyToAsync());
  throws(() => b.dispose(), 'ERR_BUFFER_BUSY');
  await pending;
  b.dispose();
  throws(() => b.toArray(), 'ERR_BUFFER_DISPOSED');
  b.dispose(); // idempotent
});

test('forgotten device buffers are freed after garbage collection, never while in use', async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return; // the runner passes --expose-gc
  const settle = async (until: () => boolean) => {
    for (let i = 0; i < 50 && !until(); i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  let last = -1;
  await settle(() => {
    const now = gpu.stats().buffers;
    const stable = now === last;
    last = now;
    return stable;
  }); // what earlier tests left behind is collected first
  const before = gpu.stats().buffers;
  (() => {
    for (let i = 0; i < 20; i++) new DeviceBuffer('uint8', 4096);
  })();
  assert.is(gpu.stats().buffers, before + 20);
  // A buffer in flight is held by its request even with no other reference.
  const inFlight = withEnv({ FAKE_CUDA_EVENT_DELAY_MS: '50' }, () => new DeviceBuffer('float32', 16).copyFromAsync(new Float32Array(16).fill(2)));
  await settle(() => gpu.stats().buffers <= before + 1);
  assert.is(gpu.stats().buffers, before + 1, 'the 20 forgotten ones were freed, the one in flight was not');
  const b = await inFlight;
  assert.equal(Array.from(b.toArray() as Float32Array), new Array(16).fill(2));
  b.dispose();
});

const NCCL_DTYPES: DeviceDtype[] = ['int8', 'uint8', 'int32', 'uint32', 'int64', 'uint64', 'float16', 'float32', 'float64', 'bfloat16'];
const OPS: NcclOpName[] = ['sum', 'prod', 'min', 'max', 'avg'];
const valuesOf = (r: number, n: number) => Array.from({ length: n }, (_, i) => ((r + i) % 3) + 1);

test('NCCL bootstrap over MPI: rank, size, device', () => {
  const c = comm();
  assert.is(c.rank, rank);
  assert.is(c.size, size);
  assert.is(c.device, 0);
  assert.is(c.comm, world);
});

test('allreduce: every op and dtype, in place and out of place', async () => {
  const c = comm();
  const n = 11;
  const all = Array.from({ length: size }, (_, r) => valuesOf(r, n));
  for (const d of NCCL_DTYPES) {
    for (const op of OPS) {
      const want = expected(d, op, all);
      const send = DeviceBuffer.from(encode(d, all[rank]!) as never, d);
      const recv = new DeviceBuffer(d, n);
      assert.is(await c.allreduce(send, op, recv), recv);
      assert.not.ok(close(d, decode(d, recv.toArray()), want), `${d} ${op} out of place: ${close(d, decode(d, recv.toArray()), want)}`);
      assert.not.ok(close(d, decode(d, send.toArray()), all[rank]!), 'send untouched');
      await c.allreduce(send, op);
      assert.not.ok(close(d, decode(d, send.toArray()), want), `${d} ${op} in place`);
      send.dispose();
      recv.dispose();
    }
  }
});

test('broadcast and reduce from every root; allgather; reduceScatter', async () => {
  const c = comm();
  const n = 6;
  for (let root = 0; root < size; root++) {
    const b = DeviceBuffer.from(Float32Array.from(valuesOf(rank, n), (v) => v + 10 * rank));
    assert.is(await c.broadcast(b, root), b);
    assert.equal(Array.from(b.toArray() as Float32Array), valuesOf(root, n).map((v) => v + 10 * root), `broadcast from ${root}`);
    const out = new DeviceBuffer('float32', n);
    await c.broadcast(DeviceBuffer.from(new Float32Array(n).fill(rank + 1)), root, out);
    assert.equal(Array.from(out.toArray() as Float32Array), new Array(n).fill(root + 1));

    const s = DeviceBuffer.from(Int32Array.from(valuesOf(rank, n)));
    const got = await c.reduce(s, 'max', root, new DeviceBuffer('int32', n));
    if (rank === root) {
      assert.ok(got);
      const want = expected('int32', 'max', Array.from({ length: size }, (_, r) => valuesOf(r, n)));
      assert.equal(Array.from(got!.toArray() as Int32Array), want);
    } else {
      assert.is(got, undefined);
    }
  }
  // allgather into a fresh buffer, then in place (each rank's block already in the output)
  const mine = DeviceBuffer.from(Float64Array.from({ length: 3 }, (_, i) => rank * 100 + i));
  const gathered = await c.allgather(mine);
  assert.is(gathered.length, 3 * size);
  const wantAll = Array.from({ length: size }, (_, r) => [r * 100, r * 100 + 1, r * 100 + 2]).flat();
  assert.equal(Array.from(gathered.toArray() as Float64Array), wantAll);
  const inPlace = new DeviceBuffer('float64', 3 * size).zero();
  const block = inPlace.subarray(rank * 3, rank * 3 + 3).copyFromDevice(mine);
  await c.allgather(block, inPlace);
  assert.equal(Array.from(inPlace.toArray() as Float64Array), wantAll);
  // reduceScatter: rank r gets the sum of every rank's block r
  const blocks = DeviceBuffer.from(Int32Array.from({ length: 2 * size }, (_, i) => i * (rank + 1)));
  const scattered = await c.reduceScatter(blocks, 'sum');
  const factor = (size * (size + 1)) / 2;
  assert.equal(Array.from(scattered.toArray() as Int32Array), [2 * rank * factor, (2 * rank + 1) * factor]);
  if (size > 1) throws(() => c.reduceScatter(new DeviceBuffer('int32', 2 * size + 1)), 'ERR_COUNTS');
});

test('send/recv around a ring in one group; grouped collectives complete together', async () => {
  const c = comm();
  const out = DeviceBuffer.from(Int32Array.of(rank, rank * 2, rank * 3));
  const inp = new DeviceBuffer('int32', 3).fill(0xff);
  let sent: Promise<unknown> | undefined;
  const all = gpu.group(() => {
    sent = c.send(out, next);
    c.recv(inp, prev);
  });
  assert.instance(sent, Promise);
  await all;
  assert.equal(Array.from(inp.toArray() as Int32Array), [prev, prev * 2, prev * 3]);
  // two collectives and a copy-free check of their results after one launch
  const a = DeviceBuffer.from(Float32Array.of(rank + 1)), b = DeviceBuffer.from(Float64Array.of(rank + 1));
  let ra: Promise<unknown> | undefined, rb: Promise<unknown> | undefined;
  gpu.groupStart();
  ra = c.allreduce(a, 'sum');
  rb = c.allreduce(b, 'max');
  await gpu.groupEnd();
  await Promise.all([ra, rb]);
  assert.is((a.toArray() as Float32Array)[0], (size * (size + 1)) / 2);
  assert.is((b.toArray() as Float64Array)[0], size);
});

test('an NCCL communicator over a split communicator', async () => {
  const sub = world.split(rank % 2)!;
  const c = gpu.nccl(sub);
  assert.is(c.size, sub.size);
  const b = DeviceBuffer.from(Int32Array.of(rank));
  await c.allreduce(b, 'sum');
  let want = 0;
  for (let r = rank % 2; r < size; r += 2) want += r;
  assert.is((b.toArray() as Int32Array)[0], want);
  c.dispose();
  assert.ok(c.disposed);
  throws(() => c.allreduce(b), 'ERR_NCCL_DISPOSED');
  sub.free();
});

test('a stalled operation times out: the communicator is aborted and the Promise rejects, the loop runs on', async () => {
  const c = gpu.nccl(world, { timeoutMs: 150 });
  const b = new DeviceBuffer('float32', 8).zero();
  const other = new DeviceBuffer('float32', 8).zero();
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const t0 = performance.now();
  const [r1, r2] = withEnv({ FAKE_NCCL_STALL: '1' }, () => [c.allreduce(b), c.allreduce(other, 'max', undefined, { timeoutMs: 10_000 })]);
  const e = await rejects(r1, (x) => x instanceof gpu.NcclTimeoutError, 'stalled allreduce');
  const elapsed = performance.now() - t0;
  clearInterval(timer);
  assert.is(e.code, 'ERR_NCCL_TIMEOUT');
  assert.is(e.timeoutMs, 150);
  assert.instance(e, gpu.NcclError);
  assert.ok(elapsed >= 140 && elapsed < 5000, `rejected after ${elapsed.toFixed(0)} ms`);
  assert.ok(ticks >= 10, `timers kept running while waiting (${ticks} ticks)`);
  const e2 = await rejects(r2, (x) => x instanceof gpu.NcclError, 'the other operation in flight');
  assert.is(e2.code, 'ERR_NCCL_ABORTED', e2.message);
  assert.ok(c.aborted);
  throws(() => c.allreduce(b), 'ERR_NCCL_ABORTED', 'an aborted communicator refuses work');
  b.dispose(); // no longer in use
  other.dispose();
  c.dispose();

  // The blocking wait honours the deadline too.
  const c2 = gpu.nccl(world, { timeoutMs: 100 });
  const x = new DeviceBuffer('int32', 4).zero();
  const r = withEnv({ FAKE_NCCL_STALL: '1' }, () => c2.allreduce(x));
  try {
    r.wait();
    assert.unreachable('wait() returned');
  } catch (err) {
    assert.instance(err, gpu.NcclTimeoutError);
  }
  c2.dispose();
  x.dispose();
});

test('asynchronous NCCL errors are surfaced and abort the communicator', async () => {
  const c = gpu.nccl(world, { timeoutMs: 10_000 });
  const b = new DeviceBuffer('float64', 4).zero();
  const r = withEnv({ FAKE_NCCL_ASYNC_ERROR: '6' }, () => c.allreduce(b));
  const e = await rejects(r, (x) => x instanceof gpu.NcclError, 'async error');
  assert.is(e.code, 'ERR_NCCL_ASYNC');
  assert.is(e.ncclResult, 6);
  assert.match(e.message, /ncclRemoteError/);
  assert.ok(c.aborted);
  c.dispose();
  b.dispose();
});

test('debug mode: mismatched operations are found before they hang', async () => {
  const c = gpu.nccl(world, { debug: true });
  const same = DeviceBuffer.from(Float32Array.of(1, 2, 3, 4));
  await c.allreduce(same, 'sum'); // matched: goes through
  assert.equal(Array.from(same.toArray() as Float32Array), [1, 2, 3, 4].map((v) => v * size));
  if (size > 1) {
    const odd = new DeviceBuffer('float32', rank === 0 ? 4 : 5).zero();
    const e = throws(() => c.allreduce(odd, 'sum'), 'ERR_NCCL_MISMATCH');
    assert.instance(e, gpu.NcclMismatchError);
    assert.match(e.message, /rank 0: allreduce\(count=4, float32, sum\)/);
    assert.match(e.message, /rank 1: allreduce\(count=5, float32, sum\)/);
    const op = rank === size - 1 ? 'max' : 'sum';
    throws(() => c.allreduce(same, op), 'ERR_NCCL_MISMATCH', 'different ops');
    const root = rank === 0 ? 1 : 0;
    throws(() => c.broadcast(same, root), 'ERR_NCCL_MISMATCH', 'different roots');
    // point-to-point: the receiver compares with what its peer sent
    if (rank === 0) {
      await c.send(DeviceBuffer.from(Int32Array.of(7, 8, 9, 10)), 1);
    } else if (rank === 1) {
      const e2 = throws(() => c.recv(new DeviceBuffer('int32', 5), 0), 'ERR_NCCL_MISMATCH');
      assert.match(e2.message, /send\(count=4, int32, to rank 1\)/);
      c.debug = false; // drain the message that was sent
      const got = await c.recv(new DeviceBuffer('int32', 4), 0);
      assert.equal(Array.from(got.toArray() as Int32Array), [7, 8, 9, 10]);
      c.debug = true;
    }
    odd.dispose();
  }
  await c.allreduce(same, 'max'); // still usable: nothing mismatched was launched
  c.dispose();
  same.dispose();
});

test('NCCL error paths: unsupported dtype, version gates, arguments, busy dispose', async () => {
  const c = comm();
  throws(() => c.allreduce(new DeviceBuffer('int16', 2)), 'ERR_NCCL_DTYPE');
  const fp8 = throws(() => c.allreduce(new DeviceBuffer('float8e4m3', 2)), 'ERR_NCCL_VERSION');
  assert.match(fp8.message, /NCCL >= 2\.24\.3.*is 2\.21\.5/);
  throws(() => c.allreduce(new DeviceBuffer('float32', 2), 'sum', new DeviceBuffer('float64', 2)), 'ERR_DTYPE_MISMATCH');
  throws(() => c.allreduce(new DeviceBuffer('float32', 4), 'sum', new DeviceBuffer('float32', 2)), 'ERR_BUFFER_TOO_SMALL');
  throws(() => c.broadcast(new DeviceBuffer('float32', 2), size), 'ERR_ROOT');
  throws(() => c.allreduce(new DeviceBuffer('float32', 2), 'mean' as NcclOpName), 'ERR_OP');
  const busy = new DeviceBuffer('float32', 2).zero();
  const tmp = gpu.nccl(world);
  const r = withEnv({ FAKE_CUDA_EVENT_DELAY_MS: '40' }, () => tmp.allreduce(busy));
  throws(() => tmp.dispose(), 'ERR_NCCL_BUSY');
  throws(() => busy.dispose(), 'ERR_BUFFER_BUSY');
  await r;
  tmp.dispose();
  busy.dispose();
});

test('device buffers over MPI, staged in pipelined chunks: Promise and blocking forms', async () => {
  gpu.configureStaging({ chunkBytes: 1000 });
  try {
    // ring, several sizes around the chunk size (zero bytes and a single partial chunk included)
    for (const n of [0, 1, 124, 125, 126, 1000, 4321]) {
      const out = DeviceBuffer.from(Float64Array.from({ length: n }, (_, i) => rank * 1e6 + i));
      const inp = new DeviceBuffer('float64', n + 3);
      const [st] = await Promise.all([world.irecv(inp as never, prev, 7), world.isend(out as never, next, 7)]);
      assert.is(st.source, prev);
      assert.is(st.tag, 7);
      assert.is(st.count, n);
      assert.equal(Array.from((inp.toArray() as Float64Array).subarray(0, n)), Array.from({ length: n }, (_, i) => prev * 1e6 + i));
      out.dispose();
      inp.dispose();
    }
    if (size > 1) {
      // blocking, in pairs
      const peer = rank % 2 === 0 ? rank + 1 : rank - 1;
      if (peer < size) {
        const mine = DeviceBuffer.from(Int32Array.from({ length: 3000 }, (_, i) => i + rank));
        const theirs = new DeviceBuffer('int32', 3000);
        if (rank % 2 === 0) {
          gpu.send(world, mine, peer, 3);
          const st = gpu.recv(world, theirs, peer, 3);
          assert.is(st.byteCount, 12000);
        } else {
          gpu.recv(world, theirs, peer, 3);
          gpu.send(world, mine, peer, 3);
        }
        assert.equal((theirs.toArray() as Int32Array)[2999], 2999 + peer);
      }
      // two messages in flight between the same pair with the same tag arrive in order, whole
      if (rank === 0) {
        const a = DeviceBuffer.from(new Uint8Array(5000).fill(0xaa)), b = DeviceBuffer.from(new Uint8Array(3500).fill(0xbb));
        await Promise.all([gpu.isend(world, a, 1, 9), gpu.isend(world, b, 1, 9)]);
      } else if (rank === 1) {
        const x = new DeviceBuffer('uint8', 5000), y = new DeviceBuffer('uint8', 5000);
        const [sx, sy] = await Promise.all([gpu.irecv(world, x, 0, 9), gpu.irecv(world, y, 0, 9)]);
        assert.is(sx.byteCount, 5000);
        assert.is(sy.byteCount, 3500);
        assert.ok((x.toArray() as Uint8Array).every((v) => v === 0xaa));
        assert.ok((y.toArray() as Uint8Array).subarray(0, 3500).every((v) => v === 0xbb));
      }
      // ANY_SOURCE: rank 0 hears from every other rank
      if (rank === 0) {
        const seen = new Set<number>();
        for (let i = 1; i < size; i++) {
          const b = new DeviceBuffer('int32', 2000);
          const st = gpu.recv(world, b, ANY_SOURCE, 11);
          assert.is((b.toArray() as Int32Array)[1999], st.source * 7, 'content matches the matched source');
          seen.add(st.source);
        }
        assert.is(seen.size, size - 1);
      } else {
        gpu.send(world, DeviceBuffer.from(new Int32Array(2000).fill(rank * 7)), 0, 11);
      }
      // a host array sent to a device buffer; a device message truncated by a short receive
      if (rank === 0) {
        world.send(Float32Array.of(1.5, 2.5, 3.5), 1, 12);
        gpu.send(world, DeviceBuffer.from(new Float32Array(700).fill(4)), 1, 13);
        gpu.send(world, DeviceBuffer.from(Float32Array.of(9)), 1, 14);
      } else if (rank === 1) {
        const h = new DeviceBuffer('float32', 3);
        assert.is(gpu.recv(world, h, 0, 12).count, 3);
        assert.equal(Array.from(h.toArray() as Float32Array), [1.5, 2.5, 3.5]);
        const short = new DeviceBuffer('float32', 100);
        const e = await rejects(gpu.irecv(world, short, 0, 13), (x) => x instanceof MpiError, 'truncated');
        assert.is(e.code, 'ERR_TRUNCATE');
        const after = new DeviceBuffer('float32', 1);
        gpu.recv(world, after, 0, 14);
        assert.equal(Array.from(after.toArray() as Float32Array), [9], 'the truncated message was drained whole');
      }
    }
    // PROC_NULL
    const nul = new DeviceBuffer('int8', 4);
    gpu.send(world, nul, PROC_NULL, 0);
    const st = gpu.recv(world, nul, PROC_NULL, 0);
    assert.is(st.source, PROC_NULL);
    assert.is(st.count, 0);
    // the Comm methods themselves accept device buffers
    const viaComm = await Promise.all([world.isend(DeviceBuffer.from(Int8Array.of(rank)) as never, next, 15),
      world.irecv(nul as never, prev, 15)]);
    assert.is(viaComm[1].source, prev);
    assert.is((nul.toArray() as Int8Array)[0], prev);
    throws(() => gpu.send(world, nul, size, 0), 'ERR_RANK');
    throws(() => gpu.send(world, nul, 0, -5), 'ERR_TAG');
  } finally {
    gpu.configureStaging({ chunkBytes: 4 << 20 });
  }
});

test('Comm point-to-point takes DeviceBuffer in every direction: device/host to device/host, Promise and blocking', async () => {
  gpu.configureStaging({ chunkBytes: 1000 });
  // Blocking forms in pairs: a device isend is driven by the event loop (or its own wait()), which a
  // blocking receive on the same thread holds up.
  const pair = rank % 2 === 0 ? rank + 1 : rank - 1;
  try {
    // 3 elements: below a staging header's 32 bytes (sent as they are); 8: exactly 32; 5000: 20 chunks.
    for (const n of [3, 8, 5000]) {
      const mine = (r: number) => Int32Array.from({ length: n }, (_, i) => r * 100_000 + i);
      const dev = DeviceBuffer.from(mine(rank));
      // device -> host array, Promise forms (typed: no casts)
      const host = new Int32Array(n + 2);
      const sent: gpu.GpuRequest<Status> = world.isend(dev, next, 20);
      const [st] = await Promise.all([world.irecv(host, prev, 20), sent]);
      assert.equal([st.source, st.tag, st.count, st.byteCount], [prev, 20, n, 4 * n], `device -> host irecv, ${n}`);
      assert.equal(Array.from(host.subarray(0, n)), Array.from(mine(prev)));
      // device -> a fresh host array of the message's size
      const [got] = await Promise.all([world.irecv('int32', prev, 22), world.isend(dev, next, 22)]);
      assert.equal(Array.from(got.data), Array.from(mine(prev)), `device -> irecv('int32'), ${n}`);
      assert.is(got.status.count, n);
      // host array -> device
      const into = new DeviceBuffer('int32', n);
      const [st5] = await Promise.all([world.irecv(into, prev, 24), world.isend(mine(rank + 7), next, 24)]);
      assert.is(st5.count, n);
      assert.equal(Array.from(into.toArray() as Int32Array), Array.from(mine(prev + 7)), `host -> device irecv, ${n}`);
      // a staged message into a host array too short: MPI's truncation error, and the chunks are drained
      if (n === 5000) {
        const s8 = world.isend(dev, next, 27);
        const e = await rejects(world.irecv(new Int32Array(10), prev, 27), (x) => x instanceof MpiError, 'truncated');
        assert.is(e.code, 'ERR_TRUNCATE');
        await s8;
      }
      if (pair < size) {
        // blocking: device -> host array, device -> recv('int32'), host array -> device, device -> device
        const first = rank % 2 === 0;
        const host2 = new Int32Array(n);
        for (const turn of first ? [0, 1] : [1, 0]) {
          if (turn === 0) {
            world.send(dev, pair, 21);
            world.send(dev, pair, 23);
            world.send(mine(rank + 9), pair, 25);
            world.send(dev, pair, 26);
          } else {
            assert.is(world.recv(host2, ANY_SOURCE, 21).source, pair);
            assert.equal(Array.from(host2), Array.from(mine(pair)), `device -> host recv, ${n}`);
            const got2 = world.recv('int32', pair, 23);
            assert.equal([got2.data.length, got2.data[n - 1]], [n, pair * 100_000 + n - 1], `device -> recv('int32'), ${n}`);
            assert.is(world.recv(into, pair, 25).byteCount, 4 * n);
            assert.equal(Array.from(into.toArray() as Int32Array), Array.from(mine(pair + 9)), `host -> device recv, ${n}`);
            into.fill(0);
            world.recv(into, pair, 26);
            assert.equal(Array.from(into.toArray() as Int32Array), Array.from(mine(pair)), `device -> device recv, ${n}`);
          }
        }
      }
      dev.dispose();
      into.dispose();
    }
    // A host message of exactly 32 bytes that is not a header arrives as it is.
    const plain = Int32Array.from({ length: 8 }, (_, i) => i + rank);
    const back = new Int32Array(8);
    await Promise.all([world.irecv(back, prev, 28), world.isend(plain, next, 28)]);
    assert.equal(Array.from(back), Array.from({ length: 8 }, (_, i) => i + prev));
  } finally {
    gpu.configureStaging({ chunkBytes: 4 << 20 });
  }
});

test('teardown: the shared communicator is disposed explicitly', () => {
  comm().dispose();
  const s = gpu.stats();
  assert.is(s.ops, 0, 'nothing left in flight');
  assert.is(s.ncclComms, 0);
});

test.run();
