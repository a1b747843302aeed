// Charts drawn as SVG: time series (bars and lines), horizontal bars, budget meters, and the
// attempts of one request on a time line. Sized to their container and redrawn when it
// changes size.

import { h, s, replace, fmt } from "./dom.js";

/** Round numbers for an axis from 0 to at least `max`, about `count` steps. */
export function niceTicks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw);
  const ticks = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function bucketLabel(t, bucket) {
  const d = new Date(t * 1000);
  return bucket === "day"
    ? d.toLocaleDateString(undefined, { month: "short", day: "numeric" })
    : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

function bucketTitle(t, bucket) {
  const d = new Date(t * 1000);
  return bucket === "day"
    ? d.toLocaleDateString(undefined, { weekday: "short", month: "short", day: "numeric" })
    : d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** Draws again whenever the element's width changes (and once it has one). */
function responsive(el, draw) {
  let width = 0;
  const ro = new ResizeObserver(() => {
    const w = Math.floor(el.clientWidth);
    if (w > 0 && w !== width) {
      width = w;
      draw(w);
    }
  });
  ro.observe(el);
  return el;
}

/**
 * A time series: `points` are {t (epoch seconds of the bucket), ...values}; each of `series`
 * ({key, label, cls, kind: "bar" | "line"}) draws one value. Bars of one chart stack.
 */
export function timeChart({ points, series, bucket = "hour", format = fmt.compact, height = 190, label }) {
  const el = h("div", { class: "chart", role: "img", "aria-label": label || series.map((x) => x.label).join(", ") });
  const legend = h("div", { class: "legend" }, series.map((x) => h("span", {}, h("i", { class: x.cls }), x.label)));
  const wrap = h("div", {}, legend, el);
  responsive(el, (width) => draw(el, width));
  return wrap;

  function draw(root, W) {
    const H = height;
    const m = { l: 52, r: 10, t: 12, b: 24 };
    const pw = W - m.l - m.r;
    const ph = H - m.t - m.b;
    const n = Math.max(points.length, 1);
    const bars = series.filter((x) => x.kind !== "line");
    const lines = series.filter((x) => x.kind === "line");
    const stackTop = points.map((p) => bars.reduce((a, x) => a + (p[x.key] || 0), 0));
    const lineMax = Math.max(0, ...points.flatMap((p) => lines.map((x) => p[x.key] || 0)));
    const ticks = niceTicks(Math.max(0, ...stackTop, lineMax));
    const top = ticks[ticks.length - 1] || 1;
    const y = (v) => m.t + ph - (v / top) * ph;
    const band = pw / n;
    const x = (i) => m.l + band * i + band / 2;
    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, height: H });
    const axis = s("g", { class: "axis" });
    for (const v of ticks) {
      svg.append(s("line", { class: "grid-line", x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }));
      axis.append(s("text", { x: m.l - 8, y: y(v) + 4, "text-anchor": "end" }, format(v)));
    }
    const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(pw / 70))));
    points.forEach((p, i) => {
      if (i % every === 0) axis.append(s("text", { x: x(i), y: H - 6, "text-anchor": "middle" }, bucketLabel(p.t, bucket)));
    });
    svg.append(axis);
    const bw = Math.max(1, Math.min(band * 0.72, 28));
    points.forEach((p, i) => {
      let base = 0;
      for (const sr of bars) {
        const v = p[sr.key] || 0;
        if (v > 0) {
          const y0 = y(base);
          const y1 = y(base + v);
          svg.append(s("rect", { class: ["bar", sr.cls], x: x(i) - bw / 2, y: y1, width: bw, height: Math.max(1, y0 - y1), rx: Math.min(3, bw / 4) }));
        }
        base += v;
      }
    });
    for (const sr of lines) {
      const pts = points.map((p, i) => [x(i), y(p[sr.key] || 0)]);
      if (!pts.length) continue;
      const d = pts.map(([px, py], i) => `${i ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`).join("");
      svg.append(s("path", { class: ["area", sr.cls], d: `${d}L${pts[pts.length - 1][0].toFixed(1)},${y(0)}L${pts[0][0].toFixed(1)},${y(0)}Z` }));
      svg.append(s("path", { class: ["line", sr.cls], d }));
    }
    svg.append(s("line", { class: "base-line", x1: m.l, x2: W - m.r, y1: y(0), y2: y(0) }));
    // hover: a column and a tooltip with the bucket's values
    const col = s("rect", { class: "hover-col", x: 0, y: m.t, width: band, height: ph, visibility: "hidden" });
    svg.append(col);
    const tip = h("div", { class: "tip hidden" });
    const overlay = s("rect", { x: m.l, y: m.t, width: pw, height: ph, fill: "transparent" });
    overlay.addEventListener("mousemove", (ev) => {
      const box = svg.getBoundingClientRect();
      const i = Math.min(n - 1, Math.max(0, Math.floor((ev.clientX - box.left - m.l) / band)));
      const p = points[i];
      if (!p) return;
      col.setAttribute("x", m.l + band * i);
      col.setAttribute("visibility", "visible");
      replace(tip, h("div", { class: "t" }, bucketTitle(p.t, bucket)), series.map((sr) => h("div", { class: "row" }, h("span", {}, sr.label), h("b", {}, (sr.format || format)(p[sr.key] || 0)))));
      tip.classList.remove("hidden");
      const left = x(i) + 14;
      tip.style.left = `${left + 170 > W ? x(i) - 14 - tip.offsetWidth : left}px`;
      tip.style.top = `${m.t}px`;
    });
    overlay.addEventListener("mouseleave", () => {
      col.setAttribute("visibility", "hidden");
      tip.classList.add("hidden");
    });
    svg.append(overlay);
    replace(root, svg, tip);
  }
}

