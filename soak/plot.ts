/**
 * The soak's plot, as hand-written SVG (no browser, no chart library): delivery latency over
 * time (p50, p99 and max per second, log scale) above the fault windows, one lane per fault kind,
 * and each process's RSS below.
 */
import type { FaultWindow } from './faults.ts';
import type { StreamFrame } from './observe.ts';

export interface PlotInput {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly frames: readonly StreamFrame[];
  readonly windows: readonly FaultWindow[];
  readonly rss: readonly { readonly t: number; readonly rss: Readonly<Record<string, number>> }[];
  readonly title: string;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];
const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function renderSvg({ startedAt, endedAt, frames, windows, rss, title }: PlotInput): string {
  const width = 1200;
  const left = 70;
  const right = 20;
  const plotWidth = width - left - right;
  const latencyTop = 40;
  const latencyHeight = 260;
  const kinds = [...new Set(windows.map((w) => w.kind))].sort();
  const laneHeight = 16;
  const faultsTop = latencyTop + latencyHeight + 30;
  const rssTop = faultsTop + kinds.length * laneHeight + 40;
  const rssHeight = 160;
  const height = rssTop + rssHeight + 50;
  const seconds = Math.max(1, Math.ceil((endedAt - startedAt) / 1000));
  const x = (t: number): number => left + (Math.max(0, t - startedAt) / 1000 / seconds) * plotWidth;

  // Latency per second of arrival.
  const perSecond = new Map<number, number[]>();
  for (const frame of frames) {
    if (!Number.isFinite(frame.createdAt)) continue;
    const second = Math.floor((frame.at - startedAt) / 1000);
    const list = perSecond.get(second) ?? [];
    list.push(Math.max(1, frame.at - frame.createdAt));
    perSecond.set(second, list);
  }
  const maxLatency = Math.max(1000, ...[...perSecond.values()].map((list) => Math.max(...list)));
  const logMax = Math.log10(maxLatency);
  const y = (ms: number): number => latencyTop + latencyHeight - (Math.log10(Math.max(1, ms)) / logMax) * latencyHeight;
  const series = (p: number | 'max'): string =>
    [...perSecond.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([second, list]) => {
        const sorted = [...list].sort((a, b) => a - b);
        const value = p === 'max' ? (sorted.at(-1) as number) : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number);
        return `${(left + ((second + 0.5) / seconds) * plotWidth).toFixed(1)},${y(value).toFixed(1)}`;
      })
      .join(' ');

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">${escape(title)}</text>`);
  // Fault windows (until every client was connected again) shade the latency panel.
  windows.forEach((w) => {
    const color = COLORS[kinds.indexOf(w.kind) % COLORS.length] as string;
    const x0 = x(w.start);
    const x1 = Math.max(x0 + 1, x(w.recovered));
    parts.push(`<rect x="${x0.toFixed(1)}" y="${latencyTop}" width="${(x1 - x0).toFixed(1)}" height="${latencyHeight}" fill="${color}" opacity="0.12"/>`);
  });
  // Latency axes.
  parts.push(`<text x="${left}" y="${latencyTop - 6}">delivery latency (commit to client), ms, log scale: p50 (grey), p99 (black), max (red) per second</text>`);
  for (let decade = 0; decade <= Math.ceil(logMax); decade += 1) {
    const ms = 10 ** decade;
    if (ms > maxLatency * 1.01) break;
    parts.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${y(ms).toFixed(1)}" y2="${y(ms).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${(y(ms) + 4).toFixed(1)}" text-anchor="end">${ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`}</text>`);
  }
  parts.push(`<rect x="${left}" y="${latencyTop}" width="${plotWidth}" height="${latencyHeight}" fill="none" stroke="#333"/>`);
  parts.push(`<polyline fill="none" stroke="#aaa" stroke-width="1" points="${series(50)}"/>`);
  parts.push(`<polyline fill="none" stroke="#000" stroke-width="1.2" points="${series(99)}"/>`);
  parts.push(`<polyline fill="none" stroke="#d62728" stroke-width="0.8" opacity="0.7" points="${series('max')}"/>`);
  // Time axis.
  const step = seconds > 600 ? 120 : seconds > 120 ? 60 : 10;
  for (let s = 0; s <= seconds; s += step) {
    const px = left + (s / seconds) * plotWidth;
    parts.push(`<text x="${px.toFixed(1)}" y="${latencyTop + latencyHeight + 14}" text-anchor="middle">${s} s</text>`);
  }
  // Fault lanes.
  parts.push(`<text x="${left}" y="${faultsTop - 8}">faults (one lane per kind)</text>`);
  kinds.forEach((kind, index) => {
    const color = COLORS[index % COLORS.length] as string;
    const top = faultsTop + index * laneHeight;
    parts.push(`<text x="${left - 6}" y="${top + 11}" text-anchor="end" font-size="9">${escape(kind)}</text>`);
    parts.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${top + laneHeight / 2}" y2="${top + laneHeight / 2}" stroke="#eee"/>`);
    for (const w of windows.filter((item) => item.kind === kind)) {
      const x0 = x(w.start);
      const x1 = Math.max(x0 + 2, x(w.end));
      parts.push(`<rect x="${x0.toFixed(1)}" y="${top + 2}" width="${(x1 - x0).toFixed(1)}" height="${laneHeight - 4}" fill="${color}"><title>${escape(`${w.kind}: ${w.detail}`)}</title></rect>`);
    }
  });
  // RSS.
  const names = [...new Set(rss.flatMap((sample) => Object.keys(sample.rss)))].sort();
  const maxRss = Math.max(1, ...rss.flatMap((sample) => Object.values(sample.rss))) / 1024;
  const yr = (mib: number): number => rssTop + rssHeight - (mib / maxRss) * rssHeight;
  parts.push(`<text x="${left}" y="${rssTop - 6}">RSS, MiB (0 to ${Math.round(maxRss)})</text>`);
  parts.push(`<rect x="${left}" y="${rssTop}" width="${plotWidth}" height="${rssHeight}" fill="none" stroke="#333"/>`);
  names.forEach((name, index) => {
    const color = COLORS[(index + 3) % COLORS.length] as string;
    const points = rss
      .filter((sample) => sample.rss[name] !== undefined)
      .map((sample) => `${x(sample.t).toFixed(1)},${yr((sample.rss[name] as number) / 1024).toFixed(1)}`)
      .join(' ');
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1" points="${points}"/>`);
    parts.push(`<text x="${left + 10 + index * 110}" y="${rssTop + rssHeight + 18}" fill="${color}">${escape(name)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
