// A one-node Slurm for tests: munged, slurmctld and slurmd from Debian's packages (slurm-wlm, munge),
// each with its own key, socket, ports, state and logs in a temporary directory (nothing under /etc
// is used), started as root. stop() ends them and whatever steps they left.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

export interface Slurm {
  /** The environment srun, sinfo and friends need (SLURM_CONF). */
  env: NodeJS.ProcessEnv;
  stop(): void;
}

const PROGRAMS = ['munged', 'slurmctld', 'slurmd', 'srun', 'sinfo'];

function onPath(name: string): boolean {
  return [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin'].some((d) => d && existsSync(path.join(d, name)));
}

/** Why a test Slurm cannot run here, or undefined. */
export function slurmProblem(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (slurmd runs tasks as their user)';
  const missing = PROGRAMS.filter((p) => !onPath(p));
  if (missing.length > 0) return `needs Debian's slurm-wlm and munge (apt-get install slurm-wlm munge): ${missing.join(', ')} not found`;
  return undefined;
}

export async function startSlurm(cpus = 2): Promise<Slurm> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'm4n-slurm-'));
  for (const d of ['state', 'spool', 'log']) mkdirSync(path.join(dir, d));
  const key = path.join(dir, 'munge.key');
  writeFileSync(key, randomBytes(1024));
  chmodSync(key, 0o600);
  const host = os.hostname();
  // Ports of their own, so that several test Slurms (other worktrees) do not meet.
  const port = 20000 + ((process.pid * 7) % 20000);
  const sbin = (p: string) => (existsSync(`/usr/sbin/${p}`) ? `/usr/sbin/${p}` : p);
  writeFileSync(path.join(dir, 'slurm.conf'), `ClusterName=m4n
SlurmctldHost=${host}(127.0.0.1)
SlurmctldPort=${port}
SlurmdPort=${port + 1}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=${dir}/munge.sock
CredType=cred/munge
StateSaveLocation=${dir}/state
SlurmdSpoolDir=${dir}/spool
SlurmctldPidFile=${dir}/slurmctld.pid
SlurmdPidFile=${dir}/slurmd.pid
SlurmctldLogFile=${dir}/log/slurmctld.log
SlurmdLogFile=${dir}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} State=UNKNOWN
PartitionName=m4n Nodes=${host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
`);
  const env = { ...process.env, SLURM_CONF: path.join(dir, 'slurm.conf') };
  const stop = () => {
    spawnSync('scancel', ['--full', '-u', 'root'], { env, stdio: 'ignore', timeout: 10_000 });
    const pids: number[] = [];
    for (const name of ['slurmd', 'slurmctld', 'munged']) {
      try {
        const pid = Number(readFileSync(path.join(dir, `${name}.pid`), 'utf8'));
        process.kill(pid, 'SIGTERM');
        pids.push(pid);
      } catch {
        // not started
      }
    }
    // They write their state as they go: remove the directory once they have.
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 100 && pids.some(alive); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  };
  try {
    execFileSync(sbin('munged'), ['--force', `--socket=${dir}/munge.sock`, `--key-file=${key}`, `--pid-file=${dir}/munged.pid`,
      `--log-file=${dir}/log/munged.log`, `--seed-file=${dir}/munge.seed`], { stdio: 'pipe' });
    execFileSync(sbin('slurmctld'), ['-i'], { env, stdio: 'pipe' });
    execFileSync(sbin('slurmd'), [], { env, stdio: 'pipe' });
    for (let i = 0; ; i++) {
      const state = spawnSync('sinfo', ['-h', '-o', '%T'], { env, encoding: 'utf8' }).stdout.trim();
      if (state === 'idle') break;
      if (i > 300) throw new Error(`the test Slurm did not come up (node state '${state}'): ${readFileSync(path.join(dir, 'log', 'slurmctld.log'), 'utf8').slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    stop();
    throw err;
  }
  process.once('exit', stop);
  return { env, stop };
}
