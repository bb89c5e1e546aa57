// The shape of what the addon (native/) exports. Everything else in lib/ is written against this.
// Handles are small integers; statuses are written into shared Float64Arrays (layout STATUS) instead
// of allocating an object per call.

/** Fields of one status record (native/engine.h StatusField). */
export const STATUS = { source: 0, tag: 1, error: 2, bytes: 3, cancelled: 4, message: 5, fields: 6 } as const;

export type Buf = ArrayBufferView; // a typed array by the time it reaches the addon

export interface NativeConstants {
  ANY_SOURCE: number; ANY_TAG: number; PROC_NULL: number; UNDEFINED: number;
  THREAD_SINGLE: number; THREAD_FUNNELED: number; THREAD_SERIALIZED: number; THREAD_MULTIPLE: number;
  IDENT: number; CONGRUENT: number; SIMILAR: number; UNEQUAL: number;
  WORLD: number; SELF: number; WORLD_INTERNAL: number; SELF_INTERNAL: number;
  STATUS_FIELDS: number; IMPLEMENTATION: 'openmpi' | 'mpich' | 'unknown';
}

export interface Native {
  setup(o: {
    status: Float64Array; doneSlots: Int32Array; doneStatus: Float64Array;
    onComplete: (n: number) => void; MpiError: Function;
  }): void;
  init(requestedThreadLevel: number): number;
  finalize(): void;
  initialized(): boolean;
  finalized(): boolean;
  queryThread(): number;
  abort(code: number): never;
  wtime(): number;
  wtick(): number;
  version(): [number, number];
  libraryVersion(): string;
  processorName(): string;
  constants(): NativeConstants;
  tagUpperBound(): number;
  pending(): number;
  errorFor(code: number): Error;

  commRank(comm: number): number;
  commSize(comm: number): number;
  commDup(comm: number): [number, number];
  commSplit(comm: number, color: number, key: number): [number, number] | null;
  commSplitShared(comm: number, key: number): [number, number] | null;
  commCompare(a: number, b: number): number;
  commFree(comm: number): void;

  send(buf: Buf, dest: number, tag: number, comm: number, synchronous: boolean): void;
  recv(buf: Buf, source: number, tag: number, comm: number): void;
  sendrecv(sbuf: Buf, dest: number, stag: number, rbuf: Buf, source: number, rtag: number, comm: number): void;
  sendrecvReplace(buf: Buf, dest: number, stag: number, source: number, rtag: number, comm: number): void;
  probe(source: number, tag: number, comm: number): void;
  iprobe(source: number, tag: number, comm: number): boolean;
  mprobe(source: number, tag: number, comm: number): void;
  mrecv(message: number, buf: Buf): void;

  /** Posting calls return -1 when the operation already completed (status in the record), else a slot. */
  isend(buf: Buf, dest: number, tag: number, comm: number, synchronous: boolean): number;
  irecv(buf: Buf, source: number, tag: number, comm: number): number;
  improbe(source: number, tag: number, comm: number): number;
  imrecv(message: number, buf: Buf): number;
  wait(slot: number): void;
  test(slot: number): boolean;
  cancel(slot: number): void;
}
