#!/usr/bin/env node
// Builds dist/, what the package's "exports" point at:
//   dist/**.js, .d.ts      ES modules and their types (tsc -p tsconfig.build.json): `import 'mpi4node'`,
//                          and the CLI (dist/cli/cli.js)
//   dist/cjs/index.js      one CommonJS file bundled from lib/index.ts by esbuild: `require('mpi4node')`;
//                          import.meta.url becomes this file's URL (lib/ finds the package root upwards)
//   dist/cjs/**.d.ts       the same declarations, read as CommonJS (dist/cjs/package.json says so)
// Skips the work when dist/ is newer than lib/ and the configs (--force rebuilds).
//   node scripts/build-dist.mjs [--force]
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const cjs = path.join(dist, 'cjs');
const require = createRequire(path.join(root, 'package.json'));

const mtime = (f) => (existsSync(f) ? statSync(f).mtimeMs : 0);
function files(dir, pattern, skip = () => false) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (skip(p)) return [];
    return e.isDirectory() ? files(p, pattern, skip) : pattern.test(e.name) ? [p] : [];
  });
}

const inputs = [
  ...files(path.join(root, 'lib'), /\.ts$/),
  path.join(root, 'tsconfig.json'),
  path.join(root, 'tsconfig.build.json'),
  fileURLToPath(import.meta.url),
];
const outputs = [path.join(dist, 'index.js'), path.join(cjs, 'index.js'), path.join(cjs, 'index.d.ts')];
if (!process.argv.includes('--force') && Math.min(...outputs.map(mtime)) >= Math.max(...inputs.map(mtime))) {
  console.log('dist: up to date');
  process.exit(0);
}
const started = Date.now();

// 1. ES modules and declarations.
const tsc = require.resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error('dist: tsc -p tsconfig.build.json failed');
  process.exit(1);
}

// 2. The CommonJS bundle.
rmSync(cjs, { recursive: true, force: true });
mkdirSync(cjs, { recursive: true });
const { buildSync } = require('esbuild');
buildSync({
  entryPoints: [path.join(root, 'lib', 'index.ts')],
  outfile: path.join(cjs, 'index.js'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  sourcesContent: false, // the map points at lib/*.ts, which the package ships
  logLevel: 'warning',
  define: { 'import.meta.url': '__mpi4node_import_meta_url' },
  banner: { js: '"use strict"; // the banner comes first, so the directive must be here too\nconst __mpi4node_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
});
writeFileSync(path.join(cjs, 'package.json'), '{ "type": "commonjs" }\n');

// 3. The declarations again, under dist/cjs/ where they describe CommonJS modules.
for (const file of files(dist, /\.d\.ts$/, (p) => p === cjs || p === path.join(dist, 'cli'))) {
  const to = path.join(cjs, path.relative(dist, file));
  mkdirSync(path.dirname(to), { recursive: true });
  copyFileSync(file, to);
}
console.log(`dist: built in ${((Date.now() - started) / 1000).toFixed(0)}s (ESM, CommonJS bundle, types for both)`);
