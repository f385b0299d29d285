// The officers' dashboard: the park map with the tankers inside, gates and the vehicle at each,
// recent inspections, open alerts, devices and telemetry, all kept current by the live stream.
//
// For other panels: window.hazgate = {map, chart, hooks}. map is the ParkMap (overlay API:
// addCircle / removeOverlay / clearOverlays); hooks.openVehicle(vehicle) is called when an officer
// picks a tanker on the map or in the list: it opens the vehicle's visit page (its stay's
// timeline), or, for a tanker without an open stay, shows the tracker's speed chart.

import { ParkMap } from "/static/parkmap.js";
import { TelemetryChart, addLiveValue, bucketFor, loadECharts } from "/static/chart.js";
import { loadCard, renderCard, w as rw } from "/static/responsecard.js";
import { initIndex, renderIndex } from "/static/risk.js";
import { mountStay, refresh as refreshStay, renderStay } from "/static/stays.js";
import {
  FIVE_CHECKS, api, clock, currentLang, el, fmtTime, live, logout, said, setLang, t, whoAmI,
} from "/static/common.js";

// A telemetry device online but with no reading for this long shows as silent.
const SILENT_AFTER_S = 120;
const MAX_ROWS = 40;
const TELEMETRY_TYPES = new Set(["tank_sensor", "gas_detector", "gps_tracker"]);
const METRICS = {
  tank_sensor: ["tank_pressure_kpa", "tank_temp_c", "tank_level_pct", "battery_pct"],
  gas_detector: ["gas_lel_pct", "gas_ppm", "battery_pct"],
  gps_tracker: ["speed_kmh", "lat", "lon", "battery_pct"],
};

// Vehicles' cargo and entry times change rarely; positions come live. Re-read the former this often.
const VEHICLES_REFRESH_MS = 30000;

const state = {
  me: null,
  echarts: null,
  map: null, // ParkMap
  chartView: null, // TelemetryChart
  site: null, // the site on the map
  sites: [],
  gates: new Map(), // "site/gate" -> {site, gate_id, current}
  inspections: new Map(), // id -> inspection (normalised)
  open: new Set(), // inspection ids expanded
  details: new Map(), // id -> full InspectionOut
  alerts: new Map(),
  cards: new Map(), // alert_id -> {spill, card, error}: response cards opened under their alert
  devices: new Map(),
  latest: new Map(), // device_id -> {ts, values}
  chart: { device: null, metric: null, rangeS: 3600, bucketS: 30, buckets: [], unit: "", start: null, end: null, arrived: null },
};

const staff = () => ["admin", "officer"].includes(state.me?.user.role);

// -- inspections: one shape for REST records and decision events ------------------------------
function fromRecord(r) {
  return {
    id: r.id, site: r.site, gate_id: r.gate_id, plate: r.plate, result: r.effective_result || r.result,
    gateResult: r.result, checks: r.checks, missing: (r.missing || []).map((m) => ({ input: m })),
    comparing_faces: false, at: r.updated_at, opened_at: r.opened_at, override_by: r.override_by,
  };
}

function fromDecision(d) {
  const known = state.inspections.get(d.inspection_id);
  return {
    id: d.inspection_id, site: d.site, gate_id: d.gate_id, plate: d.plate, result: d.result, gateResult: d.result,
    checks: d.checks, missing: d.missing || [], comparing_faces: d.comparing_faces, at: d.ts,
    opened_at: known?.opened_at || d.ts, override_by: known?.override_by,
  };
}

function checkStatus(insp, code) {
  return insp.checks.find((c) => c.code === code)?.status || "pending";
}

function checkPills(insp) {
  return el("span", { class: "pills" }, FIVE_CHECKS.map((code) => {
    const status = checkStatus(insp, code);
    return el("span", { class: `pill ${status}`, title: `${t(`check_${code}`)}: ${t(`result_${status}`)}`,
      dataset: { check: code, status } }, t(`check_${code}`));
  }));
}

