// The gate kiosk: Chinese first, English beneath; each of the five checks as it completes, and
// on failure exactly what the driver must do. Fed by the live stream of its own gate only.

import "/static/stay-words.js";
import { FIVE_CHECKS, WORDS, api, clock, el, live, whoAmI } from "/static/common.js";

const [, , site, gateId] = location.pathname.split("/").map(decodeURIComponent);
let current = null; // the inspection on screen
const zh = (key) => WORDS.zh[key];
const en = (key) => WORDS.en[key];
const ICON = { pass: "✓", fail: "✗", review: "!", pending: "…" };
// A passed vehicle's screen returns to the welcome text after this long.
const IDLE_AFTER_PASS_MS = 60000;
let idleTimer = null;

function both(zhText, enText, cls = "") {
  return [el("span", { class: `zh ${cls}` }, zhText), el("span", { class: `en ${cls}` }, enText)];
}

function render() {
  const checks = document.getElementById("k-checks");
  const banner = document.getElementById("k-banner");
  const todo = document.getElementById("k-todo");
  const verdict = document.getElementById("k-verdict");
  document.getElementById("k-plate").textContent = current?.plate || "—";
  document.getElementById("k-faces").hidden = !current?.comparing_faces;
  // An exit gate shows its own three checks (visit found, load, waybill closed).
  const codes = current?.direction === "exit" ? current.checks.map((c) => c.code) : FIVE_CHECKS;
  checks.replaceChildren(...codes.map((code, i) => {
    const check = current?.checks.find((c) => c.code === code);
    const status = current ? check?.status || "pending" : "idle";
    return el("li", { class: `k-check ${status}`, dataset: { check: code, status } },
      el("span", { class: "k-num" }, String(i + 1)),
      el("span", { class: "k-name" }, ...both(zh(`check_${code}`), en(`check_${code}`))),
      el("span", { class: "k-status" }, el("span", { class: "k-icon" }, current ? ICON[status] || "" : ""),
        current ? both(zh(`result_${status}`), en(`result_${status}`)) : null));
  }));
  const result = current ? current.result : "idle";
  banner.dataset.result = result;
  const key = { idle: "kiosk_idle", pass: "kiosk_pass", fail: "kiosk_fail", review: "kiosk_review", pending: "kiosk_pending" }[result];
  verdict.replaceChildren(...both(zh(key), en(key)));
  const items = [];
  if (current) {
    // On failure: what the driver must do, from the failing checks' reasons.
    for (const check of current.checks) {
      for (const reason of check.reasons) {
        if ((reason.status || check.status) === "fail" && check.status === "fail") {
          items.push(el("li", { class: "fail", dataset: { reason: reason.code } }, ...both(reason.message_zh, reason.message)));
        }
      }
    }
    // Still waiting: what to present next.
    for (const m of current.missing) {
      items.push(el("li", { class: "todo", dataset: { missing: m.input } }, ...both(m.prompt_zh || m.input, m.prompt || m.input)));
    }
  }
  todo.replaceChildren(...items);
  clearTimeout(idleTimer);
  if (result === "pass") idleTimer = setTimeout(() => { current = null; render(); }, IDLE_AFTER_PASS_MS);
}

function onInspection(d) {
  if (d.site !== site || d.gate_id !== gateId) return;
  current = {
    plate: d.plate, result: d.result, checks: d.checks, missing: d.missing || [], comparing_faces: d.comparing_faces,
    direction: d.direction,
  };
  render();
}

// The tankers the park called from the waiting lot to this gate.
const CALLED_POLL_MS = 10000;
async function showCalled() {
  const box = document.getElementById("k-called");
  try {
    const queue = await api(`/api/v1/queue?site=${encodeURIComponent(site)}`);
    const plates = queue.waiting.filter((w) => w.called_at && (!w.called_gate || w.called_gate === gateId)).map((w) => w.plate);
    box.hidden = !plates.length;
    box.replaceChildren(el("span", { class: "zh" }, `${zh("kiosk_called")}：${plates.join("、")}`),
      el("span", { class: "en" }, `${en("kiosk_called")}: ${plates.join(", ")}`));
  } catch {
    box.hidden = true;
  }
}

async function loadCurrent() {
  const gates = await api(`/api/v1/gates?site=${encodeURIComponent(site)}`);
  const gate = gates.find((g) => g.site === site && g.gate_id === gateId);
  const record = gate?.current;
  if (record && record.result !== "pass") {
    current = { plate: record.plate, result: record.effective_result, checks: record.checks,
      missing: gate.missing_prompts, comparing_faces: false, direction: record.direction };
  }
  render();
}

async function main() {
  document.getElementById("gate-name").textContent = `${site} · ${gateId}`;
  clock(document.getElementById("k-clock"));
  await whoAmI();
  render();
  const indicator = document.getElementById("k-live");
  live(["inspections"], { ready: loadCurrent, inspection: onInspection }, (s) => { indicator.dataset.state = s; },
    { site, gate: gateId });
  showCalled();
  setInterval(showCalled, CALLED_POLL_MS);
}

main();
