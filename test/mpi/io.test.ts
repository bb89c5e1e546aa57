// MPI-IO under mpirun with 1-4 ranks: the checkpoint of examples/checkpoint.ts checked byte for byte
// against what one process writes with node:fs, offsets past 2 GiB (a sparse file: a few bytes there,
// nothing in between), every access form in both call styles, sizes, hints, and the bad inputs (a file
// opened read-only then written, a view whose element type is not the buffer's, bad modes and offsets).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { world, File, Info, MpiError, Request } from '../../lib/index.js';
import { C } from '../../lib/addon/binding.js';
import { loadCheckpoint, saveCheckpoint, shardOf } from '../../examples/checkpoint.js';
import { thrown } from '../thrown.js';

const rank = world.rank, size = world.size;
const dir = world.bcastObject(rank === 0 ? mkdtempSync(path.join(os.tmpdir(), 'mpi4node-io-')) : undefined) as string;
const at = (name: string) => path.join(dir, name);
const GiB2 = 2 ** 31;

test('checkpoint: shards of unequal sizes written collectively are the bytes node:fs writes for them in rank order', async () => {
  const file = at('model.ckpt');
  const shard = shardOf(rank);
  await saveCheckpoint(world, file, shard);
  const back = loadCheckpoint(world, file, shard.length);
  assert.equal(Array.from(back), Array.from(shard));
  if (rank === 0) {
    const shards = Array.from({ length: size }, (_, r) => shardOf(r));
    writeFileSync(at('model.fs'), Buffer.concat(shards.map((s) => Buffer.from(s.buffer, s.byteOffset, s.byteLength))));
    assert.ok(readFileSync(file).equals(readFileSync(at('model.fs'))), 'the MPI file and the node:fs file differ');
  }
  world.barrier();
});

test('offsets past 2 GiB and 4 GiB: a sparse file, a few bytes each, read back through MPI and node:fs', () => {
  const file = at('sparse.bin');
  const f = File.open(world, file, 'w+');
  const mine = new Uint8Array([0xa0 + rank, 1, 2, rank]);
  assert.is(f.writeAtAll(GiB2 + 16 * rank + 3, mine), 4);
  if (rank === 0) assert.is(f.writeAt(2 ** 32 + 5, new Uint8Array([7, 7])), 2);
  f.sync();
  world.barrier();
  f.sync();
  assert.is(f.getSize(), 2 ** 32 + 7);
  const got = new Uint8Array(4);
  const peer = (rank + 1) % size;
  assert.is(f.readAt(GiB2 + 16 * peer + 3, got), 4);
  assert.equal(Array.from(got), [0xa0 + peer, 1, 2, peer]);
  // Element offsets of a float32 view past 2^31 bytes.
  f.setView(0, 'float32');
  const x = new Float32Array([rank + 0.5]);
  assert.is(f.writeAtAll(2 ** 29 + 64 + rank, x), 1);
  f.sync();
  world.barrier();
  f.sync();
  const y = new Float32Array(size);
  assert.is(f.readAtAll(2 ** 29 + 64, y), size);
  assert.equal(Array.from(y), Array.from({ length: size }, (_, r) => r + 0.5));
  f.close();
  if (rank === 0) {
    const fd = openSync(file, 'r');
    const b = Buffer.alloc(4);
    readSync(fd, b, 0, 4, GiB2 + 3);
    assert.equal(Array.from(b), [0xa0, 1, 2, 0]);
    readSync(fd, b, 0, 4, GiB2 + 256 + 4 * (size - 1));
    assert.is(b.readFloatLE(0), size - 0.5);
    closeSync(fd);
  }
  world.barrier();
});

