// @timeout 300
// Worker environments torn down under valgrind: no read or write of memory Node has already freed. The
// addon's per-environment objects outlive their napi_env by a few loop turns (their uv handles close
// after it is gone), and a Napi reference released then wrote into the freed env; in ordinary runs that
// showed only now and then, as a SIGSEGV or a `free(): invalid pointer` abort in some later teardown.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildFakes } from '../fakes/build.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = path.join(root, 'test/fixtures/worker-teardown.mjs');

const hasValgrind = spawnSync('valgrind', ['--version']).status === 0;

function memcheck(env: NodeJS.ProcessEnv): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'mpi4node-vg-'));
  const log = path.join(dir, 'memcheck.log');
  try {
    const r = spawnSync('valgrind', ['--error-limit=no', '--num-callers=24', `--log-file=${log}`, process.execPath, fixture], {
      cwd: root, encoding: 'utf8', timeout: 240_000, env,
    });
    const out = `${r.stdout}${r.stderr}`;
    assert.is(r.status, 0, `the job failed (status ${r.status}, signal ${r.signal}):\n${out}`);
    assert.match(out, 'main still works: wtick true');
    const report = readFileSync(log, 'utf8');
    // V8's conservative stack scan reads uninitialised stack words by design; those reports are not ours.
    const bad = report.split(/\n(?===\d+== \S)/).filter((b) => /== (Invalid (read|write|free)|Mismatched free|Source and destination overlap)/.test(b));
    assert.is(bad.length, 0, `memcheck found ${bad.length} error(s):\n${bad.slice(0, 3).join('\n')}`);
    assert.match(report, /ERROR SUMMARY/, 'valgrind ran to the end');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('workers that load the addon and are terminated touch no freed memory (valgrind memcheck)', () => {
  if (!hasValgrind) return void console.log('skipped: valgrind is not installed (apt-get install valgrind)');
  memcheck(process.env);
});

test('the same with device copies in flight at termination (fake CUDA runtime)', () => {
  if (!hasValgrind) return void console.log('skipped: valgrind is not installed (apt-get install valgrind)');
  const fakes = buildFakes();
  memcheck({ ...process.env, MPI4NODE_CUDART: fakes.cudart, MPI4NODE_NCCL: fakes.nccl, FAKE_CUDA_EVENT_DELAY_MS: '1' });
});

test.run();
