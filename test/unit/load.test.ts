// Loading the addon: what a user sees when it cannot be loaded, and loading in worker threads.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AddonLoadError } from '../../lib/core/errors.js';
import { loadAddon } from '../../lib/addon/load.js';

test('a failed load lists every path tried with its error, and how to fix it', () => {
  const empty = mkdtempSync(path.join(os.tmpdir(), 'mpi4node-load-'));
  const bogus = path.join(empty, 'bogus.node');
  process.env.MPI4NODE_ADDON = bogus;
  try {
    loadAddon(empty);
    assert.unreachable('loaded from an empty folder');
  } catch (e) {
    assert.instance(e, AddonLoadError);
    const err = e as AddonLoadError;
    assert.is(err.code, 'ERR_ADDON_LOAD');
    assert.equal(err.tried.map((t) => t.path), [bogus], 'an explicit MPI4NODE_ADDON is the only path tried');
    for (const t of err.tried) assert.ok(err.message.includes(t.path), t.path);
    assert.match(err.message, /apt-get install openmpi-bin libopenmpi-dev/);
    assert.match(err.message, /npm rebuild mpi4node/);
  } finally {
    delete process.env.MPI4NODE_ADDON;
  }
});

test('without an override every standard place is listed', () => {
  const empty = mkdtempSync(path.join(os.tmpdir(), 'mpi4node-load-'));
  try {
    loadAddon(empty);
    assert.unreachable('loaded from an empty folder');
  } catch (e) {
    const err = e as AddonLoadError;
    assert.ok(err.tried.some((t) => t.path === path.join(empty, 'build', 'Release', 'mpi4node.node')), err.message);
    assert.ok(err.tried.some((t) => t.path === path.join(empty, 'build-cmake', 'Release', 'mpi4node.node')), err.message);
    assert.match(err.message, /not found/);
  }
});

test('the real package loads', () => {
  const n = loadAddon();
  assert.type(n.wtimeFast, 'function');
  assert.match(n.libraryVersion(), /MPI/);
});

test.run();
