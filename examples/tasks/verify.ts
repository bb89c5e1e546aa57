// The task of examples/verify-pool.ts: is the claim "a * b = c" right? Runs on whichever rank the pool
// picks. (A task lives in a module of its own: a worker importing the running program's module would
// wait for that module's top-level await, which waits for the pool.)
import { world } from '../../lib/index.js';

export function verify(claim: { a: number; b: number; c: number }): { ok: boolean; rank: number; pid: number } {
  return { ok: claim.a * claim.b === claim.c, rank: world.rank, pid: process.pid };
}
