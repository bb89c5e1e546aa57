// Line charts as hand-written SVG (no dependencies): a value against message size, both axes
// logarithmic, one polyline (with point markers) per series, a legend and axis labels.

export interface Series {
  label: string;
  points: [number, number][]; // [size in bytes, value]
  dashed?: boolean;
}

export interface Chart {
  title: string;
  yLabel: string;
  series: Series[];
}

const W = 760, H = 460;
const M = { left: 72, right: 200, top: 40, bottom: 56 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#17becf', '#bcbd22'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function sizeLabel(n: number): string {
  if (n >= 1 << 20) return `${n / (1 << 20)}M`;
  if (n >= 1024) return `${n / 1024}K`;
  return String(n);
}

function valueLabel(v: number): string {
  return v >= 1 ? String(v) : v.toPrecision(1);
}

export function renderChart(c: Chart): string {
  const pts = c.series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && y > 0);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${(M.left + W - M.right) / 2}" y="22" text-anchor="middle" font-size="15">${esc(c.title)}</text>`,
  ];
  if (pts.length === 0) {
    out.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no data</text>`, '</svg>');
    return out.join('\n') + '\n';
  }
  // Axis ranges on whole powers (of 2 for sizes, 10 for values) around the data.
  const lx = pts.map(([x]) => Math.log2(x)), ly = pts.map(([, y]) => Math.log10(y));
  const x0 = Math.floor(Math.min(...lx)), x1 = Math.max(x0 + 1, Math.ceil(Math.max(...lx)));
  const y0 = Math.floor(Math.min(...ly)), y1 = Math.max(y0 + 1, Math.ceil(Math.max(...ly)));
  const pw = W - M.left - M.right, ph = H - M.top - M.bottom;
  const px = (x: number) => M.left + ((Math.log2(x) - x0) / (x1 - x0)) * pw;
  const py = (y: number) => M.top + ph - ((Math.log10(y) - y0) / (y1 - y0)) * ph;

  out.push(`<g stroke="#ddd" stroke-width="1">`);
  const xStep = Math.max(1, Math.ceil((x1 - x0) / 12));
  for (let e = x0; e <= x1; e += xStep) out.push(`<line x1="${px(2 ** e).toFixed(1)}" y1="${M.top}" x2="${px(2 ** e).toFixed(1)}" y2="${M.top + ph}"/>`);
  for (let e = y0; e <= y1; e++) out.push(`<line x1="${M.left}" y1="${py(10 ** e).toFixed(1)}" x2="${M.left + pw}" y2="${py(10 ** e).toFixed(1)}"/>`);
  out.push('</g>');
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  for (let e = x0; e <= x1; e += xStep) {
    out.push(`<text x="${px(2 ** e).toFixed(1)}" y="${M.top + ph + 16}" text-anchor="middle">${sizeLabel(2 ** e)}</text>`);
  }
  for (let e = y0; e <= y1; e++) {
    out.push(`<text x="${M.left - 6}" y="${(py(10 ** e) + 4).toFixed(1)}" text-anchor="end">${valueLabel(10 ** e)}</text>`);
  }
  out.push(`<text x="${M.left + pw / 2}" y="${H - 14}" text-anchor="middle">message size (bytes, log scale)</text>`);
  out.push(`<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`);

  c.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const p = s.points.filter(([x, y]) => x > 0 && y > 0).sort((a, b) => a[0] - b[0]);
    const dash = s.dashed ? ' stroke-dasharray="5 4"' : '';
    const coords = p.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    out.push(`<polyline data-series="${esc(s.label)}" fill="none" stroke="${color}" stroke-width="2"${dash} points="${coords}"/>`);
    for (const [x, y] of p) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${color}"/>`);
    const ly0 = M.top + 10 + i * 20;
    out.push(`<line x1="${W - M.right + 14}" y1="${ly0}" x2="${W - M.right + 40}" y2="${ly0}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${W - M.right + 46}" y="${ly0 + 4}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
