/**
 * A tiny dependency-free SVG line plot (for quality-vs-NFE curves and loss curves): linear or
 * log axes, a legend, optional markers-only series. Returns the SVG document as a string.
 * @module
 */

/** One series of (x, y) points. */
export interface Series {
  /** Legend label. */
  name: string;
  /** The (x, y) points, drawn in order. */
  points: readonly (readonly [number, number])[];
  /** Draw only markers (no line), e.g. for single configurations. */
  markersOnly?: boolean;
  /** CSS colour (default: from a palette). */
  color?: string;
}

/** Plot options. */
export interface PlotOptions {
  /** Title above the plot. */
  title?: string;
  /** Label of the x axis. */
  xLabel?: string;
  /** Label of the y axis. */
  yLabel?: string;
  /** SVG width in pixels. Default 640. */
  width?: number;
  /** SVG height in pixels. Default 400. */
  height?: number;
  /** Logarithmic x axis. */
  logX?: boolean;
  /** Logarithmic y axis. */
  logY?: boolean;
}

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"];

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** 3–6 round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

function fmt(v: number): string {
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(1) : String(v);
}

/** Renders `series` as an SVG line plot. */
export function linePlot(series: readonly Series[], opts: PlotOptions = {}): string {
  const W = opts.width ?? 640, H = opts.height ?? 400;
  const m = { left: 64, right: 150, top: opts.title ? 36 : 16, bottom: 48 };
  const pts = series.flatMap((s) => s.points).filter(([x, y]) =>
    Number.isFinite(x) && Number.isFinite(y) && (!opts.logX || x > 0) && (!opts.logY || y > 0)
  );
  const tx = (v: number) => (opts.logX ? Math.log10(v) : v);
  const ty = (v: number) => (opts.logY ? Math.log10(v) : v);
  let [x0, x1] = pts.length
    ? [Math.min(...pts.map((p) => tx(p[0]))), Math.max(...pts.map((p) => tx(p[0])))]
    : [0, 1];
  let [y0, y1] = pts.length
    ? [Math.min(...pts.map((p) => ty(p[1]))), Math.max(...pts.map((p) => ty(p[1])))]
    : [0, 1];
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad, y1 += pad;
  const pw = W - m.left - m.right, ph = H - m.top - m.bottom;
  const sx = (v: number) => m.left + ((tx(v) - x0) / (x1 - x0)) * pw;
  const sy = (v: number) => m.top + ph - ((ty(v) - y0) / (y1 - y0)) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  if (opts.title) {
    out.push(
      `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${
        escapeXml(opts.title)
      }</text>`,
    );
  }
  const axisTicks = (lo: number, hi: number, log?: boolean) =>
    log
      ? niceTicks(Math.ceil(lo), Math.floor(hi)).filter(Number.isInteger).map((e) => 10 ** e)
      : niceTicks(lo, hi);
  for (const v of axisTicks(x0, x1, opts.logX)) {
    const x = sx(v).toFixed(1);
    out.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${m.top + ph + 16}" text-anchor="middle">${fmt(v)}</text>`);
  }
  for (const v of axisTicks(y0, y1, opts.logY)) {
    const y = sy(v).toFixed(1);
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#eee"/>`);
    out.push(
      `<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${
        fmt(v)
      }</text>`,
    );
  }
  out.push(
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
  );
  if (opts.xLabel) {
    out.push(
      `<text x="${m.left + pw / 2}" y="${H - 10}" text-anchor="middle">${
        escapeXml(opts.xLabel)
      }</text>`,
    );
  }
  if (opts.yLabel) {
    out.push(
      `<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${
        escapeXml(opts.yLabel)
      }</text>`,
    );
  }
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const valid = s.points.filter(([x, y]) =>
      Number.isFinite(x) && Number.isFinite(y) && (!opts.logX || x > 0) && (!opts.logY || y > 0)
    );
    if (!s.markersOnly && valid.length > 1) {
      const d = valid.map(([x, y], k) => `${k ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
        .join("");
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    }
    for (const [x, y] of valid) {
      out.push(
        `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3.5" fill="${color}"/>`,
      );
    }
    const ly = m.top + 14 + i * 18;
    out.push(
      `<rect x="${m.left + pw + 12}" y="${ly - 6}" width="12" height="12" fill="${color}"/>`,
    );
    out.push(
      `<text x="${m.left + pw + 30}" y="${ly}" dominant-baseline="middle">${
        escapeXml(s.name)
      }</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n");
}
