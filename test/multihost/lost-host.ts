// Measures what a job across the test hosts does when the last host's link goes down: for good, or for
// an outage of some seconds. A measurement for docs/multihost.md, not a test (it can take minutes).
//
//   node --import tsx test/multihost/lost-host.ts [--after S] [--outage S] [--limit S] [RUN OPTIONS...]
//
// RUN OPTIONS go to `mpi4node run` (--fail-fast, --mca oob_tcp_keepalive_time 1, ...). It prints when
// the job ended after the cut (or that it still ran after --limit seconds, 90 by default, and was then
// killed) and mpirun's lines about the lost daemon. --after: seconds from the ranks' "ready" (the last
// traffic between mpirun and the host's daemon) to the cut, which sets where in the keepalive cycle
// an outage begins.
import { killSession } from '../../lib/cli/job.js';
import { createCluster, netnsProblem } from './hosts.js';
import { cliOnHost, N, ready, start } from './launch.js';

const args = process.argv.slice(2);
const option = (name: string): number | undefined => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : Number(args.splice(i, 2)[1]);
};
const outage = option('--outage');
const limitS = option('--limit') ?? 90;
const after = option('--after') ?? 0;
const problem = netnsProblem();
if (problem) throw new Error(problem);

const c = createCluster(N);
const lost = c.hosts[N - 1]!;
const { cmd, env } = cliOnHost(c, ['--no-host-check', ...args], ['loop']);
const s = start(cmd, env, 10 * 60_000);
await ready(s, N);
await new Promise((r) => setTimeout(r, after * 1000));
const t0 = performance.now();
c.cut(lost);
if (outage !== undefined) setTimeout(() => c.mend(lost), outage * 1000);
let timer: NodeJS.Timeout | number | undefined;
const e = await Promise.race([s.exit, new Promise<undefined>((r) => (timer = setTimeout(r, limitS * 1000)))]);
clearTimeout(timer);
const what = `${outage === undefined ? 'its link went down for good' : `a ${outage} s outage began`} (${after} s after the ranks were ready)`;
if (e === undefined) {
  console.log(`still running ${limitS} s after ${what} (options: ${args.join(' ') || 'none'}); killed`);
  killSession(s.child.pid!);
  await s.exit;
} else {
  console.log(`ended ${((e.at - t0) / 1000).toFixed(1)} s after ${what}, status ${e.code} (options: ${args.join(' ') || 'none'})`);
}
console.log(s.out().split('\n').filter((l) => /lost|daemon|node \d|ORTE|abort/i.test(l)).slice(0, 8).join('\n'));
c.teardown();
