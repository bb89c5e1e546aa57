// DeviceBuffers over MPI: comm.send/recv/isend/irecv take them (lib/comm/comm.ts hands a DeviceBuffer
// here once its typed-array fast path has declined it, so host messages pay nothing). With a
// CUDA-aware MPI (asked at run time: MPIX_Query_cuda_support, MPIX_GPU_query_support) the device
// pointer goes to MPI; otherwise the addon stages the message through pinned host chunks, pipelined
// (native/gpu/staging.cc). Either end may be a host array: a host array sent to a DeviceBuffer is taken
// as raw bytes, and a host array receives a staged device message whole (lib/core/staged.ts).
import { native } from '../addon/binding.js';
import { ANY_SOURCE, ANY_TAG, checkComm, Comm, _setDeviceMessages } from '../comm/comm.js';
import { ensureInit } from '../core/env.js';
import { stagingChunk } from './config.js';
import { Status } from '../core/status.js';
import { DeviceBuffer } from './buffer.js';
import { requireCuda } from './loader.js';
import type { GpuRequest } from './ops.js';

let aware: { aware: boolean; how: string } | undefined;

/**
 * Whether MPI takes device pointers here (asked once; MPI4NODE_CUDA_AWARE=0/1 overrides), and how
 * that was decided. Initialises MPI if needed.
 */
export function mpiCudaAware(): { aware: boolean; how: string } {
  if (aware === undefined) {
    ensureInit();
    const force = process.env.MPI4NODE_CUDA_AWARE;
    const [a, how] = native.gpu.cudaAware(force === '1' ? 1 : force === '0' ? 0 : -1);
    aware = { aware: a, how };
  }
  return aware;
}

// Peer and tag were checked by the Comm method, as for host messages.
function post(comm: Comm, buf: DeviceBuffer, peer: number, tag: number, isSend: boolean): GpuRequest<Status> {
  requireCuda();
  const h = buf._use(!isSend);
  const a = mpiCudaAware().aware;
  const id = isSend
    ? native.gpu.isend(h, buf.byteOffset, buf.byteLength, peer, tag, comm._handle(), comm._handle(true), stagingChunk(), a)
    : native.gpu.irecv(h, buf.byteOffset, buf.byteLength, peer, tag, comm._handle(), comm._handle(true), a);
  // A send's status names its destination and tag, as MPI request statuses in lib/core/request.ts do.
  return buf._track(id, (c) => new Status(isSend ? peer : c.source, isSend ? tag : c.tag, c.bytes, false, buf.elementSize),
    [comm], [], isSend ? 'read' : 'write');
}

_setDeviceMessages({ is: (buf): buf is DeviceBuffer => buf instanceof DeviceBuffer, post });

/** comm.send(buf, dest, tag) for a DeviceBuffer (the same call). */
export function send(comm: Comm, buf: DeviceBuffer, dest: number, tag = 0): void {
  checkComm(comm, 'gpu.send: comm');
  comm.send(buf, dest, tag);
}

/** comm.recv(buf, source, tag) for a DeviceBuffer (the same call). */
export function recv(comm: Comm, buf: DeviceBuffer, source: number = ANY_SOURCE, tag: number = ANY_TAG): Status {
  checkComm(comm, 'gpu.recv: comm');
  return comm.recv(buf, source, tag);
}

/** comm.isend(buf, dest, tag) for a DeviceBuffer (the same call). */
export function isend(comm: Comm, buf: DeviceBuffer, dest: number, tag = 0): GpuRequest<Status> {
  checkComm(comm, 'gpu.isend: comm');
  return comm.isend(buf, dest, tag);
}

/** comm.irecv(buf, source, tag) for a DeviceBuffer (the same call). */
export function irecv(comm: Comm, buf: DeviceBuffer, source: number = ANY_SOURCE, tag: number = ANY_TAG): GpuRequest<Status> {
  checkComm(comm, 'gpu.irecv: comm');
  return comm.irecv(buf, source, tag);
}
