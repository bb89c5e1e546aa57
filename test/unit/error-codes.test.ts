// The one error-code vocabulary (lib/core/codes.ts): the codes a sample of bad calls throws are members
// of the exported lists, every code literal in lib/ and every code the addon names is listed, and the
// error classes' `code` fields narrow to their family's type. Runs in one process (a world of 1 rank).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ARGUMENT_ERROR_CODES, createOp, decodeMessage, dtypeInfo, ERROR_CODES, gpu, isErrorCode, LaunchError,
  MPI_ERROR_CODES, MpiError, STATE_ERROR_CODES, TimeoutError, WIRE_ERROR_CODES, world, type ArgumentErrorCode,
  type ErrorCode, type MpiErrorCode, type StateErrorCode, type WireErrorCode,
} from '../../lib/index.js';
import { native } from '../../lib/addon/binding.js';
import { GPU_ERR, makeGpuError } from '../../lib/gpu/errors.js';
import { thrown } from '../thrown.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && d.name.endsWith('.ts'))
    .map((d) => path.join(d.parentPath, d.name));
}

test('the lists: no code twice, and isErrorCode accepts them and the made ones only', () => {
  assert.is(new Set(ERROR_CODES).size, ERROR_CODES.length);
  for (const list of [MPI_ERROR_CODES, ARGUMENT_ERROR_CODES, STATE_ERROR_CODES, WIRE_ERROR_CODES]) {
    assert.is(new Set(list).size, list.length);
    for (const c of list) assert.ok(ERROR_CODES.includes(c), c);
  }
  for (const c of ERROR_CODES) assert.ok(isErrorCode(c), c);
  for (const c of ['ERR_UNKNOWN_CLASS_77', 'ncclResult12', 'cudaErrorMemoryAllocation']) assert.ok(isErrorCode(c), c);
  for (const c of ['ERR_BUFFER_SIZE', 'ERR_INVALID_OP', 'ERR_INVALID_TIMEOUT', 'ENOENT', '', 7, undefined]) {
    assert.not.ok(isErrorCode(c), String(c));
  }
});

test('a sample of bad calls: each code is in the exported lists, with the right error class', async () => {
  const b = new Int32Array(2);
  const cases: [() => unknown, Function, ErrorCode][] = [
    [() => world.send({} as any, 0), TypeError, 'ERR_INVALID_BUFFER'],
    [() => world.send(b, 5), RangeError, 'ERR_RANK'],
    [() => world.send(b, 0.5), TypeError, 'ERR_INVALID_RANK'],
    [() => world.send(b, 0, -1), RangeError, 'ERR_TAG'],
    [() => world.recv(b, 0, 'x' as any), TypeError, 'ERR_INVALID_TAG'],
    [() => world.bcast(b, 3), RangeError, 'ERR_ROOT'],
    [() => world.allreduce(new Float64Array(2), 'band'), TypeError, 'ERR_OP'],
    [() => world.allreduce(new Float64Array(2), 'sum', new Float64Array(1)), RangeError, 'ERR_BUFFER_TOO_SMALL'],
    [() => world.allreduce(new Float64Array(2), 'sum', new Int32Array(2) as any), TypeError, 'ERR_DTYPE_MISMATCH'],
    [() => world.allgatherv(b, [1, 2]), RangeError, 'ERR_COUNTS'],
    [() => world.split(-3), RangeError, 'ERR_INVALID_COLOR'],
    [() => world.free(), TypeError, 'ERR_COMM_PREDEFINED'],
    [() => dtypeInfo('complex64'), TypeError, 'ERR_INVALID_DTYPE'],
    [() => createOp(42 as any), TypeError, 'ERR_OP'],
    [() => world.channel('codes', null as any), TypeError, 'ERR_INVALID_ARG_TYPE'],
    [() => world.channel('codes', { version: '1.x' }), TypeError, 'ERR_INVALID_ARG_VALUE'],
    [() => world.graph([['x'] as any]), Error, 'ERR_ADJACENCY'],
    [() => gpu.configureStaging({ chunkBytes: 0 }), RangeError, 'ERR_INVALID_CHUNK'],
    [() => decodeMessage(new Uint8Array(3)), Error, 'EBADMSG'],
  ];
  for (const [fn, type, code] of cases) {
    const e = thrown(fn);
    assert.instance(e, type, `${code}: ${e}`);
    assert.is(e.code, code, e.message);
    assert.ok(isErrorCode(e.code), e.code);
  }

  const ch = world.channel('codes', { version: 1 });
  await ch.close();
  assert.is(thrown(() => ch.send(0, 1)).code, 'ERR_CHANNEL_CLOSED' satisfies StateErrorCode);

  const barrier = world.ibarrier();
  assert.is(thrown(() => barrier.cancel()).code, 'ERR_CANCEL_COLLECTIVE' satisfies StateErrorCode);
  await barrier;

  // MPI's own: a truncated receive, and the library's native conditions.
  const sent = world.isend(new Int32Array(10), 0, 5);
  const e = thrown(() => world.recv(new Int32Array(4), 0, 5)) as MpiError;
  await sent;
  assert.instance(e, MpiError);
  const truncate: MpiErrorCode = e.code;
  assert.is(truncate, 'ERR_TRUNCATE');
  for (const code of [-1001, -1002, -1003, -1004]) {
    const n = native.errorFor(code) as MpiError;
    assert.ok(MPI_ERROR_CODES.includes(n.code as (typeof MPI_ERROR_CODES)[number]), n.code);
  }
});

