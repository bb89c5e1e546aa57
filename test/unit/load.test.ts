// Loading the addon: what a user sees when it cannot be loaded, and loading in worker threads.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AddonLoadError } from '../../lib/core/errors.js';
import {
  addonAbi, addonCandidateList, defaultUcxEnvironment, launcherFamily, loadAddon, mpiAbiOf, packageRoot, prebuildOrder, prebuildPath,
} from '../../lib/addon/load.js';

test('a failed load lists every path tried with its error, and how to fix it', () => {
  const empty = mkdtempSync(path.join(os.tmpdir(), 'mpi4node-load-'));
  const bogus = path.join(empty, 'bogus.node');
  process.env.MPI4NODE_ADDON = bogus;
  try {
    loadAddon(empty);
    assert.unreachable('loaded from an empty folder');
  } catch (e) {
    assert.instance(e, AddonLoadError);
    const err = e as AddonLoadError;
    assert.is(err.code, 'ERR_ADDON_LOAD');
    assert.equal(err.tried.map((t) => t.path), [bogus], 'an explicit MPI4NODE_ADDON is the only path tried');
    for (const t of err.tried) assert.ok(err.message.includes(t.path), t.path);
    assert.match(err.message, /apt-get install openmpi-bin libopenmpi-dev/);
    assert.match(err.message, /npm rebuild mpi4node/);
  } finally {
    delete process.env.MPI4NODE_ADDON;
  }
});

test('without an override every standard place is listed', () => {
  const empty = mkdtempSync(path.join(os.tmpdir(), 'mpi4node-load-'));
  try {
    loadAddon(empty);
    assert.unreachable('loaded from an empty folder');
  } catch (e) {
    const err = e as AddonLoadError;
    assert.ok(err.tried.some((t) => t.path === path.join(empty, 'build', 'Release', 'mpi4node.node')), err.message);
    assert.ok(err.tried.some((t) => t.path === path.join(empty, 'build-cmake', 'Release', 'mpi4node.node')), err.message);
    assert.match(err.message, /not found/);
  }
});

/** A package folder with stand-in addon files: mpiAbiOf reads only the MPI library names they need. */
const made: string[] = [];
test.after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function fakePackage(files: { source?: 'openmpi' | 'mpich'; prebuilds?: ('openmpi' | 'mpich')[] }): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'mpi4node-load-'));
  made.push(root);
  const needs = { openmpi: '\0libmpi.so.40\0', mpich: '\0libmpich.so.12\0' };
  if (files.source) {
    mkdirSync(path.join(root, 'build', 'Release'), { recursive: true });
    writeFileSync(path.join(root, 'build', 'Release', 'mpi4node.node'), `ELF${needs[files.source]}`);
  }
  for (const abi of files.prebuilds ?? []) {
    mkdirSync(path.dirname(prebuildPath(abi, root)), { recursive: true });
    writeFileSync(prebuildPath(abi, root), abi === 'openmpi' ? `ELF${needs.openmpi}` : 'ELF\0libc.so.6\0'); // MPICH: unlinked
  }
  return root;
}

test('the launcher\'s environment names the MPI family', () => {
  assert.is(launcherFamily({}), undefined);
  assert.equal(launcherFamily({ OMPI_COMM_WORLD_SIZE: '2' }), { abi: 'openmpi', variable: 'OMPI_COMM_WORLD_SIZE' });
  assert.equal(launcherFamily({ PMI_RANK: '0' }), { abi: 'mpich', variable: 'PMI_RANK' });
  assert.equal(launcherFamily({ MPI_LOCALNRANKS: '2' }), { abi: 'mpich', variable: 'MPI_LOCALNRANKS' });
  assert.equal(launcherFamily({ HYDRA_CONTROL_FD: '5' })?.abi, 'mpich');
});

test('prebuild order: MPI4NODE_MPI alone, else the launcher\'s family first, else Open MPI then MPICH', () => {
  assert.equal(prebuildOrder({}), ['openmpi', 'mpich']);
  assert.equal(prebuildOrder({ PMI_SIZE: '2' }), ['mpich', 'openmpi']);
  assert.equal(prebuildOrder({ OMPI_COMM_WORLD_SIZE: '2' }), ['openmpi', 'mpich']);
  assert.equal(prebuildOrder({ MPI4NODE_MPI: 'mpich', OMPI_COMM_WORLD_SIZE: '2' }), ['mpich']);
  assert.equal(prebuildOrder({ MPI4NODE_MPI: 'OpenMPI' }), ['openmpi']);
  assert.throws(() => prebuildOrder({ MPI4NODE_MPI: 'intel' }), (e: Error) => e instanceof AddonLoadError && /openmpi' or 'mpich/.test(e.message));
});

