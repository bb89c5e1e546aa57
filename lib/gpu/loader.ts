// Where the CUDA runtime and NCCL are looked for, and what was found. Loading happens once per process,
// on the first GPU call (so a program, or a test, may set MPI4NODE_CUDART / MPI4NODE_NCCL before), in
// this order: an explicit path from the environment (then nothing else: an explicit choice is never
// silently replaced); the folders where NVIDIA's Python wheels put them (site-packages/nvidia/cu13/lib,
// nvidia/cuda_runtime/lib, nvidia/nccl/lib); the system's library path; $CUDA_HOME/lib64.
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { native } from '../addon/binding.js';
import type { NativeGpuStatus } from '../addon/native.js';
import type { GpuUnavailableCode } from '../core/codes.js';
import { invalidParameterError } from '../core/checks.js';
import { AVG_SINCE, atLeast, cudaVersionText, decodeNcclVersion, versionText, type Version } from './dtypes.js';
import { GpuUnavailableError } from './errors.js';

export interface TriedPath {
  path: string;
  /** Why it did not load; empty for the one that did. */
  error: string;
}

export interface GpuStatus {
  /** True when the CUDA runtime loaded, the driver answered and there is at least one device. */
  available: boolean;
  /** Why not (empty when available): a stable code and a sentence. */
  code: GpuUnavailableCode | '';
  reason: string;
  cuda: {
    path: string;
    /** Runtime and driver versions, 'major.minor'; the driver's is '' when there is no driver. */
    runtimeVersion: string;
    driverVersion: string;
    devices: number;
    tried: TriedPath[];
  };
  nccl: {
    available: boolean;
    code: GpuUnavailableCode | '';
    reason: string;
    path: string;
    /** 'X.Y.Z', decoded from ncclGetVersion (whose encoding changed in 2.9). */
    version: string;
    versionCode: number;
    /** What this NCCL supports beyond the basics. */
    features: { bfloat16: boolean; avg: boolean; fp8: boolean; sendRecv: boolean };
    tried: TriedPath[];
  };
}

function checkEnv(env: unknown, what: string): void {
  if (env === null || typeof env !== 'object') throw invalidParameterError('ERR_INVALID_ARG_TYPE', `${what}: env`, 'an object (like process.env)', env);
}

/** Python site-packages folders that may hold NVIDIA's wheels, existing ones only. */
export function sitePackages(env: NodeJS.ProcessEnv = process.env): string[] {
  checkEnv(env, 'sitePackages');
  const prefixes = new Set<string>();
  for (const p of [env.VIRTUAL_ENV, env.CONDA_PREFIX]) if (p) prefixes.add(p);
  const direct = new Set<string>();
  for (const p of (env.PYTHONPATH ?? '').split(path.delimiter)) if (p) direct.add(p);
  // Every python on PATH: a venv's bin/ names its own prefix; the resolved binary the base install's.
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    for (const exe of ['python3', 'python']) {
      const file = path.join(dir || '.', exe);
      if (!existsSync(file)) continue;
      prefixes.add(path.dirname(path.resolve(dir || '.')));
      try {
        prefixes.add(path.dirname(path.dirname(realpathSync(file))));
      } catch {
        // a dangling link
      }
    }
  }
  const pyenv = env.PYENV_ROOT ?? path.join(os.homedir(), '.pyenv');
  for (const v of list(path.join(pyenv, 'versions'))) prefixes.add(path.join(pyenv, 'versions', v));
  prefixes.add(path.join(os.homedir(), '.local'));
  prefixes.add('/usr/local');
  prefixes.add('/usr');
  const out: string[] = [...direct];
  for (const prefix of prefixes) {
    for (const lib of ['lib', 'lib64']) {
      for (const py of list(path.join(prefix, lib)).filter((n) => /^python3(\.\d+)?$/.test(n)).sort().reverse()) {
        for (const leaf of ['site-packages', 'dist-packages']) out.push(path.join(prefix, lib, py, leaf));
      }
    }
  }
  return [...new Set(out)].filter((d) => existsSync(path.join(d, 'nvidia')));
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

// A path is made absolute; a bare name (libcudart.so.13) goes through the system's search, as dlopen's.
function explicit(p: string): string {
  return p.includes('/') ? path.resolve(p) : p;
}

function cudaHome(env: NodeJS.ProcessEnv): string {
  return env.CUDA_HOME ?? env.CUDA_PATH ?? '/usr/local/cuda';
}

