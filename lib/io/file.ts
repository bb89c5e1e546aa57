// MPI-IO (MPI-4.1 chapter 14): one file that every rank of a communicator reads and writes, at explicit
// offsets or through file pointers, independently or collectively (the `All` forms, where MPI may
// gather the ranks' pieces into large contiguous requests), blocking or as Promises (the `i` forms).
// Buffers are the typed arrays' own memory (zero copy; those of Promise forms are pinned until they
// complete), counts above 2^31-1 elements travel as one derived element, and offsets are numbers up to
// 2^53 (MPI_Offset is 64-bit).
//
// The view: setView(disp, dtype) makes the file a sequence of `dtype` elements from byte `disp` on;
// offsets and file pointers then count elements, and every buffer must hold that element type (checked
// here, before MPI). Without one the file is bytes and any buffer goes.
//
// Errors: argument errors are coded TypeError/RangeError before MPI is called; MPI's errors are MpiError
// (files keep MPI's default handler, MPI_ERRORS_RETURN), e.g. ERR_READ_ONLY for a write to a file opened
// 'r' and ERR_NO_SUCH_FILE for opening a missing one. Where the two MPIs answer one case differently,
// the library gives both MPICH's answer: setSize/preallocate of a file opened 'r' is refused here with
// ERR_READ_ONLY (Open MPI 4.1's OMPIO would print to stderr and return ERR_OTHER). Open MPI's own bugs
// in preallocate are worked around or refused (see preallocate).
import path from 'node:path';
import { C, native, statusRecord } from '../addon/binding.js';
import { STATUS } from '../addon/native.js';
import { asView, describe, invalidParameterError, type BufferLike } from '../core/checks.js';
import { checkComm, Comm } from '../comm/comm.js';
import { barrier } from '../coll/impl.js';
import { dtypeInfo, dtypeOf, type Dtype, type DtypeInfo, type TypedArray } from '../core/dtypes.js';
import { codedError } from '../core/errors.js';
import { Info, withInfo, type InfoLike } from '../core/info.js';
import { Request } from '../core/request.js';

/**
 * How a file is opened, as Node's fs flags: 'r' read, 'r+' read and write, 'w' write (created or
 * truncated), 'w+' also read, 'a'/'a+' append (file pointers start at the end; explicit offsets still
 * write where they say, as MPI_MODE_APPEND does), and an 'x' after the letter: fail if the file exists.
 */
export type FileMode = 'r' | 'r+' | 'w' | 'wx' | 'w+' | 'wx+' | 'a' | 'ax' | 'a+' | 'ax+';

/** Where seek counts from: the start, the current position, or the end of the file. */
export type Whence = 'set' | 'cur' | 'end';

/** The view a File has: elements of `dtype` ('byte' without a view) from byte `disp` on. */
export interface FileView {
  disp: number;
  dtype: Dtype | 'byte';
}

interface ModeInfo {
  amode: number;
  truncate: boolean;
  readOnly: boolean;
}

const MODES: Record<FileMode, ModeInfo> = (() => {
  const m = (bits: number[], truncate = false, readOnly = false): ModeInfo => ({ amode: bits.reduce((a, b) => a | b, 0), truncate, readOnly });
  const { MODE_RDONLY: R, MODE_WRONLY: W, MODE_RDWR: RW, MODE_CREATE: CR, MODE_EXCL: X, MODE_APPEND: A } = C;
  return {
    r: m([R], false, true), 'r+': m([RW]),
    w: m([W, CR], true), wx: m([W, CR, X]), 'w+': m([RW, CR], true), 'wx+': m([RW, CR, X]),
    a: m([W, CR, A]), ax: m([W, CR, X, A]), 'a+': m([RW, CR, A]), 'ax+': m([RW, CR, X, A]),
  };
})();

const MAX_OFFSET = 2 ** 53;
const WHENCE: Record<Whence, number> = { set: 0, cur: 1, end: 2 };

