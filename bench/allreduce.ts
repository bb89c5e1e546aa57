// float32 allreduce, C against mpi4node in one run (OSU method on both sides: warm-up, each timed
// iteration followed by a barrier, a rank's mean, averaged over ranks; see bench/native/osu_allreduce.c
// and bench/node/osu_allreduce.ts, which this runs):
//
//   node --import tsx bench/allreduce.ts [--reps N] [--ranks 2,4] [--sizes 4,1048576]
//
// Each repetition runs C, mpi4node blocking and mpi4node Promise once per rank count, one mpirun each,
// in alternating order, so that the machine's drift falls on all of them alike. Prints the median
// latency of each and its ratio to C (the median of the per-repetition ratios), in microseconds.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectMpi, mpirunCommand } from '../lib/cli/launcher.js';
import { compileBenchPrograms, compiledProgram } from './harness/compile.js';
import { runJob, type Command } from './harness/exec.js';
import { buildNative } from './native/build.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const reps = Number(arg('--reps', '5'));
const rankCounts = arg('--ranks', '2,4').split(',').map(Number);
const sizes = arg('--sizes', '4,1048576');

// One folder per MPI, as bench/run.ts keeps them: the two MPIs' programs do not overwrite each other.
const mpi = detectMpi();
const { allreduce: cBin } = await buildNative({ mpicc: mpi.mpicc, outDir: path.join(here, 'native', 'bin', mpi.flavour) });
await compileBenchPrograms();
const impls: [string, (np: number) => Command][] = [
  ['c', (np) => mpirunCommand({ np, program: cBin, script: '', scriptArgs: ['--sizes', sizes] })],
  ...(['blocking', 'promise'] as const).map((mode): [string, (np: number) => Command] => [
    `mpi4node-${mode}`,
    (np) => mpirunCommand({ np, script: compiledProgram(path.join(here, 'node', 'osu_allreduce.ts')), scriptArgs: ['--sizes', sizes, '--mode', mode] }),
  ]),
];

// key "impl ranks size" -> one value per repetition
const runs = new Map<string, number[]>();
for (let rep = 0; rep < reps; rep++) {
  for (const np of rankCounts) {
    const order = rep % 2 === 0 ? impls : [...impls].reverse();
    for (const [impl, cmd] of order) {
      const r = await runJob(cmd(np), 300);
      if (r.error) throw new Error(`${impl} at ${np} ranks: ${r.error}\n${r.stderr}`);
      for (const line of r.lines) {
        const key = `${impl} ${np} ${line.size}`;
        runs.set(key, [...(runs.get(key) ?? []), line.value as number]);
      }
    }
  }
  process.stderr.write(`repetition ${rep + 1}/${reps} done\n`);
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
console.log(`float32 allreduce, OSU method, ${reps} repetitions, latency in us: median and best over repetitions;`);
console.log('ratio to C: median of the same-repetition ratios, and best against best (for a busy machine)');
console.log('ranks  bytes     impl                   median      best    vs C  best vs best');
for (const np of rankCounts) {
  for (const size of sizes.split(',')) {
    const c = runs.get(`c ${np} ${size}`) ?? [];
    for (const [impl] of impls) {
      const v = runs.get(`${impl} ${np} ${size}`) ?? [];
      const best = Math.min(...v);
      const ratio = impl === 'c' ? '' : median(v.map((x, i) => x / c[i]!)).toFixed(2) + 'x';
      const bestRatio = impl === 'c' ? '' : (best / Math.min(...c)).toFixed(2) + 'x';
      console.log(`${String(np).padEnd(7)}${size.padEnd(10)}${impl.padEnd(21)}${median(v).toFixed(2).padStart(8)}` +
        `${best.toFixed(2).padStart(10)}${ratio.padStart(8)}${bestRatio.padStart(14)}`);
    }
  }
}