/** Candidate paths for the CUDA runtime, in search order. Bare names go through the system's path. */
export function cudartCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  checkEnv(env, 'cudartCandidates');
  if (env.MPI4NODE_CUDART) return [explicit(env.MPI4NODE_CUDART)];
  const out: string[] = [];
  for (const sp of sitePackages(env)) {
    out.push(path.join(sp, 'nvidia', 'cu13', 'lib', 'libcudart.so.13'));
    out.push(path.join(sp, 'nvidia', 'cuda_runtime', 'lib', 'libcudart.so.13'));
    out.push(path.join(sp, 'nvidia', 'cuda_runtime', 'lib', 'libcudart.so.12'));
  }
  out.push('libcudart.so.13', 'libcudart.so.12');
  out.push(path.join(cudaHome(env), 'lib64', 'libcudart.so.13'), path.join(cudaHome(env), 'lib64', 'libcudart.so.12'));
  return [...new Set(out)].filter((p) => !path.isAbsolute(p) || existsSync(p) || !p.includes(`${path.sep}nvidia${path.sep}`));
}

/** Candidate paths for NCCL, in search order. */
export function ncclCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  checkEnv(env, 'ncclCandidates');
  if (env.MPI4NODE_NCCL) return [explicit(env.MPI4NODE_NCCL)];
  const out: string[] = [];
  for (const sp of sitePackages(env)) out.push(path.join(sp, 'nvidia', 'nccl', 'lib', 'libnccl.so.2'));
  out.push('libnccl.so.2', path.join(cudaHome(env), 'lib64', 'libnccl.so.2'));
  return [...new Set(out)].filter((p) => !path.isAbsolute(p) || existsSync(p) || !p.includes(`${path.sep}nvidia${path.sep}`));
}

let cached: GpuStatus | undefined;
let ncclVersion: Version = [0, 0, 0];

function describe(raw: NativeGpuStatus): GpuStatus {
  const available = raw.cuda.code === '';
  ncclVersion = decodeNcclVersion(raw.nccl.versionCode);
  const ncclOk = raw.nccl.code === '';
  return {
    available,
    code: raw.cuda.code as GpuUnavailableCode | '',
    reason: raw.cuda.reason,
    cuda: {
      path: raw.cuda.path,
      runtimeVersion: raw.cuda.runtimeVersion ? cudaVersionText(raw.cuda.runtimeVersion) : '',
      driverVersion: raw.cuda.driverVersion ? cudaVersionText(raw.cuda.driverVersion) : '',
      devices: raw.cuda.devices,
      tried: raw.cuda.tried,
    },
    nccl: {
      available: ncclOk,
      code: raw.nccl.code as GpuUnavailableCode | '',
      reason: raw.nccl.reason,
      path: raw.nccl.path,
      version: ncclOk ? versionText(ncclVersion) : '',
      versionCode: raw.nccl.versionCode,
      features: {
        bfloat16: ncclOk && atLeast(ncclVersion, [2, 10, 3]),
        avg: ncclOk && atLeast(ncclVersion, AVG_SINCE),
        fp8: ncclOk && atLeast(ncclVersion, [2, 24, 3]),
        sendRecv: ncclOk && raw.nccl.p2p,
      },
      tried: raw.nccl.tried,
    },
  };
}

/** What was found, loading the libraries first if no GPU call has yet. Never throws. */
export function status(): GpuStatus {
  if (cached === undefined) cached = describe(native.gpu.load(cudartCandidates(), ncclCandidates()));
  return cached;
}

/** True only when the CUDA runtime loads, the driver answers and at least one device exists. */
export function available(): boolean {
  return status().available;
}

/** Throws GpuUnavailableError (with the reason) unless CUDA is usable. */
export function requireCuda(): GpuStatus {
  const s = status();
  if (!s.available) throw new GpuUnavailableError(s.code as GpuUnavailableCode, s.reason);
  return s;
}

/** Throws GpuUnavailableError unless both CUDA and NCCL are usable. */
export function requireNccl(): GpuStatus {
  const s = requireCuda();
  if (!s.nccl.available) throw new GpuUnavailableError(s.nccl.code as GpuUnavailableCode, s.nccl.reason);
  return s;
}

/** The loaded NCCL's version ([0, 0, 0] before loading). */
export function loadedNcclVersion(): Version {
  return ncclVersion;
}
