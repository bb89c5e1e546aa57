// A pool of verifier agents in the spirit of mpi4py.futures: rank 0 farms verification tasks (claims
// "a * b = c", some of them wrong) to every rank through a task pool (world.pool) and collects the
// verdicts in order. Workers import the task, examples/tasks/verify.ts, by its URL.
//   node bin/mpi4node.js run -n 4 examples/verify-pool.ts      (1 to any number of ranks)
import { world } from '../lib/index.js';

const TASK = new URL('./tasks/verify.ts', import.meta.url);
const pool = world.pool({ maxQueue: 8 });
if (pool.isRoot) {
  const claims = Array.from({ length: 40 }, (_, i) => ({ a: i, b: 7, c: i * 7 + (i % 9 === 4 ? 1 : 0) }));
  const verdicts = await pool.map<{ ok: boolean; rank: number }>(TASK, claims, 'verify');
  const wrong = verdicts.flatMap((v, i) => (v.ok ? [] : [i]));
  const byRank = verdicts.reduce<Record<number, number>>((m, v) => ((m[v.rank] = (m[v.rank] ?? 0) + 1), m), {});
  console.log(`verify-pool: ${claims.length} claims, wrong: [${wrong.join(', ')}], tasks per rank: ${JSON.stringify(byRank)}`);
  await pool.shutdown();
}
await pool.done;
