// The examples of `npm run demo`, run as a user runs them (`mpi4node run -n N`), on whichever MPI the
// test runner selected: 4 ranks on Open MPI, 2 on MPICH (which must not oversubscribe the cores).
// @timeout 300
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { addonAbi } from '../../lib/addon/load.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = fileURLToPath(new URL('../../bin/mpi4node.js', import.meta.url));
const np = addonAbi() === 'mpich' ? 2 : 4;

function run(example: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [cli, 'run', '-n', String(np), `examples/${example}`, ...args], {
    cwd: root, encoding: 'utf8', timeout: 120_000,
  });
  assert.is(r.status, 0, `exit ${r.status} ${r.signal ?? ''}\n${r.stdout}\n${r.stderr}`.slice(-4000));
  return r.stdout;
}

test(`demo at ${np} ranks: roll call, ring and a receive of unknown size`, () => {
  const out = run('demo.ts');
  assert.match(out, new RegExp(`mpi4node demo: ${np} ranks`));
  for (let r = 0; r < np; r++) assert.match(out, new RegExp(`rank ${r} on `));
  const ring = /sum of ranks = (\d+) \(expected (\d+)\)/.exec(out);
  assert.ok(ring, out);
  assert.is(ring![1], ring![2]);
  assert.match(out, new RegExp(`received 100000 float32 from rank ${np - 1} \\(last = 49999.5\\)`));
  assert.match(out, /demo done/);
});

test(`agents at ${np} ranks: the verifier catches every injected mistake`, () => {
  const out = run('agents.ts');
  const caught = /verifier caught (\d+) of (\d+) injected mistakes in (\d+) answers/.exec(out);
  assert.ok(caught, out);
  assert.is(caught![1], caught![2]);
  assert.ok(Number(caught![3]) > 0, out);
});

test(`checkpoint at ${np} ranks: every shard written to one file collectively and read back intact`, () => {
  const out = run('checkpoint.ts');
  const words = Array.from({ length: np }, (_, r) => 1000 + 337 * r).reduce((a, b) => a + b, 0);
  assert.match(out, `checkpoint: ${np} ranks wrote ${words} float32 parameters`);
  assert.match(out, `read back intact on ${np} of ${np} ranks`);
});

test(`heat at ${np} ranks: the stencil on a cartesian grid equals the serial run bitwise`, () => {
  const out = run('heat.ts');
  assert.match(out, /heat: 61x47 plate, 500 steps on a \d+x\d+ grid of ranks/);
  assert.match(out, 'max |parallel - serial| = 0 (bitwise equal to the serial run)');
});

test(`train at ${np} ranks: TF.js data-parallel, weights bitwise equal after every step, loss = one-process run`, () => {
  const out = run('train.ts', '--check');
  assert.match(out, new RegExp(`${np} ranks, 20 steps: loss [0-9.]+ -> [0-9.]+ \\(weights bitwise equal on every rank after every step; loss curve = one-process full batch within 1e-4\\)`));
  assert.match(out, /model\.fit, 5 epochs through distributedOptimizer\(\): loss [0-9.]+, weights bitwise equal on every rank/);
});

test('verify-pool with 2 spawned, authenticated verifiers, then a rolling upgrade of spawned provers (Open MPI; MPICH ch4:ucx refuses with a coded error)', () => {
  const r = spawnSync(process.execPath, [cli, 'run', '-n', '1', 'examples/verify-pool.ts', '--spawn', '2', '--auth'], {
    cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, MPI4NODE_AUTH_KEY: '1:00112233445566778899aabbccddeeff' },
  });
  if (addonAbi() === 'mpich') {
    assert.is.not(r.status, 0);
    assert.match(r.stderr, /ERR_UNSUPPORTED_OPERATION[\s\S]*ch4:ucx|ch4:ucx[\s\S]*ERR_UNSUPPORTED_OPERATION/);
    return;
  }
  assert.is(r.status, 0, `exit ${r.status} ${r.signal ?? ''}\n${r.stdout}\n${r.stderr}`.slice(-4000));
  assert.match(r.stdout, 'verify-pool: 40 claims, wrong: [4, 13, 22, 31]');
  assert.match(r.stdout, '2 spawned verifier process(es), none of them this one: true, every message signed');
  assert.match(r.stdout, 'rolling upgrade: 10 claims answered in 1.0, 10 in 2.0 (ids 10..19), wrong: [5, 12, 19]; ' +
    'after retiring 1.x a 1.0 request got RemoteError (SchemaMismatchError)');
});

test.run();
