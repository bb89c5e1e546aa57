// The GPU path under other environments, against the fakes (test/fakes/): an NCCL too old for bf16
// and avg (2.9.0, the first version of the new version encoding), MPI treated as CUDA-aware (device
// pointers go straight to MPI: the fake's device memory is host memory, so that really works here),
// and an NCCL whose communicator set-up fails. The libraries load once per process, hence a suite of
// its own.
// @ranks 1,2,3
// @timeout 180
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildFakes } from '../fakes/build.js';
import { PROC_NULL, gpu, world } from '../../lib/index.js';

const fakes = buildFakes();
process.env.MPI4NODE_CUDART = fakes.cudart;
process.env.MPI4NODE_NCCL = fakes.nccl;
process.env.FAKE_NCCL_VERSION = '20900';
process.env.MPI4NODE_CUDA_AWARE = '1';

const rank = world.rank, size = world.size;
const next = (rank + 1) % size, prev = (rank - 1 + size) % size;

function throws(fn: () => unknown, code: string): any {
  try {
    fn();
  } catch (e) {
    assert.is((e as { code?: string }).code, code, (e as Error).message);
    return e;
  }
  assert.unreachable(`did not throw ${code}`);
}

test('an old NCCL: 2.9.0 is decoded from 20900, bf16 and avg are refused with the reason', async () => {
  const s = gpu.status();
  assert.is(s.nccl.versionCode, 20900);
  assert.is(s.nccl.version, '2.9.0');
  assert.equal(s.nccl.features, { bfloat16: false, avg: false, fp8: false, sendRecv: true, nonblocking: true });
  const c = gpu.nccl(world);
  const bf = new gpu.DeviceBuffer('bfloat16', 4).zero();
  const e = throws(() => c.allreduce(bf), 'ERR_NCCL_VERSION');
  assert.instance(e, gpu.NcclError);
  assert.match(e.message, /bfloat16 needs NCCL >= 2\.10\.3, but the NCCL loaded \(.*libfakenccl\.so\) is 2\.9\.0/);
  const f = gpu.DeviceBuffer.from(Float32Array.of(rank, 1));
  throws(() => c.allreduce(f, 'avg'), 'ERR_NCCL_VERSION');
  await c.allreduce(f, 'sum'); // what it has still works
  assert.equal(Array.from(f.toArray() as Float32Array), [(size * (size - 1)) / 2, size]);
  c.dispose();
});

test('CUDA-aware MPI: device pointers go to MPI directly', async () => {
  const a = gpu.mpiCudaAware();
  assert.ok(a.aware);
  assert.match(a.how, /MPI4NODE_CUDA_AWARE=1/);
  const out = gpu.DeviceBuffer.from(Int32Array.from({ length: 1000 }, (_, i) => rank * 10_000 + i));
  const inp = new gpu.DeviceBuffer('int32', 1000);
  const [st] = await Promise.all([gpu.irecv(world, inp, prev, 4), gpu.isend(world, out, next, 4)]);
  assert.is(st.source, prev);
  assert.is(st.count, 1000);
  assert.is((inp.toArray() as Int32Array)[999], prev * 10_000 + 999);
  // blocking, and the Comm methods themselves
  if (size > 1) {
    if (rank === 0) world.send(out as never, 1, 5);
    else if (rank === 1) {
      const s2 = world.recv(inp as never, 0, 5);
      assert.is(s2.byteCount, 4000);
    }
  }
  const n = new gpu.DeviceBuffer('int8', 2);
  assert.is(gpu.recv(world, n, PROC_NULL).source, PROC_NULL);
});

test('a failed NCCL set-up throws NcclError on every rank', () => {
  process.env.FAKE_NCCL_INIT_FAIL = '2';
  try {
    const e = throws(() => gpu.nccl(world), 'ncclSystemError');
    assert.instance(e, gpu.NcclError);
    assert.is(e.ncclResult, 2);
  } finally {
    delete process.env.FAKE_NCCL_INIT_FAIL;
  }
  gpu.nccl(world).dispose(); // and a later one works
});

test.run();
