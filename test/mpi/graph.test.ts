// Agent graphs under mpirun with 1-4 ranks: comm.graph(adjacency) on MPI's distributed graph topology,
// neighbours and edges, channels that keep to the edges, neighbour collectives, and invalid matrices
// rejected alike on every rank. Every rank makes the same collective calls in the same order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  world, GraphComm, AdjacencyError, PermissionError, ANY_SOURCE, ANY_TAG, Request, type Envelope, type Tensor,
} from '../../lib/index.js';
import { native } from '../../lib/addon/binding.js';
import { asyncBarrier, rejects, ringSend, thrown } from './chan-util.js';

const rank = world.rank, size = world.size;
const next = (rank + 1) % size, prev = (rank - 1 + size) % size;
const sync = world.dup();

/** n x n matrix with entry f(i, j). */
const matrix = (f: (i: number, j: number) => number) =>
  Array.from({ length: size }, (_, i) => Array.from({ length: size }, (_, j) => f(i, j)));
// A directed ring i -> i+1 (at 1 rank, a self-loop).
const ring = () => matrix((i, j) => (j === (i + 1) % size ? 1 : 0));
// A star: 0 <-> every other rank, no other edges (at 1 rank, no edges at all).
const star = () => matrix((i, j) => (i !== j && (i === 0 || j === 0) ? 1 : 0));

test('a ring: neighbours, edges and weights from the matrix', () => {
  const g = world.graph(ring());
  assert.instance(g, GraphComm);
  assert.is(g.size, size);
  assert.is(g.rank, rank);
  assert.equal(g.inNeighbors, [prev]);
  assert.equal(g.outNeighbors, [next]);
  assert.ok(g.canSend(rank, next));
  assert.is(g.canSend(next, rank), size <= 2);
  assert.is(g.canSend(rank, size), false);
  assert.is(g.canSend(-1, 0), false);
  assert.is(g.weight(rank, next), 1);
  assert.equal(g.adjacency, ring());
  g.free();
});

test('weights: any non-negative number; MPI gets them when they are integers', () => {
  const w = matrix((i, j) => (i !== j ? 1 + i + j / 2 : 0));
  const g = world.graph(w);
  assert.equal(g.outNeighbors, Array.from({ length: size }, (_, j) => j).filter((j) => j !== rank));
  if (size > 1) assert.is(g.weight(rank, next), 1 + rank + next / 2);
  assert.is(g.weight(rank, rank), 0);
  if (size > 1) assert.is(native.distGraphNeighbors(g._handle())[4], false, 'fractional weights stay ours: MPI gets none');
  g.free();
  const ints = world.graph(matrix((i, j) => (i !== j ? 10 * i + j : 0)));
  const [src, sw2, dst, dw2, weighted] = native.distGraphNeighbors(ints._handle());
  assert.is(weighted, true);
  assert.equal(Array.from(sw2), Array.from(src).map((i) => 10 * i + rank));
  assert.equal(Array.from(dw2), Array.from(dst).map((j) => 10 * rank + j));
  ints.free();
});

test('neighborAllgather and neighborAlltoall, both forms, in the graph\'s neighbour order', async () => {
  const g = world.graph(matrix((i, j) => (i !== j ? 1 : 0))); // complete graph, no self-loops
  const others = Array.from({ length: size }, (_, j) => j).filter((j) => j !== rank);
  assert.equal(g.inNeighbors, others);
  const mine = new Int32Array([rank, rank * 10]);
  const got = g.neighborAllgather(mine);
  assert.equal(Array.from(got), others.flatMap((j) => [j, j * 10]));
  const req = g.ineighborAllgather(new Float64Array([rank + 0.5]));
  assert.instance(req, Request);
  assert.equal(Array.from(await req), others.map((j) => j + 0.5));
  // alltoall: block i goes to outNeighbors[i] and says who it is for.
  const send = new Float32Array(g.outNeighbors.flatMap((j) => [rank, j]));
  const recv = new Float32Array(2 * g.inNeighbors.length);
  assert.is(g.neighborAlltoall(send, recv), recv);
  assert.equal(Array.from(recv), g.inNeighbors.flatMap((i) => [i, rank]));
  assert.equal(Array.from(await g.ineighborAlltoall(send)), Array.from(recv));
  g.free();
  // A ring with a self-loop weight elsewhere: order and degrees from MPI, not assumptions.
  const r = world.graph(ring());
  assert.equal(Array.from(r.neighborAllgather(new Uint8Array([rank, 7]))), [prev, 7]);
  assert.equal(Array.from(await r.ineighborAlltoall(new BigInt64Array([BigInt(rank)]))), [BigInt(prev)]);
  r.free();
});

