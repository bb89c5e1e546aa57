// Every signal to the launcher ends the job, however it was started (node bin/mpi4node.js, npx), and a
// launcher that will not stop is killed with everything it started.
// @timeout 300
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KILL_AFTER_MS, killSession } from '../../lib/cli/job.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = path.join(root, 'test/fixtures/signal-job.ts');
const stuck = path.join(root, 'test/fixtures/stuck-mpirun.sh');
const cli = path.join(root, 'bin/mpi4node.js');
const STARTUP_MS = 90_000;

interface Job {
  child: ChildProcess;
  out: () => string;
  /** The ranks and their parent (the launcher, or hydra's proxy). */
  pids: number[];
}

// A session of its own, so that whatever the test leaves is killed afterwards.
async function start(command: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<Job> {
  const child = spawn(command, args, { cwd: opts.cwd ?? root, env: { ...process.env, ...opts.env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  const t0 = Date.now();
  for (;;) {
    const ranks = [...text.matchAll(/rank \d+ pid (\d+) ppid (\d+)/g)];
    if (ranks.length === 2) return { child, out: () => text, pids: [...new Set(ranks.flatMap((m) => [Number(m[1]), Number(m[2])]))] };
    if (child.exitCode !== null || Date.now() - t0 > STARTUP_MS) {
      if (child.pid) killSession(child.pid);
      throw new Error(`the job did not start: ${text}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Seconds until every pid is gone, or -1 after `ms`. */
async function goneWithin(pids: number[], ms: number): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (!pids.some(alive)) return (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 100));
  }
  return -1;
}

async function endsOn(job: Job, signal: NodeJS.Signals, ms: number): Promise<number> {
  try {
    process.kill(job.child.pid!, signal);
    return await goneWithin(job.pids, ms);
  } finally {
    killSession(job.child.pid!);
  }
}

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  test(`${signal} to mpi4node run ends every rank`, async () => {
    const job = await start(process.execPath, [cli, 'run', '-n', '2', fixture]);
    const s = await endsOn(job, signal, 30_000);
    assert.ok(s >= 0, `ranks still running 30 s after ${signal}: ${job.out()}`);
  });
}

// npx as a user runs it: a project with mpi4node installed (here, linked).
function project(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mpi4node-npx-'));
  mkdirSync(path.join(dir, 'node_modules', '.bin'), { recursive: true });
  symlinkSync(root, path.join(dir, 'node_modules', 'mpi4node'));
  symlinkSync('../mpi4node/bin/mpi4node.js', path.join(dir, 'node_modules', '.bin', 'mpi4node'));
  writeFileSync(path.join(dir, 'package.json'), '{ "name": "npx-signals", "version": "1.0.0", "private": true }\n');
  return dir;
}

for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
  test(`${signal} to npx mpi4node run (npm does not pass it on) ends every rank`, async () => {
    const dir = project();
    try {
      const job = await start('npx', ['mpi4node', 'run', '-n', '2', fixture], { cwd: dir });
      const s = await endsOn(job, signal, 30_000);
      assert.ok(s >= 0, `ranks still running 30 s after ${signal} to npm: ${job.out()}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a launcher that ignores the signal is killed, with its ranks, after the grace period', async () => {
  const job = await start(process.execPath, [cli, 'run', '-n', '2', fixture], { env: { MPI4NODE_MPIRUN: stuck } });
  const s = await endsOn(job, 'SIGTERM', KILL_AFTER_MS + 20_000);
  assert.ok(s >= 0, `still running: ${job.out()}`);
  assert.match(job.out(), /the job did not end within 5 s of SIGTERM: killing the job/);
});

test('a second signal kills a launcher that ignores the first at once', async () => {
  const job = await start(process.execPath, [cli, 'run', '-n', '2', fixture], { env: { MPI4NODE_MPIRUN: stuck } });
  try {
    process.kill(job.child.pid!, 'SIGINT');
    await new Promise((r) => setTimeout(r, 1500));
    process.kill(job.child.pid!, 'SIGINT');
    const s = await goneWithin(job.pids, KILL_AFTER_MS - 1500);
    assert.ok(s >= 0, `still running: ${job.out()}`);
    assert.match(job.out(), /SIGINT again: killing the job/);
  } finally {
    killSession(job.child.pid!);
  }
});

test.run();