test('GPU errors from native failure records carry GpuErrorCode values', () => {
  const made = [
    makeGpuError(GPU_ERR.cuda, 2, 'cudaErrorMemoryAllocation: out of memory'),
    makeGpuError(GPU_ERR.cuda, 999, 'CUDA error 999'),
    makeGpuError(GPU_ERR.nccl, 3, 'internal error'),
    makeGpuError(GPU_ERR.nccl, 42, 'from the future'),
    makeGpuError(GPU_ERR.timeout, 1000, ''),
    makeGpuError(GPU_ERR.ncclAsync, 2, 'system error'),
    makeGpuError(GPU_ERR.aborted, 0, ''),
    makeGpuError(GPU_ERR.usage, 1, 'misuse'),
  ];
  assert.equal(made.map((e) => e.code), [
    'cudaErrorMemoryAllocation', 'cudaError999', 'ncclInternalError', 'ncclResult42', 'ERR_NCCL_TIMEOUT',
    'ERR_NCCL_ASYNC', 'ERR_NCCL_ABORTED', 'ERR_GPU_USAGE',
  ]);
  for (const e of made) assert.ok(isErrorCode(e.code), e.message);
  const s = gpu.status();
  if (!s.available) assert.ok(gpu.GPU_UNAVAILABLE_CODES.includes(s.code as gpu.GpuUnavailableCode), s.code);
});

test('every code literal in lib/ is listed', () => {
  const missing: string[] = [];
  for (const file of sourceFiles(path.join(ROOT, 'lib'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/'(ERR_[A-Z0-9_]+|E[A-Z]{3,})'/g)) {
      if (m[1] === 'ENOENT' && file.includes(`${path.sep}cli${path.sep}`)) continue; // a child process's error, not ours
      if (!isErrorCode(m[1])) missing.push(`${path.relative(ROOT, file)}: ${m[1]}`);
    }
  }
  assert.equal(missing, []);
});

test('every code the addon names is listed (native/core/errors.cc, native/gpu/loader)', () => {
  const read = (f: string) => readFileSync(path.join(ROOT, 'native', f), 'utf8');
  const mpi = read('core/errors.cc');
  const named = [...mpi.matchAll(/\bC\((ERR_[A-Z_]+)\)/g), ...mpi.matchAll(/"(ERR_[A-Z_]*[A-Z])"/g)].map((m) => m[1]!);
  assert.ok(named.length > 50, `${named.length} MPI classes found`);
  for (const c of named) assert.ok(MPI_ERROR_CODES.includes(c as (typeof MPI_ERROR_CODES)[number]), c);
  const loader = read('gpu/loader.cc') + read('gpu/loader.h');
  const gpuNamed = [...loader.matchAll(/"(ERR_[A-Z_]+)"/g)].map((m) => m[1]!);
  assert.ok(gpuNamed.length >= 9, `${gpuNamed.length} GPU codes found`);
  for (const c of gpuNamed) assert.ok(gpu.GPU_UNAVAILABLE_CODES.includes(c as gpu.GpuUnavailableCode), c);
});

test('the classes’ code fields are typed by family (compile-time; the values are checked too)', () => {
  const launch: StateErrorCode = new LaunchError('x').code;
  const timeout: WireErrorCode = new TimeoutError('x', 1).code;
  const arg: ArgumentErrorCode = 'ERR_COUNTS';
  const all: ErrorCode[] = [launch, timeout, arg];
  assert.equal(all, ['ERR_MPI_LAUNCH', 'ETIMEDOUT', 'ERR_COUNTS']);
});

test.run();