function badge(result) {
  return el("span", { class: `badge ${result}`, dataset: { result } }, t(`result_${result}`));
}

// -- gates -------------------------------------------------------------------------------------
function renderGates() {
  const box = document.getElementById("gates");
  const gates = [...state.gates.values()].sort((a, b) => `${a.site}/${a.gate_id}`.localeCompare(`${b.site}/${b.gate_id}`));
  box.replaceChildren(...gates.map((g) => {
    const cur = g.current;
    const body = cur
      ? [
        el("div", { class: "gate-plate" }, cur.plate || "—", " ", badge(cur.result)),
        checkPills(cur),
        cur.comparing_faces ? el("p", { class: "muted" }, t("comparing_faces")) : null,
        cur.missing.length ? el("p", { class: "missing" }, `${t("missing")}: `,
          cur.missing.map((m) => (m.prompt_zh ? said(m, "prompt_zh", "prompt") : m.input)).join(" · ")) : null,
      ]
      : [el("p", { class: "muted" }, t("idle"))];
    return el("article", { class: "gate", dataset: { gate: `${g.site}/${g.gate_id}` } },
      el("h3", {}, `${g.site} · ${g.gate_id}`), ...body);
  }));
  if (!gates.length) box.replaceChildren(el("p", { class: "muted" }, t("idle")));
}

// -- recent inspections ------------------------------------------------------------------------
function compact(v) {
  if (Array.isArray(v)) return v.map(compact).join(", ");
  if (v && typeof v === "object") {
    return Object.entries(v).filter(([, x]) => x !== null && x !== undefined).map(([k, x]) => `${k}=${compact(x)}`).join(", ");
  }
  if (typeof v === "number" && !Number.isInteger(v)) return v.toFixed(3);
  if (typeof v === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(v)) return fmtTime(v, true);
  return String(v);
}

function evidenceValue(v, depth) {
  // Two levels as lists (check → person), deeper as one line (face distances, thresholds).
  if (v && typeof v === "object" && !Array.isArray(v) && depth < 1) return evidenceList(v, depth + 1);
  return compact(v);
}

function evidenceList(evidence, depth = 0) {
  const rows = Object.entries(evidence || {}).filter(([, v]) => v !== null && v !== undefined && v !== "");
  if (!rows.length) return null;
  return el("dl", { class: `evidence depth${depth}` }, rows.flatMap(([k, v]) => [
    el("dt", {}, k), el("dd", {}, evidenceValue(v, depth)),
  ]));
}

function faceCaption(role, kind) {
  return `${t(`role_${role}`)} · ${t(kind === "id_card" ? "id_photo" : "live_face")}`;
}

async function loadFaces(id, box) {
  try {
    const images = await api(`/api/v1/gate-images?inspection_id=${id}`);
    box.replaceChildren(...images.filter((i) => i.kind !== "plate").map((i) => el("figure", { class: "face" },
      el("img", { src: `/api/v1/gate-images/${i.event_id}?size=160`, alt: `${i.role || ""} ${i.kind}`, loading: "lazy" }),
      el("figcaption", { dataset: { role: i.role, kind: i.kind } }, faceCaption(i.role, i.kind)))));
  } catch (e) {
    box.replaceChildren(el("p", { class: "muted" }, e.message));
  }
}

function overrideForm(insp) {
  if (!staff() || insp.gateResult === "pending") return null;
  const reason = el("input", { class: "reason", placeholder: t("override_reason"), maxlength: 1000 });
  const act = (result) => async () => {
    if (reason.value.trim().length < 5) { reason.focus(); return; }
    const record = await api(`/api/v1/inspections/${insp.id}/override`, { method: "POST", body: { result, reason: reason.value.trim() } });
    state.details.set(insp.id, record);
    state.inspections.set(insp.id, fromRecord(record));
    renderInspections();
  };
  return el("div", { class: "override" }, el("strong", {}, t("override")), reason,
    el("button", { type: "button", onclick: act("pass") }, t("override_pass")),
    el("button", { type: "button", class: "danger", onclick: act("fail") }, t("override_fail")));
}

