// The park map: zones from the site's layout (GeoJSON registered with ECharts, no tiles, no
// network), tankers placed live, zones with an open alert coloured, and overlays (circles in
// metres) that other panels draw on it. One ParkMap per map element.
//
// Overlay API (also on window.hazgate.map): addCircle({id, lon, lat, radius_m, label?, color?}),
// removeOverlay(id), clearOverlays(). Emergency response draws its isolation circles with it.

const KIND_ORDER = ["park_boundary", "road", "parking", "filling_bay", "restricted", "gate", "assembly_point"];

// Fill and edge per zone kind: a dark control-room palette.
const KIND_STYLE = {
  park_boundary: { areaColor: "#0f1c31", borderColor: "#3b82f6", borderWidth: 2, borderType: "dashed" },
  road: { areaColor: "#4b5563", borderColor: "#6b7280", borderWidth: 0.5 },
  parking: { areaColor: "#1e3a8a", borderColor: "#60a5fa", borderWidth: 1.5 },
  filling_bay: { areaColor: "#14532d", borderColor: "#4ade80", borderWidth: 1.5 },
  restricted: { areaColor: "#4a1d1d", borderColor: "#f97316", borderWidth: 1.5, borderType: "dashed" },
  gate: { areaColor: "#78350f", borderColor: "#fbbf24", borderWidth: 2 },
  assembly_point: { areaColor: "#134e4a", borderColor: "#2dd4bf", borderWidth: 1.5 },
};
const ALERT_STYLE = { areaColor: "#b91c1c", borderColor: "#fecaca", borderWidth: 2.5, borderType: "solid" };
// Zones whose name is written on the map (roads and the boundary would only clutter it).
const LABELLED = new Set(["parking", "filling_bay", "restricted", "gate", "assembly_point"]);
const METRES_PER_DEG_LAT = 111_320;

function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** A road drawn as a centre line becomes quads (one per segment) and squares at the joints. */
function roadPolygons(coords, widthM) {
  const lat0 = coords[0][1];
  const mx = METRES_PER_DEG_LAT * Math.cos((lat0 * Math.PI) / 180);
  const half = widthM / 2;
  const polys = [];
  for (let i = 0; i < coords.length - 1; i += 1) {
    const [ax, ay] = [coords[i][0] * mx, coords[i][1] * METRES_PER_DEG_LAT];
    const [bx, by] = [coords[i + 1][0] * mx, coords[i + 1][1] * METRES_PER_DEG_LAT];
    const len = Math.hypot(bx - ax, by - ay) || 1;
    // Along the segment, extended by half the width so that consecutive segments overlap at joints.
    const [ux, uy] = [((bx - ax) / len) * half, ((by - ay) / len) * half];
    const [nx, ny] = [-uy, ux];
    const corners = [
      [ax - ux + nx, ay - uy + ny], [bx + ux + nx, by + uy + ny], [bx + ux - nx, by + uy - ny], [ax - ux - nx, ay - uy - ny],
    ].map(([x, y]) => [x / mx, y / METRES_PER_DEG_LAT]);
    polys.push([[...corners, corners[0]]]);
  }
  return polys;
}

