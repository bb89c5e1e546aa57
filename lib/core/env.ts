// The MPI environment: init (explicit, or implicit on first use), finalize at exit when safe, abort,
// clocks, versions, and abort-on-failure so one failing rank takes the whole job down.
import { inspect } from 'node:util';
import { C, native } from '../addon/binding.js';
import { invalidParameterError } from './checks.js';
import { codedError, LaunchError } from './errors.js';
import { wtime as mpiWtime } from '../addon/fastpath.js';
import { finalizeAtExit, releaseAll, watchKeepAlive } from './exit.js';

export type ThreadLevel = 'single' | 'funneled' | 'serialized' | 'multiple';

const LEVELS: Record<ThreadLevel, number> = {
  single: C.THREAD_SINGLE,
  funneled: C.THREAD_FUNNELED,
  serialized: C.THREAD_SERIALIZED,
  multiple: C.THREAD_MULTIPLE,
};

export interface InitOptions {
  /**
   * Thread support to request. Default 'single': Node's own threads never call MPI, and the addon refuses
   * MPI calls from any thread but the one that initialised it unless 'multiple' was provided, so the
   * process keeps the promise 'funneled' would make. Open MPI 4.1 treats every level above 'single' as
   * threaded and locks on each message (measured here, C 8-byte ping-pong: 0.43 us single, 0.48 us
   * funneled). Ask for 'multiple' to call MPI from worker_threads; it costs on every call.
   */
  threadLevel?: ThreadLevel;
  /** Abort the whole job on an uncaught exception or unhandled rejection (default true). */
  abortOnError?: boolean;
}

let abortOnError = process.env.MPI4NODE_ABORT_ON_ERROR !== '0';
let hooked = false;
// What initialised MPI in this environment and at which level it asked, for the error of a later init()
// that asks for more.
let initialisedBy = '';
let requested: ThreadLevel | undefined;

/**
 * Initialises MPI (idempotent); returns the thread level provided. Asking for a higher level than MPI
 * was initialised with (by an earlier init(), or implicitly by the first MPI call) throws
 * ERR_MPI_INITIALIZED: MPI's thread level is fixed once it is initialised.
 */
export function init(options: InitOptions = {}): ThreadLevel {
  if (options === null || typeof options !== 'object') {
    throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'init: options', 'an object', options);
  }
  const level = options.threadLevel;
  if (level !== undefined && !Object.hasOwn(LEVELS, level)) {
    throw invalidParameterError('ERR_INVALID_ARG_VALUE', 'threadLevel', `one of ${Object.keys(LEVELS).join(', ')}`, level);
  }
  if (options.abortOnError !== undefined && typeof options.abortOnError !== 'boolean') {
    throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'abortOnError', 'a boolean', options.abortOnError);
  }
  if (native.finalized()) throw codedError(TypeError, 'ERR_MPI_FINALIZED', 'MPI was already finalized; it cannot be initialized again');
  const first = !native.initialized();
  if (first) {
    requested = level ?? 'single';
    initialisedBy ||= `by init(${level === undefined ? '' : `{ threadLevel: '${level}' }`}) at ${callerFrame()}`;
    checkSrun();
    native.init(LEVELS[requested]);
    process.on('exit', finalizeAtExit);
  } else {
    // Another environment of this process (the main thread, for a worker) initialised MPI.
    const have = requested ?? threadLevel();
    if (level !== undefined && LEVELS[level] > LEVELS[have]) {
      throw codedError(Error, 'ERR_MPI_INITIALIZED',
        `init({ threadLevel: '${level}' }): MPI is already initialised at thread level '${have}' ` +
          `(${initialisedBy || 'by the main thread'}), and its thread level cannot change: call ` +
          `init({ threadLevel: '${level}' }) before anything else uses MPI`);
    }
    native.init(LEVELS.single); // binds this environment (e.g. a worker) to the running MPI
  }
  if (options.abortOnError !== undefined) abortOnError = options.abortOnError;
  setAbortOnError(abortOnError);
  watchKeepAlive();
  if (first) checkLauncher();
  return threadLevel();
}

/** Called by every entry point that needs MPI: initialises it on first use. */
export function ensureInit(): void {
  if (!native.initialized() || native.finalized()) {
    if (!native.initialized()) initialisedBy = `implicitly, by the first MPI call, at ${callerFrame()}`;
    init();
  }
}

