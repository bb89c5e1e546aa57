// The binding's cost per call on one rank, to itself: bench/native/percall.c's loops through mpi4node,
// plus what only the binding has (a bare N-API call, the Promise forms, V8's own Promise). Subtracting
// the C figures gives what the binding adds per call: the floor analysis in docs/benchmarks.md.
// One rank, no partner: the figures do not depend on how a second process is scheduled on this 2-core VM.
// Medians of 7 repetitions, in ns; each loop is warmed up first (~50 calls, as timeRounds does).
// Open MPI only: the send+recv loop sends to itself before it receives, which MPI allows to wait for the
// receive, and MPICH 4.0.2 does (so does percall.c there).
//
//   npx mpi4node run -n 1 bench/node/percall.ts
import { init, iwaitAll, startAll, waitAll, world, type Prequest, type Request, type Status } from '../../lib/index.js';
import { wtimeFast } from '../../lib/addon/fastpath.js';
import { nsPer, nsPerAsync } from './ns.js';

init({});
if (world.size !== 1) throw new Error('percall: run it on one rank');
const s = new Uint8Array(8), r = new Uint8Array(8);
const reqs: Request<Status>[] = new Array(64);
const win = world.allocateWindow('uint8', 64);

function emit(what: string, value: number): void {
  process.stdout.write(JSON.stringify({ bench: 'percall', impl: 'mpi4node', what, value, unit: 'ns' }) + '\n');
}

function report(what: string, f: (n: number) => void, n: number, per = 1): void {
  emit(what, nsPer(f, n, per));
}

async function reportAsync(what: string, f: (n: number) => Promise<void>, n: number, per = 1): Promise<void> {
  emit(what, await nsPerAsync(f, n, per));
}

function post(): void {
  for (let j = 0; j < 32; j++) {
    reqs[2 * j] = world.irecv(r, 0, 2);
    reqs[2 * j + 1] = world.isend(s, 0, 2);
  }
}

report('bare N-API call (wtimeFast: MPI_Wtime into a slab)', (n) => { for (let i = 0; i < n; i++) wtimeFast(); }, 200000);
report('send+recv 8 B', (n) => { for (let i = 0; i < n; i++) { world.send(s, 0, 1); world.recv(r, 0, 1); } }, 100000);
// A typed channel's message is a receive of unknown size (C's send+mprobe+mrecv) plus the header: encoded
// and stamped on send, checked against the channel's expectation on receive, the payload viewed.
const ch = world.channel('percall', { version: 1, dtype: 'uint8' });
report('channel send+recv 8 B (uint8 tensor channel)', (n) => { for (let i = 0; i < n; i++) { ch.send(0, s); ch.recv(0); } }, 100000);
report('window pair (isend+irecv, waitAll of 64)', (n) => { for (let w = 0; w < n; w++) { post(); waitAll(reqs); } }, 2000, 64);
const pq: Prequest[] = [];
for (let j = 0; j < 32; j++) pq.push(world.recvInit(r, 0, 4), world.sendInit(s, 0, 4));
report('persistent window pair (startAll + wait of 64)', (n) => { for (let w = 0; w < n; w++) startAll(pq).wait(); }, 2000, 64);
pq.forEach((p) => p.free());
await reportAsync('window pair (isend+irecv, await iwaitAll of 64)', async (n) => { for (let w = 0; w < n; w++) { post(); await iwaitAll(reqs); } }, 2000, 64);
await reportAsync('await isend 8 B (complete at post) + recv', async (n) => { for (let i = 0; i < n; i++) { await world.isend(s, 0, 3); world.recv(r, 0, 3); } }, 20000);
win.lock(0, 'shared');
report('put+flush 8 B', (n) => { for (let i = 0; i < n; i++) { win.put(s, 0, 0); win.flush(0); } }, 100000);
win.unlock(0);
report('V8 alone: new Promise + resolve', (n) => {
  let settle: (v: number) => void = () => {};
  for (let i = 0; i < n; i++) { new Promise<number>((res) => { settle = res; }); settle(i); }
}, 200000);
win.free();
await ch.close();
