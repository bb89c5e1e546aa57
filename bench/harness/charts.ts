// The three charts of a run, from the medians: latency (with the typed channel), bandwidth, allreduce.
import { renderChart, type Series } from './svg.js';
import type { Results } from './stats.js';

const NAMES: Record<string, string> = {
  c: 'C (OpenMPI)', 'c-nonblocking': 'C, MPI_Iallreduce', 'c-hugepages': 'C, huge pages', 'mpi4node-blocking': 'mpi4node blocking',
  'mpi4node-promise': 'mpi4node Promise', mpi4py: 'mpi4py', 'mpi4node-channel': 'typed channel',
  'mpi4node-channel-promise': 'typed channel, Promise', 'c-persistent': 'C, persistent', 'mpi4node-persistent': 'mpi4node persistent',
  'mpi4py-persistent': 'mpi4py, persistent',
};
const ORDER = Object.keys(NAMES);

function series(res: Results, bench: string, ranks: number, suffix = ''): Series[] {
  const impls = res.impls(bench, ranks).sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b));
  return impls.map((impl) => ({
    label: `${NAMES[impl] ?? impl}${suffix}`,
    dashed: impl === 'c-hugepages' || (suffix !== '' && ranks !== 2),
    points: res.sizes(bench, ranks).flatMap((size) => {
      const m = res.summary({ bench, impl, ranks, size });
      return m ? [[size, m.median] as [number, number]] : [];
    }),
  }));
}

export function renderCharts(res: Results): Record<string, string> {
  return {
    'latency.svg': renderChart({
      title: 'Latency: half round trip, 2 ranks (median)', yLabel: 'latency (µs, log scale)',
      series: [...series(res, 'latency', 2), ...series(res, 'channel', 2)],
    }),
    'bandwidth.svg': renderChart({
      title: 'Bandwidth: window of 64 messages, 2 ranks (median)', yLabel: 'bandwidth (MB/s, log scale)',
      series: series(res, 'bw', 2),
    }),
    'allreduce.svg': renderChart({
      title: 'float32 allreduce (median)', yLabel: 'latency (µs, log scale)',
      series: [...series(res, 'allreduce', 2, ', 2 ranks'), ...series(res, 'allreduce', 4, ', 4 ranks')],
    }),
  };
}
