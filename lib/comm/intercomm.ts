// Dynamic processes (MPI chapter 11) and intercommunicators: comm.spawn, parent(), ports with
// accept/connect, disconnect and merge. An Intercomm is a Comm whose point-to-point ranks (and
// channels' peers) name the remote group's processes. Every argument is checked before MPI is called;
// a command that does not exist is refused here, because Open MPI 4.1 aborts the whole job on it.
//
// MPICH 4.0.2 as Debian builds it (ch4:ucx) has no dynamic processes ("The function is currently not
// supported with ucx netmod"): spawn, accept and connect throw ERR_UNSUPPORTED_OPERATION there.
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { C, native } from '../addon/binding.js';
import { checkRoot, describe, invalidParameterError, sameDtype, tooSmall, type BufferLike } from '../core/checks.js';
import { ensureInit, libraryVersion } from '../core/env.js';
import { codedError } from '../core/errors.js';
import { withInfo, type InfoLike } from '../core/info.js';
import { Request as Req } from '../core/request.js';
import type { TypedArray } from '../core/dtypes.js';
import { Comm, PROC_NULL } from './comm.js';
import { nameComm } from './names.js';
import { Group } from './group.js';
import { alloc, bufArg, type InPlace } from '../coll/args.js';
import { typeScriptNodeArgs } from '../cli/launcher.js';

/** The root argument of an intercommunicator collective, on the root's own process (MPI_ROOT). */
export const ROOT: number = C.ROOT;

export interface SpawnOptions {
  /** The rank of this communicator whose command, args and info count (default 0). */
  root?: number | undefined;
  /**
   * Hints for MPI_Comm_spawn ('host', 'wdir', Open MPI's 'map_by', ...). On Open MPI, unless 'map_by' is
   * given, the library adds map_by ':OVERSUBSCRIBE' so that children start beyond the job's slots (as
   * `mpirun --oversubscribe` would); say map_by yourself to keep Open MPI's slot accounting.
   */
  info?: InfoLike | undefined;
}

export interface PortOptions {
  /** The rank of this communicator that names the port (default 0). */
  root?: number | undefined;
  info?: InfoLike | undefined;
}

// MPICH's ch4:ucx device: no MPI_Comm_spawn, accept or connect (checked once, before MPI is asked).
let dynamicRefusal: string | null | undefined;
function requireDynamic(what: string): void {
  if (dynamicRefusal === undefined) {
    ensureInit();
    const lib = libraryVersion();
    dynamicRefusal = C.IMPLEMENTATION === 'mpich' && /ch4:ucx/.test(lib)
      ? 'MPICH built with the ch4:ucx device (MPICH 4.0.2 here) has no dynamic processes: its ucx netmod answers ' +
        '"The function is currently not supported with ucx netmod". Use Open MPI'
      : null;
  }
  if (dynamicRefusal !== null) throw codedError(Error, 'ERR_UNSUPPORTED_OPERATION', `${what}: ${dynamicRefusal}`);
}

/** The file that `command` runs (searched on PATH when it has no slash), or the coded error that it has none. */
function resolveCommand(command: string, what = 'spawn'): string {
  const candidates = command.includes('/') ? [path.resolve(command)]
    : (process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '').map((d) => path.join(d, command));
  for (const file of candidates) {
    try {
      if (statSync(file).isFile()) {
        accessSync(file, constants.X_OK);
        return file;
      }
    } catch {
      // not this one
    }
  }
  throw codedError(Error, 'ERR_SPAWN_COMMAND', `${what}: command '${command}' ${command.includes('/') ? 'is not an executable file'
    : 'is not an executable on PATH'} (checked before MPI is asked: Open MPI 4.1 would abort the whole job)`);
}

function rootArg(options: { root?: number | undefined } | undefined, comm: Comm, what: string): number {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw invalidParameterError('ERR_INVALID_ARG_TYPE', `${what}: options`, 'an object', options);
  }
  return options?.root === undefined ? 0 : checkRoot(options.root, comm.size, what);
}

