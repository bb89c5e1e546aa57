// Reduction operations: MPI's predefined ops by name, 'avg', and user-defined ops from JavaScript
// functions. Which op applies to which element type is MPI's rule (MPI-3.1 §5.9.2), checked here so
// that a bad pair is a TypeError before MPI is called.
import { native } from '../addon/binding.js';
import { dtypeInfo, dtypeOf, type Dtype, type DtypeInfo, type TypedArray } from '../core/dtypes.js';
import { invalidParameterError, isTypedArray, sameDtype, tooSmall } from '../core/checks.js';
import { codedError } from '../core/errors.js';
import { ensureInit } from '../core/env.js';

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

/**
 * Options of the reductions. `dtype` names the element type where the array's own does not say it:
 * 'float16' or 'bfloat16' data lives in a Uint16Array (Node 20 has no array for it), and neither MPI has
 * a type for it, so `{ dtype: 'bfloat16' }` makes sum, prod, min, max and avg the library's own ops on
 * those elements (float32 arithmetic, each result rounded to nearest even; docs/collectives.md).
 */
export interface ReduceOptions {
  dtype?: Dtype;
}

/** 'sum', as MPI takes it. */
export const SUM = 0;
/** 'avg': a sum, then division by the communicator size (lib/coll/impl.ts); never reaches MPI. */
export const AVG = 10;
/** The one-sided accumulates' own ops (native/mpi/ops.h). */
export const REPLACE = 11, NO_OP = 12;
// An op code's bits 8-15 say how MPI_UINT16_T elements are read (native/mpi/half.h HalfKind).
const HALF_SHIFT = 8;
const HALF_KIND: Partial<Record<Dtype, number>> = { float16: 1, bfloat16: 2 };

/** The half kind of a dtype for native calls: 1 float16, 2 bfloat16, else 0. */
export function halfKind(d: DtypeInfo): number {
  return HALF_KIND[d.name] ?? 0;
}

// Codes match native/mpi/ops.h; the mask is the dtype codes (lib/core/dtypes.ts) each op is defined on.
const INTS = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9);
const HALVES = (1 << 12) | (1 << 13);
const FLOATS = (1 << 10) | (1 << 11) | HALVES;
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
 * code ERR_OP. `what` names the collective in messages. A half dtype's code carries its kind
 * (encodeOp); AVG stays AVG.
 */
export function resolveOp(op: unknown, d: DtypeInfo, what: string): number | UserOp {
  if (typeof op === 'string') {
    const o = OPS.get(op);
    if (o !== undefined && (o.mask & (1 << d.code)) !== 0) return o.code === AVG ? AVG : o.code | (halfKind(d) << HALF_SHIFT);
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
  if (op === 'avg') return '(avg is defined on float32, float64, float16 and bfloat16 data)';
  if (op === 'sum' || op === 'prod') return '(MPI has no saturating arithmetic for Uint8ClampedArray; use a Uint8Array)';
  return '(MPI defines the logical and bitwise ops on integer types only)';
}

/**
 * The element type of a reduction's data: the array's own, or `options.dtype` when given, which must be
 * held in that array type (float16/bfloat16 in a Uint16Array); ERR_DTYPE_MISMATCH otherwise.
 */
export function elementType(data: TypedArray, options: unknown, what: string): DtypeInfo {
  const own = dtypeOf(data)!;
  if (options === undefined || options === null) return own;
  if (typeof options !== 'object') throw invalidParameterError('ERR_INVALID_ARG_TYPE', `${what}: options`, 'an object { dtype }', options);
  const name = (options as ReduceOptions).dtype;
  if (name === undefined) return own;
  const d = dtypeInfo(name);
  if (d.array !== own.array) {
    throw codedError(TypeError, 'ERR_DTYPE_MISMATCH',
      `${what}: dtype '${d.name}' is held in a ${d.array.name}, but the data is a ${data.constructor.name}`);
  }
  return d;
}

/**
 * inout[i] = input[i] op inout[i], on this rank alone (MPI_Reduce_local): MPI's op, or the library's own
 * where it replaces MPI's (float16/bfloat16 with `{ dtype }`, narrow integer sums), or a user-defined
 * one. `inout` must be as long as `input`; returns `inout`.
 */
export function reduceLocal<T extends TypedArray>(input: T, inout: T, op: Op<T> = 'sum', options?: ReduceOptions): T {
  const what = 'reduceLocal';
  if (!isTypedArray(input)) throw invalidParameterError('ERR_INVALID_BUFFER', `${what}: input`, 'a typed array', input);
  if (!isTypedArray(inout)) throw invalidParameterError('ERR_INVALID_BUFFER', `${what}: inout`, 'a typed array', inout);
  sameDtype(input, inout, what);
  if (inout.length < input.length) tooSmall(what, 'inout', input.length, inout.length);
  const d = elementType(input, options, what);
  const o = resolveOp(op, d, what);
  if (o === AVG) throw codedError(TypeError, 'ERR_OP', `${what}: avg is a collective's op (a sum divided by the communicator size)`);
  ensureInit();
  native.reduceLocal(input, inout, input.length, o);
  return inout;
}
