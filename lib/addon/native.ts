// The shape of what the addon (native/) exports. Everything else in lib/ is written against this.
// Handles are small integers; statuses are written into shared Float64Arrays (layout STATUS) instead
// of allocating an object per call.

/** Fields of one status record (native/progress/engine.h StatusField). */
export const STATUS = { source: 0, tag: 1, error: 2, bytes: 3, cancelled: 4, message: 5, fields: 6 } as const;

export type Buf = ArrayBufferView; // a typed array by the time it reaches the addon
/** A reduction op as the addon takes it: a code (native/mpi/ops.h) or a JavaScript function. */
export type CollOp = number | { fn: Function; commutative: boolean };

export interface NativeConstants {
  ANY_SOURCE: number; ANY_TAG: number; PROC_NULL: number; UNDEFINED: number; ROOT: number; MAX_PORT_NAME: number;
  THREAD_SINGLE: number; THREAD_FUNNELED: number; THREAD_SERIALIZED: number; THREAD_MULTIPLE: number;
  IDENT: number; CONGRUENT: number; SIMILAR: number; UNEQUAL: number;
  WORLD: number; SELF: number; WORLD_INTERNAL: number; SELF_INTERNAL: number;
  STATUS_FIELDS: number; ERR_TRUNCATE: number; IMPLEMENTATION: 'openmpi' | 'mpich' | 'unknown';
  MAX_INFO_KEY: number; MAX_INFO_VAL: number; ERR_READ_ONLY: number; ERR_ACCESS: number;
  MODE_RDONLY: number; MODE_WRONLY: number; MODE_RDWR: number; MODE_CREATE: number; MODE_EXCL: number;
  MODE_APPEND: number; MODE_DELETE_ON_CLOSE: number; MODE_UNIQUE_OPEN: number;
}

export interface Native {
  setup(o: {
    status: Float64Array; args: Int32Array; clock: Float64Array; doneSlots: Int32Array; doneStatus: Float64Array;
    onComplete: (n: number) => void; MpiError: Function;
    /** Called with an MPI error of a communicator that has a hook (comm.onError); returns the error to use. */
    onMpiError: (comm: number, error: Error) => unknown;
  }): void;
  init(requestedThreadLevel: number): number;
  finalize(): void;
  initialized(): boolean;
  finalized(): boolean;
  queryThread(): number;
  abort(code: number): never;
  wtick(): number;
  version(): [number, number];
  libraryVersion(): string;
  processorName(): string;
  constants(): NativeConstants;
  tagUpperBound(): number;
  pending(): number;
  /** The MpiError for `code`; with the engine slot of the operation that failed (-1: it completed at once), its communicator's hook sees it first. */
  errorFor(code: number, slot?: number): Error;
  /** From now on nothing calls MPI_Finalize (exit with operations that cannot complete). */
  skipFinalize(): void;
  /** For how long (ms) nothing but this environment's MPI requests has kept its event loop alive (0: something else does). */
  keptAliveByMpiMs(): number;

  commRank(comm: number): number;
  commSize(comm: number): number;
  commDup(comm: number): [number, number];
  commSplit(comm: number, color: number, key: number): [number, number] | null;
  /** info: an info handle, -1 for none (MPI_INFO_NULL); the same for every `info` below. */
  commSplitShared(comm: number, key: number, info: number): [number, number] | null;
  commCompare(a: number, b: number): number;
  /** MPI_Comm_free, or with `disconnect` MPI_Comm_disconnect. */
  commFree(comm: number, disconnect?: boolean): void;
  /** Dynamic processes (native/mpi/dynamic.cc): new intercommunicators as [user, internal] handles. */
  commSpawn(command: string, argv: string[], maxprocs: number, info: number, root: number, comm: number): [[number, number], number[]];
  commGetParent(): [number, number] | null;
  openPort(info: number): string;
  closePort(port: string): void;
  commAccept(port: string, info: number, root: number, comm: number): [number, number];
  commConnect(port: string, info: number, root: number, comm: number): [number, number];
  intercommMerge(comm: number, high: boolean): [number, number];
  /** The remote group's size; -1 for an intracommunicator. */
  commRemoteSize(comm: number): number;
  /** MPI_Comm_remote_group: a group handle. */
  commRemoteGroup(comm: number): number;
  /** MPI_ERRORS_ARE_FATAL (true) or MPI_ERRORS_RETURN (false) on this communicator. */
  commSetErrorsFatal(comm: number, fatal: boolean): void;
  /** Whether MPI errors of calls on this handle go through setup's onMpiError first. */
  setErrorHook(comm: number, on: boolean): void;