// One box of face images per inspection, fetched once: a re-render moves the same nodes, so
// images are not fetched again (each view is audited and rate-limited).
const faceBoxes = new Map();

function facesFor(id) {
  let box = faceBoxes.get(id);
  if (!box) {
    box = el("div", { class: "faces" });
    faceBoxes.set(id, box);
    loadFaces(id, box);
  }
  return box;
}

function detailRow(insp) {
  const record = state.details.get(insp.id);
  const checks = record?.checks || insp.checks;
  const faces = staff() ? facesFor(insp.id) : null;
  return el("tr", { class: "detail" }, el("td", { colspan: 5 },
    el("div", { class: "check-details" }, checks.map((c) => el("section", { class: `check ${c.status} check-${c.code}` },
      el("h4", {}, t(`check_${c.code}`), " ", badge(c.status)),
      c.reasons.length ? el("ul", { class: "reasons" }, c.reasons.map((r) => el("li", { class: r.status || c.status },
        el("code", {}, r.code), " ", said(r)))) : null,
      evidenceList(c.evidence)))),
    staff() ? el("div", {}, el("h4", {}, t("faces")), faces) : null,
    overrideForm(insp)));
}

function renderInspections() {
  const body = document.getElementById("inspections");
  const rows = [...state.inspections.values()].sort((a, b) => (b.opened_at || "").localeCompare(a.opened_at || ""));
  for (const old of rows.slice(MAX_ROWS)) {
    state.inspections.delete(old.id);
    faceBoxes.delete(old.id);
  }
  const out = [];
  for (const insp of rows.slice(0, MAX_ROWS)) {
    const toggle = async () => {
      if (state.open.has(insp.id)) {
        state.open.delete(insp.id);
        faceBoxes.delete(insp.id);
      } else {
        state.open.add(insp.id);
        state.details.set(insp.id, await api(`/api/v1/inspections/${insp.id}`));
      }
      renderInspections();
    };
    out.push(el("tr", { class: "row", dataset: { inspection: insp.id, result: insp.result }, onclick: toggle },
      el("td", {}, fmtTime(insp.opened_at, true)), el("td", {}, `${insp.site} · ${insp.gate_id}`),
      el("td", { class: "plate" }, insp.plate || "—"),
      el("td", {}, badge(insp.result), insp.override_by ? el("small", {}, ` (${t("effective")})`) : null),
      el("td", {}, checkPills(insp))));
    if (state.open.has(insp.id)) out.push(detailRow(insp));
  }
  if (!out.length) out.push(el("tr", {}, el("td", { colspan: 5, class: "muted" }, t("no_inspections"))));
  body.replaceChildren(...out);
}

function onInspection(d) {
  if (d.result !== "pending") refreshStay(); // a tanker may have entered or left
  const insp = fromDecision(d);
  const key = `${insp.site}/${insp.gate_id}`;
  const gate = state.gates.get(key) || { site: insp.site, gate_id: insp.gate_id };
  gate.current = insp;
  state.gates.set(key, gate);
  const prev = state.inspections.get(insp.id);
  if (prev?.override_by) insp.result = prev.result;
  state.inspections.set(insp.id, insp);
  if (state.open.has(insp.id) && insp.result !== "pending") {
    api(`/api/v1/inspections/${insp.id}`).then((r) => { state.details.set(insp.id, r); renderInspections(); });
    if (faceBoxes.has(insp.id) && prev?.result === "pending") loadFaces(insp.id, faceBoxes.get(insp.id));
  }
  renderGates();
  renderInspections();
}

