// How a process that uses MPI ends.
//
// Exit. MPI_Finalize waits for every operation still in flight, and an operation can be stuck for good
// at exit: Open MPI cannot cancel a send whose receiver never posts the receive (the rendezvous protocol; the
// reproduction is test/unit/exit.test.ts), so a process that called process.exit(0) with such a send would hang, and with it
// the job. So at a clean exit receives are cancelled, sends are cancelled where MPI can and otherwise get
// EXIT_GRACE_MS to complete, and if anything is still in flight then, MPI_Finalize is skipped with one
// line saying what, and the process exits with status 1: its launcher then ends the job (ranks waiting
// in MPI_Finalize for this one included) and reports it failed, under Open MPI and MPICH alike (MPICH's
// reports success for a rank that exits 0 without finalizing; README, "Exit").
//
// Keep-alive. A pending request keeps the event loop alive, as an open socket does: an awaited receive
// must not let the process end. When nothing else keeps the loop alive for IDLE_WARNING_S, one line says
// what the process is waiting on, so a listener nobody closed is not a silent hang; `unref()` on a
// request or server lets the process exit while it waits.
import { C, native } from '../addon/binding.js';
import type { Prequest } from './prequest.js';
import { pendingRequests, type Request } from './request.js';

function envSeconds(name: string, fallback: number): number {
  const v = process.env[name];
  const n = v === undefined || v.trim() === '' ? NaN : Number(v);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

/** How long a clean exit waits for sends it could not cancel (MPI4NODE_EXIT_GRACE_MS, default 1000). */
const EXIT_GRACE_MS = envSeconds('MPI4NODE_EXIT_GRACE_MS', 1000);
/** After how long with only MPI keeping the process alive it says so (MPI4NODE_IDLE_WARNING_S, default 30; 0: never). */
const IDLE_WARNING_S = envSeconds('MPI4NODE_IDLE_WARNING_S', 30);

// MPI objects that must be released before MPI_Finalize (windows, files): finalizing with one still open
// is erroneous, and MPICH's UCX layer aborts the process on the window memory it still has registered.
// Both are made collectively, so every rank holds the same ones in the same order and releases them in
// that order at exit (their release is collective too).
interface Releasable {
  /** Releases the MPI object (collective), whatever state it is in. */
  _releaseAtExit(): void;
}
const open = new Set<Releasable>();

/** `o` holds an MPI object to release before MPI_Finalize, unless `released(o)` says it was. */
export function heldUntilFinalize(o: Releasable): void {
  open.add(o);
}
export function released(o: Releasable): void {
  open.delete(o);
}
/** Releases every object still held, in the order they were made. */
export function releaseAll(): void {
  for (const o of [...open]) {
    open.delete(o);
    try {
      o._releaseAtExit();
    } catch {
      // already unusable: MPI_Finalize is still the better end
    }
  }
}

function who(): string {
  try {
    return `rank ${native.commRank(C.WORLD)}`;
  } catch {
    return 'rank ?';
  }
}

/** Cancels what MPI can cancel and tests the rest until `graceMs` has passed; what is still pending. */
function drain(requests: Request<any>[], graceMs: number): Request<any>[] {
  for (const r of requests) {
    try {
      r.cancel();
    } catch {
      // a collective: it cannot be cancelled, only completed
    }
  }
  const deadline = performance.now() + graceMs;
  let left = requests;
  for (;;) {
    left = left.filter((r) => {
      try {
        return !r.test();
      } catch {
        return false;
      }
    });
    if (left.length === 0 || performance.now() >= deadline) return left;
  }
}

/** The 'exit' handler of the thread that initialised MPI. */
export function finalizeAtExit(code: number): void {
  stopWatching();
  if (!native.initialized() || native.finalized()) return;
  // A failing process must not finalize: MPI_Finalize synchronises with ranks that may be waiting on
  // this one, so it would hang instead of letting the launcher see the non-zero exit and end the job.
  if (code !== 0) return;
  const requests = pendingRequests();
  // The persistent requests of startAll batches, taken before the batches complete (they forget them then).
  const members = requests.flatMap((r) => r._members as readonly Prequest[]);
  const left = drain(requests, EXIT_GRACE_MS);
  const lost: { _describe(): string }[] = requests.filter((r) => r._sending && r.value?.cancelled === true);
  lost.push(...members.filter((p) => p._sending && p.cancelled));
  const where = who();
  if (lost.length > 0) {
    process.stderr.write(`mpi4node: ${where}: at exit, cancelled ${lost.length} send(s) never received: ${lost.map((r) => r._describe()).join('; ')}\n`);
  }
  const elsewhere = native.pending() - left.length; // requests of worker threads
  if (left.length === 0 && elsewhere <= 0) {
    releaseAll();
    native.finalize();
    return;
  }
  native.skipFinalize();
  process.exitCode = 1;
  const what = left.map((r) => r._describe());
  if (elsewhere > 0) what.push(`${elsewhere} request(s) of worker threads`);
  process.stderr.write(
    `mpi4node: ${where}: exiting without MPI_Finalize, which would wait for ever for ${what.length === 1 ? 'an operation' : `${what.length} operations`} ` +
      `still in flight after ${EXIT_GRACE_MS} ms: ${what.join('; ')}; exit status 1\n`,
  );
}

let watch: ReturnType<typeof setInterval> | undefined;
let told = false;

/** Starts watching for a process kept alive by MPI requests alone (once per environment). */
export function watchKeepAlive(): void {
  if (watch !== undefined || IDLE_WARNING_S === 0) return;
  watch = setInterval(checkKeepAlive, Math.min(1000, (IDLE_WARNING_S * 1000) / 2));
  watch.unref();
}

function stopWatching(): void {
  if (watch !== undefined) clearInterval(watch);
  watch = undefined;
}

// The engine's poller measures it (native/progress/poller.h): from here, inside a timer callback, the
// loop would look idle even with other timers pending.
function checkKeepAlive(): void {
  if (native.finalized()) return stopWatching();
  const ms = native.keptAliveByMpiMs();
  if (ms === 0) told = false;
  if (told || ms < IDLE_WARNING_S * 1000) return;
  const waiting = pendingRequests().filter((r) => r._refed);
  if (waiting.length === 0) return;
  told = true;
  process.stderr.write(
    `mpi4node: ${who()}: for ${Math.round(ms / 100) / 10} s nothing but MPI has kept this process alive, waiting on ` +
      `${waiting.length === 1 ? 'an operation' : `${waiting.length} operations`}: ${waiting.map((r) => r._describe()).join('; ')}. ` +
      'It waits until they complete; if no peer will complete them, cancel them or close their server, or ' +
      'unref() the ones that should not keep the process alive.\n',
  );
}
