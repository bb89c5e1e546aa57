// Settings shared by the GPU modules: the size of the pinned host chunks that staged messages and
// Promise copies go through.
import { invalidParameterError } from '../core/checks.js';

export const DEFAULT_CHUNK = 4 << 20;
const MAX_CHUNK = 0x7fffffff - 64; // an MPI count, less the staging header

let chunkBytes = DEFAULT_CHUNK;

export interface StagingOptions {
  /**
   * Bytes per pinned host chunk (default 4 MiB, or MPI4NODE_GPU_CHUNK): staged device messages are
   * cut into chunks of the sender's size, Promise copies into chunks of this size.
   */
  chunkBytes?: number;
}

/** Sets how device messages are staged where MPI is not CUDA-aware, and how Promise copies are cut. */
export function configureStaging(options: StagingOptions): void {
  if (options === null || typeof options !== 'object') throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'configureStaging: options', 'an object', options);
  if (options.chunkBytes !== undefined) {
    const c = options.chunkBytes;
    if (!Number.isInteger(c) || c < 1 || c > MAX_CHUNK) {
      throw invalidParameterError('ERR_INVALID_CHUNK', 'chunkBytes', `an integer in 1..${MAX_CHUNK}`, c, RangeError);
    }
    chunkBytes = c;
  }
}

export function stagingChunk(): number {
  return chunkBytes;
}

if (process.env.MPI4NODE_GPU_CHUNK) configureStaging({ chunkBytes: Number(process.env.MPI4NODE_GPU_CHUNK) });
