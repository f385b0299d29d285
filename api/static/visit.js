// One tanker's stay: where it is, what it carries, and its timeline from booking to exit, kept
// current by the live stream (gate decisions, alerts) and a short poll for its position.

import { duration } from "/static/stay-words.js";
import { api, currentLang, el, fmtTime, live, setLang, t, whoAmI } from "/static/common.js";

const visitId = decodeURIComponent(location.pathname.split("/").pop());
const POLL_MS = 5000;
let visit = null;
let me = null;

const RESULT_KINDS = new Set(["entry_inspection", "exit_inspection"]);

function fact(key, ...value) {
  return [el("dt", {}, t(key)), el("dd", { dataset: { fact: key } }, ...value)];
}

function renderFacts() {
  document.getElementById("visit-plate").textContent = visit.plate;
  const badge = document.getElementById("visit-state");
  badge.textContent = t(`state_${visit.state}`);
  badge.dataset.state = visit.state;
  badge.className = `badge ${{ queued: "pending", inside: "review", closed: "pass" }[visit.state]}`;
  const end = visit.exited_at || visit.closed_at;
  const inside = visit.entered_at ? ((end ? Date.parse(end) : Date.now()) - Date.parse(visit.entered_at)) / 1000 : null;
  const pos = visit.position;
  document.getElementById("visit-facts").replaceChildren(...[
    ...fact("site", visit.site),
    ...fact("cargo", visit.cargo ? `${visit.cargo.un} ${visit.cargo.name} · ${visit.cargo.quantity_kg} kg` : "—"),
    ...fact("booking", visit.booking_id || "—"),
    ...fact("lot", visit.lot_id || "—"),
    ...fact("entered", fmtTime(visit.entered_at, true)),
    ...fact("exited", fmtTime(end, true)),
    ...fact("time_inside", inside === null ? "—" : duration(inside, currentLang())),
    ...fact("position", pos ? `${pos.lat.toFixed(5)}, ${pos.lon.toFixed(5)}${pos.zone_id ? ` · ${pos.zone_id}` : ""} · ${fmtTime(pos.ts)}` : "—"),
    ...fact("tracker", pos?.device_id || visit.tracker_device_id || "—"),
  ]);
  renderClose();
}

function renderClose() {
  const box = document.getElementById("close-box");
  if (visit.state === "closed" || !["admin", "officer"].includes(me?.user.role)) {
    box.replaceChildren();
    return;
  }
  const reason = el("input", { class: "reason", id: "close-reason", placeholder: t("close_reason"), maxlength: 1000 });
  const close = async () => {
    if (reason.value.trim().length < 5) { reason.focus(); return; }
    visit = await api(`/api/v1/visits/${visitId}/close`, { method: "POST", body: { reason: reason.value.trim() } });
    render();
  };
  box.replaceChildren(el("div", { class: "override" }, el("strong", {}, t("close_visit")), reason,
    el("button", { type: "button", class: "danger", id: "close-visit", onclick: close }, t("close_visit"))));
}

function entryDetail(entry) {
  const d = entry.detail || {};
  const parts = [];
  if (RESULT_KINDS.has(entry.kind)) {
    parts.push(el("span", { class: `badge ${d.result}`, dataset: { result: d.result } }, t(`result_${d.result}`)));
    if (d.gate_id) parts.push(` ${t("gate")} ${d.gate_id}`);
    if (d.reasons?.length) parts.push(el("code", {}, ` ${d.reasons.join(", ")}`));
    if (d.override_by) parts.push(` · ${t("override")}: ${d.override_by}`);
  } else if (entry.kind === "alert" || entry.kind === "alert_resolved") {
    parts.push(el("span", { class: `sev ${d.severity}` }, t(`sev_${d.severity}`)), ` ${d.rule || ""} · ${d.summary || ""}`);
  } else if (entry.kind === "waybill_closed") {
    parts.push(`${t(d.operation) || d.operation || ""} ${d.waybill_no || ""} · ${d.by || ""}`);
  } else {
    const shown = ["gate_id", "lot_id", "device_id", "by", "reason", "source"].filter((k) => d[k]).map((k) => d[k]);
    if (shown.length) parts.push(shown.join(" · "));
  }
  return parts;
}

function renderTimeline() {
  const list = document.getElementById("timeline");
  list.replaceChildren(...visit.timeline.map((entry) => el("li", { class: `tl ${entry.kind}`, dataset: { kind: entry.kind } },
    el("time", {}, fmtTime(entry.ts, true)), " ", el("strong", {}, t(`tl_${entry.kind}`)), " ",
    el("span", { class: "tl-detail" }, entryDetail(entry)))));
}

function render() {
  if (!visit) return;
  renderFacts();
  renderTimeline();
}

async function load() {
  try {
    visit = await api(`/api/v1/visits/${visitId}`);
    render();
  } catch (e) {
    document.getElementById("timeline").replaceChildren(el("li", { class: "error" }, e.message));
  }
}

async function main() {
  setLang(currentLang());
  me = await whoAmI();
  document.getElementById("who").textContent = `${me.user.name} (${me.user.role})`;
  const toggle = document.getElementById("lang-toggle");
  const label = () => { toggle.textContent = currentLang() === "zh" ? "English" : "中文"; };
  label();
  toggle.addEventListener("click", () => { setLang(currentLang() === "zh" ? "en" : "zh"); label(); render(); });
  const indicator = document.getElementById("live-state");
  const mine = (d) => visit && (d.visit_id === visitId || (d.plate === visit.plate && d.site === visit.site));
  live(["inspections", "alerts"], {
    ready: load,
    inspection: (d) => { if (mine(d) && d.result !== "pending") load(); },
    alert: (a) => { if (visit && JSON.stringify(a).includes(visit.plate)) load(); },
  }, (s) => { indicator.dataset.state = s; indicator.textContent = t(s); });
  setInterval(() => { if (visit?.state !== "closed") load(); }, POLL_MS);
}

main();
