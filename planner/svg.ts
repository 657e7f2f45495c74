// plan.svg: expected accuracy and predicted p95 against load, gear ranges as bands.

import type { Plan } from '../ts/contracts/plan-schema.js';

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function planSvg(plan: Plan): string {
  const W = 800, H = 420, L = 70, R = 70, T = 40, B = 60;
  const pw = W - L - R, ph = H - T - B;
  const maxQ = plan.loadGrid.maxQps || 1;
  const accs = plan.gears.map((g) => g.expectedAccuracy);
  const target = plan.accuracyObjective?.target;
  const aMin = Math.min(...accs, target ?? 1, 1) - 0.01, aMax = Math.max(...accs, 0) + 0.01;
  const pMax = Math.max(plan.slo.p95Ms * 1.1, ...plan.gears.map((g) => g.predictedP95Ms));
  const x = (q: number) => L + (q / maxQ) * pw;
  const ya = (a: number) => T + ph - ((a - aMin) / Math.max(1e-9, aMax - aMin)) * ph;
  const yp = (p: number) => T + ph - (p / pMax) * ph;
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`];
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">Gear plan: ${plan.lanes.length} lane(s), p95 SLO ${plan.slo.p95Ms} ms</text>`);
  plan.gears.forEach((g, i) => {
    out.push(`<rect x="${x(g.minQps).toFixed(1)}" y="${T}" width="${(x(g.maxQps) - x(g.minQps)).toFixed(1)}" height="${ph}" fill="${i % 2 ? '#eef3fb' : '#f8f8f8'}"><title>${esc(`gear ${g.id}: ${g.stages.map((s) => s.model).join(' > ')}${g.static ? ' (static cascade)' : ''}`)}</title></rect>`);
    out.push(`<line x1="${x(g.maxQps).toFixed(1)}" y1="${T}" x2="${x(g.maxQps).toFixed(1)}" y2="${T + ph}" stroke="#bbb" stroke-dasharray="3,3"/>`);
  });
  for (const u of plan.unservable) out.push(`<rect x="${x(u.minQps).toFixed(1)}" y="${T}" width="${(x(u.maxQps) - x(u.minQps)).toFixed(1)}" height="${ph}" fill="#fbe3e3"><title>${esc(`unservable: ${u.reason}`)}</title></rect>`);
  if (target !== undefined) out.push(`<line x1="${L}" y1="${ya(target).toFixed(1)}" x2="${L + pw}" y2="${ya(target).toFixed(1)}" stroke="#1f5fbf" stroke-dasharray="2,4"><title>${esc(`accuracy target ${target}${plan.accuracyObjective!.mode === 'load-weighted' ? ' (load-weighted)' : ''}`)}</title></line>`);
  out.push(`<line x1="${L}" y1="${yp(plan.slo.p95Ms).toFixed(1)}" x2="${L + pw}" y2="${yp(plan.slo.p95Ms).toFixed(1)}" stroke="#c33" stroke-dasharray="6,3"/>`);
  const step = (f: (g: Plan['gears'][number]) => number) => plan.gears.map((g) => `M${x(g.minQps).toFixed(1)},${f(g).toFixed(1)} H${x(g.maxQps).toFixed(1)}`).join(' ');
  out.push(`<path d="${step((g) => ya(g.expectedAccuracy))}" stroke="#1f5fbf" stroke-width="2.5" fill="none"/>`);
  out.push(`<path d="${step((g) => yp(g.predictedP95Ms))}" stroke="#d0711a" stroke-width="2" fill="none"/>`);
  out.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  for (let i = 0; i <= 5; i++) {
    const q = (maxQ * i) / 5, a = aMin + ((aMax - aMin) * i) / 5, p = (pMax * i) / 5;
    out.push(`<text x="${x(q).toFixed(1)}" y="${T + ph + 16}" text-anchor="middle">${q.toFixed(0)}</text>`);
    out.push(`<text x="${L - 6}" y="${(ya(a) + 4).toFixed(1)}" text-anchor="end" fill="#1f5fbf">${a.toFixed(3)}</text>`);
    out.push(`<text x="${L + pw + 6}" y="${(yp(p) + 4).toFixed(1)}" fill="#d0711a">${p.toFixed(1)}</text>`);
  }
  out.push(`<text x="${L + pw / 2}" y="${H - 18}" text-anchor="middle">load (queries per second)</text>`);
  out.push(`<text transform="translate(16,${T + ph / 2}) rotate(-90)" text-anchor="middle" fill="#1f5fbf">expected accuracy (validation)${target !== undefined ? '; dotted: target' : ''}</text>`);
  out.push(`<text transform="translate(${W - 14},${T + ph / 2}) rotate(90)" text-anchor="middle" fill="#d0711a">predicted p95 (ms); dashed red: SLO</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
