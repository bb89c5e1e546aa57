// The `mpi4node` command. `run` only assembles an mpirun command line (lib/cli/launcher.ts knows how)
// and stays out of the way: the exit status and output are mpirun's own. `check` runs a packaged smoke
// job the same way; `info` loads the addon and says what it found.

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadAddon, loaded, packageRoot, type MpiAbi } from '../addon/load.js';
import type { Native } from '../addon/native.js';
import { detectMpi, hostCheckCommand, hostsOf, mpirunCommand, type MpirunOptions } from './launcher.js';
import { superviseJob } from './job.js';

const USAGE = `Usage:
  mpi4node run -n <ranks> [mpirun options...] <script.ts|.js> [script arguments...]
  mpi4node check [-n <ranks>] [mpirun options...]
  mpi4node info
  mpi4node --version | --help

Commands:
  run     start <ranks> copies of a Node.js script under mpirun. TypeScript scripts
          (.ts/.mts/.cts) run through tsx when it is installed, else through Node's own
          type stripping (Node >= 22.6).
  check   run a packaged 2-rank (or <ranks>) smoke job: hello from every rank, a message
          round trip and an allreduce; exits non-zero when any of it fails.
  info    load the addon and print the MPI it was built against, the MPI library it
          loaded, the matching mpirun, thread support and GPU status; exits 1 when the
          addon does not load.

Options of run:
  -n N, -np N, --np N, -n=N   number of ranks (required)
  --tag                       prefix every output line with its rank
  --node-arg ARG              pass ARG to node (repeatable), e.g. --node-arg=--expose-gc
  --iface IF                  the network interface (or CIDR) between hosts, e.g. eth0
  --fail-fast                 Open MPI: end the job ~14 s after a host is lost (it also
                              ends on a network outage over ~9 s; docs/multihost.md)
  --no-host-check             on several hosts, do not first check that node and the
                              script exist at the same paths on every host
  -h, --help                  show this help

mpirun options go BEFORE the script, script arguments AFTER it: the first argument that
names an existing .ts/.mts/.cts/.js/.mjs/.cjs file is the script.

Examples:
  mpi4node run -n 4 examples/demo.ts
  mpi4node run -n 8 --host a:4,b:4 --iface eth0 train.js --epochs 3
  mpi4node run -n 16 --hostfile hosts.txt --fail-fast train.js
  mpi4node run -n 2 --node-arg=--expose-gc bench.ts --size 1M
  mpi4node check -n 2

Which mpirun: $MPI4NODE_MPIRUN, else $MPI_HOME/bin/mpirun, else the mpirun on PATH of the
MPI the addon was built against. Which addon: see \`mpi4node info\` (MPI4NODE_MPI=openmpi|mpich
chooses between the prebuilt ones, MPI4NODE_ADDON names a file).
Under Slurm or another launcher you do not need this command: run the script directly,
e.g. \`srun -n 4 node script.js\`.
`;

class UsageError extends Error {}

const SCRIPT_EXT = /\.(?:[mc]?ts|[mc]?js)$/;

export interface RunArgs {
  np: number;
  tag: boolean;
  nodeArgs: string[];
  mpirunArgs: string[];
  script: string;
  scriptArgs: string[];
  iface?: string;
  failFast?: boolean;
  hostCheck?: boolean;
}

/** Splits `run`'s arguments; exported for tests. */
export function parseRunArgs(argv: string[]): RunArgs {
  let np: number | undefined;
  let tag = false;
  let iface: string | undefined;
  let failFast = false;
  let hostCheck = true;
  const nodeArgs: string[] = [];
  const mpirunArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (isScript(arg)) {
      if (np === undefined) throw new UsageError('missing the number of ranks: use -n <ranks> before the script');
      return { np, tag, nodeArgs, mpirunArgs, script: arg, scriptArgs: argv.slice(i + 1), iface, failFast, hostCheck };
    }
    const npFlag = /^(?:-n|-np|--np)(?:=(.*))?$/.exec(arg);
    if (npFlag) {
      const value = npFlag[1] ?? argv[++i];
      if (value === undefined || !/^\d+$/.test(value) || Number(value) < 1) {
        throw new UsageError(`${arg.split('=')[0]} needs a positive whole number of ranks, got ${value === undefined ? 'nothing' : `'${value}'`}`);
      }
      np = Number(value);
    } else if (arg === '--tag') {
      tag = true;
    } else if (arg === '--fail-fast') {
      failFast = true;
    } else if (arg === '--no-host-check') {
      hostCheck = false;
    } else if (arg === '--iface' || arg.startsWith('--iface=')) {
      iface = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (!iface) throw new UsageError('--iface needs an interface name or CIDR, e.g. --iface eth0');
    } else if (arg === '--node-arg' || arg.startsWith('--node-arg=')) {
      const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (value === undefined) throw new UsageError('--node-arg needs a value');
      nodeArgs.push(value);
    } else {
      mpirunArgs.push(arg);
    }
  }
  throw new UsageError(
    'no script given: name an existing .ts/.mts/.cts/.js/.mjs/.cjs file after the mpirun options' +
      (mpirunArgs.some((a) => SCRIPT_EXT.test(a)) ? ` (not found: ${mpirunArgs.filter((a) => SCRIPT_EXT.test(a)).join(', ')})` : ''),
  );
}

