// Reduction operations: MPI's predefined ops by name, 'avg', and user-defined ops from JavaScript
// functions. Which op applies to which element type is MPI's rule (MPI-3.1 §5.9.2), checked here so
// that a bad pair is a TypeError before MPI is called.
import type { DtypeInfo, TypedArray } from '../core/dtypes.js';
import { invalidParameterError } from '../core/checks.js';
import { codedError } from '../core/errors.js';

export type OpName = 'sum' | 'prod' | 'min' | 'max' | 'land' | 'lor' | 'lxor' | 'band' | 'bor' | 'bxor' | 'avg';

/**
 * A user-defined reduction, applied elementwise like an MPI_User_function: combine `invec[i]` (the
 * partial result of lower ranks) with `inoutvec[i]` and write the result into `inoutvec[i]`. Both
 * are copies of MPI's buffers, valid during the call only. The op must be associative; MPI may call
 * it on any slice of the data, any number of times.
 */
export type ReduceFunction<T extends TypedArray = TypedArray> = (invec: T, inoutvec: T) => void;

/** A user-defined reduction and whether MPI may reorder its operands (commutative). */
export class UserOp<T extends TypedArray = TypedArray> {
  constructor(readonly fn: ReduceFunction<T>, readonly commutative: boolean) {}
}

/** A named predefined op, a UserOp, or a bare function (taken as a non-commutative op). */
export type Op<T extends TypedArray = TypedArray> = OpName | UserOp<T> | ReduceFunction<T>;

/**
 * Makes a user-defined reduction (MPI_Op_create). Commutative ops let MPI pick faster algorithms;
 * non-commutative ones are applied in rank order. Usable with the blocking collectives: MPI calls the
 * function during the call, on this thread. Promise forms reject it (MPI would apply the op later,
 * while progressing, outside any JavaScript call).
 */
export function createOp<T extends TypedArray = TypedArray>(fn: ReduceFunction<T>, options: { commutative?: boolean } = {}): UserOp<T> {
  if (typeof fn !== 'function') throw invalidParameterError('ERR_OP', 'createOp: fn', 'a function (invec, inoutvec) => void', fn);
  return new UserOp(fn, options.commutative === true);
}

/** 'sum', as MPI takes it. */
export const SUM = 0;
/** 'avg': a sum, then division by the communicator size (lib/coll/impl.ts); never reaches MPI. */
export const AVG = 10;

// Codes match native/mpi/ops.h; the mask is the dtype codes (lib/core/dtypes.ts) each op is defined on.
const INTS = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9);
const FLOATS = (1 << 10) | (1 << 11);
const CLAMPED = 1 << 3;
const OPS = new Map<string, { code: number; mask: number }>([
  // MPI has no saturating arithmetic: a Uint8ClampedArray sum would wrap, so it is refused.
  ['sum', { code: SUM, mask: (INTS | FLOATS) & ~CLAMPED }],
  ['prod', { code: 1, mask: (INTS | FLOATS) & ~CLAMPED }],
  ['min', { code: 2, mask: INTS | FLOATS }],
  ['max', { code: 3, mask: INTS | FLOATS }],
  ['land', { code: 4, mask: INTS }],
  ['lor', { code: 5, mask: INTS }],
  ['lxor', { code: 6, mask: INTS }],
  ['band', { code: 7, mask: INTS }],
  ['bor', { code: 8, mask: INTS }],
  ['bxor', { code: 9, mask: INTS }],
  ['avg', { code: AVG, mask: FLOATS }],
]);

/**
 * The op to hand the addon for a reduction over `d` (a code, AVG, or a UserOp), or a TypeError with
 * code ERR_OP. `what` names the collective in messages.
 */
export function resolveOp(op: unknown, d: DtypeInfo, what: string): number | UserOp {
  if (typeof op === 'string') {
    const o = OPS.get(op);
    if (o !== undefined && (o.mask & (1 << d.code)) !== 0) return o.code;
    if (o === undefined) {
      throw codedError(TypeError, 'ERR_OP', `${what}: unknown op '${op}'; expected one of ${[...OPS.keys()].join(', ')}, or a function`);
    }
    throw codedError(TypeError, 'ERR_OP', `${what}: op '${op}' is not defined on ${d.name} ${whyNot(op)}`);
  }
  if (op instanceof UserOp) return op;
  if (typeof op === 'function') return new UserOp(op as ReduceFunction, false);
  throw invalidParameterError('ERR_OP', `${what}: op`, 'an op name, a UserOp or a function', op);
}

function whyNot(op: string): string {
  if (op === 'avg') return '(avg is defined on float32 and float64 arrays)';
  if (op === 'sum' || op === 'prod') return '(MPI has no saturating arithmetic for Uint8ClampedArray; use a Uint8Array)';
  return '(MPI defines the logical and bitwise ops on integer types only)';
}