// -- alerts ------------------------------------------------------------------------------------
function renderAlerts() {
  state.map?.setAlerts([...state.alerts.values()]);
  renderVehicles();
  const box = document.getElementById("alerts");
  const open = [...state.alerts.values()].filter((a) => a.state !== "resolved")
    .sort((a, b) => (b.updated_at || "").localeCompare(a.updated_at || ""));
  if (!open.length) {
    box.replaceChildren(el("p", { class: "muted", id: "no-alerts" }, t("no_alerts")));
    return;
  }
  box.replaceChildren(...open.map((a) => {
    const act = (path, body) => async () => {
      const updated = await api(path, { method: "POST", body });
      if (updated?.alert_id) onAlert(updated);
      else if (updated?.id) { a.silenced = true; renderAlerts(); }
    };
    return el("article", { class: `alert ${a.severity} ${a.state}`, dataset: { alert: a.alert_id, state: a.state } },
      el("header", {}, el("span", { class: `sev ${a.severity}` }, t(`sev_${a.severity}`)), " ",
        el("strong", {}, a.rule), " ", el("span", { class: "alert-state" }, t(`alert_${a.state}`)),
        a.silenced ? el("span", { class: "muted" }, ` · ${t("silenced")}`) : null),
      el("p", {}, a.summary || `${a.device_id || ""} ${a.metric || ""} = ${a.value ?? ""}`),
      a.plate || a.zone_id ? el("p", { class: "alert-where" }, a.plate ? el("span", { class: "plate-tag" }, a.plate) : null,
        a.zone_id ? ` ${state.map?.zones.get(a.zone_id)?.name || a.zone_id}` : "") : null,
      el("p", { class: "muted" }, `${a.site || ""} · ${a.device_id || ""} · ${t("started")} ${fmtTime(a.started_at, true)}`,
        a.acknowledged_by ? ` · ${t("alert_acknowledged")}: ${a.acknowledged_by}` : ""),
      el("div", { class: "actions" },
        a.state === "firing" ? el("button", { type: "button", class: "ack", onclick: act(`/api/v1/alerts/${a.alert_id}/ack`, {}) }, t("ack")) : null,
        el("button", { type: "button", class: "resolve", onclick: act(`/api/v1/alerts/${a.alert_id}/resolve`, {}) }, t("resolve")),
        el("button", { type: "button", class: "silence ghost", onclick: act("/api/v1/silences", {
          rule_id: a.rule_id, device_id: a.device_id || undefined, duration_s: 3600, reason: `dashboard: ${state.me.user.name}`,
        }) }, t("silence")),
        el("button", { type: "button", class: "response ghost", onclick: () => toggleCard(a.alert_id) }, rw("response"))),
      cardFor(a.alert_id));
  }));
}

// -- response cards under their alert (emergency response, issue 13) -----------------------------
function cardFor(alertId) {
  const open = state.cards.get(alertId);
  if (!open) return null;
  if (open.error) return el("p", { class: "muted card-error" }, open.error);
  if (!open.card) return el("p", { class: "muted" }, rw("loading"));
  return renderCard(open.card, { onSpill: (size) => showCard(alertId, size), printLink: true });
}

// An open card draws its distances on the park map: the protective action distance (amber)
// around the initial isolation (red), both centred where the card is (the vehicle or the zone).
async function drawCardCircles(alertId, card) {
  const map = state.map;
  if (!map) return;
  map.removeOverlay(`${alertId}:iso`);
  map.removeOverlay(`${alertId}:protect`);
  if (!card?.center) return;
  // Circles belong on the alert's own park: shown if it has a layout, not drawn on another.
  const site = state.alerts.get(alertId)?.site;
  if (site && site !== state.site) {
    if (!state.sites?.some((s) => s.site === site)) return;
    await showSite(site);
  }
  const at = { lon: card.center.lon, lat: card.center.lat };
  if (card.protective_m) {
    map.addCircle({ id: `${alertId}:protect`, ...at, radius_m: card.protective_m, color: "#f59e0b",
      label: `${card.un} ${rw("protect")} ${card.protective_m} m` });
  }
  if (card.isolation_m) {
    map.addCircle({ id: `${alertId}:iso`, ...at, radius_m: card.isolation_m, color: "#f43f5e",
      label: `${card.un} ${rw("isolate")} ${card.isolation_m} m` });
  }
}

