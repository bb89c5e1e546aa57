// What authenticating a channel message costs beside its CRC-32C, per message, without MPI:
//
//   node --import tsx bench/auth.ts
//
// crc32c: the payload's CRC-32C ({ checksum: true } computes it when sending and again on receipt);
// sign / verify: HMAC-SHA256 of header and payload under a job key (lib/wire/auth.ts), as a channel with
// { auth } does once per message on each side. Medians of 7 runs, microseconds per message; one JSON
// line per size. bench/channel.ts's channel-crc and channel-auth variants measure the same end to end.
import { KeyRing, sign, verify } from '../lib/wire/auth.js';
import { crc32c } from '../lib/wire/crc32c.js';
import { ChannelHeaderTemplate, PROTOCOL } from '../lib/wire/codec.js';

const ring = new KeyRing([{ id: 1, key: '5a'.repeat(32) }]);
const tpl = new ChannelHeaderTemplate('bench/auth', { major: 1, minor: 0 }, PROTOCOL, true);
const median = (f: () => void, n: number) => {
  const xs: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) f();
    xs.push(Number(process.hrtime.bigint() - t) / n / 1000);
  }
  return Number(xs.sort((a, b) => a - b)[3]!.toFixed(2));
};
for (const size of [8, 1 << 20]) {
  const hdr = tpl.encode({ kind: 'tensor', dtype: 'uint8', seq: 1, correlationId: 0, payloadLength: size });
  const msg = new Uint8Array(hdr.byteLength + size);
  msg.set(hdr);
  const head = msg.subarray(0, hdr.byteLength), body = msg.subarray(hdr.byteLength);
  const n = size <= 4096 ? 20_000 : 40;
  const out = { bench: 'auth-cost', size, unit: 'us', crc32c: median(() => crc32c(body), n), sign: median(() => sign(ring, head, [body], 0, 1), n), verify: 0 };
  out.verify = median(() => verify(ring, msg, 0, 1, 'bench/auth'), n);
  console.log(JSON.stringify(out));
}
