"""Officer actions reach the gate from any role: an override's barrier command, from an API process.

Issue 10: the override published through the in-process gateway; under `--role api` there is
none, and the barrier command silently never went out.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import psycopg
import pytest

from api.auth import add_user
from hazgate.settings import Settings
from tests.fixtures.gate import Kiosk
from tests.fixtures.services import RunningApp, free_port, make_settings


@pytest.fixture(scope="module")
def officer(settings: Settings) -> dict[str, str]:
    with psycopg.connect(settings.db_url) as conn:
        key = add_user(conn, f"officer-{uuid.uuid4().hex[:6]}", "officer")["api_key"]
    return {"Authorization": f"Bearer {key}"}


def held_at_the_gate(db: psycopg.Connection, site: str, gate: str) -> str:
    """An inspection the gate decided `fail` (the barrier stayed down)."""
    inspection_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    db.execute(
        "INSERT INTO inspections (id, site, gate_id, plate, opened_at, updated_at, decided_at, result, checks,"
        " missing, inputs) VALUES (%s, %s, %s, '浙B12345', %s, %s, %s, 'fail', '[]', '[]', '{}')",
        (inspection_id, site, gate, now, now, now),
    )
    return inspection_id


def override(base_url: str, headers: dict[str, str], inspection_id: str, result: str) -> httpx.Response:
    reason = "papers checked by hand at the gate office"
    return httpx.post(
        f"{base_url}/api/v1/inspections/{inspection_id}/override",
        json={"result": result, "reason": reason},
        headers=headers,
        timeout=30,
    )


def test_an_override_from_an_api_only_process_opens_the_barrier(
    app_server: RunningApp, settings: Settings, db: psycopg.Connection, officer: dict[str, str]
) -> None:
    # app_server is create_app(settings): the API alone, as `hazgate serve --role api` runs it.
    site, gate = f"site{uuid.uuid4().hex[:6]}", "G1"
    inspection_id = held_at_the_gate(db, site, gate)
    kiosk = Kiosk(settings, site, gate)  # the barrier controller listens on the gate's topics
    try:
        answer = override(app_server.base_url, officer, inspection_id, "pass")
        assert answer.status_code == 200, answer.text
        assert answer.json()["effective_result"] == "pass"
        command = kiosk.last_barrier(inspection_id)
    finally:
        kiosk.close()
    assert command["command"] == "open" and command["override_by"].startswith("officer-")


def test_with_the_broker_down_an_override_is_refused_saying_so_and_nothing_changes(
    settings: Settings, db: psycopg.Connection, officer: dict[str, str]
) -> None:
    broker_down = make_settings(database_url=settings.db_url, mqtt_url=f"mqtt://127.0.0.1:{free_port()}")
    site, gate = f"site{uuid.uuid4().hex[:6]}", "G1"
    inspection_id = held_at_the_gate(db, site, gate)
    with RunningApp(broker_down) as app:
        answer = override(app.base_url, officer, inspection_id, "pass")
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "barrier_unreachable"
    assert "barrier command (open) cannot be sent" in error["message"]
    assert "not reachable" in error["message"] and "Nothing is recorded" in error["message"]
    row = db.execute("SELECT override_result FROM inspections WHERE id = %s", (inspection_id,)).fetchone()
    assert row == (None,), "an override whose command did not go out is not on record"
    audit = db.execute("SELECT count(*) FROM inspection_audit WHERE inspection_id = %s", (inspection_id,)).fetchone()
    assert audit == (0,)
