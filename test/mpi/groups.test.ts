// Groups, Info hints and error hooks under mpirun with 1-4 ranks: comm.group, incl/excl/ranges, set
// operations, translateRanks, compare, comm.createGroup for pipeline stages (only the stage's ranks
// call it), Info objects and their bad keys, comm.onError in both call styles, setErrorsFatal(false).
// MPI_ERRORS_ARE_FATAL aborting a job is in test/unit/abort.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { world, Group, Info, MpiError } from '../../lib/index.js';
import { thrown } from '../thrown.js';

const rank = world.rank, size = world.size;
const all = Array.from({ length: size }, (_, r) => r);

test('comm.group: size, rank, incl/excl/rangeIncl/rangeExcl, translateRanks', () => {
  const g = world.group();
  assert.instance(g, Group);
  assert.is(g.size, size);
  assert.is(g.rank, rank);
  const rev = g.incl([...all].reverse());
  assert.is(rev.rank, size - 1 - rank);
  assert.equal(rev.translateRanks(all, g), [...all].reverse());
  const odd = g.excl(all.filter((r) => r % 2 === 0));
  assert.is(odd.size, size >> 1);
  assert.is(odd.rank, rank % 2 === 1 ? rank >> 1 : undefined);
  const even = g.rangeIncl([[0, size - 1, 2]]);
  assert.equal(even.translateRanks(Array.from({ length: even.size }, (_, i) => i), g), all.filter((r) => r % 2 === 0));
  assert.is(g.rangeExcl([[0, size - 1, 2]]).compare(odd), 'ident');
  assert.equal(g.rangeIncl([[size - 1, 0, -1]]).translateRanks([0], g), [size - 1]);
  // A rank of g that is not in odd translates to undefined.
  assert.equal(g.translateRanks([0], odd), [undefined]);
  for (const x of [rev, odd, even]) x.free();
  g.free();
  assert.ok(g.freed);
  g.free(); // twice: a no-op
});

test('set operations and compare: ident, similar, unequal', () => {
  const g = world.group();
  const even = g.incl(all.filter((r) => r % 2 === 0));
  const odd = g.incl(all.filter((r) => r % 2 === 1));
  const u = even.union(odd);
  assert.is(u.size, size);
  assert.is(u.compare(g), size <= 2 ? 'ident' : 'similar');
  assert.is(even.intersection(odd).size, 0);
  assert.is(g.difference(odd).compare(even), 'ident');
  assert.is(g.compare(g), 'ident');
  assert.is(g.incl([...all].reverse()).compare(g), size === 1 ? 'ident' : 'similar');
  if (size > 1) assert.is(even.compare(g), 'unequal');
  for (const x of [even, odd, u]) x.free();
  g.free();
});

test('createGroup: pipeline stages of two ranks each talk among themselves while world goes on', () => {
  const stage = rank >> 1;
  const g = world.group();
  const mine = g.incl(all.filter((r) => r >> 1 === stage));
  const c = world.createGroup(mine, 7 + stage);
  assert.is(c.size, mine.size);
  assert.is(c.rank, rank & 1);
  const sum = c.allreduce(new Int32Array([rank]), 'sum')[0];
  assert.is(sum, all.filter((r) => r >> 1 === stage).reduce((a, b) => a + b, 0));
  c.free();
  // Not in the group: refused before MPI (MPI would hang).
  if (size > 1) {
    const other = g.incl([rank === 0 ? 1 : 0]);
    const e = thrown(() => world.createGroup(other));
    assert.is(e.code, 'ERR_NOT_IN_GROUP');
    other.free();
  }
  // A group of processes outside the communicator: a group of world made on a sub-communicator.
  if (size > 1) {
    const half = world.split(rank === 0 ? 0 : 1)!;
    const e = thrown(() => half.createGroup(g));
    assert.instance(e, RangeError);
    assert.is(e.code, 'ERR_GROUP', e.message);
    half.free();
  }
  mine.free();
  g.free();
  world.barrier();
});

