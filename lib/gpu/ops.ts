// Promise plumbing for device operations. The addon's GPU poller (native/gpu/env.cc) completes them
// from CUDA events and MPI requests without blocking the event loop and reports each sweep's
// completions in one call; a GpuRequest is settled from its record. Like the MPI Request (lib/core/request.ts),
// a GpuRequest is a settling Promise (lib/core/settle.ts) with wait() and test(), and it holds
// everything the operation reads or writes until it is done, so nothing in flight can be collected.
import { native } from '../addon/binding.js';
import { GPU_DONE } from '../addon/native.js';
import { capturedReject, capturedResolve, rejectHandled, Settling, settlesLikePromise } from '../core/settle.js';
import { gpuErrorFor, makeGpuError } from './errors.js';

const CAPACITY = 64;
const doneIds = new Int32Array(CAPACITY);
const doneRec = new Float64Array(CAPACITY * GPU_DONE.fields);
const record = new Float64Array(GPU_DONE.fields);
const pending: (GpuRequest<any> | undefined)[] = [];
const batch: (GpuRequest<any> | undefined)[] = new Array(CAPACITY);

native.gpu.setup({
  onComplete(n: number) {
    // Take the whole batch out first: settling one may post another that reuses a freed id.
    for (let i = 0; i < n; i++) {
      batch[i] = pending[doneIds[i]!];
      pending[doneIds[i]!] = undefined;
    }
    for (let i = 0; i < n; i++) {
      const r = batch[i];
      batch[i] = undefined;
      r?._settle(doneRec, i * GPU_DONE.fields);
    }
  },
  doneIds,
  doneRec,
  status: record,
  makeError: makeGpuError,
});

/** The outcome of a completed record: source, tag and bytes (for messages). */
export interface Completion {
  source: number;
  tag: number;
  bytes: number;
}

const enum State { Pending, Fulfilled, Rejected }

/**
 * A device operation in flight (an NCCL collective, a staged message, an asynchronous copy): await
 * it, or wait()/test() it as an MPI request. `wait()` blocks the thread, deadlines still applying.
 */
export class GpuRequest<T> extends Settling<T> {
  #id: number;
  #state = State.Pending;
  #value: T | undefined;
  #error: Error | undefined;
  #resolve: (v: T) => void;
  #reject: (e: Error) => void;
  #finish: ((c: Completion) => T) | undefined;
  #keep: unknown;

  /** @internal Made by the GPU API with the id the addon returned. */
  constructor(id: number, finish: (c: Completion) => T, keep: unknown) {
    super();
    this.#resolve = capturedResolve();
    this.#reject = capturedReject();
    this.#id = id;
    this.#finish = finish;
    this.#keep = keep;
    pending[id] = this;
  }

  get done(): boolean {
    return this.#state !== State.Pending;
  }

  /** @internal */
  _settle(rec: Float64Array, off: number): void {
    const finish = this.#finish!;
    this.#finish = undefined;
    this.#keep = undefined;
    const kind = rec[off + GPU_DONE.kind]!;
    let value: T;
    try {
      // finish() also releases what the operation held; it runs on failure too (with the error).
      if (kind !== 0) {
        const err = gpuErrorFor(kind, rec[off + GPU_DONE.code]!);
        finish({ source: -1, tag: -1, bytes: -1, error: err } as Completion);
        return this.#fail(err);
      }
      value = finish({ source: rec[off + GPU_DONE.source]!, tag: rec[off + GPU_DONE.tag]!, bytes: rec[off + GPU_DONE.bytes]! });
    } catch (e) {
      return this.#fail(e as Error);
    }
    this.#state = State.Fulfilled;
    this.#value = value;
    this.#resolve(value);
  }

  #fail(e: Error): void {
    this.#state = State.Rejected;
    this.#error = e;
    rejectHandled(this, this.#reject, e);
  }

  /** Blocks until done and returns the result (or throws its error). */
  wait(): T {
    if (this.#state === State.Pending) {
      native.gpu.wait(this.#id);
      pending[this.#id] = undefined;
      this._settle(record, 0);
    }
    if (this.#state === State.Rejected) throw this.#error;
    return this.#value as T;
  }

  /** Never blocks: true once done. */
  test(): boolean {
    if (this.#state === State.Pending && native.gpu.test(this.#id)) {
      pending[this.#id] = undefined;
      this._settle(record, 0);
    }
    return this.#state !== State.Pending;
  }
}

// `await` then takes a GpuRequest as a native promise (one microtask hop), as for lib/core/request.ts.
settlesLikePromise(GpuRequest);

/** A failure record's error, for finish() callbacks that must release on failure. */
export function failure(c: Completion): Error | undefined {
  return (c as Completion & { error?: Error }).error;
}

/** GPU operations in flight in this environment. */
export function pendingGpuOps(): number {
  let n = 0;
  for (const r of pending) if (r !== undefined) n++;
  return n;
}
