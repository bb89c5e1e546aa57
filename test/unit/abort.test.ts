// A failing rank takes the whole job down with a non-zero exit code instead of leaving the others
// waiting forever (abort-on-failure, on by default).
// @timeout 180
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { detectMpi, mpirunCommand } from '../../lib/cli/launcher.js';

const fixture = fileURLToPath(new URL('../fixtures/abort-job.ts', import.meta.url));

function runJob(mode: string, env: Record<string, string> = {}) {
  // Rank 1 fails; with 3 ranks a bystander is stuck too. MPICH must not oversubscribe 2 cores: 2 ranks there.
  const cmd = mpirunCommand({ np: detectMpi().flavour === 'mpich' && os.availableParallelism() < 3 ? 2 : 3, script: fixture, scriptArgs: [mode] });
  // The limit only catches a hang; a correct job ends within a few seconds.
  return spawnSync(cmd.command, cmd.args, { env: { ...cmd.env, ...env }, encoding: 'utf8', timeout: 60_000 });
}

test('uncaught exception on one rank aborts the job, others stuck in recv', () => {
  const r = runJob('throw');
  assert.is(r.error, undefined, 'the job hung');
  assert.ok(r.status !== 0 && r.status !== null, `exit status ${r.status}`);
  assert.match(r.stderr, /rank 1: uncaught exception, aborting the job \(MPI_Abort\)/);
  assert.match(r.stderr, /rank 1 failed on purpose/);
});

test('unhandled rejection on one rank aborts the job', () => {
  const r = runJob('reject');
  assert.is(r.error, undefined, 'the job hung');
  assert.ok(r.status !== 0 && r.status !== null, `exit status ${r.status}`);
  assert.match(r.stderr, /rank 1: unhandled rejection, aborting the job/);
  assert.match(r.stderr, /rank 1 rejected on purpose/);
});

test('MPI_ERRORS_ARE_FATAL on request (world.setErrorsFatal()): an MPI error on one rank aborts the job in MPI', () => {
  const r = runJob('fatal', { MPI4NODE_ABORT_ON_ERROR: '0' });
  assert.is(r.error, undefined, 'the job hung');
  assert.ok(r.status !== 0 && r.status !== null, `exit status ${r.status}`);
  assert.not.match(r.stdout, /survived/);
  assert.not.match(r.stderr, /aborting the job/, 'MPI aborted it, not the library');
});

test('opt-out (MPI4NODE_ABORT_ON_ERROR=0) leaves it to Node and the launcher', () => {
  const r = runJob('throw', { MPI4NODE_ABORT_ON_ERROR: '0' });
  assert.is(r.error, undefined, 'the job hung');
  assert.ok(r.status !== 0, `exit status ${r.status}`);
  assert.not.match(r.stderr, /aborting the job/);
  assert.match(r.stderr, /rank 1 failed on purpose/);
});

test.run();
