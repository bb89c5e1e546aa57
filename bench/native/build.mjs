// Builds the native OSU-style reference benchmarks (osu_latency and its two polling variants, osu_bw,
// osu_allreduce, osu_iallreduce, osu_mbw_mr, osu_{put,get,acc}_latency).
//
//   import { buildNative } from './native/build.mjs';
//   const { latency, bw, allreduce } = await buildNative({ mpicc: '/opt/ompi/bin/mpicc' });
//
//   node bench/native/build.mjs [--mpicc PATH] [--out-dir DIR]   # builds, prints the paths as JSON
//
// mpicc: the option, else $MPI4NODE_MPICC, else $MPI_HOME/bin/mpicc, else `mpicc` on PATH. A program
// is recompiled when its binary is missing, older than its source or osu_common.h, or was built by a
// different mpicc / flags (recorded in <outDir>/build-info.json).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// -Wno-stringop-overflow: gcc 12 misreads MPICH's MPI_STATUSES_IGNORE (a null MPI_Status[0]) as an overflow.
const CFLAGS = ['-O2', '-std=c11', '-Wall', '-Wextra', '-Wno-stringop-overflow'];
// key: [binary, source, extra flags]. osu_iallreduce is osu_allreduce.c with MPI_Iallreduce + MPI_Wait
// (OSU's osu_iallreduce without the overlap phase): the reference for the Promise form.
const PROGRAMS = {
  latency: ['osu_latency', 'osu_latency', []],
  // osu_latency whose receiver polls, as an event loop must: a posted MPI_Irecv (MPI_Test), or MPI_Improbe.
  latencyTestPoll: ['osu_latency_testpoll', 'osu_latency', ['-DOSU_RECV_POLL=1']],
  latencyProbePoll: ['osu_latency_probepoll', 'osu_latency', ['-DOSU_RECV_POLL=2']],
  bw: ['osu_bw', 'osu_bw', []],
  allreduce: ['osu_allreduce', 'osu_allreduce', []],
  iallreduce: ['osu_iallreduce', 'osu_allreduce', ['-DOSU_NONBLOCKING']],
  // osu_bw with a window of persistent requests (MPI_Send_init/MPI_Recv_init + MPI_Startall).
  bwPersistent: ['osu_bw_persistent', 'osu_bw', ['-DOSU_PERSISTENT']],
  mbwMr: ['osu_mbw_mr', 'osu_mbw_mr', []],
  // One-sided: osu_put_latency / osu_get_latency / osu_acc_latency (passive target, lock + flush).
  putLatency: ['osu_put_latency', 'osu_rma', ['-DOSU_RMA_PUT']],
  getLatency: ['osu_get_latency', 'osu_rma', ['-DOSU_RMA_GET']],
  accLatency: ['osu_acc_latency', 'osu_rma', ['-DOSU_RMA_ACC']],
  // MPI's own cost per call on one rank (bench/node/percall.ts is the binding's).
  percall: ['percall', 'percall', []],
};

function resolveMpicc(explicit) {
  if (explicit) return explicit;
  if (process.env.MPI4NODE_MPICC) return process.env.MPI4NODE_MPICC;
  if (process.env.MPI_HOME) {
    const candidate = path.join(process.env.MPI_HOME, 'bin', 'mpicc');
    if (existsSync(candidate)) return candidate;
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, 'mpicc'))) return path.join(dir, 'mpicc');
  }
  return 'mpicc';
}

async function mtime(file) {
  try {
    return (await stat(file)).mtimeMs;
  } catch {
    return -1;
  }
}

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const why = err.code === 'ENOENT' ? `${cmd} not found (set MPI4NODE_MPICC or MPI_HOME)` : err.message;
        reject(new Error(`${[cmd, ...args].join(' ')} failed: ${why}\n${stderr}`));
      } else {
        if (stderr.trim()) process.stderr.write(stderr);
        resolve(stdout);
      }
    });
  });
}

/**
 * @param {{ mpicc?: string, outDir?: string }} [options]
 * @returns {Promise<import('./build.d.mts').NativeBenchPaths>} absolute binary paths
 */
export async function buildNative(options = {}) {
  const mpicc = resolveMpicc(options.mpicc);
  const outDir = path.resolve(options.outDir ?? path.join(here, 'bin'));
  await mkdir(outDir, { recursive: true });

  const infoFile = path.join(outDir, 'build-info.json');
  const info = JSON.stringify({ mpicc, cflags: CFLAGS });
  const previous = await readFile(infoFile, 'utf8').catch(() => '');
  const sameToolchain = previous.trim() === info;
  const header = await mtime(path.join(here, 'osu_common.h'));

  const result = {};
  for (const [key, [name, source, flags]] of Object.entries(PROGRAMS)) {
    const src = path.join(here, `${source}.c`);
    const bin = path.join(outDir, name);
    const built = await mtime(bin);
    if (!sameToolchain || built < 0 || built < (await mtime(src)) || built < header) {
      const tmp = `${bin}.tmp-${process.pid}`;
      try {
        await run(mpicc, [...CFLAGS, ...flags, '-o', tmp, src]);
        await rename(tmp, bin);
      } finally {
        await rm(tmp, { force: true });
      }
    }
    result[key] = bin;
  }
  if (!sameToolchain) await writeFile(infoFile, info + '\n');
  return /** @type {import('./build.d.mts').NativeBenchPaths} */ (result);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const options = {};
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    const value = inline ?? args[++i];
    if ((flag !== '--mpicc' && flag !== '--out-dir') || value === undefined) {
      console.error('usage: node bench/native/build.mjs [--mpicc PATH] [--out-dir DIR]');
      process.exit(2);
    }
    options[flag === '--mpicc' ? 'mpicc' : 'outDir'] = value;
  }
  try {
    console.log(JSON.stringify(await buildNative(options), null, 2));
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
