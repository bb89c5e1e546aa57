// The library's one error-code vocabulary: every error it throws or rejects with carries a `code` from
// these lists, as Node's own errors do. Each family is a string-literal union (so `err.code` narrows)
// and a runtime list; ErrorCode is their union, isErrorCode() the runtime test.
//
// - MpiErrorCode: MpiError, made by the addon (native/core/errors.cc ErrorClassName): MPI's error class
//   by name without the MPI_ prefix, and the library's own native conditions.
// - ArgumentErrorCode: a bad argument, found before anything is posted (TypeError or RangeError).
// - StateErrorCode: a call that is valid but not now (a freed communicator, a closed channel, ...).
// - WireErrorCode: the errno-style codes of lib/wire/errors.ts, named by the ErrorCode constants below.
// - GpuErrorCode: lib/gpu/errors.ts: why no GPU (native/gpu/loader.cc), CUDA's and NCCL's own error
//   names, and the library's NCCL conditions.
// Some MPI classes and argument codes are the same string on purpose: a bad rank is ERR_RANK whether
// the library or MPI finds it.

/** MPI error classes by name (MpiError.code), as native/core/errors.cc names them. */
export const MPI_ERROR_CODES = [
  'ERR_BUFFER', 'ERR_COUNT', 'ERR_TYPE', 'ERR_TAG', 'ERR_COMM', 'ERR_RANK', 'ERR_REQUEST', 'ERR_ROOT', 'ERR_GROUP',
  'ERR_OP', 'ERR_TOPOLOGY', 'ERR_DIMS', 'ERR_ARG', 'ERR_UNKNOWN', 'ERR_TRUNCATE', 'ERR_OTHER', 'ERR_INTERN',
  'ERR_IN_STATUS', 'ERR_PENDING', 'ERR_KEYVAL', 'ERR_NO_MEM', 'ERR_BASE', 'ERR_INFO_KEY', 'ERR_INFO_VALUE',
  'ERR_INFO_NOKEY', 'ERR_SPAWN', 'ERR_PORT', 'ERR_SERVICE', 'ERR_NAME', 'ERR_WIN', 'ERR_SIZE', 'ERR_DISP', 'ERR_INFO',
  'ERR_LOCKTYPE', 'ERR_ASSERT', 'ERR_RMA_CONFLICT', 'ERR_RMA_SYNC', 'ERR_UNSUPPORTED_DATAREP',
  'ERR_UNSUPPORTED_OPERATION', 'ERR_NO_SUCH_FILE', 'ERR_FILE_EXISTS', 'ERR_BAD_FILE', 'ERR_ACCESS', 'ERR_NO_SPACE',
  'ERR_QUOTA', 'ERR_READ_ONLY', 'ERR_FILE_IN_USE', 'ERR_DUP_DATAREP', 'ERR_CONVERSION', 'ERR_IO', 'ERR_FILE',
  'ERR_AMODE', 'ERR_RMA_RANGE', 'ERR_RMA_ATTACH', 'ERR_RMA_SHARED', 'ERR_RMA_FLAVOR',
  // The library's own, for conditions MPI never sees (native/core/errors.h).
  'ERR_NOT_INITIALIZED', 'ERR_THREAD_LEVEL', 'ERR_COMM_TABLE_FULL', 'ERR_BAD_HANDLE', 'ERR_REQUEST_FAILED',
  'ERR_REQUEST_ACTIVE', // also a state error lib/core/prequest.ts raises before MPI is called
] as const;
/** An error class past MPI's standard table: ERR_UNKNOWN_CLASS_<n>. */
export type MpiErrorCode = (typeof MPI_ERROR_CODES)[number] | `ERR_UNKNOWN_CLASS_${number}`;

