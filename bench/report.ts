// The benchmark's outputs: the stdout table, the SVG chart of latency percentiles per load, and the
// README's benchmark section.
import type { OpenLoopResult } from "./workloads.ts";

/** One checked target of architecture.md §7. */
export type Target = { what: string; value: number | null; target: string; met: boolean | null };

/** A fixed-width table: the first row is the header. */
export function table(rows: (string | number | null)[][]): string {
  const text = rows.map((r) => r.map((c) => (c === null ? "-" : String(c))));
  const widths = text[0].map((_, i) => Math.max(...text.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(text[0]), line(widths.map((w) => "-".repeat(w))), ...text.slice(1).map(line)].join("\n");
}

const escapeXml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Grouped bars of p50 / p95 / p99 (commit → provider request) for each open-loop rate, ours and, when
 * given, graphile-worker's at the same rate beside them. */
export function latencyChart(levels: OpenLoopResult[], caption: string, peer: OpenLoopResult[] = []): string {
  const width = 640;
  const height = 360;
  const left = 60;
  const bottom = 300;
  const top = 50;
  const series = [
    { key: "p50_ms", label: "p50", color: "#4e79a7" },
    { key: "p95_ms", label: "p95", color: "#f28e2b" },
    { key: "p99_ms", label: "p99", color: "#e15759" },
  ] as const;
  const peerSeries = [
    { key: "p50_ms", label: "graphile p50", color: "#a0cbe8" },
    { key: "p95_ms", label: "graphile p95", color: "#ffbe7d" },
    { key: "p99_ms", label: "graphile p99", color: "#ff9d9a" },
  ] as const;
  const peerAt = (rate: number) => peer.find((l) => l.rate === rate);
  const bars = peer.length > 0 ? series.length * 2 : series.length;
  const max = Math.max(1, ...[...levels, ...peer].flatMap((l) => series.map((s) => l[s.key] || 0)));
  const step = niceStep(max / 5);
  const yMax = Math.ceil(max / step) * step;
  const y = (v: number) => bottom - ((bottom - top) * v) / yMax;
  const groupWidth = (width - left - 20) / Math.max(1, levels.length);
  const barWidth = Math.min(40, (groupWidth - 30) / bars);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${
      width / 2
    }" y="22" text-anchor="middle" font-size="15">Transition commit → provider request latency (ms)</text>`,
    `<text x="${width / 2}" y="40" text-anchor="middle" fill="#555">${escapeXml(caption)}</text>`,
  ];
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    parts.push(
      `<line x1="${left}" x2="${width - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${round(v)}</text>`,
    );
  }
  levels.forEach((level, g) => {
    const x0 = left + g * groupWidth + (groupWidth - barWidth * bars) / 2;
    const other = peerAt(level.rate);
    const drawn = peer.length > 0
      ? [
        ...series.map((s) => ({ s, l: level as OpenLoopResult | undefined })),
        ...peerSeries.map((s) => ({ s, l: other })),
      ]
      : series.map((s) => ({ s, l: level as OpenLoopResult | undefined }));
    drawn.forEach(({ s, l }, i) => {
      const v = l?.[s.key] || 0;
      const x = x0 + i * barWidth;
      parts.push(
        `<rect x="${x}" y="${y(v)}" width="${barWidth - 4}" height="${bottom - y(v)}" fill="${s.color}"/>`,
        `<text x="${x + (barWidth - 4) / 2}" y="${y(v) - 4}" text-anchor="middle" font-size="10">${
          round(v)
        }</text>`,
      );
    });
    parts.push(
      `<text x="${left + g * groupWidth + groupWidth / 2}" y="${
        bottom + 18
      }" text-anchor="middle">${level.rate} transitions/s</text>`,
      `<text x="${left + g * groupWidth + groupWidth / 2}" y="${
        bottom + 33
      }" text-anchor="middle" fill="#555" font-size="10">achieved ${level.achieved_per_s}/s, ${level.received} runs</text>`,
    );
  });
  [...series, ...(peer.length > 0 ? peerSeries : [])].forEach((s, i) => {
    parts.push(
      `<rect x="${left + 10 + i * 88}" y="${height - 16}" width="10" height="10" fill="${s.color}"/>`,
      `<text x="${left + 24 + i * 88}" y="${height - 7}">${s.label}</text>`,
    );
  });
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${bottom}" stroke="#333"/>`, "</svg>");
  return parts.join("\n") + "\n";
}

function niceStep(raw: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  const n = raw / magnitude;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * magnitude;
}

function round(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2).replace(/\.?0+$/, "");
}