test('every access form, blocking and Promise: explicit offsets, individual, shared and ordered file pointers', async () => {
  const file = at('forms.bin');
  const f = File.open(world, file, 'w+');
  f.setView(0, 'int32');
  const block = (tag: number) => Int32Array.from({ length: 4 }, (_, i) => tag * 1000 + rank * 10 + i);
  const region = (k: number) => (k * size + rank) * 4; // each form writes its own region, one block per rank
  assert.is(f.writeAt(region(0), block(0)), 4);
  assert.is(await f.iwriteAt(region(1), block(1)), 4);
  assert.is(f.writeAtAll(region(2), block(2)), 4);
  const w = f.iwriteAtAll(region(3), block(3));
  assert.instance(w, Request);
  assert.is(await w, 4);
  f.seek(region(4));
  assert.is(f.write(block(4)), 4);
  assert.is(f.position(), region(4) + 4);
  f.seek(region(5));
  assert.is(await f.iwrite(block(5)), 4);
  f.seek(region(6));
  assert.is(f.writeAll(block(6)), 4);
  f.seek(region(7));
  assert.is(await f.iwriteAll(block(7)), 4);
  f.seek(-4, 'cur');
  assert.is(f.position(), region(7));
  f.sync();
  world.barrier();
  f.sync();
  for (let k = 0; k < 8; k++) {
    const got = new Int32Array(4);
    const p = (rank + 1) % size; // a neighbour's block
    const off = (k * size + p) * 4;
    assert.is(k % 2 === 0 ? f.readAtAll(off, got) : await f.ireadAt(off, got), 4);
    assert.equal(Array.from(got), Array.from({ length: 4 }, (_, i) => k * 1000 + p * 10 + i), `form ${k}`);
  }
  f.seek(region(2));
  const r1 = new Int32Array(4);
  assert.is(f.read(r1), 4);
  assert.equal(r1, block(2));
  assert.is(await f.iread(r1), 4); // the pointer moved past: the next rank's block of form 2
  assert.is(r1[0], rank + 1 < size ? 2000 + (rank + 1) * 10 : 3000);
  f.seek(region(6));
  assert.is(f.readAll(r1), 4);
  assert.equal(r1, block(6));
  f.seek(region(3));
  assert.is(await f.ireadAll(r1), 4);
  assert.equal(r1, block(3));
  // Reading past the end moves fewer elements.
  const end = f.getSize() / 4;
  assert.is(f.readAt(end - 2, new Int32Array(4)), 2);
  f.close();

  // The shared file pointer: ordered forms in rank order, the others in whatever order ranks come.
  const g = File.open(world, at('shared.bin'), 'w+');
  g.setView(0, 'float64');
  assert.is(g.writeOrdered(new Float64Array(rank + 1).fill(rank)), rank + 1);
  const total = (size * (size + 1)) / 2;
  assert.is(g.positionShared(), total);
  world.barrier(); // every rank has read it before any moves it
  assert.is(g.writeShared(new Float64Array([100 + rank])), 1);
  assert.is(await g.iwriteShared(new Float64Array([200 + rank])), 1);
  world.barrier();
  assert.is(g.positionShared(), total + 2 * size);
  g.sync();
  world.barrier();
  g.sync();
  g.seekShared(0);
  const mine = new Float64Array(rank + 1);
  assert.is(g.readOrdered(mine), rank + 1);
  assert.equal(Array.from(mine), new Array(rank + 1).fill(rank));
  const rest = new Float64Array(2 * size);
  assert.is(g.readAt(total, rest), 2 * size);
  assert.equal(Array.from(rest).sort((a, b) => a - b), [...Array.from({ length: size }, (_, r) => 100 + r), ...Array.from({ length: size }, (_, r) => 200 + r)]);
  world.barrier();
  g.seekShared(total);
  const one = new Float64Array(1);
  assert.is(g.readShared(one), 1);
  assert.ok(one[0]! >= 100 && one[0]! < 200 + size);
  world.barrier();
  const two = new Float64Array(1);
  assert.is(await g.ireadShared(two), 1);
  g.close();
});

test('sizes and space: getSize, setSize (collective, truncates and extends), preallocate, sync; append mode', () => {
  const file = at('size.bin');
  const f = File.open(world, file, 'w');
  assert.is(f.getSize(), 0);
  f.setSize(1000);
  assert.is(f.getSize(), 1000);
  f.setSize(10);
  assert.is(f.getSize(), 10);
  f.sync();
  assert.is(f.mode, 'w');
  assert.is(f.path, file);
  assert.equal(f.view, { disp: 0, dtype: 'byte' });
  assert.not.ok(f.closed);
  // Open MPI 4.1 cannot preallocate a write-only file (ERR_ACCESS, with the reason), MPICH can; 'r+' works on both.
  if (C.IMPLEMENTATION === 'openmpi') {
    const e = thrown(() => f.preallocate(4096));
    assert.instance(e, MpiError);
    assert.is(e.code, 'ERR_ACCESS');
    assert.match(e.message, /open it 'w\+' or 'a\+'/);
    assert.is(f.getSize(), 10, 'refused before MPI extends the file');
  } else {
    f.preallocate(4096);
    assert.is(f.getSize(), 4096);
    f.setSize(10);
  }
  f.close();
  assert.ok(f.closed);
  f.close(); // twice: a no-op
  const p = File.open(world, file, 'r+');
  p.preallocate(4096);
  assert.is(p.getSize(), 4096);
  p.preallocate(100); // never shrinks
  assert.is(p.getSize(), 4096);
  p.preallocate(4096); // the size it has (Open MPI 4.1.4 alone would double it)
  assert.is(p.getSize(), 4096);
  p.close();
  // 'w' truncates what was there; 'a' starts the file pointers at the end.
  const g = File.open(world, file, 'a');
  assert.is(g.getSize(), 4096);
  assert.is(g.position(), 4096);
  g.close();
  const h = File.open(world, file, 'w');
  assert.is(h.getSize(), 0);
  h.close();
  world.barrier();
});

