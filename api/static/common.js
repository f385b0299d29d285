// Shared by the pages: words in two languages, the API with its CSRF token, the live stream,
// and a small DOM helper. Everything is built with textContent: no data ever becomes HTML.

export const WORDS = {
  zh: {
    title: "危化品车辆园区门禁", dashboard: "值班看板", gates: "闸口", recent: "最近检查", alerts: "未处理告警",
    devices: "设备", telemetry: "遥测曲线", logout: "退出", live: "实时", reconnecting: "重连中…",
    idle: "空闲，无车辆", plate: "车牌", result: "结果", time: "时间", gate: "闸口", checks: "五必查",
    reasons: "原因", evidence: "依据", faces: "人脸与证件照", no_alerts: "当前没有未处理告警",
    ack: "确认", resolve: "解除", silence: "静默1小时", device: "设备", type: "类型", state: "状态",
    battery: "电量", last_seen: "最近数据", metric: "指标", range: "时间范围", no_data: "该时间范围内没有数据",
    override: "人工裁定", override_reason: "裁定理由（必填）", override_pass: "放行", override_fail: "拒绝",
    comparing_faces: "正在比对人脸…", missing: "待完成", value: "数值", started: "开始", severity: "级别",
    rule: "规则", site: "园区", loading: "加载中…", no_inspections: "暂无检查记录", kiosk_idle: "请停车接受检查",
    kiosk_pass: "检查通过，请通行", kiosk_fail: "检查未通过，请按提示处理", kiosk_review: "请等待值班人员复核",
    kiosk_pending: "正在检查，请稍候", kiosk_todo: "请按以下提示操作", login: "登录", username: "用户名",
    password: "密码", login_failed: "用户名或密码错误", too_many: "尝试次数过多，请稍后再试",
    forbidden: "此账号无权访问该页面", effective: "裁定后", silenced: "已静默",
    check_vehicle_documents: "车辆证件", check_personnel: "人员资质", check_inspection_validity: "检验有效期",
    check_waybill_match: "电子运单", check_permitted_media: "准运介质", check_vehicle_status: "车辆状态",
    result_pass: "通过", result_fail: "未通过", result_review: "待复核", result_pending: "检查中",
    state_online: "在线", state_offline: "离线", state_silent: "无数据", state_unknown: "未知",
    alert_firing: "告警中", alert_acknowledged: "已确认", alert_resolved: "已解除",
    sev_critical: "严重", sev_warning: "警告", sev_info: "提示",
    role_driver: "驾驶员", role_escort: "押运员", id_photo: "身份证照片", live_face: "现场人脸",
    park_map: "园区态势", tankers_inside: "园内危化品车辆", cargo: "货物", time_inside: "在园时长", zone: "位置",
    speed: "车速", queue: "待检队列", layout_version: "布局版本", off_road: "道路外", no_vehicles: "暂无车辆定位",
    no_layout: "尚未导入园区布局（hazgate park import）", echarts_missing: "图表库未安装：请运行 make web",
    speed_limit: "限速", max_stop: "最长停留", zone_park_boundary: "园区边界", zone_road: "道路",
    zone_parking: "待检停车场", zone_filling_bay: "装卸车位", zone_restricted: "禁区", zone_gate: "闸口",
    zone_assembly_point: "应急集合点", zone_alert: "告警区域",
  },
  en: {
    title: "Hazardous-chemical park gates", dashboard: "Duty dashboard", gates: "Gates", recent: "Recent inspections",
    alerts: "Open alerts", devices: "Devices", telemetry: "Telemetry", logout: "Log out", live: "live",
    reconnecting: "reconnecting…", idle: "idle, no vehicle", plate: "Plate", result: "Result", time: "Time",
    gate: "Gate", checks: "Five checks", reasons: "Reasons", evidence: "Evidence", faces: "Faces and ID photos",
    no_alerts: "No open alerts", ack: "Acknowledge", resolve: "Resolve", silence: "Silence 1 h", device: "Device",
    type: "Type", state: "State", battery: "Battery", last_seen: "Last data", metric: "Metric", range: "Range",
    no_data: "No data in this range", override: "Officer decision", override_reason: "Reason (required)",
    override_pass: "Let in", override_fail: "Refuse", comparing_faces: "comparing faces…", missing: "Waiting for",
    value: "Value", started: "Started", severity: "Severity", rule: "Rule", site: "Site", loading: "loading…",
    no_inspections: "No inspections yet", kiosk_idle: "Please stop for inspection", kiosk_pass: "Checks passed, go ahead",
    kiosk_fail: "Checks failed: please do the following", kiosk_review: "Please wait for the duty officer",
    kiosk_pending: "Checking, please wait", kiosk_todo: "Please do the following", login: "Log in",
    username: "User name", password: "Password", login_failed: "Wrong user name or password",
    too_many: "Too many attempts, try again later", forbidden: "This account may not open this page",
    effective: "after override", silenced: "silenced",
    check_vehicle_documents: "Vehicle documents", check_personnel: "Personnel", check_inspection_validity:
      "Inspection validity", check_waybill_match: "Waybill match", check_permitted_media: "Permitted media",
    check_vehicle_status: "Vehicle status",
    result_pass: "pass", result_fail: "fail", result_review: "review", result_pending: "pending",
    state_online: "online", state_offline: "offline", state_silent: "silent", state_unknown: "unknown",
    alert_firing: "firing", alert_acknowledged: "acknowledged", alert_resolved: "resolved",
    sev_critical: "critical", sev_warning: "warning", sev_info: "info",
    role_driver: "driver", role_escort: "escort", id_photo: "ID photo", live_face: "live face",
    park_map: "Park situation", tankers_inside: "Tankers in the park", cargo: "Cargo", time_inside: "Inside for",
    zone: "Where", speed: "km/h", queue: "Waiting-lot queue", layout_version: "layout version", off_road: "off road",
    no_vehicles: "No tanker positions", no_layout: "No park layout imported yet (hazgate park import)",
    echarts_missing: "Chart library missing: run make web", speed_limit: "Speed limit", max_stop: "Longest stop",
    zone_park_boundary: "Park boundary", zone_road: "Road", zone_parking: "Waiting lot", zone_filling_bay: "Filling bay",
    zone_restricted: "Restricted", zone_gate: "Gate", zone_assembly_point: "Assembly point", zone_alert: "Zone with alert",
  },
};