test('neighbour collectives on a star, where degrees differ between ranks', async () => {
  const g = world.graph(star());
  const deg = rank === 0 ? size - 1 : size > 1 ? 1 : 0;
  assert.is(g.inNeighbors.length, deg);
  const all = g.neighborAllgather(new Int16Array([rank]));
  assert.equal(Array.from(all), rank === 0 ? Array.from({ length: size - 1 }, (_, k) => k + 1) : size > 1 ? [0] : []);
  const a2a = await g.ineighborAlltoall(new Int16Array(g.outNeighbors.map((j) => 100 * rank + j)));
  assert.equal(Array.from(a2a), g.inNeighbors.map((i) => 100 * i + rank));
  g.free();
});

test('bad neighbour-collective buffers: TypeError/RangeError before anything is posted', async () => {
  const g = world.graph(matrix((i, j) => (i !== j ? 1 : 0)));
  const outs = g.outNeighbors.length;
  if (outs > 0) {
    assert.is(thrown(() => g.neighborAllgather(new Int32Array(1), new Int32Array(outs + 1))).code, 'ERR_BUFFER_TOO_SMALL');
    assert.is(thrown(() => g.neighborAllgather(new Int32Array(1), new Float32Array(outs))).code, 'ERR_DTYPE_MISMATCH');
    if (outs > 1) assert.is(thrown(() => g.neighborAlltoall(new Int32Array(outs + 1))).code, 'ERR_COUNTS');
    assert.is(thrown(() => g.ineighborAllgather(new Int32Array(1), new Int32Array(outs + 1))).code, 'ERR_BUFFER_TOO_SMALL');
  }
  assert.is(thrown(() => g.neighborAllgather('nope' as any)).code, 'ERR_INVALID_BUFFER');
  // The graph is still usable: nothing was posted.
  assert.is(g.neighborAllgather(new Int32Array([rank])).length, outs);
  g.free();
});

test('graph channels keep to the edges: PermissionError before any byte moves', async () => {
  const g = world.graph(ring());
  const ch = g.channel('g/ring', { version: 1 });
  ringSend(ch, next, { hop: rank });
  assert.equal(ch.recv(prev).message, { hop: prev });
  if (size >= 3) {
    const err = thrown(() => ch.send(prev, { against: 'the edge' }));
    assert.instance(err, PermissionError);
    assert.is(err.code, 'EPERM');
    assert.is(err.peer, prev);
    assert.is(err.channel, 'g/ring');
    assert.match(err.message, `no edge ${rank} -> ${prev}`);
    assert.instance(thrown(() => ch.recv(next)), PermissionError);
    assert.instance(thrown(() => ch.irecv(next)), PermissionError);
    assert.instance(thrown(() => ch.isend(prev, 1)), PermissionError);
    // A request needs the edge there and the edge back.
    const req = thrown(() => ch.request(next, 1));
    assert.instance(req, PermissionError);
    assert.match(req.message, `no edge ${next} -> ${rank}`);
    assert.instance(thrown(() => ch.serve(() => 0, { source: next })), PermissionError);
  }
  await asyncBarrier(sync);
  // Nothing was sent along a missing edge: no message waits on the graph's private communicator.
  assert.is(native.iprobe(ANY_SOURCE, ANY_TAG, g._handle(true)), false);
  await ch.close();
  g.free();
});

