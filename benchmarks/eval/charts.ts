// Plain SVG charts of the evaluation (style of planner/svg.ts).
const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
export const kColors: Record<string, string> = { cascadeserve: '#1f5fbf', msplus: '#d0711a', static: '#2a9d4b', dynamic: '#8a3fb0' };
const fin = (x: number, cap: number) => (Number.isFinite(x) ? Math.min(x, cap) : cap);

function frame(W: number, H: number, title: string): string[] {
  return [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`, `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`];
}

/** Grouped bars: groups (e.g. "92.6% / 50 ms / twitter"), one bar per system. */
export function capacityChart(title: string, groups: { label: string; values: Record<string, number> }[], systems: string[], labels: Record<string, string>, yLabel: string): string {
  const W = Math.max(640, 120 + groups.length * (systems.length * 22 + 30)), H = 420, L = 70, R = 20, T = 40, B = 110;
  const pw = W - L - R, ph = H - T - B;
  const max = Math.max(1e-9, ...groups.flatMap((g) => Object.values(g.values).filter(Number.isFinite))) * 1.1;
  const out = frame(W, H, title);
  const gw = pw / Math.max(1, groups.length);
  const bw = Math.min(22, (gw - 20) / systems.length);
  groups.forEach((g, gi) => {
    const x0 = L + gi * gw + (gw - bw * systems.length) / 2;
    systems.forEach((s, si) => {
      const v = g.values[s] ?? 0;
      const h = (fin(v, max) / max) * ph;
      out.push(`<rect x="${(x0 + si * bw).toFixed(1)}" y="${(T + ph - h).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${kColors[s] ?? '#777'}"><title>${esc(`${labels[s] ?? s}: ${v.toFixed(0)}`)}</title></rect>`);
      out.push(`<text x="${(x0 + si * bw + bw / 2).toFixed(1)}" y="${(T + ph - h - 3).toFixed(1)}" text-anchor="middle" font-size="9">${Number.isFinite(v) ? v.toFixed(0) : '-'}</text>`);
    });
    out.push(`<text x="${(L + gi * gw + gw / 2).toFixed(1)}" y="${T + ph + 16}" text-anchor="middle" font-size="10">${esc(g.label)}</text>`);
  });
  out.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  for (let i = 0; i <= 5; i++) out.push(`<text x="${L - 6}" y="${(T + ph - (ph * i) / 5 + 4).toFixed(1)}" text-anchor="end">${((max * i) / 5).toFixed(0)}</text>`);
  out.push(`<text transform="translate(16,${T + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  systems.forEach((s, i) => {
    out.push(`<rect x="${L + i * 160}" y="${H - 40}" width="12" height="12" fill="${kColors[s] ?? '#777'}"/><text x="${L + i * 160 + 16}" y="${H - 30}">${esc(labels[s] ?? s)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Accuracy (y) against p95 (x, log scale) per system; points joined per system. */
export function accuracyLatencyChart(title: string, series: { system: string; points: { p95Ms: number; accuracy: number; label: string }[] }[], labels: Record<string, string>, sloLines: number[]): string {
  const W = 760, H = 440, L = 70, R = 20, T = 40, B = 80;
  const pw = W - L - R, ph = H - T - B;
  const pts = series.flatMap((s) => s.points);
  const pCap = 5000;
  const xs = pts.map((p) => fin(p.p95Ms, pCap)).concat(sloLines);
  const xMin = Math.max(0.5, Math.min(...xs) / 1.5), xMax = Math.max(...xs) * 1.5;
  const accs = pts.map((p) => p.accuracy).filter(Number.isFinite);
  const aMin = Math.min(...accs, 1) - 0.005, aMax = Math.max(...accs, 0) + 0.005;
  const x = (v: number) => L + ((Math.log(fin(v, pCap)) - Math.log(xMin)) / (Math.log(xMax) - Math.log(xMin))) * pw;
  const y = (a: number) => T + ph - ((a - aMin) / Math.max(1e-9, aMax - aMin)) * ph;
  const out = frame(W, H, title);
  for (const s of sloLines) out.push(`<line x1="${x(s).toFixed(1)}" y1="${T}" x2="${x(s).toFixed(1)}" y2="${T + ph}" stroke="#c33" stroke-dasharray="5,3"/><text x="${x(s).toFixed(1)}" y="${T + 12}" fill="#c33" font-size="9">SLO ${s} ms</text>`);
  for (const s of series) {
    const c = kColors[s.system] ?? '#777';
    const ok = s.points.filter((p) => Number.isFinite(p.accuracy));
    if (ok.length > 1) out.push(`<path d="${ok.map((p, i) => `${i ? 'L' : 'M'}${x(p.p95Ms).toFixed(1)},${y(p.accuracy).toFixed(1)}`).join(' ')}" stroke="${c}" fill="none" stroke-width="1.5"/>`);
    for (const p of ok) out.push(`<circle cx="${x(p.p95Ms).toFixed(1)}" cy="${y(p.accuracy).toFixed(1)}" r="4" fill="${c}"><title>${esc(`${labels[s.system] ?? s.system} ${p.label}: p95 ${Number.isFinite(p.p95Ms) ? p.p95Ms.toFixed(1) : 'inf'} ms, accuracy ${(p.accuracy * 100).toFixed(2)}%`)}</title></circle>`);
  }
  out.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  for (let i = 0; i <= 5; i++) {
    const a = aMin + ((aMax - aMin) * i) / 5;
    out.push(`<text x="${L - 6}" y="${(y(a) + 4).toFixed(1)}" text-anchor="end">${(a * 100).toFixed(1)}%</text>`);
    const v = Math.exp(Math.log(xMin) + ((Math.log(xMax) - Math.log(xMin)) * i) / 5);
    out.push(`<text x="${x(v).toFixed(1)}" y="${T + ph + 16}" text-anchor="middle">${v >= 10 ? v.toFixed(0) : v.toFixed(1)}</text>`);
  }
  out.push(`<text x="${L + pw / 2}" y="${T + ph + 34}" text-anchor="middle">p95 latency (ms, log scale; failures count as infinite, drawn at ${pCap} ms)</text>`);
  out.push(`<text transform="translate(16,${T + ph / 2}) rotate(-90)" text-anchor="middle">accuracy (held-out)</text>`);
  series.forEach((s, i) => out.push(`<rect x="${L + i * 170}" y="${H - 22}" width="12" height="12" fill="${kColors[s.system] ?? '#777'}"/><text x="${L + i * 170 + 16}" y="${H - 12}">${esc(labels[s.system] ?? s.system)}</text>`));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Over time during a burst: offered rate, p95 per bin (log) and gear index, for several systems. */
export function burstChart(title: string, runs: { system: string; bins: { tMs: number; rateQps: number; p95Ms: number; gear: number }[] }[], labels: Record<string, string>, sloMs: number, gearCount: number): string {
  const W = 820, H = 560, L = 70, R = 70, T = 40;
  const pw = W - L - R;
  const h1 = 260, h2 = 150, gap = 40;
  const out = frame(W, H, title);
  const tMax = Math.max(...runs.flatMap((r) => r.bins.map((b) => b.tMs))) + 1;
  const x = (t: number) => L + (t / tMax) * pw;
  // panel 1: p95 per bin, log scale
  const pMax = 5000, pMin = 0.5;
  const yp = (p: number) => T + h1 - ((Math.log(fin(p, pMax)) - Math.log(pMin)) / (Math.log(pMax) - Math.log(pMin))) * h1;
  const rMax = Math.max(...runs.flatMap((r) => r.bins.map((b) => b.rateQps))) * 1.1 || 1;
  const yr = (q: number) => T + h1 - (q / rMax) * h1;
  out.push(`<path d="${runs[0].bins.map((b, i) => `${i ? 'L' : 'M'}${x(b.tMs).toFixed(1)},${yr(b.rateQps).toFixed(1)}`).join(' ')}" stroke="#bbb" fill="#eee" stroke-width="1"/>`);
  out.push(`<line x1="${L}" y1="${yp(sloMs).toFixed(1)}" x2="${L + pw}" y2="${yp(sloMs).toFixed(1)}" stroke="#c33" stroke-dasharray="6,3"/><text x="${L + 4}" y="${(yp(sloMs) - 4).toFixed(1)}" fill="#c33">SLO ${sloMs} ms</text>`);
  for (const r of runs) {
    const d = r.bins.filter((b) => b.rateQps > 0).map((b, i) => `${i ? 'L' : 'M'}${x(b.tMs).toFixed(1)},${yp(b.p95Ms).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" stroke="${kColors[r.system] ?? '#777'}" fill="none" stroke-width="2"/>`);
  }
  out.push(`<rect x="${L}" y="${T}" width="${pw}" height="${h1}" fill="none" stroke="#333"/>`);
  for (const p of [1, 10, 100, 1000]) out.push(`<text x="${L - 6}" y="${(yp(p) + 4).toFixed(1)}" text-anchor="end">${p}</text>`);
  for (let i = 0; i <= 4; i++) out.push(`<text x="${L + pw + 6}" y="${(yr((rMax * i) / 4) + 4).toFixed(1)}" fill="#999">${((rMax * i) / 4).toFixed(0)}</text>`);
  out.push(`<text transform="translate(16,${T + h1 / 2}) rotate(-90)" text-anchor="middle">p95 per bin (ms, log; failures at top)</text>`);
  out.push(`<text transform="translate(${W - 14},${T + h1 / 2}) rotate(90)" text-anchor="middle" fill="#999">offered load (QPS, grey)</text>`);
  // panel 2: gear index (0 = most accurate)
  const T2 = T + h1 + gap;
  const gMax = Math.max(1, gearCount - 1);
  const yg = (g: number) => T2 + (g / gMax) * h2;
  for (const r of runs) {
    const d = r.bins.filter((b) => b.gear >= 0).map((b, i) => `${i ? 'L' : 'M'}${x(b.tMs).toFixed(1)},${yg(b.gear).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" stroke="${kColors[r.system] ?? '#777'}" fill="none" stroke-width="2"/>`);
  }
  out.push(`<rect x="${L}" y="${T2}" width="${pw}" height="${h2}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${L - 6}" y="${T2 + 4}" text-anchor="end">0</text><text x="${L - 6}" y="${T2 + h2 + 4}" text-anchor="end">${gMax}</text>`);
  out.push(`<text transform="translate(16,${T2 + h2 / 2}) rotate(-90)" text-anchor="middle">gear (0 = most accurate)</text>`);
  for (let i = 0; i <= 5; i++) out.push(`<text x="${x((tMax * i) / 5).toFixed(1)}" y="${T2 + h2 + 16}" text-anchor="middle">${((tMax * i) / 5000).toFixed(1)}</text>`);
  out.push(`<text x="${L + pw / 2}" y="${T2 + h2 + 32}" text-anchor="middle">time (s)</text>`);
  runs.forEach((r, i) => out.push(`<rect x="${L + i * 200}" y="${H - 22}" width="12" height="12" fill="${kColors[r.system] ?? '#777'}"/><text x="${L + i * 200 + 16}" y="${H - 12}">${esc(labels[r.system] ?? r.system)}</text>`));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Lanes needed (y, log2) against trace scale (x, log) per system. */
export function lanesChart(title: string, rows: { scale: number; lanes: Record<string, number | null> }[], systems: string[], labels: Record<string, string>): string {
  const W = 760, H = 420, L = 70, R = 20, T = 40, B = 80;
  const pw = W - L - R, ph = H - T - B;
  const sMin = Math.min(...rows.map((r) => r.scale)) / 1.3, sMax = Math.max(...rows.map((r) => r.scale)) * 1.3;
  const x = (s: number) => L + ((Math.log(s) - Math.log(sMin)) / (Math.log(sMax) - Math.log(sMin))) * pw;
  const y = (l: number) => T + ph - (Math.log2(l) / Math.log2(128)) * ph;
  const out = frame(W, H, title);
  for (const s of systems) {
    const pts = rows.map((r) => ({ s: r.scale, l: r.lanes[s] ?? 128 }));
    out.push(`<path d="${pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.s).toFixed(1)},${y(p.l).toFixed(1)}`).join(' ')}" stroke="${kColors[s] ?? '#777'}" fill="none" stroke-width="2"/>`);
    for (const p of pts) out.push(`<circle cx="${x(p.s).toFixed(1)}" cy="${y(p.l).toFixed(1)}" r="3" fill="${kColors[s] ?? '#777'}"/>`);
  }
  out.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  for (const l of [1, 2, 4, 8, 16, 32, 64]) out.push(`<text x="${L - 6}" y="${(y(l) + 4).toFixed(1)}" text-anchor="end">${l}</text>`);
  out.push(`<text x="${L - 6}" y="${(y(128) + 4).toFixed(1)}" text-anchor="end">&gt;64</text>`);
  for (const r of rows) out.push(`<text x="${x(r.scale).toFixed(1)}" y="${T + ph + 16}" text-anchor="middle">${r.scale.toFixed(0)}</text>`);
  out.push(`<text x="${L + pw / 2}" y="${T + ph + 34}" text-anchor="middle">trace scale (mean QPS, log)</text>`);
  out.push(`<text transform="translate(16,${T + ph / 2}) rotate(-90)" text-anchor="middle">lanes needed (log2)</text>`);
  systems.forEach((s, i) => out.push(`<rect x="${L + i * 170}" y="${H - 22}" width="12" height="12" fill="${kColors[s] ?? '#777'}"/><text x="${L + i * 170 + 16}" y="${H - 12}">${esc(labels[s] ?? s)}</text>`));
  out.push('</svg>');
  return out.join('\n') + '\n';
}