function checkPort(port: unknown, what: string): string {
  if (typeof port !== 'string') throw invalidParameterError('ERR_INVALID_ARG_TYPE', `${what}: port`, 'a port name from openPort()', port);
  // Open MPI's names are <job>.<vpid>:<tag>; MPICH's start with 'tag#'. Open MPI 4.1 given anything else
  // prints a help text ("Underlying runtime environment does not support accept/connect") and fails.
  const ok = port.length > 0 && port.length < C.MAX_PORT_NAME && !port.includes('\0') &&
    (C.IMPLEMENTATION === 'openmpi' ? /^\d+\.\d+:\d+$/.test(port) : C.IMPLEMENTATION === 'mpich' ? /^tag#/.test(port) : true);
  if (!ok) throw codedError(TypeError, 'ERR_PORT', `${what}: ${describe(port)} is not a port name (openPort() makes them)`);
  return port;
}

// The root's port, checked; other ranks may pass '' (MPI ignores theirs), and a port they pass is
// checked too, so that a bad one is refused on every rank and none waits in the collective for the rest.
function portArg(port: unknown, isRoot: boolean, what: string): string {
  return !isRoot && port === '' ? '' : checkPort(port, what);
}

/** Opens a port that other processes can connect() to (MPI_Open_port); close it with closePort(). */
export function openPort(info?: InfoLike): string {
  requireDynamic('openPort');
  return withInfo(info, (i) => native.openPort(i));
}

/** Closes a port that openPort() opened (MPI_Close_port). */
export function closePort(port: string): void {
  native.closePort(checkPort(port, 'closePort'));
}

let parentComm: Intercomm | null | undefined;

/**
 * The intercommunicator to the processes that spawned this one (MPI_Comm_get_parent), or null when this
 * process was started otherwise. The same object on every call, until it is disconnected.
 */
export function parent(): Intercomm | null {
  if (parentComm === undefined) {
    ensureInit();
    const r = native.commGetParent();
    parentComm = r === null ? null : new Intercomm(r[0], r[1], 'parent');
  }
  return parentComm?.freed ? null : parentComm;
}

const intercommOnly = (what: string) => codedError(TypeError, 'ERR_INTERCOMM',
  `${what} is not offered on an intercommunicator: merge() it into an intracommunicator first ` +
  '(intercommunicators have send/recv/isend/irecv, probe, barrier, bcast, allreduce, gather, channels and merge)');

/**
 * Two groups of processes, joined: this process's group (rank, size) and the remote group (remoteSize).
 * Point-to-point ranks and channel peers name remote processes. Made by spawn, accept and connect.
 */
export class Intercomm extends Comm {
  /** @internal */
  constructor(handle: number, internal: number, name = `intercommunicator ${handle}`) {
    super(handle, internal, true);
    nameComm(handle, internal, name);
  }

  /** The size of the remote group. */
  get remoteSize(): number {
    return this._peers();
  }

  /** The remote group (MPI_Comm_remote_group); `group()` is this process's own. Free it when done. */
  remoteGroup(): Group {
    return new Group(native.commRemoteGroup(this._handle()));
  }

  /**
   * One intracommunicator of both groups (MPI_Intercomm_merge): the group that passes high=false comes
   * first. Collective over both groups.
   */
  merge(high = false): Comm {
    if (typeof high !== 'boolean') throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'merge: high', 'a boolean', high);
    const [h, i] = native.intercommMerge(this._handle(), high);
    return new Comm(h, i);
  }

  /** A duplicate of this intercommunicator (MPI_Comm_dup). Collective over both groups. */
  override dup(): Intercomm {
    const [h, i] = native.commDup(this._handle());
    return new Intercomm(h, i);
  }

  /**
   * Waits for this intercommunicator's pending traffic and ends the connection (MPI_Comm_disconnect),
   * with its private duplicate's. Collective over both groups. Any later use is ERR_COMM_DISCONNECTED.
   */
  disconnect(): void {
    this._release(true);
  }

  // ---- collectives with intercommunicator roots: MPI_ROOT on the root, PROC_NULL on the rest of its
  // group, the root's rank (in the remote group) on the other side ----

  #root(root: unknown, what: string): number {
    if (root === ROOT || root === PROC_NULL) return root as number;
    if (typeof root === 'number' && Number.isInteger(root) && root >= 0 && root < this._peers()) return root;
    throw codedError(RangeError, 'ERR_ROOT', `${what}: root ${describe(root)} is none of ROOT (this process is the root), ` +
      `PROC_NULL (another process of this group is) or a remote rank 0..${this._peers() - 1}`);
  }

  override bcast<T extends BufferLike>(buf: T, root: number): any {
    const v = bufArg(buf, 'bcast', 'buf');
    native.bcast(v, this.#root(root, 'bcast'), this._handle(), false);
    return v;
  }

  override ibcast<T extends BufferLike>(buf: T, root: number): Req<any> {
    const v = bufArg(buf, 'ibcast', 'buf');
    const h = this._handle();
    return Req._coll(native.bcast(v, this.#root(root, 'ibcast'), h, true)!, h, v, v, undefined, 0);
  }

  /**
   * The root (ROOT) gets every remote process's `send`, in remote rank order; remote processes pass the
   * root's rank and their `send`; the root's group's other processes pass PROC_NULL. Only the root gets
   * a result.
   */
  override gather<T extends BufferLike>(send: T | InPlace | undefined, root: number, recv?: T): any {
    return this.#gather(send, root, recv, false);
  }

  override igather<T extends BufferLike>(send: T | InPlace | undefined, root: number, recv?: T): Req<any> {
    return this.#gather(send, root, recv, true);
  }

  #gather(send: unknown, root: number, recv: unknown, nb: boolean): any {
    const what = nb ? 'igather' : 'gather';
    const rt = this.#root(root, what);
    const h = this._handle();
    let s: TypedArray | null = null, r: TypedArray | null = null, n = 0;
    if (rt === ROOT) {
      if (recv === undefined && send === undefined) {
        throw codedError(TypeError, 'ERR_INVALID_BUFFER', `${what}: the root needs recv, or a send of one block's shape`);
      }
      const like = bufArg(recv ?? send, what, recv === undefined ? 'send' : 'recv') as TypedArray;
      if (recv === undefined) {
        n = like.length;
        r = alloc(like, n * this._peers());
      } else {
        r = like;
        if (send !== undefined) sameDtype(bufArg(send, what, 'send') as TypedArray, r, what);
        n = send !== undefined ? (bufArg(send, what, 'send') as TypedArray).length : Math.floor(r.length / this._peers());
        if (r.length < n * this._peers()) tooSmall(what, 'recv', n * this._peers(), r.length);
      }
      s = r; // ignored by MPI at the root, but it gives the element type
    } else if (rt !== PROC_NULL) {
      s = bufArg(send, what, 'send') as TypedArray;
      n = s.length;
    } else {
      s = new Uint8Array(0); // ignored by MPI
    }
    const ret = native.gather(s, r, n, rt, h, nb);
    return nb ? Req._coll(ret!, h, r ?? undefined, r ?? undefined, s, 0) : (r ?? undefined);
  }
}

// Collectives that assume one group (their sizes, roots or in-place forms) are refused on an
// Intercomm rather than computed wrong; merge() first.
const OFFERED = new Set(['constructor', 'send', 'ssend', 'recv', 'isend', 'issend', 'irecv', 'probe', 'iprobe', 'sendrecv',
  'sendrecvReplace', 'barrier', 'ibarrier', 'bcast', 'ibcast', 'allreduce', 'iallreduce', 'gather', 'igather', 'onError',
  'setErrorsFatal', 'free', 'compare', 'channel', 'dup', 'group', '_handle', '_peers', '_release', 'sendInit', 'ssendInit', 'recvInit']);
export function _refuseOneGroupMethods(): void {
  for (const name of Object.getOwnPropertyNames(Comm.prototype)) {
    if (OFFERED.has(name) || Object.prototype.hasOwnProperty.call(Intercomm.prototype, name)) continue;
    const d = Object.getOwnPropertyDescriptor(Comm.prototype, name);
    if (d === undefined || typeof d.value !== 'function') continue;
    Object.defineProperty(Intercomm.prototype, name, {
      value: function () { throw intercommOnly(name); }, writable: true, configurable: true,
    });
  }
}

declare module './comm.js' {
  interface Comm {
    /**
     * Starts `maxprocs` processes running `command args` (MPI_Comm_spawn) and returns the
     * intercommunicator to them (their parent() is its other side). Collective over this communicator;
     * blocks until the children have called MPI_Init. `args` and the command count at the root only.
     */
    spawn(command: string, args?: readonly string[], maxprocs?: number, options?: SpawnOptions): Intercomm;
    /**
     * spawn() of Node running `script` (a .js/.mjs file, or .ts through tsx as `mpi4node run` does),
     * with this Node's own executable.
     */
    spawnNode(script: string | URL, args?: readonly string[], maxprocs?: number, options?: SpawnOptions): Intercomm;
    /** Waits for a connect() to `port` (MPI_Comm_accept); collective over this communicator. */
    accept(port: string, options?: PortOptions): Intercomm;
    /** Connects to a port that another group accept()s on (MPI_Comm_connect); collective. */
    connect(port: string, options?: PortOptions): Intercomm;
  }
}

Comm.prototype.spawn = function (this: Comm, command: string, args: readonly string[] = [], maxprocs = 1,
  options?: SpawnOptions): Intercomm {
  const root = rootArg(options, this, 'spawn');
  if (!(Number.isSafeInteger(maxprocs) && maxprocs >= 1 && maxprocs <= 1024)) {
    throw invalidParameterError('ERR_INVALID_ARG_VALUE', 'spawn: maxprocs', 'an integer from 1 to 1024', maxprocs, RangeError);
  }
  if (typeof command !== 'string' || command.length === 0 || command.includes('\0')) {
    throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'spawn: command', 'a non-empty string', command);
  }
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string' && !a.includes('\0'))) {
    throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'spawn: args', 'an array of strings', args);
  }
  // Only the root's command is run, but every rank checks the one it was given (pass the same one
  // everywhere): a rank that refused would leave the others waiting in the collective spawn. Checked
  // before MPI is asked, as Open MPI 4.1 aborts the whole job on a command it cannot run.
  const file = resolveCommand(command);
  requireDynamic('spawn');
  const hints: Record<string, string> = {};
  let user = options?.info;
  if (C.IMPLEMENTATION === 'openmpi' && !(user !== undefined && hasKey(user, 'map_by'))) {
    hints.map_by = ':OVERSUBSCRIBE';
  }
  const [[h, i], codes] = withMergedInfo(user, hints, (info) => native.commSpawn(file, [...args], maxprocs, info, root, this._handle()));
  const failed = codes.filter((c) => c !== 0).length;
  const inter = new Intercomm(h, i, `children of ${file}`);
  if (failed > 0) {
    inter.disconnect();
    throw codedError(Error, 'ERR_SPAWN_COMMAND', `spawn: ${failed} of ${maxprocs} processes of '${command}' did not start`);
  }
  return inter;
};