function isScript(arg: string): boolean {
  if (!SCRIPT_EXT.test(arg)) return false;
  try {
    return statSync(arg).isFile();
  } catch {
    return false;
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    }
    if (command === '--version' || command === '-V' || command === 'version') {
      console.log(packageVersion());
      return 0;
    }
    if (command === 'info') return await info();
    if (command === 'check') {
      if (rest.includes('-h') || rest.includes('--help')) {
        process.stdout.write(USAGE);
        return 0;
      }
      return await run(parseCheckArgs(rest));
    }
    if (command === 'run') {
      if (rest.length === 0 || rest.includes('-h') || rest.includes('--help')) {
        // Only our own help: --help after the script belongs to the script.
        const helpAt = rest.findIndex((a) => a === '-h' || a === '--help');
        const scriptAt = rest.findIndex(isScript);
        if (rest.length === 0 || scriptAt < 0 || helpAt < scriptAt) {
          process.stdout.write(USAGE);
          return rest.length === 0 ? 2 : 0;
        }
      }
      return await run(parseRunArgs(rest));
    }
    throw new UsageError(`unknown command '${command}'`);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`mpi4node: ${err.message}\nRun 'mpi4node --help' for usage.\n`);
      return 2;
    }
    process.stderr.write(`mpi4node: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** The version in mpi4node's package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

/** `check`'s arguments: -n N (default 2), anything else goes to mpirun. Exported for tests. */
export function parseCheckArgs(argv: string[]): RunArgs {
  let np = 2;
  const mpirunArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const npFlag = /^(?:-n|-np|--np)(?:=(.*))?$/.exec(arg);
    if (!npFlag) {
      mpirunArgs.push(arg);
      continue;
    }
    const value = npFlag[1] ?? argv[++i];
    if (value === undefined || !/^\d+$/.test(value) || Number(value) < 1) {
      throw new UsageError(`${arg.split('=')[0]} needs a positive whole number of ranks, got ${value === undefined ? 'nothing' : `'${value}'`}`);
    }
    np = Number(value);
  }
  // The smoke job ships beside this file: dist/cli/smoke.js in the package, lib/cli/smoke.ts under tsx.
  const here = fileURLToPath(import.meta.url);
  const script = path.join(path.dirname(here), here.endsWith('.ts') ? 'smoke.ts' : 'smoke.js');
  return { np, tag: false, nodeArgs: [], mpirunArgs, script, scriptArgs: [] };
}

const ABI_TEXT: Record<MpiAbi, string> = {
  openmpi: 'Open MPI (libmpi.so.40)',
  mpich: 'the MPICH ABI (MPICH, Intel MPI, MVAPICH: libmpi.so.12, libmpich.so.12 on Debian/Ubuntu)',
};
const FAMILY: Record<string, string> = { openmpi: 'Open MPI', mpich: 'MPICH', unknown: 'unknown MPI' };

/** The MPI libraries mapped into this process (what the dynamic linker actually loaded). */
function mappedMpiLibraries(): string[] {
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    const libs = [...maps.matchAll(/\s(\/\S*\/lib(?:mpi|mpich|mpi_cray)\.so[.\d]*)$/gm)].map((m) => m[1]!);
    return [...new Set(libs)];
  } catch {
    return [];
  }
}

/** `mpi4node info`: loads the addon (and MPI) and says what it found; 1 when the addon does not load. */
async function info(): Promise<number> {
  console.log(`mpi4node:  ${packageVersion()} (node ${process.version}, ${process.platform}-${process.arch})`);
  let native: Native;
  try {
    native = loadAddon();
  } catch (err) {
    console.log('addon:     does not load');
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
  const l = loaded!;
  const how = { explicit: 'MPI4NODE_ADDON', source: 'built from source', prebuild: 'prebuilt' }[l.kind];
  console.log(`addon:     ${l.path} (${how})`);
  const impl = native.constants().IMPLEMENTATION;
  console.log(`built for: ${l.abi ? ABI_TEXT[l.abi] : 'an MPI of unknown ABI'}, with ${FAMILY[impl]}'s mpi.h`);
  const libs = mappedMpiLibraries();
  console.log(`library:   ${libs.length ? libs.join(', ') : '(no MPI library mapped)'}${l.mpiLibrary ? ` (loaded as ${l.mpiLibrary})` : ''}`);
  const [major, minor] = native.version();
  console.log(`MPI:       ${native.libraryVersion().split('\n')[0]!.trim()} (MPI standard ${major}.${minor})`);
  const mpi = detectMpi();
  const launcher = `${mpi.mpirun} (${FAMILY[mpi.flavour]}${mpi.version ? ` ${mpi.version}` : ''})`;
  const matches = mpi.flavour === (l.abi ?? impl);
  console.log(`launcher:  ${launcher}${matches ? '' : `: does not match the addon; set MPI4NODE_MPIRUN to the mpirun of ${l.abi ? FAMILY[l.abi] : 'its MPI'}`}`);
  const { init } = await import('../core/env.js');
  try {
    const provided = init({ threadLevel: 'multiple', abortOnError: false });
    console.log(`threads:   up to '${provided}' (MPI_Init_thread); mpi4node uses 'single' unless init({ threadLevel }) asks for more`);
  } catch (err) {
    console.log(`threads:   unknown, MPI_Init failed: ${(err as Error).message.split('\n')[0]}`);
  }
  const gpu = await import('../gpu/index.js');
  const st = gpu.status();
  console.log(
    `gpu:       ${st.available
      ? `${st.cuda.devices} device(s), CUDA runtime ${st.cuda.runtimeVersion}, driver ${st.cuda.driverVersion}; NCCL ${st.nccl.available ? st.nccl.version : `not available: ${st.nccl.reason}`}`
      : `not available: ${st.reason}`}`,
  );
  return 0;
}

