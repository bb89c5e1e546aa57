// How to start `mpirun` for Node.js ranks. The CLI, the test runner and the benchmarks all go
// through here so that the quirks of each MPI (root, oversubscription, output tagging, loading
// TypeScript) are handled in exactly one place.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { addonAbi, type MpiAbi } from '../addon/load.js';
import { codedError } from '../core/errors.js';

export type MpiFlavour = 'openmpi' | 'mpich' | 'unknown';

export interface MpiInfo {
  flavour: MpiFlavour;
  /** The mpirun that will be started (a path, or a bare name looked up on PATH). */
  mpirun: string;
  /** e.g. '4.1.4'; '' when `mpirun --version` could not be run. */
  version: string;
  /** The compiler wrapper of the same MPI (for C programs that must run beside the addon). */
  mpicc: string;
}

export interface MpirunOptions {
  np: number;
  script: string;
  scriptArgs?: string[];
  /** Passed to mpirun before the program, e.g. ['--host', 'a,b']. */
  mpirunArgs?: string[];
  /** Passed to node before the script, e.g. ['--expose-gc']. */
  nodeArgs?: string[];
  /** Prefix every output line with the rank (OpenMPI --tag-output, MPICH -prepend-rank). */
  tagOutput?: boolean;
  /**
   * An executable to start instead of node (a C benchmark, python3): `script` (unless '') and
   * `scriptArgs` are its arguments; `nodeArgs` are not used.
   */
  program?: string;
  /**
   * The network interface (or CIDR) MPI may use between hosts (Open MPI: btl and oob tcp_if_include;
   * MPICH: -iface). Without it, hosts that share an address on a second interface (docker0) can hang.
   */
  iface?: string;
  /**
   * Open MPI only: the launcher's TCP keepalive at 1/1/10 s, so a host lost for good ends the job in
   * about 14 s instead of minutes, at the price of killing it on a network outage over ~9 s.
   */
  failFast?: boolean;
}

/**
 * The keepalive a fail-fast job's Open MPI launcher uses: idle time, interval, probes (seconds). A probe
 * every second: an outage ends the job only when it outlasts 10 probes (~9-10 s) wherever it begins;
 * 5/2/3 ended as soon but also ended a 7 s outage that began 3.5 s after the last traffic
 * (docs/multihost.md).
 */
export const FAIL_FAST_KEEPALIVE = [1, 1, 10] as const;

