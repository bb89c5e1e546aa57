// Test hosts on this machine: each a network namespace (and a UTS namespace, for a host name of its
// own) with one interface on a private switch namespace. Addresses exist only inside the namespaces:
// there is no default route and no address outside them, so nothing a job sends can leave the switch.
// The ssh stand-in `agent` runs a command "on" a host (ip netns exec), as mpirun's rsh agent or hydra's
// launcher-exec. Everything is removed by teardown(), also on exit and on SIGINT/SIGTERM.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

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
  teardown(): void;
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

/** Creates `n` hosts h1..hn on one switch. */
export function createCluster(n = 3): Cluster {
  const tag = `m4n${process.pid}`;
  const sw = `${tag}sw`;
  const hosts: Host[] = Array.from({ length: n }, (_, i) => ({ name: `${tag}h${i + 1}`, ns: `${tag}h${i + 1}`, addr: `${SUBNET}.${i + 1}`, port: `p${i + 1}` }));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'm4n-hosts-'));
  let down = false;
  const teardown = () => {
    if (down) return;
    down = true;
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
    ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', sw, 'link', 'set', 'br0', 'up');
    for (const h of hosts) {
      ip('netns', 'add', h.ns);
      ip('-n', sw, 'link', 'add', h.port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns);
      ip('-n', sw, 'link', 'set', h.port, 'master', 'br0', 'up');
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
    cut: (h) => ip('-n', sw, 'link', 'set', h.port, 'down'),
    teardown,
  };
}