test('a source build comes before the prebuilds; MPI4NODE_ADDON replaces them all', () => {
  const root = fakePackage({ source: 'openmpi', prebuilds: ['openmpi', 'mpich'] });
  const kinds = addonCandidateList(root, { PMI_RANK: '0' }).map((c) => `${c.kind}:${path.relative(root, c.path)}`);
  assert.equal(kinds, [
    'source:build/Release/mpi4node.node', 'source:build-cmake/Release/mpi4node.node',
    `prebuild:prebuilds/${process.platform}-${process.arch}/mpi4node.mpich.node`, `prebuild:prebuilds/${process.platform}-${process.arch}/mpi4node.openmpi.node`,
  ]);
  assert.is(addonAbi(root, { PMI_RANK: '0' }), 'openmpi', 'the source build, even under an MPICH launcher');
  assert.equal(addonCandidateList(root, { MPI4NODE_ADDON: '/x/y.node' }).map((c) => c.path), ['/x/y.node']);
  // MPI4NODE_MPI skips a source build of the other family.
  assert.is(addonAbi(root, { MPI4NODE_MPI: 'mpich' }), 'mpich');
});

test('an addon file rebuilt in place is read again: its ABI is the new file\'s', () => {
  const root = fakePackage({ source: 'openmpi' });
  const file = path.join(root, 'build', 'Release', 'mpi4node.node');
  assert.is(mpiAbiOf(file), 'openmpi');
  assert.is(mpiAbiOf(file), 'openmpi', 'asked again');
  writeFileSync(file, 'ELF\0libmpich.so.12\0');
  assert.is(mpiAbiOf(file), 'mpich', 'rebuilt against MPICH');
  rmSync(file);
  assert.is(mpiAbiOf(file), undefined, 'removed');
});

test('without a source build, the prebuild whose MPI library is found decides the ABI (and the mpirun)', () => {
  const root = fakePackage({ prebuilds: ['openmpi', 'mpich'] });
  assert.is(mpiAbiOf(prebuildPath('mpich', root)), 'mpich', 'an unlinked MPICH-ABI prebuild is known by its name');
  assert.is(addonAbi(root, { MPI4NODE_MPI: 'mpich', MPI4NODE_MPI_LIBRARY: '/nowhere/libmpi.so.12' }), undefined, 'its library is not there');
  if (existsSync('/usr/lib/x86_64-linux-gnu/libmpi.so.40')) assert.is(addonAbi(root, {}), 'openmpi');
  if (existsSync('/usr/lib/x86_64-linux-gnu/libmpich.so.12')) assert.is(addonAbi(root, { PMI_RANK: '1' }), 'mpich');
});

test('an MPICH-ABI prebuild whose library is missing: the report names it, what was found, and the fixes', () => {
  const root = fakePackage({ prebuilds: ['mpich'] });
  try {
    loadAddon(root, { MPI4NODE_MPI: 'mpich', MPI4NODE_MPI_LIBRARY: '/nowhere/libmpi.so.12' });
    assert.unreachable('loaded');
  } catch (e) {
    const err = e as AddonLoadError;
    assert.instance(err, AddonLoadError);
    assert.equal(err.tried.map((t) => path.basename(t.path)), ['mpi4node.node', 'mpi4node.node', 'mpi4node.mpich.node']);
    assert.match(err.message, /mpi4node\.mpich\.node \(prebuild, MPICH ABI\): no MPICH-ABI library loads \(\/nowhere\/libmpi\.so\.12: cannot open/);
    assert.match(err.message, /MPI libraries the dynamic linker finds: libmpi\.so\.40 \(Open MPI\): /);
    assert.match(err.message, /LD_LIBRARY_PATH/);
    assert.match(err.message, /MPICC=\/path\/to\/mpicc npm rebuild mpi4node/);
    assert.match(err.message, /MPI4NODE_MPI=mpich limits the choice/);
  }
});

test('the built prebuilds (when npm run prebuild made them) are known by what they link', () => {
  for (const abi of ['openmpi', 'mpich'] as const) {
    const file = prebuildPath(abi, packageRoot);
    if (existsSync(file)) assert.is(mpiAbiOf(file), abi, file);
  }
});

test('the real package loads', () => {
  const n = loadAddon();
  assert.type(n.wtimeFast, 'function');
  assert.match(n.libraryVersion(), /MPI/);
  // UCX's memory events stay off (they move the program break under Node's heap), unless the user chose.
  assert.is(process.env.UCX_MEM_EVENTS, 'no');
});

test('UCX memory events: off by default, a value the user set is kept', () => {
  const unset: NodeJS.ProcessEnv = {};
  defaultUcxEnvironment(unset);
  assert.is(unset.UCX_MEM_EVENTS, 'no');
  const chosen: NodeJS.ProcessEnv = { UCX_MEM_EVENTS: 'yes' };
  defaultUcxEnvironment(chosen);
  assert.is(chosen.UCX_MEM_EVENTS, 'yes');
});

test.run();
