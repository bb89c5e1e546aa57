// Slurm, started by the test (one node, test/multihost/slurm.ts): `srun -n 2 --mpi=<plugin> node job`
// runs an mpi4node job with the plugin Debian's Slurm and the addon's MPI share (pmix: Open MPI, pmi2:
// MPICH), and srun without one is a LaunchError naming the plugin. Skipped, saying why, without root
// or Debian's slurm-wlm and munge.
// @timeout 300
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tsxImport } from '../../lib/cli/launcher.js';
import { C } from '../../lib/addon/binding.js';
import { slurmProblem, startSlurm, type Slurm } from '../multihost/slurm.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const job = fileURLToPath(new URL('../multihost/job.ts', import.meta.url));
const plugin = C.IMPLEMENTATION === 'mpich' ? 'pmi2' : 'pmix';
const problem = slurmProblem();
let slurm: Slurm | undefined;

function srun(args: string[]) {
  return spawnSync('srun', ['-n', '2', ...args, process.execPath, '--import', tsxImport(), job, 'compute'],
    { cwd: root, env: { ...slurm!.env, MPI4NODE_IDLE_WARNING_S: '0' }, encoding: 'utf8', timeout: 120_000 });
}

if (problem !== undefined) {
  console.log(`skipped: ${problem}`);
  test.skip(`srun -n 2 --mpi=${plugin} (${problem})`, () => {});
} else {
  test.before(async () => {
    slurm = await startSlurm();
  });
  test.after(() => slurm?.stop());

  test(`srun -n 2 --mpi=${plugin} runs a job of 2 ranks`, () => {
    const r = srun([`--mpi=${plugin}`]);
    assert.is(r.status, 0, `${r.stdout}${r.stderr}`);
    const results = [...r.stdout.matchAll(/^result (.*)$/gm)].map((m) => JSON.parse(m[1]!) as { rank: number; allreduce: number[]; gathered: number[] });
    assert.equal(results.map((x) => x.rank).sort(), [0, 1]);
    for (const x of results) {
      assert.equal(x.allreduce, [3, 1]);
      assert.equal(x.gathered, [0, 1]);
    }
  });

  test('srun without an MPI plugin: a LaunchError on every task naming the plugin, not N singletons', () => {
    const r = srun(['--mpi=none']);
    assert.ok(r.status !== 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`LaunchError: srun started this process as one of 2 tasks .* run srun --mpi=${plugin}`));
    assert.not.match(r.stdout, /^result/m);
  });
}

test.run();