async function showCard(alertId, spill) {
  state.cards.set(alertId, { spill });
  renderAlerts();
  try {
    const card = await loadCard(alertId, spill);
    state.cards.set(alertId, { spill, card });
    await drawCardCircles(alertId, card);
  } catch (e) {
    state.cards.set(alertId, { spill, error: e.message });
  }
  renderAlerts();
}

function toggleCard(alertId) {
  if (state.cards.has(alertId)) {
    state.cards.delete(alertId);
    drawCardCircles(alertId, null);
    renderAlerts();
  } else {
    showCard(alertId);
  }
}

function onAlert(a) {
  if (!a?.alert_id) return;
  const known = state.alerts.get(a.alert_id);
  if (a.truncated && known) Object.assign(known, a);
  else state.alerts.set(a.alert_id, { ...known, ...a });
  renderAlerts();
}

async function loadAlerts() {
  try {
    const open = await api("/api/v1/alerts?state=open&limit=200");
    state.alerts = new Map(open.map((a) => [a.alert_id, a]));
    renderAlerts();
  } catch (e) {
    // The alerts API is part of the same service; if it is missing or refuses, say so here only.
    document.getElementById("alerts").replaceChildren(el("p", { class: "muted" }, e.message));
  }
}

// -- devices and telemetry ---------------------------------------------------------------------
function deviceState(d) {
  // The server's status (online / offline / silent / unknown) as of loading; since then a live
  // reading makes a device online, and time without one makes it silent (same rule as the API).
  if (d.state === "offline" || !TELEMETRY_TYPES.has(d.type)) return d.status || d.state;
  const seen = state.latest.get(d.device_id)?.ts || d.last_seen_at;
  if (!seen) return d.status || d.state;
  return (Date.now() - new Date(seen).getTime()) / 1000 > SILENT_AFTER_S ? "silent" : "online";
}

function batteryCell(id) {
  const pct = state.latest.get(id)?.values?.battery_pct;
  if (pct === undefined) return el("td", { class: "muted" }, "—");
  return el("td", {}, el("span", { class: `battery ${pct < 20 ? "low" : ""}` },
    el("span", { class: "battery-fill", style: { width: `${Math.max(0, Math.min(100, pct))}%` } })), ` ${Math.round(pct)}%`);
}

function renderDevices() {
  const devices = [...state.devices.values()].sort((a, b) => a.device_id.localeCompare(b.device_id));
  document.getElementById("devices").replaceChildren(...devices.map((d) => {
    const s = deviceState(d);
    const pick = () => { if (TELEMETRY_TYPES.has(d.type)) selectChartDevice(d.device_id); };
    return el("tr", { dataset: { device: d.device_id, state: s }, class: TELEMETRY_TYPES.has(d.type) ? "pickable" : "", onclick: pick },
      el("td", {}, d.device_id), el("td", {}, d.type), el("td", {}, el("span", { class: `dot ${s}` }), ` ${t(`state_${s}`)}`),
      batteryCell(d.device_id), el("td", {}, fmtTime(state.latest.get(d.device_id)?.ts || d.last_seen_at, true)));
  }));
  const select = document.getElementById("chart-device");
  const options = devices.filter((d) => TELEMETRY_TYPES.has(d.type)).map((d) => d.device_id);
  if ([...select.options].map((o) => o.value).join() !== options.join()) {
    select.replaceChildren(...options.map((id) => el("option", { value: id }, id)));
    if (state.chart.device && options.includes(state.chart.device)) select.value = state.chart.device;
    else if (options.length) selectChartDevice(options[0]);
  }
}

function selectChartDevice(id) {
  const device = state.devices.get(id);
  if (!device) return;
  state.chart.device = id;
  document.getElementById("chart-device").value = id;
  const metrics = METRICS[device.type] || [];
  const select = document.getElementById("chart-metric");
  select.replaceChildren(...metrics.map((m) => el("option", { value: m }, m)));
  if (!metrics.includes(state.chart.metric)) state.chart.metric = metrics[0];
  select.value = state.chart.metric;
  loadChart();
}