type Access = (file: number, buf: TypedArray, offset: number, nb: boolean) => number | undefined;

// MPI file names: a relative path is resolved against this rank's working directory, as fs does; a
// ROMIO-style prefix ("ufs:/scratch/x") is left to the MPI.
function resolvePath(p: unknown, what: string): string {
  if (typeof p !== 'string' || p === '') throw invalidParameterError('ERR_INVALID_ARG_TYPE', `${what}: path`, 'a non-empty string', p);
  return path.isAbsolute(p) || /^[a-z]\w+:/i.test(p) ? p : path.resolve(p);
}

// A byte count, displacement or offset: an integer from 0 to 2^53 - 1.
function offsetArg(v: unknown, what: string): number {
  if (typeof v !== 'number') throw invalidParameterError('ERR_OFFSET', what, 'an integer from 0 to 2^53 - 1', v);
  if (!(Number.isInteger(v) && v >= 0 && v < MAX_OFFSET)) {
    throw invalidParameterError('ERR_OFFSET', what, 'an integer from 0 to 2^53 - 1', v, RangeError);
  }
  return v;
}

/** An MPI file, open on every rank of a communicator. */
export class File {
  #h: number;
  readonly #comm: Comm;
  readonly #path: string;
  readonly #mode: FileMode;
  #view: DtypeInfo | undefined;
  #disp = 0;
  /** Promise forms not known to be complete yet (close() refuses while any is pending). */
  #inflight: Request<number>[] = [];

  private constructor(h: number, comm: Comm, p: string, mode: FileMode) {
    this.#h = h;
    this.#comm = comm;
    this.#path = p;
    this.#mode = mode;
  }

  /**
   * Opens `path` on every rank of `comm` (MPI_File_open; collective: every rank passes the same path
   * and mode). `info`: hints for the MPI (an Info or a plain object, e.g. { cb_buffer_size: '16777216' }).
   */
  static open(comm: Comm, path: string, mode: FileMode = 'r', info?: InfoLike): File {
    checkComm(comm, 'File.open: comm');
    const p = resolvePath(path, 'File.open');
    const m = typeof mode === 'string' && Object.hasOwn(MODES, mode) ? MODES[mode] : undefined;
    if (m === undefined) {
      throw codedError(TypeError, 'ERR_INVALID_MODE', `File.open: mode must be one of ${Object.keys(MODES).join(', ')}, got ${describe(mode)}`);
    }
    const c = comm._handle();
    const h = withInfo(info, (i) => native.fileOpen(c, p, m.amode, i, m.truncate));
    const f = new File(h, comm, p, mode);
    if (m.truncate) f.#settled();
    return f;
  }

  /** Deletes the file at `path` (MPI_File_delete; not collective). ERR_NO_SUCH_FILE when there is none. */
  static delete(path: string, info?: InfoLike): void {
    const p = resolvePath(path, 'File.delete');
    withInfo(info, (i) => native.fileDelete(p, i));
  }

  get path(): string {
    return this.#path;
  }

  get mode(): FileMode {
    return this.#mode;
  }

  get comm(): Comm {
    return this.#comm;
  }

  get closed(): boolean {
    return this.#h < 0;
  }