test('a view with a displacement: offsets count elements from it', () => {
  const f = File.open(world, at('disp.bin'), 'w+');
  f.setView(8, 'float64');
  assert.equal(f.view, { disp: 8, dtype: 'float64' });
  f.writeAtAll(rank, new Float64Array([rank * 1.5]));
  f.setView(0);
  const b = new Uint8Array(8);
  f.sync();
  world.barrier();
  f.sync();
  f.readAt(8 + 8 * rank, b);
  assert.is(new Float64Array(b.buffer)[0], rank * 1.5);
  f.close();
});

test('hints: an Info or a plain object at open; getInfo returns the hints in use', () => {
  const hints = new Info({ cb_buffer_size: 1048576, romio_cb_write: 'enable' });
  const f = File.open(world, at('hints.bin'), 'w', hints);
  hints.free();
  const used = f.getInfo();
  assert.instance(used, Info);
  // Open MPI 4.1 (OMPIO) reports only what it was given; MPICH (ROMIO) every hint in use.
  assert.is(used.get('cb_buffer_size'), '1048576');
  used.free();
  f.close();
  const g = File.open(world, at('hints.bin'), 'r', { cb_nodes: '1' });
  g.close();
});

test('bad inputs: read-only files written, views that do not match, modes, offsets, closed and missing files', async () => {
  const file = at('ro.bin');
  const w = File.open(world, file, 'w');
  w.close();
  const f = File.open(world, file, 'r');
  for (const write of [() => f.writeAt(0, new Uint8Array(4)), () => f.writeAtAll(0, new Uint8Array(4)), () => f.iwriteAt(0, new Uint8Array(4)),
    () => f.setSize(0), () => f.preallocate(10)]) {
    const e = thrown(write);
    assert.instance(e, MpiError);
    assert.is(e.code, 'ERR_READ_ONLY', e.message);
  }
  // The file is still usable.
  assert.is(f.readAt(0, new Uint8Array(4)), 0);
  f.setView(0, 'float32');
  for (const [buf, name] of [[new Float64Array(2), 'Float64Array'], [new Int32Array(2), 'Int32Array'], [new Uint8Array(8), 'Uint8Array']] as const) {
    const e = thrown(() => f.readAt(0, buf));
    assert.instance(e, TypeError);
    assert.is(e.code, 'ERR_DTYPE_MISMATCH');
    assert.match(e.message, name);
  }
  assert.is(thrown(() => f.ireadAt(0, new Float64Array(1))).code, 'ERR_DTYPE_MISMATCH');
  assert.is(f.readAt(0, new Float32Array(1)), 0);
  for (const off of [-1, 0.5, 2 ** 53, Number.NaN]) assert.is(thrown(() => f.readAt(off, new Float32Array(1))).code, 'ERR_OFFSET');
  assert.is(thrown(() => f.readAt('0' as any, new Float32Array(1))).code, 'ERR_OFFSET');
  assert.is(thrown(() => f.setView(0, 'float128' as any)).code, 'ERR_INVALID_DTYPE');
  assert.is(thrown(() => f.seek(-1)).code, 'ERR_OFFSET');
  assert.is(thrown(() => f.seek(0, 'middle' as any)).code, 'ERR_INVALID_ARG_VALUE');
  assert.is(thrown(() => f.readAt(0, {} as any)).code, 'ERR_INVALID_BUFFER');
  f.close();
  for (const mode of ['rw', 'x', '', 'R', 7, undefined as any]) {
    if (mode === undefined) continue;
    const e = thrown(() => File.open(world, file, mode as any));
    assert.instance(e, TypeError);
    assert.is(e.code, 'ERR_INVALID_MODE');
  }
  const closed = thrown(() => f.readAt(0, new Float32Array(1)));
  assert.is(closed.code, 'ERR_FILE_CLOSED');
  const missing = thrown(() => File.open(world, at('missing.bin'), 'r'));
  assert.instance(missing, MpiError);
  assert.is(missing.code, 'ERR_NO_SUCH_FILE');
  const exists = thrown(() => File.open(world, file, 'wx'));
  assert.instance(exists, MpiError);
  assert.is(exists.code, 'ERR_FILE_EXISTS');
  assert.is(thrown(() => File.open(world, file, 'w', { '': 'x' })).code, 'ERR_INFO_KEY');
  assert.is(thrown(() => File.open(world, '', 'w')).code, 'ERR_INVALID_ARG_TYPE');
  // close() refuses while a Promise form is pending, then works.
  const g = File.open(world, at('pending.bin'), 'w');
  const r = g.iwriteAt(0, new Uint8Array(1 << 16));
  if (!r.done) assert.is(thrown(() => g.close()).code, 'ERR_FILE_PENDING');
  await r;
  g.close();
  world.barrier();
  if (rank === 0) {
    File.delete(at('pending.bin'));
    const e = thrown(() => File.delete(at('pending.bin')));
    assert.instance(e, MpiError);
    assert.is(e.code, 'ERR_NO_SUCH_FILE');
  }
  world.barrier();
});

test.after(() => {
  world.barrier();
  if (rank === 0) rmSync(dir, { recursive: true, force: true });
});

test.run();
