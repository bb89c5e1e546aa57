// Object collectives under mpirun with 1-4 ranks: structured-clone values on the private duplicate.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { world, ANY_SOURCE, ANY_TAG } from '../../lib/index.js';
import { range, thrown } from './coll-util.js';

const rank = world.rank, size = world.size;

const valueOf = (r: number) => ({
  rank: r,
  name: `rank-${r}`.repeat(r + 1),
  nested: { list: range(r + 2), map: new Map([[r, 'x']]), set: new Set([r]) },
  when: new Date(1_700_000_000_000 + r),
  big: BigInt(r) * 10n ** 20n,
  bytes: new Float32Array([r, r + 0.5]),
  nothing: null,
  re: /a+b/g,
});

test('bcastObject from each root: every rank gets a structured clone, the root its own object', () => {
  for (let root = 0; root < size; root++) {
    const mine = valueOf(rank);
    const got = world.bcastObject(rank === root ? mine : (undefined as unknown as typeof mine), root);
    assert.equal(got, valueOf(root));
    if (rank === root) assert.is(got, mine);
    assert.instance(got.bytes, Float32Array);
    assert.instance(got.nested.map, Map);
  }
  assert.is(world.bcastObject('just a string'), 'just a string');
  assert.is(world.bcastObject(undefined), undefined);
});

test('gatherObject at each root, allgatherObject, scatterObject from each root', () => {
  for (let root = 0; root < size; root++) {
    const g = world.gatherObject(valueOf(rank), root);
    if (rank === root) assert.equal(g, range(size).map(valueOf));
    else assert.is(g, undefined);
    const objs = rank === root ? range(size, (r) => ({ to: r, from: root, pad: 'p'.repeat(r * 1000) })) : null;
    const s = world.scatterObject(objs, root);
    assert.equal(s, { to: rank, from: root, pad: 'p'.repeat(rank * 1000) });
  }
  const all = world.allgatherObject({ r: rank, big: 'x'.repeat(rank * 100_000) });
  assert.equal(all, range(size).map((r) => ({ r, big: 'x'.repeat(r * 100_000) })));
});

test('a value that cannot be serialized fails on every rank; the communicator stays usable', () => {
  const fn = () => 1;
  for (let root = 0; root < size; root++) {
    const e = thrown(() => world.bcastObject(rank === root ? { fn } : null, root));
    assert.is(e.code, 'ERR_SERIALIZE');
    const a = thrown(() => world.allgatherObject(rank === root ? fn : rank));
    assert.is(a.code, 'ERR_SERIALIZE');
    assert.match(a.message, rank === root ? /this rank/ : new RegExp(`rank ${root}`));
    if (size > 1) { // the root's own entry is never serialized
      const s = thrown(() => world.scatterObject(rank === root ? range(size, (r) => (r === (root + 1) % size ? fn : r)) : null, root));
      assert.is(s.code, 'ERR_SERIALIZE');
    }
    // gather: only the failing rank and the root can know (the root's own entry is never serialized)
    if (size === 1) continue;
    const bad = (root + 1) % size;
    let ge: any;
    try {
      world.gatherObject(rank === bad ? fn : rank, root);
    } catch (err) {
      ge = err;
    }
    if (rank === bad || rank === root) assert.is(ge?.code, 'ERR_SERIALIZE');
    else assert.is(ge, undefined);
  }
  const wrong = thrown(() => world.scatterObject(rank === 0 ? [1] .concat(range(size)) : null, 0));
  assert.is(wrong.code, rank === 0 ? 'ERR_COUNTS' : 'ERR_SERIALIZE');
  assert.equal(world.allgatherObject(rank), range(size));
});

test('object collectives never match the user\'s own wildcard receives', async () => {
  const c = world.dup();
  const pending = c.irecv(new Uint8Array(64), ANY_SOURCE, ANY_TAG);
  c.bcastObject({ hello: 1 });
  c.allgatherObject(rank);
  c.gatherObject(rank);
  c.scatterObject(rank === 0 ? range(size) : null);
  assert.is(pending.test(), false);
  pending.cancel();
  assert.is((await pending).cancelled, true);
  c.free();
});

test('Promise forms: the same values as the blocking ones; several started at once keep their order', async () => {
  for (let root = 0; root < size; root++) {
    const got = await world.ibcastObject(rank === root ? valueOf(root) : null, root);
    assert.equal(got, valueOf(root));
    const g = await world.igatherObject(valueOf(rank), root);
    if (rank === root) assert.equal(g, range(size, valueOf));
    else assert.is(g, undefined);
    const s = await world.iscatterObject(rank === root ? range(size, (r) => ({ to: r, from: root })) : null, root);
    assert.equal(s, { to: rank, from: root });
  }
  const [a, b, c] = await Promise.all([world.iallgatherObject(rank), world.ibcastObject(rank === 0 ? 'x' : null), world.iallgatherObject(-rank)]);
  assert.equal(a, range(size));
  assert.is(b, 'x');
  assert.equal(c, range(size, (r) => -r));
});

test('Promise forms leave the event loop running: timers fire while a late root is awaited', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const late = rank === 0 ? new Promise((r) => setTimeout(r, 200)) : Promise.resolve();
  await late;
  const got = await world.iallgatherObject({ r: rank });
  clearInterval(timer);
  assert.equal(got, range(size, (r) => ({ r })));
  if (rank !== 0) assert.ok(ticks > 3, `only ${ticks} timer ticks while waiting`);
  const e = await world.ibcastObject(() => 1).then(() => undefined, (x) => x);
  assert.is(e.code, 'ERR_SERIALIZE');
  assert.is(await world.ibcastObject(7), 7, 'usable afterwards');
});

test('bad root: ERR_ROOT', () => {
  for (const m of ['bcastObject', 'gatherObject', 'scatterObject'] as const) {
    const e = thrown(() => (world as any)[m](null, size));
    assert.instance(e, RangeError);
    assert.is(e.code, 'ERR_ROOT');
  }
});

test.run();
