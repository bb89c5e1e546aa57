// The Node benchmark programs run as JavaScript that imports the built package (dist/), as a user's
// `mpirun node job.js` does, not through tsx. tsx's loader keeps a second V8 isolate (Node's module
// hooks thread) and its WebAssembly reservations alive in every rank for the whole run: page tables of
// 1.8 MB against 0.8 MB. On this VM the state of large copies (fast, or ~2.3x slower for a whole run)
// goes with how much memory a process maps: the 1 MiB allreduce landed slow in 37 of 60 runs through
// tsx, 29 of 60 compiled, C 22 of 60 (docs/benchmarks.md, "The slow state of large copies").
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BENCH = path.join(ROOT, 'bench');
const LIB = path.join(ROOT, 'lib');
const DIST = path.join(ROOT, 'dist');
const OUT = path.join(ROOT, 'build', 'bench');

let compiledAll = false;

/**
 * Bundles every bench/node/*.ts program, with the bench files it imports, into one ES module each
 * under build/bench/, their imports of lib/ pointed at the compiled dist/ files. Builds dist/ first
 * when it is older than lib/ (scripts/build-dist.mjs skips the work otherwise).
 */
export async function compileBenchPrograms(): Promise<void> {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build-dist.mjs')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench: building dist/ failed (node scripts/build-dist.mjs):\n${r.stdout}${r.stderr}`);
  // A dev dependency, as for scripts/build-dist.mjs's CommonJS bundle.
  const { build } = createRequire(path.join(ROOT, 'package.json'))('esbuild') as typeof import('esbuild');
  const dir = path.join(BENCH, 'node');
  await build({
    entryPoints: readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).map((f) => path.join(dir, f)),
    outdir: OUT, outExtension: { '.js': '.mjs' }, bundle: true, format: 'esm', platform: 'node', target: 'node20',
    logLevel: 'error',
    plugins: [{
      name: 'lib-from-dist',
      setup(b) {
        b.onResolve({ filter: /^\.\.?\// }, (args) => {
          const rel = path.relative(LIB, path.resolve(args.resolveDir, args.path));
          if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined; // a bench file: bundled
          return { path: pathToFileURL(path.join(DIST, rel.replace(/\.ts$/, '.js'))).href, external: true };
        });
      },
    }],
  });
  compiledAll = true;
}

/** The compiled form of `program` (a bench/node/*.ts file); compileBenchPrograms() must have run. */
export function compiledProgram(program: string): string {
  if (!compiledAll) throw new Error('bench: compiledProgram() before compileBenchPrograms()');
  return path.join(OUT, path.basename(program).replace(/\.ts$/, '.mjs'));
}
