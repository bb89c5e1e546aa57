// Channel schemas under mpirun with 1-4 ranks: validators (a Standard Schema or a function) on send and
// receive with their coded errors, typed handlers, and one server answering two schema majors of one
// channel name during a rolling upgrade. Messages and requests go around a ring (to next, from prev).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  world, readRaw, RemoteError, SchemaMismatchError, SchemaValidationError, type StandardSchemaV1,
} from '../../lib/index.js';
import { asyncBarrier, rejects, ringSend, thrown } from './chan-util.js';

const rank = world.rank, size = world.size;
const next = (rank + 1) % size, prev = (rank - 1 + size) % size;
const sync = world.dup();

interface Plan { step: number; goal: string }

/** A Standard Schema as zod/valibot implement it, hand-written: { step: integer >= 0, goal: string }. */
const planSchema: StandardSchemaV1<unknown, Plan> = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate(v: unknown) {
      const o = v as Record<string, unknown>;
      const issues: { message: string; path: string[] }[] = [];
      if (o === null || typeof o !== 'object') return { issues: [{ message: 'expected an object' }] };
      if (!Number.isInteger(o.step) || (o.step as number) < 0) issues.push({ message: 'expected a non-negative integer', path: ['step'] });
      if (typeof o.goal !== 'string') issues.push({ message: 'expected a string', path: ['goal'] });
      return issues.length ? { issues } : { value: { step: o.step as number, goal: (o.goal as string).trim() } };
    },
  },
};

test('a Standard Schema: valid messages pass (its output is the message), invalid sends throw before anything moves', async () => {
  const ch = world.channel('s/plan', { version: 1, schema: planSchema });
  ringSend(ch, next, { step: rank, goal: ' prove ' });
  const env = ch.recv(prev);
  assert.equal(env.message, { step: prev, goal: 'prove' }, 'the schema output');
  const err = thrown(() => ch.send(next, { step: -1, goal: 3 } as never));
  assert.is(err.code, 'ERR_CHANNEL_PAYLOAD');
  assert.instance(err, TypeError);
  assert.is(err.issues.length, 2);
  assert.match(err.message, 'step: expected a non-negative integer; goal: expected a string');
  assert.is(ch.stats.sent, 1, 'nothing was sent');
  await ch.close();
});

test('an invalid received message is a SchemaValidationError with value, issues, sender and raw bytes; the channel goes on', async () => {
  const strict = world.channel('s/recv', { version: 1, schema: planSchema });
  const loose = world.channel<unknown>('s/recv', { version: 1 });
  ringSend(loose, next, { step: 'x', goal: 'g', rank });
  const err = thrown(() => strict.recv(prev));
  assert.instance(err, SchemaValidationError);
  assert.instance(err, SchemaMismatchError);
  assert.is(err.code, 'ESCHEMA');
  assert.is(err.sender, prev);
  assert.equal(err.value, { step: 'x', goal: 'g', rank: prev });
  assert.equal(err.issues.map((i: { path: string[] }) => i.path), [['step']]);
  assert.is(readRaw<{ rank: number }>(err.raw).message.rank, prev);
  assert.is(strict.stats.errors, 1);
  await asyncBarrier(sync);
  ringSend(strict, next, { step: 1, goal: 'ok' });
  assert.is((await strict.irecv(prev)).message.goal, 'ok');
  // Tensors (the fast receive path) are validated too.
  const tensors = world.channel('s/tensor', { version: 1, schema: (t: any) => (t.data[0] >= 0 ? true : ['negative']) });
  const raw = world.channel('s/tensor', { version: 1 });
  ringSend(raw, next, new Float64Array([-rank - 1]));
  assert.equal(thrown(() => tensors.recv(prev)).issues, [{ message: 'negative' }]);
  strict.close();
  loose.close();
  tensors.close();
  raw.close();
});