  /** Groups (native/mpi/group.cc): handles of a per-environment table. groupRank: UNDEFINED when not a member. */
  commGroup(comm: number): number;
  groupSize(group: number): number;
  groupRank(group: number): number;
  groupIncl(group: number, ranks: Int32Array): number;
  groupExcl(group: number, ranks: Int32Array): number;
  groupUnion(a: number, b: number): number;
  groupIntersection(a: number, b: number): number;
  groupDifference(a: number, b: number): number;
  /** Each rank of `a` in `b` (UNDEFINED where it is not one). */
  groupTranslate(a: number, ranks: Int32Array, b: number): Int32Array;
  groupCompare(a: number, b: number): number;
  groupFree(group: number): void;
  commCreateGroup(comm: number, group: number, tag: number): [number, number];

  /** Info objects (native/mpi/info.cc). */
  infoCreate(): number;
  infoSet(info: number, key: string, value: string): void;
  infoGet(info: number, key: string): string | undefined;
  infoDelete(info: number, key: string): boolean;
  infoKeys(info: number): string[];
  infoDup(info: number): number;
  infoFree(info: number): void;

  /**
   * Point-to-point (native/mpi/p2p.cc). `nb` picks the nonblocking form, which returns -1 when the
   * operation already completed (status in the record), else a slot; blocking forms return undefined.
   */
  send(buf: Buf, dest: number, tag: number, comm: number, synchronous: boolean, nb: boolean): number | undefined;
  recv(buf: Buf, source: number, tag: number, comm: number, nb: boolean): number | undefined;
  sendrecv(sbuf: Buf, dest: number, stag: number, rbuf: Buf, source: number, rtag: number, comm: number): void;
  sendrecvReplace(buf: Buf, dest: number, stag: number, source: number, rtag: number, comm: number): void;
  probe(source: number, tag: number, comm: number): void;
  iprobe(source: number, tag: number, comm: number): boolean;
  /** Blocks until a message matches; its handle in status[message] (-1: none, a receive from PROC_NULL). */
  mprobe(source: number, tag: number, comm: number): void | number;
  mrecv(message: number, buf: Buf, nb: boolean): number | undefined;

  /** The hot path (lib/addon/fastpath.ts): buffers registered once, integer arguments in the args slab. */
  registerBuffer(slot: number, buf: Buf): void;
  /** A channel header a receiver accepted (through its padding) and its message's length, for recvMessageFast to compare. */
  registerExpected(slot: number, header: Uint8Array, total: number): void;
  sendFast(): void;
  recvFast(): void;
  /**
   * Slab: [inbox slab slot, source, tag, comm, offset, room, expected-header slot | -1]; kResult: bytes received
   * at offset, or DECLINED (message matched, status as mprobe); kExpect: 1 when the message matched that header.
   */
  recvMessageFast(): void;
  /**
   * Slab: [inbox slab slot, message id, -, comm, offset, bytes, expected-header slot | -1]: a matched message
   * received at offset; kResult: its engine slot, or -1 once it is in (then kExpect: 1 when it matched that header).
   */
  mrecvFast(): void;
  /** These two leave the engine slot (or -1: already complete) in the slab, read by fastResult(). */
  isendFast(): void;
  /** Slab: [slot, dest, tag, comm, offset, bytes]: an isend of those bytes of the registered array; kResult as isendFast. */
  isendSpanFast(): void;
  irecvFast(): void;
  /** Slab: [recv slot, send slot | -1 (IN_PLACE), count, comm, op code | nonblocking << 8]. */
  allreduceFast(): void;
  /** Slab: [-, -, -, comm, nonblocking]; a nonblocking barrier's slot is left as for isendFast. */
  barrierFast(): void;
  /** MPI_Wtime into the clock slab. */
  wtimeFast(): void;
  /** Slab: [buf slot, target, disp, window, kind | op code << 8] (RMA_* in fastpath.ts): put, get, accumulate or flush. */
  rmaFast(): void;