async function loadChart() {
  const c = state.chart;
  if (!c.device || !c.metric) return;
  c.bucketS = bucketFor(c.rangeS);
  c.end = new Date(Date.now() + c.bucketS * 1000);
  c.start = new Date(Date.now() - c.rangeS * 1000);
  const q = new URLSearchParams({ metric: c.metric, start: c.start.toISOString(), end: c.end.toISOString(), bucket: `${c.bucketS}s` });
  const asked = {}; // this load: a later one (another choice, or the same asked again) wins
  c.asked = asked;
  c.arrived = []; // live readings that come while the aggregates are read
  const data = await api(`/api/v1/devices/${encodeURIComponent(c.device)}/telemetry?${q}`);
  if (c.asked !== asked) return; // another load was started meanwhile
  c.buckets = data.buckets || [];
  // Those may already be in the last stored bucket: min and max stay right, its average may
  // count one twice until the next load.
  const lastStart = c.buckets.length ? Date.parse(c.buckets[c.buckets.length - 1].bucket) : 0;
  for (const [ts, value] of c.arrived) if (Date.parse(ts) >= lastStart) addLiveValue(c.buckets, c.bucketS, ts, value);
  c.arrived = null;
  c.unit = data.unit;
  drawChartNow();
}

function drawChartNow() {
  const c = state.chart;
  state.chartView?.draw({ buckets: c.buckets, start: c.start, end: c.end, unit: `${c.metric} (${c.unit})`, emptyText: t("no_data") });
}

function onTelemetry(r) {
  const known = state.latest.get(r.device_id);
  state.latest.set(r.device_id, { ts: r.ts, values: { ...known?.values, ...r.values } });
  onPosition(r);
  const c = state.chart;
  if (r.device_id === c.device && r.values[c.metric] !== undefined && c.end) {
    if (new Date(r.ts) > c.end) {
      c.end = new Date(new Date(r.ts).getTime() + c.bucketS * 1000);
      c.start = new Date(c.end.getTime() - c.rangeS * 1000);
    }
    for (const reading of r.readings || [r]) {
      const value = reading.values[c.metric];
      if (value === undefined) continue;
      if (c.arrived) c.arrived.push([reading.ts, value]);
      else addLiveValue(c.buckets, c.bucketS, reading.ts, value);
    }
    if (!c.arrived) drawChartNow();
  }
  scheduleDevices();
}

function onDevice(d) {
  const known = state.devices.get(d.device_id);
  if (known) {
    known.state = d.state;
    known.status = d.state;
    known.state_changed_at = d.at;
    scheduleDevices();
  } else loadDevices();
}

let devicesQueued = false;
function scheduleDevices() {
  if (devicesQueued) return;
  devicesQueued = true;
  requestAnimationFrame(() => { devicesQueued = false; renderDevices(); });
}

async function loadDevices() {
  const devices = await api("/api/v1/devices");
  state.devices = new Map(devices.map((d) => [d.device_id, d]));
  for (const d of devices) {
    const known = state.latest.get(d.device_id);
    if (d.battery_pct !== null && !known?.values?.battery_pct) {
      state.latest.set(d.device_id, { ts: known?.ts || d.last_seen_at, values: { ...known?.values, battery_pct: d.battery_pct } });
    }
  }
  renderDevices();
}

// -- the park map and the tankers inside -------------------------------------------------------
function showTrackerChart(v) {
  selectChartDevice(v.device_id);
  if (state.chart.metric !== "speed_kmh" && state.devices.get(v.device_id)?.type === "gps_tracker") {
    state.chart.metric = "speed_kmh";
    document.getElementById("chart-metric").value = "speed_kmh";
    loadChart();
  }
  document.getElementById("chart-h").scrollIntoView({ behavior: "smooth", block: "center" });
}

