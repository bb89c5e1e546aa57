// The `mpi4node` command. It only assembles an mpirun command line (lib/cli/launcher.ts knows how) and
// stays out of the way: the exit status and output are mpirun's own.

import { spawn } from 'node:child_process';
import { realpathSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { pathToFileURL } from 'node:url';
import { detectMpi, mpirunCommand } from './launcher.js';

const USAGE = `Usage:
  mpi4node run -n <ranks> [mpirun options...] <script.ts|.js> [script arguments...]
  mpi4node info
  mpi4node --help

Commands:
  run     start <ranks> copies of a Node.js script under mpirun. TypeScript scripts
          (.ts/.mts/.cts) are loaded with tsx, so no build step is needed.
  info    print the MPI that would be used and the Node.js version.

Options of run:
  -n N, -np N, --np N, -n=N   number of ranks (required)
  --tag                       prefix every output line with its rank
  --node-arg ARG              pass ARG to node (repeatable), e.g. --node-arg=--expose-gc
  -h, --help                  show this help

mpirun options go BEFORE the script, script arguments AFTER it: the first argument that
names an existing .ts/.mts/.cts/.js/.mjs/.cjs file is the script.

Examples:
  mpi4node run -n 4 examples/demo.ts
  mpi4node run -n 8 --host a:4,b:4 train.js --epochs 3
  mpi4node run -n 2 --node-arg=--expose-gc bench.ts --size 1M

Which mpirun: $MPI4NODE_MPIRUN, else $MPI_HOME/bin/mpirun, else mpirun on PATH.
Under Slurm or another launcher you do not need this command: run the script directly,
e.g. \`srun -n 4 node script.js\` (TypeScript: \`srun -n 4 node --import tsx script.ts\`).
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
}

/** Splits `run`'s arguments; exported for tests. */
export function parseRunArgs(argv: string[]): RunArgs {
  let np: number | undefined;
  let tag = false;
  const nodeArgs: string[] = [];
  const mpirunArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (isScript(arg)) {
      if (np === undefined) throw new UsageError('missing the number of ranks: use -n <ranks> before the script');
      return { np, tag, nodeArgs, mpirunArgs, script: arg, scriptArgs: argv.slice(i + 1) };
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
    if (command === 'info') {
      const mpi = detectMpi();
      console.log(`mpi:     ${mpi.flavour}${mpi.version ? ` ${mpi.version}` : ''} (${mpi.mpirun})`);
      console.log(`node:    ${process.version} (${process.execPath})`);
      return mpi.flavour === 'unknown' && !mpi.version ? 1 : 0;
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

function run(args: RunArgs): Promise<number> {
  const { command, args: argv, env } = mpirunCommand({
    np: args.np,
    script: args.script,
    scriptArgs: args.scriptArgs,
    mpirunArgs: args.mpirunArgs,
    nodeArgs: args.nodeArgs,
    tagOutput: args.tag,
  });
  return new Promise((resolve, reject) => {
    // mpirun gets its own process group so that a Ctrl-C (delivered by the terminal to the whole
    // foreground group) reaches it exactly once, through us: OpenMPI treats a second SIGINT/SIGTERM
    // as "exit now" and leaves its ranks running, since they live in process groups of their own.
    const child = spawn(command, argv, { stdio: 'inherit', env, detached: true });
    // Stay alive until mpirun has cleaned up its ranks (about a second), then report its status.
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    const forward = (signal: NodeJS.Signals) => {
      child.kill(signal);
    };
    for (const s of signals) process.on(s, forward);
    const done = () => {
      for (const s of signals) process.off(s, forward);
    };
    child.on('error', (err) => {
      done();
      const code = (err as NodeJS.ErrnoException).code;
      reject(code === 'ENOENT' ? new Error(`cannot run '${command}': not found. Install MPI or set MPI4NODE_MPIRUN / MPI_HOME.`) : err);
    });
    child.on('exit', (code, signal) => {
      done();
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