test('request/reply along two-way edges of a star (generators -> verifier)', async () => {
  const g = world.graph(star());
  const ch = g.channel('g/verify', { version: 1, dtype: 'float64' });
  const server = rank === 0 ? ch.serve((m: Tensor<Float64Array>) => m.data.map((x) => x * x)) : undefined;
  if (rank !== 0) {
    const r: Envelope<Tensor<Float64Array>> = await ch.request(0, new Float64Array([rank, 2]), { timeoutMs: 30_000 });
    assert.equal(Array.from(r.message.data), [rank * rank, 4]);
    assert.is(r.source, 0);
    if (size >= 3) assert.instance(thrown(() => ch.request(rank === 1 ? 2 : 1, new Float64Array(1))), PermissionError);
  }
  await asyncBarrier(sync);
  await server?.close();
  if (rank === 0) assert.is(ch.stats.served, size - 1);
  await ch.close();
  g.free();
});

test('a graph channel and a world channel of the same name are separate mailboxes', () => {
  const g = world.graph(ring());
  const gc = g.channel('g/same', { version: 1 }), wc = world.channel('g/same', { version: 1 });
  ringSend(wc, next, 'world');
  ringSend(gc, next, 'graph');
  assert.is(gc.recv(prev).message, 'graph');
  assert.is(wc.recv(prev).message, 'world');
  gc.close();
  wc.close();
  g.free();
});

test('invalid matrices: the same AdjacencyError on every rank, nobody left in a collective', () => {
  const cases: [unknown, string][] = [
    ['not a matrix', 'type'],
    [null, 'type'],
    [matrix(() => 0).slice(1), 'size'],
    [[...matrix(() => 0), new Array(size).fill(0)], 'size'],
    [matrix(() => 0).map((row, i) => (i === size - 1 ? row.concat(0) : row)), 'square'],
    [matrix((i, j) => (i === 0 && j === size - 1 ? -1 : 0)), 'value'],
    [matrix((i, j) => (i === size - 1 && j === 0 ? NaN : 0)), 'value'],
    [matrix((i, j) => (i === 0 && j === 0 ? Infinity : 0)), 'value'],
    [matrix((i, j) => (i === 0 && j === 0 ? ('1' as any) : 0)), 'value'],
    [matrix(() => 0).map((row, i) => (i === 0 ? 'row' : row)), 'type'],
  ];
  for (const [m, reason] of cases) {
    const err = thrown(() => world.graph(m as any));
    assert.instance(err, AdjacencyError, reason);
    assert.is(err.code, 'ERR_ADJACENCY');
    assert.is(err.reason, reason, String(err.message));
  }
  assert.match(thrown(() => world.graph(cases[5]![0] as any)).message, `adjacency[0][${size - 1}] is -1`);
  // Ranks that pass different (each valid) matrices all learn it, instead of building different graphs.
  if (size >= 2) {
    const err = thrown(() => world.graph(rank === 0 ? ring() : matrix(() => 0)));
    assert.instance(err, AdjacencyError);
    assert.is(err.reason, 'disagree');
    const err2 = thrown(() => world.graph(rank === 1 ? 'oops' as any : ring()));
    assert.is(err2.reason, 'disagree');
  }
  // Typed-array rows work, and the communicator is fine after all those refusals.
  const g = world.graph(Array.from({ length: size }, (_, i) => Uint8Array.from({ length: size }, (_, j) => (j === (i + 1) % size ? 1 : 0))));
  assert.equal(g.outNeighbors, [next]);
  g.free();
});

test('graphs of sub-communicators', () => {
  const half = world.split(rank % 2)!;
  const n = half.size;
  const g = half.graph(Array.from({ length: n }, () => new Array(n).fill(1)));
  assert.is(g.inNeighbors.length, n);
  assert.equal(Array.from(g.neighborAllgather(new Int32Array([rank]))), Array.from({ length: n }, (_, k) => k * 2 + (rank % 2)));
  g.free();
  half.free();
});

test.after(() => sync.free());

test.run();
