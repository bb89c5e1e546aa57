// Test hosts on this machine: each a network namespace (and a UTS namespace, for a host name of its
// own) with one interface on a private switch namespace. Addresses exist only inside the namespaces:
// there is no default route and no address outside them, so nothing a job sends can leave the switch.
// The ssh stand-in `agent` runs a command "on" a host (ip netns exec), as mpirun's rsh agent or hydra's
// launcher-exec. Everything is removed by teardown(), also on exit and on SIGINT/SIGTERM.
// An impaired cluster's switch is test/fixtures/lossy-switch.c instead of a bridge: one TAP per host,
// each frame delayed and some dropped (this kernel has no sch_netem, the machine no iptables).
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Host {
  name: string; // its host name and the name mpirun is given (resolved through /etc/hosts? no: see addr)
  ns: string;
  addr: string;
  /** The switch port it hangs on (in the switch namespace). */
  port: string;
}

export interface Cluster {
  hosts: Host[];
  /** The ssh stand-in: `agent HOST COMMAND...` runs COMMAND through sh on HOST. */
  agent: string;
  /** A scratch directory, removed by teardown(). */
  dir: string;
  /** argv prefix that runs a command on `host` (the first one is where mpirun runs). */
  on(host: Host): string[];
  /** Takes a host off the switch (its link down), as a host lost for good. */
  cut(host: Host): void;
  /** Puts it back (the end of an outage). */
  mend(host: Host): void;
  /** An impaired cluster's switch counters (test/fixtures/lossy-switch.c), read now. */
  switchStats?(): SwitchStats;
  teardown(): void;
}

/** Every frame held `delayMs` (each way) and a fraction `loss` dropped, by a PRNG seeded with `seed`. */
export interface Impairment {
  delayMs: number;
  loss: number;
  seed: number;
}

/** Frames: received from the hosts, dropped on purpose, forwarded after the delay; held: how long. */
export interface SwitchStats {
  received: number;
  dropped: number;
  forwarded: number;
  overflow: number;
  min_held_us: number;
  max_held_us: number;
  [counter: string]: number;
}

