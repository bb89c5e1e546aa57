// Agents on a graph: rank 0 is a verifier, every other rank a generator. The adjacency matrix is a star,
// so generators talk to the verifier (and it to them) but never to each other. Each generator answers
// small arithmetic problems with a deterministic "model" that makes mistakes now and then; it sends
// every answer to the verifier as a request on the versioned channel 'answers', and the verifier replies
// on the same channel with the answer validated or corrected. A summary, gathered with a neighbour
// collective, shows how many mistakes were caught.
//   node bin/mpi4node.js run -n 4 examples/agents.ts        (2 to any number of ranks)
import { world, PermissionError, type Envelope } from '../lib/index.js';

const rank = world.rank, size = world.size;
if (size < 2) {
  console.log('agents: needs at least 2 ranks (one verifier, one or more generators); try: node bin/mpi4node.js run -n 4 examples/agents.ts');
  process.exit(0);
}

// The message schema of channel 'answers', version 1.0.
interface Answer { id: number; a: number; b: number; op: '+' | '-' | '*'; answer: number }
interface Verdict { id: number; verdict: 'validated' | 'corrected'; answer: number }

const PROBLEMS = 12;
const star = Array.from({ length: size }, (_, i) => Array.from({ length: size }, (_, j) => (i !== j && (i === 0 || j === 0) ? 1 : 0)));
const graph = world.graph(star);
const answers = graph.channel('answers', { version: '1.0' });

function solve(p: Pick<Answer, 'a' | 'b' | 'op'>): number {
  return p.op === '+' ? p.a + p.b : p.op === '-' ? p.a - p.b : p.a * p.b;
}

// A tiny fixed "model": right most of the time, off by a little on a fixed schedule.
function generate(id: number): Answer {
  const a = (rank * 17 + id * 7) % 20, b = (rank * 5 + id * 3) % 12;
  const op = (['+', '-', '*'] as const)[(id + rank) % 3]!;
  const mistake = (id * 7 + rank * 3) % 5 === 0 ? 1 + (id % 3) : 0;
  return { id, a, b, op, answer: solve({ a, b, op }) + mistake };
}

let report: Int32Array;
if (rank === 0) {
  // The verifier: answer every request until the generators report in.
  const server = answers.serve((m: Answer, env: Envelope): Verdict => {
    const right = solve(m);
    if (m.answer !== right) console.log(`verifier: rank ${env.source} said ${m.a} ${m.op} ${m.b} = ${m.answer}; corrected to ${right}`);
    return { id: m.id, verdict: m.answer === right ? 'validated' : 'corrected', answer: right };
  });
  // Each generator's [answers sent, mistakes injected, corrections received], in inNeighbors order.
  report = await graph.ineighborAllgather(new Int32Array(3));
  await server.close();
} else {
  const sent = Array.from({ length: PROBLEMS }, (_, id) => generate(id));
  const replies = await Promise.all(sent.map((m) => answers.request<Verdict>(0, m, { timeoutMs: 30_000 })));
  let corrected = 0;
  for (const [k, r] of replies.entries()) {
    if (r.message.id !== sent[k]!.id) throw new Error('a reply for another answer'); // correlation ids at work
    if (r.message.verdict === 'corrected') corrected++;
  }
  const injected = sent.filter((m) => m.answer !== solve(m)).length;
  // Generators have no edge between them: the channel refuses before any byte moves.
  if (size > 2) {
    try {
      answers.send(rank === 1 ? 2 : 1, { gossip: true });
    } catch (e) {
      if (!(e instanceof PermissionError)) throw e;
      if (rank === 1) console.log(`generator 1: ${e.message}`);
    }
  }
  report = await graph.ineighborAllgather(new Int32Array([PROBLEMS, injected, corrected]));
}

if (rank === 0) {
  let sent = 0, injected = 0, caught = 0;
  console.log('\nagent        answers  mistakes  corrected');
  graph.inNeighbors.forEach((g, k) => {
    const [n, bad, fixed] = report.subarray(3 * k, 3 * k + 3);
    sent += n!, injected += bad!, caught += fixed!;
    console.log(`generator ${String(g).padEnd(3)} ${String(n).padStart(7)} ${String(bad).padStart(9)} ${String(fixed).padStart(10)}`);
  });
  console.log(`\nverifier caught ${caught} of ${injected} injected mistakes in ${sent} answers ` +
    `(channel 'answers' v${answers.version.major}.${answers.version.minor}: ${answers.stats.served} replies, ${answers.stats.errors} bad messages)`);
}
await answers.close();
graph.free();
