// Bad input gets a coded error of the vocabulary (lib/core/codes.ts) before MPI is touched, case by
// case: the ones a new user hit (issue 16). test/unit/api-fuzz.test.ts walks every export at random.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { init, testAll, waitAll, waitAny, world } from '../../lib/index.js';
import { thrown } from '../thrown.js';

const PROC_NULL = -2; // checked against the library's below, once MPI is up

// First, before any buffer has been used: the fast path's cache is empty then (issue 16: `send(undefined)`
// read `byteLength` of an empty cache slot, and only after eight buffers had been used was it ERR_INVALID_BUFFER).
const p2p: [string, () => unknown][] = [
  ['send', () => world.send(undefined as any, 0)],
  ['ssend', () => world.ssend(undefined as any, 0)],
  ['isend', () => world.isend(undefined as any, 0)],
  ['issend', () => world.issend(undefined as any, 0)],
  ['recv', () => world.recv(undefined as any, 0)],
  ['irecv', () => world.irecv(undefined as any, 0)],
  ['irecv(null)', () => world.irecv(null as any, 0)],
  ['sendrecv', () => world.sendrecv(undefined as any, 0, new Int32Array(1), 0)],
  ['sendrecv recvbuf', () => world.sendrecv(new Int32Array(1), 0, undefined as any, 0)],
  ['sendrecvReplace', () => world.sendrecvReplace(undefined as any, 0, 0)],
];

test('in a fresh process, every point-to-point call given no buffer: ERR_INVALID_BUFFER', () => {
  for (const [name, call] of p2p) {
    const e = thrown(call);
    assert.instance(e, TypeError, name);
    assert.is(e.code, 'ERR_INVALID_BUFFER', `${name}: ${e.message}`);
  }
});

test('the same once the fast path has cached arrays', () => {
  for (let i = 0; i < 10; i++) world.isend(new Float64Array(i + 1), world.rank, 1).wait(), world.recv(new Float64Array(i + 1), world.rank, 1);
  for (const [name, call] of p2p) assert.is(thrown(call).code, 'ERR_INVALID_BUFFER', name);
  assert.is(world.isend(new Int8Array(1), PROC_NULL).wait().source, PROC_NULL, 'still usable');
});

test('channel payloads that cannot be serialized: ERR_SERIALIZE, as bcastObject says', () => {
  const ch = world.channel('bad-payloads', { version: '1.0' });
  for (const bad of [() => 1, Symbol('s'), { f: () => 1 }]) {
    for (const send of [() => ch.send(0, bad), () => ch.isend(0, bad)]) {
      const e = thrown(send);
      assert.is(e.code, 'ERR_SERIALIZE', e.message);
      assert.match(e.message, /cannot be serialized/);
    }
  }
  assert.is(thrown(() => world.bcastObject(() => 1, 0)).code, 'ERR_SERIALIZE');
  void ch.close();
});

test('a detached array sent on a channel: ERR_DETACHED_BUFFER, not V8\'s message', () => {
  const ch = world.channel('detached', { version: '1.0' });
  const a = new Float64Array(4);
  structuredClone(a.buffer, { transfer: [a.buffer] });
  for (const message of [a, { dtype: 'float64', data: a }, { nested: a }]) {
    const e = thrown(() => ch.send(0, message));
    assert.instance(e, TypeError);
    assert.is(e.code, 'ERR_DETACHED_BUFFER', e.message);
  }
  void ch.close();
});

test('waitAll, waitAny, testAll of anything but an array of Requests: ERR_INVALID_ARG_TYPE', () => {
  for (const call of [() => waitAll([1, 2] as any), () => testAll(null as any), () => waitAny('x' as any), () => waitAll([world] as any)]) {
    const e = thrown(call);
    assert.instance(e, TypeError);
    assert.is(e.code, 'ERR_INVALID_ARG_TYPE', e.message);
  }
});

test('channel names: coded errors', () => {
  const cases: [unknown, Function, string][] = [
    ['', RangeError, 'ERR_INVALID_ARG_VALUE'], ['x'.repeat(300), RangeError, 'ERR_INVALID_ARG_VALUE'],
    [5, TypeError, 'ERR_INVALID_ARG_TYPE'], ['\ud800', TypeError, 'ERR_INVALID_ARG_TYPE'],
  ];
  for (const [name, Kind, code] of cases) {
    const e = thrown(() => world.channel(name as string, { version: '1.0' }));
    assert.instance(e, Kind, String(e));
    assert.is(e.code, code, e.message);
  }
});

test('init: bad options are coded; a higher thread level once MPI runs says what initialised it', () => {
  assert.is(thrown(() => init(null as any)).code, 'ERR_INVALID_ARG_TYPE');
  assert.is(thrown(() => init({ threadLevel: 'bogus' as any })).code, 'ERR_INVALID_ARG_VALUE');
  assert.is(thrown(() => init({ abortOnError: 'yes' as any })).code, 'ERR_INVALID_ARG_TYPE');
  assert.is(init({ threadLevel: 'single' }), 'single', 'the level MPI has: fine');
  const e = thrown(() => init({ threadLevel: 'multiple' }));
  assert.is(e.code, 'ERR_MPI_INITIALIZED', e.message);
  assert.match(e.message, /already initialised at thread level 'single' \(implicitly, by the first MPI call, at .*bad-input\.test\.ts:\d+/);
  assert.match(e.message, /call init\(\{ threadLevel: 'multiple' \}\) before anything else uses MPI/);
});

test('PROC_NULL is the library\'s', async () => {
  const { PROC_NULL: p } = await import('../../lib/index.js');
  assert.is(p, PROC_NULL);
});

test.run();
