// Launching: the mpi4node CLI, and a launcher of another MPI (N singletons) reported clearly.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tsxImport } from '../../lib/cli/launcher.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = fileURLToPath(new URL('../fixtures/launch-check.ts', import.meta.url));
const cli = fileURLToPath(new URL('../../bin/mpi4node.js', import.meta.url));

function node(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
}

for (const [name, value] of [['PMI_SIZE', '4'], ['MPI_LOCALNRANKS', '3']] as const) {
  test(`a foreign launcher (${name}=${value}, world of 1) fails with LaunchError saying how to fix it`, () => {
    const r = node(['--import', tsxImport(), fixture], { [name]: value });
    assert.ok(r.status !== 0, `exit status ${r.status}`);
    assert.match(r.stderr, /LaunchError/);
    assert.match(r.stderr, new RegExp(`${name}=${value}`));
    assert.match(r.stderr, /different MPI/);
    assert.match(r.stderr, /rebuild the addon/);
    assert.not.match(r.stdout, /size=/);
  });
}

test('without a launcher a script runs as a singleton (world of 1)', () => {
  const r = node(['--import', tsxImport(), fixture]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /size=1/);
});

test('mpi4node run -n 2 starts a TypeScript script on 2 ranks', () => {
  const r = node([cli, 'run', '-n', '2', fixture]);
  assert.is(r.status, 0, r.stderr);
  assert.is((r.stdout.match(/size=2/g) ?? []).length, 2);
});

test('mpi4node run --node-arg passes the flag to node on every rank (docs/benchmarks.md suggests one)', () => {
  const r = node([cli, 'run', '-n', '2', '--node-arg=--max-semi-space-size=1', fixture]);
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('size=2'));
  assert.is(lines.length, 2, r.stdout);
  for (const l of lines) assert.ok((JSON.parse(l.split('execArgv=')[1]!) as string[]).includes('--max-semi-space-size=1'), l);
});

test('mpi4node --version prints the package version', () => {
  const r = node([cli, '--version']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+/);
});

test('mpi4node info loads the addon and says what it is built for and what it loaded', () => {
  const r = node([cli, 'info']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /addon: +\/\S+\.node \((built from source|prebuilt|MPI4NODE_ADDON)\)/);
  assert.match(r.stdout, /built for: (Open MPI|the MPICH ABI)/);
  assert.match(r.stdout, /library: +\/\S*lib(mpi|mpich)\.so/);
  assert.match(r.stdout, /MPI: +(Open MPI|MPICH)/);
  assert.match(r.stdout, /launcher: +\S+ \((Open MPI|MPICH) [\d.]+\)\n/, 'the mpirun matches the addon');
  assert.match(r.stdout, /threads: +up to '(single|funneled|serialized|multiple)'/);
  assert.match(r.stdout, /gpu: +/);
});

test('mpi4node info with an addon that does not load says so and exits 1', () => {
  const r = node([cli, 'info'], { MPI4NODE_ADDON: '/nonexistent/mpi4node.node' });
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stdout, /addon: +does not load/);
  assert.match(r.stderr, /\/nonexistent\/mpi4node\.node \(explicit\): not found/);
  assert.not.match(r.stdout, /MPI: /);
});

test('mpi4node run without a script exits 2 with usage', () => {
  const r = node([cli, 'run', '-n', '2']);
  assert.is(r.status, 2);
  assert.match(r.stderr + r.stdout, /script/i);
});

test.run();