  get view(): FileView {
    return { disp: this.#disp, dtype: this.#view?.name ?? 'byte' };
  }

  #handle(): number {
    if (this.#h < 0) throw codedError(TypeError, 'ERR_FILE_CLOSED', `${this.#path} was closed`);
    return this.#h;
  }

  /** Closes the file (MPI_File_close; collective). Every Promise form must have completed; closing twice is a no-op. */
  close(): void {
    if (this.#h < 0) return;
    this.#prune();
    if (this.#inflight.length > 0) {
      throw codedError(Error, 'ERR_FILE_PENDING', `close: ${this.#inflight.length} nonblocking access(es) of ${this.#path} still pending; await them first`);
    }
    const h = this.#h;
    this.#h = -1;
    native.fileClose(h);
  }

  /**
   * Makes the file a sequence of `dtype` elements from byte `disp` on (MPI_File_set_view with etype and
   * filetype `dtype`, "native" representation; collective). No dtype: bytes. Offsets and file pointers
   * count elements of the view from then on; the file pointers go back to 0.
   */
  setView(disp = 0, dtype?: Dtype, info?: InfoLike): void {
    const h = this.#handle();
    const d = offsetArg(disp, 'setView: disp');
    const t = dtype === undefined ? undefined : dtypeInfo(dtype);
    withInfo(info, (i) => native.fileSetView(h, d, t === undefined ? null : new t.array(0), i));
    this.#view = t;
    this.#disp = d;
  }

  // ---- data access: each returns the elements moved (fewer than asked at the end of the file) ----

  /** Reads into `buf` from element `offset` of the view (MPI_File_read_at). */
  readAt(offset: number, buf: BufferLike): number {
    return this.#blocking(native.fileReadAt, 'readAt', buf, offset);
  }
  writeAt(offset: number, buf: BufferLike): number {
    return this.#blocking(native.fileWriteAt, 'writeAt', buf, offset);
  }
  /** readAt, collective: every rank calls it (MPI_File_read_at_all). */
  readAtAll(offset: number, buf: BufferLike): number {
    return this.#blocking(native.fileReadAtAll, 'readAtAll', buf, offset);
  }
  /** writeAt, collective: every rank calls it, each with its own offset and buffer (MPI_File_write_at_all). */
  writeAtAll(offset: number, buf: BufferLike): number {
    return this.#blocking(native.fileWriteAtAll, 'writeAtAll', buf, offset);
  }
  /** At this rank's own file pointer, which moves past what was read (MPI_File_read). */
  read(buf: BufferLike): number {
    return this.#blocking(native.fileRead, 'read', buf);
  }
  write(buf: BufferLike): number {
    return this.#blocking(native.fileWrite, 'write', buf);
  }
  readAll(buf: BufferLike): number {
    return this.#blocking(native.fileReadAll, 'readAll', buf);
  }
  writeAll(buf: BufferLike): number {
    return this.#blocking(native.fileWriteAll, 'writeAll', buf);
  }
  /** At the file pointer all ranks share, in whatever order the ranks come (MPI_File_read_shared). */
  readShared(buf: BufferLike): number {
    return this.#blocking(native.fileReadShared, 'readShared', buf);
  }
  writeShared(buf: BufferLike): number {
    return this.#blocking(native.fileWriteShared, 'writeShared', buf);
  }
  /** At the shared file pointer, in rank order (MPI_File_read_ordered; collective, blocking only). */
  readOrdered(buf: BufferLike): number {
    return this.#blocking(native.fileReadOrdered, 'readOrdered', buf);
  }
  /** Appends each rank's `buf` in rank order at the shared file pointer (MPI_File_write_ordered; collective). */
  writeOrdered(buf: BufferLike): number {
    return this.#blocking(native.fileWriteOrdered, 'writeOrdered', buf);
  }

  // ---- Promise forms (MPI_File_i*): resolve to the elements moved; `buf` is pinned until then ----

  ireadAt(offset: number, buf: BufferLike): Request<number> {
    return this.#nonblocking(native.fileReadAt, 'ireadAt', buf, offset);
  }
  iwriteAt(offset: number, buf: BufferLike): Request<number> {
    return this.#nonblocking(native.fileWriteAt, 'iwriteAt', buf, offset);
  }
  /** Collective (MPI-3.1 MPI_File_iread_at_all): every rank calls it. */
  ireadAtAll(offset: number, buf: BufferLike): Request<number> {
    return this.#nonblocking(native.fileReadAtAll, 'ireadAtAll', buf, offset);
  }
  iwriteAtAll(offset: number, buf: BufferLike): Request<number> {
    return this.#nonblocking(native.fileWriteAtAll, 'iwriteAtAll', buf, offset);
  }
  iread(buf: BufferLike): Request<number> {
    return this.#nonblocking(native.fileRead, 'iread', buf);
  }
  iwrite(buf: BufferLike): Request<number> {
    return this.#nonblocking(native.fileWrite, 'iwrite', buf);
  }
  ireadAll(buf: BufferLike): Request<number> {
    return this.#nonblocking(native.fileReadAll, 'ireadAll', buf);
  }
  iwriteAll(buf: BufferLike): Request<number> {
    return this.#nonblocking(native.fileWriteAll, 'iwriteAll', buf);
  }
  ireadShared(buf: BufferLike): Request<number> {
    return this.#nonblocking(native.fileReadShared, 'ireadShared', buf);
  }
  iwriteShared(buf: BufferLike): Request<number> {
    return this.#nonblocking(native.fileWriteShared, 'iwriteShared', buf);
  }

  #blocking(access: Access, what: string, buf: BufferLike, offset = 0): number {
    const h = this.#target(what);
    const v = this.#buffer(buf, what);
    access(h, v, offsetArg(offset, `${what}: offset`), false);
    return Math.floor(statusRecord[STATUS.bytes]! / v.BYTES_PER_ELEMENT);
  }

  #nonblocking(access: Access, what: string, buf: BufferLike, offset = 0): Request<number> {
    const h = this.#target(what);
    const v = this.#buffer(buf, what);
    const r = Request._io(access(h, v, offsetArg(offset, `${what}: offset`), true)!, v, this.#comm._handle());
    this.#prune();
    this.#inflight.push(r);
    return r;
  }

  // Writes to a read-only file are refused here: Open MPI 4.1's collective writes at 3 or more ranks
  // report success on a file opened 'r' (seen in test/mpi/io.test.ts at np=3).
  #target(what: string): number {
    return /^i?write/.test(what) ? this.#writable(what) : this.#handle();
  }

