// The stay's words (bookings, the waiting lot, visits, the exit gate's checks), added to the
// pages' dictionary (common.js) by every page that shows them.

import { WORDS } from "/static/common.js";

Object.assign(WORDS.zh, {
  queue: "待检队列", visits_inside: "在园记录", visit: "车辆在园记录", visit_state: "状态", no_queue: "停车场内无等候车辆",
  no_visits: "园内暂无车辆", called: "已叫号", waiting: "等候", eligible_no: "未到预约时段", lot: "停车场", slot: "预约时段",
  call_next: "叫下一辆", cargo: "货物", entered: "入园", exited: "出园", time_inside: "在园时长", position: "位置",
  timeline: "时间线", booking: "预约", close_visit: "结束在园记录", close_reason: "结束理由（必填）", tracker: "定位终端",
  back: "返回看板", state_queued: "排队中", state_inside: "在园", state_closed: "已离园",
  tl_booked: "预约入园", tl_approved: "预约已批准", tl_queued: "进入停车场排队", tl_called: "叫号进闸",
  tl_entry_inspection: "入园检查", tl_entered: "入园", tl_tracker_assigned: "发放定位终端",
  tl_waybill_closed: "装卸完成，运单闭合", tl_alert: "告警", tl_alert_resolved: "告警解除",
  tl_exit_inspection: "出园检查", tl_exited: "出园", tl_closed: "人工结束",
  check_blacklist: "黑名单", check_booking: "预约", check_visit_found: "在园记录", check_load_within_limits: "出园载重",
  check_waybill_closed: "运单闭合", direction_entry: "入口", direction_exit: "出口",
  kiosk_called: "请以下车辆进闸", loaded: "装货", unloaded: "卸货",
});
Object.assign(WORDS.en, {
  queue: "Waiting-lot queue", visits_inside: "Stays inside", visit: "Tanker's stay", visit_state: "State",
  no_queue: "Nobody waiting in the lot", no_visits: "No tanker inside", called: "called", waiting: "waiting",
  eligible_no: "slot not started", lot: "Lot", slot: "Slot", call_next: "Call next", cargo: "Cargo", entered: "Entered",
  exited: "Left", time_inside: "Time inside", position: "Position", timeline: "Timeline", booking: "Booking",
  close_visit: "Close the stay", close_reason: "Reason (required)", tracker: "Tracker", back: "Back to the dashboard",
  state_queued: "queued", state_inside: "inside", state_closed: "closed",
  tl_booked: "booked", tl_approved: "booking approved", tl_queued: "queued in the waiting lot", tl_called: "called to the gate",
  tl_entry_inspection: "entry inspection", tl_entered: "entered", tl_tracker_assigned: "tracker handed out",
  tl_waybill_closed: "loading/unloading confirmed, waybill closed", tl_alert: "alert", tl_alert_resolved: "alert resolved",
  tl_exit_inspection: "exit inspection", tl_exited: "left the park", tl_closed: "closed by an officer",
  check_blacklist: "Blacklist", check_booking: "Booking", check_visit_found: "Stay found",
  check_load_within_limits: "Load at exit", check_waybill_closed: "Waybill closed", direction_entry: "entry",
  direction_exit: "exit", kiosk_called: "Called to the gate", loaded: "loaded", unloaded: "unloaded",
});

/** "2 h 05 min" / "2小时05分" from seconds. */
export function duration(seconds, lang) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  return lang === "zh" ? `${h}小时${m}分` : `${h} h ${m} min`;
}
