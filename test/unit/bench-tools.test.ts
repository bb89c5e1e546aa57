// @timeout 240
// The reference programs docs/benchmarks.md quotes beside the full run: osu_latency built to poll (a
// posted MPI_Irecv, or MPI_Improbe) and bench/allreduce.ts's interleaved repetitions. Each runs under
// this suite's MPI and prints a finite positive figure for what it names. Never asserts a speed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNative } from '../../bench/native/build.mjs';
import { detectMpi, mpirunCommand, tsxImport } from '../../lib/cli/launcher.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('osu_latency_testpoll and osu_latency_probepoll: a half round trip per size, 2 ranks', async () => {
  const mpi = detectMpi();
  const bins = await buildNative({ mpicc: mpi.mpicc, outDir: path.join(root, 'bench', 'native', 'bin', mpi.flavour) });
  for (const bin of [bins.latencyTestPoll, bins.latencyProbePoll]) {
    const cmd = mpirunCommand({ np: 2, program: bin, script: '', scriptArgs: ['--sizes', '8,4096', '--iters', '50', '--warmup', '5'] });
    const r = spawnSync(cmd.command, cmd.args, { env: cmd.env, encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 0, `${path.basename(bin)}: ${r.stderr}`);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { bench: string; size: number; value: number });
    assert.equal(lines.map((l) => l.size), [8, 4096], path.basename(bin));
    for (const l of lines) {
      assert.is(l.bench, 'latency');
      assert.ok(Number.isFinite(l.value) && l.value > 0, `${path.basename(bin)} ${l.size} B: ${l.value}`);
    }
  }
});

test('bench/allreduce.ts: C, blocking and Promise in one repetition, with their ratios to C', () => {
  const r = spawnSync(process.execPath, ['--import', tsxImport(), 'bench/allreduce.ts', '--reps', '1', '--ranks', '2', '--sizes', '4,1024'], {
    cwd: root, encoding: 'utf8', timeout: 180_000,
  });
  assert.is(r.status, 0, r.stderr);
  for (const size of ['4', '1024']) {
    for (const impl of ['c', 'mpi4node-blocking', 'mpi4node-promise']) {
      const row = r.stdout.split('\n').find((l) => new RegExp(`^2\\s+${size}\\s+${impl}\\s`).test(l));
      assert.ok(row !== undefined, `no row for ${impl} at ${size} B:\n${r.stdout}`);
      const [median, best] = row!.trim().split(/\s+/).slice(3, 5).map(Number);
      assert.ok(median! > 0 && best! > 0 && best! <= median!, row);
      if (impl !== 'c') assert.match(row!, /\d+\.\d\dx\s+\d+\.\d\dx$/, row);
    }
  }
});

test.run();
