// The argument checks of the collectives (lib/coll/args.ts, lib/coll/ops.ts), without MPI.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { aliased, alloc, blocks, checkLayout, ints } from '../../lib/coll/args.js';
import { checkRoot } from '../../lib/core/checks.js';
import { DTYPES, dtypeInfo } from '../../lib/core/dtypes.js';
import { AVG, createOp, resolveOp, UserOp } from '../../lib/coll/ops.js';
import { thrown as err } from '../thrown.js';

test('checkRoot: integers in range; RangeError or TypeError ERR_ROOT otherwise', () => {
  assert.is(checkRoot(0, 1, 'f'), 0);
  assert.is(checkRoot(3, 4, 'f'), 3);
  for (const [v, T] of [[4, RangeError], [-1, RangeError], [1.5, TypeError], ['0', TypeError], [NaN, TypeError]] as const) {
    const e = err(() => checkRoot(v, 4, 'bcast'));
    assert.instance(e, T);
    assert.is(e.code, 'ERR_ROOT');
    assert.match(e.message, /^bcast: root/);
  }
});

test('checkLayout: default displacements are the running sum; extent; bounds', () => {
  const l = checkLayout([1, 2, 3], 3, 'f', 'layout');
  assert.equal(Array.from(l.counts), [1, 2, 3]);
  assert.equal(Array.from(l.displs), [0, 1, 3]);
  assert.is(l.extent, 6);
  const g = checkLayout({ counts: new Int32Array([2, 0]), displs: [5, 0] }, 2, 'f', 'layout', 7);
  assert.equal(Array.from(g.displs), [5, 0]);
  assert.is(g.extent, 7);
  assert.is(err(() => checkLayout([1, 2, 3], 3, 'f', 'layout', 5)).code, 'ERR_BUFFER_TOO_SMALL');
  assert.is(err(() => checkLayout({ counts: [1, 1], displs: [0, 5] }, 2, 'f', 'layout', 5)).code, 'ERR_COUNTS');
  assert.is(err(() => checkLayout([1, 2], 3, 'f', 'layout')).code, 'ERR_COUNTS');
  assert.is(err(() => checkLayout([1, -2, 0], 3, 'f', 'layout')).code, 'ERR_COUNTS');
  assert.is(err(() => checkLayout([1, 2 ** 31, 0], 3, 'f', 'layout')).code, 'ERR_COUNTS');
  assert.is(err(() => checkLayout([2 ** 31 - 1, 2 ** 31 - 1, 1], 3, 'f', 'layout')).code, 'ERR_COUNTS'); // displacement > int
  assert.is(err(() => checkLayout(null, 3, 'f', 'layout')).code, 'ERR_COUNTS');
  assert.is(err(() => checkLayout({ counts: [1, 1], displs: [0] }, 2, 'f', 'layout')).code, 'ERR_COUNTS');
});

test('ints, blocks, alloc, aliased', () => {
  assert.instance(ints([1, 2], 2, 'f', 'counts'), Int32Array);
  assert.is(blocks(12, 4, 'f', 'send'), 3);
  assert.is(err(() => blocks(10, 4, 'f', 'send')).code, 'ERR_COUNTS');
  assert.ok(Buffer.isBuffer(alloc(Buffer.alloc(1), 3)));
  assert.instance(alloc(new BigUint64Array(1), 2), BigUint64Array);
  const b = new Float64Array(8);
  assert.is(aliased(b, b, 'f', true), true);
  assert.is(aliased(b.subarray(0, 4), new Float64Array(b.buffer, 0, 4), 'f', true), true);
  assert.is(aliased(b.subarray(0, 4), b.subarray(4), 'f', true), false);
  assert.is(err(() => aliased(b.subarray(0, 4), b.subarray(3), 'f', true)).code, 'ERR_BUFFER_ALIAS');
  assert.is(err(() => aliased(b, b, 'f', false)).code, 'ERR_BUFFER_ALIAS');
  assert.is(aliased(b.subarray(0, 0), b, 'f', false), false);
});

test('resolveOp follows MPI-3.1 §5.9.2; avg on floats; user ops', () => {
  const ints = DTYPES.filter((d) => d.kind !== 'float');
  for (const d of ints) {
    for (const op of ['min', 'max', 'land', 'lor', 'lxor', 'band', 'bor', 'bxor']) assert.type(resolveOp(op, d, 'f'), 'number');
    if (d.name !== 'uint8clamped') assert.is(resolveOp('sum', d, 'f'), 0);
    else assert.is(err(() => resolveOp('sum', d, 'f')).code, 'ERR_OP');
    assert.is(err(() => resolveOp('avg', d, 'f')).code, 'ERR_OP');
  }
  for (const name of ['float32', 'float64'] as const) {
    const d = dtypeInfo(name);
    assert.is(resolveOp('avg', d, 'f'), AVG);
    assert.is(resolveOp('prod', d, 'f'), 1);
    const e = err(() => resolveOp('band', d, 'allreduce'));
    assert.instance(e, TypeError);
    assert.match(e.message, /band.*float/);
  }
  assert.is(err(() => resolveOp('toString', dtypeInfo('int32'), 'f')).code, 'ERR_OP');
  const u = createOp(() => {}, { commutative: true });
  assert.is(resolveOp(u, dtypeInfo('int8'), 'f'), u);
  const bare = resolveOp(() => {}, dtypeInfo('int8'), 'f') as UserOp;
  assert.instance(bare, UserOp);
  assert.is(bare.commutative, false);
  assert.is(err(() => createOp(1 as any)).code, 'ERR_OP');
});

test.run();
