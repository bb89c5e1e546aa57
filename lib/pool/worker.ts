// The program a spawned pool's workers run (comm.pool({ spawn: n }), lib/pool/pool.ts): it joins its
// parents' pool and serves tasks until the pool's root shuts it down, then disconnects and exits.
// argv: the pool root's rank among the parents; 'auth' when the pool's channel is authenticated.
import { parent } from '../index.js';
import { _servePool } from './pool.js';

const p = parent();
if (p === null) {
  process.stderr.write('mpi4node pool worker: started without a parent (it is spawned by comm.pool({ spawn: n }))\n');
  process.exit(2);
}
void _servePool(p, Number(process.argv[2] ?? 0), process.argv[3] === 'auth').done;
