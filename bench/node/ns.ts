// Nanoseconds per operation for the per-call tools (percall.ts, request-shapes.ts): `f(n)` runs n
// operations; it is warmed up in `chunks` calls first (V8 then optimises the function itself, not only
// its loop), then timed 7 times, and the median of the 7 divided by n * per is returned.

function median7(t: number[]): number {
  t.sort((a, b) => a - b);
  return Number(t[3]!.toFixed(1));
}

/**
 * Synchronous loops are timed without an await between rounds: a microtask checkpoint per round would
 * let the library's post-spin and V8's tasks run inside the measurement (measured: +70-100 ns a call).
 */
export function nsPer(f: (n: number) => void, n: number, per = 1, chunks = 50): number {
  for (let k = 0; k < chunks; k++) f(Math.ceil(n / chunks));
  const t: number[] = [];
  for (let rep = 0; rep < 7; rep++) {
    const t0 = process.hrtime.bigint();
    f(n);
    t.push(Number(process.hrtime.bigint() - t0) / n / per);
  }
  return median7(t);
}

/** The warm-up of nsPerAsync: n operations in `chunks` calls, each awaited. */
export async function warmUp(f: (n: number) => void | Promise<void>, n: number, chunks = 50): Promise<void> {
  for (let k = 0; k < chunks; k++) await f(Math.ceil(n / chunks));
}

export async function nsPerAsync(f: (n: number) => void | Promise<void>, n: number, per = 1, chunks = 50): Promise<number> {
  await warmUp(f, n, chunks);
  const t: number[] = [];
  for (let rep = 0; rep < 7; rep++) {
    const t0 = process.hrtime.bigint();
    await f(n);
    t.push(Number(process.hrtime.bigint() - t0) / n / per);
  }
  return median7(t);
}
