// mpi4node's GPU API, exported as the `gpu` namespace: device buffers, NCCL communicators, and device
// buffers over MPI. The CUDA runtime and NCCL are loaded at run time on first use, so this module
// costs nothing where there is no GPU; gpu.available() and gpu.status() say what was found and why not.
// See docs/gpu.md.
import './p2p.js';

export { available, status, sitePackages, cudartCandidates, ncclCandidates, type GpuStatus, type TriedPath } from './loader.js';
export { DeviceBuffer } from './buffer.js';
export { deviceCount, device, setDevice, selectDevice } from './device.js';
export {
  DEVICE_DTYPES, deviceDtype, decodeNcclVersion, type DeviceDtype, type DeviceDtypeInfo, type NcclOpName, type Version,
} from './dtypes.js';
export { NcclComm, nccl, ncclAsync, group, groupStart, groupEnd, type NcclCommOptions, type NcclOpOptions } from './nccl.js';
export { GpuRequest, type Completion } from './ops.js';
export { mpiCudaAware, send, recv, isend, irecv } from './p2p.js';
export { configureStaging, type StagingOptions } from './config.js';
export { GpuUnavailableError, CudaError, NcclError, NcclTimeoutError, NcclMismatchError } from './errors.js';
export {
  GPU_UNAVAILABLE_CODES, NCCL_ERROR_CODES, NCCL_RESULTS, type GpuErrorCode, type GpuUnavailableCode, type NcclErrorCode,
  type NcclResultName, type CudaErrorCode,
} from '../core/codes.js';

import { native } from '../addon/binding.js';

/** Live device allocations, operations in flight and pooled resources of this environment (diagnostics). */
export function stats(): ReturnType<typeof native.gpu.stats> {
  return native.gpu.stats();
}
