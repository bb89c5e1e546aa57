// The window of the osu_bw and osu_mbw_mr methods through mpi4node, in each mode: 64 messages posted to
// or from one peer, all completed, then a 4-byte ack from the receiver. blocking: isend/irecv + waitAll
// (MPI_Waitall over every request in one call) and blocking send/recv for the ack; promise: isend/irecv
// + iwaitAll (one Promise for the window) and Promise ack; persistent: 64 persistent requests made once
// per size, startAll(...).wait() (MPI_Startall + MPI_Waitall) and blocking ack.
import { iwaitAll, startAll, waitAll, world, type Prequest, type Request, type Status } from '../../lib/index.js';
import { buffer, itersFor, settle, settleIters, sync, timeRounds, type BenchSpec, type Options } from './common.js';
import type { Mode } from './common.js';

export const WINDOW = 64;

/** Runs warmup + iters windows and returns the seconds the timed ones took; `ready` runs before timing. */
export type Window = (iters: number, warmup: number, ready?: () => void) => Promise<number>;

export function windowOf(mode: Mode, sender: boolean, peer: number, s: Uint8Array, r: Uint8Array, ackS: Uint8Array,
  ackR: Uint8Array, now: () => number): { run: Window; close(): void } {
  const reqs: Request<Status>[] = new Array(WINDOW);
  let persistent: Prequest[] = [];
  if (mode === 'persistent') {
    persistent = Array.from({ length: WINDOW }, () => (sender ? world.sendInit(s, peer, 100) : world.recvInit(r, peer, 100)));
  }
  const rounds = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      if (mode === 'persistent') {
        startAll(persistent).wait();
      } else {
        for (let j = 0; j < WINDOW; j++) reqs[j] = sender ? world.isend(s, peer, 100) : world.irecv(r, peer, 100);
        if (mode === 'blocking') waitAll(reqs);
        else await iwaitAll(reqs);
      }
      if (mode === 'promise') await (sender ? world.irecv(ackR, peer, 101) : world.isend(ackS, peer, 101));
      else if (sender) world.recv(ackR, peer, 101);
      else world.send(ackS, peer, 101);
    }
  };
  const run: Window = (iters, warmup, ready) => timeRounds(rounds, iters, warmup, ready, now);
  return { run, close: () => persistent.forEach((p) => p.free()) };
}

/**
 * The windowed benchmarks' shared loop (osu_bw, osu_mbw_mr): buffers, a settling warm-up, then per size a
 * fresh window of `o.mode` timed by `time(window, iters, warmup)`, whose result goes to `report`.
 */
export async function eachSize(o: Options, spec: BenchSpec, sender: boolean, peer: number, now: () => number,
  time: (w: { run: Window }, iters: number, warmup: number) => Promise<number>,
  report: (size: number, iters: number, warmup: number, elapsed: number) => void): Promise<void> {
  const max = Math.max(4, ...o.sizes);
  const sbuf = buffer(max), rbuf = buffer(max);
  const ackS = sbuf.subarray(0, 4), ackR = rbuf.subarray(0, 4);
  const windowFor = (s: Uint8Array, r: Uint8Array) => windowOf(o.mode, sender, peer, s, r, ackS, ackR, now);
  const first = Math.min(...o.sizes);
  const warm = windowFor(sbuf.subarray(0, first), rbuf.subarray(0, first));
  await settle(world, () => warm.run(1, settleIters(spec, o)));
  warm.close();
  for (const size of o.sizes) {
    const { iters, warmup } = itersFor(spec, o, size);
    const w = windowFor(sbuf.subarray(0, size).fill(97), rbuf.subarray(0, size).fill(98));
    sync(world);
    const elapsed = await time(w, iters, warmup);
    w.close();
    report(size, iters, warmup, elapsed);
  }
}
