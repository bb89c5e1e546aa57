// Where an MPI itself is wrong, the library is not: each case is reproduced in plain C against the MPI
// the addon was built with (test/fixtures/mpi-quirks.c), and the library's own answer is checked beside
// it. MPICH 4.0.2 gets unsigned MIN/MAX and the status of an Irecv from PROC_NULL wrong; Open MPI gets
// both right, so there the same checks show the library does not break what works.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonAbi } from '../../lib/addon/load.js';
import { native } from '../../lib/addon/binding.js';
import { detectMpi } from '../../lib/cli/launcher.js';
import { ANY_TAG, PROC_NULL, world } from '../../lib/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = path.join(root, 'test', '.tmp', 'quirks', addonAbi() ?? 'default');
mkdirSync(dir, { recursive: true });
const bin = path.join(dir, `mpi-quirks-${process.pid}`);
execFileSync(detectMpi().mpicc, ['-O1', '-o', bin, path.join(root, 'test', 'fixtures', 'mpi-quirks.c')], { stdio: 'pipe' });
const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
const c = Object.fromEntries(
  execFileSync(bin, { env, encoding: 'utf8', timeout: 60_000 }).trim().split('\n').map((l) => l.split('=') as [string, string]),
);
console.log(`${detectMpi().flavour} ${detectMpi().version} in C: ${JSON.stringify(c)}`);

test('unsigned MIN/MAX: the library replaces the MPI\'s ops exactly when they are wrong', () => {
  void world.rank; // MPI initialised
  const broken = c.uint8_min_255_3 !== '3' || c.uint8_max_255_3 !== '255' || c.uint64_min_max_3 !== '3';
  assert.is(native.quirks().unsignedMinMax, broken, `C: ${JSON.stringify(c)}`);
});

test('Irecv from PROC_NULL: MPI\'s empty status whatever the MPI reports', async () => {
  for (const buf of [new Int32Array(1), new Float64Array(1 << 16)]) {
    const st = await world.irecv(buf, PROC_NULL, 5);
    assert.is(st.source, PROC_NULL);
    assert.is(st.tag, ANY_TAG);
    assert.is(st.count, 0);
  }
  assert.is(c.procnull_irecv_count, '0');
});

test.run();
