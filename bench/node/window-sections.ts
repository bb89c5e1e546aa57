// Why osu_bw's 8-byte Promise window is bimodal across runs (docs/benchmarks.md): its timed part is
// OSU's 100 windows, ~2 ms at 8 bytes, far shorter than the machine states that decide it. This times
// many consecutive sections of 100 Promise windows (osu_bw's method, bench/node/window.ts) in one
// process and says which sections overlapped a garbage collection on either rank (perf_hooks 'gc'
// entries), and prints the run's sections in order: '.' at least 16 MB/s, 'm' 10-16, 'S' under 10.
//
//   npx mpi4node run -n 2 bench/node/window-sections.ts [--sections 300] [--warmup 3000]
//   npx mpi4node run -n 2 --node-arg=--single-threaded-gc ... (or mpirun -n 2 node --single-threaded-gc --import tsx ...)
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { init, iwaitAll, world, type Request, type Status } from '../../lib/index.js';

const { values } = parseArgs({ options: { sections: { type: 'string', default: '300' }, warmup: { type: 'string', default: '3000' } } });
const SECTIONS = Number(values.sections), WARMUP = Number(values.warmup), PER = 100, WINDOW = 64, SIZE = 8;
init();
if (world.size !== 2) throw new Error('window-sections: run it on 2 ranks');
const sender = world.rank === 0, peer = 1 - world.rank;
const s = new Uint8Array(SIZE), r = new Uint8Array(SIZE), ackS = new Uint8Array(4), ackR = new Uint8Array(4);
const reqs: Request<Status>[] = new Array(WINDOW);

const gcs: { start: number; end: number }[] = [];
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ start: e.startTime, end: e.startTime + e.duration });
});
observer.observe({ entryTypes: ['gc'] });

async function windows(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < WINDOW; j++) reqs[j] = sender ? world.isend(s, peer, 100) : world.irecv(r, peer, 100);
    await iwaitAll(reqs);
    await (sender ? world.irecv(ackR, peer, 101) : world.isend(ackS, peer, 101));
  }
}

await windows(WARMUP);
const sections: { t0: number; t1: number }[] = [];
for (let k = 0; k < SECTIONS; k++) {
  const t0 = performance.now();
  await windows(PER);
  sections.push({ t0, t1: performance.now() });
}
await new Promise((resolve) => setTimeout(resolve, 50)); // the observer reports asynchronously
observer.disconnect();

// The longest collection of this rank overlapping each section; the peer's come over by message.
const mine = new Float64Array(sections.map(({ t0, t1 }) => {
  let longest = 0;
  for (const g of gcs) if (g.end > t0 && g.start < t1) longest = Math.max(longest, g.end - g.start);
  return longest;
}));
const theirs = new Float64Array(SECTIONS);
if (sender) {
  world.recv(theirs, peer, 102);
} else {
  world.send(mine, peer, 102);
}

if (sender) {
  const rates = sections.map(({ t0, t1 }) => (SIZE * WINDOW * PER) / ((t1 - t0) * 1e3)); // MB/s
  const groups = new Map<string, number[]>([['no collection', []], ['a collection under 1 ms', []], ['a collection of 1 ms or more', []]]);
  rates.forEach((rate, i) => {
    const gc = Math.max(mine[i]!, theirs[i]!);
    groups.get(gc === 0 ? 'no collection' : gc < 1 ? 'a collection under 1 ms' : 'a collection of 1 ms or more')!.push(rate);
  });
  for (const [what, v] of groups) {
    v.sort((a, b) => a - b);
    const median = v.length === 0 ? null : Number(v[v.length >> 1]!.toFixed(2));
    process.stdout.write(JSON.stringify({ bench: 'window-sections', what, sections: v.length, median, min: v.length ? Number(v[0]!.toFixed(2)) : null, unit: 'MB/s' }) + '\n');
  }
  const pattern = rates.map((x) => (x < 10 ? 'S' : x < 16 ? 'm' : '.')).join('');
  process.stdout.write(JSON.stringify({ bench: 'window-sections', what: 'sections in order', pattern }) + '\n');
}
