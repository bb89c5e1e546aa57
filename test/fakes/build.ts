// Builds the fake CUDA runtime and fake NCCL (test-only; see fake_cudart.c and fake_nccl.c) into
// test/.tmp/fakes, when missing or older than their sources. The GPU test suites call this before
// they load anything; every rank of an mpirun may call it at once, so a lock directory serialises the
// build and outputs appear by rename, never half-written.
//
//   node --import tsx test/fakes/build.ts     prints the two paths
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonAbi } from '../../lib/addon/load.js';
import { detectMpi } from '../../lib/cli/launcher.js';

const self = fileURLToPath(import.meta.url);
const here = path.dirname(self);
const root = path.resolve(here, '..', '..');
// The fake NCCL calls MPI, so it is built once per MPI family, with the addon's own mpicc.
export const FAKES_DIR = path.join(root, 'test', '.tmp', 'fakes', addonAbi() ?? 'default');

export interface Fakes {
  cudart: string;
  nccl: string;
  /** A CUDA 12.0 runtime (FAKE_CUDA_DRIVER=old can run it, not the 13.0 one). */
  cudart12: string;
  /** An NCCL without ncclCommInitRankConfig (before 2.14). */
  ncclNoConfig: string;
}

const mtime = (f: string) => (existsSync(f) ? statSync(f).mtimeMs : 0);


function lock(dir: string): () => void {
  const lockDir = path.join(dir, '.lock');
  const start = Date.now();
  for (;;) {
    try {
      mkdirSync(lockDir);
      return () => rmSync(lockDir, { recursive: true, force: true });
    } catch {
      // Another process is building; a lock older than a minute was left by one that died.
      if (Date.now() - mtime(lockDir) > 60_000) rmSync(lockDir, { recursive: true, force: true });
      if (Date.now() - start > 120_000) throw new Error(`test/fakes: timed out waiting for ${lockDir}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
}

/** The paths of the two fakes, built first if needed. */
export function buildFakes(): Fakes {
  const out: Fakes = {
    cudart: path.join(FAKES_DIR, 'libfakecudart.so'), nccl: path.join(FAKES_DIR, 'libfakenccl.so'),
    cudart12: path.join(FAKES_DIR, 'libfakecudart12.so'), ncclNoConfig: path.join(FAKES_DIR, 'libfakenccl-noconfig.so'),
  };
  const abi = path.join(root, 'native', 'gpu', 'abi.h');
  const srcCudart = path.join(here, 'fake_cudart.c');
  const srcNccl = path.join(here, 'fake_nccl.c');
  const stale = () =>
    Math.min(mtime(out.cudart), mtime(out.cudart12)) < Math.max(mtime(srcCudart), mtime(abi), mtime(self)) ||
    Math.min(mtime(out.nccl), mtime(out.ncclNoConfig)) < Math.max(mtime(srcNccl), mtime(abi), mtime(out.cudart));
  if (!stale()) return out;
  mkdirSync(FAKES_DIR, { recursive: true });
  const unlock = lock(FAKES_DIR);
  try {
    if (!stale()) return out;
    const flags = ['-shared', '-fPIC', '-O1', '-g', '-Wall', '-Wextra', '-fvisibility=hidden'];
    const tmp = `.${process.pid}.tmp`;
    execFileSync('cc', [...flags, '-Wl,-soname,libfakecudart.so', '-o', out.cudart + tmp, srcCudart, '-lm'], { stdio: 'pipe' });
    renameSync(out.cudart + tmp, out.cudart);
    execFileSync('cc', [...flags, '-DFAKE_CUDA_RUNTIME_VERSION=12000', '-Wl,-soname,libfakecudart12.so', '-o',
      out.cudart12 + tmp, srcCudart, '-lm'], { stdio: 'pipe' });
    renameSync(out.cudart12 + tmp, out.cudart12);
    // Linked against the fake runtime by soname: loaded after it (MPI4NODE_CUDART), the fake NCCL
    // shares that very copy, and with it the registry of device allocations and stalled streams.
    for (const [file, extra] of [[out.nccl, []], [out.ncclNoConfig, ['-DFAKE_NCCL_NO_CONFIG']]] as const) {
      execFileSync(detectMpi().mpicc, [...flags, ...extra, '-o', file + tmp, srcNccl, `-L${FAKES_DIR}`, '-lfakecudart',
        `-Wl,-rpath,${FAKES_DIR}`, '-lm'], { stdio: 'pipe' });
      renameSync(file + tmp, file);
    }
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`test/fakes: building the fake CUDA/NCCL failed: ${err.stderr?.toString() || err.message}`);
  } finally {
    unlock();
  }
  return out;
}


if (process.argv[1] && path.resolve(process.argv[1]) === self) {
  const f = buildFakes();
  console.log(`MPI4NODE_CUDART=${f.cudart}\nMPI4NODE_NCCL=${f.nccl}`);
}

/** Runs `fn` with the fakes' knobs (environment variables) set, which they read at every call. */
export function withEnv<T>(vars: Record<string, string>, fn: () => T): T {
  for (const [k, v] of Object.entries(vars)) process.env[k] = v;
  try {
    return fn();
  } finally {
    for (const k of Object.keys(vars)) delete process.env[k];
  }
}

/** withEnv for a Promise form, whose native calls happen after the call returns. */
export async function withEnvAsync<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  for (const [k, v] of Object.entries(vars)) process.env[k] = v;
  try {
    return await fn();
  } finally {
    for (const k of Object.keys(vars)) delete process.env[k];
  }
}
