// Typed errors of the wire format (docs/wire-format.md, "Errors") and of the channels built on it.
//
// Every failure to decode a received message is a MessageError subclass; decodeMessage throws
// nothing else for any input bytes (programming errors such as passing a non-Uint8Array are
// TypeErrors). A MessageError keeps the raw bytes (`raw`, the caller's bytes, not a copy) and the
// header where it could be decoded, so nothing is lost; `sender` is left for the caller (the channel
// knows the MPI source rank, the codec does not).

import { ErrorCode, type WireErrorCode } from '../core/codes.js';
import type { DecodedHeader, ProtocolVersion, SchemaVersion } from './codec.js';

// The codes of these classes (WireErrorCode) are part of the library's one vocabulary, lib/core/codes.ts,
// which also holds the ErrorCode constants naming them.
export { ErrorCode, type WireErrorCode } from '../core/codes.js';

/** What exactly was wrong with a CorruptMessageError. */
export type CorruptReason =
  | 'truncated' // fewer bytes than the header or the payload needs
  | 'magic' // the first four bytes are not the magic
  | 'length' // header length, payload offset or payload length insane, or trailing bytes
  | 'kind' // unknown payload kind in the flags
  | 'dtype' // unknown dtype code, or a dtype/shape on a non-tensor payload
  | 'shape' // ndim too large, a dimension too large, or product(shape) * dtype size != payload length
  | 'name' // channel name empty, too long, not UTF-8, or its hash does not match its bytes
  | 'payload' // an object or error payload whose own layout (lib/wire/payload.ts) does not decode
  | 'checksum'; // payload CRC32C mismatch (ChecksumError)

export interface MessageErrorOptions {
  header?: DecodedHeader | undefined;
  sender?: number | undefined;
  cause?: unknown;
}

/** Base class of every decode failure. */
export class MessageError extends Error {
  override name = 'MessageError';
  /** One of ErrorCode's values. */
  readonly code: WireErrorCode;
  /** The raw received bytes exactly as passed to the decoder (a reference, not a copy). */
  readonly raw: Uint8Array;
  /** The header, where it could be decoded (see each subclass). */
  header?: DecodedHeader;
  /** The sender's rank; the codec does not know it, the channel fills it in. */
  sender?: number;

  constructor(message: string, code: WireErrorCode, raw: Uint8Array, options?: MessageErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.raw = raw;
    if (options?.header !== undefined) this.header = options.header;
    if (options?.sender !== undefined) this.sender = options.sender;
  }
}

/**
 * The sender speaks another protocol major version. `ours` is this library's PROTOCOL, `theirs`
 * what the message says. `header` is present only if the bytes also parse under our own layout.
 */
export class ProtocolVersionError extends MessageError {
  override name = 'ProtocolVersionError';
  readonly ours: ProtocolVersion;
  readonly theirs: ProtocolVersion;

  constructor(ours: ProtocolVersion, theirs: ProtocolVersion, raw: Uint8Array, options?: MessageErrorOptions) {
    super(`wire protocol version mismatch: ours is ${dotted(ours)}, theirs is ${dotted(theirs)} ` +
      '(the protocol major version must be the same)', ErrorCode.PROTOCOL_VERSION, raw, options);
    this.ours = copy(ours);
    this.theirs = copy(theirs);
  }
}

/**
 * The channel's schema major version is not the one the receiver expects. `expectedMajor` is what
 * the receiver asked for, `got` the message's schema version. Always carries `header`.
 */
export class SchemaMismatchError extends MessageError {
  override name = 'SchemaMismatchError';
  readonly expectedMajor: number;
  readonly got: SchemaVersion;

  constructor(expectedMajor: number, got: SchemaVersion, raw: Uint8Array, options?: MessageErrorOptions) {
    super(`schema version mismatch: expected major ${expectedMajor}, got ${dotted(got)}` +
      (options?.header ? ` on channel '${options.header.channel}'` : ''), ErrorCode.SCHEMA_MISMATCH, raw, options);
    this.expectedMajor = expectedMajor;
    this.got = copy(got);
  }
}

function dotted(v: ProtocolVersion | SchemaVersion): string {
  return `${v.major}.${v.minor}`;
}

function copy(v: ProtocolVersion | SchemaVersion): { major: number; minor: number } {
  return { major: v.major, minor: v.minor };
}

/**
 * The message belongs to another channel than the one expected (`expected`, `got`: channel names).
 * A separate class from SchemaMismatchError; both mean "a well-formed message that is not for me".
 * Always carries `header`.
 */
export class ChannelMismatchError extends MessageError {
  override name = 'ChannelMismatchError';
  readonly expected: string;
  readonly got: string;

  constructor(expected: string, got: string, raw: Uint8Array, options?: MessageErrorOptions) {
    super(`channel mismatch: expected '${expected}', got '${got}'`, ErrorCode.CHANNEL_MISMATCH, raw, options);
    this.expected = expected;
    this.got = got;
  }
}

/**
 * The bytes are not a well-formed message. `reason` says which check failed. `header` is present
 * when the fixed header, shape and name decoded but a later check failed (unknown dtype — then
 * header.dtype is undefined and header.dtypeCode says what came —, shape/length inconsistency,
 * truncated payload, trailing bytes, checksum).
 */
export class CorruptMessageError extends MessageError {
  override name = 'CorruptMessageError';
  readonly reason: CorruptReason;

  constructor(reason: CorruptReason, message: string, raw: Uint8Array, options?: MessageErrorOptions,
    code: typeof ErrorCode.CORRUPT | typeof ErrorCode.CHECKSUM = ErrorCode.CORRUPT) {
    super(`corrupt message (${reason}): ${message}`, code, raw, options);
    this.reason = reason;
  }
}

