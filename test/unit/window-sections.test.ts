// @timeout 120
// bench/node/window-sections.ts (the per-section timing docs/benchmarks.md quotes for the bimodal 8-byte
// Promise window) runs on 2 ranks and reports every section once, in its groups and in its pattern.
// Never asserts a speed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mpirunCommand } from '../../lib/cli/launcher.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('window-sections: every section counted once, with a finite rate', () => {
  const sections = 12;
  const { command, args, env } = mpirunCommand({ np: 2, script: 'bench/node/window-sections.ts', scriptArgs: ['--sections', String(sections), '--warmup', '50'] });
  const r = spawnSync(command, args, { cwd: root, env, encoding: 'utf8', timeout: 100_000 });
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as
    { bench: string; what: string; sections?: number; median?: number | null; pattern?: string });
  assert.is(lines.length, 4, r.stdout);
  let counted = 0;
  for (const l of lines.slice(0, 3)) {
    assert.is(l.bench, 'window-sections');
    counted += l.sections!;
    if (l.sections! > 0) assert.ok(Number.isFinite(l.median) && l.median! > 0, `${l.what}: ${l.median}`);
    else assert.is(l.median, null);
  }
  assert.is(counted, sections);
  assert.match(lines[3]!.pattern!, new RegExp(`^[.mS]{${sections}}$`));
});

test.run();
