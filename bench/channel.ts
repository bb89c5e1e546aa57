// What a typed channel costs next to a raw send, measured in one run by one process pair:
//
//   node bin/mpi4node.js run -n 2 bench/channel.ts [--sizes 8,1048576] [--reps 9] [--transport]
//
// Latency is half a ping-pong round trip (OSU's method) in microseconds. Variants, run in alternating
// order within each repetition so that the machine's drift falls on all of them alike; the reported
// value is the median over repetitions:
//   raw          world.send / world.recv of the bytes into a preallocated array (what MPI users write)
//   raw-any      world.send / world.recv('uint8'): a receive of unknown size, as a channel must do
//   raw-promise  await world.isend / await world.irecv into a preallocated array
//   raw-any-promise  await world.isend / await world.irecv('uint8')
//   channel      channel.send / channel.recv: header encode, every check on receive, payload as a view
//                into fresh memory (lib/channel/inbox.ts)
//   channel-into channel.recv(peer, { buffer }): the same into a preallocated buffer, as raw does
//   channel-send channel.send, received as plain bytes of known size: the cost of the sending side alone
//   channel-promise  await channel.isend / await channel.irecv
//   channel-crc  channel send/recv with { checksum: true }: CRC-32C of the payload, both sides
//   channel-auth channel send/recv with { auth }: HMAC-SHA256 of the message, both sides
// --transport adds how one channel message leaves at each size, for the copy threshold (COPY_BELOW):
//   parts        header + payload from their own memory, one hindexed datatype per message
//   copy         header + payload copied into one buffer, one plain send
// Prints one JSON line per variant and size: {"bench":"channel-latency","impl":...,"size":...,"value":...,"unit":"us"}.
import { COPY_BELOW, world, wtime } from '../lib/index.js';
import { native } from '../lib/addon/binding.js';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const option = (name: string, dflt: string) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const sizes = option('--sizes', flag('--transport') ? '8,1024,2048,3072,4096,16384,65536,1048576' : '8,1048576').split(',').map(Number);
const reps = Number(option('--reps', '9'));

if (world.size !== 2) {
  if (world.rank === 0) console.error(`bench/channel.ts needs exactly 2 ranks, got ${world.size}`);
  process.exit(2);
}
const rank = world.rank, peer = 1 - rank;
const ch = world.channel('bench/channel', { version: 1 });
const crc = world.channel('bench/crc', { version: 1, checksum: true });
const authed = world.channel('bench/auth', { version: 1, auth: [{ id: 1, key: '5a'.repeat(32) }] });
const internal = world._handle(true);
const HEADER = 128; // a 1-D tensor's header on this channel, padded to the payload offset

type Round = (n: number, bytes: Uint8Array) => number | Promise<number>;

function pingPong(n: number, send: () => void, recv: () => void): number {
  const t0 = wtime();
  for (let i = 0; i < n; i++) {
    if (rank === 0) {
      send();
      recv();
    } else {
      recv();
      send();
    }
  }
  return wtime() - t0;
}

async function pingPongAsync(n: number, send: () => PromiseLike<unknown>, recv: () => PromiseLike<unknown>): Promise<number> {
  const t0 = wtime();
  for (let i = 0; i < n; i++) {
    if (rank === 0) {
      await send();
      await recv();
    } else {
      await recv();
      await send();
    }
  }
  return wtime() - t0;
}

const variants: Record<string, Round> = {
  raw: (n, s) => {
    const r = new Uint8Array(s.byteLength);
    return pingPong(n, () => world.send(s, peer, 1), () => world.recv(r, peer, 1));
  },
  'raw-any': (n, s) => pingPong(n, () => world.send(s, peer, 1), () => world.recv('uint8', peer, 1)),
  'raw-promise': (n, s) => {
    const r = new Uint8Array(s.byteLength);
    return pingPongAsync(n, () => world.isend(s, peer, 1), () => world.irecv(r, peer, 1));
  },
  'raw-any-promise': (n, s) => pingPongAsync(n, () => world.isend(s, peer, 1), () => world.irecv('uint8', peer, 1)),
  channel: (n, s) => pingPong(n, () => ch.send(peer, s), () => ch.recv(peer)),
  'channel-send': (n, s) => {
    const r = new Uint8Array(HEADER + s.byteLength);
    return pingPong(n, () => ch.send(peer, s), () => native.recv(r, peer, ch.tag, internal, false));
  },
  'channel-into': (n, s) => {
    const buffer = new Uint8Array(HEADER + s.byteLength);
    return pingPong(n, () => ch.send(peer, s), () => ch.recv(peer, { buffer }));
  },
  'channel-promise': (n, s) => pingPongAsync(n, () => ch.isend(peer, s), () => ch.irecv(peer)),
  'channel-crc': (n, s) => pingPong(n, () => crc.send(peer, s), () => crc.recv(peer)),
  'channel-auth': (n, s) => pingPong(n, () => authed.send(peer, s), () => authed.recv(peer)),
};

if (flag('--transport')) {
  const header = new Uint8Array(HEADER).fill(1);
  const recvInto = (s: Uint8Array) => {
    const r = new Uint8Array(HEADER + s.byteLength);
    return () => native.recv(r, peer, 2, internal, false);
  };
  variants.parts = (n, s) => pingPong(n, () => native.sendParts([header, s], peer, 2, internal, false, false), recvInto(s));
  variants.copy = (n, s) => {
    const one = new Uint8Array(HEADER + s.byteLength);
    return pingPong(n, () => {
      one.set(header);
      one.set(s, HEADER);
      native.send(one, peer, 2, internal, false, false);
    }, recvInto(s));
  };
}

function sync(): void {
  world.sendrecv(new Uint8Array(1), peer, new Uint8Array(1), peer, 3, 3);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const names = Object.keys(variants);
for (const size of sizes) {
  const s = new Uint8Array(size).fill(97);
  const iters = size <= 16384 ? 20_000 : size <= 262144 ? 2_000 : 500;
  const samples: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  for (const k of names) await variants[k]!(Math.min(iters, 2_000), s); // warm-up: JIT and MPI's buffers
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 === 0 ? names : [...names].reverse();
    for (const k of order) {
      sync();
      const t = await variants[k]!(iters, s);
      samples[k]!.push((t * 1e6) / (2 * iters));
    }
  }
  if (rank === 0) {
    const raw = median(samples.raw!);
    for (const k of names) {
      const value = median(samples[k]!);
      console.log(JSON.stringify({
        bench: 'channel-latency', impl: k, size, value: Number(value.toFixed(3)), unit: 'us',
        ratio: Number((value / raw).toFixed(3)), reps, iters, copyBelow: COPY_BELOW,
      }));
    }
  }
}
await ch.close();
await crc.close();
await authed.close();
