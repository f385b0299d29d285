// The telemetry chart with ECharts: time_bucket aggregates, the average as a line and min..max as
// a band; live readings are folded into the last bucket. Also where the pages load ECharts from
// (served by the app itself, copied there by `make web`).

export const ECHARTS_URL = "/static/vendor/echarts.esm.min.js";

let loading = null;

/** The ECharts module, or null when it is not installed (the page still works without charts). */
export function loadECharts() {
  if (!loading) loading = import(ECHARTS_URL).catch(() => null);
  return loading;
}

function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function two(n) {
  return String(n).padStart(2, "0");
}

export class TelemetryChart {
  constructor(dom, echarts) {
    this.dom = dom;
    this.chart = echarts.init(dom, null, { renderer: "canvas" });
    new ResizeObserver(() => this.chart.resize()).observe(dom);
  }

  /** buckets: [{bucket, min, avg, max}] sorted by time; start/end: Date; unit: axis title. */
  draw({ buckets, start, end, unit, emptyText }) {
    const t = (b) => Date.parse(b.bucket);
    const round = (v) => Math.round(v * 1000) / 1000;
    const spanH = (end - start) / 3600e3;
    const option = {
      backgroundColor: "transparent",
      animation: false,
      grid: { left: 64, right: 24, top: 36, bottom: 32 },
      title: buckets.length ? undefined : { text: emptyText, left: "center", top: "middle", textStyle: { color: "#94a3b8", fontSize: 14, fontWeight: "normal" } },
      tooltip: {
        trigger: "axis",
        className: "map-tooltip",
        formatter: (items) => {
          const i = items[0]?.dataIndex;
          const b = buckets[i];
          if (!b) return "";
          const d = new Date(t(b));
          return `<div class="map-tip"><b>${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}</b>`
            + `<div>avg ${escapeHtml(round(b.avg))}</div><div>min ${escapeHtml(round(b.min))} · max ${escapeHtml(round(b.max))}</div></div>`;
        },
      },
      xAxis: {
        type: "time",
        min: start.getTime(),
        max: end.getTime(),
        axisLine: { lineStyle: { color: "#475569" } },
        axisLabel: {
          color: "#94a3b8",
          formatter: (v) => {
            const d = new Date(v);
            return spanH > 24 ? `${d.getMonth() + 1}/${d.getDate()} ${two(d.getHours())}h` : `${two(d.getHours())}:${two(d.getMinutes())}`;
          },
        },
        splitLine: { show: false },
      },
      yAxis: {
        type: "value",
        scale: true,
        name: unit,
        nameTextStyle: { color: "#94a3b8", align: "left" },
        axisLabel: { color: "#94a3b8" },
        splitLine: { lineStyle: { color: "#1e293b" } },
      },
      series: [
        { id: "min", type: "line", stack: "band", symbol: "none", lineStyle: { opacity: 0 }, data: buckets.map((b) => [t(b), b.min]), silent: true },
        {
          id: "band", type: "line", stack: "band", symbol: "none", lineStyle: { opacity: 0 },
          areaStyle: { color: "rgba(56,189,248,0.25)" }, data: buckets.map((b) => [t(b), b.max - b.min]), silent: true,
        },
        {
          id: "avg", type: "line", symbol: "circle", symbolSize: 4, showSymbol: buckets.length < 3,
          lineStyle: { color: "#38bdf8", width: 2 }, itemStyle: { color: "#38bdf8" }, data: buckets.map((b) => [t(b), b.avg]),
          endLabel: { show: buckets.length > 0, color: "#e0f2fe", formatter: (p) => `${round(p.value[1])}` },
        },
      ],
    };
    this.chart.setOption(option, { notMerge: true });
    this.dom.dataset.points = String(buckets.length);
    this.dom.dataset.min = buckets.length ? String(Math.min(...buckets.map((b) => b.min))) : "";
    this.dom.dataset.max = buckets.length ? String(Math.max(...buckets.map((b) => b.max))) : "";
  }
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
