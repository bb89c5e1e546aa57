// wtime() and wtick() in a process where nothing has initialised MPI yet, and after finalize(). Open
// MPI answers MPI_Wtime before MPI_Init; MPICH ends the process there (exit 1, "Attempting to use an MPI
// routine before initializing"), so the library initialises first, as it does for any first MPI call.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { finalize, finalized, initialized, wtick, wtime } from '../../lib/index.js';
import { thrown } from '../thrown.js';

test('the first wtime() initialises MPI and then reads its clock; wtick() is its resolution', () => {
  assert.is(initialized(), false, 'nothing initialised MPI before this test');
  const t0 = wtime();
  assert.is(initialized(), true);
  assert.type(t0, 'number');
  assert.ok(Number.isFinite(t0) && t0 >= 0, String(t0));
  const t1 = wtime();
  assert.ok(t1 >= t0, `${t1} >= ${t0}`);
  const tick = wtick();
  assert.ok(tick > 0 && tick < 1, String(tick));
});

test('after finalize(), wtime() and wtick() throw a typed error and the process goes on', () => {
  finalize();
  assert.is(finalized(), true);
  for (const f of [wtime, wtick]) {
    const e: any = thrown(f);
    const { code, message } = e ?? {};
    assert.ok(e instanceof Error, `${f.name}: ${String(e)}`);
    assert.is(code, 'ERR_MPI_FINALIZED', `${f.name}: ${code}`);
    assert.match(message, /final/i, `${f.name}: ${message}`);
  }
  assert.ok(Number.isFinite(performance.now()), 'still running');
});

test.run();
