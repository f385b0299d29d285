// The printable response card: /response/{alert_id}?spill=small|large. The print stylesheet in
// style.css lays it out on A4 with every guide section open.

import { api, el } from "/static/common.js";
import { loadCard, renderCard } from "/static/responsecard.js";

async function main() {
  const alertId = decodeURIComponent(location.pathname.split("/").pop());
  const spill = new URLSearchParams(location.search).get("spill") || undefined;
  document.getElementById("print").addEventListener("click", () => window.print());
  const box = document.getElementById("card");
  try {
    const [alert, card] = await Promise.all([api(`/api/v1/alerts/${encodeURIComponent(alertId)}`), loadCard(alertId, spill)]);
    document.getElementById("alert-line").textContent =
      `${alert.rule} · ${alert.severity} · ${alert.site || ""} · ${alert.device_id || alert.subject} · ${alert.started_at}`;
    box.replaceChildren(renderCard(card));
    for (const d of box.querySelectorAll("details")) d.open = true;
  } catch (e) {
    box.replaceChildren(el("p", { class: "error" }, e.message));
  }
}

main();
