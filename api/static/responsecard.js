// The emergency response card (应急处置卡) of an alert: shown under the alert on the dashboard and
// as a printable page (/response/{alert_id}). Built with textContent only, like every page.
// The circle data (centre, radii) is in the card for the park map; this module draws no map.

import { api, currentLang, el } from "/static/common.js";

const WORDS = {
  zh: {
    response: "应急处置", print: "打印处置卡", small: "小量泄漏", large: "大量泄漏", night: "夜间", day: "白天",
    guide: "应急指南", no_guide: "未知应急指南", isolate: "初始隔离", protect: "下风向防护", fire: "火灾隔离",
    radius: "疏散半径", center: "中心", inside: "半径内", nothing_inside: "半径内无已知车辆、人员或设备",
    assembly: "集合点", no_assembly: "尚无园区布局中的集合点", hazards: "潜在危险", public_safety: "公共安全",
    fire_section: "火灾处置", spill: "泄漏处置", first_aid: "急救", notes: "提示", distance: "距离",
    isolation_zone: "隔离区", protective_zone: "防护区", outside: "半径外", inside_radius: "在半径内，勿用",
    vehicle: "车辆", person: "人员", device: "设备", zone: "区域", local_time: "园区时间", tih: "吸入毒性",
    loading: "加载中…", close: "收起", none: "—",
  },
  en: {
    response: "Response", print: "Print card", small: "small spill", large: "large spill", night: "night", day: "day",
    guide: "ERG guide", no_guide: "no ERG guide known", isolate: "Isolate", protect: "Protect downwind",
    fire: "Fire: isolate", radius: "Radius", center: "Centre", inside: "Inside the radius",
    nothing_inside: "Nothing known inside the radius", assembly: "Assembly points",
    no_assembly: "No assembly points in the park layout yet", hazards: "Potential hazards",
    public_safety: "Public safety", fire_section: "Fire", spill: "Spill or leak", first_aid: "First aid",
    notes: "Notes", distance: "distance", isolation_zone: "isolation zone", protective_zone: "protective zone",
    outside: "outside", inside_radius: "inside the radius: do not use", vehicle: "vehicle", person: "person",
    device: "device", zone: "zone", local_time: "park time", tih: "toxic by inhalation", loading: "loading…",
    close: "Close", none: "—",
  },
};

export function w(key) {
  return WORDS[currentLang()][key] ?? WORDS.en[key] ?? key;
}

const metres = (m) => (m === null || m === undefined ? w("none") : `${Math.round(m)} m`);

export async function loadCard(alertId, spill) {
  const query = spill ? `?spill=${encodeURIComponent(spill)}` : "";
  return api(`/api/v1/alerts/${encodeURIComponent(alertId)}/response${query}`);
}

function section(key, items, open) {
  return el("details", { class: "guide-section", open: open || undefined },
    el("summary", {}, w(key === "fire" ? "fire_section" : key)),
    el("ul", {}, ...(items || []).map((item) => el("li", {}, item))));
}

/** The card as DOM. ``onSpill(size)`` re-renders for another spill size (omit on print). */
export function renderCard(card, { onSpill, printLink } = {}) {
  const s = card.substance || {};
  const names = [s.name_zh, s.name_en].filter(Boolean).join(" / ");
  const time = card.is_night ? w("night") : w("day");
  const head = el("header", { class: "card-head" },
    el("h3", {}, `${card.un} ${names}`, s.tih ? el("span", { class: "tih" }, ` · ${w("tih")}`) : null),
    el("p", { class: "guide-title" }, card.erg_guide ? `${w("guide")} ${card.erg_guide} · ${card.guide_title}` : w("no_guide")));
  const sizes = onSpill
    ? el("div", { class: "spill-toggle" }, ...["small", "large"].map((size) => el("button", {
      type: "button", class: size === card.spill ? "" : "ghost", onclick: () => onSpill(size),
    }, w(size))))
    : el("p", {}, w(card.spill));
  const distances = el("dl", { class: "distances" },
    el("dt", {}, w("isolate")), el("dd", { class: "iso" }, metres(card.isolation_m)),
    el("dt", {}, `${w("protect")} (${time})`), el("dd", { class: "protect" }, metres(card.protective_m)),
    el("dt", {}, w("fire")), el("dd", {}, metres(card.fire_isolation_m)),
    el("dt", {}, w("local_time")), el("dd", {}, `${card.local_time} · ${card.night_basis}`),
    el("dt", {}, w("center")), el("dd", {}, card.center
      ? `${card.center.lat.toFixed(5)}, ${card.center.lon.toFixed(5)} (${card.center.source})` : w("none")));
  const inside = card.inside.length
    ? el("table", { class: "inside" },
      el("thead", {}, el("tr", {}, el("th", {}, ""), el("th", {}, "ID"), el("th", {}, w("distance")), el("th", {}, ""))),
      el("tbody", {}, ...card.inside.map((i) => el("tr", { class: i.zone },
        el("td", {}, w(i.kind)),
        el("td", {}, i.id, i.label ? ` ${i.label}` : "", i.cargo ? ` · ${i.cargo.un} ${i.cargo.name || ""}` : ""),
        el("td", {}, metres(i.distance_m)),
        el("td", {}, w(i.zone === "isolation" ? "isolation_zone" : "protective_zone"))))))
    : el("p", { class: "muted" }, w("nothing_inside"));
  const assembly = card.assembly_points.length
    ? el("ul", { class: "assembly" }, ...card.assembly_points.map((p) => el("li", { class: p.inside_radius ? "unsafe" : "" },
      `${p.name || p.id} · ${metres(p.distance_m)}`, p.inside_radius ? ` · ${w("inside_radius")}` : "")))
    : el("p", { class: "muted" }, w("no_assembly"));
  const guide = card.guide
    ? el("div", { class: "guide" }, ...["hazards", "public_safety", "fire", "spill", "first_aid"].map(
      (key, i) => section(key, card.guide[key], !onSpill || i < 2)))
    : null;
  return el("div", { class: "response-card", dataset: { alert: card.alert_id, night: String(card.is_night) } },
    head, sizes, distances,
    card.notes.length ? el("ul", { class: "notes" }, ...card.notes.map((n) => el("li", {}, n))) : null,
    el("h4", {}, `${w("inside")} ${metres(card.radius_m)}`), inside,
    el("h4", {}, w("assembly")), assembly,
    guide,
    printLink ? el("p", {}, el("a", { href: `/response/${encodeURIComponent(card.alert_id)}?spill=${card.spill}`, target: "_blank" }, w("print"))) : null);
}
