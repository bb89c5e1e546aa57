// The install script's decisions (scripts/install.mjs): when it builds from source, and what it says
// when it cannot. The installs themselves, from the packed tarball, are in package.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildProblems, sourceBuildReason } from '../../scripts/install.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('a source build is asked for by MPI4NODE_BUILD_FROM_SOURCE, npm_config_build_from_source, MPICC or MPI_HOME', () => {
  assert.is(sourceBuildReason({}), undefined);
  assert.match(sourceBuildReason({ MPI4NODE_BUILD_FROM_SOURCE: '1' }) ?? '', /MPI4NODE_BUILD_FROM_SOURCE/);
  assert.is(sourceBuildReason({ MPI4NODE_BUILD_FROM_SOURCE: '0' }), undefined);
  assert.match(sourceBuildReason({ npm_config_build_from_source: 'true' }) ?? '', /build_from_source/);
  assert.match(sourceBuildReason({ npm_config_build_from_source: 'sharp,mpi4node' }) ?? '', /build_from_source/);
  assert.is(sourceBuildReason({ npm_config_build_from_source: 'sharp' }), undefined);
  assert.is(sourceBuildReason({ npm_config_build_from_source: 'false' }), undefined);
  assert.is(sourceBuildReason({ MPICC: 'mpicc.mpich' }), 'MPICC=mpicc.mpich');
  assert.is(sourceBuildReason({ MPI_HOME: '/opt/mpi' }), 'MPI_HOME=/opt/mpi');
  assert.is(sourceBuildReason({ npm_config_mpi_home: '/opt/mpi' }), 'npm_config_mpi_home=/opt/mpi');
});

test('with nothing on PATH each missing piece is one line with the command that installs it', () => {
  const { problems } = buildProblems({ PATH: '/nonexistent' });
  assert.is(problems.length, 4, problems.join('\n'));
  for (const [p, what] of problems.map((p, i) => [p, ['make', 'a C++ compiler', 'python3', 'mpicc'][i]] as const)) {
    assert.ok(p.startsWith(`mpi4node: missing ${what}`), p);
    assert.not.match(p, /\n/);
    assert.match(p, /Install it: .*(apt-get|dnf) install/);
  }
});

test('an MPI_HOME without bin/mpicc (Debian\'s MPICH) points at MPICC=mpicc.mpich', () => {
  const { problems } = buildProblems({ PATH: process.env.PATH, MPI_HOME: '/usr/lib/x86_64-linux-gnu/mpich' });
  assert.ok(problems.some((p) => /MPI_HOME=\/usr\/lib\/x86_64-linux-gnu\/mpich has no bin\/mpicc .*MPICC=mpicc\.mpich/.test(p)), problems.join('\n'));
});

test('with the tools installed nothing is missing (the default mpicc)', () => {
  if (!existsSync('/usr/bin/mpicc') || !existsSync('/usr/bin/make')) return;
  const { problems, mpicc } = buildProblems({ PATH: process.env.PATH });
  assert.equal(problems, []);
  assert.ok(mpicc);
});

test('scripts/mpi-flags.mjs (binding.gyp runs it) fails in one line, not a stack', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'mpi-flags.mjs'), '--libs'], {
    env: { ...process.env, MPICC: '/nonexistent/mpicc' }, encoding: 'utf8',
  });
  assert.is(r.status, 1);
  assert.is(r.stderr.trim(), 'mpi4node: MPICC=/nonexistent/mpicc is not an executable on PATH');
});

test.run();
