"""`hazgate run` (what `make run` calls): services, schema, a demo park, the service and the simulator.

Everything is idempotent: a second run reuses the services, the registry and the demo users
it made the first time, and takes seconds. Ctrl-C stops the service and the simulator (the
database and broker keep running; `hazgate services down` stops them).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from hazgate.db.migrate import migrate
from hazgate.errors import HazgateError
from hazgate.services.local import LocalServices
from hazgate.settings import Settings
from hazgate.simulate.demo_layout import ensure_demo_layout
from hazgate.simulate.park import Park, build_park, registry_document
from hazgate.simulate.runner import assign_photos, default_faces_dir

DEMO_SEED = 1
DEMO_SITE = "park1"
DEMO_GATES = 2
DEMO_TANKERS = 6  # sound ones; the park adds a tanker per registry trouble (see simulate/park.py)
# Demo waybills are valid for a week; the registry is refreshed when fewer than 2 days remain.
WAYBILL_DAYS = 7
REFRESH_BEFORE = timedelta(days=2)
# The demo registry as last imported. The version in the name changes when the demo park does
# (v2: photos shipped with hazgate, tankers with a defect), so an older demo is re-imported.
REGISTRY_FILE = "registry-v2.json"


def say(text: str) -> None:
    print(f"[run] {text}", flush=True)  # noqa: T201


def demo_park() -> Park:
    return build_park(DEMO_SEED, gates=DEMO_GATES, tankers=DEMO_TANKERS, site=DEMO_SITE)


def ensure_registry(settings: Settings, park: Park, demo_dir: Path) -> None:
    from registry.importer import import_file

    marker = demo_dir / REGISTRY_FILE
    if marker.exists():
        valid_to = datetime.fromisoformat(json.loads(marker.read_text())["waybills"][0]["valid_to"])
        if valid_to - datetime.now(UTC) > REFRESH_BEFORE:
            return
    photos = assign_photos(park, default_faces_dir())
    rel = {k: (os.path.relpath(a, demo_dir), os.path.relpath(b, demo_dir)) for k, (a, b) in photos.people.items()}
    doc = registry_document(park, datetime.now(UTC), rel)
    for waybill in doc["waybills"]:
        waybill["valid_to"] = (datetime.now(UTC) + timedelta(days=WAYBILL_DAYS)).isoformat()
    demo_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(doc, ensure_ascii=False, indent=2))
    say(f"importing the demo park's registry ({len(park.tankers)} tankers, their crews and waybills)")
    report = import_file(settings.db_url, marker, settings.faces, strict=True)
    say(f"  imported {report.summary()}")


def ensure_rules(settings: Settings, site: str) -> None:
    """The default rule set (docs/alerts.md), installed once: a rule an officer deleted stays deleted."""
    from hazgate.rules import install_default_rules

    with psycopg.connect(settings.db_url) as conn:
        report = install_default_rules(conn, site, created_by="make run")
    say(f"alert rules: {report.summary()}")


def ensure_substances(settings: Settings, site: str) -> None:
    """The starter park catalogue (Chinese names, guides ERG's table does not map), and what the
    demo park's zones store (where its gas detectors stand), once."""
    from importlib import resources

    import psycopg

    from emergency.park import import_catalogue

    with psycopg.connect(settings.db_url) as conn:
        row = conn.execute("SELECT count(*) FROM park_substances").fetchone()
        stored = conn.execute("SELECT count(*) FROM zone_substances WHERE site = %s", (site,)).fetchone()
    if not (row and row[0]):
        text = resources.files("hazgate.data").joinpath("hazmat", "park_catalogue_example.csv").read_text("utf-8")
        result = import_catalogue(settings.db_url, text, "hazgate run")
        say(f"park substance catalogue: {len(result['un'])} starter entries (hazgate substances import to change)")
    if not (stored and stored[0]):
        zones = (
            "un,name_zh,name_en,class,erg_guide,site,zones,max_quantity_kg,notes\n"
            f"UN1077,丙烯,Propylene,2.1,,{site},tank-farm;process-unit,2000000,球罐区与丙烯装置\n"
            f"UN1017,液氯,Chlorine,2.3,,{site},warehouse,30000,钢瓶库\n"
        )
        import_catalogue(settings.db_url, zones, "hazgate run")
        say(f"demo park {site}: the tank farm and process unit store propylene, the warehouse chlorine")


def ensure_users(settings: Settings, park: Park, demo_dir: Path) -> dict[str, Any]:
    """A demo officer (password login) and a kiosk user per gate, made once and kept (mode 600)."""
    from api.auth import add_user

    path = demo_dir / "users.json"
    if path.exists():
        known: dict[str, Any] = json.loads(path.read_text())
        with psycopg.connect(settings.db_url) as conn:
            present = {r[0] for r in conn.execute("SELECT name FROM users WHERE name = ANY(%s)", (list(known),))}
        if present == set(known):
            return known
    users: dict[str, Any] = {}
    with psycopg.connect(settings.db_url) as conn:
        conn.execute("DELETE FROM users WHERE name LIKE 'demo-%%'")
        password = secrets.token_urlsafe(9)
        officer = add_user(conn, "demo-officer", "officer", password=password, created_by="make run")
        users["demo-officer"] = {"password": password, "api_key": officer["api_key"], "role": "officer"}
        for gate in park.gates:
            kiosk_password = secrets.token_urlsafe(9)
            kiosk = add_user(
                conn, f"demo-kiosk-{gate}", "kiosk", park.site, gate, password=kiosk_password, created_by="make run"
            )
            users[f"demo-kiosk-{gate}"] = {"password": kiosk_password, "api_key": kiosk["api_key"], "role": "kiosk"}
    demo_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(users, indent=2))
    path.chmod(0o600)
    return users


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HazgateError("the service stopped while starting", hint="see its output above")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise HazgateError(
        f"the service did not become healthy at {url} within {timeout_s:.0f} s",
        hint="see its output above; `hazgate services status` shows the database and broker",
    )