test('groups: bad inputs', () => {
  const g = world.group();
  for (const ranks of [[size], [-1], [0.5]]) {
    const e = thrown(() => g.incl(ranks));
    assert.ok(e.code === 'ERR_RANK' || e.code === 'ERR_INVALID_RANK', e.code);
  }
  assert.is(thrown(() => g.incl([0, 0])).code, 'ERR_DUPLICATE_RANK');
  assert.is(thrown(() => g.excl('0' as any)).code, 'ERR_INVALID_ARG_TYPE');
  assert.is(thrown(() => g.rangeIncl([[0, size - 1, 0]])).code, 'ERR_INVALID_ARG_VALUE');
  if (size > 1) assert.is(thrown(() => g.rangeIncl([[size - 1, 0, 1]])).code, 'ERR_INVALID_ARG_VALUE');
  assert.is(thrown(() => g.translateRanks([size], g)).code, 'ERR_RANK');
  assert.is(thrown(() => g.union({} as any)).code, 'ERR_INVALID_ARG_TYPE');
  assert.is(thrown(() => world.createGroup(g, -1)).code, 'ERR_TAG');
  const h = g.incl([0]);
  h.free();
  assert.is(thrown(() => h.size).code, 'ERR_GROUP_FREED');
  assert.is(thrown(() => g.union(h)).code, 'ERR_GROUP_FREED');
  assert.is(g.size, size, 'still usable');
  g.free();
});

test('Info: set/get/has/delete/keys/dup/toObject; bad keys and values; freed', () => {
  const info = new Info({ cb_nodes: 2, striping_unit: '1048576', collective_buffering: true });
  assert.is(info.size, 3);
  assert.is(info.get('cb_nodes'), '2');
  assert.is(info.get('collective_buffering'), 'true');
  assert.is(info.get('nope'), undefined);
  assert.ok(info.has('striping_unit'));
  assert.ok(info.delete('striping_unit'));
  assert.not.ok(info.delete('striping_unit'));
  info.set('a', 'b');
  assert.equal(info.keys().sort(), ['a', 'cb_nodes', 'collective_buffering']);
  const d = info.dup();
  info.set('a', 'c');
  assert.equal(d.toObject(), { cb_nodes: '2', collective_buffering: 'true', a: 'b' });
  d.free();
  for (const [bad, code] of [[() => info.set('', 'x'), 'ERR_INFO_KEY'], [() => info.set('k'.repeat(300), 'x'), 'ERR_INFO_KEY'],
    [() => info.set(5 as any, 'x'), 'ERR_INFO_KEY'], [() => info.set('k', {} as any), 'ERR_INFO_VALUE'], [() => new Info([] as any), 'ERR_INVALID_ARG_TYPE']] as const) {
    assert.is(thrown(bad).code, code);
  }
  // A hint at split_type.
  const node = world.splitShared(rank, { mpi_hw_resource_type: 'mpi_shared_memory' });
  assert.is(node.size, size);
  node.free();
  info.free();
  assert.is(thrown(() => info.get('a')).code, 'ERR_INFO_FREED');
  info.free();
});

test('onError: the hook sees MPI errors of blocking and Promise calls; what it throws is thrown; removed with undefined', async () => {
  const c = world.dup();
  const seen: string[] = [];
  c.onError((e) => {
    seen.push(e.code);
  });
  const big = new Int32Array(8), small = new Int32Array(4);
  const s1 = c.isend(big, rank, 1);
  const e1 = thrown(() => c.recv(small, rank, 1));
  await s1;
  assert.instance(e1, MpiError);
  assert.is(e1.code, 'ERR_TRUNCATE');
  const s2 = c.isend(big, rank, 2);
  const e2 = await c.irecv(small, rank, 2).then(() => undefined, (e) => e);
  await s2;
  assert.is(e2.code, 'ERR_TRUNCATE');
  assert.equal(seen, ['ERR_TRUNCATE', 'ERR_TRUNCATE']);
  // Argument errors are not MPI's: no hook.
  thrown(() => c.recv(small, size + 5, 1));
  assert.is(seen.length, 2);
  class Mine extends Error {}
  c.onError(() => {
    throw new Mine('replaced');
  });
  const s3 = c.isend(big, rank, 3);
  assert.instance(thrown(() => c.recv(small, rank, 3)), Mine);
  await s3;
  c.onError(undefined);
  const s4 = c.isend(big, rank, 4);
  assert.instance(thrown(() => c.recv(small, rank, 4)), MpiError);
  await s4;
  assert.is(seen.length, 2);
  assert.is(thrown(() => c.onError('x' as any)).code, 'ERR_INVALID_ARG_TYPE');
  c.setErrorsFatal(true);
  c.setErrorsFatal(false); // back to MPI_ERRORS_RETURN: the error is thrown, the job lives
  const s5 = c.isend(big, rank, 5);
  assert.instance(thrown(() => c.recv(small, rank, 5)), MpiError);
  await s5;
  assert.equal(Array.from(c.allreduce(new Int32Array([1]), 'sum')), [size]);
  c.free();
});

test.run();
