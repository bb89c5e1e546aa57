// A pool of verifier agents in the spirit of mpi4py.futures: rank 0 farms verification tasks (claims
// "a * b = c", some of them wrong) through a task pool and collects the verdicts in order. Workers
// import the task, examples/tasks/verify.ts, by its URL.
//   node bin/mpi4node.js run -n 4 examples/verify-pool.ts      (1 to any number of ranks; every rank verifies)
//   node bin/mpi4node.js run -n 1 examples/verify-pool.ts --spawn 3
//       spawns 3 verifier processes (MPI_Comm_spawn; Open MPI) and only they verify; with
//       MPI4NODE_AUTH_KEY=1:<32 hex digits> in the environment add --auth: every task and verdict is
//       signed with HMAC-SHA256 (docs/security.md), the spawned verifiers reading the same variable.
import { world } from '../lib/index.js';

const arg = (name: string) => process.argv.indexOf(name);
const spawn = arg('--spawn') > 0 ? Number(process.argv[arg('--spawn') + 1]) : undefined;
const auth = arg('--auth') > 0;

const TASK = new URL('./tasks/verify.ts', import.meta.url);
const pool = world.pool({ maxQueue: 8, spawn, auth });
if (pool.isRoot) {
  const claims = Array.from({ length: 40 }, (_, i) => ({ a: i, b: 7, c: i * 7 + (i % 9 === 4 ? 1 : 0) }));
  const verdicts = await pool.map<{ ok: boolean; rank: number; pid: number }>(TASK, claims, 'verify');
  const wrong = verdicts.flatMap((v, i) => (v.ok ? [] : [i]));
  const byRank = verdicts.reduce<Record<number, number>>((m, v) => ((m[v.rank] = (m[v.rank] ?? 0) + 1), m), {});
  const pids = new Set(verdicts.map((v) => v.pid));
  console.log(`verify-pool: ${claims.length} claims, wrong: [${wrong.join(', ')}], tasks per rank: ${JSON.stringify(byRank)}` +
    (spawn === undefined ? '' : `, ${pids.size} spawned verifier process(es), none of them this one: ${!pids.has(process.pid)}`) +
    (auth ? ', every message signed' : ''));
  await pool.shutdown();
}
await pool.done;
