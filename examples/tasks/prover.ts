// A prover that examples/verify-pool.ts --spawn spawns for its rolling upgrade: it answers claims on
// channel 'claims' in schema majors 1 and 2 side by side, retires 1.x when the judge says so (and says
// it did), and stops on the judge's second word. argv[2]: 'auth' to sign and verify every message.
import { parent, world } from '../../lib/index.js';

type Claim = { a: number; b: number; c: number };
const judge = parent();
if (judge === null) throw new Error('prover: run me through examples/verify-pool.ts --spawn N');
const auth = process.argv[2] === 'auth';
const v1 = judge.channel('claims', { version: '1.0', auth });
const v2 = judge.channel('claims', { version: '2.0', auth });
const s1 = v1.serve((m: Claim) => ({ ok: m.a * m.b === m.c }));
const s2 = v2.serve((m: Claim & { id: number }) => ({ id: m.id, ok: m.a * m.b === m.c, prover: world.rank }));
const control = judge.channel<string>('control', { version: 1, auth });
await control.irecv(0); // retire 1.x
s1.close();
v1.close();
await control.isend(0, 'retired 1.x');
await control.irecv(0); // stop
s2.close();
v2.close();
control.close();
judge.disconnect();
