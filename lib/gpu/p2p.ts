// DeviceBuffers over MPI: comm.send/recv/isend/irecv take them. With a CUDA-aware MPI (asked at run
// time: MPIX_Query_cuda_support, MPIX_GPU_query_support) the device pointer goes to MPI; otherwise the
// addon stages the message through pinned host chunks, pipelined (native/gpu/staging.cc). Both sides
// of a staged message must be DeviceBuffers, except that a host array may be sent to a DeviceBuffer.
// The Comm methods are wrapped here rather than edited, so point-to-point in lib/comm/comm.ts stays as it
// is; a DeviceBuffer is recognised by one instanceof check before the original method runs. The
// wrappers go in when the first DeviceBuffer is made: until then none can be passed, and host
// messages pay nothing (the check costs ~10 ns a call, ~2% of a small message). Their
// TypeScript signatures cannot name DeviceBuffer from outside comm.ts, so the same four calls are also
// exported typed, as gpu.send(comm, buf, dest, tag) and so on.
import { native } from '../addon/binding.js';
import { ANY_SOURCE, ANY_TAG, checkComm, Comm, PROC_NULL, tagUpperBound } from '../comm/comm.js';
import { invalidParameterError, isRank, isTag, rankError, tagError } from '../core/checks.js';
import { ensureInit } from '../core/env.js';
import { stagingChunk } from './config.js';
import { Status } from '../core/status.js';
import { DeviceBuffer, onFirstBuffer } from './buffer.js';
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

// The same checks, errors and codes as host messages (lib/comm/comm.ts).
function checkPeer(comm: Comm, r: unknown, what: string, anyOk: boolean): number {
  const size = comm.size;
  if (isRank(r, size)) return r;
  if (r === PROC_NULL || (anyOk && r === ANY_SOURCE)) return r;
  throw rankError(what, r, size, anyOk ? 'ANY_SOURCE or PROC_NULL' : 'PROC_NULL');
}

function checkTag(t: unknown, anyOk: boolean): number {
  if (isTag(t, tagUpperBound())) return t;
  if (anyOk && t === ANY_TAG) return t;
  throw tagError(t, tagUpperBound(), anyOk);
}

function post(comm: Comm, buf: DeviceBuffer, peer: number, tag: number, isSend: boolean): GpuRequest<Status> {
  requireCuda();
  const h = buf._handle();
  const a = mpiCudaAware().aware;
  const id = isSend
    ? native.gpu.isend(h, buf.byteOffset, buf.byteLength, peer, tag, comm._handle(), comm._handle(true), stagingChunk(), a)
    : native.gpu.irecv(h, buf.byteOffset, buf.byteLength, peer, tag, comm._handle(), comm._handle(true), a);
  // A send's status names its destination and tag, as MPI request statuses in lib/core/request.ts do.
  return buf._track(id, (c) => new Status(isSend ? peer : c.source, isSend ? tag : c.tag, c.bytes, false, buf.elementSize), [comm]);
}

function install(): void {
  const P = Comm.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const original = { send: P.send!, recv: P.recv!, isend: P.isend!, irecv: P.irecv! };

  // The wrappers pass their arguments through untouched, so the originals' defaults and fast paths apply.
  P.send = function (this: Comm, buf: unknown, dest: unknown, tag: unknown) {
    if (!(buf instanceof DeviceBuffer)) return original.send.call(this, buf, dest, tag);
    post(this, buf, checkPeer(this, dest, 'dest', false), checkTag(tag ?? 0, false), true).wait();
  };

  P.recv = function (this: Comm, buf: unknown, source: unknown, tag: unknown) {
    if (!(buf instanceof DeviceBuffer)) return original.recv.call(this, buf, source, tag);
    return post(this, buf, checkPeer(this, source ?? ANY_SOURCE, 'source', true), checkTag(tag ?? ANY_TAG, true), false).wait();
  };

  P.isend = function (this: Comm, buf: unknown, dest: unknown, tag: unknown) {
    if (!(buf instanceof DeviceBuffer)) return original.isend.call(this, buf, dest, tag);
    return post(this, buf, checkPeer(this, dest, 'dest', false), checkTag(tag ?? 0, false), true);
  };

  P.irecv = function (this: Comm, buf: unknown, source: unknown, tag: unknown) {
    if (!(buf instanceof DeviceBuffer)) return original.irecv.call(this, buf, source, tag);
    return post(this, buf, checkPeer(this, source ?? ANY_SOURCE, 'source', true), checkTag(tag ?? ANY_TAG, true), false);
  };
}

onFirstBuffer(install);

/** comm.send(buf, dest, tag) for a DeviceBuffer, typed: blocks until the buffer may be reused. */
export function send(comm: Comm, buf: DeviceBuffer, dest: number, tag = 0): void {
  checkComm(comm, 'gpu.send: comm');
  (comm.send as unknown as (b: DeviceBuffer, d: number, t: number) => void).call(comm, buf, dest, tag);
}

/** comm.recv(buf, source, tag) for a DeviceBuffer, typed: blocks until received. */
export function recv(comm: Comm, buf: DeviceBuffer, source: number = ANY_SOURCE, tag: number = ANY_TAG): Status {
  checkComm(comm, 'gpu.recv: comm');
  return (comm.recv as unknown as (b: DeviceBuffer, s: number, t: number) => Status).call(comm, buf, source, tag);
}

/** comm.isend(buf, dest, tag) for a DeviceBuffer, typed. */
export function isend(comm: Comm, buf: DeviceBuffer, dest: number, tag = 0): GpuRequest<Status> {
  checkComm(comm, 'gpu.isend: comm');
  return (comm.isend as unknown as (b: DeviceBuffer, d: number, t: number) => GpuRequest<Status>).call(comm, buf, dest, tag);
}

/** comm.irecv(buf, source, tag) for a DeviceBuffer, typed. */
export function irecv(comm: Comm, buf: DeviceBuffer, source: number = ANY_SOURCE, tag: number = ANY_TAG): GpuRequest<Status> {
  checkComm(comm, 'gpu.irecv: comm');
  return (comm.irecv as unknown as (b: DeviceBuffer, s: number, t: number) => GpuRequest<Status>).call(comm, buf, source, tag);
}