const SUBNET = '10.213.77';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Why test hosts cannot be made here, or undefined when they can. */
export function netnsProblem(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'needs root (ip netns)';
  const probe = `m4nprobe${process.pid}`;
  try {
    ip('netns', 'add', probe);
    ip('netns', 'del', probe);
    execFileSync('unshare', ['--uts', 'true'], { stdio: 'ignore' });
  } catch (err) {
    return `cannot create network/UTS namespaces: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  }
  return undefined;
}

/** Why an impaired switch cannot be made here (beyond netnsProblem), or undefined when it can. */
export function impairmentProblem(): string | undefined {
  if (!existsSync('/dev/net/tun')) return 'needs /dev/net/tun';
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'needs a C compiler (cc) for test/fixtures/lossy-switch.c';
  }
  return undefined;
}

const sleepMs = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
let made = 0;

/** Creates `n` hosts h1..hn on one switch: a bridge, or the lossy switch when `impair` is given. */
export function createCluster(n = 3, impair?: Impairment): Cluster {
  const tag = `m4n${process.pid}${made++ ? `c${made}` : ''}`;
  const sw = `${tag}sw`;
  const hosts: Host[] = Array.from({ length: n }, (_, i) => ({ name: `${tag}h${i + 1}`, ns: `${tag}h${i + 1}`, addr: `${SUBNET}.${i + 1}`, port: `p${i + 1}` }));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'm4n-hosts-'));
  const statsFile = path.join(dir, 'switch-stats');
  let switchPid: number | undefined;
  let down = false;
  const teardown = () => {
    if (down) return;
    down = true;
    // (it holds the TAPs, and with them the host namespaces)
    try {
      if (switchPid !== undefined) process.kill(switchPid, 'SIGKILL');
    } catch {
      // gone
    }
    for (const ns of [sw, ...hosts.map((h) => h.ns)]) {
      // what a test left running on a host (a lost host's daemon and ranks)
      try {
        for (const pid of execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(/\s+/).filter(Boolean)) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // gone
          }
        }
      } catch {
        // not made
      }
      try {
        ip('netns', 'del', ns);
      } catch {
        // not made
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', teardown);
  for (const s of ['SIGINT', 'SIGTERM'] as const) {
    process.once(s, () => {
      teardown();
      process.exit(130);
    });
  }
  try {
    ip('netns', 'add', sw);
    if (impair) {
      const bin = path.join(dir, 'lossy-switch');
      execFileSync('cc', ['-O1', '-o', bin, fileURLToPath(new URL('../fixtures/lossy-switch.c', import.meta.url))], { stdio: 'pipe' });
      // It creates the TAPs in the switch namespace and stays there; each goes to its host below.
      const { delayMs, loss, seed } = impair;
      switchPid = Number(execFileSync('ip', ['netns', 'exec', sw, bin, String(delayMs), String(loss), String(seed), statsFile, ...hosts.map((h) => h.port)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
    } else {
      ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
      ip('-n', sw, 'link', 'set', 'br0', 'up');
    }
    for (const h of hosts) {
      ip('netns', 'add', h.ns);
      if (impair) {
        ip('-n', sw, 'link', 'set', h.port, 'netns', h.ns);
        ip('-n', h.ns, 'link', 'set', h.port, 'name', 'eth0');
      } else {
        ip('-n', sw, 'link', 'add', h.port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns);
        ip('-n', sw, 'link', 'set', h.port, 'master', 'br0', 'up');
      }
      ip('-n', h.ns, 'addr', 'add', `${h.addr}/24`, 'dev', 'eth0');
      ip('-n', h.ns, 'link', 'set', 'eth0', 'up');
      ip('-n', h.ns, 'link', 'set', 'lo', 'up');
    }
  } catch (err) {
    teardown();
    throw err;
  }
  // ssh HOST CMD...: ssh joins the words and the remote shell runs them; so does this.
  const agent = path.join(dir, 'agent');
  const cases = hosts.map((h) => `  ${h.addr}|${h.name}) ns=${h.ns}; name=${h.name} ;;`).join('\n');
  writeFileSync(agent, `#!/bin/sh
while [ "\${1#-}" != "$1" ]; do shift; done  # ssh options (hydra passes -x)
host=$1; shift
case "$host" in
${cases}
  *) echo "test agent: no test host '$host'" >&2; exit 255 ;;
esac
# A host sees the files of this machine, not the mounts of the process that asks (a tmpfs mounted by
# the launcher's host stays there, as it would on a real host).
exec nsenter --mount=/proc/${process.pid}/ns/mnt ip netns exec "$ns" unshare --uts sh -c 'hostname "$0"; exec sh -c "$1"' "$name" "$*"
`);
  chmodSync(agent, 0o755);
  return {
    hosts,
    agent,
    dir,
    on: (h) => ['ip', 'netns', 'exec', h.ns, 'unshare', '--uts', 'sh', '-c', 'hostname "$0"; exec "$@"', h.name],
    cut: (h) => (impair ? ip('-n', h.ns, 'link', 'set', 'eth0', 'down') : ip('-n', sw, 'link', 'set', h.port, 'down')),
    mend: (h) => (impair ? ip('-n', h.ns, 'link', 'set', 'eth0', 'up') : ip('-n', sw, 'link', 'set', h.port, 'up')),
    switchStats: impair ? () => {
      rmSync(statsFile, { force: true });
      process.kill(switchPid!, 'SIGUSR1');
      for (let i = 0; i < 200 && !existsSync(statsFile); i++) sleepMs(10);
      return Object.fromEntries(readFileSync(statsFile, 'utf8').trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)])) as SwitchStats;
    } : undefined,
    teardown,
  };
}