def run(settings: Settings) -> int:
    started = time.monotonic()
    say("starting Mosquitto and TimescaleDB")
    status = LocalServices(settings).up()
    say(f"  database: TimescaleDB {status['database']['timescaledb']} ({status['database']['edition']} edition)")
    applied = migrate(settings.db_url)
    say(f"schema: {len(applied)} migration(s) applied" if applied else "schema: up to date")
    park = demo_park()
    demo_dir = settings.state_dir / "demo"
    ensure_registry(settings, park, demo_dir)
    ensure_substances(settings, park.site)
    ensure_rules(settings, park.site)
    say(ensure_demo_layout(settings.db_url, park.site))
    users = ensure_users(settings, park, demo_dir)
    cmd = [sys.executable, "-m", "hazgate.cli"]
    service = subprocess.Popen([*cmd, "serve"])
    simulator: subprocess.Popen[bytes] | None = None
    base = f"http://127.0.0.1:{settings.api_port}"
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        _wait_healthy(f"{base}/healthz", service)
        simulator = subprocess.Popen(
            [
                *cmd,
                "simulate",
                "--seed",
                str(DEMO_SEED),
                "--site",
                DEMO_SITE,
                "--gates",
                str(DEMO_GATES),
                "--tankers",
                str(DEMO_TANKERS),
                "--stays",  # whole stays: booking, waiting lot, entry, roads, filling bay, exit weigh-out
                "--jt808",  # two tankers' trackers are vehicle terminals speaking JT/T 808 over TCP
                "2",
            ]
        )
        officer = users["demo-officer"]
        say(f"ready in {time.monotonic() - started:.0f} s")
        say(f"dashboard:  {base}/   (log in as demo-officer / {officer['password']})")
        for gate in park.gates:
            kiosk = users[f"demo-kiosk-{gate}"]
            say(f"kiosk:      {base}/kiosk/{park.site}/{gate}   (demo-kiosk-{gate} / {kiosk['password']})")
        say(f"API:        {base}/docs   (Authorization: Bearer {officer['api_key']})")
        say("Ctrl-C stops the service and the simulator")
        while not stop["now"] and service.poll() is None and simulator.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for proc in (simulator, service):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in (simulator, service):
            if proc is not None:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        say("stopped (the database and broker keep running: `hazgate services down` stops them)")
    return 0