const hooks = {
  // The vehicle's open stay, on its own page; without one, its tracker's speed.
  async openVehicle(v) {
    if (!v) return;
    const site = v.site || state.site;
    const q = new URLSearchParams({ plate: v.plate || "", limit: "1", ...(site ? { site } : {}) });
    const stays = v.plate ? await api(`/api/v1/visits?${q}`).catch(() => []) : [];
    const open = stays.find((s) => s.state !== "closed");
    if (open) location.assign(`/visits/${open.id}`);
    else showTrackerChart(v);
  },
};

function onPosition(r) {
  if (!state.map || r.site !== state.site) return;
  const { lat, lon, speed_kmh: speed } = r.values;
  if (lat === undefined || lon === undefined) return;
  const device = state.devices.get(r.device_id);
  if (device && device.type !== "gps_tracker") return;
  const fields = { lat, lon, ts: r.ts };
  if (speed !== undefined) fields.speed_kmh = speed;
  if (device?.plate) fields.plate = device.plate;
  if (state.map.moveVehicle(r.device_id, fields)) scheduleVehicles();
}

let vehiclesQueued = false;
function scheduleVehicles() {
  if (vehiclesQueued) return;
  vehiclesQueued = true;
  setTimeout(() => { vehiclesQueued = false; renderVehicles(); }, 500);
}

function renderVehicles() {
  const body = document.getElementById("vehicles");
  if (!state.map) return;
  const alerting = state.map.alertDevices;
  const vehicles = [...state.map.vehicles.values()].sort((a, b) => a.plate.localeCompare(b.plate));
  document.getElementById("vehicle-count").textContent = String(vehicles.length);
  body.replaceChildren(...vehicles.map((v) => {
    const zone = state.map.zonesAt(v.lon, v.lat)[0];
    const inside = v.entered_at ? state.map.fmtDuration((Date.now() - Date.parse(v.entered_at)) / 1000) : "—";
    return el("tr", { class: `pickable ${alerting.has(v.device_id) ? "alerting" : ""}`, dataset: { vehicle: v.device_id, plate: v.plate },
      onclick: () => hooks.openVehicle(v) },
    el("td", { class: "plate" }, v.plate), el("td", {}, v.cargo?.un || "—"), el("td", {}, inside),
    el("td", { class: zone ? `zone-${zone.kind}` : "" }, zone?.name || t("off_road")),
    el("td", { class: "num" }, v.speed_kmh === undefined || v.speed_kmh === null ? "—" : `${Math.round(v.speed_kmh)}`));
  }));
  if (!vehicles.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "muted" }, t("no_vehicles"))));
}

async function loadVehicles() {
  if (!state.map || !state.site) return;
  const site = state.site;
  const list = await api(`/api/v1/sites/${encodeURIComponent(site)}/vehicles`);
  if (site !== state.site) return;
  state.map.setVehicles(list);
  renderVehicles();
}

function renderMapVersion() {
  const version = state.map?.layout?.version;
  document.getElementById("map-version").textContent = version ? `${t("layout_version")} ${version}` : "";
}

async function showSite(site) {
  state.site = site;
  document.getElementById("map-site").value = site;
  const layout = await api(`/api/v1/sites/${encodeURIComponent(site)}/layout`);
  if (site !== state.site) return;
  state.map.setLayout(layout);
  renderMapVersion();
  state.map.setAlerts([...state.alerts.values()]);
  await loadVehicles();
}

async function loadMap() {
  const box = document.getElementById("park-map");
  if (!state.echarts) {
    box.replaceChildren(el("p", { class: "muted map-note" }, t("echarts_missing")));
    return;
  }
  state.sites = await api("/api/v1/sites");
  const select = document.getElementById("map-site");
  select.replaceChildren(...state.sites.map((s) => el("option", { value: s.site }, s.site)));
  if (!state.sites.length) {
    box.replaceChildren(el("p", { class: "muted map-note" }, t("no_layout")));
    return;
  }
  if (!state.map) {
    state.map = new ParkMap(box, state.echarts, (k) => t(k));
    state.map.onVehicle = (v) => hooks.openVehicle(v);
    window.hazgate.map = state.map;
  }
  const site = state.sites.some((s) => s.site === state.site) ? state.site : state.sites[0].site;
  await showSite(site);
}

