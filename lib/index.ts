// mpi4node: MPI for Node.js. See README.md for the API tour.
export { Comm, world, self, ANY_SOURCE, ANY_TAG, PROC_NULL, type Comparison, type ArrayOf } from './comm.js';
export { Request, waitAll, waitAny, waitSome, testAll, type Received } from './request.js';
export { Status } from './status.js';
export {
  init, initialized, finalized, finalize, abort, wtime, wtick, version, libraryVersion, processorName,
  threadLevel, setAbortOnError, type InitOptions, type ThreadLevel,
} from './env.js';
export { MpiError, LaunchError, AddonLoadError } from './errors.js';
export { DTYPES, dtypeInfo, dtypeOf, type Dtype, type TypedArray } from './dtypes.js';
export type { BufferLike } from './buffer.js';
