// A job across three test hosts (network namespaces on a private switch, test/multihost/hosts.ts),
// started by `mpi4node run --host ...`: the same results as on one host, and a job that loses a rank
// or a host ends, non-zero, saying which. Needs root and network namespaces; skipped otherwise, saying so.
// @timeout 400
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { mpirunCommand, tsxImport } from '../../lib/cli/launcher.js';
import { createCluster, impairmentProblem, netnsProblem, type Cluster } from '../multihost/hosts.js';
import { cliOnHost, cliTs, HANG_MS, job, launchArgs, mpi, N, ready, results, root, start } from '../multihost/launch.js';

const problem = netnsProblem();
let cluster: Cluster | undefined;

let oneHost: string[] | undefined;
/** The compute job's results on this machine alone (mpirun without hosts). */
function oneHostResults(): string[] {
  if (oneHost) return oneHost;
  const local = mpirunCommand({ np: N, script: job, scriptArgs: ['compute'] });
  const one = spawnSync(local.command, local.args, { cwd: root, env: local.env, encoding: 'utf8', timeout: HANG_MS });
  assert.is(one.status, 0, `${one.stdout}${one.stderr}`);
  return (oneHost = results(one.stdout));
}

/** The compute job across the first N hosts of `c`: its results, and how long `mpi4node run` took. */
function computeAcross(c: Cluster): { results: string[]; seconds: number; communicationMs: number } {
  const { cmd, env } = cliOnHost(c, [], ['compute']);
  const t0 = performance.now();
  const multi = spawnSync(cmd[0]!, cmd.slice(1), { cwd: root, env, encoding: 'utf8', timeout: HANG_MS });
  const seconds = (performance.now() - t0) / 1000;
  assert.is(multi.status, 0, `${multi.stdout}${multi.stderr}`);
  assert.is(results(multi.stdout).length, N, multi.stdout);
  return { results: results(multi.stdout), seconds, communicationMs: Number(/^communication (\d+) ms$/m.exec(multi.stdout)?.[1]) };
}

// A check of the impaired network itself, not of mpi4node: the round trip of a TCP connection attempt
// that is refused (SYN, RST) from the first host to the second, the fastest of 20.
const RTT_PROBE = `const net = require('node:net'); (async () => { let best = Infinity;
  for (let i = 0; i < 20; i++) { const t0 = performance.now();
    await new Promise((done) => net.connect(9, process.argv[1]).on('error', done).on('connect', done));
    best = Math.min(best, performance.now() - t0); }
  console.log(best.toFixed(1)); })();`;

