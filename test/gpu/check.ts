// The checks and measurements that need a real NVIDIA GPU. Not a CI suite: test/gpu/run.sh runs it,
// `single` in one process, `staging` under mpirun with two ranks sharing the GPU. Prints readable lines
// and, last, one JSON line with every figure ("RESULT {...}"); exits non-zero on any failed check.
//
//   single   real NCCL, one rank: allreduce correctness for every op x dtype this NCCL supports (in
//            place and not, three sizes), the other collectives and a group; host<->device copy
//            bandwidth; NCCL allreduce call overhead, interleaved with the C reference
//            (nccl_allreduce.c, path in NCCL_REF) in the same run; the GradientAverager over device
//            arrays (device-side packing, NCCL avg per bucket): bit-exact over one rank, and its time
//            against one allreduce of a pre-concatenated buffer
//   staging  device messages over MPI between two ranks on one GPU through comm.send/recv/isend/irecv
//            (staged through pinned memory unless MPI is CUDA-aware): device <-> device, device -> host
//            array, host array -> device, across sizes; bandwidth against host arrays
// MPI4NODE_GPU_QUICK=1: fewer sizes and iterations (the rehearsal against the fakes, test/unit/gpu-run.test.ts).
import { spawnSync } from 'node:child_process';
import { GradientAverager, gpu, world } from '../../lib/index.js';
import type { DeviceDtype, NcclOpName } from '../../lib/gpu/index.js';
import { encode } from './values.js';

const mode = process.argv[2] ?? 'single';
const quick = process.env.MPI4NODE_GPU_QUICK === '1';
const results: Record<string, unknown> = { mode };
let failures = 0;
const summary: string[] = [];

function check(ok: boolean, what: string): void {
  if (!ok) {
    failures++;
    console.log(`FAIL ${what}`);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sameBytes = (a: ArrayBufferView, b: ArrayBufferView) => {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength), y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return x.length === y.length && x.every((v, i) => v === y[i]);
};

/** Host data for `dtype`: finite values only (fp8 bytes below 0x40 are small positive numbers in both formats). */
function sample(dtype: DeviceDtype, n: number, seed: number): ArrayBufferView {
  if (dtype === 'float8e4m3' || dtype === 'float8e5m2') return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) % 0x40);
  return encode(dtype, Array.from({ length: n }, (_, i) => ((i * 7 + seed) % 23) - (dtype.startsWith('uint') ? 0 : 11)));
}

