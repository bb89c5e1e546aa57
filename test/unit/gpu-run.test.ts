// @timeout 300
// The rehearsal of the GPU machine's run, against the fakes: test/gpu/pack.sh packs the bundle (node,
// the addon built here, Open MPI unpacked from Debian's packages), then test/gpu/run.sh runs it in
// quick mode with the system's Open MPI hidden (a private mount namespace), as on a machine that has
// none, and must write results.json with no failure. The bundle is Open MPI's: the MPICH pass skips.
// Needs root (unshare -m) and apt-get; about 1.5 minutes, most of it packing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonAbi } from '../../lib/addon/load.js';
import { buildFakes } from '../fakes/build.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const LIB = '/usr/lib/x86_64-linux-gnu';

test('pack.sh + run.sh against the fakes, with the system\'s Open MPI hidden: every check passes, results.json written', () => {
  if (addonAbi() !== 'openmpi') {
    console.log('  (skipped: the GPU bundle carries Open MPI; this pass runs another MPI)');
    return;
  }
  const pack = spawnSync('bash', ['test/gpu/pack.sh'], { cwd: root, encoding: 'utf8', timeout: 200_000 });
  assert.is(pack.status, 0, `pack.sh: ${pack.stdout}${pack.stderr}`);
  assert.match(pack.stdout, /Open MPI from: libopenmpi3 /);

  const { cudart, nccl } = buildFakes();
  const out = mkdtempSync(path.join(os.tmpdir(), 'mpi4node-gpu-run-'));
  // What run.sh must not need: Open MPI's plugins, PMIx, help texts, launchers and libraries.
  const hide = [`${LIB}/openmpi`, `${LIB}/pmix2`, '/usr/share/openmpi', '/etc/openmpi'].map((d) => `mount -t tmpfs none ${d}`);
  const blank = ['/usr/bin/orted', '/usr/bin/orterun', `${LIB}/libmpi.so.40`, `${LIB}/libopen-pal.so.40`, `${LIB}/libopen-rte.so.40`]
    .map((f) => `mount --bind /dev/null "$(readlink -f ${f})"`);
  const script = [...hide, ...blank].join(' && ') + ' && exec bash test/gpu/run.sh';
  const env = {
    ...process.env, OUT: out, MPI4NODE_CUDART: cudart, MPI4NODE_NCCL: nccl, FAKE_NCCL_VERSION: '23007',
    MPI4NODE_GPU_QUICK: '1', MPI4NODE_GPU_STEP_S: '120', MPI4NODE_GPU_USE_BUNDLE: '1',
  };
  for (const k of Object.keys(env)) if (/^(OMPI_|PMIX_|OPAL_)/.test(k)) delete env[k as keyof typeof env];
  const run = spawnSync('unshare', ['-m', 'sh', '-c', script], { cwd: root, env, encoding: 'utf8', timeout: 280_000 });
  const said = `${run.stdout}${run.stderr}`;
  assert.is(run.status, 0, said);
  assert.match(said, /gpu\/run\.sh: the bundle: node, addon, checks, Open MPI \(libopenmpi3/);
  assert.match(said, /all checks passed/);
  assert.match(said, /summary: single: 0 failed; allreduce \d+ cases/);
  const results = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8'));
  assert.is(results.single.failures, 0);
  assert.is(results.staging.failures, 0);
  assert.ok(results.single.allreduceCases > 100, `${results.single.allreduceCases} allreduce cases`);
  assert.equal(results.single.allreduceRefused, ['float8e4m3/avg', 'float8e5m2/avg'], 'fp8 avg over one rank is refused, not failed');
  assert.ok(results.single.allreduceOverhead['4 B'].c !== null, 'the C reference ran');
  assert.ok(results.single.averager.buckets > 1 && results.single.averager.averagerMs > 0, 'the averager over device arrays ran, in several buckets');
  assert.ok(results.staging.stagingGBs.device >= 0);
});

test.run();