if (problem !== undefined) {
  console.log(`skipped: needs root and netns (${problem})`);
  test.skip('multi-host jobs (needs root and netns)', () => {});
} else {
  test.before(() => {
    cluster = createCluster(3);
  });
  test.after(() => cluster?.teardown());

  test(`a job across ${N} hosts computes what it computes on one host`, () => {
    const multi = computeAcross(cluster!);
    console.log(`  (${mpi.flavour}: the job across ${N} hosts took ${multi.seconds.toFixed(1)} s, its communication ${multi.communicationMs} ms)`);
    assert.equal(multi.results, oneHostResults());
  });

  const impairment = impairmentProblem();
  if (impairment !== undefined) {
    console.log(`skipped: 5 ms delay and 1% loss (${impairment})`);
    test.skip('5 ms delay and 1% loss (needs /dev/net/tun and cc)', () => {});
  } else {
    test(`5 ms delay and 1% loss between ${N} hosts: the same results, slower`, () => {
      const t0 = performance.now();
      const lossy = createCluster(3, { delayMs: 5, loss: 0.01, seed: 16 });
      try {
        const [a, b] = lossy.hosts;
        const rtt = spawnSync(lossy.on(a!)[0]!, [...lossy.on(a!).slice(1), process.execPath, '-e', RTT_PROBE, b!.addr], { encoding: 'utf8', timeout: HANG_MS });
        assert.ok(Number(rtt.stdout) >= 10, `the switch delays each way by 5 ms: round trip ${rtt.stdout}${rtt.stderr}`);
        const multi = computeAcross(lossy);
        const st = lossy.switchStats!();
        console.log(`  (${mpi.flavour}: round trip ${rtt.stdout.trim()} ms; the job took ${multi.seconds.toFixed(1)} s, its communication ${multi.communicationMs} ms; switch ${JSON.stringify(st)})`);
        assert.ok(st.dropped > 0 && st.forwarded > 0 && st.min_held_us >= 5000, JSON.stringify(st));
        assert.equal(multi.results, oneHostResults());
      } finally {
        lossy.teardown();
        console.log(`  (the impaired network's test took ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      }
    });
  }

  test('a host the launcher cannot reach is named before the job starts', () => {
    const c = cluster!;
    const { cmd, env } = cliOnHost(c, [], ['compute'], [c.hosts[0]!.addr, '10.213.77.99']);
    // (MPICH's hydra waits for ever for a host it cannot reach: the check gives up after 10 s.)
    const r = spawnSync(cmd[0]!, cmd.slice(1), { cwd: root, env: { ...env, MPI4NODE_HOST_CHECK_S: '10' }, encoding: 'utf8', timeout: HANG_MS });
    assert.is.not(r.status, 0);
    assert.match(r.stderr, /could not start a process on every host \(10\.213\.77\.1, 10\.213\.77\.99\)/);
    assert.not.match(r.stdout, /^result/m);
  });

  test('a script that is not on every host is named with the fix, before the job starts', () => {
    const c = cluster!;
    // The script exists only on the first host: in a tmpfs mounted there (test/multihost/hosts.ts).
    const only = path.join(c.dir, 'first-host-only');
    mkdirSync(only);
    const script = path.join(only, 'job.mjs');
    const l = launchArgs(c, c.hosts.slice(0, N).map((h) => h.addr));
    const mountThere = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
      `mount -t tmpfs none '${only}' && echo 'console.log("ran")' > '${script}' && exec "$@"`, 'sh'];
    const cmd = [...c.on(c.hosts[0]!), ...mountThere, process.execPath, '--import', tsxImport(), cliTs, 'run', '-n', String(N), ...l.args, '--iface', 'eth0', script];
    const r = spawnSync(cmd[0]!, cmd.slice(1), { cwd: root, env: { ...process.env, ...l.env }, encoding: 'utf8', timeout: HANG_MS });
    assert.is(r.status, 1, `${r.stdout}${r.stderr}`);
    for (const h of c.hosts.slice(1, N)) assert.match(r.stderr, new RegExp(`${h.name} lacks ${script.replace(/[.]/g, '\\.')}`));
    assert.not.match(r.stderr, new RegExp(`${c.hosts[0]!.name} lacks`));
    assert.match(r.stderr, /same path on every host .*--no-host-check/);
    assert.not.match(r.stdout, /ran/);
  });

  test('one rank SIGKILLed: the job ends non-zero', async () => {
    const c = cluster!;
    const { cmd, env } = cliOnHost(c, ['--no-host-check'], ['loop']);
    const s = start(cmd, env);
    const pids = await ready(s, N);
    const t0 = performance.now();
    process.kill(pids.get(c.hosts[N - 1]!.name)!, 'SIGKILL');
    const e = await s.exit;
    console.log(`  (${mpi.flavour}: job ended ${Math.round(e.at - t0)} ms after SIGKILL of a rank, status ${e.code})`);
    assert.ok(e.code !== 0, `${e.code} ${e.signal}\n${s.out()}`);
  });

  if (mpi.flavour === 'openmpi') {
    test('a host lost for good (--fail-fast): the job ends non-zero naming it', async () => {
      const c = cluster!;
      const { cmd, env } = cliOnHost(c, ['--no-host-check', '--fail-fast'], ['loop']);
      const s = start(cmd, env);
      await ready(s, 3);
      const t0 = performance.now();
      c.cut(c.hosts[2]!);
      const e = await s.exit;
      console.log(`  (job ended ${Math.round(e.at - t0)} ms after its host's link went down, status ${e.code})`);
      assert.ok(e.code !== 0, `${e.code} ${e.signal}\n${s.out()}`);
      assert.match(s.out(), /lost communication with a remote daemon[\s\S]*on node 10\.213\.77\.3/);
    });
  } else {
    test('--fail-fast is refused with a coded error: it is an Open MPI setting', () => {
      const c = cluster!;
      const { cmd, env } = cliOnHost(c, ['--fail-fast'], ['loop']);
      const r = spawnSync(cmd[0]!, cmd.slice(1), { cwd: root, env, encoding: 'utf8', timeout: HANG_MS });
      assert.is(r.status, 1);
      assert.match(r.stderr, /--fail-fast sets Open MPI's launcher keepalive; MPICH's mpirun has no such setting/);
    });
  }
}

test.run();