export const FIVE_CHECKS = ["vehicle_documents", "personnel", "inspection_validity", "waybill_match", "permitted_media"];

let lang = localStorage.getItem("hazgate.lang") === "en" ? "en" : "zh";

export function currentLang() {
  return lang;
}

export function t(key, language = lang) {
  return WORDS[language][key] ?? WORDS.en[key] ?? key;
}

export function setLang(next) {
  lang = next === "en" ? "en" : "zh";
  localStorage.setItem("hazgate.lang", lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  }
}

/** A reason's or prompt's text in the current language (the server sends both). */
export function said(item, zhKey = "message_zh", enKey = "message") {
  return lang === "zh" ? item[zhKey] || item[enKey] : item[enKey] || item[zhKey];
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style") Object.assign(node.style, value); // CSSOM: allowed by the page's CSP
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function fmtTime(iso, withDate = false) {
  if (!iso) return "—";
  const d = new Date(iso);
  const opts = { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
  if (withDate) Object.assign(opts, { month: "2-digit", day: "2-digit" });
  return d.toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", opts);
}

export class ApiFailure extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

let csrfToken = null;

function toLogin() {
  location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(path, {
    method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (response.status === 401) {
    toLogin();
    throw new ApiFailure(401, data);
  }
  if (!response.ok) throw new ApiFailure(response.status, data);
  return data;
}

/** Who is logged in; keeps the session's CSRF token for state-changing requests. */
export async function whoAmI() {
  const me = await api("/api/v1/auth/me");
  csrfToken = me.csrf_token;
  return me;
}

export async function logout() {
  await api("/api/v1/auth/logout", { method: "POST" });
  location.assign("/login");
}

/**
 * The live stream. handlers: {ready, inspection, device, telemetry, alert}; onState("live" |
 * "reconnecting"). After a reconnect "ready" comes again: the page re-reads current state.
 */
export function live(topics, handlers, onState, filters = {}) {
  let source = null;
  const query = new URLSearchParams({ topics: topics.join(","), ...filters });
  const open = () => {
    source = new EventSource(`/api/v1/stream?${query}`);
    source.addEventListener("ready", () => {
      onState("live");
      handlers.ready?.();
    });
    for (const name of ["inspection", "device", "telemetry", "alert"]) {
      source.addEventListener(name, (e) => handlers[name]?.(JSON.parse(e.data)));
    }
    const restart = () => {
      source.close();
      onState("reconnecting");
      setTimeout(() => whoAmI().then(open, () => {}), 2000);
    };
    source.addEventListener("lagged", restart);
    source.addEventListener("reauth", restart);
    source.onerror = () => {
      onState("reconnecting");
      if (source.readyState === EventSource.CLOSED) restart();
    };
  };
  open();
  return () => source?.close();
}

export function clock(node) {
  const tick = () => {
    node.textContent = new Date().toLocaleTimeString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false });
  };
  tick();
  setInterval(tick, 1000);
}
