// The GPU loader without a GPU: what the real loader reports on this machine (a CUDA runtime may be
// installed with no driver, or none at all), and, through the fake runtime (test/fakes/), every other
// reason a GPU can be unusable, each with its stable code and a sentence that says why. Each
// environment needs a fresh process (the libraries load once per process): a fixture prints what it
// saw.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildFakes } from '../fakes/build.js';
import { tsxImport } from '../../lib/cli/launcher.js';
import { gpu } from '../../lib/index.js';

const fixture = fileURLToPath(new URL('../fixtures/gpu-status.ts', import.meta.url));
const UNAVAILABLE = ['ERR_CUDART_NOT_FOUND', 'ERR_CUDART_SYMBOLS', 'ERR_NO_DRIVER', 'ERR_DRIVER_TOO_OLD', 'ERR_DRIVER_MISMATCH',
  'ERR_NO_DEVICE', 'ERR_CUDA_INIT'];

interface Outcome {
  available: boolean;
  status: gpu.GpuStatus;
  buffer: { ok?: true; name?: string; code?: string; message?: string };
  nccl: { ok?: true; name?: string; code?: string; message?: string };
}

function run(env: Record<string, string | undefined>): Outcome {
  const clean = { ...process.env };
  for (const k of Object.keys(clean)) if (k.startsWith('MPI4NODE_') || k.startsWith('FAKE_')) delete clean[k];
  const r = spawnSync(process.execPath, ['--import', tsxImport(), fixture], {
    env: { ...clean, ...env }, encoding: 'utf8', timeout: 60_000,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Outcome;
  } catch {
    throw new Error(`fixture failed (${r.status}): ${r.stdout}\n${r.stderr}`);
  }
}

test('the real loader on this machine: unavailable, with the reason, and every GPU call says so', () => {
  const s = gpu.status();
  if (s.available) return; // a machine with a GPU: test/gpu/run.sh is the suite for it
  assert.ok(UNAVAILABLE.includes(s.code), s.code);
  assert.ok(s.reason.length > 20, s.reason);
  assert.not.ok(gpu.available());
  assert.ok(s.cuda.tried.length > 0, 'where it looked is listed');
  const noDevice = !existsSync('/dev/nvidia0') && !existsSync('/dev/nvidiactl');
  const toolkit = ['/usr/local/cuda/lib64/libcudart.so.13', '/usr/local/cuda/lib64/libcudart.so.12'].some(existsSync);
  if (toolkit && noDevice) {
    // The runtime loads, but finding it does not mean a GPU is usable.
    assert.is(s.code, 'ERR_NO_DRIVER', s.reason);
    assert.match(s.reason, /CUDA runtime \d+\.\d \(\/.*libcudart\.so\.1[23]\) loaded, but no NVIDIA driver is installed/);
    assert.match(s.cuda.runtimeVersion, /^1[23]\.\d$/);
    assert.is(s.cuda.driverVersion, '');
    assert.ok(s.cuda.tried.some((t) => t.error === ''), 'the runtime that loaded is among those tried');
  }
  if (s.code === 'ERR_CUDART_NOT_FOUND') {
    for (const t of s.cuda.tried) assert.ok(s.reason.includes(t.path), `${t.path} listed in the reason`);
  }
  for (const call of [() => new gpu.DeviceBuffer('float32', 1), () => gpu.nccl(), () => gpu.deviceCount()]) {
    try {
      call();
      assert.unreachable('a GPU call succeeded without a GPU');
    } catch (e) {
      assert.instance(e, gpu.GpuUnavailableError);
      assert.is((e as gpu.GpuUnavailableError).code, s.code);
      assert.is((e as Error).message, s.reason);
    }
  }
  if (!s.nccl.available) {
    assert.ok(['ERR_NCCL_NOT_FOUND', 'ERR_NCCL_SYMBOLS'].includes(s.nccl.code), s.nccl.code);
    if (s.nccl.code === 'ERR_NCCL_NOT_FOUND') {
      assert.match(s.nccl.reason, /libnccl\.so\.2/);
      assert.ok(s.nccl.tried.some((t) => t.path === 'libnccl.so.2'), 'the system library path was searched');
    }
  }
});

test('an explicit path that does not load is the only one tried', () => {
  const o = run({ MPI4NODE_CUDART: '/nonexistent/libcudart.so.13' });
  assert.is(o.available, false);
  assert.is(o.status.code, 'ERR_CUDART_NOT_FOUND');
  assert.equal(o.status.cuda.tried.map((t) => t.path), ['/nonexistent/libcudart.so.13']);
  assert.match(o.status.reason, /\/nonexistent\/libcudart\.so\.13: cannot open shared object file/);
  assert.match(o.status.reason, /MPI4NODE_CUDART/);
  assert.is(o.buffer.name, 'GpuUnavailableError');
  assert.is(o.buffer.code, 'ERR_CUDART_NOT_FOUND');
});

test('a library that is not a CUDA runtime', () => {
  const o = run({ MPI4NODE_CUDART: 'libm.so.6' });
  assert.is(o.status.code, 'ERR_CUDART_SYMBOLS');
  assert.match(o.status.reason, /is not a usable CUDA runtime: it has no cudaGetDeviceCount/);
});

test('driver missing, driver too old, no device: each reported as such (fake runtime)', () => {
  const { cudart } = buildFakes();
  const none = run({ MPI4NODE_CUDART: cudart, FAKE_CUDA_DRIVER: 'none' });
  assert.is(none.status.code, 'ERR_NO_DRIVER');
  assert.match(none.status.reason, /CUDA runtime 13\.0 \(.*libfakecudart\.so\) loaded, but no NVIDIA driver is installed/);
  assert.is(none.buffer.code, 'ERR_NO_DRIVER');
  const old = run({ MPI4NODE_CUDART: cudart, FAKE_CUDA_DRIVER: 'old' });
  assert.is(old.status.code, 'ERR_DRIVER_TOO_OLD');
  assert.match(old.status.reason, /the NVIDIA driver supports CUDA only up to 12\.4/);
  assert.is(old.status.cuda.driverVersion, '12.4');
  const zero = run({ MPI4NODE_CUDART: cudart, FAKE_CUDA_DEVICES: '0' });
  assert.is(zero.status.code, 'ERR_NO_DEVICE');
  assert.match(zero.status.reason, /there is no CUDA device/);
});

test('a runtime the driver cannot run does not end the search: the next candidate is tried', () => {
  const { cudart, cudart12 } = buildFakes();
  const both = `${cudart}${path.delimiter}${cudart12}`;
  const o = run({ MPI4NODE_CUDART: both, FAKE_CUDA_DRIVER: 'old' });
  assert.is(o.available, true, o.status.reason);
  assert.is(o.status.cuda.path, cudart12);
  assert.is(o.status.cuda.runtimeVersion, '12.0');
  assert.is(o.status.cuda.driverVersion, '12.4');
  assert.equal(o.status.cuda.tried.map((t) => t.path), [cudart, cudart12]);
  assert.match(o.status.cuda.tried[0]!.error, /CUDA runtime 13\.0 .* the NVIDIA driver supports CUDA only up to 12\.4/);
  assert.is(o.status.cuda.tried[1]!.error, '');
  assert.equal(o.buffer, { ok: true });
  // None usable: the first failure is the answer, every one is listed.
  const none = run({ MPI4NODE_CUDART: `${cudart}${path.delimiter}/nonexistent/libcudart.so.12`, FAKE_CUDA_DRIVER: 'old' });
  assert.is(none.status.code, 'ERR_DRIVER_TOO_OLD');
  assert.is(none.status.cuda.path, cudart);
  assert.equal(none.status.cuda.tried.map((t) => t.path), [cudart, '/nonexistent/libcudart.so.12']);
  assert.is(none.status.cuda.tried[0]!.error, '', 'the runtime status() describes');
  assert.match(none.status.cuda.tried[1]!.error, /cannot open shared object file/);
});

test('a stub driver and a refused driver/runtime combination are named', () => {
  const { cudart, cudart12 } = buildFakes();
  const stub = run({ MPI4NODE_CUDART: cudart, FAKE_CUDA_INIT_ERROR: '34' });
  assert.is(stub.status.code, 'ERR_NO_DRIVER');
  assert.match(stub.status.reason, /the libcuda\.so\.1 found is the toolkit's stub; cudaGetDeviceCount: cudaErrorStubLibrary/);
  for (const code of ['803', '804']) {
    const o = run({ MPI4NODE_CUDART: `${cudart}${path.delimiter}${cudart12}`, FAKE_CUDA_INIT_ERROR: code });
    assert.is(o.status.code, 'ERR_DRIVER_MISMATCH');
    assert.match(o.status.reason, code === '803' ? /refuses this runtime: cudaErrorSystemDriverMismatch/ : /cudaErrorCompatNotSupportedOnDevice/);
    assert.equal(o.status.cuda.tried.map((t) => t.path), [cudart, cudart12], 'the search went on');
    assert.is(o.buffer.code, 'ERR_DRIVER_MISMATCH');
  }
});

test('a usable GPU without NCCL: buffers work, NCCL calls say NCCL is missing', () => {
  const { cudart } = buildFakes();
  const o = run({ MPI4NODE_CUDART: cudart, MPI4NODE_NCCL: '/nonexistent/libnccl.so.2' });
  assert.is(o.available, true);
  assert.is(o.status.code, '');
  assert.equal(o.buffer, { ok: true });
  assert.is(o.status.nccl.available, false);
  assert.is(o.status.nccl.code, 'ERR_NCCL_NOT_FOUND');
  assert.is(o.nccl.name, 'GpuUnavailableError');
  assert.is(o.nccl.code, 'ERR_NCCL_NOT_FOUND');
  assert.match(o.nccl.message ?? '', /\/nonexistent\/libnccl\.so\.2/);
});

test('search order: explicit path; Python wheel folders; the system path; $CUDA_HOME/lib64', () => {
  const venv = mkdtempSync(path.join(os.tmpdir(), 'mpi4node-venv-'));
  const sp = path.join(venv, 'lib', 'python3.11', 'site-packages');
  for (const [dir, file] of [['nvidia/nccl/lib', 'libnccl.so.2'], ['nvidia/cu13/lib', 'libcudart.so.13']]) {
    mkdirSync(path.join(sp, dir), { recursive: true });
    writeFileSync(path.join(sp, dir, file), '');
  }
  const env = { VIRTUAL_ENV: venv, PATH: '/nonexistent', HOME: venv, PYENV_ROOT: venv, CUDA_HOME: '/opt/cuda' };
  assert.equal(gpu.ncclCandidates(env), [path.join(sp, 'nvidia/nccl/lib/libnccl.so.2'), 'libnccl.so.2', '/opt/cuda/lib64/libnccl.so.2']);
  assert.equal(gpu.cudartCandidates(env), [path.join(sp, 'nvidia/cu13/lib/libcudart.so.13'), 'libcudart.so.13', 'libcudart.so.12',
    '/opt/cuda/lib64/libcudart.so.13', '/opt/cuda/lib64/libcudart.so.12']);
  assert.equal(gpu.ncclCandidates({ ...env, MPI4NODE_NCCL: 'rel/libnccl.so.2' }), [path.resolve('rel/libnccl.so.2')]);
});

test('NCCL version codes: X*1000+Y*100+Z before 2.9, X*10000+Y*100+Z after', () => {
  assert.equal(gpu.decodeNcclVersion(2804), [2, 8, 4]);
  assert.equal(gpu.decodeNcclVersion(20900), [2, 9, 0]);
  assert.equal(gpu.decodeNcclVersion(21003), [2, 10, 3]);
  assert.equal(gpu.decodeNcclVersion(22105), [2, 21, 5]);
  assert.equal(gpu.decodeNcclVersion(22403), [2, 24, 3]);
});

test.run();