/** A thin horizontal bar: `value` out of `max`. */
export function hbar(value, max) {
  const frac = max > 0 ? Math.max(0, Math.min(1, value / max)) : 0;
  return h(
    "div",
    { class: "bars" },
    s("svg", { viewBox: "0 0 100 8", preserveAspectRatio: "none" }, s("rect", { class: "hbar-track", x: 0, y: 0, width: 100, height: 8, rx: 3 }), s("rect", { class: "hbar", x: 0, y: 0, width: Math.max(frac * 100, value > 0 ? 1.5 : 0), height: 8, rx: 3 })),
  );
}

/** Spend against a budget: green, amber past 80%, red when spent. */
export function meter(spend, max) {
  if (max === null || max === undefined) {
    return h("div", { class: "meter" }, h("span", { class: "label" }, `${fmt.money(spend)} · no budget`));
  }
  const frac = max > 0 ? spend / max : 1;
  const cls = frac >= 1 ? "bad" : frac >= 0.8 ? "warn" : "";
  return h(
    "div",
    { class: "meter", title: `${fmt.money(spend)} of ${fmt.money(max)}` },
    s("svg", { viewBox: "0 0 100 8", preserveAspectRatio: "none", role: "img", "aria-label": `${Math.round(frac * 100)}% of the budget` }, s("rect", { class: "meter-track", x: 0, y: 0, width: 100, height: 8, rx: 4 }), s("rect", { class: ["meter-fill", cls], x: 0, y: 0, width: Math.min(100, Math.max(frac * 100, spend > 0 ? 2 : 0)), height: 8, rx: 4 })),
    h("span", { class: "label" }, `${fmt.money(spend)} / ${fmt.money(max)}`),
  );
}

/**
 * One request on a time line: each attempt as a bar from its start, green when it answered,
 * red when it failed; a mark at the first byte. Times in ms from the request's start.
 */
export function timeline({ attempts, totalMs, firstByteMs }) {
  const el = h("div", { class: "timeline" });
  responsive(el, (W) => {
    const rowH = 26;
    const labelW = Math.min(220, W * 0.35);
    const pw = W - labelW - 130;
    const total = Math.max(totalMs || 0, ...attempts.map((a) => a.start_ms + a.latency_ms), 1);
    const x = (ms) => labelW + (ms / total) * pw;
    const rows = [...attempts.map((a, i) => ({ label: `${i + 1}. ${a.deployment}`, start: a.start_ms, len: a.latency_ms, cls: a.status ? "bad" : "ok", note: a.status ? `${a.status}` : "answered" })), { label: "whole request", start: 0, len: totalMs || 0, cls: "first", note: "" }];
    const H = rows.length * rowH + 8;
    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, height: H });
    rows.forEach((r, i) => {
      const yy = i * rowH + 4;
      svg.append(s("text", { class: "label", x: 0, y: yy + 15 }, r.label.length > 34 ? r.label.slice(0, 33) + "…" : r.label));
      svg.append(s("rect", { class: "track", x: labelW, y: yy + 4, width: pw, height: 14, rx: 3 }));
      svg.append(s("rect", { class: r.cls, x: x(r.start), y: yy + 4, width: Math.max(2, x(r.start + r.len) - x(r.start)), height: 14, rx: 3 }));
      svg.append(s("text", { x: x(r.start + r.len) + 6, y: yy + 15 }, `${fmt.ms(r.len)} ${r.note}`));
    });
    if (firstByteMs !== null && firstByteMs !== undefined) {
      const fx = x(firstByteMs);
      svg.append(s("line", { x1: fx, x2: fx, y1: 0, y2: H, stroke: "currentColor", "stroke-dasharray": "3 3", opacity: 0.5 }));
      svg.append(s("title", {}, `first byte at ${fmt.ms(firstByteMs)}`));
    }
    replace(el, svg);
  });
  return el;
}
