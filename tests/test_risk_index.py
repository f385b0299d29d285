"""The park's safety office rates carriers, vehicles and drivers each month (指数评价): 100 points
less deductions from hazgate's own records, green at 90 and above, red below 70. A month is
seeded into the real database; the index is checked against a hand-worked example, deduction by
deduction; the PDF report's figures against the API's; and a red carrier goes on the blacklist.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from alerts.lifecycle import Alert
from alerts.models import Severity
from alerts.store import UPSERT_ALERT, alert_params
from hazgate.cli import main
from registry import blacklist
from tests.fixtures.gate import new_id_number
from tests.fixtures.park import carrier, vehicle, write_registry

TZ = ZoneInfo("Asia/Shanghai")
MONTH = "2026-05"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture
def api(app_server, admin_key: str) -> Iterator[httpx.Client]:
    """The admin's client, patient: these stories run beside a busy shared machine's other work."""
    with httpx.Client(
        base_url=app_server.base_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30
    ) as client:
        yield client


def at(day: int, hour: int = 10, minute: int = 0, month: int = 5) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


def reason(code: str, status: str = "fail") -> dict[str, str]:
    return {"code": code, "status": status, "message": f"{code} (seeded)", "message_zh": code}


def check(code: str, *reasons: dict[str, str]) -> dict[str, Any]:
    status = "fail" if any(r["status"] == "fail" for r in reasons) else "pass"
    return {"code": code, "status": status, "reasons": list(reasons), "evidence": {}, "missing_inputs": []}


class Month:
    """One site's May 2026: carriers C1 (two tankers) and C2 (one), a driver each."""

    documents_failed = let_in = held = face = pressure = silent = dwell = ""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.site = f"ix{uuid.uuid4().hex[:6]}"
        rng = random.Random(self.site)
        tag = self.site[-4:]
        self.c1, self.c2 = f"C1-{tag}", f"C2-{tag}"
        self.v1, self.v2, self.v3 = (f"浙B{rng.randrange(10000, 99999)}" for _ in range(3))
        self.d1, self.d2, self.d3 = (new_id_number(rng) for _ in range(3))
        write_registry(
            db_url,
            {
                "carriers": [carrier(self.c1, "甬港危运"), carrier(self.c2, "镇海化运")],
                "vehicles": [vehicle(self.v1, self.c1), vehicle(self.v2, self.c1), vehicle(self.v3, self.c2)],
            },
        )
        with psycopg.connect(db_url) as conn:
            for pid, name in ((self.d1, "张伟"), (self.d2, "李强"), (self.d3, "王芳")):
                conn.execute(
                    "INSERT INTO personnel (id_number, record) VALUES (%s, %s)",
                    (pid, json.dumps({"id_number": pid, "name": name}, ensure_ascii=False)),
                )

    def inspection(
        self,
        when: datetime,
        plate: str,
        driver: str,
        result: str,
        checks: list[dict[str, Any]],
        override: tuple[str, str] | None = None,
        site: str | None = None,
    ) -> str:
        iid = str(uuid.uuid4())
        inputs = {"id_cards": {"driver": {"id_number": driver, "name": "?"}}, "waybill_no": None}
        with psycopg.connect(self.db_url) as conn:
            conn.execute(
                "INSERT INTO inspections (id, site, gate_id, plate, opened_at, updated_at, decided_at, closed_at,"
                " result, checks, missing, inputs, override_result, override_by, override_reason, override_at)"
                " VALUES (%s, %s, 'g1', %s, %s, %s, %s, %s, %s, %s, '[]', %s, %s, %s, %s, %s)",
                (
                    iid,
                    site or self.site,
                    plate,
                    when,
                    when,
                    when,
                    when,
                    result,
                    json.dumps(checks),
                    json.dumps(inputs),
                    override[0] if override else None,
                    "officer-chen" if override else None,
                    override[1] if override else None,
                    when + timedelta(minutes=3) if override else None,
                ),
            )
        return iid

    def alert(
        self,
        when: datetime,
        kind: str,
        subject: str,
        device_id: str | None = None,
        ack_after_min: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> str:
        alert = Alert(
            id=str(uuid.uuid4()),
            fingerprint=f"seed:{uuid.uuid4().hex}",
            rule_id=str(uuid.uuid4()),
            rule_name=f"seeded {kind}",
            rule_kind=kind,
            subject=subject,
            severity=Severity.CRITICAL if kind == "threshold" else Severity.WARNING,
            state="acknowledged" if ack_after_min is not None else "firing",
            site=self.site,
            device_id=device_id,
            summary=f"{kind} on {subject}",
            started_at=when,
            updated_at=when,
            acknowledged_at=when + timedelta(minutes=ack_after_min) if ack_after_min is not None else None,
            acknowledged_by="officer-chen" if ack_after_min is not None else None,
            details=details or {},
        )
        with psycopg.connect(self.db_url) as conn:
            conn.execute(UPSERT_ALERT, alert_params(alert))
        return alert.id

    def device(self, plate: str, device_type: str) -> str:
        device_id = f"{device_type[:4]}-{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.db_url) as conn:
            conn.execute(
                "INSERT INTO devices (device_id, site, type, mqtt_password_hash, plate) VALUES (%s, %s, %s, 'x', %s)",
                (device_id, self.site, device_type, plate),
            )
        return device_id


@pytest.fixture
def may(settings) -> Month:
    m = Month(settings.db_url)
    m.inspection(at(3, 9), m.v1, m.d1, "pass", [check("vehicle_documents")])
    m.documents_failed = m.inspection(
        at(5, 10),
        m.v1,
        m.d1,
        "fail",
        [
            check("vehicle_documents", reason("vehicle_license_expired"), reason("transport_permit_expired")),
            check("inspection_validity", reason("tank_inspection_expired")),
            check("personnel", reason("qualification_expired")),
        ],
    )
    m.let_in = m.inspection(
        at(6, 10),
        m.v1,
        m.d1,
        "fail",
        [check("waybill_match", reason("waybill_vehicle_mismatch"))],
        override=("pass", "运单已由承运企业更正"),
    )
    m.held = m.inspection(
        at(10, 14), m.v2, m.d2, "pass", [check("vehicle_documents")], override=("fail", "罐体阀门渗漏")
    )
    m.face = m.inspection(
        at(12, 8),
        m.v3,
        m.d3,
        "fail",
        [check("personnel", reason("face_mismatch"), reason("face_borderline", "review"))],
    )
    m.inspection(at(13, 8), m.v3, m.d3, "review", [check("personnel", reason("face_borderline", "review"))])
    # Outside the month, or another site's: not counted.
    m.inspection(at(30, 10, month=4), m.v1, m.d1, "fail", [check("vehicle_documents", reason("vehicle_unknown"))])
    m.inspection(at(1, 0, 0, month=6), m.v1, m.d1, "fail", [check("vehicle_documents", reason("vehicle_unknown"))])
    m.inspection(at(8), m.v1, m.d1, "fail", [check("vehicle_documents", reason("vehicle_unknown"))], site="other")
    m.pressure = m.alert(at(20, 22), "threshold", "x", device_id=m.device(m.v1, "tank_sensor"), ack_after_min=6)
    m.silent = m.alert(at(21, 3), "absence", "x", device_id=m.device(m.v2, "gps_tracker"))
    m.alert(at(12, 8, 1), "gate_failure", m.v3)
    m.dwell = m.alert(at(25, 18), "dwell", m.v3, ack_after_min=30)
    return m


def deductions(row: dict[str, Any]) -> dict[str, tuple[float, int]]:
    return {d["code"]: (d["points"], d["count"]) for d in row["deductions"]}


def test_a_seeded_month_scores_as_worked_out_by_hand(api, may):
    params = {"site": may.site, "month": MONTH}
    vehicles = {r["id"]: r for r in api.get("/api/v1/index/vehicles", params=params).json()}
    carriers = {r["id"]: r for r in api.get("/api/v1/index/carriers", params=params).json()}
    drivers = {r["id"]: r for r in api.get("/api/v1/index/drivers", params=params).json()}

    # Vehicle 1: three expired documents at one failed entry (3 x 5), a waybill for another
    # vehicle (2), let in by an officer anyway (2), a critical pressure alert (3): 100 - 22 = 78.
    assert deductions(vehicles[may.v1]) == {
        "document_expired.tank_inspection_expired": (5, 1),
        "document_expired.transport_permit_expired": (5, 1),
        "document_expired.vehicle_license_expired": (5, 1),
        "entry_failed.waybill_vehicle_mismatch": (2, 1),
        "officer_override": (2, 1),
        "alert.threshold": (3, 1),
    }
    assert (vehicles[may.v1]["score"], vehicles[may.v1]["grade"]) == (78, "yellow")
    # Vehicle 2: held by an officer although the gate passed it (5), its tracker fell silent (1).
    assert deductions(vehicles[may.v2]) == {"officer_held": (5, 1), "alert.absence": (1, 1)}
    assert (vehicles[may.v2]["score"], vehicles[may.v2]["grade"]) == (94, "green")
    # Vehicle 3: the driver's face did not match (the crew's, not the vehicle's); the gate-failure
    # alert is that same failed entry, not counted twice; it overstayed (dwell, 2).
    assert deductions(vehicles[may.v3]) == {"alert.dwell": (2, 1)}
    assert vehicles[may.v3]["score"] == 98

    # Carrier 1 carries both its vehicles and its driver's expired qualification:
    # 15 + 5 (qualification) + 2 + 2 + 3 + 5 + 1 = 33 -> 67, red.
    c1 = carriers[may.c1]
    assert deductions(c1) == {
        "document_expired.qualification_expired": (5, 1),
        "document_expired.tank_inspection_expired": (5, 1),
        "document_expired.transport_permit_expired": (5, 1),
        "document_expired.vehicle_license_expired": (5, 1),
        "entry_failed.waybill_vehicle_mismatch": (2, 1),
        "officer_override": (2, 1),
        "officer_held": (5, 1),
        "alert.threshold": (3, 1),
        "alert.absence": (1, 1),
    }
    assert (c1["score"], c1["grade"], c1["name"]) == (67, "red", "甬港危运")
    assert deductions(carriers[may.c2]) == {"entry_failed.face_mismatch": (2, 1), "alert.dwell": (2, 1)}
    assert (carriers[may.c2]["score"], carriers[may.c2]["grade"]) == (96, "green")
    assert list(carriers) == [may.c1, may.c2]  # reddest first

    # Driver 1: own expired qualification (5), the override (2), the alert while on duty (3): 90,
    # green (90 and above). Driver 2: held (5). Driver 3: face mismatch (2).
    assert deductions(drivers[may.d1]) == {
        "document_expired.qualification_expired": (5, 1),
        "officer_override": (2, 1),
        "alert.threshold": (3, 1),
    }
    assert (drivers[may.d1]["score"], drivers[may.d1]["grade"], drivers[may.d1]["name"]) == (90, "green", "张伟")
    assert deductions(drivers[may.d2]) == {"officer_held": (5, 1)} and drivers[may.d3]["score"] == 98

    # Every deduction names its evidence.
    evidence = {d["code"]: d["evidence"] for d in c1["deductions"]}
    assert [e["id"] for e in evidence["officer_held"]] == [may.held]
    assert "罐体阀门渗漏" in evidence["officer_held"][0]["detail"]
    assert [e["id"] for e in evidence["alert.threshold"]] == [may.pressure]
    assert evidence["document_expired.vehicle_license_expired"][0]["id"] == may.documents_failed
    assert evidence["document_expired.vehicle_license_expired"][0]["plate"] == may.v1

    # An empty month, a bad month.
    assert api.get("/api/v1/index/carriers", params={"site": may.site, "month": "2026-07"}).json() == []
    bad = api.get("/api/v1/index/carriers", params={"site": may.site, "month": "2026-13"})
    assert bad.status_code == 422


def test_position_violations_and_refused_bookings_count_against_carrier_vehicle_and_driver(api, settings):
    m = Month(settings.db_url)
    # Vehicle 3 sped on the ring road (a position rule's alert names the plate and the zone) ...
    speeding = m.alert(at(14, 11), "speeding", m.v3, details={"plate": m.v3, "zone_id": "ring-road"})
    # ... and a booking of it, naming driver 3, was refused by the park (the audit says when).
    booking = uuid.uuid4()
    with psycopg.connect(settings.db_url) as conn:
        conn.execute(
            "INSERT INTO bookings (id, site, plate, waybill_no, driver_id, slot_start, slot_end, state, precheck,"
            " reason, updated_at) VALUES (%s, %s, %s, 'WB-x', %s, %s, %s, 'refused', '{}', '罐检即将到期', %s)",
            (booking, m.site, m.v3, m.d3, at(16, 8), at(16, 12), at(20)),
        )
        conn.execute(
            "INSERT INTO booking_audit (booking_id, at, actor, action, detail) VALUES (%s, %s, 'officer-chen',"
            " 'refuse', '{}')",
            (booking, at(15, 9)),
        )
    params = {"site": m.site, "month": MONTH}
    vehicle3 = {r["id"]: r for r in api.get("/api/v1/index/vehicles", params=params).json()}[m.v3]
    # A position violation takes its own points (3), not a device alert's; a refused booking 1.
    assert deductions(vehicle3) == {"position_violation.speeding": (3, 1), "booking_refused": (1, 1)}
    assert vehicle3["score"] == 96
    evidence = {d["code"]: d["evidence"] for d in vehicle3["deductions"]}
    assert [e["id"] for e in evidence["position_violation.speeding"]] == [speeding]
    assert "ring-road" in evidence["position_violation.speeding"][0]["detail"]
    assert [e["id"] for e in evidence["booking_refused"]] == [str(booking)]
    carrier2 = {r["id"]: r for r in api.get("/api/v1/index/carriers", params=params).json()}[m.c2]
    assert deductions(carrier2) == deductions(vehicle3)
    driver3 = {r["id"]: r for r in api.get("/api/v1/index/drivers", params=params).json()}[m.d3]
    assert deductions(driver3) == {"booking_refused": (1, 1)}  # nobody entered: no driver on duty
    # The monthly report counts every alert, the speeding one too, under its kind.
    figures = api.get("/api/v1/reports/monthly", params=params).json()
    assert {k["kind"]: k["count"] for k in figures["alerts"]["by_kind"]} == {"speeding": 1}


def test_points_and_thresholds_are_site_settings(settings, may):
    from risk.index import compute_index
    from risk.records import month_records
    from tests.fixtures.services import make_settings

    strict = make_settings(
        database_url=settings.db_url,
        sites={may.site: {"index": {"green_min": 99, "red_below": 97, "points": {"alert": {"dwell": 10}}}}},
    )
    cfg = strict.for_site(may.site)
    with psycopg.connect(settings.db_url) as conn:
        rows = {r.id: r for r in compute_index("carrier", month_records(conn, may.site, MONTH, cfg.tz), cfg.index)}
    assert (rows[may.c2].score, rows[may.c2].grade) == (88, "red")  # 2 + 10 off; red below 97


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_the_monthly_pdf_opens_has_four_pages_and_its_figures_are_the_apis(
    api, may, settings, tmp_path: Path, monkeypatch, capsys
):
    out = tmp_path / "report.pdf"
    monkeypatch.setenv("HAZGATE_DATABASE_URL", settings.db_url)
    assert main(["report", "monthly", "--site", may.site, "--month", MONTH, "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    figures = api.get("/api/v1/reports/monthly", params={"site": may.site, "month": MONTH}).json()
    assert printed["figures"] == figures and printed["pages"] == 4

    # The figures, as worked out from the seeded month.
    gate, alerts, index = figures["gate"], figures["alerts"], figures["index"]
    assert (gate["entries"], gate["passed"], gate["failed"], gate["review"]) == (6, 2, 3, 1)
    assert (gate["overridden"], gate["admitted"], gate["failure_rate_pct"]) == (2, 2, 50.0)
    assert {r["code"]: r["count"] for r in gate["failures_by_reason"]} == {
        "face_mismatch": 1,
        "qualification_expired": 1,
        "tank_inspection_expired": 1,
        "transport_permit_expired": 1,
        "vehicle_license_expired": 1,
        "waybill_vehicle_mismatch": 1,
    }
    assert (alerts["total"], alerts["unacknowledged"], alerts["median_ack_min"]) == (4, 2, 18.0)
    kinds = {k["kind"]: k for k in alerts["by_kind"]}
    assert kinds["threshold"]["median_ack_min"] == 6.0 and kinds["dwell"]["p90_ack_min"] == 30.0
    assert kinds["gate_failure"]["acknowledged"] == 0
    assert index["carriers"] == {"green": 1, "yellow": 0, "red": 1}
    assert index["vehicles"] == {"green": 2, "yellow": 1, "red": 0}
    assert index["drivers"] == {"green": 3, "yellow": 0, "red": 0}
    assert [c["id"] for c in index["reddest_carriers"]] == [may.c1, may.c2]

    # The PDF: a real PDF of four pages whose text carries the same figures, Chinese included.
    assert out.read_bytes().startswith(b"%PDF-")
    info = subprocess.run(["pdfinfo", str(out)], check=True, capture_output=True, text=True).stdout
    assert re.search(r"^Pages:\s+4$", info, re.MULTILINE), info
    text = pdf_text(out)
    pages = text.split("\f")
    summary = pages[0]
    for label, value in [
        ("入园检查 entries", gate["entries"]),
        ("未通过 failed", gate["failed"]),
        ("人工改判 overridden", gate["overridden"]),
        ("报警 alerts", alerts["total"]),
        ("未确认报警 unacknowledged", alerts["unacknowledged"]),
    ]:
        assert re.search(rf"{re.escape(label)}\s+{value}\b", summary), (label, summary)
    assert re.search(r"green/yellow/red\s+1/0/1", summary)
    assert "危险化学品运输安全月报" in summary
    for r in gate["failures_by_reason"]:
        assert re.search(rf"{r['code']}\s+{r['count']}\b", pages[1])
    assert re.search(r"threshold\s+1\s+1\s+6\s+6", pages[2]) and re.search(r"dwell\s+1\s+1\s+30\s+30", pages[2])
    assert re.search(rf"{re.escape(may.c1)}\s+甬港危运\s+67\s+red", pages[3]), pages[3]

    # Pages rendered for a person to look at (tests/artifacts/report-*.png).
    if shutil.which("pdftoppm"):
        ARTIFACTS.mkdir(exist_ok=True)
        subprocess.run(["pdftoppm", "-png", "-r", "60", str(out), str(ARTIFACTS / "report")], check=True)
        assert len(list(ARTIFACTS.glob("report-*.png"))) >= 4


def test_report_refuses_a_bad_month_and_says_what_to_install_without_the_font(settings, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HAZGATE_DATABASE_URL", settings.db_url)
    out = tmp_path / "r.pdf"
    assert main(["report", "monthly", "--site", "s", "--month", "2026-5", "--out", str(out), "--json"]) == 1
    assert "YYYY-MM" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])["message"]
    monkeypatch.setattr("risk.pdf.FONT_PATHS", (tmp_path / "no-font.ttc",))
    assert main(["report", "monthly", "--site", "s", "--month", "2026-05", "--out", str(out), "--json"]) == 1
    refused = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "fonts-wqy-microhei" in refused["hint"] and not out.exists()


def test_a_red_carrier_goes_on_the_blacklist_until_a_date_and_every_change_is_audited(api, may, settings):
    until = (datetime.now(UTC) + timedelta(days=90)).replace(microsecond=0)
    body = {
        "subject_kind": "carrier",
        "subject_id": may.c1,
        "reason": "5月风险指数67分（红色）",
        "until": until.isoformat(),
    }
    added = api.post("/api/v1/blacklist", json=body)
    assert added.status_code == 201, added.text
    listing = added.json()
    assert listing["state"] == "active" and listing["created_by"].startswith("admin")
    assert [a["action"] for a in listing["audit"]] == ["added"]
    watched = api.post(
        "/api/v1/watchlist",
        json={
            "subject_kind": "vehicle",
            "subject_id": may.v1.replace("浙", "浙 "),
            "reason": "多次证件过期",
            "until": until.isoformat(),
        },
    ).json()
    assert watched["subject_id"] == may.v1 and watched["list"] == "watch"

    # The index shows where each one stands now; the gate's query finds the carrier.
    carriers = {r["id"]: r for r in api.get("/api/v1/index/carriers", params={"site": may.site, "month": MONTH}).json()}
    assert carriers[may.c1]["lists"] == ["black"]
    vehicles = {r["id"]: r for r in api.get("/api/v1/index/vehicles", params={"site": may.site, "month": MONTH}).json()}
    assert vehicles[may.v1]["lists"] == ["watch"]
    subjects = [blacklist.Subject(kind="carrier", id=may.c1), blacklist.Subject(kind="vehicle", id=may.v1)]
    with psycopg.connect(settings.db_url) as conn:
        now = datetime.now(UTC)
        found = blacklist.find_active(conn, subjects, now)
        assert [f.id for f in found] == [listing["id"]]  # the watch list does not block
        reasons = blacklist.blacklisted(found, now)
        assert reasons[0].code == "blacklisted" and "5月风险指数67分" in reasons[0].message_zh
        assert until.astimezone(TZ).strftime("%Y-%m-%d %H:%M") in reasons[0].message
        assert blacklist.find_active(conn, subjects, until + timedelta(seconds=1)) == []  # it expires

    listed = api.get("/api/v1/blacklist", params={"subject_kind": "carrier", "subject_id": may.c1}).json()
    assert [x["id"] for x in listed] == [listing["id"]]

    removed = api.request("DELETE", f"/api/v1/blacklist/{listing['id']}", json={"reason": "整改完成"})
    assert removed.status_code == 200 and removed.json()["state"] == "removed"
    assert [a["action"] for a in removed.json()["audit"]] == ["added", "removed"]
    assert removed.json()["audit"][1]["detail"] == {"reason": "整改完成"}
    assert api.get("/api/v1/blacklist", params={"subject_kind": "carrier", "subject_id": may.c1}).json() == []
    ended = api.get(
        "/api/v1/blacklist", params={"subject_kind": "carrier", "subject_id": may.c1, "include_ended": True}
    ).json()
    assert [x["state"] for x in ended] == ["removed"]
    assert api.delete(f"/api/v1/blacklist/{watched['id']}").status_code == 404  # not on this list

    # A listing made last month that ran out yesterday: expired, and its expiry is on record.
    old_id = str(uuid.uuid4())
    with psycopg.connect(settings.db_url) as conn:
        conn.execute(
            "INSERT INTO subject_listings (id, list, subject_kind, subject_id, reason, until, created_by, created_at)"
            " VALUES (%s, 'black', 'vehicle', %s, 'seeded', now() - interval '1 day', 'officer-chen',"
            " now() - interval '30 days')",
            (old_id, may.v2),
        )
    old = api.get(
        "/api/v1/blacklist", params={"subject_kind": "vehicle", "subject_id": may.v2, "include_ended": True}
    ).json()
    assert [(x["state"], [a["action"] for a in x["audit"]]) for x in old] == [("expired", ["expired"])]
    again = api.get("/api/v1/blacklist", params={"include_ended": True}).json()
    assert [a["action"] for x in again if x["id"] == old_id for a in x["audit"]] == ["expired"]  # once

    # Bad input is refused with a reason.
    past = {**body, "until": (datetime.now(UTC) - timedelta(days=1)).isoformat()}
    assert api.post("/api/v1/blacklist", json=past).json()["error"]["code"] == "invalid_until"
    bad_plate = {**body, "subject_kind": "vehicle", "subject_id": "ABC"}
    assert api.post("/api/v1/blacklist", json=bad_plate).json()["error"]["code"] == "invalid_subject"
    assert api.post("/api/v1/blacklist", json={**body, "subject_kind": "ship"}).status_code == 422