/**
 * A message that failed authentication on a channel with `auth` (lib/wire/auth.ts): `reason` is
 * 'unsigned' (no MAC), 'key' (a key id this process does not hold), 'mac' (tampered, or another key
 * under the same id) or 'replay' (a sequence number already seen from that sender on that lane).
 * `raw` and `sender` (the MPI source, the claimed sender) are kept; readRaw(err.raw) still reads it.
 */
export class AuthenticationError extends MessageError {
  override name = 'AuthenticationError';
  readonly reason: 'unsigned' | 'key' | 'mac' | 'replay';

  constructor(reason: AuthenticationError['reason'], message: string, raw: Uint8Array, options?: MessageErrorOptions) {
    super(`authentication failed (${reason}): ${message}`, ErrorCode.AUTHENTICATION, raw, options);
    this.reason = reason;
  }
}

/** The payload's CRC32C is not the one in the header. Always carries `header`. */
export class ChecksumError extends CorruptMessageError {
  override name = 'ChecksumError';
  /** The CRC32C in the header. */
  readonly expected: number;
  /** The CRC32C of the payload as received. */
  readonly actual: number;

  constructor(expected: number, actual: number, raw: Uint8Array, options?: MessageErrorOptions) {
    super('checksum', `payload CRC32C is 0x${hex32(actual)}, header says 0x${hex32(expected)}`, raw, options, ErrorCode.CHECKSUM);
    this.expected = expected;
    this.actual = actual;
  }
}

function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

export interface OperationDetails {
  /** What was being done, e.g. 'recv', 'request', 'write'. */
  operation?: string | undefined;
  /** The channel involved, if any. */
  channel?: string | undefined;
  /** The peer rank involved, if any. */
  peer?: number | undefined;
  cause?: unknown;
}

/** What TimeoutError and PermissionError share: the operation, channel and peer involved, where known. */
abstract class OperationError extends Error {
  readonly operation?: string;
  readonly channel?: string;
  readonly peer?: number;

  constructor(message: string, details?: OperationDetails) {
    super(message, details?.cause === undefined ? undefined : { cause: details.cause });
    if (details?.operation !== undefined) this.operation = details.operation;
    if (details?.channel !== undefined) this.channel = details.channel;
    if (details?.peer !== undefined) this.peer = details.peer;
  }
}

/** An operation (receive, request/reply, ...) did not complete within its deadline. code 'ETIMEDOUT'. */
export class TimeoutError extends OperationError {
  override name = 'TimeoutError';
  readonly code = ErrorCode.TIMEOUT;
  /** The deadline that passed, in milliseconds. */
  readonly timeoutMs: number;

  constructor(message: string, timeoutMs: number, details?: OperationDetails) {
    super(message, details);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * An operation was stopped by its AbortSignal; `cause` is the signal's reason. code 'ABORT_ERR' (Node's
 * own AbortError has the same name and code).
 */
export class AbortError extends OperationError {
  override name = 'AbortError';
  readonly code = ErrorCode.ABORTED;
}

/** An operation is not permitted (e.g. sending on a receive-only channel endpoint). code 'EPERM'. */
export class PermissionError extends OperationError {
  override name = 'PermissionError';
  readonly code = ErrorCode.PERMISSION;
}

/** Which declared property of a channel a received message did not have. */
export type PayloadField = 'kind' | 'dtype' | 'shape';

/**
 * A message of the right schema major whose payload is not what the channel declares: another kind
 * (an object on a tensor channel), dtype or shape. A SchemaMismatchError (code 'ESCHEMA'): the
 * declared dtype and shape are part of the channel's schema. Always carries `header`.
 */
export class PayloadMismatchError extends SchemaMismatchError {
  override name = 'PayloadMismatchError';
  readonly field: PayloadField;
  /** What the channel declares and what came, as text ('float32', '[2, -1]', 'tensor'). */
  readonly expected: string;
  readonly actual: string;

  constructor(field: PayloadField, expected: string, actual: string, header: DecodedHeader, raw: Uint8Array, options?: MessageErrorOptions) {
    super(header.schema.major, header.schema, raw, { ...options, header });
    this.message = `payload mismatch on channel '${header.channel}': expected ${field} ${expected}, got ${actual}`;
    this.field = field;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * A decoded message that its channel's validator (`schema`, `replySchema`) rejected. A
 * SchemaMismatchError (code 'ESCHEMA'); `value` is the decoded message, `issues` what the validator said.
 * Always carries `header`.
 */
export class SchemaValidationError extends SchemaMismatchError {
  override name = 'SchemaValidationError';
  readonly value: unknown;
  readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined }>;

  constructor(issues: SchemaValidationError['issues'], summary: string, value: unknown, header: DecodedHeader, raw: Uint8Array, options?: MessageErrorOptions) {
    super(header.schema.major, header.schema, raw, { ...options, header });
    this.message = `message on channel '${header.channel}' fails its schema: ${summary}`;
    this.value = value;
    this.issues = issues;
  }
}

/** What an error reply carries: the failure as the serving rank saw it. */
export interface RemoteErrorInfo {
  name: string;
  message: string;
  code?: string | undefined;
  stack?: string | undefined;
}

/**
 * The rank serving a request answered with an error (its handler threw, or it could not read the
 * request). `remote` is that error as the server described it; `sender` the server's rank.
 */
export class RemoteError extends Error {
  override name = 'RemoteError';
  readonly code = ErrorCode.REMOTE;
  readonly remote: RemoteErrorInfo;
  readonly sender: number;
  readonly channel: string;

  constructor(remote: RemoteErrorInfo, sender: number, channel: string) {
    super(`rank ${sender} answered '${channel}' with ${remote.name}: ${remote.message}`);
    this.remote = remote;
    this.sender = sender;
    this.channel = channel;
  }
}
