// Which GPU this rank uses. Ranks sharing a node take devices by their rank among the ranks that share
// its memory (MPI_COMM_TYPE_SHARED), modulo the device count: selectDevice() finds that rank
// collectively; before any explicit choice, the first GPU call takes it from the launcher's environment
// (OpenMPI, MPICH/Hydra, Slurm, MVAPICH all export it), which needs no communication.
import { native } from '../addon/binding.js';
import { world, type Comm } from '../comm/comm.js';
import { ensureInit } from '../core/env.js';
import { invalidParameterError } from '../core/checks.js';
import { requireCuda } from './loader.js';

let chosen = false;

const LOCAL_RANK_VARS = ['OMPI_COMM_WORLD_LOCAL_RANK', 'MPI_LOCALRANKID', 'PMI_LOCAL_RANK', 'MV2_COMM_WORLD_LOCAL_RANK', 'SLURM_LOCALID'];

/** The launcher's local rank of this process, if it exported one. */
export function launcherLocalRank(env: NodeJS.ProcessEnv = process.env): number | undefined {
  for (const v of LOCAL_RANK_VARS) {
    const n = Number(env[v]);
    if (env[v] !== undefined && env[v] !== '' && Number.isInteger(n) && n >= 0) return n;
  }
  return undefined;
}

/** Called before every device allocation and communicator: picks this rank's device once. */
export function ensureDevice(): void {
  if (chosen) return;
  const s = requireCuda();
  chosen = true;
  const local = launcherLocalRank();
  if (local !== undefined && s.cuda.devices > 1) native.gpu.setDevice(local % s.cuda.devices);
}

export function deviceCount(): number {
  return requireCuda().cuda.devices;
}

/** The current device of this thread. */
export function device(): number {
  requireCuda();
  return native.gpu.getDevice();
}

/** Makes `index` this thread's device; buffers and communicators made later live there. */
export function setDevice(index: number): void {
  const n = deviceCount();
  if (!Number.isInteger(index) || index < 0 || index >= n) {
    throw invalidParameterError('ERR_INVALID_DEVICE', 'device', `an integer in 0..${n - 1}`, index, RangeError);
  }
  native.gpu.setDevice(index);
  chosen = true;
}

/**
 * Collective over `comm`: gives each rank the device of its rank among the ranks sharing its node,
 * modulo the device count, and returns it. Call it before making device buffers.
 */
export function selectDevice(comm: Comm = world): number {
  const n = deviceCount();
  ensureInit();
  const [localRank] = native.gpu.sharedLocalRank(comm._handle());
  const d = localRank % n;
  native.gpu.setDevice(d);
  chosen = true;
  return d;
}
