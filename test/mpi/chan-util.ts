// Helpers shared by the channel and graph suites: an event-loop-friendly barrier (serve loops must keep
// running while a rank waits for the others), forged messages on a channel's tags, typed-error capture.
import * as assert from 'uvu/assert';
import { native } from '../../lib/addon/binding.js';
import type { Channel, Comm } from '../../lib/index.js';

export { thrown } from '../thrown.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A dissemination barrier from Promise point-to-point calls on `comm` (a dup reserved for it). */
export async function asyncBarrier(comm: Comm, tag = 777): Promise<void> {
  const n = comm.size, r = comm.rank;
  for (let d = 1; d < n; d <<= 1) {
    const inp = comm.irecv(new Uint8Array(1), (r - d + n) % n, tag);
    await comm.isend(new Uint8Array(1), (r + d) % n, tag);
    await inp;
  }
}

/**
 * A send to `dest` that may be this rank's own receive. MPI lets a blocking send wait until its receive
 * is posted in MPI, and MPICH's does even to oneself (a channel receive waits with a probe, not a posted
 * receive): to oneself it is a Promise send, with another rank the blocking send under test.
 */
export function ringSend(ch: Channel, dest: number, message: unknown): void {
  if (dest !== ch.comm.rank) ch.send(dest, message);
  else void ch.isend(dest, message);
}

/** Sends `bytes` as they are on a lane of `ch` (0 data, 1 request, 2 reply): how tests forge messages. */
export function sendRaw(ch: Channel, dest: number, bytes: Uint8Array, lane = 0): void {
  // To oneself without blocking, as ringSend; the engine completes the send when the message is taken.
  native.send(bytes, dest, ch.tag + lane, ch.comm._handle(true), false, dest === ch.comm.rank);
}

/** The error `p` rejects with, or fails the test. */
export async function rejects(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.unreachable('expected a rejection');
}
