// @timeout 300
// The API reference builds from the types with no warning (typedoc.json treats warnings as errors: an
// exported API that refers to an unexported type fails here), and the README links to it. It is built
// into docs/api/ (git-ignored), where the package test's `npm pack` then finds it up to date.
// Not repeated in the test runner's MPICH pass: nothing here depends on the MPI.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const skip = process.env.MPI4NODE_ADDON !== undefined; // the runner's MPICH pass
const it = skip ? test.skip : test;

it('npm run docs builds docs/api from lib/index.ts, warnings as errors', () => {
  const r = spawnSync(process.execPath, ['scripts/docs.mjs'], { cwd: root, encoding: 'utf8', timeout: 280_000 });
  assert.is(r.status, 0, `${r.stdout}\n${r.stderr}`.slice(-4000));
  assert.not.match(r.stdout + r.stderr, /\[warning\]/);
  const api = path.join(root, 'docs', 'api');
  assert.ok(existsSync(path.join(api, 'index.html')));
  for (const page of ['classes/Comm.html', 'classes/Request.html', 'functions/init.html', 'modules/gpu.html']) {
    assert.ok(existsSync(path.join(api, page)), `docs/api/${page} is missing`);
  }
  assert.match(readFileSync(path.join(api, 'classes', 'Comm.html'), 'utf8'), /allreduce/);
});

it('the README links to the API reference', () => {
  assert.match(readFileSync(path.join(root, 'README.md'), 'utf8'), /\]\(docs\/api\/index\.html\)/);
});

test.run();