  /** Like mprobe, without blocking: -1 (matched, status in the record) or a slot. */
  improbe(source: number, tag: number, comm: number): number;
  /** After a burst of posts: a short spin; how many completions it wrote to doneSlots/doneStatus. */
  progress(): number;
  /** Persistent requests: an id into the engine's table (start: -1 complete, or a slot; startAll: one slot). */
  sendInit(buf: Buf, dest: number, tag: number, comm: number, synchronous: boolean): number;
  recvInit(buf: Buf, source: number, tag: number, comm: number): number;
  allreduceInit(send: Buf | null, recv: Buf, count: number, op: number, comm: number): number;
  bcastInit(buf: Buf, root: number, comm: number): number;
  barrierInit(comm: number): number;
  start(id: number): number;
  startAll(ids: Int32Array, n: number): number;
  requestFree(id: number): void;
  /** The status record (in the slab) of persistent request `id`'s part in the startAll batch that last completed it. */
  batchStatus(id: number, cancelAsked: boolean): void;
  wait(slot: number): void;
  test(slot: number): boolean;
  cancel(slot: number): void;
  /** Whether the pending request in `slot` keeps the event loop alive. */
  setRef(slot: number, ref: boolean): void;
  /**
   * One MPI call over the engine slots slots[0..n) (MPI_Waitall & co.): records[pos * STATUS.fields] gets
   * the record of the slot at position pos when it completes. waitAny/testAny return that position, -1
   * when no slot is pending (MPI_UNDEFINED), testAny -2 when none has completed yet; waitSome/testSome
   * how many completed (their positions in `positions`) or -1; testAll whether all did (if not, nothing
   * changed).
   */
  waitAll(slots: Int32Array, n: number, records: Float64Array): void;
  waitAny(slots: Int32Array, n: number, records: Float64Array): number;
  testAny(slots: Int32Array, n: number, records: Float64Array): number;
  waitSome(slots: Int32Array, n: number, records: Float64Array, positions: Int32Array): number;
  testSome(slots: Int32Array, n: number, records: Float64Array, positions: Int32Array): number;
  testAll(slots: Int32Array, n: number, records: Float64Array): boolean;

  /**
   * Collectives (native/mpi/coll.cc). `nb` picks the nonblocking form, which returns -1 (completed,
   * status in the record) or a slot; blocking forms return undefined. A null send buffer is
   * MPI_IN_PLACE (for scatter/scatterv a null receive buffer at the root); null receive buffers are
   * those MPI ignores on non-roots. `op` is a code of lib/coll/ops.ts or a user op { fn, commutative }.
   * Counts are elements; counts arrays are Int32Array, kept referenced by the caller until completion.
   */
  bcast(buf: Buf, root: number, comm: number, nb: boolean): number | undefined;
  reduce(send: Buf | null, recv: Buf | null, count: number, op: CollOp, root: number, comm: number, nb: boolean): number | undefined;
  allreduce(send: Buf | null, recv: Buf, count: number, op: CollOp, comm: number, nb: boolean): number | undefined;
  scan(send: Buf | null, recv: Buf, count: number, op: CollOp, comm: number, nb: boolean): number | undefined;
  exscan(send: Buf | null, recv: Buf, count: number, op: CollOp, comm: number, nb: boolean): number | undefined;
  reduceScatterBlock(send: Buf | null, recv: Buf, count: number, op: CollOp, comm: number, nb: boolean): number | undefined;
  reduceScatter(send: Buf | null, recv: Buf, counts: Int32Array, op: CollOp, comm: number, nb: boolean): number | undefined;
  gather(send: Buf | null, recv: Buf | null, count: number, root: number, comm: number, nb: boolean): number | undefined;
  scatter(send: Buf | null, recv: Buf | null, count: number, root: number, comm: number, nb: boolean): number | undefined;
  allgather(send: Buf | null, recv: Buf, count: number, comm: number, nb: boolean): number | undefined;
  alltoall(send: Buf | null, recv: Buf, count: number, comm: number, nb: boolean): number | undefined;
  /** Graph communicators: count elements from (allgather) or to and from (alltoall) each neighbour. */
  neighborAllgather(send: Buf, recv: Buf, count: number, comm: number, nb: boolean): number | undefined;
  neighborAlltoall(send: Buf, recv: Buf, count: number, comm: number, nb: boolean): number | undefined;
  gatherv(send: Buf | null, recv: Buf | null, counts: Int32Array | null, displs: Int32Array | null, root: number,
    comm: number, nb: boolean): number | undefined;
  scatterv(send: Buf | null, counts: Int32Array | null, displs: Int32Array | null, recv: Buf | null, root: number,
    comm: number, nb: boolean): number | undefined;
  allgatherv(send: Buf | null, recv: Buf, counts: Int32Array, displs: Int32Array, comm: number, nb: boolean): number | undefined;
  alltoallv(send: Buf | null, scounts: Int32Array | null, sdispls: Int32Array | null, recv: Buf, rcounts: Int32Array,
    rdispls: Int32Array, comm: number, nb: boolean): number | undefined;
  /** inout = input op inout over count elements (MPI_Reduce_local), with the collectives' ops. */
  reduceLocal(input: Buf, inout: Buf, count: number, op: CollOp): void;
  /** buf[i] /= n for a Float32Array or Float64Array, or a Uint16Array of half kind `half` (the 'avg' op). */
  divide(buf: Buf, n: number, half?: number): void;
  /** Which of this MPI's own reductions are wrong (native/mpi/ops.h): collectives replace them, accumulates cannot. */
  quirks(): { unsignedMinMax: boolean; narrowSumSaturates: boolean };
  /** float32/float64 `src` into float16 (kind 1) or bfloat16 (kind 2) `dst`, rounded to nearest even (native/mpi/half.h). */
  toHalf(src: Buf, dst: Buf, kind: number): void;
  /** float16/bfloat16 `src` (a Uint16Array) into a float32/float64 `dst`. */
  fromHalf(src: Buf, dst: Buf, kind: number): void;

