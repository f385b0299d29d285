import { currentLang, setLang, t } from "/static/common.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  // Only pages of this site: never an open redirect ("//evil", "/\\evil" and the like).
  const url = new URL(next, location.origin);
  return url.origin === location.origin && next.startsWith("/") ? url.pathname + url.search : "/";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const response = await fetch("/api/v1/auth/login", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ username: form.username.value.trim(), password: form.password.value }),
  });
  if (response.ok) {
    location.assign(nextPage());
    return;
  }
  const wait = response.headers.get("Retry-After");
  error.textContent = response.status === 429 ? `${t("too_many")} (${wait} s)` : t("login_failed");
  error.hidden = false;
});

for (const button of document.querySelectorAll("[data-lang]")) {
  button.addEventListener("click", () => setLang(button.dataset.lang));
}
setLang(currentLang());
