// The outcome of a receive or probe (mpi4py's Status): who sent it, with which tag, and how big it was.
import { dtypeInfo, type Dtype } from './dtypes.js';
import { MpiError } from './errors.js';
import { STATUS } from '../addon/native.js';

export class Status {
  constructor(
    /** Rank of the sender (PROC_NULL for a receive from PROC_NULL). */
    readonly source: number,
    readonly tag: number,
    /** Size of the message in bytes. */
    readonly byteCount: number,
    readonly cancelled: boolean,
    /** Element size of the receive buffer, which `count` is measured in (1 for probes). */
    readonly elementSize: number = 1,
    /** The MPI error of this operation, if it failed (set on statuses of waitAll and friends). */
    readonly error?: MpiError,
  ) {}

  /** Number of elements received, in the receive buffer's element type. */
  get count(): number {
    return Math.floor(this.byteCount / this.elementSize);
  }

  /** Number of elements of `dtype` the message holds (like MPI_Get_count). */
  getCount(dtype: Dtype): number {
    return Math.floor(this.byteCount / dtypeInfo(dtype).size);
  }

  static _fromRecord(rec: Float64Array, off: number, elementSize: number): Status {
    return new Status(
      rec[off + STATUS.source]!,
      rec[off + STATUS.tag]!,
      rec[off + STATUS.bytes]!,
      rec[off + STATUS.cancelled] !== 0,
      elementSize,
    );
  }
}
// Resolving a Promise with an object looks up its `then` (a Request settles with a Status). Declared
// here, not callable, the lookup ends at Status.prototype instead of searching Object.prototype's
// dictionary: ~40-50 instructions a settled request (bench/instructions.ts). Not enumerable.
Object.defineProperty(Status.prototype, 'then', { value: undefined });