/** Even-odd ray casting on lon/lat (display only: the alert rules work in metres on the server). */
function inRing(lon, lat, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if ((yi > lat) !== (yj > lat) && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** A filling bay's label on the map is its last word ("装卸车位 A2" → "A2"): bays sit side by side. */
function shortName(zone) {
  if (!zone) return "";
  return zone.kind === "filling_bay" ? zone.name.split(/\s+/).pop() : zone.name;
}

function fmtDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "—";
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m`;
}

export class ParkMap {
  /**
   * @param {HTMLElement} dom the element to draw in
   * @param {object} echarts the ECharts module
   * @param {(key: string) => string} t words in the current language
   */
  constructor(dom, echarts, t) {
    this.dom = dom;
    this.echarts = echarts;
    this.t = t;
    this.chart = echarts.init(dom, null, { renderer: "canvas" });
    this.layout = null; // {site, version, features}
    this.zones = new Map(); // zone_id -> {kind, name, rings: [[lon, lat]...] (for display lookups)}
    this.vehicles = new Map(); // device_id -> {device_id, plate, lat, lon, speed_kmh, ts, cargo, entered_at, alert}
    this.alertZones = new Set(); // zone_ids with an open alert
    this.alertDevices = new Set(); // device ids with an open alert
    this.overlays = new Map(); // id -> {lon, lat, radius_m, label, color}
    this.onVehicle = null;
    this.chart.on("click", (e) => {
      if (e.seriesId === "vehicles" && this.onVehicle) this.onVehicle(this.vehicles.get(e.data.id));
    });
    new ResizeObserver(() => this.chart.resize()).observe(dom);
  }

  /** The site's layout (GET /api/v1/sites/{site}/layout). */
  setLayout(geojson) {
    this.layout = geojson;
    this.zones.clear();
    const features = [];
    const sorted = [...geojson.features].sort((a, b) => KIND_ORDER.indexOf(a.properties.kind) - KIND_ORDER.indexOf(b.properties.kind));
    for (const f of sorted) {
      const p = f.properties;
      const polygons = f.geometry.type === "LineString" ? roadPolygons(f.geometry.coordinates, p.width_m || 8) : [f.geometry.coordinates];
      this.zones.set(p.zone_id, { kind: p.kind, name: p.name, polygons, props: p });
      const geometry = polygons.length === 1 ? { type: "Polygon", coordinates: polygons[0] } : { type: "MultiPolygon", coordinates: polygons };
      features.push({ type: "Feature", properties: { name: p.zone_id }, geometry });
    }
    this.mapName = `park:${geojson.site}:${geojson.version}`;
    this.echarts.registerMap(this.mapName, { type: "FeatureCollection", features });
    const boundary = geojson.features.find((f) => f.properties.kind === "park_boundary");
    const ring = boundary ? boundary.geometry.coordinates[0] : features[0].geometry.coordinates[0];
    this.lat0 = ring.reduce((s, p) => s + p[1], 0) / ring.length;
    this.draw(true);
  }

  /** Names of the zones a position lies in, smallest (most specific) first; for tooltips and lists. */
  zonesAt(lon, lat) {
    const found = [];
    for (const [id, z] of this.zones) {
      if (z.kind === "park_boundary") continue;
      if (z.polygons.some((rings) => inRing(lon, lat, rings[0]) && !rings.slice(1).some((h) => inRing(lon, lat, h)))) {
        found.push({ id, ...z });
      }
    }
    const rank = (k) => (k === "road" ? 1 : 0); // a bay or a restricted zone says more than the road through it
    return found.sort((a, b) => rank(a.kind) - rank(b.kind));
  }

  setVehicles(list) {
    const fresh = new Map();
    for (const v of list) fresh.set(v.device_id, { ...this.vehicles.get(v.device_id), ...v });
    this.vehicles = fresh;
    this.draw();
  }

  /** A live position of a tracker (telemetry). Unknown trackers are added with what is known. */
  moveVehicle(deviceId, fields) {
    const known = this.vehicles.get(deviceId);
    if (!known && !fields.plate) return false;
    this.vehicles.set(deviceId, { device_id: deviceId, ...known, ...fields });
    this.scheduleDraw();
    return true;
  }

  /** Open alerts (alert bodies): zones and vehicles with one are coloured. */
  setAlerts(alerts) {
    const open = alerts.filter((a) => a.state !== "resolved" && (!this.layout || !a.site || a.site === this.layout.site));
    this.alertZones = new Set(open.map((a) => a.zone_id).filter(Boolean));
    this.alertDevices = new Set(open.map((a) => a.device_id).filter(Boolean));
    this.scheduleDraw();
  }

  addCircle({ id, lon, lat, radius_m: radiusM, label = "", color = "#f43f5e" }) {
    this.overlays.set(id, { id, lon, lat, radiusM, label, color });
    this.draw();
  }

  removeOverlay(id) {
    this.overlays.delete(id);
    this.draw();
  }

  clearOverlays() {
    this.overlays.clear();
    this.draw();
  }

  scheduleDraw() {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => { this.queued = false; this.draw(); });
  }

  vehicleLabel(v) {
    const parts = [v.plate];
    if (v.cargo?.un) parts.push(v.cargo.un);
    return parts.join(" · ");
  }

  tooltip(v) {
    const zone = this.zonesAt(v.lon, v.lat)[0];
    const inside = v.entered_at ? fmtDuration((Date.now() - Date.parse(v.entered_at)) / 1000) : "—";
    const rows = [
      [this.t("plate"), v.plate],
      [this.t("cargo"), v.cargo ? `${v.cargo.un} ${v.cargo.name || ""}` : "—"],
      [this.t("time_inside"), inside],
      [this.t("speed"), v.speed_kmh === undefined || v.speed_kmh === null ? "—" : `${Math.round(v.speed_kmh)} km/h`],
      [this.t("zone"), zone ? zone.name : "—"],
      [this.t("device"), v.device_id],
    ];
    return `<div class="map-tip">${rows.map(([k, x]) => `<div><span class="k">${escapeHtml(k)}</span> ${escapeHtml(x)}</div>`).join("")}</div>`;
  }

  draw(reset = false) {
    if (!this.layout) return;
    const regions = [];
    for (const [id, z] of this.zones) {
      const alerting = this.alertZones.has(id);
      const style = alerting ? ALERT_STYLE : KIND_STYLE[z.kind] || {};
      regions.push({
        name: id,
        itemStyle: { ...style, ...(z.kind === "restricted" && !alerting ? { decal: { symbol: "rect", dashArrayX: [1, 0], dashArrayY: [2, 6], rotation: Math.PI / 4, color: "rgba(249,115,22,0.25)" } } : {}) },
        label: { show: LABELLED.has(z.kind) || alerting },
        emphasis: { itemStyle: { areaColor: alerting ? "#dc2626" : style.areaColor }, label: { show: true } },
        silent: z.kind === "park_boundary" || z.kind === "road",
      });
    }
    const vehicles = [...this.vehicles.values()].filter((v) => Number.isFinite(v.lat) && Number.isFinite(v.lon));
    const data = vehicles.map((v) => {
      const alerting = this.alertDevices.has(v.device_id);
      return {
        id: v.device_id,
        name: v.plate,
        value: [v.lon, v.lat],
        label: { formatter: this.vehicleLabel(v) },
        itemStyle: { color: alerting ? "#ef4444" : "#facc15", borderColor: alerting ? "#fee2e2" : "#1f2937" },
      };
    });
    const circles = [...this.overlays.values()];
    const option = {
      backgroundColor: "#0a1424",
      tooltip: {
        trigger: "item",
        confine: true,
        className: "map-tooltip",
        formatter: (p) => {
          if (p.seriesId === "vehicles") return this.tooltip(this.vehicles.get(p.data.id));
          if (p.seriesId === "overlays") return escapeHtml(p.data.label || "");
          const z = this.zones.get(p.name);
          if (!z) return "";
          const extra = [];
          if (z.props.speed_limit_kmh) extra.push(`${this.t("speed_limit")} ${z.props.speed_limit_kmh} km/h`);
          if (z.props.max_stop_s) extra.push(`${this.t("max_stop")} ${fmtDuration(z.props.max_stop_s)}`);
          return `<div class="map-tip"><b>${escapeHtml(z.name)}</b><div>${escapeHtml(this.t(`zone_${z.kind}`))}</div>${extra.map((e) => `<div>${escapeHtml(e)}</div>`).join("")}</div>`;
        },
      },
      geo: {
        id: "park",
        map: this.mapName,
        roam: true,
        aspectScale: Math.cos((this.lat0 * Math.PI) / 180),
        layoutCenter: ["50%", "50%"],
        layoutSize: "100%",
        scaleLimit: { min: 0.8, max: 12 },
        label: {
          color: "#e5e7eb", fontSize: 11, textBorderColor: "#0a1424", textBorderWidth: 2,
          formatter: (p) => shortName(this.zones.get(p.name)) || p.name,
        },
        itemStyle: { areaColor: "#1f2937", borderColor: "#374151" },
        regions,
        select: { disabled: true },
      },
      series: [
        {
          id: "overlays",
          type: "custom",
          coordinateSystem: "geo",
          silent: false,
          z: 4,
          data: circles.map((c) => ({ value: [c.lon, c.lat, c.radiusM], label: c.label, id: c.id, color: c.color })),
          renderItem: (params, api) => {
            const [lon, lat, r] = [api.value(0), api.value(1), api.value(2)];
            const centre = api.coord([lon, lat]);
            const edge = api.coord([lon, lat + r / METRES_PER_DEG_LAT]);
            const radius = Math.abs(centre[1] - edge[1]);
            const c = circles[params.dataIndex];
            return {
              type: "group",
              children: [
                { type: "circle", shape: { cx: centre[0], cy: centre[1], r: radius }, style: { fill: `${c.color}33`, stroke: c.color, lineWidth: 2, lineDash: [6, 4] } },
                { type: "text", x: centre[0], y: centre[1] - radius - 8, style: { text: c.label, fill: c.color, align: "center", font: "12px sans-serif" } },
              ],
            };
          },
        },
        {
          id: "vehicles",
          type: "scatter",
          coordinateSystem: "geo",
          z: 5,
          symbol: "path://M2 6h11v8H2z M13 8h4l3 3v3h-7z M5 16a2 2 0 1 0 0.01 0z M16 16a2 2 0 1 0 0.01 0z",
          symbolSize: [22, 16],
          data,
          label: { show: true, position: "right", color: "#f9fafb", fontSize: 12, fontWeight: "bold", textBorderColor: "#0a1424", textBorderWidth: 3 },
          emphasis: { scale: 1.4 },
          universalTransition: false,
          animationDurationUpdate: 800,
          animationEasingUpdate: "linear",
        },
      ],
    };
    this.chart.setOption(option, reset ? { notMerge: true } : { replaceMerge: ["series"] });
    this.dom.dataset.vehicles = String(data.length);
    this.dom.dataset.alertZones = [...this.alertZones].sort().join(",");
  }

  /** Pixel position of a vehicle on the canvas (tests and overlays use it). */
  pixelOf(deviceId) {
    const v = this.vehicles.get(deviceId);
    if (!v) return null;
    return this.chart.convertToPixel({ geoId: "park" }, [v.lon, v.lat]);
  }

  fmtDuration(seconds) {
    return fmtDuration(seconds);
  }
}
