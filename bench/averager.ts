// The gradient averager against its two alternatives (issue 14's target: within 1.2x of one allreduce
// of a pre-concatenated buffer, faster than one allreduce per tensor):
//
//   node --import tsx bench/averager.ts [--ranks 2,4] [--iters 5] [--scale 1]
//
// 200 float32 tensors of sizes spread log-uniformly over 1 KiB-4 MiB (a fixed seed; --scale shrinks
// them, e.g. 0.1 on a busy machine). Per rank count, one mpirun runs every variant in alternating
// order, one warm-up each, then --iters timed iterations each ended by a barrier; prints the median
// seconds per iteration over the ranks' maxima and each variant's ratio to the single allreduce: the
// median of the ratios within one iteration (so that the machine's drift falls on both alike), which
// is what the target is judged on. A last variant registers the same tensors as views laid end to end
// in one buffer (reduced in place: no packing).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const iters = Number(arg('--iters', '5'));
const scale = Number(arg('--scale', '1'));

if (!process.argv.includes('--job')) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const bin = path.join(here, '..', 'bin', 'mpi4node.js');
  for (const np of arg('--ranks', '2,4').split(',').map(Number)) {
    const r = spawnSync(process.execPath, [bin, 'run', '-n', String(np), fileURLToPath(import.meta.url), '--job', '--iters', String(iters), '--scale', String(scale)],
      { stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
} else {
  const lib = await import('../lib/index.js');
  const { world, GradientAverager } = lib;
  let seed = 14;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const lengths = Array.from({ length: 200 }, () => Math.max(1, Math.round((1024 * 2 ** (rand() * 12) * scale) / 4)));
  const tensors = lengths.map((n) => new Float32Array(n).fill(world.rank + 1));
  const total = lengths.reduce((a, b) => a + b, 0);
  const flat = new Float32Array(total);

  const averager = new GradientAverager(world);
  tensors.forEach((t, i) => averager.register(`t${i}`, t));
  const avgHalf = new GradientAverager(world, { compression: 'bfloat16' });
  tensors.forEach((t, i) => avgHalf.register(`t${i}`, t));
  const whole = new Float32Array(total).fill(world.rank + 1);
  const avgViews = new GradientAverager(world);
  lengths.reduce((at, n, i) => (avgViews.register(`t${i}`, whole.subarray(at, at + n)), at + n), 0);

  const variants: [string, () => Promise<void> | void][] = [
    ['one allreduce of a concatenated buffer', () => void world.allreduce(lib.IN_PLACE, 'avg', flat)],
    ['per-tensor allreduce (blocking)', () => { for (const t of tensors) world.allreduce(lib.IN_PLACE, 'avg', t); }],
    ['averager.averageSync()', () => averager.averageSync()],
    ['averager.average()', () => averager.average()],
    ['averager.average(), bfloat16 wire', () => avgHalf.average()],
    ['averager.average(), views of one buffer', () => avgViews.average()],
  ];
  const times = new Map<string, number[]>(variants.map(([n]) => [n, []]));
  const ratios = new Map<string, number[]>(variants.map(([n]) => [n, []]));
  for (const [, run] of variants) await run(); // warm-up (buffers, buckets, MPI connections)
  for (let it = 0; it < iters; it++) {
    const order = it % 2 === 0 ? variants : [...variants].reverse();
    for (const [name, run] of order) {
      world.barrier();
      const t0 = performance.now();
      await run();
      world.barrier();
      const mine = new Float64Array([(performance.now() - t0) / 1000]);
      times.get(name)!.push(world.allreduce(mine, 'max')[0]!);
    }
    const base = times.get(variants[0]![0])!.at(-1)!;
    for (const [name] of variants) ratios.get(name)!.push(times.get(name)!.at(-1)! / base);
  }
  if (world.rank === 0) {
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const base = median(times.get(variants[0]![0])!);
    console.log(`\n${world.size} ranks, 200 tensors, ${(total * 4 / 2 ** 20).toFixed(1)} MiB float32, ` +
      `${averager.buckets.length} buckets of <= 25 MiB, ${iters} iterations (median s/iteration; median of same-iteration ratios to one allreduce)`);
    console.log(`  ${variants[0]![0].padEnd(40)} ${base.toFixed(4)} s  1.00x`);
    const perTensor = median(ratios.get(variants[1]![0])!);
    for (const [name] of variants.slice(1)) {
      const m = median(times.get(name)!), r = median(ratios.get(name)!);
      // The target for the averager: within 1.2x of the single allreduce, faster than per-tensor.
      const verdict = name.startsWith('averager') ? `  target <= 1.2x and < per-tensor: ${r <= 1.2 && r < perTensor ? 'PASS' : 'FAIL'}` : '';
      console.log(`  ${name.padEnd(40)} ${m.toFixed(4)} s  ${r.toFixed(2)}x${verdict}`);
    }
  }
}
