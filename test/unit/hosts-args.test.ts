// The launcher on several hosts: which hosts mpirun options name, no oversubscription from the local
// core count, the interface and fail-fast settings of each MPI, and `run`'s options for them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectMpi, FAIL_FAST_KEEPALIVE, hostsOf, mpirunCommand } from '../../lib/cli/launcher.js';
import { parseRunArgs } from '../../lib/cli/cli.js';

const mpi = detectMpi();
const script = fileURLToPath(new URL('../fixtures/signal-job.ts', import.meta.url));

test('hostsOf: host lists in every spelling, each host once; none or only this host is a single-host job', () => {
  assert.equal(hostsOf(['--host', 'a:2,b,a']), ['a', 'b']);
  assert.equal(hostsOf(['-H', 'a', '--host=b:4']), ['a', 'b']);
  assert.equal(hostsOf(['-hosts', 'n1,n2']), ['n1', 'n2']);
  assert.is(hostsOf([]), undefined);
  assert.is(hostsOf(['--host', 'localhost:4']), undefined);
  assert.is(hostsOf(['--host', `${os.hostname()},localhost`]), undefined);
  assert.is(hostsOf(['--map-by', 'core']), undefined);
});

test('hostsOf: hostfiles of Open MPI and MPICH, comments ignored; an unreadable one is ERR_MPI_LAUNCH', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'm4n-hostfile-'));
  const f = path.join(dir, 'hosts');
  writeFileSync(f, '# cluster\nnode1 slots=4\nnode2:8  # big\n\nnode1\n');
  assert.equal(hostsOf(['--hostfile', f]), ['node1', 'node2']);
  assert.equal(hostsOf(['-f', f]), ['node1', 'node2']);
  try {
    hostsOf(['--hostfile', path.join(dir, 'missing')]);
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code?: string }).code, 'ERR_MPI_LAUNCH');
    assert.match((e as Error).message, /cannot read the hostfile .*missing/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('on several hosts the local core count adds no --oversubscribe and no MPICH refusal', () => {
  const many = os.availableParallelism() + 3;
  const hosts = mpi.flavour === 'mpich' ? ['-hosts', 'a,b'] : ['--host', `a:${many},b:${many}`];
  const cmd = mpirunCommand({ np: many, script, mpirunArgs: hosts });
  assert.not.ok(cmd.args.includes('--oversubscribe'), cmd.args.join(' '));
  if (mpi.flavour === 'openmpi') assert.ok(mpirunCommand({ np: many, script }).args.includes('--oversubscribe'));
  // an allocation of several Slurm nodes is several hosts too
  process.env.SLURM_JOB_NUM_NODES = '2';
  try {
    assert.not.ok(mpirunCommand({ np: many, script }).args.includes('--oversubscribe'));
  } finally {
    delete process.env.SLURM_JOB_NUM_NODES;
  }
  if (mpi.flavour === 'mpich') assert.throws(() => mpirunCommand({ np: many, script }), /busy-polls/);
});

test('--iface and --fail-fast become each MPI\'s settings (fail-fast is Open MPI only: ERR_MPI_LAUNCH elsewhere)', () => {
  const a = mpirunCommand({ np: 1, script, iface: 'eth1' }).args.join(' ');
  if (mpi.flavour === 'openmpi') {
    assert.match(a, /--mca btl_tcp_if_include eth1 --mca oob_tcp_if_include eth1/);
    const f = mpirunCommand({ np: 1, script, failFast: true }).args.join(' ');
    const [t, i, p] = FAIL_FAST_KEEPALIVE;
    assert.match(f, new RegExp(`oob_tcp_keepalive_time ${t} .*oob_tcp_keepalive_intvl ${i} .*oob_tcp_keepalive_probes ${p}`));
  } else {
    assert.match(a, /-iface eth1/);
    try {
      mpirunCommand({ np: 1, script, failFast: true });
      assert.unreachable();
    } catch (e) {
      assert.is((e as { code?: string }).code, 'ERR_MPI_LAUNCH');
    }
  }
});

test('run parses --iface, --fail-fast and --no-host-check and leaves the rest to mpirun', () => {
  const r = parseRunArgs(['-n', '4', '--host', 'a,b', '--iface=eth0', '--fail-fast', '--no-host-check', script, '--iface', 'x']);
  assert.equal([r.np, r.iface, r.failFast, r.hostCheck, r.mpirunArgs, r.scriptArgs], [4, 'eth0', true, false, ['--host', 'a,b'], ['--iface', 'x']]);
  const d = parseRunArgs(['-n', '1', '--iface', 'br0', script]);
  assert.equal([d.iface, d.failFast, d.hostCheck], ['br0', false, true]);
  assert.throws(() => parseRunArgs(['-n', '1', '--iface=', script]), /--iface needs/);
});

test.run();