/**
 * On several hosts, that node and the script are where the ranks will look for them on every host:
 * otherwise Open MPI says only 'orted: command not found' or a rank fails to start far from here.
 */
function checkHosts(opts: MpirunOptions): void {
  const hosts = hostsOf(opts.mpirunArgs ?? []);
  if (hosts === undefined) return;
  const script = path.resolve(opts.script);
  const { command, args, env } = hostCheckCommand(opts, hosts, [process.execPath, script]);
  // MPICH's hydra waits for ever for a host its launcher could not reach: the check is bounded.
  const limitS = Number(process.env.MPI4NODE_HOST_CHECK_S) > 0 ? Number(process.env.MPI4NODE_HOST_CHECK_S) : 60;
  const r = spawnSync(command, args, { env, encoding: 'utf8', timeout: limitS * 1000, killSignal: 'SIGKILL' });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const missing = [...out.matchAll(/^mpi4node-host-missing (\S+) (.*)$/gm)];
  if (missing.length > 0) {
    throw new Error(
      `not on every host: ${missing.map((m) => `${m[1]} lacks ${m[2]}`).join('; ')}. Every rank runs ${process.execPath} ${script}: ` +
        'install the same Node.js at the same path on every host and put the job on a shared filesystem (or copy it to ' +
        'the same path), or pass --no-host-check',
    );
  }
  const ok = new Set([...out.matchAll(/^mpi4node-host-ok (\S+)$/gm)].map((m) => m[1]));
  if (r.status !== 0 || ok.size === 0) {
    const tail = out.trim().split('\n').slice(-8).join('\n');
    const why = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT'
      ? `no answer within ${limitS} s (MPI4NODE_HOST_CHECK_S)${tail ? `: ${tail}` : ''}` : r.error ? r.error.message : tail;
    throw new Error(`could not start a process on every host (${hosts.join(', ')}) to check them: ${why}\n` +
      '(passwordless ssh to every host is needed, or a launcher agent: docs/multihost.md; --no-host-check skips this check)');
  }
}

function run(args: RunArgs): Promise<number> {
  const opts: MpirunOptions = {
    np: args.np,
    script: args.script,
    scriptArgs: args.scriptArgs,
    mpirunArgs: args.mpirunArgs,
    nodeArgs: args.nodeArgs,
    tagOutput: args.tag,
    iface: args.iface,
    failFast: args.failFast,
  };
  const { command, args: argv, env } = mpirunCommand(opts);
  if (args.hostCheck !== false) checkHosts(opts);
  return new Promise((resolve, reject) => {
    // mpirun gets a session of its own so that a Ctrl-C (delivered by the terminal to the whole
    // foreground group) reaches it exactly once, through us: OpenMPI treats a second SIGINT/SIGTERM
    // as "exit now" and leaves its ranks running, since they live in process groups of their own.
    // lib/cli/job.ts passes every signal on, and makes sure nothing of the job outlives us.
    const child = spawn(command, argv, { stdio: 'inherit', env, detached: true });
    const release = superviseJob(child, (line) => process.stderr.write(`mpi4node: ${line}\n`));
    child.on('error', (err) => {
      release();
      const code = (err as NodeJS.ErrnoException).code;
      reject(code === 'ENOENT' ? new Error(`cannot run '${command}': not found. Install MPI or set MPI4NODE_MPIRUN / MPI_HOME.`) : err);
    });
    // Stay alive until mpirun has cleaned up its ranks (about a second), then report its status.
    child.on('exit', (code, signal) => {
      release();
      resolve(code ?? 128 + (signal ? ((constants.signals as Record<string, number>)[signal] ?? 1) : 1));
    });
  });
}

// Run only when started as a program (node lib/cli/cli.ts), not when imported by bin/mpi4node.js.
if (isMain()) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

function isMain(): boolean {
  try {
    return !!process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}