async function single(): Promise<void> {
  const s = gpu.status();
  results.status = { cuda: s.cuda, nccl: { ...s.nccl, tried: undefined }, available: s.available };
  console.log(`CUDA runtime ${s.cuda.runtimeVersion} (${s.cuda.path}), driver ${s.cuda.driverVersion}, ${s.cuda.devices} device(s)`);
  if (!s.available) {
    console.log(`GPU unavailable: ${s.code}: ${s.reason}`);
    process.exit(2);
  }
  console.log(`NCCL ${s.nccl.version || '-'} (${s.nccl.path || s.nccl.reason})`);

  if (s.nccl.available) {
    const c = gpu.nccl(world);
    // allreduce: one rank, so every op returns the input, bit for bit; what is checked is that dtype
    // and op codes, in/out of place and the completion path all work against the real library.
    const dtypes = gpu.DEVICE_DTYPES.filter((d) => d.nccl >= 0);
    const ops: NcclOpName[] = ['sum', 'prod', 'min', 'max', 'avg'];
    let ran = 0, skipped: string[] = [];
    for (const d of dtypes) {
      for (const op of ops) {
        for (const n of quick ? [1, 1023] : [1, 1023, 1 << 20]) {
          const host = sample(d.name, n, n % 5);
          const src = gpu.DeviceBuffer.from(host as never, d.name);
          const out = new gpu.DeviceBuffer(d.name, n);
          try {
            await c.allreduce(src, op, out);
            check(sameBytes(out.toArray(), host), `allreduce ${d.name} ${op} n=${n} out of place`);
            await c.allreduce(src, op);
            check(sameBytes(src.toArray(), host), `allreduce ${d.name} ${op} n=${n} in place`);
            ran++;
          } catch (e) {
            // ERR_NCCL_UNSUPPORTED: fp8 'avg' over one rank, which NCCL's one-rank path refuses.
            const code = (e as { code?: string }).code;
            if (code === 'ERR_NCCL_VERSION' || code === 'ERR_NCCL_UNSUPPORTED') skipped.push(`${d.name}/${op}`);
            else check(false, `allreduce ${d.name} ${op} n=${n}: ${(e as Error).message}`);
          } finally {
            src.dispose();
            out.dispose();
          }
        }
      }
    }
    skipped = [...new Set(skipped)];
    console.log(`allreduce correctness: ${ran} op x dtype x size cases run${skipped.length ? `; refused by this NCCL: ${skipped.join(' ')}` : ''}`);
    results.allreduceCases = ran;
    results.allreduceRefused = skipped;

    const b = gpu.DeviceBuffer.from(Float32Array.of(1, 2, 3));
    await c.broadcast(b, 0);
    check(sameBytes(b.toArray(), Float32Array.of(1, 2, 3)), 'broadcast');
    const r = await c.reduce(b, 'max', 0, new gpu.DeviceBuffer('float32', 3));
    check(r !== undefined && sameBytes(r.toArray(), Float32Array.of(1, 2, 3)), 'reduce');
    check(sameBytes((await c.allgather(b)).toArray(), Float32Array.of(1, 2, 3)), 'allgather');
    check(sameBytes((await c.reduceScatter(b)).toArray(), Float32Array.of(1, 2, 3)), 'reduceScatter');
    if (s.nccl.features.sendRecv) {
      const x = new gpu.DeviceBuffer('float32', 3);
      await gpu.group(() => {
        c.send(b, 0);
        c.recv(x, 0);
      });
      check(sameBytes(x.toArray(), Float32Array.of(1, 2, 3)), 'send/recv to self in a group');
    }

    // Call overhead: a float32 allreduce of 4 B and of 64 MiB, out of place (in place, one rank launches
    // nothing), awaited one by one (launch + completion through the event poller) and in batches
    // (launch cost, amortised), interleaved with the C program (also out of place) in the same run.
    const ref = process.env.NCCL_REF;
    const overhead: Record<string, unknown> = {};
    for (const [label, elems, n, batch] of quick ? [['4 B', 1, 200, 100]] as const
      : [['4 B', 1, 5000, 1000], ['64 MiB', 16 << 20, 20, 10]] as const) {
      const src = new gpu.DeviceBuffer('float32', elems).zero(), dst = new gpu.DeviceBuffer('float32', elems);
      for (let i = 0; i < Math.min(n, 500); i++) await c.allreduce(src, 'sum', dst);
      const js = { syncedUs: [] as number[], batchedUs: [] as number[] };
      const cref = { syncedUs: [] as number[], batchedUs: [] as number[] };
      for (let round = 0; round < (quick ? 2 : 5); round++) {
        let t0 = performance.now();
        for (let i = 0; i < n; i++) await c.allreduce(src, 'sum', dst);
        js.syncedUs.push(((performance.now() - t0) * 1000) / n);
        t0 = performance.now();
        for (let k = 0; k < n / batch; k++) {
          const b: Promise<unknown>[] = [];
          for (let i = 0; i < batch; i++) b.push(c.allreduce(src, 'sum', dst));
          await Promise.all(b);
        }
        js.batchedUs.push(((performance.now() - t0) * 1000) / n);
        if (ref) {
          const out = spawnSync(ref, [s.cuda.path, s.nccl.path, String(n), String(elems)], { encoding: 'utf8', timeout: 120_000 });
          try {
            const j = JSON.parse(out.stdout.trim().split('\n').pop()!);
            cref.syncedUs.push(j.syncedUs);
            cref.batchedUs.push(j.batchedUs);
          } catch {
            check(false, `C reference (${label}): ${(out.stderr || out.error?.message || '').trim()}`);
          }
        }
      }
      const o = {
        js: { syncedUs: median(js.syncedUs), batchedUs: median(js.batchedUs) },
        c: cref.syncedUs.length ? { syncedUs: median(cref.syncedUs), batchedUs: median(cref.batchedUs) } : null,
      };
      overhead[label] = o;
      console.log(`allreduce ${label} float32 out of place, us per call, medians of interleaved rounds:`);
      console.log(`  awaited one by one: mpi4node ${o.js.syncedUs.toFixed(2)}${o.c ? `, C ${o.c.syncedUs.toFixed(2)} (x${(o.js.syncedUs / o.c.syncedUs).toFixed(3)})` : ''}`);
      console.log(`  batches of ${batch}:${' '.repeat(Math.max(1, 5 - String(batch).length))}mpi4node ${o.js.batchedUs.toFixed(2)}${o.c ? `, C ${o.c.batchedUs.toFixed(2)} (x${(o.js.batchedUs / o.c.batchedUs).toFixed(3)})` : ''}`);
      src.dispose();
      dst.dispose();
    }
    results.allreduceOverhead = overhead;

    // The averager over device arrays: 200 float32 tensors of 1 KiB-4 MiB (log-uniform, as bench/averager.ts;
    // quick: 20 of 1-64 KiB). Over one rank the average is the data, bit for bit (a x1.0 kernel).
    const count = quick ? 20 : 200, span = quick ? 6 : 12;
    let seed = 14;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const lengths = Array.from({ length: count }, () => Math.max(1, Math.round((1024 * 2 ** (rand() * span)) / 4)));
    const hostData = lengths.map((n, k) => Float32Array.from({ length: n }, (_, i) => ((i * 7 + k) % 23) - 11.5));
    const grads = hostData.map((h) => gpu.DeviceBuffer.from(h));
    const avg = new GradientAverager(world, { nccl: c, bucketBytes: quick ? 64 << 10 : 25 << 20 });
    grads.forEach((g, i) => avg.register(`t${i}`, g));
    await avg.average();
    avg.averageSync();
    check(grads.every((g, i) => sameBytes(g.toArray(), hostData[i]!)), 'averager over device arrays: bit-exact over one rank');
    const total = lengths.reduce((a, b) => a + b, 0);
    const flat = new gpu.DeviceBuffer('float32', total).zero();
    const t = { averager: [] as number[], flat: [] as number[] };
    for (let round = 0; round < (quick ? 2 : 7); round++) {
      let t0 = performance.now();
      await avg.average();
      t.averager.push(performance.now() - t0);
      t0 = performance.now();
      await c.allreduce(flat, 'avg');
      t.flat.push(performance.now() - t0);
    }
    const am = { averagerMs: Number(median(t.averager).toFixed(3)), flatMs: Number(median(t.flat).toFixed(3)), buckets: avg.buckets.length,
      mib: Number(((total * 4) / 2 ** 20).toFixed(1)) };
    results.averager = am;
    console.log(`averager: ${count} device tensors, ${am.mib} MiB, ${am.buckets} bucket(s): average() ${am.averagerMs} ms, one allreduce ` +
      `of a concatenated buffer ${am.flatMs} ms (x${(am.averagerMs / am.flatMs).toFixed(2)}; one rank: the packing's cost)`);
    for (const g of grads) g.dispose();
    flat.dispose();
    summary.push(`allreduce ${ran} cases`, ...Object.entries(overhead).map(([k, v]) => {
      const o = v as { js: { syncedUs: number }; c: { syncedUs: number } | null };
      return `${k} ${o.js.syncedUs.toFixed(2)} us/call${o.c ? ` (C ${o.c.syncedUs.toFixed(2)})` : ''}`;
    }));
    summary.push(`averager ${am.averagerMs} ms vs one allreduce ${am.flatMs} ms`);
    c.dispose();
  } else {
    console.log(`NCCL checks skipped: ${s.nccl.code}: ${s.nccl.reason}`);
  }

  // Host <-> device bandwidth: blocking copies from pageable typed arrays, and Promise copies through
  // pinned chunks.
  const bytes = quick ? 4 << 20 : 256 << 20;
  const host = new Uint8Array(bytes).map((_, i) => i & 0xff);
  const back = new Uint8Array(bytes);
  const dev = new gpu.DeviceBuffer('uint8', bytes);
  const bw: Record<string, number[]> = { h2d: [], d2h: [], h2dAsync: [], d2hAsync: [] };
  for (let i = 0; i < 5; i++) {
    let t0 = performance.now();
    dev.copyFrom(host);
    bw.h2d!.push(bytes / ((performance.now() - t0) * 1e6));
    t0 = performance.now();
    dev.copyTo(back);
    bw.d2h!.push(bytes / ((performance.now() - t0) * 1e6));
    t0 = performance.now();
    await dev.copyFromAsync(host);
    bw.h2dAsync!.push(bytes / ((performance.now() - t0) * 1e6));
    t0 = performance.now();
    await dev.copyToAsync(back);
    bw.d2hAsync!.push(bytes / ((performance.now() - t0) * 1e6));
  }
  check(sameBytes(host, back), 'host -> device -> host round trip');
  const gbs = Object.fromEntries(Object.entries(bw).map(([k, v]) => [k, Number(median(v).toFixed(2))]));
  results.copyGBs = gbs;
  summary.push(`copies H2D ${gbs.h2dAsync} D2H ${gbs.d2hAsync} GB/s`);
  console.log(`copies of ${bytes >> 20} MiB, GB/s (medians): H2D ${gbs.h2d}, D2H ${gbs.d2h} (blocking, pageable); ` +
    `H2D ${gbs.h2dAsync}, D2H ${gbs.d2hAsync} (Promise, pinned chunks)`);
  dev.dispose();
}

