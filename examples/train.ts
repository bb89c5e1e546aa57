// Data-parallel training of a small TF.js model (pure JS backend) with mpi4node's GradientAverager:
//
//   mpi4node run -n 4 examples/train.ts [--steps 20] [--check]
//
// Every rank holds an equal shard of one synthetic full batch; each step computes the shard's gradients,
// averages them over the ranks (the mean of the shards' mean losses is the full batch's mean loss), and
// applies them with the same SGD on every rank. Then model.fit() trains on, through distributedOptimizer():
// an optimizer whose applyGradients averages the gradients first (the hook for fit).
// --check: after every step every rank's weights must have the same bits, and rank 0 trains a copy of
// the starting model on the whole batch in one process; the two loss curves must agree within 1e-4.
import * as tf from '@tensorflow/tfjs';
import { world, GradientAverager } from '../lib/index.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const steps = arg('--steps', 20);
const check = process.argv.includes('--check');
const rank = world.rank, size = world.size;
await tf.setBackend('cpu');

// A full batch of 64 samples, 8 features: y = sin(x . w) + noise, the same on every rank (fixed seed).
const N = 64, F = 8;
const xs = tf.randomNormal([N, F], 0, 1, 'float32', 1);
const ys = tf.sin(xs.matMul(tf.randomNormal([F, 1], 0, 1, 'float32', 2))).add(tf.randomNormal([N, 1], 0, 0.05, 'float32', 3));
const shard = N / size;
if (!Number.isInteger(shard)) throw new Error(`${N} samples do not split evenly over ${size} ranks`);
const myX = xs.slice([rank * shard, 0], [shard, F]), myY = ys.slice([rank * shard, 0], [shard, 1]);

function makeModel(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.dense({ inputShape: [F], units: 16, activation: 'tanh', kernelInitializer: tf.initializers.glorotNormal({ seed: 10 + rank }) }));
  m.add(tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotNormal({ seed: 20 + rank }) }));
  return m;
}

const model = makeModel();
const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);

// Parameters: every rank starts from rank 0's (the seeds above differ on purpose).
const params = new GradientAverager(world);
const arrays = weights.map((w) => w.dataSync().slice() as Float32Array);
arrays.forEach((a, i) => params.register(weights[i]!.name, a));
params.broadcastParameters(0);
weights.forEach((w, i) => w.assign(tf.tensor(arrays[i]!, w.shape)));

// Gradients: arrays registered once, refilled every step.
const grads = new GradientAverager(world, { bucketBytes: 256 });
const gradArrays = weights.map((w) => new Float32Array(w.size));
gradArrays.forEach((a, i) => grads.register(weights[i]!.name, a));

const mse = (m: tf.Sequential, x: tf.Tensor, y: tf.Tensor) => tf.losses.meanSquaredError(y, m.predict(x) as tf.Tensor) as tf.Scalar;
const optimizer = tf.train.sgd(0.1);

/** The bits of every weight, as one string (for comparing ranks). */
const bitsOf = (vs: tf.Variable[]) => vs.map((v) => Buffer.from((v.dataSync() as Float32Array).buffer).toString('base64')).join('|');

// The single-process reference at rank 0: the same starting weights, the whole batch.
let reference: { model: tf.Sequential; opt: tf.Optimizer } | undefined;
if (check && rank === 0) {
  const ref = makeModel();
  ref.setWeights(weights.map((w) => w.clone()));
  reference = { model: ref, opt: tf.train.sgd(0.1) };
}

const losses: number[] = [];
for (let step = 0; step < steps; step++) {
  const { value, grads: g } = tf.variableGrads(() => mse(model, myX, myY), weights);
  weights.forEach((w, i) => gradArrays[i]!.set(g[w.name]!.dataSync()));
  await grads.average();
  optimizer.applyGradients(Object.fromEntries(weights.map((w, i) => [w.name, tf.tensor(gradArrays[i]!, w.shape)])));
  const loss = world.allreduce(new Float64Array([value.dataSync()[0]!]), 'avg')[0]!;
  losses.push(loss);
  tf.dispose([value, ...Object.values(g)]);
  if (check) {
    const all = world.allgatherObject(bitsOf(weights));
    if (all.some((b) => b !== all[0])) throw new Error(`step ${step}: the ranks' weights differ`);
    if (reference) {
      const refLoss = reference.opt.minimize(() => mse(reference!.model, xs, ys), true)!.dataSync()[0]!;
      if (Math.abs(refLoss - loss) > 1e-4 * Math.max(1, Math.abs(refLoss))) {
        throw new Error(`step ${step}: loss ${loss} at ${size} ranks, ${refLoss} in one process`);
      }
    }
  }
}
if (rank === 0) {
  console.log(`${size} ranks, ${steps} steps: loss ${losses[0]!.toFixed(5)} -> ${losses.at(-1)!.toFixed(5)}` +
    (check ? ' (weights bitwise equal on every rank after every step; loss curve = one-process full batch within 1e-4)' : ''));
}

/**
 * The hook for model.fit(): an optimizer whose applyGradients averages the gradients over `comm`'s
 * ranks first (blocking: fit calls it synchronously). Each rank fits on its own shard.
 */
function distributedOptimizer(opt: tf.Optimizer, averager: GradientAverager, arraysByName: Map<string, Float32Array>): tf.Optimizer {
  const apply = opt.applyGradients.bind(opt);
  opt.applyGradients = (g: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[]) => {
    const list = Array.isArray(g) ? g : Object.entries(g).map(([name, tensor]) => ({ name, tensor }));
    for (const { name, tensor } of list) arraysByName.get(name)!.set(tensor.dataSync());
    averager.averageSync();
    apply(list.map(({ name, tensor }) => ({ name, tensor: tf.tensor(arraysByName.get(name)!, tensor.shape) })));
  };
  return opt;
}

model.compile({ optimizer: distributedOptimizer(tf.train.sgd(0.1), grads, new Map(weights.map((w, i) => [w.name, gradArrays[i]!]))), loss: 'meanSquaredError' });
const h = await model.fit(myX, myY, { epochs: 5, batchSize: shard, shuffle: false, verbose: 0 });
const fitLoss = world.allreduce(new Float64Array([h.history.loss!.at(-1) as number]), 'avg')[0]!;
const all = world.allgatherObject(bitsOf(weights));
if (all.some((b) => b !== all[0])) throw new Error('model.fit: the ranks\' weights differ');
if (rank === 0) console.log(`model.fit, 5 epochs through distributedOptimizer(): loss ${fitLoss.toFixed(5)}, weights bitwise equal on every rank`);
