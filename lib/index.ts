// mpi4node: MPI for Node.js. See README.md for the API tour.
export { Comm, world, self, ANY_SOURCE, ANY_TAG, PROC_NULL, type Comparison, type ArrayOf, type IrecvOptions } from './comm/comm.js';
// Dynamic processes and intercommunicators (comm.spawn, spawnNode, accept, connect: Comm methods added here).
export { Intercomm, ROOT, parent, openPort, closePort, type SpawnOptions, type PortOptions } from './comm/intercomm.js';
import { _refuseOneGroupMethods } from './comm/intercomm.js';
export {
  Request, waitAll, waitAny, waitSome, testAll, testAny, testSome, iwaitAll, type Received,
} from './core/request.js';
export { Prequest, startAll } from './core/prequest.js';
export { Status } from './core/status.js';
export {
  init, initialized, finalized, finalize, abort, wtime, wtick, version, libraryVersion, processorName,
  threadLevel, setAbortOnError, type InitOptions, type ThreadLevel,
} from './core/env.js';
export { MpiError, LaunchError, AddonLoadError, type CodedError } from './core/errors.js';
// The error-code vocabulary: ErrorCode (the type) is every code; the ErrorCode constants, exported
// below with the wire errors, name the wire codes.
export {
  ERROR_CODES, isErrorCode, MPI_ERROR_CODES, ARGUMENT_ERROR_CODES, STATE_ERROR_CODES, WIRE_ERROR_CODES,
  type MpiErrorCode, type ArgumentErrorCode, type StateErrorCode, type WireErrorCode, type GpuErrorCode,
} from './core/codes.js';
export { DTYPES, dtypeInfo, dtypeOf, type Dtype, type TypedArray } from './core/dtypes.js';
export { alignedArray } from './core/alloc.js';
export type { BufferLike } from './core/checks.js';
// Collectives are Comm methods, added by these modules.
export { IN_PLACE, type InPlace, type Layout, type Fresh } from './coll/methods.js';
export { createOp, reduceLocal, UserOp, type Op, type OpName, type ReduceFunction, type ReduceOptions } from './coll/ops.js';
export { toHalf, fromHalf, type HalfDtype } from './core/half.js';
import './coll/objects.js';
// One-sided communication: comm.window / allocateWindow / allocateSharedWindow, added here.
export {
  Window, type WindowOptions, type WindowFlavor, type FenceAssert, type LockAssert, type LockType, type RmaOpName,
} from './rma/window.js';
// Training: a bucketed gradient averager (lib/train/).
export { GradientAverager, type AveragerOptions, type Compression, type Grad, type GradArray } from './train/averager.js';
export { ParameterServer, ParameterBlock, sgd, type ServerRound } from './train/patterns.js';
// Versioned channels (comm.channel), request/reply and agent graphs (comm.graph): Comm methods added here.
export {
  Channel, readRaw, COPY_BELOW, type ChannelOptions, type ChannelStats, type Envelope, type RecvOptions,
} from './channel/channel.js';
export { Server, type Handler, type RequestOptions, type ServeOptions, type ServeEnvelope } from './channel/rpc.js';
export { GraphComm, AdjacencyError, type Adjacency } from './topo/graph.js';
// Task pools over a communicator's ranks (comm.pool), in the spirit of mpi4py.futures.
export { Pool, type PoolOptions } from './pool/pool.js';
// Process topologies (comm.cart), groups (comm.group, comm.createGroup), info hints and MPI-IO.
export { TopoComm } from './topo/neighbors.js';
export { CartComm, dimsCreate, type Shift } from './topo/cart.js';
export { Group, type GroupComparison, type RankRange } from './comm/group.js';
export { Info, type InfoLike, type InfoValue } from './core/info.js';
export { File, type FileMode, type FileView, type Whence } from './io/file.js';
export type { Tensor, TensorInit } from './wire/payload.js';
export type { StandardSchemaV1, StandardResult, SchemaIssue, Validator, ValidatorFunction } from './channel/schema.js';
export { KeyRing, jobKeys, type AuthKey, type AuthReason } from './wire/auth.js';
export {
  MessageError, ProtocolVersionError, SchemaMismatchError, PayloadMismatchError, ChannelMismatchError,
  CorruptMessageError, ChecksumError, TimeoutError, PermissionError, RemoteError, AuthenticationError, AbortError, SchemaValidationError, ErrorCode,
  type CorruptReason, type RemoteErrorInfo,
} from './wire/errors.js';
export {
  PROTOCOL, decodeMessage, encodeMessage, encodeHeader, payloadView, type DecodedHeader, type DecodedMessage,
  type SchemaVersion, type ProtocolVersion,
} from './wire/codec.js';
// GPU: device buffers, NCCL, device messages over MPI (CUDA and NCCL loaded at run time; lib/gpu/).
export * as gpu from './gpu/index.js';
// Types the API above refers to, exported so that code (and the API reference, docs/api) can name them.
export type { DtypeInfo, TypedArrayConstructor } from './core/dtypes.js';
export type { AdjacencyReason } from './topo/adjacency.js';
export type { PayloadField, MessageErrorOptions, OperationDetails } from './wire/errors.js';
export type { DecodeOptions, HeaderInit, MessageInit } from './wire/codec.js';

// Last, once every module has added its Comm methods: those that assume one group throw on an Intercomm.
_refuseOneGroupMethods();
