// The binding's cost per call on one rank, to itself: bench/native/percall.c's loops through mpi4node,
// plus what only the binding has (a bare N-API call, the Promise forms, V8's own Promise). Subtracting
// the C figures gives what the binding adds per call: the floor analysis in docs/benchmarks.md.
// One rank, no partner: the figures do not depend on how a second process is scheduled on this 2-core VM.
// Medians of 7 repetitions, in ns; each loop is warmed up first (~50 calls, as timeRounds does).
// Open MPI only: the send+recv loop sends to itself before it receives, which MPI allows to wait for the
// receive, and MPICH 4.0.2 does (so does percall.c there).
//
//   npx mpi4node run -n 1 bench/node/percall.ts
//   npx mpi4node run -n 1 bench/node/percall.ts --instructions   # under callgrind: bench/instructions.ts
//
// --instructions: each loop runs once after its warm-up, between MPI_Wtick() and MPI_Get_version()
// (wtick() and version(), called nowhere else): callgrind dumping its counts on entry to each of the two
// counts each loop alone, in loop order, whatever start-up and JIT compilation cost around it. No
// timing; prints each loop's operation count instead.
import { init, iwaitAll, startAll, version, waitAll, world, wtick, type Prequest, type Request, type Status } from '../../lib/index.js';
import { wtimeFast } from '../../lib/addon/fastpath.js';
import { nsPer, nsPerAsync, warmUp } from './ns.js';

init({});
if (world.size !== 1) throw new Error('percall: run it on one rank');
const instructions = process.argv.includes('--instructions');
const s = new Uint8Array(8), r = new Uint8Array(8);
const reqs: Request<Status>[] = new Array(64);
const win = world.allocateWindow('uint8', 64);
// A typed channel's message is a receive of unknown size (C's send+mprobe+mrecv) plus the header: encoded
// and stamped on send, checked against the channel's expectation on receive, the payload viewed.
const ch = world.channel('percall', { version: 1, dtype: 'uint8' });
const pq: Prequest[] = [];

function post(): void {
  for (let j = 0; j < 32; j++) {
    reqs[2 * j] = world.irecv(r, 0, 2);
    reqs[2 * j + 1] = world.isend(s, 0, 2);
  }
}

interface Loop {
  what: string;
  /** Runs n iterations of `per` operations each; `async` ones return a Promise (timed with nsPerAsync). */
  run: (n: number) => void | Promise<void>;
  async?: true;
  n: number;
  per?: number;
  before?: () => void;
  after?: () => void;
}

const loops: Loop[] = [
  { what: 'bare N-API call (wtimeFast: MPI_Wtime into a slab)', n: 200000, run: (n) => { for (let i = 0; i < n; i++) wtimeFast(); } },
  { what: 'send+recv 8 B', n: 100000, run: (n) => { for (let i = 0; i < n; i++) { world.send(s, 0, 1); world.recv(r, 0, 1); } } },
  { what: 'channel send+recv 8 B (uint8 tensor channel)', n: 100000, run: (n) => { for (let i = 0; i < n; i++) { ch.send(0, s); ch.recv(0); } } },
  { what: 'window pair (isend+irecv, waitAll of 64)', n: 2000, per: 64, run: (n) => { for (let w = 0; w < n; w++) { post(); waitAll(reqs); } } },
  {
    what: 'persistent window pair (startAll + wait of 64)', n: 2000, per: 64,
    run: (n) => { for (let w = 0; w < n; w++) startAll(pq).wait(); },
    before: () => { for (let j = 0; j < 32; j++) pq.push(world.recvInit(r, 0, 4), world.sendInit(s, 0, 4)); },
    after: () => { pq.forEach((p) => p.free()); },
  },
  { what: 'window pair (isend+irecv, await iwaitAll of 64)', n: 2000, per: 64, async: true, run: async (n) => { for (let w = 0; w < n; w++) { post(); await iwaitAll(reqs); } } },
  { what: 'await isend 8 B (complete at post) + recv', n: 20000, async: true, run: async (n) => { for (let i = 0; i < n; i++) { await world.isend(s, 0, 3); world.recv(r, 0, 3); } } },
  // The Promise round trip's two halves on one rank (the receive is posted after its message arrived).
  { what: 'isend+irecv 8 B, each completed (Node: await each; C: MPI_Wait each)', n: 20000, async: true, run: async (n) => { for (let i = 0; i < n; i++) { await world.isend(s, 0, 6); await world.irecv(r, 0, 6); } } },
  {
    what: 'put+flush 8 B', n: 100000,
    run: (n) => { for (let i = 0; i < n; i++) { win.put(s, 0, 0); win.flush(0); } },
    before: () => win.lock(0, 'shared'),
    after: () => win.unlock(0),
  },
  {
    what: 'V8 alone: new Promise + resolve', n: 200000,
    run: (n) => {
      let settle: (v: number) => void = () => {};
      for (let i = 0; i < n; i++) { new Promise<number>((res) => { settle = res; }); settle(i); }
    },
  },
];

for (const l of loops) {
  l.before?.();
  const per = l.per ?? 1;
  let value: number, unit: string;
  if (instructions) {
    await warmUp(l.run, l.n);
    wtick();
    await l.run(l.n);
    version();
    [value, unit] = [l.n * per, 'ops'];
  } else {
    value = l.async ? await nsPerAsync(l.run, l.n, per) : nsPer(l.run as (n: number) => void, l.n, per);
    unit = 'ns';
  }
  l.after?.();
  process.stdout.write(JSON.stringify({ bench: 'percall', impl: 'mpi4node', what: l.what, value, unit }) + '\n');
}
win.free();
await ch.close();
