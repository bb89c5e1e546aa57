// @timeout 420
// bench/instructions.ts (instructions per operation under callgrind, docs/benchmarks.md) runs end to end:
// every loop of both percall programs is found in its own callgrind dump, and V8's compiled code is named
// from node's perf map. Asserts no count beyond "there is one": the figures are the tool's to report.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tsxImport } from '../../lib/cli/launcher.js';
import { C } from '../../lib/addon/binding.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const hasValgrind = spawnSync('valgrind', ['--version']).status === 0;

test('every percall loop gets an instruction count per operation, C beside mpi4node where C has the loop', () => {
  if (C.IMPLEMENTATION === 'mpich') return void console.log('skipped on MPICH: percall sends to itself before receiving, which MPICH does not buffer');
  if (!hasValgrind) return void console.log('skipped: no valgrind (apt-get install valgrind)');
  const r = spawnSync(process.execPath, ['--import', tsxImport(), 'bench/instructions.ts', '--top', '40'], { cwd: root, encoding: 'utf8', timeout: 400_000 });
  assert.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { impl: string; what: string; value: number; unit: string });
  const node = lines.filter((l) => l.impl === 'mpi4node'), c = lines.filter((l) => l.impl === 'c');
  assert.is(node.length, 10, node.map((l) => l.what).join('; '));
  assert.is(c.length, 6, c.map((l) => l.what).join('; '));
  for (const l of lines) {
    assert.is(l.unit, 'instructions/op');
    assert.ok(Number.isFinite(l.value) && l.value > 0, `${l.impl}: ${l.what}: ${l.value}`);
  }
  // The table names the library's own functions (lib/core/request.ts), found through the perf map.
  assert.match(r.stdout, / \(lib\/core\/request\.ts\) \d/);
});

test('bad options end with a usage line and exit 2, before anything runs', () => {
  for (const bad of [['--runs', '0'], ['--runs', 'x'], ['--top', '-1']]) {
    const r = spawnSync(process.execPath, ['--import', tsxImport(), 'bench/instructions.ts', ...bad], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 2, `${bad.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /usage: node --import tsx bench\/instructions\.ts \[--runs N\] \[--top N\] \[--publish\]/);
  }
});

test.run();
