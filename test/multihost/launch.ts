// Starting jobs on the test hosts of test/multihost/hosts.ts with `mpi4node run`, for
// test/unit/multihost.test.ts and test/multihost/lost-host.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { detectMpi, tsxImport } from '../../lib/cli/launcher.js';
import { killSession } from '../../lib/cli/job.js';
import type { Cluster } from './hosts.js';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const job = fileURLToPath(new URL('./job.ts', import.meta.url));
export const cliTs = fileURLToPath(new URL('../../lib/cli/cli.ts', import.meta.url));
export const mpi = detectMpi();
// A bound on a hang (no timing is asserted): the measured times are printed, docs/multihost.md has them.
export const HANG_MS = 120_000;
// MPICH busy-polls: its ranks, all on this machine's cores in the end, are never more than the cores.
export const N = mpi.flavour === 'mpich' ? 2 : 3;


// How mpirun reaches a test host: Open MPI's rsh agent, hydra's launcher-exec. MPICH's UCX sees that the
// test hosts are one machine and would use shared memory between them (76 frames on the switch for the
// compute job's 1 MiB ring): UCX_TLS=tcp sends its messages over the hosts' network, as between machines.
export function launchArgs(c: Cluster, hosts: string[]): { args: string[]; env: Record<string, string> } {
  if (mpi.flavour === 'mpich') return { args: ['-launcher', 'ssh', '-launcher-exec', c.agent, '-hosts', hosts.join(',')], env: { UCX_TLS: 'tcp' } };
  return { args: ['--host', hosts.join(',')], env: { OMPI_MCA_plm_rsh_agent: c.agent } };
}

/** `mpi4node run` on the first test host; its argv before the script. */
export function cliOnHost(c: Cluster, runArgs: string[], scriptArgs: string[], hosts = c.hosts.slice(0, N).map((h) => h.addr)): { cmd: string[]; env: NodeJS.ProcessEnv } {
  const l = launchArgs(c, hosts);
  const cmd = [...c.on(c.hosts[0]!), process.execPath, '--import', tsxImport(), cliTs, 'run', '-n', String(hosts.length), ...l.args, '--iface', 'eth0', ...runArgs, job, ...scriptArgs];
  return { cmd, env: { ...process.env, ...l.env, MPI4NODE_IDLE_WARNING_S: '0' } };
}

export function results(out: string): string[] {
  return [...out.matchAll(/^result (.*)$/gm)].map((m) => m[1]!).sort();
}

export interface Started {
  child: ChildProcess;
  out: () => string;
  exit: Promise<{ code: number | null; signal: string | null; at: number }>;
}

/** Starts `cmd` in a session of its own, killed as a whole after `limitMs`. */
export function start(cmd: string[], env: NodeJS.ProcessEnv, limitMs = HANG_MS): Started {
  const child = spawn(cmd[0]!, cmd.slice(1), { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  const exit = new Promise<{ code: number | null; signal: string | null; at: number }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, at: performance.now() }));
  });
  const guard = setTimeout(() => child.pid && killSession(child.pid), limitMs);
  void exit.then(() => clearTimeout(guard));
  return { child, out: () => text, exit };
}

/** Waits for the `loop` job's n ranks to say they run; their pids by host name. */
export async function ready(s: Started, n: number): Promise<Map<string, number>> {
  const t0 = performance.now();
  for (;;) {
    const seen = [...s.out().matchAll(/^ready rank \d+ pid (\d+) host (\S+)$/gm)];
    if (seen.length === n) return new Map(seen.map((m) => [m[2]!, Number(m[1])]));
    if (s.child.exitCode !== null || performance.now() - t0 > HANG_MS) throw new Error(`the job did not start:\n${s.out()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

