// The cmake-js build (CMakeLists.txt) must produce the same working addon as node-gyp (binding.gyp),
// so the two cannot drift: build it into build-cmake/ and run a smoke job against that binary.
// @timeout 400
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsxImport } from '../../lib/cli/launcher.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cmakeJs = path.join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
const built = path.join(root, 'build-cmake', 'Release', 'mpi4node.node');
// Headers come from the local Node installation: these machines cannot download them.
const nodedir = path.resolve(path.dirname(process.execPath), '..');

test('cmake-js builds the addon from CMakeLists.txt', () => {
  const hasCmake = spawnSync('cmake', ['--version']).status === 0;
  assert.ok(hasCmake, 'cmake is not installed (scripts/setup.mjs installs it)');
  const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build-cmake'], {
    cwd: root,
    env: { ...process.env, npm_config_nodedir: nodedir },
    encoding: 'utf8',
  });
  assert.is(r.status, 0, `${r.stdout}\n${r.stderr}`.slice(-3000));
  assert.ok(existsSync(built), built);
});

test('the cmake-built addon loads and works', () => {
  const fixture = fileURLToPath(new URL('../fixtures/addon-smoke.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', tsxImport(), fixture], {
    cwd: root,
    env: { ...process.env, MPI4NODE_ADDON: built },
    encoding: 'utf8',
  });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.is(out.loadedFrom, built);
  assert.equal(out.inp, [1.5, -2]);
  assert.is(out.count, 2);
  assert.equal(out.got, [7, 8, 9]);
});

test('only the addon symbols are exported (hidden visibility)', () => {
  const r = spawnSync('nm', ['-D', '--defined-only', built], { encoding: 'utf8' });
  if (r.status !== 0) return; // nm missing: nothing to check with
  const exported = r.stdout.split('\n').filter((l) => / [TW] /.test(l)).map((l) => l.split(' ').pop());
  assert.ok(exported.includes('napi_register_module_v1'), exported.join(','));
  const ours = exported.filter((n) => n && /mpi4node/.test(n));
  assert.equal(ours, [], `internal symbols exported: ${ours.join(', ')}`);
});

test.run();