  /**
   * One-sided communication (native/mpi/win.cc). Windows are handles; `info` alternates keys and values.
   * Assertions are bits: 1 nocheck, 2 nostore, 4 noput, 8 noprecede, 16 nosucceed. Displacements are in
   * the target window's units; the origin's element type is the target's. `nb` picks the request-based
   * form (MPI_Rput & co.), which returns -1 (completed) or an engine slot.
   */
  winCreate(buf: Buf, dispUnit: number, comm: number, info: string[] | null): number;
  winAllocate(bytes: number, dispUnit: number, comm: number, shared: boolean, info: string[] | null): [number, ArrayBuffer];
  winSharedQuery(win: number, rank: number): [ArrayBuffer, number];
  /** [flavor (0 create, 1 allocate, 2 dynamic, 3 shared), unified memory model]. */
  winAttr(win: number): [number, boolean];
  /** Detaches `buffers` (what was handed out over the window's memory), then MPI_Win_free. */
  winFree(win: number, buffers: ArrayBuffer[]): void;
  winFence(win: number, assert: number): void;
  winLock(win: number, rank: number, exclusive: boolean, assert: number): void;
  winUnlock(win: number, rank: number): void;
  winLockAll(win: number, assert: number): void;
  winUnlockAll(win: number): void;
  winFlushAll(win: number, local: boolean): void;
  winSync(win: number): void;
  winPut(win: number, buf: Buf, rank: number, disp: number, nb: boolean): number | undefined;
  winGet(win: number, buf: Buf, rank: number, disp: number, nb: boolean): number | undefined;
  winAccumulate(win: number, origin: Buf, rank: number, disp: number, op: number, nb: boolean): number | undefined;
  winGetAccumulate(win: number, origin: Buf | null, result: Buf, rank: number, disp: number, op: number, nb: boolean): number | undefined;
  winFetchAndOp(win: number, origin: Buf | null, result: Buf, rank: number, disp: number, op: number): void;
  winCompareAndSwap(win: number, origin: Buf, compare: Buf, result: Buf, rank: number, disp: number): void;
  /** Lets MPI's progress engine run once, by an MPI_Iprobe on `comm` (MPICH serves passive-target operations only inside MPI calls). */
  winProgress(comm: number): void;

