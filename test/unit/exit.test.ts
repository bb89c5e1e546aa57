// How a process ends with MPI operations in flight: process.exit(0) never hangs the job, whatever is
// pending (a send nobody receives cannot be cancelled), and a process that only MPI keeps alive says so.
// @timeout 300
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mpirunCommand, tsxImport } from '../../lib/cli/launcher.js';

const fixture = fileURLToPath(new URL('../fixtures/exit-job.ts', import.meta.url));
// Only a hang gets near this; a correct job ends within seconds (slower on a loaded machine).
const HANG_MS = 90_000;

function job(mode: string, np = 2, env: Record<string, string> = {}) {
  const cmd = mpirunCommand({ np, script: fixture, scriptArgs: [mode] });
  const t0 = performance.now();
  const r = spawnSync(cmd.command, cmd.args, { env: { ...cmd.env, ...env }, encoding: 'utf8', timeout: HANG_MS, killSignal: 'SIGKILL' });
  return { ...r, seconds: (performance.now() - t0) / 1000 };
}

test('process.exit(0) with an isend nobody receives: the job ends, status 1, saying what was in flight', () => {
  const r = job('isend');
  assert.is(r.error, undefined, `the job hung (${r.seconds.toFixed(1)} s)`);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /rank 0: exiting without MPI_Finalize, which would wait for ever for an operation still in flight after \d+ ms: isend of 4194304 bytes to rank 1, tag 5, on world; exit status 1/);
});

test('process.exit(0) with a 4 MiB channel isend nobody receives: the same', () => {
  const r = job('channel');
  assert.is(r.error, undefined, `the job hung (${r.seconds.toFixed(1)} s)`);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /rank 0: exiting without MPI_Finalize, .*: send of channel 'big' to rank 1, on world; exit status 1/);
});

test('process.exit(0) with receives pending: they are cancelled and MPI finalizes (status 0)', () => {
  const r = job('irecv');
  assert.is(r.error, undefined, `the job hung (${r.seconds.toFixed(1)} s)`);
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stderr, /without MPI_Finalize/);
});

test('process.exit(0) with persistent requests active: the receive is cancelled, the send named (cancelled or in flight)', () => {
  const r = job('persistent');
  assert.is(r.error, undefined, `the job hung (${r.seconds.toFixed(1)} s)`);
  // Open MPI cannot cancel the send (status 1, MPI_Finalize skipped); MPICH cancels it (status 0).
  if (r.status === 1) assert.match(r.stderr, /rank 0: exiting without MPI_Finalize, .*: isend of 4194304 bytes to rank 1, tag 6, on world; exit status 1/);
  else assert.match(r.stderr, /rank 0: at exit, cancelled 1 send\(s\) never received: isend of 4194304 bytes to rank 1, tag 6, on world/);
  assert.ok(r.status === 0 || r.status === 1, `${r.status}: ${r.stderr}`);
  assert.not.match(r.stderr, /tag 9/);
});

test('process.exit(0) with startAll batches active: the same (their receives cancelled, the send named)', () => {
  const r = job('batch');
  assert.is(r.error, undefined, `the job hung (${r.seconds.toFixed(1)} s)`);
  // Open MPI: the batch's send cannot be cancelled, the batch stays pending; MPICH cancels the send.
  if (r.status === 1) assert.match(r.stderr, /rank 0: exiting without MPI_Finalize, .*: startAll of 2 persistent request\(s\) on world; exit status 1/);
  else assert.match(r.stderr, /rank 0: at exit, cancelled 1 send\(s\) never received: isend of 4194304 bytes to rank 1, tag 6, on world/);
  assert.ok(r.status === 0 || r.status === 1, `${r.status}: ${r.stderr}`);
  assert.not.match(r.stderr, /rank [1-9]: exiting without MPI_Finalize/, 'the other ranks cancelled their batches and finalized');
});

test('unref(): a receive and a serve() loop still waiting do not keep ranks alive; exit finalizes', () => {
  const r = job('ends');
  assert.is(r.error, undefined, `the job hung (${r.seconds.toFixed(1)} s)`);
  assert.is(r.status, 0, r.stderr);
  assert.is((r.stdout.match(/exit 0/g) ?? []).length, 2, r.stdout);
});

test('windows and files still open at the end are released before MPI_Finalize (MPICH aborted on a window)', () => {
  const r = job('open');
  assert.is(r.error, undefined, `the job hung (${r.seconds.toFixed(1)} s)`);
  assert.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.is((r.stdout.match(/exit 0/g) ?? []).length, 2, r.stdout);
});

// A singleton (no launcher) is enough: it is the process's own event loop that matters.
function alone(mode: string, waitFor: RegExp | undefined, ms: number) {
  return new Promise<{ stderr: string; stdout: string; code: number | null; matched: boolean }>((resolve) => {
    const child = spawn(process.execPath, ['--import', tsxImport(), fixture, mode], {
      env: { ...process.env, MPI4NODE_IDLE_WARNING_S: '0.5' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '', stderr = '', matched = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (waitFor && waitFor.test(stderr)) {
        matched = true;
        child.kill('SIGKILL');
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stderr, stdout, code, matched });
    });
  });
}

test('a pending receive with nothing else to do: the process stays alive and says what it waits on', async () => {
  const r = await alone('waits', /nothing but MPI has kept this process alive, waiting on an operation: irecv from rank 0, tag 7, on world\./, 60_000);
  assert.ok(r.matched, `no diagnostic: ${r.stderr}`);
  assert.match(r.stderr, /unref\(\)/);
});

test('an unclosed serve(): the diagnostic names its channel', async () => {
  const r = await alone('serves', /waiting on an operation: serve\(\) of channel 'jobs' from any source, on world\./, 60_000);
  assert.ok(r.matched, `no diagnostic: ${r.stderr}`);
});

test('no diagnostic while something else keeps the process alive (a timer)', async () => {
  const r = await alone('busy', undefined, 60_000);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /cancelled: true/);
  assert.not.match(r.stderr, /kept this process alive/);
});

test.run();