test('plain function validators; a bad validator option and an asynchronous schema are coded errors', () => {
  const ch = world.channel('s/fn', { version: 1, schema: (v) => typeof v === 'number' || 'a number' });
  assert.is(thrown(() => ch.send(next, 'x')).code, 'ERR_CHANNEL_PAYLOAD');
  const throwing = world.channel('s/fn2', { version: 1, schema: () => { throw new Error('nope'); } });
  assert.match(thrown(() => throwing.send(next, 1)).message, 'nope');
  assert.is(thrown(() => world.channel('s/bad', { version: 1, schema: {} as never })).code, 'ERR_INVALID_ARG_TYPE');
  const asyncSchema = { '~standard': { version: 1, vendor: 'x', validate: async (v: unknown) => ({ value: v }) } } as const;
  const a = world.channel('s/async', { version: 1, schema: asyncSchema as never });
  assert.is(thrown(() => a.send(next, 1)).code, 'ERR_SCHEMA_ASYNC');
  for (const c of [ch, throwing, a]) c.close();
});

test('serve: handlers are typed from the schema; invalid requests and replies become error replies', async () => {
  const ch = world.channel('s/rpc', { version: 1, schema: planSchema, replySchema: (r) => typeof r === 'number' });
  const server = ch.serve((plan) => (plan.goal === 'bad reply' ? 'text' : plan.step * 2));
  // @ts-expect-error the handler's message is typed from the schema: a Plan has no 'nope' (typecheck fails otherwise)
  const typed = () => ch.serve((plan) => plan.nope);
  void typed;
  assert.is((await ch.request<number>(next, { step: 21, goal: 'x' })).message, 42);
  const invalidReply = await rejects(ch.request(next, { step: 1, goal: 'bad reply' }));
  assert.instance(invalidReply, RemoteError);
  assert.is(invalidReply.remote.code, 'ERR_CHANNEL_PAYLOAD');
  const loose = world.channel<any>('s/rpc', { version: 1 });
  const invalidRequest = await rejects(loose.request(next, { step: 'no' }));
  assert.is(invalidRequest.remote.name, 'SchemaValidationError');
  assert.is(invalidRequest.remote.code, 'ESCHEMA');
  await asyncBarrier(sync);
  await server.close();
  await loose.close();
  await ch.close();
});

test('one server answers two schema majors of one channel name; clients upgrade from 1.x to 2.0 mid-run', async () => {
  const v1 = world.channel('s/agents', { version: '1.1', schema: (m: any) => typeof m.x === 'number' });
  const v2 = world.channel('s/agents', { version: '2.0', schema: (m: any) => typeof m.x === 'number' && typeof m.y === 'number' });
  const s1 = v1.serve((m: { x: number }) => ({ major: 1, sum: m.x }));
  const s2 = v2.serve((m: { x: number; y: number }) => ({ major: 2, sum: m.x + m.y }));
  // Mixed job: even ranks still speak 1.1, odd ranks 2.0; then every rank upgrades.
  for (const phase of ['mixed', 'upgraded']) {
    const useV2 = phase === 'upgraded' || rank % 2 === 1;
    const asks = Array.from({ length: 4 }, (_, i) => (useV2
      ? v2.request<{ major: number; sum: number }>(next, { x: i, y: 10 }, { timeoutMs: 20_000 })
      : v1.request<{ major: number; sum: number }>(next, { x: i }, { timeoutMs: 20_000 })));
    const replies = await Promise.all(asks);
    replies.forEach((r, i) => {
      assert.is(r.message.major, useV2 ? 2 : 1, `${phase}: answered by the handler of the request's major`);
      assert.is(r.message.sum, useV2 ? i + 10 : i);
      assert.is(r.header.schema.major, useV2 ? 2 : 1);
    });
    await asyncBarrier(sync);
  }
  // The rolling upgrade is over: the 1.x server is retired, and a straggler's 1.x request is refused.
  await s1.close();
  await asyncBarrier(sync);
  const late = await rejects(v1.request(next, { x: 1 }, { timeoutMs: 20_000 }));
  assert.instance(late, RemoteError);
  assert.is(late.remote.name, 'SchemaMismatchError');
  await asyncBarrier(sync);
  await s2.close();
  assert.is(v1.stats.served + v2.stats.served, 9, "eight answers and the straggler's error reply");
  await v1.close();
  await v2.close();
});

test.after(() => sync.free());

test.run();
