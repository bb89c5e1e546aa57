// Adjacency matrices of agent graphs: A[i][j] > 0 is an edge i -> j (rank i may send to rank j), its
// value the edge's weight. Validation is local and deterministic (it reads only the matrix and the
// communicator size), so ranks holding the same matrix reach the same verdict without talking; the
// digest lets them first check, in one collective every rank enters, that they do hold the same one.
import type { ArgumentErrorCode } from '../core/codes.js';
import { describe, isTypedArray } from '../core/checks.js';
import { crc32c } from '../wire/crc32c.js';

export type AdjacencyReason = 'type' | 'size' | 'square' | 'value' | 'disagree';

/** An adjacency matrix that cannot make a graph. Thrown on every rank alike (see comm.graph). */
export class AdjacencyError extends Error {
  override name = 'AdjacencyError';
  readonly code = 'ERR_ADJACENCY' satisfies ArgumentErrorCode;
  readonly reason: AdjacencyReason;
  /** The offending entry or row, where there is one. */
  readonly row?: number;
  readonly col?: number;

  constructor(reason: AdjacencyReason, message: string, row?: number, col?: number) {
    super(message);
    this.reason = reason;
    if (row !== undefined) this.row = row;
    if (col !== undefined) this.col = col;
  }
}

/** Rows of numbers: arrays or typed arrays. */
export type Adjacency = ArrayLike<ArrayLike<number>>;

/** A checked matrix: n x n, finite, non-negative, as a flat row-major copy. */
export interface Matrix {
  n: number;
  a: Float64Array;
}

function isRows(m: unknown): m is ArrayLike<unknown> {
  return Array.isArray(m) || isTypedArray(m);
}

/**
 * A 32-bit digest of whatever was passed, matrix or not. It never throws and reads nothing but array
 * lengths and number values, so every rank can compute it before any of them may fail validation.
 */
export function digest(m: unknown): number {
  const words: number[] = [];
  if (!isRows(m)) {
    words.push(-1, m === null ? 1 : typeof m === 'object' ? 2 : 3);
  } else {
    words.push(m.length);
    for (let i = 0; i < m.length; i++) {
      const row = m[i];
      if (!isRows(row)) {
        words.push(-2, typeof row === 'number' ? row : -3);
        continue;
      }
      words.push(row.length);
      for (let j = 0; j < row.length; j++) {
        const v = row[j];
        words.push(typeof v === 'number' ? v : Number.NaN, typeof v === 'number' ? 0 : 1);
      }
    }
  }
  return crc32c(new Float64Array(words));
}

/** Checks an adjacency matrix for a communicator of `size` ranks; throws AdjacencyError. */
export function validate(m: unknown, size: number): Matrix {
  if (!isRows(m)) {
    throw new AdjacencyError('type', `an adjacency matrix must be an array of rows (arrays of numbers), got ${describe(m)}`);
  }
  const n = m.length;
  if (n !== size) {
    throw new AdjacencyError('size', `the adjacency matrix has ${n} rows, the communicator has ${size} ranks: it must be ${size} x ${size}`);
  }
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const row = m[i];
    if (!isRows(row)) throw new AdjacencyError('type', `row ${i} of the adjacency matrix is ${describe(row)}, not an array of numbers`, i);
    if (row.length !== n) {
      throw new AdjacencyError('square', `row ${i} of the adjacency matrix has ${row.length} entries; the matrix must be square (${n} x ${n})`, i);
    }
    for (let j = 0; j < n; j++) {
      const v = row[j] as unknown;
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new AdjacencyError('value', `adjacency[${i}][${j}] is ${describe(v)}: entries must be finite numbers (0 = no edge, > 0 = edge weight)`, i, j);
      }
      if (v < 0) throw new AdjacencyError('value', `adjacency[${i}][${j}] is ${v}: entries must not be negative`, i, j);
      a[i * n + j] = v;
    }
  }
  return { n, a };
}
