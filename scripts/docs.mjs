#!/usr/bin/env node
// The API reference: TypeDoc over lib/index.ts (what `import 'mpi4node'` exports) into docs/api/, with
// every warning an error (typedoc.json). docs/api/ is generated, not committed: it is rebuilt for every
// package (prepack) and by the test suite (test/unit/docs.test.ts), so it never lags the types.
//   node scripts/docs.mjs [--if-stale] [--out DIR]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
const out = outAt >= 0 ? path.resolve(args[outAt + 1]) : path.join(root, 'docs', 'api');

const mtime = (f) => (existsSync(f) ? statSync(f).mtimeMs : 0);
function newest(dir) {
  return readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
    const p = path.join(dir, e.name);
    return Math.max(m, e.isDirectory() ? newest(p) : mtime(p));
  }, 0);
}

const index = path.join(out, 'index.html');
const inputs = Math.max(newest(path.join(root, 'lib')), mtime(path.join(root, 'typedoc.json')), mtime(path.join(root, 'package.json')));
if (args.includes('--if-stale') && mtime(index) >= inputs) {
  console.log(`docs: ${path.relative(root, out)} is up to date`);
  process.exit(0);
}

let typedoc;
try {
  // typedoc's "exports" hide bin/; its package.json is exported.
  typedoc = path.join(path.dirname(createRequire(path.join(root, 'package.json')).resolve('typedoc/package.json')), 'bin', 'typedoc');
} catch {
  console.error('docs: typedoc is not installed (npm install)');
  process.exit(1);
}
const r = spawnSync(process.execPath, [typedoc, '--options', path.join(root, 'typedoc.json'), '--out', out], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error('docs: typedoc failed (warnings count as errors: typedoc.json treatWarningsAsErrors)');
  process.exit(1);
}
