// Error types. MPI failures are MpiError (created by the addon while the calling frame is live, so the
// stack points at the user's call); bad arguments are TypeError/RangeError raised before MPI is called
// (lib/core/checks.ts). Every error carries a string `code` of lib/core/codes.ts, as Node's own errors do.
import type { ErrorCode, MpiErrorCode, StateErrorCode } from './codes.js';

export class MpiError extends Error {
  /** The MPI error class by name, e.g. 'ERR_TRUNCATE', 'ERR_RANK'. */
  override readonly name = 'MpiError';
  readonly code: MpiErrorCode;
  /** Numeric MPI error class (MPI_Error_class). */
  readonly errorClass: number;
  /** The MPI error code as returned by the library. */
  readonly errorCode: number;

  constructor(message: string, className: string, errorClass: number, errorCode: number) {
    super(`${className}: ${message}`);
    this.code = className as MpiErrorCode;
    this.errorClass = errorClass;
    this.errorCode = errorCode;
  }
}

/** An error of class E (Error, TypeError, RangeError) with a `code` of the vocabulary. */
export type CodedError<C extends ErrorCode = ErrorCode, E extends Error = Error> = E & { code: C };

/**
 * The one way this library makes a coded error: TypeError for a value of the wrong type, RangeError
 * for one out of range, Error for anything else. Bad parameters have a shorthand that writes the
 * message the same way every time: invalidParameterError (lib/core/checks.ts).
 */
export function codedError<C extends ErrorCode, E extends Error>(
  Kind: new (message: string, options?: ErrorOptions) => E, code: C, message: string, cause?: unknown,
): CodedError<C, E> {
  const e = (cause === undefined ? new Kind(message) : new Kind(message, { cause })) as CodedError<C, E>;
  e.code = code;
  return e;
}

/** The process was started by a launcher of another MPI, or by none that this MPI understands. */
export class LaunchError extends Error {
  override readonly name = 'LaunchError';
  readonly code = 'ERR_MPI_LAUNCH' satisfies StateErrorCode;
}

/** The native addon could not be loaded; the message lists every path tried and how to fix it. */
export class AddonLoadError extends Error {
  override readonly name = 'AddonLoadError';
  readonly code = 'ERR_ADDON_LOAD' satisfies StateErrorCode;
  constructor(message: string, readonly tried: { path: string; error: string }[]) {
    super(message);
  }
}