  /** Several buffers as ONE message (an hindexed datatype over their addresses; native/channel/parts.cc). */
  sendParts(parts: Buf[], dest: number, tag: number, comm: number, synchronous: boolean, nb: boolean): number | undefined;
  /** Receives a message of unknown size: bytes at slab[offset] when it fits `capacity`, else a pooled Buffer. */
  recvMessage(source: number, tag: number, comm: number, slab: Uint8Array, offset: number, capacity: number): number | Buffer;
  /** A Buffer of exactly `bytes` from the receive pool (memory not zeroed). */
  allocBuffer(bytes: number): Buffer;
  /** A zeroed ArrayBuffer of `bytes` starting on a page boundary (lib/core/alloc.ts). */
  allocAligned(bytes: number): ArrayBuffer;
  /** Distributed graph topology (native/mpi/topo.cc). Weights null = MPI_UNWEIGHTED. */
  distGraphCreate(comm: number, sources: Int32Array, sourceWeights: Int32Array | null, dests: Int32Array,
    destWeights: Int32Array | null): [number, number];
  distGraphNeighbors(comm: number): [Int32Array, Int32Array, Int32Array, Int32Array, boolean];
  topoAgree(comm: number, value: number): boolean;
  /** Cartesian topologies (native/mpi/topo.cc). periods and remainDims: 0 or 1 per dimension. */
  cartCreate(comm: number, dims: Int32Array, periods: Int32Array, reorder: boolean): [number, number] | null;
  /** [dims, periods, this rank's coordinates] */
  cartGet(comm: number): [Int32Array, Int32Array, Int32Array];
  cartRank(comm: number, coords: Int32Array): number;
  cartCoords(comm: number, rank: number): Int32Array;
  /** [source, dest] */
  cartShift(comm: number, direction: number, disp: number): Int32Array;
  cartSub(comm: number, remainDims: Int32Array): [number, number];
  /** Fills the zero entries of `dims` in place (MPI_Dims_create). */
  dimsCreate(nnodes: number, dims: Int32Array): void;

  /**
   * MPI-IO (native/mpi/io.cc): file handles of a per-environment table. Data accesses take a buffer, an
   * offset in elements of the view (ignored by the file-pointer forms) and `nb`; the blocking form
   * leaves the byte count in the status record, the nonblocking one returns -1 (done, status in the
   * record) or a slot. The ordered forms are blocking only.
   */
  fileOpen(comm: number, path: string, amode: number, info: number, truncate: boolean): number;
  fileClose(file: number): void;
  fileDelete(path: string, info: number): void;
  /** etype: an empty typed array of the element type, or null for bytes. */
  fileSetView(file: number, disp: number, etype: Buf | null, info: number): void;
  fileReadAt(file: number, buf: Buf, offset: number, nb: boolean): number | undefined;
  fileWriteAt(file: number, buf: Buf, offset: number, nb: boolean): number | undefined;
  fileReadAtAll(file: number, buf: Buf, offset: number, nb: boolean): number | undefined;
  fileWriteAtAll(file: number, buf: Buf, offset: number, nb: boolean): number | undefined;
  fileRead(file: number, buf: Buf, offset: number, nb: boolean): number | undefined;
  fileWrite(file: number, buf: Buf, offset: number, nb: boolean): number | undefined;
  fileReadAll(file: number, buf: Buf, offset: number, nb: boolean): number | undefined;
  fileWriteAll(file: number, buf: Buf, offset: number, nb: boolean): number | undefined;
  fileReadShared(file: number, buf: Buf, offset: number, nb: boolean): number | undefined;
  fileWriteShared(file: number, buf: Buf, offset: number, nb: boolean): number | undefined;
  fileReadOrdered(file: number, buf: Buf, offset: number, nb: boolean): number | undefined;
  fileWriteOrdered(file: number, buf: Buf, offset: number, nb: boolean): number | undefined;
  /** whence 0 set, 1 current, 2 end; shared: the shared file pointer (collective). */
  fileSeek(file: number, offset: number, whence: number, shared: boolean): void;
  filePosition(file: number, shared: boolean): number;
  fileGetSize(file: number): number;
  fileSetSize(file: number, bytes: number): void;
  filePreallocate(file: number, bytes: number): void;
  fileSync(file: number): void;
  /** An info handle of the hints in use (the caller frees it). */
  fileGetInfo(file: number): number;
}

// ---- GPU (native/gpu/): CUDA and NCCL loaded at run time, used through lib/gpu/. ----

