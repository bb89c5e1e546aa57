// Dynamic processes under mpirun with 1-4 ranks: every rank spawns two Node children
// (test/fixtures/spawn-child.ts, which mirrors each step) and uses the intercommunicator for
// point-to-point, bcast/allreduce/gather/barrier with ROOT/PROC_NULL roots, a channel's request/reply,
// merge, and accept/connect on a port; then a pool over spawned workers; then the bad inputs.
// MPICH 4.0.2 (ch4:ucx) has no dynamic processes: there each of these is ERR_UNSUPPORTED_OPERATION.
// @timeout 90
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { world, self, parent, openPort, closePort, Intercomm, ROOT, PROC_NULL } from '../../lib/index.js';
import { C } from '../../lib/addon/binding.js';
import { thrown } from './chan-util.js';

const CHILD = new URL('../fixtures/spawn-child.ts', import.meta.url);
const TASKS = new URL('../fixtures/pool-tasks.ts', import.meta.url).href;
const rank = world.rank, size = world.size;
const openmpi = C.IMPLEMENTATION === 'openmpi';

test('parent() is null in a process mpirun started', () => {
  assert.is(parent(), null);
});

if (!openmpi) {
  test('MPICH (ch4:ucx): spawn, accept, connect and openPort are ERR_UNSUPPORTED_OPERATION, naming the device', () => {
    for (const f of [() => world.spawnNode(CHILD, [String(size)], 2), () => openPort()]) {
      const e = thrown(f);
      assert.is(e.code, 'ERR_UNSUPPORTED_OPERATION');
      assert.match(e.message, 'ch4:ucx');
    }
    assert.is(thrown(() => world.pool({ spawn: 2 })).code, 'ERR_UNSUPPORTED_OPERATION');
    // The process is usable afterwards.
    assert.is(world.allreduce(Int32Array.of(1))[0], size);
  });
} else {
  test('spawn: point-to-point, collectives, a channel, merge, accept/connect, disconnect', async () => {
    const kids = world.spawnNode(CHILD, [String(size)], 2);
    assert.instance(kids, Intercomm);
    assert.ok(kids.isInter);
    assert.is(kids.size, size);
    assert.is(kids.remoteSize, 2);
    assert.is(kids.rank, rank);
    const [local, remote] = [kids.group(), kids.remoteGroup()];
    assert.equal([local.size, remote.size], [size, 2]);
    local.free();
    remote.free();

    // Point-to-point: ranks name the children.
    if (rank === 0) for (let c = 0; c < 2; c++) kids.send(Int32Array.of(c * 10), c, 1);
    for (let c = 0; c < 2; c++) assert.is(kids.recv('int32', c, 2).data[0], c * 10 + rank);

    // bcast: ROOT at the root, PROC_NULL at the rest of its group.
    kids.bcast(Float64Array.of(1.5, 2, 3), rank === 0 ? ROOT : PROC_NULL);
    // allreduce: each group gets the other's reduction (children 1 + 2).
    assert.is(kids.allreduce(Int32Array.of(rank + 1))[0], 3);
    // gather to parent 0 from the children, then to child 0 from the parents.
    const g = kids.gather(undefined, rank === 0 ? ROOT : PROC_NULL, new Float64Array(2));
    if (rank === 0) assert.equal(Array.from(g!), [1.5, 2.5]);
    else assert.is(g, undefined);
    kids.gather(Int32Array.of(rank), 0);
    kids.barrier();
    if (rank === 0) {
      // what each child's allreduce got: the parents' ranks + 1, summed
      for (let c = 0; c < 2; c++) assert.is(kids.recv('int32', c, 3).data[0], (size * (size + 1)) / 2);
    }

    // A channel's request/reply to the children; then stop their server.
    const ch = kids.channel<{ x: number }>('dyn/echo', { version: 1 });
    if (rank === 0) {
      for (let c = 0; c < 2; c++) {
        const reply = await ch.request<{ x: number; child: number; from: number }>(c, { x: 21 + c }, { timeoutMs: 20000 });
        assert.equal(reply.message, { x: 42 + 2 * c, child: c, from: 0 });
        assert.is(reply.source, c);
      }
      for (let c = 0; c < 2; c++) await ch.isend(c, { x: 0 });
    }
    ch.close();

    // merge: parents (high=false) first.
    const merged = kids.merge(false);
    assert.is(merged.size, size + 2);
    assert.is(merged.rank, rank);
    assert.not.ok(merged.isInter);
    // What assumes one group is refused on the intercommunicator, not computed wrong.
    assert.is(thrown(() => kids.allgather(Int32Array.of(1))).code, 'ERR_INTERCOMM');
    assert.is(thrown(() => kids.split(0)).code, 'ERR_INTERCOMM');
    assert.is(merged.allreduce(Int32Array.of(1))[0], size + 2);
    if (rank === 0) {
      for (let c = 0; c < 2; c++) {
        const m = merged.recv('int32', size + c, 4).data;
        assert.equal(Array.from(m), [size + 2, size + c, size + 2]);
      }
    }

    // A port: the parents accept, the children connect.
    const port = rank === 0 ? openPort() : '';
    if (rank === 0) for (let c = 0; c < 2; c++) kids.send(new TextEncoder().encode(port), c, 5);
    const conn = world.accept(port);
    assert.is(conn.remoteSize, 2);
    if (rank === 0) {
      const seen = [conn.recv('int32', undefined, 6).data[0], conn.recv('int32', undefined, 6).data[0]];
      assert.equal(seen.sort(), [0, 1]);
      closePort(port);
    }
    conn.disconnect();
    merged.free();
    kids.disconnect();

    // Operations on a disconnected intercommunicator are coded errors.
    for (const f of [() => kids.send(Int32Array.of(1), 0), () => kids.remoteSize, () => kids.barrier(), () => kids.disconnect(),
      () => kids.merge(), () => kids.remoteGroup(), () => kids.irecv(new Int32Array(1), 0)]) {
      assert.is(thrown(f).code, 'ERR_COMM_DISCONNECTED');
    }
  });

  test('a pool over spawned workers: only they run tasks; remote errors; shutdown disconnects', async () => {
    const pool = world.pool({ spawn: 2, maxQueue: 4 });
    if (pool.isRoot) {
      assert.equal(await pool.map<number>(TASKS, [1, 2, 3, 4, 5]), [1, 4, 9, 16, 25]);
      const where = await Promise.all([0, 1].map((i) => pool.submit<{ x: number; rank: number }>(TASKS, [30, i], 'slow')));
      // pool-tasks' rank is the worker's rank in its own world (0 or 1): the two spawned workers
      assert.equal(where.map((w) => w.rank).sort(), [0, 1]);
      const err: any = await pool.submit(TASKS, ['from a worker'], 'fail').catch((e: unknown) => e);
      assert.is(err.remote.name, 'RangeError');
      await pool.shutdown();
    }
    await pool.done;
  });
}