/** Bad arguments: TypeError (wrong type) or RangeError (out of range), thrown before anything is posted. */
export const ARGUMENT_ERROR_CODES = [
  'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE',
  'ERR_INVALID_BUFFER', 'ERR_DETACHED_BUFFER', 'ERR_BUFFER_TOO_SMALL', 'ERR_BUFFER_ALIAS',
  'ERR_INVALID_DTYPE', 'ERR_DTYPE_MISMATCH',
  'ERR_INVALID_RANK', 'ERR_RANK', 'ERR_INVALID_TAG', 'ERR_TAG', 'ERR_ROOT', 'ERR_INVALID_COLOR',
  'ERR_COUNTS', 'ERR_OP', 'ERR_SERIALIZE', 'ERR_ADJACENCY', 'ERR_CHANNEL_PAYLOAD',
  // Groups, process topologies, info objects and files.
  'ERR_DUPLICATE_RANK', 'ERR_GROUP', 'ERR_DIMS', 'ERR_COORDS', 'ERR_INFO_KEY', 'ERR_INFO_VALUE', 'ERR_INVALID_MODE',
  'ERR_OFFSET',
  // Device buffers and NCCL communicators (lib/gpu/).
  'ERR_INVALID_LENGTH', 'ERR_LENGTH_MISMATCH', 'ERR_OUT_OF_RANGE', 'ERR_INVALID_DEVICE', 'ERR_WRONG_DEVICE',
  'ERR_INVALID_CHUNK',
  // One-sided communication (lib/rma/): a target range outside the target's window (MPI's class name).
  'ERR_RMA_RANGE',
  // Dynamic processes (lib/comm/intercomm.ts): a command that cannot be run, a malformed port name.
  'ERR_SPAWN_COMMAND', 'ERR_PORT',
] as const;
export type ArgumentErrorCode = (typeof ARGUMENT_ERROR_CODES)[number];

/** Valid calls refused in the present state of the process, a communicator, channel or device buffer. */
export const STATE_ERROR_CODES = [
  'ERR_ADDON_LOAD', 'ERR_MPI_LAUNCH', 'ERR_MPI_INITIALIZED', 'ERR_MPI_FINALIZED', 'ERR_MPI_PENDING',
  'ERR_COMM_FREED', 'ERR_COMM_PREDEFINED', 'ERR_CANCEL_COLLECTIVE',
  'ERR_GROUP_FREED', 'ERR_NOT_IN_GROUP', 'ERR_INFO_FREED', 'ERR_FILE_CLOSED', 'ERR_FILE_PENDING',
  'ERR_CHANNEL_CLOSED', 'ERR_CHANNEL_COLLISION', 'ERR_AUTH_KEY', 'ERR_SCHEMA_ASYNC', 'ERR_CHANNEL_FLOW', 'ERR_POOL_FULL',
  'ERR_BUFFER_BUSY', 'ERR_BUFFER_DISPOSED', 'ERR_REQUEST_ACTIVE', 'ERR_REQUEST_FREED',
  // Windows (lib/rma/): an operation outside its epoch, or an epoch misused (MPI's class name, found before
  // MPI is called); a freed window; a shared-memory call on a window of another flavor.
  'ERR_RMA_SYNC', 'ERR_WIN_FREED', 'ERR_RMA_FLAVOR',
  // An operation the MPI in use is known to get wrong or crash on (MPI's class name).
  'ERR_UNSUPPORTED_OPERATION',
  // An intercommunicator after disconnect(); an operation mpi4node does not offer on intercommunicators.
  'ERR_COMM_DISCONNECTED', 'ERR_INTERCOMM',
] as const;
export type StateErrorCode = (typeof STATE_ERROR_CODES)[number];

/**
 * The codes of the wire and channel errors (lib/wire/errors.ts) by name: stable strings, errno style,
 * part of the public API.
 */
export const ErrorCode = {
  /** Protocol major version differs (ProtocolVersionError). */
  PROTOCOL_VERSION: 'EPROTOVERSION',
  /** Channel schema major version differs from the one expected (SchemaMismatchError). */
  SCHEMA_MISMATCH: 'ESCHEMA',
  /** Message was for another channel than the one expected (ChannelMismatchError). */
  CHANNEL_MISMATCH: 'ECHANNEL',
  /** Message is malformed: bad magic, lengths, shape, dtype, name, truncated (CorruptMessageError). */
  CORRUPT: 'EBADMSG',
  /** Payload CRC32C does not match the header's (ChecksumError, a CorruptMessageError). */
  CHECKSUM: 'ECHECKSUM',
  /** An operation did not complete in time (TimeoutError). */
  TIMEOUT: 'ETIMEDOUT',
  /** An operation is not allowed (PermissionError), e.g. writing to a read-only channel. */
  PERMISSION: 'EPERM',
  /** A message failed authentication: unsigned, unknown key, wrong MAC or replayed (AuthenticationError). */
  AUTHENTICATION: 'EAUTH',
  /** A request was aborted by its AbortSignal (AbortError). */
  ABORTED: 'ABORT_ERR',
  /** A request's handler failed on the serving rank (RemoteError). */
  REMOTE: 'EREMOTE',
} as const;
export type WireErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
export const WIRE_ERROR_CODES: readonly WireErrorCode[] = Object.values(ErrorCode);