// Where the user's code called into the library: the first stack frame outside it.
function callerFrame(): string {
  const frames = (new Error().stack ?? '').split('\n').slice(1).map((l) => l.trim().replace(/^at /, ''));
  const here = frames[0]?.replace(/^.*?\(/, '') ?? '';
  const own = /^(.*[\\/](?:lib|dist)[\\/])/.exec(here)?.[1];
  const user = frames.find((f) => (own === undefined || !f.includes(own)) && !/\(?node:/.test(f));
  return user ?? 'an unknown place';
}

export function initialized(): boolean {
  return native.initialized();
}

export function finalized(): boolean {
  return native.finalized();
}

/** Finalises MPI. Pending requests are an error, as in MPI; at exit this runs by itself when safe. */
export function finalize(): void {
  const n = native.pending();
  if (n > 0) throw codedError(TypeError, 'ERR_MPI_PENDING', `cannot finalize: ${n} request(s) still pending; wait or cancel them first`);
  releaseAll();
  native.finalize();
}

export function threadLevel(): ThreadLevel {
  const p = native.queryThread();
  return (Object.keys(LEVELS) as ThreadLevel[]).find((k) => LEVELS[k] === p) ?? 'single';
}

/** Terminates every process of the job (MPI_Abort on the world communicator). */
export function abort(code = 1): never {
  return native.abort(code);
}

/**
 * Seconds since an arbitrary time in the past (MPI_Wtime). Like any MPI call, the first one
 * initialises MPI if nothing has (MPICH has no clock before MPI_Init).
 */
export function wtime(): number {
  try {
    return mpiWtime();
  } catch {
    ensureInit(); // throws what stands in the way (finalised, a worker thread); else MPI is up now
    return mpiWtime();
  }
}

/** The resolution of wtime() in seconds (MPI_Wtick); initialises MPI as wtime() does. */
export function wtick(): number {
  ensureInit();
  return native.wtick();
}

/** The MPI standard version the library implements. */
export function version(): { major: number; minor: number } {
  const [major, minor] = native.version();
  return { major, minor };
}

export function libraryVersion(): string {
  return native.libraryVersion();
}

export function processorName(): string {
  ensureInit();
  return native.processorName();
}

/**
 * Turns abort-on-failure on or off. On (the default, like `python -m mpi4py`): an uncaught exception or
 * unhandled rejection on any rank prints the error and calls MPI_Abort, so the job exits non-zero
 * instead of the other ranks waiting forever. Off: Node's own behaviour (this rank exits alone).
 * Also off when the environment has MPI4NODE_ABORT_ON_ERROR=0.
 */
export function setAbortOnError(on: boolean): void {
  abortOnError = on;
  if (on && !hooked) process.on('uncaughtException', onFatal);
  if (!on && hooked) process.off('uncaughtException', onFatal);
  hooked = on;
}

function onFatal(err: unknown, origin: string): void {
  let rank = '?';
  try {
    rank = String(native.commRank(C.WORLD));
  } catch {}
  const what = origin === 'unhandledRejection' ? 'unhandled rejection' : 'uncaught exception';
  process.stderr.write(`mpi4node: rank ${rank}: ${what}, aborting the job (MPI_Abort):\n${inspect(err)}\n`);
  // MPI_Abort tears the job down at once, and MPICH's Hydra proxies can drop output still in their
  // pipes: the line above, the one that says why the job ended, was lost in one clean-clone run of
  // test/unit/abort.test.ts. A tenth of a second lets the launcher forward it.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  native.abort(1);
}

// A launcher that is not this MPI's starts N singletons: each sees a world of 1 while the environment
// says N. Running on would silently run N copies of a 1-rank job.
const LAUNCH_VARS: [string, string][] = [
  ['OMPI_COMM_WORLD_SIZE', "Open MPI's mpirun"],
  ['PMI_SIZE', 'an MPICH (Hydra) or Slurm PMI launcher'],
  ['MPI_LOCALNRANKS', "MPICH's mpiexec (Hydra)"],
  ['SLURM_STEP_NUM_TASKS', "Slurm's srun"],
];

// srun wires tasks to MPI through a plugin (--mpi=pmix for Open MPI, pmi2 for MPICH); without one, Open
// MPI's MPI_Init aborts saying it "was not built with SLURM's PMI support" and MPICH runs N singletons.
const WIRED_VARS = ['PMIX_RANK', 'PMI_RANK', 'PMI_FD', 'OMPI_COMM_WORLD_SIZE', 'MPI_LOCALNRANKS'];

function srunTasks(): number {
  const n = Number(process.env.SLURM_STEP_NUM_TASKS);
  return Number.isInteger(n) && n > 1 ? n : 0;
}

function srunAdvice(n: number): string {
  const plugin = C.IMPLEMENTATION === 'mpich' ? 'pmi2' : 'pmix';
  return `srun started this process as one of ${n} tasks (SLURM_STEP_NUM_TASKS=${n}) without an MPI plugin ` +
    `the addon's MPI (${C.IMPLEMENTATION === 'mpich' ? 'MPICH' : C.IMPLEMENTATION === 'openmpi' ? 'Open MPI' : 'unknown'}) ` +
    `understands, so it would see a world of 1 rank: run srun --mpi=${plugin} (srun --mpi=list shows the ` +
    `plugins; MpiDefault=${plugin} in slurm.conf makes it the default)`;
}

function checkSrun(): void {
  const n = srunTasks();
  if (n > 0 && !WIRED_VARS.some((v) => process.env[v] !== undefined)) throw new LaunchError(srunAdvice(n));
}

function checkLauncher(): void {
  if (native.commSize(C.WORLD) !== 1) return;
  if (srunTasks() > 0 && process.env.OMPI_COMM_WORLD_SIZE === undefined && process.env.MPI_LOCALNRANKS === undefined) {
    throw new LaunchError(srunAdvice(srunTasks()));
  }
  for (const [name, who] of LAUNCH_VARS) {
    const n = Number(process.env[name]);
    if (Number.isInteger(n) && n > 1) {
      const lib = native.libraryVersion().split('\n')[0];
      const launcher = C.IMPLEMENTATION === 'openmpi' ? 'mpirun.openmpi (Open MPI)' : C.IMPLEMENTATION === 'mpich' ? 'mpirun.mpich (MPICH)' : "your MPI's mpirun";
      throw new LaunchError(
        `this process was started as one of ${n} ranks by ${who} (${name}=${n}), but the MPI the addon ` +
          `uses (${lib}) sees a world of 1 rank: the launcher belongs to a different MPI. Start the job with ` +
          `${launcher}, or rebuild the addon against the launcher's MPI: MPI_HOME=/path/to/that/mpi npm rebuild mpi4node.`,
      );
    }
  }
}
