// Waiting for an idle machine. Two busy-polling ranks fill a 2-core machine: anything else that runs
// (a build, another job) takes a core from a rank for a scheduler slice, and a ~1 us ping-pong then
// averages in milliseconds. Ratios from the same repetition cancel slow drift, not that; so with
// --wait-idle each repetition starts only once the CPUs have been idle for a few seconds.
import { readFileSync } from 'node:fs';

function cpuTimes(): { busy: number; total: number } | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3]! + (f[4] ?? 0); // idle + iowait
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** Percentage of all CPUs busy over the next `ms` milliseconds; undefined where /proc/stat is missing. */
export async function busyPercent(ms: number): Promise<number | undefined> {
  const a = cpuTimes();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuTimes();
  if (!a || !b || b.total === a.total) return undefined;
  return (100 * (b.busy - a.busy)) / (b.total - a.total);
}

/**
 * Resolves once the CPUs have been at most `maxBusy` percent busy for `windowMs`, or after `timeoutMs`
 * (then with idle false). Returns how long it waited and the busy percentage last seen.
 */
export async function waitIdle(maxBusy = 8, windowMs = 3000, timeoutMs = 600_000): Promise<{ idle: boolean; waitedS: number; busy: number }> {
  const t0 = performance.now();
  for (;;) {
    const busy = await busyPercent(windowMs);
    if (busy === undefined || busy <= maxBusy) return { idle: true, waitedS: (performance.now() - t0) / 1000, busy: busy ?? 0 };
    if (performance.now() - t0 > timeoutMs) return { idle: false, waitedS: (performance.now() - t0) / 1000, busy };
  }
}