/** Why there is no usable GPU or NCCL (GpuUnavailableError, gpu.status()); native/gpu/loader.cc. */
export const GPU_UNAVAILABLE_CODES = [
  'ERR_NOT_LOADED', 'ERR_CUDART_NOT_FOUND', 'ERR_CUDART_SYMBOLS', 'ERR_NO_DRIVER', 'ERR_DRIVER_TOO_OLD',
  'ERR_DRIVER_MISMATCH', 'ERR_NO_DEVICE', 'ERR_CUDA_INIT', 'ERR_NCCL_NOT_FOUND', 'ERR_NCCL_SYMBOLS',
] as const;
export type GpuUnavailableCode = (typeof GPU_UNAVAILABLE_CODES)[number];

/** ncclResult_t by value; NcclError.code is the name for NCCL's own errors (ncclResult<n> past the table). */
export const NCCL_RESULTS = [
  'ncclSuccess', 'ncclUnhandledCudaError', 'ncclSystemError', 'ncclInternalError', 'ncclInvalidArgument',
  'ncclInvalidUsage', 'ncclRemoteError', 'ncclInProgress', 'ncclTimeout',
] as const;
export type NcclResultName = Exclude<(typeof NCCL_RESULTS)[number], 'ncclSuccess'> | `ncclResult${number}`;

/** The library's NCCL conditions (NcclError and its subclasses) and other GPU usage errors. */
export const NCCL_ERROR_CODES = [
  'ERR_NCCL_TIMEOUT', 'ERR_NCCL_MISMATCH', 'ERR_NCCL_ASYNC', 'ERR_NCCL_ABORTED', 'ERR_NCCL_VERSION', 'ERR_NCCL_DTYPE',
  'ERR_NCCL_GROUP', 'ERR_NCCL_BUSY', 'ERR_NCCL_DISPOSED', 'ERR_NCCL_UNSUPPORTED',
] as const;
export type NcclErrorCode = (typeof NCCL_ERROR_CODES)[number] | NcclResultName;

/** CudaError.code: the CUDA runtime's name of the error (cudaErrorMemoryAllocation, ...). */
export type CudaErrorCode = `cudaError${string}`;

export type GpuErrorCode = GpuUnavailableCode | NcclErrorCode | CudaErrorCode | 'ERR_GPU_USAGE';

/** Every code an error of this library can carry. (The ErrorCode constants name the wire codes only.) */
export type ErrorCode = MpiErrorCode | ArgumentErrorCode | StateErrorCode | WireErrorCode | GpuErrorCode;

/** Every fixed code, each once; codes made from a number or a name (see isErrorCode) are not listed. */
export const ERROR_CODES: readonly ErrorCode[] = [
  ...new Set<ErrorCode>([
    ...MPI_ERROR_CODES, ...ARGUMENT_ERROR_CODES, ...STATE_ERROR_CODES, ...WIRE_ERROR_CODES, ...GPU_UNAVAILABLE_CODES,
    ...NCCL_RESULTS.slice(1) as NcclResultName[], ...NCCL_ERROR_CODES, 'ERR_GPU_USAGE',
  ]),
];

const FIXED = new Set<string>(ERROR_CODES);
const MADE = /^(ERR_UNKNOWN_CLASS_\d+|ncclResult\d+|cudaError\w*)$/;

/** Whether `code` is one of this library's error codes (for narrowing `err.code`). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && (FIXED.has(code) || MADE.test(code));
}
