// The loaded addon for this environment, wired to the shared status records. Every module that calls
// native code imports `native` from here.
import { MpiError } from '../core/errors.js';
import { loadAddon } from './load.js';
import { STATUS } from './native.js';

export const native = loadAddon();

/** Status of the last synchronous call or immediate completion. */
export const statusRecord = new Float64Array(STATUS.fields);
/** Integer arguments of the fast calls (native FastArg layout: buffer slot, peer, tag, comm, flags). */
export const args = new Int32Array(8);
/** What wtimeFast() leaves: MPI_Wtime. */
export const clock = new Float64Array(1);
/** Completions delivered by the progress engine: slot ids and their status records. */
export const DONE_CAPACITY = 256;
export const doneSlots = new Int32Array(DONE_CAPACITY);
export const doneStatus = new Float64Array(DONE_CAPACITY * STATUS.fields);

let sink: (n: number) => void = () => {};
/** lib/core/request.ts registers the completion handler (one call per sweep of the engine). */
export function onCompletions(fn: (n: number) => void): void {
  sink = fn;
}

let errorSink: (comm: number, error: Error) => unknown = (_, e) => e;
/** lib/comm/comm.ts registers the dispatcher of communicators' error hooks (comm.onError). */
export function onMpiErrors(fn: (comm: number, error: Error) => unknown): void {
  errorSink = fn;
}

native.setup({
  status: statusRecord, args, clock, doneSlots, doneStatus, onComplete: (n) => sink(n), MpiError,
  onMpiError: (comm, error) => errorSink(comm, error),
});

export const C = native.constants();
