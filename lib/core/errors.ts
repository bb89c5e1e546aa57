// Error types. MPI failures are MpiError (created by the addon while the calling frame is live, so the
// stack points at the user's call); bad arguments are TypeError/RangeError raised here before MPI is
// called. Every error carries a string `code`, as Node's own errors do.

export class MpiError extends Error {
  /** The MPI error class by name, e.g. 'ERR_TRUNCATE', 'ERR_RANK'. */
  override readonly name = 'MpiError';
  readonly code: string;
  /** Numeric MPI error class (MPI_Error_class). */
  readonly errorClass: number;
  /** The MPI error code as returned by the library. */
  readonly errorCode: number;

  constructor(message: string, className: string, errorClass: number, errorCode: number) {
    super(`${className}: ${message}`);
    this.code = className;
    this.errorClass = errorClass;
    this.errorCode = errorCode;
  }
}

export interface CodedTypeError extends TypeError { code: string }
export interface CodedRangeError extends RangeError { code: string }

export function typeError(code: string, message: string): CodedTypeError {
  return Object.assign(new TypeError(message), { code });
}

export function rangeError(code: string, message: string): CodedRangeError {
  return Object.assign(new RangeError(message), { code });
}

/** The process was started by a launcher of another MPI, or by none that this MPI understands. */
export class LaunchError extends Error {
  override readonly name = 'LaunchError';
  readonly code = 'ERR_MPI_LAUNCH';
}

/** The native addon could not be loaded; the message lists every path tried and how to fix it. */
export class AddonLoadError extends Error {
  override readonly name = 'AddonLoadError';
  readonly code = 'ERR_ADDON_LOAD';
  constructor(message: string, readonly tried: { path: string; error: string }[]) {
    super(message);
  }
}