/** Fields of one GPU completion record (native/gpu/env.h GpuDoneField). */
export const GPU_DONE = { kind: 0, code: 1, source: 2, tag: 3, bytes: 4, fields: 5 } as const;

export interface NativeGpuTried { path: string; error: string }

/** What the loader found (native/gpu/loader.h); codes are empty when that part is usable. */
export interface NativeGpuStatus {
  attempted: boolean;
  cuda: {
    code: string; reason: string; path: string; runtimeVersion: number; driverVersion: number; devices: number;
    tried: NativeGpuTried[];
  };
  nccl: {
    code: string; reason: string; path: string; versionCode: number; p2p: boolean;
    /** ncclCommInitRankConfig exists (NCCL >= 2.14): non-blocking creation, with a deadline. */
    config: boolean;
    tried: NativeGpuTried[];
  };
}

/**
 * `native.gpu`. Device buffers are integer handles; operations in flight are ids whose completions
 * arrive through setup's onComplete (records in doneRec, GPU_DONE layout) or a blocking wait(id)
 * (record in `status`). Offsets and sizes are bytes unless named count (elements).
 */
export interface NativeGpu {
  setup(o: {
    onComplete: (n: number) => void; doneIds: Int32Array; doneRec: Float64Array; status: Float64Array;
    makeError: (kind: number, code: number, text: string) => Error;
  }): void;
  load(cudart: string[], nccl: string[]): NativeGpuStatus;
  status(): NativeGpuStatus;
  errorText(kind: number, code: number): string;
  setDevice(device: number): void;
  getDevice(): number;
  sharedLocalRank(comm: number): [number, number];
  cudaAware(force: number): [boolean, string];
  stats(): {
    buffers: number; bytes: number; ops: number; ncclComms: number; events: number; pinnedPooled: number;
    /** cudaFree/cudaFreeHost calls held back while NCCL operations are pending. */
    deferredFrees: number;
    /** Failed NCCL creations still seeing their MPI bootstrap through. */
    lingering: number;
  };
  wait(id: number): void;
  test(id: number): boolean;

  alloc(bytes: number): number;
  free(handle: number): void;
  copyIn(handle: number, offset: number, host: ArrayBufferView): void;
  copyOut(handle: number, offset: number, host: ArrayBufferView): void;
  copyDevice(dst: number, dstOffset: number, src: number, srcOffset: number, bytes: number): void;
  /** Device -> device without a host wait, ordered on the device after both buffers' last work: an op id. */
  copyDeviceAsync(dst: number, dstOffset: number, src: number, srcOffset: number, bytes: number): number;
  copyInAsync(handle: number, offset: number, host: ArrayBufferView, chunk?: number): number;
  copyOutAsync(handle: number, offset: number, host: ArrayBufferView, chunk?: number): number;
  memset(handle: number, offset: number, bytes: number, value: number): void;
  pointerInfo(handle: number): [number, number];

  /** Blocks until created or `timeoutMs` (0: none) has passed; returns the communicator id. */
  ncclCreate(comm: number, timeoutMs: number, nonblocking: boolean): number;
  /** The same without blocking: an op id whose completion's `source` is the communicator id. */
  ncclInit(comm: number, timeoutMs: number, nonblocking: boolean): number;
  /** [rank, size, device, nonblocking] */
  ncclInfo(id: number): [number, number, number, boolean];
  ncclDestroy(id: number): void;
  ncclAbort(id: number): void;
  ncclOp(id: number, kind: number, send: number, sendOffset: number, recv: number, recvOffset: number, count: number,
    dtype: number, op: number, rootOrPeer: number, timeoutMs: number): number;
  ncclGroupStart(): void;
  ncclGroupEnd(): number;
  ncclCheck(id: number, signature: Float64Array): Float64Array;
  ncclCheckPeer(id: number, peer: number, isSend: boolean, signature: Float64Array): Float64Array | null;

  isend(handle: number, offset: number, bytes: number, dest: number, tag: number, comm: number, internal: number,
    chunk: number, cudaAware: boolean): number;
  irecv(handle: number, offset: number, capacity: number, source: number, tag: number, comm: number, internal: number,
    cudaAware: boolean): number;
}

export interface Native {
  gpu: NativeGpu;
}
