// Runs one benchmark job (an mpirun) and collects the JSON lines its rank 0 prints. A job that fails or
// runs past its time limit is reported with the tail of its output; the caller decides what that means.
import { spawn } from 'node:child_process';

export interface Command {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

export interface JobResult {
  lines: Record<string, unknown>[];
  seconds: number;
  /** Why the job failed (exit status, signal, time-out), or undefined. */
  error?: string;
  stderr: string;
}

const TAIL = 4000;

// Jobs run in process groups of their own (so a time-out can end mpirun and all its ranks); the same
// must happen when this process is interrupted, or the ranks would run on without us.
const running = new Set<number>();
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    for (const pid of running) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {}
    }
    process.exit(130);
  });
}

export function runJob(cmd: Command, timeoutS: number): Promise<JobResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd.command, cmd.args, { env: cmd.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    if (child.pid) running.add(child.pid);
    let stdout = '', stderr = '', timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-TAIL);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {}
    }, timeoutS * 1000);
    const finish = (error?: string) => {
      clearTimeout(timer);
      running.delete(child.pid!);
      resolve({ lines: parseLines(stdout), seconds: (performance.now() - t0) / 1000, error, stderr });
    };
    child.on('error', (e) => finish(`could not start ${cmd.command}: ${e.message}`));
    child.on('close', (code, signal) => {
      if (timedOut) finish(`timed out after ${timeoutS}s`);
      else if (code !== 0) finish(`exit ${code ?? signal}`);
      else finish();
    });
  });
}

/** The JSON objects among the output lines; anything else a rank printed is ignored. */
export function parseLines(out: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of out.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const v = JSON.parse(t) as unknown;
      if (v !== null && typeof v === 'object' && 'bench' in v) lines.push(v as Record<string, unknown>);
    } catch {}
  }
  return lines;
}
