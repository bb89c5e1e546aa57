// Arrays whose memory starts on a page boundary, for large messages.
//
// V8 gives a large ArrayBuffer memory that starts 16 bytes past a page boundary; MPI's own memory (a
// window, a shared-memory segment) starts on one, as does what C programs get from posix_memalign. A
// copy between the two then runs into 4K aliasing: MPI_Get of 1 MiB from a window took 26.2 us into a
// buffer 16 bytes past a page and 21.3 us into a page-aligned one (C, osu_get_latency, medians of 6
// runs). mpi4py's counterpart is MPI.Alloc_mem; this memory is not MPI's (posix_memalign), so it needs
// no initialised MPI and outlives MPI_Finalize safely.
import { native } from '../addon/binding.js';
import { checkCount } from './checks.js';
import { dtypeInfo, type Dtype } from './dtypes.js';
import type { ArrayOf } from '../comm/comm.js';

/**
 * A zeroed typed array of `count` elements of `dtype` whose memory starts on a page boundary, freed
 * when the array's buffer is garbage-collected. Worth it for messages of 64 KiB and more, above all
 * one-sided operations and shared-memory transfers; small messages gain nothing.
 */
export function alignedArray<D extends Dtype>(dtype: D, count: number): ArrayOf<D> {
  const d = dtypeInfo(dtype);
  const n = checkCount(count, 'alignedArray: count');
  return new d.array(native.allocAligned(n * d.size), 0, n) as ArrayOf<D>;
}