// -- start -------------------------------------------------------------------------------------
async function loadAll() {
  const [gates, inspections] = await Promise.all([api("/api/v1/gates"), api(`/api/v1/inspections?limit=${MAX_ROWS}`)]);
  // Events that arrived while these were read win over the (possibly older) records.
  const newer = (known, record) => (known && Date.parse(known.at) > Date.parse(record.at) ? known : record);
  state.gates = new Map(gates.map((g) => {
    const key = `${g.site}/${g.gate_id}`;
    const record = g.current ? { ...fromRecord(g.current), missing: g.missing_prompts } : null;
    const known = state.gates.get(key)?.current;
    return [key, { site: g.site, gate_id: g.gate_id, current: record ? newer(known, record) : known || null }];
  }));
  const fresh = new Map(inspections.map((r) => [r.id, newer(state.inspections.get(r.id), fromRecord(r))]));
  for (const [id, known] of state.inspections) if (!fresh.has(id)) fresh.set(id, known);
  state.inspections = fresh;
  renderGates();
  renderInspections();
  await Promise.all([loadAlerts(), loadDevices()]);
  await initIndex([...gates.map((g) => g.site), ...[...state.devices.values()].map((d) => d.site)].filter(Boolean));
  await loadMap().catch((e) => document.getElementById("park-map").replaceChildren(el("p", { class: "muted map-note" }, e.message)));
}

function renderAll() {
  for (const caption of document.querySelectorAll("figcaption[data-kind]")) {
    caption.textContent = faceCaption(caption.dataset.role, caption.dataset.kind);
  }
  renderGates();
  renderInspections();
  renderAlerts();
  renderDevices();
  renderIndex();
  renderVehicles();
  renderMapVersion();
  state.map?.draw();
  renderStay();
  if (state.chart.end) drawChartNow();
}

async function main() {
  setLang(currentLang());
  window.hazgate = { map: null, chart: null, hooks };
  state.echarts = await loadECharts();
  if (state.echarts) {
    state.chartView = new TelemetryChart(document.getElementById("chart"), state.echarts);
    window.hazgate.chart = state.chartView;
  } else {
    document.getElementById("chart").replaceChildren(el("p", { class: "muted" }, t("echarts_missing")));
  }
  state.me = await whoAmI();
  document.getElementById("who").textContent = `${state.me.user.name} (${state.me.user.role})`;
  mountStay(state.me);
  const toggle = document.getElementById("lang-toggle");
  const label = () => { toggle.textContent = currentLang() === "zh" ? "English" : "中文"; };
  label();
  toggle.addEventListener("click", () => { setLang(currentLang() === "zh" ? "en" : "zh"); label(); renderAll(); });
  document.getElementById("logout").addEventListener("click", logout);
  document.getElementById("chart-device").addEventListener("change", (e) => selectChartDevice(e.target.value));
  document.getElementById("chart-metric").addEventListener("change", (e) => { state.chart.metric = e.target.value; loadChart(); });
  document.getElementById("chart-range").addEventListener("change", (e) => { state.chart.rangeS = Number(e.target.value); loadChart(); });
  const indicator = document.getElementById("live-state");
  live(["inspections", "devices", "telemetry", "alerts"], {
    ready: loadAll, inspection: onInspection, device: onDevice, telemetry: onTelemetry, alert: onAlert,
  }, (s) => { indicator.dataset.state = s; indicator.dataset.i18n = s; indicator.textContent = t(s); });
  document.getElementById("map-site").addEventListener("change", (e) => showSite(e.target.value));
  // Silent devices become silent by time passing, not by an event.
  setInterval(scheduleDevices, 15000);
  setInterval(() => loadVehicles().catch(() => {}), VEHICLES_REFRESH_MS);
}

main();