  #prune(): void {
    if (this.#inflight.length > 0) this.#inflight = this.#inflight.filter((r) => !r.done);
  }

  // The typed array MPI reads or writes: with a view, one of the view's element type.
  #buffer(buf: unknown, what: string): TypedArray {
    const v = asView(buf, `${what}: buf`);
    const t = this.#view;
    if (t === undefined) return v;
    const d = dtypeOf(v);
    const bytes = (x: DtypeInfo | undefined) => x?.array === Uint8ClampedArray ? Uint8Array : x?.array;
    if (bytes(d) !== bytes(t)) {
      throw codedError(TypeError, 'ERR_DTYPE_MISMATCH',
        `${what}: buf is ${v.constructor.name} but the file's view is of ${t.name} (${t.array.name}): they must have the same element type`);
    }
    return v;
  }

  // ---- file pointers ----

  /** Moves this rank's file pointer to `offset` elements from `whence` (MPI_File_seek). */
  seek(offset: number, whence: Whence = 'set'): void {
    native.fileSeek(this.#handle(), this.#seekArgs(offset, whence, 'seek'), WHENCE[whence], false);
  }
  /** This rank's file pointer, in elements of the view (MPI_File_get_position). */
  position(): number {
    return native.filePosition(this.#handle(), false);
  }
  /** Moves the shared file pointer (MPI_File_seek_shared; collective, the same arguments everywhere). */
  seekShared(offset: number, whence: Whence = 'set'): void {
    native.fileSeek(this.#handle(), this.#seekArgs(offset, whence, 'seekShared'), WHENCE[whence], true);
  }
  positionShared(): number {
    return native.filePosition(this.#handle(), true);
  }

  #seekArgs(offset: unknown, whence: unknown, what: string): number {
    if (typeof whence !== 'string' || !Object.hasOwn(WHENCE, whence)) {
      throw invalidParameterError('ERR_INVALID_ARG_VALUE', `${what}: whence`, "'set', 'cur' or 'end'", whence);
    }
    if (whence === 'set') return offsetArg(offset, `${what}: offset`);
    if (!(typeof offset === 'number' && Number.isInteger(offset) && Math.abs(offset) < MAX_OFFSET)) {
      throw invalidParameterError('ERR_OFFSET', `${what}: offset`, 'an integer of magnitude below 2^53', offset, RangeError);
    }
    return offset;
  }

  // ---- size, space and consistency ----

  /** The file's size in bytes (MPI_File_get_size). */
  getSize(): number {
    return native.fileGetSize(this.#handle());
  }

  /** Truncates or extends the file to `bytes` (MPI_File_set_size; collective). */
  setSize(bytes: number): void {
    const h = this.#writable('setSize');
    const n = offsetArg(bytes, 'setSize: bytes');
    this.#settled();
    native.fileSetSize(h, n);
    this.#settled();
  }

  // Open MPI 4.1's MPI_File_set_size is not synchronizing: rank 0 changes the size on entry, while
  // other ranks may still be reading the old one (at 4 ranks a rank's getSize between setSize(1000) and
  // setSize(10) saw 10). Barriers before and after, so that between two collective size changes every
  // rank sees the size last set, on both MPIs.
  #settled(): void {
    barrier(this.#comm, this.#comm._handle(true), false);
  }

  /**
   * Makes sure the first `bytes` have storage (MPI_File_preallocate; collective); never shrinks the file.
   * Not on Open MPI for a file opened write-only ('w', 'a'): open it 'w+' or 'a+' there.
   */
  preallocate(bytes: number): void {
    const h = this.#writable('preallocate');
    const n = offsetArg(bytes, 'preallocate: bytes');
    // Open MPI 4.1.4's OMPIO answers it on a write-only file with ERR_ACCESS after extending the file,
    // and doubles a file whose size is exactly `bytes` (both in test/fixtures/mpi-quirks.c). The first
    // is refused before MPI sees it; for the second, rank 0's size (the same on every rank) says whether
    // to set the size back.
    if (C.IMPLEMENTATION === 'openmpi' && (MODES[this.#mode].amode & C.MODE_WRONLY) !== 0) {
      throw this.#mpiError(C.ERR_ACCESS, `preallocate of ${this.#path}, opened '${this.#mode}' (write-only): Open MPI 4.1 ` +
        "cannot preallocate a write-only file (MPICH can); open it 'w+' or 'a+'");
    }
    this.#settled();
    const before = new Float64Array([this.#comm.rank === 0 ? native.fileGetSize(h) : 0]);
    native.bcast(before, 0, this.#comm._handle(true), false);
    native.filePreallocate(h, n);
    if (before[0] === n) native.fileSetSize(h, n);
    this.#settled();
  }

  /** Writes this rank's data through to storage and makes other ranks' writes visible (MPI_File_sync; collective). */
  sync(): void {
    native.fileSync(this.#handle());
  }

  /** The hints the MPI uses for this file (MPI_File_get_info); free the Info when done. */
  getInfo(): Info {
    return Info._adopt(native.fileGetInfo(this.#handle()));
  }

  // MPICH answers these on a read-only file with ERR_READ_ONLY; Open MPI 4.1 prints to stderr and says
  // ERR_OTHER. Both get MPICH's answer.
  #writable(what: string): number {
    const h = this.#handle();
    if (MODES[this.#mode].readOnly) throw this.#mpiError(C.ERR_READ_ONLY, `${what} of ${this.#path}, opened '${this.#mode}'`);
    return h;
  }

  // The MpiError of MPI's own error class `cls`, for a call refused before MPI sees it.
  #mpiError(cls: number, why: string): Error {
    const e = native.errorFor(cls);
    e.message += ` (${why})`;
    return e;
  }
}