async function staging(): Promise<void> {
  const rank = world.rank, size = world.size;
  if (size !== 2) throw new Error('staging runs with exactly 2 ranks');
  const peer = 1 - rank;
  const aware = gpu.mpiCudaAware();
  if (rank === 0) console.log(`device messages between 2 ranks on device ${gpu.device()}: ${aware.aware ? 'CUDA-aware MPI' : 'staged through pinned memory'} (${aware.how})`);
  const pattern = (n: number, r: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + r) & 0xff);
  let cases = 0;
  for (const n of quick ? [0, 1, 4093, 1 << 20] : [0, 1, 4093, 1 << 20, 16 << 20]) {
    // device -> device, both ways at once (Promise forms)
    const out = gpu.DeviceBuffer.from(pattern(n, rank));
    const inp = new gpu.DeviceBuffer('uint8', n);
    const [st] = await Promise.all([world.irecv(inp, peer, 1), world.isend(out, peer, 1)]);
    check(st.byteCount === n, `device -> device ${n} bytes: count`);
    check(sameBytes(inp.toArray(), pattern(n, peer)), `device -> device ${n} bytes: content`);
    // device -> host array and host array -> device, blocking, rank 0 sending first
    const host = new Uint8Array(n);
    if (rank === 0) {
      world.send(out, peer, 2);
      world.send(pattern(n, 7), peer, 3);
      const got = world.recv('uint8', peer, 4);
      check(sameBytes(got.data, pattern(n, peer)) && got.status.byteCount === n, `device -> host (recv of unknown size) ${n} bytes`);
    } else {
      const s2 = world.recv(host, peer, 2);
      check(s2.byteCount === n && sameBytes(host, pattern(n, peer)), `device -> host array ${n} bytes`);
      const s3 = world.recv(inp, peer, 3);
      check(s3.byteCount === n && sameBytes(inp.toArray(), pattern(n, 7)), `host array -> device ${n} bytes`);
      world.send(out, peer, 4);
    }
    cases += 3;
    out.dispose();
    inp.dispose();
  }
  if (rank === 0) summary.push(`device messages ${cases} cases per rank`);
  // Bandwidth, 64 MiB one way (rank 0 -> 1), device buffers against host arrays through MPI.
  const bytes = quick ? 4 << 20 : 64 << 20;
  const dev = new gpu.DeviceBuffer('uint8', bytes).zero();
  const host = new Uint8Array(bytes);
  const ack = new Uint8Array(1);
  const times: Record<string, number[]> = { device: [], host: [] };
  for (let i = 0; i < (quick ? 2 : 6); i++) {
    for (const k of ['device', 'host'] as const) {
      world.barrier?.();
      const t0 = performance.now();
      if (rank === 0) {
        if (k === 'device') world.send(dev, 1, 2);
        else world.send(host, 1, 2);
        world.recv(ack, 1, 3);
      } else {
        if (k === 'device') world.recv(dev, 0, 2);
        else world.recv(host, 0, 2);
        world.send(ack, 0, 3);
      }
      if (i > 0) times[k]!.push(bytes / ((performance.now() - t0) * 1e6));
    }
  }
  if (rank === 0) {
    const gbs = { device: Number(median(times.device!).toFixed(2)), host: Number(median(times.host!).toFixed(2)) };
    results.stagingGBs = gbs;
    summary.push(`${bytes >> 20} MiB messages: device ${gbs.device} GB/s, host ${gbs.host} GB/s`);
    console.log(`${bytes >> 20} MiB rank 0 -> 1, GB/s (medians): device buffers ${gbs.device}, host arrays ${gbs.host}`);
  }
  dev.dispose();
}

try {
  if (mode === 'single') await single();
  else if (mode === 'staging') await staging();
  else throw new Error(`unknown mode ${mode}`);
} catch (e) {
  failures++;
  console.log(`FAIL ${(e as Error).stack}`);
}
if (mode === 'single' || world.rank === 0) {
  console.log(`SUMMARY ${mode}: ${failures} failed; ${summary.join(', ')}`);
  console.log(`RESULT ${JSON.stringify({ ...results, failures })}`);
}
process.exitCode = failures ? 1 : 0;
