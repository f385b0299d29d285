// The risk index panel (指数评价): carriers, vehicles or drivers of a site and month, reddest first,
// each deduction with its count; a red one can be put on the watch list or the blacklist.

import { api, currentLang, el } from "/static/common.js";

const WORDS = {
  zh: {
    carriers: "承运企业", vehicles: "车辆", drivers: "驾驶员", site: "园区", month: "月份", score: "得分",
    grade: "等级", deductions: "扣分", lists: "名单", reason: "理由（必填）", watch: "加入观察名单",
    black: "加入黑名单", green: "绿", yellow: "黄", red: "红", none: "本月无记录", on_black: "黑名单",
    on_watch: "观察名单", report: "月报数据", days: "天",
  },
  en: {
    carriers: "Carriers", vehicles: "Vehicles", drivers: "Drivers", site: "Site", month: "Month", score: "Score",
    grade: "Grade", deductions: "Deductions", lists: "Lists", reason: "Reason (required)", watch: "Watch list",
    black: "Blacklist", green: "green", yellow: "yellow", red: "red", none: "No records this month",
    on_black: "blacklist", on_watch: "watch list", report: "Report figures", days: "days",
  },
};
const w = (key) => WORDS[currentLang()][key] ?? WORDS.en[key] ?? key;
const SUBJECT_KIND = { carriers: "carrier", vehicles: "vehicle", drivers: "person" };
// A listing made from the index lasts this long unless an officer changes it.
const LIST_DAYS = 90;

const state = { kind: "carriers", site: "", month: "", rows: [] };

function thisMonth() {
  const now = new Date(Date.now() + 8 * 3600 * 1000); // the park's clock (UTC+8)
  return now.toISOString().slice(0, 7);
}

async function put(list, row, reasonInput) {
  const reason = reasonInput.value.trim();
  if (reason.length < 3) { reasonInput.focus(); return; }
  const until = new Date(Date.now() + LIST_DAYS * 86400 * 1000).toISOString();
  await api(`/api/v1/${list}`, {
    method: "POST", body: { subject_kind: SUBJECT_KIND[state.kind], subject_id: row.id, reason, until },
  });
  await load();
}

function rowOf(row, rank) {
  const reasonInput = el("input", { type: "text", class: "reason", placeholder: w("reason") });
  const actions = row.grade === "red"
    ? el("div", { class: "list-actions" }, reasonInput,
      row.lists.includes("watch") ? null : el("button", { type: "button", class: "ghost", onclick: () => put("watchlist", row, reasonInput) }, w("watch")),
      row.lists.includes("black") ? null : el("button", { type: "button", class: "danger", onclick: () => put("blacklist", row, reasonInput) }, w("black")))
    : null;
  return el("tr", { class: `grade-${row.grade}`, dataset: { subject: row.id } },
    el("td", {}, String(rank)),
    el("td", {}, row.id, row.name ? el("div", { class: "muted" }, row.name) : null),
    el("td", { class: "score" }, String(row.score)),
    el("td", {}, el("span", { class: `grade ${row.grade}` }, w(row.grade))),
    el("td", { class: "deductions" }, ...row.deductions.map((d) => el("div", { title: d.evidence.map((e) => `${e.at} ${e.plate || ""} ${e.detail}`).join("\n") },
      `${d.code} ×${d.count} −${d.points}`))),
    el("td", {}, row.lists.map((l) => w(l === "black" ? "on_black" : "on_watch")).join(" · "), actions));
}

function render() {
  const body = document.getElementById("index-rows");
  if (!state.rows.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted" }, w("none"))));
    return;
  }
  body.replaceChildren(...state.rows.map((row, i) => rowOf(row, i + 1)));
}

let asked = 0; // the newest request: an older answer arriving late must not replace it

async function load() {
  if (!state.site) return;
  const ticket = ++asked;
  const params = new URLSearchParams({ site: state.site, month: state.month });
  try {
    const rows = await api(`/api/v1/index/${state.kind}?${params}`);
    if (ticket !== asked) return;
    state.rows = rows;
    render();
  } catch (e) {
    if (ticket !== asked) return;
    document.getElementById("index-rows").replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "error" }, e.message)));
  }
}

/** Fill the panel; ``sites`` from the gates the dashboard knows. */
export function initIndex(sites) {
  const siteSel = document.getElementById("index-site");
  const monthIn = document.getElementById("index-month");
  const kindSel = document.getElementById("index-kind");
  const known = [...new Set(sites)].sort();
  if (!state.site) state.site = known[0] || "";
  if (!state.month) state.month = thisMonth();
  siteSel.replaceChildren(...known.map((s) => el("option", { value: s, selected: s === state.site }, s)));
  monthIn.value = state.month;
  kindSel.replaceChildren(...Object.keys(SUBJECT_KIND).map((k) => el("option", { value: k, selected: k === state.kind }, w(k))));
  siteSel.onchange = () => { state.site = siteSel.value; load(); };
  monthIn.onchange = () => { state.month = monthIn.value; load(); };
  kindSel.onchange = () => { state.kind = kindSel.value; load(); };
  return load();
}

export function renderIndex() {
  const kindSel = document.getElementById("index-kind");
  if (kindSel) for (const opt of kindSel.options) opt.textContent = w(opt.value);
  render();
}
