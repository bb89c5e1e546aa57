// GPU error types. Every one carries a `code` of the library's vocabulary (lib/core/codes.ts,
// GpuErrorCode). Native failures arrive as (kind, code, text) triples (native/gpu/env.h GpuErrKind) and
// become these here.
import { native } from '../addon/binding.js';
import {
  NCCL_RESULTS, type CudaErrorCode, type GpuErrorCode, type GpuUnavailableCode, type MpiErrorCode, type NcclErrorCode,
  type NcclResultName,
} from '../core/codes.js';
import { codedError, type CodedError } from '../core/errors.js';

/** Kinds of native GPU failures (native/gpu/env.h GpuErrKind). */
export const GPU_ERR = {
  ok: 0, cuda: 1, nccl: 2, mpi: 3, timeout: 4, ncclAsync: 5, aborted: 6, usage: 7, initTimeout: 8, initTimeoutNccl: 9,
} as const;

/** No usable GPU (or no NCCL, for NCCL calls): `code` and the message say exactly why. */
export class GpuUnavailableError extends Error {
  override readonly name = 'GpuUnavailableError';
  /** ERR_CUDART_NOT_FOUND, ERR_NO_DRIVER, ERR_DRIVER_TOO_OLD, ERR_DRIVER_MISMATCH, ERR_NO_DEVICE, ERR_NCCL_NOT_FOUND, ... */
  readonly code: GpuUnavailableCode;
  constructor(code: GpuUnavailableCode, reason: string) {
    super(reason);
    this.code = code;
  }
}

/** A CUDA runtime call failed. `code` is the error's name (cudaErrorMemoryAllocation, ...). */
export class CudaError extends Error {
  override readonly name = 'CudaError';
  readonly code: CudaErrorCode;
  /** The cudaError_t value. */
  readonly cudaError: number;
  constructor(message: string, code: CudaErrorCode, cudaError: number) {
    super(message);
    this.code = code;
    this.cudaError = cudaError;
  }
}

/**
 * An NCCL failure. `code` is the ncclResult_t name for NCCL's own errors, or ERR_NCCL_ABORTED (the
 * communicator was aborted), ERR_NCCL_ASYNC (NCCL reported an asynchronous error), ERR_NCCL_VERSION
 * (this NCCL is too old for the dtype or op), ERR_NCCL_DTYPE (NCCL has no such type),
 * ERR_NCCL_UNSUPPORTED (a combination NCCL refuses, said before it is launched).
 */
export class NcclError extends Error {
  override readonly name: string = 'NcclError';
  readonly code: NcclErrorCode;
  /** The ncclResult_t value, or 0 when the failure is the library's. */
  readonly ncclResult: number;
  constructor(message: string, code: NcclErrorCode, ncclResult = 0) {
    super(message);
    this.code = code;
    this.ncclResult = ncclResult;
  }
}

/**
 * An NCCL operation, or the creation of a communicator, missed its deadline; the communicator was
 * aborted (ncclCommAbort) rather than hang.
 */
export class NcclTimeoutError extends NcclError {
  override readonly name = 'NcclTimeoutError';
  constructor(readonly timeoutMs: number, message?: string) {
    super(message ?? `an NCCL operation did not complete within ${timeoutMs} ms; the communicator was aborted ` +
      '(ncclCommAbort) instead of hanging. A peer that never issued the matching operation is the usual cause.', 'ERR_NCCL_TIMEOUT');
  }
}

/** Debug mode: the ranks did not all issue the same operation (the classic cause of a silent hang). */
export class NcclMismatchError extends NcclError {
  override readonly name = 'NcclMismatchError';
  constructor(message: string, readonly issued: string[]) {
    super(message, 'ERR_NCCL_MISMATCH');
  }
}

export function ncclResultName(code: number): NcclResultName {
  return (NCCL_RESULTS[code] ?? `ncclResult${code}`) as NcclResultName;
}

const ABORT_REASONS: Record<number, string> = {
  0: 'it was aborted (abort() or dispose())',
  [GPU_ERR.timeout]: 'an earlier operation on it timed out',
  [GPU_ERR.ncclAsync]: 'NCCL reported an asynchronous error on it',
  [GPU_ERR.initTimeout]: 'rank 0 gave up creating it (its deadline passed) before this rank joined',
};

/** The error for a native failure record. Called by the addon too (GpuEnv::Throw). */
export function makeGpuError(kind: number, code: number, text: string): CodedError<GpuErrorCode | MpiErrorCode> {
  switch (kind) {
    case GPU_ERR.cuda: {
      const colon = text.indexOf(': ');
      const name = (colon > 0 ? text.slice(0, colon) : `cudaError${code}`) as CudaErrorCode;
      return new CudaError(text, name, code);
    }
    case GPU_ERR.nccl:
      return new NcclError(`${ncclResultName(code)}: ${text}`, ncclResultName(code), code);
    case GPU_ERR.mpi:
      return native.errorFor(code) as CodedError<MpiErrorCode>;
    case GPU_ERR.timeout:
      return new NcclTimeoutError(code);
    case GPU_ERR.initTimeout:
      return new NcclTimeoutError(code, `creating the NCCL communicator did not complete within ${code} ms: not every rank ` +
        'of the MPI communicator joined (rank 0\'s unique id could not be broadcast). A rank that never creates it, ' +
        'or creates another one first, is the usual cause; nothing was left to abort.');
    case GPU_ERR.initTimeoutNccl:
      return new NcclTimeoutError(code, `creating the NCCL communicator did not complete within ${code} ms ` +
        '(ncclCommInitRankConfig was still in progress); it was aborted (ncclCommAbort) instead of hanging. ' +
        'NCCL_DEBUG=WARN says what NCCL was waiting for.');
    case GPU_ERR.ncclAsync:
      return new NcclError(`NCCL reported an asynchronous error (${ncclResultName(code)}: ${text}); ` +
        'the communicator was aborted', 'ERR_NCCL_ASYNC', code);
    case GPU_ERR.aborted:
      return new NcclError(`the NCCL communicator was aborted: ${ABORT_REASONS[code] ?? 'aborted'}`, 'ERR_NCCL_ABORTED');
    default:
      return codedError(Error, 'ERR_GPU_USAGE', text || `GPU error ${kind}/${code}`);
  }
}

/** The error for a completion record (kind, code) from the addon. */
export function gpuErrorFor(kind: number, code: number): CodedError<GpuErrorCode | MpiErrorCode> {
  return makeGpuError(kind, code, native.gpu.errorText(kind, code));
}
