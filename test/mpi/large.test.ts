// A message above 2 GiB (more than INT_MAX bytes: the derived-datatype path) between ranks 0 and 1.
// @ranks 2
// @timeout 300
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import os from 'node:os';
import { world } from '../../lib/index.js';

const BYTES = 2 ** 31 + 4096 + 3; // over INT_MAX, not a multiple of the 2^30 chunk
const rank = world.rank;

// Each of the two ranks needs one such buffer; leave room for the rest of the machine.
const enough = os.freemem() > 3 * BYTES + 2 ** 30;

test('a 2 GiB + 4 KiB message arrives intact', async () => {
  // The verdict must be the same on every rank, or one rank would wait for a message never sent.
  const verdict = new Uint8Array([enough ? 1 : 0]);
  if (rank === 0) world.send(verdict, 1, 1);
  if (rank === 1) world.recv(verdict, 0, 1);
  if (!verdict[0]) {
    console.log(`skipped: needs ~${((3 * BYTES) / 2 ** 30).toFixed(1)} GiB free, have ${(os.freemem() / 2 ** 30).toFixed(1)} GiB`);
    return;
  }
  const marks = [0, 1, 2 ** 30 - 1, 2 ** 30, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, BYTES - 1];
  if (rank === 0) {
    const buf = new Uint8Array(BYTES).fill(7);
    marks.forEach((m, i) => (buf[m] = 100 + i));
    world.send(buf, 1, 2);
  } else if (rank === 1) {
    const buf = new Uint8Array(BYTES);
    const st = world.recv(buf, 0, 2);
    assert.is(st.byteCount, BYTES);
    assert.is(st.count, BYTES);
    marks.forEach((m, i) => assert.is(buf[m], 100 + i, `byte ${m}`));
    for (let i = 3; i < BYTES; i += 65_537) if (!marks.includes(i)) assert.is(buf[i], 7, `byte ${i}`);
    // And back with the Promise form, into a fresh array sized by the matched probe.
    const r = world.irecv('uint8', 0, 3);
    world.send(new Uint8Array([1]), 0, 4);
    const got = await r;
    assert.is(got.data.length, BYTES);
    assert.is(got.data[BYTES - 1], 9);
  }
  if (rank === 0) {
    world.recv(new Uint8Array(1), 1, 4);
    const buf = new Uint8Array(BYTES);
    buf[BYTES - 1] = 9;
    await world.isend(buf, 1, 3);
  }
});

test.run();
