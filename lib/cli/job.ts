// A launched job's life as a process tree: how the launcher (mpirun, mpiexec) is stopped, and how
// nothing of the job outlives the `mpi4node` command that started it.
//
// - Every SIGINT, SIGTERM and SIGHUP the command gets is passed to the launcher, which ends its ranks
//   (the launcher runs in a session of its own, so a terminal's Ctrl-C reaches it once, through us).
// - A launcher that does not end within KILL_AFTER_MS (Open MPI with a host lost: "Abort is in
//   progress...hit ctrl-c again"), or a second signal a moment later, gets SIGKILL, with every process
//   left in its session (its ranks, each in a process group of its own).
// - npm exec (npx) does not pass SIGTERM or SIGHUP on to us: it dies (or leaves its `sh -c` behind)
//   and we would be orphaned with the job running. So under npm the command watches the processes
//   between itself and npm, and ends the job as for SIGTERM when one of them is gone.
import { readdirSync, readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';

/** How long a launcher may take to end its job after the first signal. */
export const KILL_AFTER_MS = 5000;
// A second signal within this much of the first is the same event seen twice (a terminal's Ctrl-C
// reaches both npm and us, and npm may pass it on).
const SAME_SIGNAL_MS = 1000;

/** SIGKILLs every process in the session led by `sid` (the launcher and all its descendants). */
export function killSession(sid: number): void {
  try {
    process.kill(-sid, 'SIGKILL');
  } catch {
    // already gone
  }
  if (process.platform !== 'linux') return;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const st = procStat(Number(pid));
    if (st?.session === sid) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // exited while we looked
      }
    }
  }
}

interface ProcStat {
  state: string;
  ppid: number;
  session: number;
  start: string;
}

function procStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    // priority nice threads itrealvalue starttime
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: f[0]!, ppid: Number(f[1]), session: Number(f[3]), start: f[19]! };
  } catch {
    return undefined;
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/**
 * The processes from our parent up to the npm that started us (npm exec, npx, npm run), when npm did:
 * their pids and start times. Empty when npm is not among our ancestors, or off Linux.
 */
export function npmAncestors(): { pid: number; start: string }[] {
  if (process.platform !== 'linux' || process.env.npm_command === undefined) return [];
  const chain: { pid: number; start: string }[] = [];
  for (let pid = process.ppid; pid > 1 && chain.length < 8; ) {
    const st = procStat(pid);
    if (st === undefined) return [];
    chain.push({ pid, start: st.start });
    if (/(^|\/)(npm|npx)(-cli\.js)?( |$)|npm-cli\.js|npx-cli\.js/.test(commandLine(pid))) return chain;
    pid = st.ppid;
  }
  return [];
}

function gone(p: { pid: number; start: string }): boolean {
  const st = procStat(p.pid);
  return st === undefined || st.state === 'Z' || st.start !== p.start;
}

/**
 * Ties `child` (a launcher started in a session of its own) to this process: signals end it, escalating
 * to SIGKILL of its whole session; under npm, so does npm going away. Returns a function that undoes
 * the ties, for when the child has exited; it also kills whatever the child left in its session if
 * the job was being ended.
 */
export function superviseJob(child: ChildProcess, log: (line: string) => void): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  let firstAt = -1;
  let killer: ReturnType<typeof setTimeout> | undefined;
  const killAll = (why: string) => {
    if (child.pid === undefined) return;
    log(`${why}: killing the job (SIGKILL to ${child.spawnfile} and every process of its session)`);
    killSession(child.pid);
  };
  const end = (signal: NodeJS.Signals, fromSignal: boolean) => {
    const now = performance.now();
    if (firstAt < 0) {
      firstAt = now;
      try {
        child.kill(signal);
      } catch {
        // gone already
      }
      killer = setTimeout(() => killAll(`the job did not end within ${KILL_AFTER_MS / 1000} s of ${signal}`), KILL_AFTER_MS);
      killer.unref();
    } else if (fromSignal && now - firstAt > SAME_SIGNAL_MS) {
      killAll(`${signal} again`);
    }
  };
  const onSignal = (s: NodeJS.Signals) => end(s, true);
  for (const s of signals) process.on(s, onSignal);
  const ancestors = npmAncestors();
  const watch = ancestors.length === 0 ? undefined : setInterval(() => {
    if (ancestors.some(gone)) end('SIGTERM', false);
  }, 250);
  watch?.unref();
  return () => {
    for (const s of signals) process.off(s, onSignal);
    if (watch !== undefined) clearInterval(watch);
    if (killer !== undefined) clearTimeout(killer);
    // Ended on request: nothing of the job may stay behind (ranks the launcher did not reap).
    if (firstAt >= 0 && child.pid !== undefined) killSession(child.pid);
  };
}
