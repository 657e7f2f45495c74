// The /dashboard page: one self-contained HTML document (inline CSS, JS and SVG; no build
// step, nothing fetched but the server's own status JSON). It polls /v2/cascadeserve/status
// every second (?poll_ms=), keeps the last five minutes (?window_s=), and draws the arrival rate, the gear, its
// expected accuracy, p95 against the SLO, refusals and exits per stage, plus the plan's gear
// chart (expected accuracy against load, the current load marked).
//
// With --auth-token the status JSON needs the token; the page reads it from the URL fragment
// (/dashboard#token=...), which the browser never sends to the server, and sends it as
// `Authorization: Bearer`. The page itself holds no data and is served without a token.
// Written as a String.raw template: the script below uses no backticks and no "${".

export const kDashboardHtml = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cascadeserve</title>
<style>
  :root { --fg: #1d2330; --muted: #6b7385; --line: #d9dde6; --bg: #f6f7fa; --card: #fff;
          --a: #2f6fde; --b: #d9822b; --c: #2e9e6a; --d: #b5476b; --e: #7a5cc7; --bad: #c0392b; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
  header { display: flex; align-items: baseline; gap: 16px; padding: 12px 20px; background: var(--card); border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; }
  header .muted { color: var(--muted); }
  #error { color: var(--bad); font-weight: 600; }
  .tiles { display: grid; grid-template-columns: repeat(5, 1fr); gap: 12px; padding: 12px 20px 0; }
  .tile { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
  .tile .label { color: var(--muted); font-size: 12px; }
  .tile .value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
  .tile .sub { color: var(--muted); font-size: 12px; }
  .bad { color: var(--bad); }
  .grid { display: grid; grid-template-columns: repeat(2, 1fr); gap: 12px; padding: 12px 20px 20px; }
  .card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
  .card h2 { font-size: 13px; margin: 0 0 4px; font-weight: 600; }
  .legend { color: var(--muted); font-size: 12px; min-height: 16px; }
  .legend span { margin-right: 10px; }
  svg { width: 100%; height: 170px; display: block; }
  svg text { font-size: 10px; fill: var(--muted); }
  .wide { grid-column: span 2; }
  .wide svg { height: 220px; }
</style>
</head>
<body>
<header>
  <h1>cascadeserve <span id="model" class="muted"></span></h1>
  <span class="muted">last <span id="window-s">300</span> s, polled every <span id="poll-ms">1000</span> ms</span>
  <span id="error"></span>
</header>
<section class="tiles">
  <div class="tile"><div class="label">Arrival rate</div><div class="value" id="rate">-</div><div class="sub">images/s (load window)</div></div>
  <div class="tile"><div class="label">Current gear</div><div class="value" id="gear-id" data-gear-id="">-</div><div class="sub" id="gear-pos"></div></div>
  <div class="tile"><div class="label">Expected accuracy</div><div class="value" id="accuracy">-</div><div class="sub">of the running gear (plan)</div></div>
  <div class="tile"><div class="label">p95 latency (last 10 s)</div><div class="value" id="p95">-</div><div class="sub" id="slo"></div></div>
  <div class="tile"><div class="label">Refusals</div><div class="value" id="refusals">-</div><div class="sub" id="refusals-total"></div></div>
</section>
<section class="grid">
  <div class="card"><h2>Arrival rate (images/s)</h2><svg id="chart-rate"></svg><div class="legend" id="legend-rate"></div></div>
  <div class="card"><h2>Gear (0 = most accurate)</h2><svg id="chart-gear"></svg><div class="legend" id="legend-gear"></div></div>
  <div class="card"><h2>Expected accuracy</h2><svg id="chart-accuracy"></svg><div class="legend" id="legend-accuracy"></div></div>
  <div class="card"><h2>p95 latency against the SLO (ms)</h2><svg id="chart-p95"></svg><div class="legend" id="legend-p95"></div></div>
  <div class="card"><h2>Refusals (requests/s)</h2><svg id="chart-refusals"></svg><div class="legend" id="legend-refusals"></div></div>
  <div class="card"><h2>Exits per stage (images/s)</h2><svg id="chart-exits"></svg><div class="legend" id="legend-exits"></div></div>
  <div class="card wide"><h2>The gear plan: expected accuracy by load</h2><svg id="chart-plan"></svg><div class="legend" id="legend-plan"></div></div>
</section>
<script>
"use strict";
(function () {
  var params = new URLSearchParams(location.search);
  var pollMs = Math.max(100, Number(params.get("poll_ms")) || 1000);
  var windowMs = 1000 * Math.max(10, Number(params.get("window_s")) || 300);
  var p95WindowMs = 10 * 1000;
  var fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  var token = fragment.get("token");
  var colors = ["#2f6fde", "#d9822b", "#2e9e6a", "#b5476b", "#7a5cc7", "#4a9bb0", "#8c6d3f"];
  var samples = [];
  var shownGears = [];
  document.getElementById("window-s").textContent = String(windowMs / 1000);
  document.getElementById("poll-ms").textContent = String(pollMs);
  window.cascadeserveDashboard = { samples: samples, shownGears: shownGears };

  function $(id) { return document.getElementById(id); }
  // Drawing units = CSS pixels of the element (viewBox set to match), so text keeps its size.
  function size(svg, w0, h0) {
    var r = svg.getBoundingClientRect();
    var w = Math.round(r.width) || w0, h = Math.round(r.height) || h0;
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    return { w: w, h: h };
  }
  function fmt(x, digits) { return isFinite(x) ? x.toFixed(digits) : "-"; }
  function svgEl(name, attrs) {
    var e = document.createElementNS("http://www.w3.org/2000/svg", name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }

  // p95 of the requests answered between two samples, from the cumulative bucket counts
  // (linear within a bucket, as Prometheus' histogram_quantile does).
  function p95Between(a, b) {
    var le = b.latency.le_s, n = le.length, d = [];
    for (var i = 0; i < n; i++) d.push(b.latency.cumulative[i] - (a ? a.latency.cumulative[i] : 0));
    var total = (b.requests.success - (a ? a.requests.success : 0));
    if (!(total > 0)) return NaN;
    var rank = 0.95 * total, lower = 0, below = 0;
    for (var j = 0; j < n; j++) {
      if (d[j] >= rank) {
        var inBucket = d[j] - below;
        return (lower + (le[j] - lower) * (inBucket > 0 ? (rank - below) / inBucket : 1)) * 1000;
      }
      lower = le[j];
      below = d[j];
    }
    return le[n - 1] * 1000; // above the last finite bound
  }

  function sampleAtOrBefore(t) {
    for (var i = samples.length - 1; i >= 0; i--) if (samples[i].time_ms <= t) return samples[i];
    return null;
  }

  // Series over time: [{t, v}] per named line.
  function derived() {
    var out = { rate: [], gear: [], accuracy: [], p95: [], refusals: [], exits: [] };
    for (var i = 1; i < samples.length; i++) {
      var a = samples[i - 1], b = samples[i], dt = (b.time_ms - a.time_ms) / 1000;
      if (!(dt > 0)) continue;
      out.rate.push({ t: b.time_ms, v: (b.arrivals_total - a.arrivals_total) / dt });
      out.refusals.push({ t: b.time_ms, v: (b.requests.rejected - a.requests.rejected) / dt });
      var ex = [];
      for (var s = 0; s < b.stage_exits.length; s++) ex.push((b.stage_exits[s] - (a.stage_exits[s] || 0)) / dt);
      out.exits.push({ t: b.time_ms, v: ex });
      out.p95.push({ t: b.time_ms, v: p95Between(sampleAtOrBefore(b.time_ms - p95WindowMs) || samples[0], b) });
    }
    for (var k = 0; k < samples.length; k++) {
      out.gear.push({ t: samples[k].time_ms, v: samples[k].gear.index });
      out.accuracy.push({ t: samples[k].time_ms, v: samples[k].gear.expected_accuracy * 100 });
    }
    return out;
  }

  // A line chart of several series over the last windowMs; lines: [{name, color, points:[{t,v}], step}].
  function drawTime(id, lines, opts) {
    var svg = $(id), box = size(svg, 600, 170), w = box.w, h = box.h;
    var left = 44, right = 8, top = 8, bottom = 18;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var now = samples.length ? samples[samples.length - 1].time_ms : Date.now();
    var t0 = now - windowMs;
    var lo = opts.min !== undefined ? opts.min : Infinity, hi = opts.max !== undefined ? opts.max : -Infinity;
    lines.forEach(function (l) { l.points.forEach(function (p) { if (isFinite(p.v)) { if (opts.min === undefined) lo = Math.min(lo, p.v); if (opts.max === undefined) hi = Math.max(hi, p.v); } }); });
    if (!isFinite(lo)) lo = 0;
    if (!isFinite(hi) || hi <= lo) hi = lo + 1;
    var x = function (t) { return left + (w - left - right) * (t - t0) / windowMs; };
    var y = function (v) { return top + (h - top - bottom) * (1 - (v - lo) / (hi - lo)); };
    var steps = opts.integer ? Math.max(1, Math.min(4, Math.round(hi - lo))) : 4;
    for (var g = 0; g <= steps; g++) {
      var v = lo + (hi - lo) * g / steps;
      svg.appendChild(svgEl("line", { x1: left, x2: w - right, y1: y(v), y2: y(v), stroke: "#eceef3" }));
      var label = svgEl("text", { x: left - 4, y: y(v) + 3, "text-anchor": "end" });
      label.textContent = opts.integer ? String(Math.round(v)) : (Math.abs(hi) >= 100 ? v.toFixed(0) : v.toFixed(hi - lo < 1 ? 2 : 1));
      svg.appendChild(label);
    }
    var tl = svgEl("text", { x: left, y: h - 4 }); tl.textContent = "-" + Math.round(windowMs / 1000) + " s"; svg.appendChild(tl);
    var tr = svgEl("text", { x: w - right, y: h - 4, "text-anchor": "end" }); tr.textContent = "now"; svg.appendChild(tr);
    lines.forEach(function (l) {
      var d = "", prev = null;
      l.points.forEach(function (p) {
        if (p.t < t0 || !isFinite(p.v)) { prev = null; return; }
        if (prev === null) d += "M" + x(p.t).toFixed(1) + "," + y(p.v).toFixed(1);
        else if (l.step) d += "H" + x(p.t).toFixed(1) + "V" + y(p.v).toFixed(1);
        else d += "L" + x(p.t).toFixed(1) + "," + y(p.v).toFixed(1);
        prev = p;
      });
      if (d) svg.appendChild(svgEl("path", { d: d, fill: "none", stroke: l.color, "stroke-width": l.dash ? 1 : 1.6, "stroke-dasharray": l.dash ? "4 3" : "" }));
    });
    $("legend-" + id.replace("chart-", "")).innerHTML = lines.map(function (l) { return "<span style=\"color:" + l.color + "\">&#9632; " + l.name + "</span>"; }).join("");
  }

  // The plan: each gear's expected accuracy over its load range (minQps, maxQps], the
  // current load as a vertical line, the running gear drawn thick.
  function drawPlan(s) {
    var svg = $("chart-plan"), box = size(svg, 1200, 220), w = box.w, h = box.h;
    var left = 44, right = 12, top = 10, bottom = 22;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var gears = s.gears;
    if (!gears.length) return;
    // The last gear's bound may be a huge "anything above": then the axis ends at twice its start.
    var last = gears[gears.length - 1];
    var xmax = (last.max_qps > 4 * Math.max(1, last.min_qps) ? 2 * Math.max(1, last.min_qps) : last.max_qps) * 1.05;
    var lo = Infinity, hi = -Infinity;
    gears.forEach(function (g) { lo = Math.min(lo, g.expected_accuracy); hi = Math.max(hi, g.expected_accuracy); });
    var pad = Math.max(0.002, (hi - lo) * 0.15); lo -= pad; hi += pad;
    var x = function (q) { return left + (w - left - right) * q / xmax; };
    var y = function (a) { return top + (h - top - bottom) * (1 - (a - lo) / (hi - lo)); };
    for (var k = 0; k <= 4; k++) {
      var a = lo + (hi - lo) * k / 4;
      svg.appendChild(svgEl("line", { x1: left, x2: w - right, y1: y(a), y2: y(a), stroke: "#eceef3" }));
      var t = svgEl("text", { x: left - 4, y: y(a) + 3, "text-anchor": "end" }); t.textContent = (a * 100).toFixed(1) + "%"; svg.appendChild(t);
      var q = xmax * k / 4;
      var tx = svgEl("text", { x: x(q), y: h - 6, "text-anchor": "middle" }); tx.textContent = Math.round(q) + "/s"; svg.appendChild(tx);
    }
    gears.forEach(function (g, i) {
      var current = g.index === s.gear.index;
      svg.appendChild(svgEl("line", { x1: x(g.min_qps), x2: x(Math.min(g.max_qps, xmax)), y1: y(g.expected_accuracy), y2: y(g.expected_accuracy),
        stroke: colors[i % colors.length], "stroke-width": current ? 6 : 2, "data-gear-id": g.id }));
      var label = svgEl("text", { x: (x(g.min_qps) + x(Math.min(g.max_qps, xmax))) / 2, y: y(g.expected_accuracy) - 6, "text-anchor": "middle" });
      label.textContent = "gear " + g.id;
      svg.appendChild(label);
    });
    var load = Math.min(s.arrival_rate_qps, xmax);
    svg.appendChild(svgEl("line", { x1: x(load), x2: x(load), y1: top, y2: h - bottom, stroke: "#c0392b", "stroke-dasharray": "4 3" }));
    $("legend-plan").innerHTML = "<span style=\"color:#c0392b\">&#9632; load now: " + fmt(s.arrival_rate_qps, 0) + " images/s</span>" +
      gears.map(function (g, i) { return "<span style=\"color:" + colors[i % colors.length] + "\">&#9632; gear " + g.id + ": up to " + Math.round(g.max_qps) + "/s, " + (g.expected_accuracy * 100).toFixed(2) + "%</span>"; }).join("");
  }

  function render() {
    var s = samples[samples.length - 1];
    $("model").textContent = s.model;
    $("rate").textContent = fmt(s.arrival_rate_qps, 0);
    var gearId = $("gear-id");
    gearId.textContent = String(s.gear.id);
    gearId.setAttribute("data-gear-id", String(s.gear.id));
    if (shownGears[shownGears.length - 1] !== s.gear.id) shownGears.push(s.gear.id);
    $("gear-pos").textContent = "position " + s.gear.index + " of " + s.gears.length + " (0 = most accurate)";
    $("accuracy").textContent = fmt(s.gear.expected_accuracy * 100, 2) + "%";
    var d = derived();
    var p95 = d.p95.length ? d.p95[d.p95.length - 1].v : NaN;
    $("p95").textContent = isFinite(p95) ? fmt(p95, 2) + " ms" : "-";
    $("p95").className = "value" + (p95 > s.slo_p95_ms ? " bad" : "");
    $("slo").textContent = "SLO " + fmt(s.slo_p95_ms, 1) + " ms";
    var ref = d.refusals.length ? d.refusals[d.refusals.length - 1].v : 0;
    $("refusals").textContent = fmt(ref, 1) + "/s";
    $("refusals-total").textContent = s.requests.rejected + " since start";
    var top = s.gears.length ? s.gears[0].max_qps : NaN;
    var flat = function (v) { return samples.map(function (x) { return { t: x.time_ms, v: v }; }); };
    drawTime("chart-rate", [{ name: "arrivals (per poll)", color: colors[0], points: d.rate },
      { name: "top gear holds " + fmt(top, 0) + "/s", color: colors[2], points: flat(top), dash: true }], { min: 0 });
    drawTime("chart-gear", [{ name: "gear position", color: colors[1], points: d.gear, step: true }], { min: 0, max: Math.max(1, s.gears.length - 1), integer: true });
    drawTime("chart-accuracy", [{ name: "expected accuracy %", color: colors[2], points: d.accuracy, step: true }], {});
    drawTime("chart-p95", [{ name: "p95 over 10 s", color: colors[0], points: d.p95 },
      { name: "SLO", color: "#c0392b", points: flat(s.slo_p95_ms), dash: true }], { min: 0 });
    drawTime("chart-refusals", [{ name: "refused requests", color: "#c0392b", points: d.refusals }], { min: 0 });
    var stages = s.stage_exits.length;
    var exitLines = [];
    for (var st = 0; st < stages; st++) {
      exitLines.push({ name: "stage " + st, color: colors[st % colors.length], points: d.exits.map(function (p) { return { t: p.t, v: p.v[this.st] || 0 }; }, { st: st }) });
    }
    drawTime("chart-exits", exitLines, { min: 0 });
    drawPlan(s);
  }

  function poll() {
    var headers = token ? { Authorization: "Bearer " + token } : {};
    fetch("/v2/cascadeserve/status", { headers: headers, cache: "no-store" }).then(function (r) {
      if (r.status === 401) throw new Error("this server needs its token: open /dashboard#token=<the --auth-token value>");
      if (!r.ok) throw new Error("status " + r.status);
      return r.json();
    }).then(function (s) {
      $("error").textContent = "";
      samples.push(s);
      while (samples.length > 2 && samples[0].time_ms < s.time_ms - windowMs - p95WindowMs) samples.shift();
      render();
    }).catch(function (e) {
      $("error").textContent = e.message;
    }).then(function () {
      setTimeout(poll, pollMs);
    });
  }
  poll();
})();
</script>
</body>
</html>
`;
