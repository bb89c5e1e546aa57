// A pool of verifier agents in the spirit of mpi4py.futures: rank 0 farms verification tasks (claims
// "a * b = c", some of them wrong) through a task pool and collects the verdicts in order. Workers
// import the task, examples/tasks/verify.ts, by its URL.
//   node bin/mpi4node.js run -n 4 examples/verify-pool.ts      (1 to any number of ranks; every rank verifies)
//   node bin/mpi4node.js run -n 1 examples/verify-pool.ts --spawn 3
//       spawns 3 verifier processes (MPI_Comm_spawn; Open MPI) and only they verify; with
//       MPI4NODE_AUTH_KEY=1:<32 hex digits> in the environment add --auth: every task and verdict is
//       signed with HMAC-SHA256 (docs/security.md), the spawned verifiers reading the same variable.
//       Then a rolling upgrade: rank 0's group spawns provers (examples/tasks/prover.ts) that serve the
//       channel 'claims' in schema majors 1 and 2 side by side; the judge asks in 1.0, upgrades to 2.0,
//       and has the provers retire 1.x, after which a 1.0 request gets an error reply (RemoteError with
//       the prover's SchemaMismatchError).
import { world, RemoteError } from '../lib/index.js';

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

if (spawn !== undefined) {
  type Claim = { a: number; b: number; c: number };
  const provers = world.spawnNode(new URL('./tasks/prover.ts', import.meta.url), [auth ? 'auth' : 'plain'], 2);
  if (world.rank === 0) {
    const v1 = provers.channel<Claim>('claims', { version: '1.0', auth });
    const v2 = provers.channel<Claim & { id: number }>('claims', { version: '2.0', auth });
    const control = provers.channel<string>('control', { version: 1, auth });
    const claims = Array.from({ length: 20 }, (_, i) => ({ a: i, b: 3, c: i * 3 + (i % 7 === 5 ? 2 : 0) }));
    const ask = { timeoutMs: 20_000 };
    const old = await Promise.all(claims.slice(0, 10).map((c, i) => v1.request<{ ok: boolean }>(i % 2, c, ask)));
    const upgraded = await Promise.all(claims.slice(10).map((c, i) => v2.request<{ id: number; ok: boolean }>(i % 2, { id: 10 + i, ...c }, ask)));
    for (const p of [0, 1]) await control.isend(p, 'retire 1.x');
    for (const p of [0, 1]) await control.irecv(p);
    const refused = await v1.request(0, claims[0]!, ask).then(() => 'answered', (e) => (e instanceof RemoteError ? `${e.name} (${e.remote.name})` : String(e)));
    for (const p of [0, 1]) await control.isend(p, 'stop');
    const wrong = [...old.map((r) => r.message.ok), ...upgraded.map((r) => r.message.ok)].flatMap((ok, i) => (ok ? [] : [i]));
    console.log(`rolling upgrade: 10 claims answered in 1.0, 10 in 2.0 (ids ${upgraded[0]!.message.id}..${upgraded[9]!.message.id}), ` +
      `wrong: [${wrong.join(', ')}]; after retiring 1.x a 1.0 request got ${refused}`);
    for (const ch of [v1, v2, control]) ch.close();
  }
  provers.disconnect();
}