Comm.prototype.spawnNode = function (this: Comm, script: string | URL, args: readonly string[] = [], maxprocs = 1,
  options?: SpawnOptions): Intercomm {
  const file = script instanceof URL ? fileURLToPath(script) : script;
  if (typeof file !== 'string' || file.length === 0) throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'spawnNode: script', 'a path or file: URL', script);
  const abs = path.resolve(file);
  let exists = false;
  try {
    exists = statSync(abs).isFile();
  } catch {
    // reported below
  }
  if (!exists) throw codedError(Error, 'ERR_SPAWN_COMMAND', `spawnNode: script '${abs}' does not exist`);
  const nodeArgs = /\.[mc]?ts$/.test(abs) ? typeScriptNodeArgs(abs) : [];
  return this.spawn(process.execPath, [...nodeArgs, abs, ...args], maxprocs, options);
};

// accept and connect: the same arguments, the same checks, one MPI call apart.
function join(comm: Comm, accept: boolean, port: string, options: PortOptions | undefined): Intercomm {
  const what = accept ? 'accept' : 'connect';
  const root = rootArg(options, comm, what);
  const p = portArg(port, comm.rank === root, what);
  requireDynamic(what);
  const h = comm._handle();
  const [u, i] = withInfo(options?.info, (info) => (accept ? native.commAccept : native.commConnect)(p, info, root, h));
  return new Intercomm(u, i);
}

Comm.prototype.accept = function (this: Comm, port: string, options?: PortOptions): Intercomm {
  return join(this, true, port, options);
};

Comm.prototype.connect = function (this: Comm, port: string, options?: PortOptions): Intercomm {
  return join(this, false, port, options);
};

function hasKey(info: InfoLike, key: string): boolean {
  return typeof (info as { get?: unknown }).get === 'function'
    ? (info as { get(k: string): unknown }).get(key) !== undefined
    : Object.prototype.hasOwnProperty.call(info, key);
}

// The user's hints with `extra` added (a plain object is copied; an Info is used as it is, extra unset).
function withMergedInfo<T>(user: InfoLike | undefined, extra: Record<string, string>, fn: (h: number) => T): T {
  if (user !== undefined && typeof (user as { get?: unknown }).get === 'function') return withInfo(user, fn);
  const merged = { ...(user as Record<string, string> | undefined), ...extra };
  return withInfo(Object.keys(merged).length === 0 ? undefined : merged, fn);
}