export interface MpirunCommand {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

let cached: { key: string; info: MpiInfo } | undefined;

/**
 * Which mpirun we will use and what it is: the one matching the MPI the addon was built against
 * (a job started by another MPI's launcher runs as N singletons). Cached per environment, since
 * `mpirun --version` costs ~50 ms.
 */
export function detectMpi(): MpiInfo {
  const env = process.env;
  const key = [env.MPI4NODE_MPIRUN, env.MPI4NODE_ADDON, env.MPI4NODE_MPI, env.MPI4NODE_MPI_LIBRARY, env.MPI_HOME, env.npm_config_mpi_home, env.PATH].join('\0');
  if (cached?.key === key) return cached.info;
  const mpirun = findMpirun(addonAbi());
  cached = { key, info: { mpirun, ...describeMpirun(mpirun), mpicc: mpiccBeside(mpirun) } };
  return cached.info;
}

function describeMpirun(mpirun: string): { flavour: MpiFlavour; version: string } {
  let out = '';
  try {
    out = execFileSync(mpirun, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (err) {
    // MPICH's hydra exits non-zero on --version in some old releases but still prints it.
    const e = err as { stdout?: string; stderr?: string };
    out = `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
  return parseVersion(out);
}

function findMpirun(abi: MpiAbi | undefined): string {
  if (process.env.MPI4NODE_MPIRUN) return process.env.MPI4NODE_MPIRUN;
  for (const home of [process.env.MPI_HOME, process.env.npm_config_mpi_home]) {
    for (const name of ['mpirun', 'mpiexec']) {
      if (home && existsSync(path.join(home, 'bin', name))) return path.join(home, 'bin', name);
    }
  }
  // Debian installs the flavours side by side as mpirun.openmpi / mpirun.mpich and points `mpirun`
  // at one of them through alternatives, which may be missing in a minimal container. The plain
  // names are taken only when they are the flavour the addon needs.
  const named = abi === 'mpich' ? ['mpirun.mpich', 'mpiexec.mpich', 'mpiexec.hydra'] : abi === 'openmpi' ? ['mpirun.openmpi'] : [];
  const plain = ['mpirun', 'mpiexec'].map(onPath).filter((p): p is string => p !== undefined);
  if (abi !== undefined) {
    const match = plain.find((p) => describeMpirun(p).flavour === abi);
    if (match) return match;
  }
  for (const name of [...named, 'mpirun', 'mpirun.openmpi', 'mpirun.mpich']) {
    const found = onPath(name);
    if (found) return found;
  }
  return 'mpirun';
}

/** The mpicc of the MPI that `mpirun` belongs to: $MPI4NODE_MPICC, else its sibling (mpirun.mpich -> mpicc.mpich). */
function mpiccBeside(mpirun: string): string {
  if (process.env.MPI4NODE_MPICC) return process.env.MPI4NODE_MPICC;
  const suffix = /^(?:mpirun|mpiexec)(\.[\w-]+)?$/.exec(path.basename(mpirun))?.[1] ?? '';
  const name = `mpicc${suffix === '.hydra' ? '' : suffix}`;
  const sibling = path.join(path.dirname(mpirun), name);
  if (path.isAbsolute(mpirun) && existsSync(sibling)) return sibling;
  return onPath(name) ?? 'mpicc';
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

function parseVersion(out: string): { flavour: MpiFlavour; version: string } {
  const ompi = /Open MPI\)?\s+v?(\d[\w.]*)/i.exec(out);
  if (ompi) return { flavour: 'openmpi', version: ompi[1]! };
  // MPICH and its derivatives (Intel MPI, MVAPICH) all launch through hydra and accept the
  // same options we use.
  if (/HYDRA|MPICH|Intel\(R\) MPI/i.test(out)) {
    return { flavour: 'mpich', version: /Version:\s+(\S+)/.exec(out)?.[1] ?? /Version\s+(\S+)/i.exec(out)?.[1] ?? '' };
  }
  return { flavour: 'unknown', version: '' };
}

/**
 * `--import` value that lets ranks run .ts files through tsx. An absolute file URL rather than the bare
 * `tsx` so it resolves the same way whatever directory mpirun starts the ranks in. tsx is an optional
 * peer dependency: looked up beside mpi4node, then from the current directory (a global mpi4node).
 */
export function tsxImport(): string {
  // 'tsx' exports its loader (dist/loader.mjs) as the package root; that is what `node --import tsx` uses.
  for (const from of [import.meta.url, pathToFileURL(path.join(process.cwd(), 'noop.js')).href]) {
    try {
      return pathToFileURL(createRequire(from).resolve('tsx')).href;
    } catch {
      // not here
    }
  }
  throw new Error('tsx is not installed: npm install --save-dev tsx');
}

/**
 * Node options that let a rank run a TypeScript file: tsx when it is installed (it also maps './x.js'
 * imports to x.ts, as tsc-style projects write them, which Node's own type stripping does not); else
 * Node's type stripping: on by default from Node 23.6 and 22.18, behind --experimental-strip-types from
 * 22.6. Before that (Node 20, 22.0-22.5) tsx is needed, and the error says so.
 */
export function typeScriptNodeArgs(script: string, nodeVersion = process.versions.node): string[] {
  try {
    return ['--import', tsxImport()];
  } catch {
    // no tsx: Node's own, where it has it
  }
  const [major = 0, minor = 0] = nodeVersion.split('.').map(Number);
  if (major > 23 || (major === 23 && minor >= 6) || (major === 22 && minor >= 18)) return [];
  if (major === 23 || (major === 22 && minor >= 6)) return ['--experimental-strip-types'];
  throw new Error(
    `${script} is TypeScript, and Node ${nodeVersion} cannot run it by itself (type stripping came in Node 22.6): ` +
      'install tsx (npm install --save-dev tsx), use Node >= 22.6, or run the compiled .js',
  );
}

/** True when a script needs the TypeScript loader. */
export function isTypeScript(file: string): boolean {
  return /\.[mc]?ts$/.test(file);
}

export function mpirunCommand(opts: MpirunOptions): MpirunCommand {
  const { np } = opts;
  if (!Number.isInteger(np) || np < 1) throw new Error(`mpirun: the number of ranks must be a positive integer, got ${np}`);
  const mpi = detectMpi();
  const cpus = os.availableParallelism();
  const args = ['-n', String(np)];
  // On several hosts the local core count says nothing about the others: their slots are the
  // hostfile's or --host's business (and the scheduler's).
  // (Inside a Slurm allocation of several nodes mpirun takes its hosts from the allocation.)
  const local = hostsOf(opts.mpirunArgs ?? []) === undefined && !(Number(process.env.SLURM_JOB_NUM_NODES) > 1);
  if (opts.failFast && mpi.flavour !== 'openmpi') {
    throw codedError(Error, 'ERR_MPI_LAUNCH', `--fail-fast sets Open MPI's launcher keepalive; ${FAMILY_NAME[mpi.flavour]}'s mpirun has no such setting (docs/multihost.md)`);
  }

  if (mpi.flavour === 'openmpi') {
    // OpenMPI refuses to start more ranks than physical cores ("not enough slots"); oversubscribed
    // ranks still work because OpenMPI then yields the CPU while waiting.
    if (local && np > Math.min(cpus, physicalCores() ?? cpus)) args.push('--oversubscribe');
    if (opts.tagOutput) args.push('--tag-output');
    if (opts.iface !== undefined) args.push('--mca', 'btl_tcp_if_include', opts.iface, '--mca', 'oob_tcp_if_include', opts.iface);
    if (opts.failFast) {
      const [time, intvl, probes] = FAIL_FAST_KEEPALIVE;
      args.push('--mca', 'oob_tcp_keepalive_time', String(time), '--mca', 'oob_tcp_keepalive_intvl', String(intvl), '--mca', 'oob_tcp_keepalive_probes', String(probes));
    }
  } else if (mpi.flavour === 'mpich') {
    if (opts.iface !== undefined) args.push('-iface', opts.iface);
    // MPICH busy-polls in every blocking call, so with more ranks than cores the waiting ranks steal
    // the CPU from the one that would make progress and runs slow down by orders of magnitude or
    // appear to hang. Refuse instead of producing a time-out nobody can explain.
    if (local && np > cpus) {
      throw new Error(
        `MPICH cannot run ${np} ranks on ${cpus} CPU core(s): it busy-polls while waiting, so oversubscribed ` +
          `ranks starve each other and the job collapses. Use at most ${cpus} ranks, more cores, or OpenMPI.`,
      );
    }
    if (opts.tagOutput) args.push('-prepend-rank');
  }
  args.push(...(opts.mpirunArgs ?? []));

  if (opts.program !== undefined) {
    args.push(opts.program, ...(opts.script ? [opts.script] : []), ...(opts.scriptArgs ?? []));
  } else {
    args.push(process.execPath); // the same node that runs us, not whatever `node` is first on PATH
    if (isTypeScript(opts.script)) args.push(...typeScriptNodeArgs(opts.script));
    args.push(...(opts.nodeArgs ?? []), opts.script, ...(opts.scriptArgs ?? []));
  }

  const env: NodeJS.ProcessEnv = { ...process.env };
  if (process.getuid?.() === 0) {
    // Containers and CI usually run as root, which OpenMPI refuses unless told twice (others ignore it).
    env.OMPI_ALLOW_RUN_AS_ROOT = '1';
    env.OMPI_ALLOW_RUN_AS_ROOT_CONFIRM = '1';
  }
  return { command: mpi.mpirun, args, env };
}

const FAMILY_NAME: Record<MpiFlavour, string> = { openmpi: 'Open MPI', mpich: 'MPICH', unknown: 'this' };

const HOST_LIST = new Set(['--host', '-host', '-H', '-hosts', '--hosts']);
const HOST_FILE = new Set(['--hostfile', '-hostfile', '--machinefile', '-machinefile', '-f', '--default-hostfile']);
const LOCAL_NAMES = new Set(['localhost', '127.0.0.1', '::1', os.hostname()]);

/**
 * The hosts that mpirun options name (--host a:2,b / -hosts a,b / a hostfile, Open MPI's and MPICH's
 * spellings), each once; undefined when they name none besides this one (a single-host job).
 */
export function hostsOf(mpirunArgs: readonly string[]): string[] | undefined {
  const hosts: string[] = [];
  for (let i = 0; i < mpirunArgs.length; i++) {
    const arg = mpirunArgs[i]!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const value = flag !== arg ? arg.slice(eq + 1) : mpirunArgs[i + 1];
    if (value === undefined) continue;
    if (HOST_LIST.has(flag)) hosts.push(...value.split(',').map((h) => h.split(':')[0]!.trim()).filter(Boolean));
    else if (HOST_FILE.has(flag)) hosts.push(...hostfileHosts(value));
    else continue;
    if (flag === arg) i++;
  }
  const distinct = [...new Set(hosts)];
  return distinct.some((h) => !LOCAL_NAMES.has(h)) ? distinct : undefined;
}

// The hosts of a hostfile: Open MPI's 'host slots=N' lines and MPICH's 'host:N', '#' comments.
function hostfileHosts(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw codedError(Error, 'ERR_MPI_LAUNCH', `cannot read the hostfile ${file}: ${(err as Error).message}`);
  }
  return text.split('\n').map((l) => l.replace(/#.*/, '').trim().split(/[\s:]/)[0]!).filter(Boolean);
}

/**
 * A command that, started like the job on `hosts` (one process per host), prints one line per host:
 * 'mpi4node-host-ok NAME' or 'mpi4node-host-missing NAME PATH...' for the files a rank needs there.
 */
export function hostCheckCommand(opts: MpirunOptions, hosts: readonly string[], files: readonly string[]): MpirunCommand {
  const mpi = detectMpi();
  const tests = files.map((f) => `[ -e '${f.replace(/'/g, `'\\''`)}' ] || m="$m ${f.replace(/[^\w./@+-]/g, '?')}"`).join('; ');
  const script = `m=; ${tests}; h=$(hostname); if [ -z "$m" ]; then echo "mpi4node-host-ok $h"; else echo "mpi4node-host-missing $h$m"; fi`;
  const perHost = mpi.flavour === 'mpich' ? ['-ppn', '1'] : ['--map-by', 'ppr:1:node'];
  const cmd = mpirunCommand({ ...opts, np: hosts.length, tagOutput: false, program: '/bin/sh', script: '-c', scriptArgs: [script] });
  cmd.args.splice(2, 0, ...perHost);
  return cmd;
}

/**
 * Physical cores usable by this process (OpenMPI's default slot count); undefined off Linux.
 * Differs from os.availableParallelism() on machines with hyper-threading.
 */
function physicalCores(): number | undefined {
  try {
    const allowed = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    const cpus = allowed ? expandList(allowed) : readdirSync('/sys/devices/system/cpu').filter((d) => /^cpu\d+$/.test(d)).map((d) => Number(d.slice(3)));
    const cores = new Set<string>();
    for (const cpu of cpus) {
      const topo = `/sys/devices/system/cpu/cpu${cpu}/topology`;
      cores.add(`${readFileSync(`${topo}/physical_package_id`, 'utf8').trim()}:${readFileSync(`${topo}/core_id`, 'utf8').trim()}`);
    }
    return cores.size || undefined;
  } catch {
    return undefined;
  }
}

function expandList(list: string): number[] {
  return list.split(',').flatMap((part) => {
    const [a, b] = part.split('-').map(Number);
    return b === undefined ? [a!] : Array.from({ length: b - a! + 1 }, (_, i) => a! + i);
  });
}