test('bad inputs: coded errors before MPI is touched, the communicator still usable', () => {
  assert.is(thrown(() => world.spawn('/nonexistent/mpi4node-no-such-command', [], 1)).code, 'ERR_SPAWN_COMMAND');
  assert.is(thrown(() => world.spawn('mpi4node-no-such-command-on-path', [], 1)).code, 'ERR_SPAWN_COMMAND');
  assert.is(thrown(() => world.spawnNode('/nonexistent/child.ts', [], 1)).code, 'ERR_SPAWN_COMMAND');
  assert.is(thrown(() => world.spawn('/tmp', [], 1)).code, 'ERR_SPAWN_COMMAND', 'a directory');
  assert.is(thrown(() => world.spawn(CHILD.pathname, [], 1)).code, 'ERR_SPAWN_COMMAND', 'a file without execute permission');
  for (const n of [0, -1, 1.5, NaN, 1e9, '2']) assert.is(thrown(() => world.spawn('node', [], n as number)).code, 'ERR_INVALID_ARG_VALUE');
  assert.is(thrown(() => world.spawn('node', 'x' as never, 1)).code, 'ERR_INVALID_ARG_TYPE');
  assert.is(thrown(() => world.spawn('node', [], 1, { root: size })).code, 'ERR_ROOT');
  assert.is(thrown(() => self.connect('')).code, 'ERR_PORT');
  for (const p of ['garbage-port', '1.0', 42]) {
    const e = thrown(() => world.connect(p as string));
    assert.ok(e.code === 'ERR_PORT' || e.code === 'ERR_INVALID_ARG_TYPE', `${String(p)}: ${e.code}`);
  }
  assert.is(thrown(() => self.accept('nope')).code, 'ERR_PORT');
  assert.is(thrown(() => closePort('nope')).code, 'ERR_PORT');
  assert.is(thrown(() => world.pool({ spawn: 0 })).code, 'ERR_INVALID_ARG_VALUE');
  assert.is(world.allreduce(Int32Array.of(1))[0], size);
});

test.run();
