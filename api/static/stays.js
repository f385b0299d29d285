// The dashboard's stay panel: the waiting-lot queue (with "call next") and the tankers inside,
// each opening its visit page. Fills #queue (the dashboard's queue slot) and #visits-inside.

import "/static/stay-words.js";
import { duration } from "/static/stay-words.js";
import { api, currentLang, el, fmtTime, t } from "/static/common.js";

const REFRESH_MS = 5000;
let data = { waiting: [], lots: [], inside: [] };
let canCall = false;

function visitLink(id, ...children) {
  return el("a", { href: `/visits/${id}`, class: "visit-link", dataset: { visit: id } }, ...children);
}

function renderQueue(box) {
  const rows = data.waiting.map((w) => el("li", { class: `queue-entry ${w.called_at ? "called" : ""}`,
    dataset: { plate: w.plate, visit: w.visit_id } },
  el("span", { class: "q-pos" }, String(w.position)), " ",
  visitLink(w.visit_id, el("strong", {}, w.plate)), " ",
  el("span", { class: "muted" }, `${w.site} · ${t("lot")} ${w.lot_id || "—"} · ${fmtTime(w.queued_at)}`), " ",
  w.called_at ? el("span", { class: "badge pass" }, `${t("called")} ${w.called_gate || ""}`)
    : el("span", { class: `badge ${w.eligible ? "pending" : "review"}` }, w.eligible ? t("waiting") : t("eligible_no"))));
  const sites = [...new Set(data.waiting.map((w) => w.site))];
  const buttons = canCall ? sites.map((site) => el("button", { type: "button", class: "call-next", dataset: { site },
    onclick: async () => { await api("/api/v1/queue/call", { method: "POST", body: { site } }).catch(() => {}); refresh(); } },
  `${t("call_next")} (${site})`)) : [];
  const list = rows.length ? el("ol", { class: "queue" }, rows) : el("p", { class: "muted" }, t("no_queue"));
  box.replaceChildren(...[list, buttons.length ? el("div", { class: "actions" }, buttons) : null].filter(Boolean));
}

function renderInside(box) {
  const now = Date.now();
  const rows = data.inside.map((v) => el("li", { class: "inside-entry", dataset: { plate: v.plate, visit: v.id } },
    visitLink(v.id, el("strong", {}, v.plate)), " ",
    el("span", { class: "muted" }, [v.cargo ? `${v.cargo.un} ${v.cargo.name}` : "", v.site,
      v.entered_at ? duration((now - Date.parse(v.entered_at)) / 1000, currentLang()) : ""].filter(Boolean).join(" · "))));
  box.replaceChildren(rows.length ? el("ul", { class: "inside" }, rows) : el("p", { class: "muted" }, t("no_visits")));
}

export function renderStay() {
  const queueBox = document.getElementById("queue");
  const insideBox = document.getElementById("visits-inside");
  if (queueBox) {
    renderQueue(queueBox);
    const slot = document.getElementById("queue-slot");
    if (slot) slot.hidden = false;
  }
  if (insideBox) renderInside(insideBox);
}

export async function refresh() {
  try {
    const [queue, inside] = await Promise.all([api("/api/v1/queue"), api("/api/v1/visits?state=inside&limit=200")]);
    data = { waiting: queue.waiting, lots: queue.lots, inside };
    renderStay();
  } catch (e) {
    document.getElementById("queue")?.replaceChildren(el("p", { class: "muted" }, e.message));
  }
}

/** Start the panel; the dashboard calls refresh() again on every gate decision. */
export function mountStay(me) {
  canCall = ["admin", "officer"].includes(me?.user?.role);
  refresh();
  setInterval(refresh, REFRESH_MS);
}
