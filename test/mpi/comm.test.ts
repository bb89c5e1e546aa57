// Communicator management and the MPI environment under mpirun with 1-4 ranks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  world, self, ANY_SOURCE, ANY_TAG, init, initialized, finalized, threadLevel, wtime, wtick, version,
  libraryVersion, processorName, Comm,
} from '../../lib/index.js';

const rank = world.rank, size = world.size;

test('environment queries', () => {
  assert.ok(initialized());
  assert.not.ok(finalized());
  assert.is(init(), threadLevel()); // idempotent
  assert.ok(['single', 'funneled', 'serialized', 'multiple'].includes(threadLevel()));
  const t0 = wtime();
  assert.type(t0, 'number');
  assert.ok(wtime() >= t0);
  assert.ok(wtick() > 0 && wtick() < 1);
  const v = version();
  assert.ok(v.major >= 3, `MPI ${v.major}.${v.minor}`);
  assert.match(libraryVersion(), /Open MPI|MPICH|MVAPICH|Intel/);
  assert.ok(processorName().length > 0);
  assert.is(self.size, 1);
  assert.is(self.rank, 0);
});

test('dup: same group, congruent, and a separate message space', () => {
  const d = world.dup();
  assert.is(d.size, size);
  assert.is(d.rank, rank);
  assert.is(d.compare(world), 'congruent');
  assert.is(world.compare(world), 'ident');
  // A message on the dup is not seen by a wildcard receive on world.
  const next = (rank + 1) % size, prev = (rank - 1 + size) % size;
  d.isend(new Int32Array([rank]), next, 1);
  assert.is(world.iprobe(ANY_SOURCE, ANY_TAG), undefined);
  const b = new Int32Array(1);
  d.recv(b, prev, 1);
  assert.is(b[0], prev);
  d.free();
  assert.ok(d.freed);
  assert.throws(() => d.send(b, 0), (e: any) => e.code === 'ERR_COMM_FREED');
  assert.throws(() => world.free(), (e: any) => e.code === 'ERR_COMM_PREDEFINED');
});

test('split by parity, ordered by key; undefined color gives null', () => {
  const half = world.split(rank % 2, -rank);
  assert.ok(half);
  const members = Math.ceil((size - (rank % 2)) / 2);
  assert.is(half!.size, members);
  // key = -rank reverses the order within each colour
  const sameColour = Array.from({ length: size }, (_, r) => r).filter((r) => r % 2 === rank % 2).reverse();
  assert.is(half!.rank, sameColour.indexOf(rank));
  assert.is(half!.compare(world), size === 1 ? 'congruent' : 'unequal');
  half!.free();
  const only0 = world.split(rank === 0 ? 0 : undefined);
  if (rank === 0) {
    assert.ok(only0 instanceof Comm);
    assert.is(only0!.size, 1);
    only0!.free();
  } else {
    assert.is(only0, null);
  }
  assert.throws(() => world.split(-3), RangeError);
});

test('splitShared: all ranks of this job share one node here', () => {
  const node = world.splitShared();
  assert.is(node.size, size);
  assert.is(node.rank, rank);
  assert.ok(['ident', 'congruent'].includes(node.compare(world)));
  node.free();
});

test('library traffic on the private duplicate never matches user receives', () => {
  const internal = world._handle(true);
  assert.is.not(internal, world._handle(false));
  const d = world.dup();
  assert.is.not(d._handle(true), d._handle(false));
  d.free();
});

test.run();
