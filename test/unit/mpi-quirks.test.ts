// Where an MPI itself is wrong, the library is not: each case is reproduced in plain C against the MPI
// the addon was built with (test/fixtures/mpi-quirks.c), and the library's own answer is checked beside
// it. MPICH 4.0.2 gets unsigned MIN/MAX and the status of an Irecv from PROC_NULL wrong, and persistent
// requests with PROC_NULL (its MPI_Testsome never reports a started one; freeing one stops persistent
// collectives completing), and its MPI_Testall reports an error for a persistent collective that has
// none; Open MPI 4.1.4 aborts when a persistent receive that failed is freed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonAbi } from '../../lib/addon/load.js';
import { native } from '../../lib/addon/binding.js';
import { detectMpi, mpirunCommand } from '../../lib/cli/launcher.js';
import { ANY_TAG, File, PROC_NULL, startAll, testAny, waitAny, waitSome, world, type Request, type Status } from '../../lib/index.js';
import { thrown } from '../thrown.js';

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

test('a persistent receive from PROC_NULL: MPICH\'s Testsome never reports it, its Test gives the empty status; the library\'s is MPI\'s on both', async () => {
  assert.is(c.procnull_persistent_testsome_undefined, addonAbi() === 'mpich' ? '1' : '0');
  assert.is(c.procnull_persistent_test_flag, '1');
  assert.is(c.procnull_persistent_test_source_ok, addonAbi() === 'mpich' ? '0' : '1');
  const r = world.recvInit(new Int32Array(1), PROC_NULL, 5);
  const calls: [string, (q: Request<Status>) => Status | Promise<Status> | undefined][] = [
    ['await', (q) => q], ['wait()', (q) => q.wait()], ['waitAny', (q) => waitAny([q])?.value],
    ['testAny', (q) => (testAny([q]) || undefined)?.value], ['waitSome', (q) => (waitSome([q]) ? q.wait() : undefined)],
  ];
  for (const [what, complete] of calls) {
    const st = await complete(r.start());
    assert.is(st?.source, PROC_NULL, what);
    assert.not.ok(r.active, what);
  }
  r.free();
});

test('a persistent request with PROC_NULL freed: MPICH\'s persistent collectives stop completing in C; the library\'s go on', async () => {
  // (Open MPI 4.1's C has no MPI_Barrier_init: the case is MPICH's only.)
  assert.is(c.procnull_persistent_free_then_barrier_init_completes, addonAbi() === 'mpich' ? '0' : undefined);
  for (const p of [world.sendInit(new Int32Array(1), PROC_NULL), world.recvInit(new Int32Array(1), PROC_NULL)]) {
    await p.start();
    p.free();
  }
  const bar = world.barrierInit();
  await bar.start();
  bar.free();
});

test('MPI_Testall over a persistent collective: MPICH says ERR_IN_STATUS with every status a success; the library trusts the statuses', async () => {
  // (Open MPI 4.1's C has no MPI_Allreduce_init: the case is MPICH's only.)
  assert.is(c.persistent_coll_testall_in_status, addonAbi() === 'mpich' ? '1' : undefined);
  assert.is(c.persistent_coll_testall_status_error, addonAbi() === 'mpich' ? '0' : undefined);
  const out = new Float64Array(1), sum = world.allreduceInit(new Float64Array([2]), 'sum', out);
  await startAll([sum]); // completed by the engine's MPI_Testall
  assert.is(out[0], 2 * world.size);
  sum.free();
});

test('freeing a persistent receive that failed: Open MPI aborts in C, so the library leaves it unfreed there', () => {
  const pbin = path.join(dir, `mpi-quirks-pfree-${process.pid}`);
  execFileSync(detectMpi().mpicc, ['-O1', '-o', pbin, path.join(root, 'test', 'fixtures', 'mpi-quirks-pfree.c')], { stdio: 'pipe' });
  const cmd = mpirunCommand({ np: 2, program: pbin, script: '' });
  const r = spawnSync(cmd.command, cmd.args, { env: cmd.env, encoding: 'utf8', timeout: 60_000 });
  const aborted = r.status !== 0;
  console.log(`${detectMpi().flavour}: freeing a failed persistent receive in C ${aborted ? 'aborts' : 'works'}`);
  // The engine's workaround is compiled for Open MPI only: it must be exactly where C aborts.
  assert.is(aborted, addonAbi() === 'openmpi', `${r.stdout}${r.stderr}`.slice(-2000));
});

test('groups, grids and files: what each MPI does in C, and the library\'s one answer on both', () => {
  // Duplicate ranks in MPI_Group_incl are erroneous; the library refuses them whatever MPI does.
  console.log(`group_incl_duplicate_class=${c.group_incl_duplicate_class} cart_coords_bad_rank_class=${c.cart_coords_bad_rank_class}`);
  const g = world.group();
  assert.is(thrown(() => g.incl([0, 0])).code, 'ERR_DUPLICATE_RANK');
  g.free();
  const cart = world.cart([world.size]);
  assert.is(thrown(() => cart.coords(world.size + 4)).code, 'ERR_RANK');
  cart.free();
  // MPI_File_set_size on a read-only file: ERR_READ_ONLY from MPICH only; the library says it on both.
  assert.is(c.file_set_size_read_only_is_read_only, addonAbi() === 'mpich' ? '1' : '0');
  // Open MPI's preallocate: ERR_ACCESS after extending a write-only file, and 2n for a file of exactly n.
  const ompi = addonAbi() === 'openmpi';
  assert.is(c.file_preallocate_write_only_class_is_access, ompi ? '1' : '0');
  assert.is(c.file_preallocate_4096_of_4096, ompi ? '8192' : '4096');
  const file = path.join(dir, `prealloc-${process.pid}.bin`);
  const f = File.open(world, file, 'w+');
  f.setSize(4096);
  f.preallocate(4096);
  assert.is(f.getSize(), 4096);
  f.close();
  const ro = File.open(world, file, 'r');
  assert.is(thrown(() => ro.setSize(0)).code, 'ERR_READ_ONLY');
  ro.close();
  File.delete(file);
});

test.run();
