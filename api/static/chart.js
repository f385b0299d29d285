// A small SVG chart of time_bucket aggregates: the average as a line, min..max as a band.

const NS = "http://www.w3.org/2000/svg";
const W = 900;
const H = 260;
const PAD = { left: 56, right: 16, top: 26, bottom: 28 };

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceTicks(lo, hi, count = 5) {
  if (lo === hi) return [lo];
  const step0 = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0) || step0;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(+v.toFixed(10));
  return ticks;
}

/** buckets: [{bucket, min, avg, max}] sorted by time; start/end: Date; unit: string. */
export function drawChart(container, { buckets, start, end, unit, emptyText }) {
  container.replaceChildren();
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart-svg" });
  container.append(root);
  const t0 = start.getTime();
  const t1 = end.getTime();
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  if (!buckets.length) {
    root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "chart-empty" }, emptyText));
    return;
  }
  let lo = Math.min(...buckets.map((b) => b.min));
  let hi = Math.max(...buckets.map((b) => b.max));
  if (lo === hi) {
    lo -= 1;
    hi += 1;
  }
  const margin = (hi - lo) * 0.08;
  lo -= margin;
  hi += margin;
  const y = (v) => PAD.top + (1 - (v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  for (const v of niceTicks(lo, hi)) {
    root.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "chart-grid" }));
    root.append(svg("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end", class: "chart-label" }, `${v}`));
  }
  const span = t1 - t0;
  for (let i = 0; i <= 4; i += 1) {
    const t = t0 + (span * i) / 4;
    const d = new Date(t);
    const label = span > 86400e3 ? `${d.getMonth() + 1}/${d.getDate()} ${String(d.getHours()).padStart(2, "0")}h`
      : `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
    root.append(svg("text", { x: x(t), y: H - 8, "text-anchor": "middle", class: "chart-label" }, label));
  }
  root.append(svg("text", { x: PAD.left, y: 12, class: "chart-label" }, unit));
  const times = buckets.map((b) => new Date(b.bucket).getTime());
  const upper = buckets.map((b, i) => `${x(times[i])},${y(b.max)}`);
  const lower = buckets.map((b, i) => `${x(times[i])},${y(b.min)}`).reverse();
  root.append(svg("polygon", { points: [...upper, ...lower].join(" "), class: "chart-band" }));
  if (buckets.length === 1) {
    // One bucket has no width: show its min..max as a whisker.
    const b = buckets[0];
    root.append(svg("line", { x1: x(times[0]), x2: x(times[0]), y1: y(b.min), y2: y(b.max), class: "chart-whisker" }));
  }
  root.append(svg("polyline", { points: buckets.map((b, i) => `${x(times[i])},${y(b.avg)}`).join(" "), class: "chart-line" }));
  const last = buckets[buckets.length - 1];
  root.append(svg("circle", { cx: x(times[times.length - 1]), cy: y(last.avg), r: 3.5, class: "chart-dot" }));
}

/** Fold one live value into the buckets (same arithmetic as the database's time_bucket). */
export function addLiveValue(buckets, bucketS, ts, value) {
  const t = new Date(ts).getTime();
  const start = Math.floor(t / (bucketS * 1000)) * bucketS * 1000;
  const last = buckets[buckets.length - 1];
  if (last && new Date(last.bucket).getTime() === start) {
    last.count += 1;
    last.avg += (value - last.avg) / last.count;
    last.min = Math.min(last.min, value);
    last.max = Math.max(last.max, value);
  } else if (!last || new Date(last.bucket).getTime() < start) {
    buckets.push({ bucket: new Date(start).toISOString(), min: value, avg: value, max: value, count: 1 });
  }
}

/** A bucket giving about 120 points over the range, rounded to a readable size. */
export function bucketFor(rangeS) {
  const steps = [5, 10, 30, 60, 300, 900, 1800, 3600, 10800, 21600];
  return steps.find((s) => rangeS / s <= 150) || 86400;
}
