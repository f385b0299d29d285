"""The `hazgate` command line. Each reporting command takes --json and prints one object last."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from hazgate.errors import HazgateError
from hazgate.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], dict[str, Any] | None]


def _emit(
    args: argparse.Namespace,
    result: dict[str, Any] | None,
    human: Callable[[dict[str, Any]], str] | None = None,
) -> None:
    if result is None:
        return
    if getattr(args, "json", False):
        print(json.dumps(result, ensure_ascii=False, default=str))  # noqa: T201
    else:
        print(human(result) if human else json.dumps(result, ensure_ascii=False, indent=2, default=str))  # noqa: T201


# -- services -----------------------------------------------------------------------------
def cmd_services(args: argparse.Namespace, settings: Settings) -> dict[str, Any] | None:
    from hazgate.services.local import LocalServices

    services = LocalServices(settings)
    if args.action == "up":
        return services.up()
    if args.action == "down":
        services.down()
        return {"stopped": True}
    return services.status()


def _services_human(result: dict[str, Any]) -> str:
    if "mqtt" not in result:
        return "services stopped"
    m, d = result["mqtt"], result["database"]
    up = {True: "up", False: "DOWN"}
    edition = f"TimescaleDB {d['timescaledb']} ({d['edition']} edition)" if d.get("timescaledb") else "no TimescaleDB"
    return (
        f"mqtt      {up[m['up']]:5} mqtt://{m['host']}:{m['port']}\n"
        f"database  {up[d['up']]:5} {d['url']}  {edition if d['up'] else ''}"
    )


# -- migrate ------------------------------------------------------------------------------
def cmd_migrate(_args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from hazgate.db.migrate import migrate

    applied = migrate(settings.db_url)
    return {"applied": [f"{m.version:04d}_{m.name}" for m in applied]}


# -- devices ------------------------------------------------------------------------------
def cmd_devices(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    import psycopg

    from devices import registry
    from hazgate.services.local import LocalServices, ensure_secrets

    with psycopg.connect(settings.db_url) as conn:
        if args.action == "list":
            return {"devices": [d.model_dump(mode="json") for d in registry.list_devices(conn)]}
        if args.action == "add":
            result: dict[str, Any] = registry.add_device(
                conn, args.site, args.id, args.type, args.gate, args.plate, args.jt808_phone, args.zone
            ).model_dump(exclude_none=True)
        else:
            registry.set_enabled(conn, args.id, args.action == "enable")
            result = {"device_id": args.id, "enabled": args.action == "enable"}
    # Committed: now the broker learns the new credentials and ACL (SIGHUP reload).
    services = LocalServices(settings)
    services.broker.write_auth(services.broker_accounts(ensure_secrets(settings.state_dir)))
    return result


# -- faces --------------------------------------------------------------------------------
def cmd_faces(args: argparse.Namespace, settings: Settings) -> None:
    """The faces CLI prints its own JSON (contract) and sets the exit code itself."""
    code = args.func(args, settings.faces)
    if code:
        raise SystemExit(code)


# -- registry -----------------------------------------------------------------------------
def cmd_registry(args: argparse.Namespace, settings: Settings) -> dict[str, Any] | None:
    """Exit status: 0 everything imported (flags included), 2 imported but some rows refused,
    1 nothing imported (``--strict`` with a refused row, or an unreadable file)."""
    from pathlib import Path

    from registry.importer import ImportRefused, import_file

    try:
        report = import_file(settings.db_url, Path(args.file), settings.faces, strict=args.strict)
    except ImportRefused as exc:
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)  # noqa: T201
        if args.json:
            print(  # noqa: T201
                json.dumps(
                    {
                        "error": "import_refused",
                        "message": exc.message,
                        "problems": [p.model_dump(mode="json") for p in exc.problems],
                    },
                    ensure_ascii=False,
                )
            )
            raise SystemExit(1) from exc
        raise
    result = report.to_json()
    if report.refused:
        _emit(args, result, lambda _r: report.human())
        raise SystemExit(2)
    args.human = lambda _r: report.human()
    return result


# -- rules --------------------------------------------------------------------------------
def cmd_rules(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    import psycopg
    from pydantic import ValidationError

    from hazgate.rules import install_default_rules

    try:
        with psycopg.connect(settings.db_url) as conn:
            report = install_default_rules(conn, args.site, created_by=f"cli:{getpass.getuser()}")
    except ValidationError as exc:
        raise HazgateError(
            f"the default rules cannot be installed for site {args.site!r}: {exc.errors()[0]['msg']}",
            hint="a site is letters, digits, '_', '.', '-' (up to 64), as in the devices' MQTT topics",
        ) from exc
    args.human = lambda _r: report.human()
    return report.model_dump(mode="json")


# -- substances and the monthly report (issue 13) ------------------------------------------
def cmd_substances(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from pathlib import Path

    from emergency.park import CatalogueImportRefused, import_catalogue

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HazgateError(f"cannot read {path}: {exc}", hint="pass a UTF-8 CSV file (see docs/response.md)") from exc
    try:
        return import_catalogue(settings.db_url, text, f"cli:{getpass.getuser()}")
    except CatalogueImportRefused as exc:
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)  # noqa: T201
        if args.json:
            problems = [p.model_dump() for p in exc.problems]
            refused = {"error": "import_refused", "message": exc.message, "problems": problems}
            print(json.dumps(refused, ensure_ascii=False))  # noqa: T201
            raise SystemExit(1) from exc
        raise


def cmd_report(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from datetime import datetime
    from pathlib import Path

    import psycopg

    from risk.figures import monthly_figures
    from risk.pdf import find_font, render_pdf
    from risk.records import month_records, month_window

    cfg = settings.for_site(args.site)
    month_window(args.month, cfg.tz)  # a bad month fails before any work
    find_font()  # so does a missing font, saying what to install
    with psycopg.connect(settings.db_url) as conn:
        figures = monthly_figures(month_records(conn, args.site, args.month, cfg.tz), cfg.index)
    out = Path(args.out)
    pages = render_pdf(figures, out, datetime.now(cfg.tz))
    return {"out": str(out), "pages": pages, "bytes": out.stat().st_size, "figures": figures.model_dump(mode="json")}


# -- park ---------------------------------------------------------------------------------
def cmd_park(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from pathlib import Path

    from park.errors import LayoutRefused
    from park.store import import_file

    try:
        return import_file(settings.db_url, Path(args.file), imported_by=f"cli:{getpass.getuser()}")
    except LayoutRefused as exc:
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)  # noqa: T201
        if args.json:
            problems = [p.as_dict() for p in exc.problems]
            body = {"error": "layout_refused", "message": exc.message, "hint": exc.hint, "problems": problems}
            print(json.dumps(body, ensure_ascii=False))  # noqa: T201
            raise SystemExit(1) from exc
        raise


def _park_human(result: dict[str, Any]) -> str:
    lines = []
    for s in result["sites"]:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(s["by_kind"].items()))
        state = "unchanged, still" if s["unchanged"] else "imported as"
        lines.append(f"site {s['site']}: {state} version {s['version']} ({s['zones']} zones: {kinds})")
    lines.extend(f"  warning: feature {w['feature']} ({w['zone_id']}): {w['message']}" for w in result["warnings"])
    return "\n".join(lines)


# -- users --------------------------------------------------------------------------------
def cmd_users(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    import psycopg

    from api.audit import record_sync
    from api.auth import add_user

    password = _read_password() if args.password else None
    actor = f"cli:{getpass.getuser()}"
    with psycopg.connect(settings.db_url) as conn:
        created = add_user(conn, args.name, args.role, args.site, args.gate, password=password, created_by=actor)
        detail = {"name": args.name, "role": args.role, "site": args.site, "gate_id": args.gate}
        record_sync(conn, actor, "cli", "user_created", f"user:{created['id']}", detail)
        return created


def _read_password() -> str:
    """From the terminal (asked twice), or one line of standard input for scripts."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password for the pages: ")
    if getpass.getpass("again: ") != first:
        raise HazgateError("the two passwords differ", hint="run the command again")
    return first


# -- serve --------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    from hazgate.roles import WITH_API

    if args.role not in WITH_API:
        _serve_background(settings, args.role)
        return
    import uvicorn

    from api.app import create_app

    app = create_app(settings, role=args.role)
    server = uvicorn.Server(
        uvicorn.Config(app, host=settings.api.host, port=settings.api_port, log_level=settings.log_level.lower())
    )
    app.state.stop_server = lambda: setattr(server, "should_exit", True)
    server.run()
    gateway = app.state.gateway
    if gateway is not None and gateway.mqtt.fatal_error:
        raise HazgateError(gateway.mqtt.fatal_error)


def _serve_background(settings: Settings, role: str) -> None:
    """A process without the API (hazgate/roles.py): gateway, worker, evaluator or jt808. Any number
    may run: gateways share the broker's subscription, evaluators split the alert partitions, JT/T
    808 listeners sit behind a TCP load balancer."""
    import signal
    import threading

    from hazgate.roles import build_process

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    process = build_process(settings, role)
    process.start()
    gateway = process.gateway
    if process.jt808 is not None:
        logging.getLogger("hazgate").info("JT/T 808 listener on %s:%d", settings.jt808.host, process.jt808.port)
    if gateway is not None and not gateway.mqtt.wait_connected(30) and not gateway.mqtt.fatal.is_set():
        logging.getLogger("hazgate").error("gateway not connected to the broker yet: %s", gateway.mqtt.last_error)
    # Until asked to stop, or until the gateway must (its client id taken, an untrusted broker).
    while not stop.wait(0.5) and not (gateway is not None and gateway.mqtt.fatal.is_set()):
        pass
    process.stop()
    if gateway is not None and gateway.mqtt.fatal_error:
        raise HazgateError(gateway.mqtt.fatal_error)


# -- simulate -----------------------------------------------------------------------------
def cmd_simulate(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    import json as json_
    import os
    from datetime import UTC, datetime
    from pathlib import Path

    from hazgate.simulate.park import build_park, registry_document
    from hazgate.simulate.runner import (
        Simulator,
        assign_photos,
        default_faces_dir,
        ensure_devices,
        ensure_jt808,
        say,
    )

    park = build_park(args.seed, gates=args.gates, tankers=args.tankers, site=args.site)
    faces_dir = Path(args.faces_dir) if args.faces_dir else default_faces_dir()
    photos = assign_photos(park, faces_dir)
    if args.write_registry:
        out = Path(args.write_registry)
        # Photo paths in the file are relative to the file, as the import format says.
        rel = {
            k: (os.path.relpath(a, out.parent), os.path.relpath(b, out.parent)) for k, (a, b) in photos.people.items()
        }
        doc = registry_document(park, datetime.now(UTC), rel)
        out.write_text(json_.dumps(doc, ensure_ascii=False, indent=2))
        say(f"wrote the park's registry to {out}")
        if args.registry_only:
            return {"registry": str(out), "vehicles": len(park.tankers)}
    say(f"park {park.site}: {len(park.gates)} gates, {len(park.tankers)} tankers, {len(park.detectors)} gas detectors")
    stays = None
    if args.stays:
        from hazgate.simulate.stays import StayRunner

        stays = StayRunner.for_park(settings, park)
    passwords = ensure_devices(settings, park, stays.devices if stays else None)
    phones = ensure_jt808(settings, park, min(args.jt808, len(park.tankers))) if args.jt808 else {}
    if phones:
        say(f"{len(phones)} GPS trackers speak JT/T 808 to {settings.jt808.host}:{settings.jt808.port}")
    sim = Simulator(
        settings,
        park,
        passwords,
        interval_s=args.interval_s,
        arrival_every_s=args.arrival_every_s,
        photos=photos,
        jt808_phones=phones,
    )
    if stays is not None:
        stays.attach(sim)
    try:
        return sim.run(args.duration_s)
    except KeyboardInterrupt:
        sim.stop.set()
        return {"readings": sim.sent, "arrivals": sim.arrivals, "interrupted": True}


# -- bench --------------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from hazgate.bench.common import bench_database, bench_services

    if args.what == "jt808":  # TCP only: no broker involved, a database of its own
        from hazgate.bench.jt808 import run_jt808_bench

        with bench_database(settings) as bench_settings:
            return run_jt808_bench(
                bench_settings, terminals=args.terminals, seconds=args.seconds or 10.0, window=args.window
            )

    with bench_services(settings) as bench_settings:
        return _bench(args, bench_settings)


def _bench(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    if args.what == "ingest":
        from hazgate.bench.ingest import run_ingest_bench

        return run_ingest_bench(
            settings,
            devices=args.devices,
            seconds=args.seconds or 10.0,
            per_message=args.readings_per_message,
            publishers=args.publishers,
            latency_rate=args.latency_rate,
        )
    if args.what == "gate":
        from pathlib import Path

        from hazgate.bench.gate import run_gate_bench
        from hazgate.simulate.photos import default_faces_dir

        faces_dir = Path(args.faces_dir) if args.faces_dir else default_faces_dir()
        return run_gate_bench(
            settings,
            arrivals=args.arrivals,
            gates=args.gates,
            faces_dir=faces_dir,
            gap_s=args.event_gap_s,
            face_last=args.face_last,
        )
    if args.what == "alerts":
        from hazgate.bench.alerts import run_alerts_bench

        return run_alerts_bench(
            settings,
            background_rate=args.background_rate,
            alerts=args.alerts,
            devices=args.devices,
            evaluators=[int(n) for n in args.evaluators.split(",") if n.strip()],
            rules=args.rules,
        )
    if args.what == "positions":
        from hazgate.bench.positions import run_positions_bench

        return run_positions_bench(
            settings, trackers=args.trackers, seconds=args.seconds or 30.0, breaches=args.breaches
        )
    if args.what == "broker-crash":
        from hazgate.bench.broker_crash import run_broker_crash_bench

        return run_broker_crash_bench(
            settings,
            rate=args.rate,
            seconds=args.seconds or 10.0,
            crash_at_s=args.crash_at_s,
            down_s=args.down_s,
            clean_stop=args.clean_stop,
        )
    raise HazgateError(f"no benchmark {args.what!r} yet")


# -- run ----------------------------------------------------------------------------------
def cmd_run(_args: argparse.Namespace, settings: Settings) -> None:
    from hazgate.run import run

    code = run(settings)
    if code:
        raise SystemExit(code)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hazgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="what `make run` does: services, schema, a demo park, service and simulator")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("services", help="local Mosquitto + TimescaleDB on loopback")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_services, human=_services_human)

    p = sub.add_parser("migrate", help="apply schema migrations (idempotent)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(
        handler=cmd_migrate, human=lambda r: "applied: " + (", ".join(r["applied"]) or "nothing, up to date")
    )

    p = sub.add_parser("devices", help="the device registry")
    dsub = p.add_subparsers(dest="action", required=True)
    a = dsub.add_parser("add", help="register a device; prints its MQTT credentials")
    a.add_argument("--site", required=True)
    a.add_argument("--id", required=True)
    a.add_argument("--type", required=True)
    a.add_argument("--gate")
    a.add_argument("--plate", help="the vehicle a tank sensor or GPS tracker is mounted on")
    a.add_argument(
        "--zone", metavar="ZONE_ID", help="the park layout zone a fixed device (a gas detector) is installed in"
    )
    a.add_argument(
        "--jt808-phone", metavar="PHONE", help="a gps_tracker that is a JT/T 808 terminal: its phone (SIM number)"
    )
    a.add_argument("--json", action="store_true")
    for action in ("disable", "enable"):
        d = dsub.add_parser(action)
        d.add_argument("--id", required=True)
        d.add_argument("--json", action="store_true")
    lst = dsub.add_parser("list")
    lst.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_devices)

    from gateway.faces.cli import add_faces_parser

    faces = add_faces_parser(sub)
    faces.set_defaults(handler=cmd_faces)

    p = sub.add_parser("registry", help="carriers, vehicles, tanks, personnel, waybills")
    rsub = p.add_subparsers(dest="action", required=True)
    a = rsub.add_parser(
        "import", help="import a registry file: sound rows are imported, malformed ones refused with their reason"
    )
    a.add_argument("file")
    a.add_argument("--strict", action="store_true", help="one refused row refuses the whole file (nothing imported)")
    a.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_registry)

    p = sub.add_parser("substances", help="the park's substance catalogue (over the shipped ERG 2016 tables)")
    ssub = p.add_subparsers(dest="action", required=True)
    a = ssub.add_parser("import", help="add or override substances from a CSV (all rows valid, or nothing)")
    a.add_argument("file")
    a.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_substances)

    p = sub.add_parser("report", help="reports for the park's safety office")
    rsub = p.add_subparsers(dest="action", required=True)
    a = rsub.add_parser("monthly", help="the month's gate, alert and risk-index figures as a PDF with charts")
    a.add_argument("--site", required=True)
    a.add_argument("--month", required=True, help="YYYY-MM, in the park's time zone")
    a.add_argument("--out", required=True, help="the PDF file to write")
    a.add_argument("--json", action="store_true")
    p.set_defaults(
        handler=cmd_report,
        human=lambda r: f"wrote {r['out']} ({r['pages']} pages, {r['bytes']} bytes)",
    )

    p = sub.add_parser("rules", help="alert rules")
    rsub = p.add_subparsers(dest="action", required=True)
    a = rsub.add_parser("install-defaults", help="install the default rule set for a site (idempotent)")
    a.add_argument("--site", required=True)
    a.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_rules)

    p = sub.add_parser("park", help="the park's layout: zones, roads, gates (GeoJSON)")
    psub = p.add_subparsers(dest="action", required=True)
    a = psub.add_parser("import", help="import a GeoJSON layout; each site in it gets a new version")
    a.add_argument("file")
    a.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_park, human=_park_human)

    from stays.cli import add_stay_parsers

    add_stay_parsers(sub)

    p = sub.add_parser("users", help="API users and their keys")
    usub = p.add_subparsers(dest="action", required=True)
    a = usub.add_parser("add", help="create a user; prints its API key once")
    a.add_argument("--name", required=True)
    a.add_argument("--role", required=True, choices=["admin", "officer", "kiosk", "subscriber"])
    a.add_argument("--site", help="kiosk users: the site of their gate")
    a.add_argument("--gate", help="kiosk users: their gate")
    a.add_argument(
        "--password", action="store_true", help="also let them log in to the pages (asked, or read from stdin)"
    )
    a.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_users)

    p = sub.add_parser("simulate", help="realistic, seeded park traffic: telemetry and gate arrivals")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--site", default="park1")
    p.add_argument("--gates", type=int, default=2)
    p.add_argument("--tankers", type=int, default=6)
    p.add_argument("--interval-s", type=float, default=1.0, help="seconds between readings of each device")
    p.add_argument("--arrival-every-s", type=float, default=30.0, help="mean seconds between gate arrivals")
    p.add_argument("--duration-s", type=float, help="stop after this long (default: until Ctrl-C)")
    p.add_argument("--faces-dir", help="photos for ID cards and faces (default: the photos shipped with hazgate)")
    p.add_argument("--write-registry", metavar="FILE", help="write the park's registry import file")
    p.add_argument("--registry-only", action="store_true", help="with --write-registry: write it and stop")
    p.add_argument(
        "--jt808",
        type=int,
        default=0,
        metavar="N",
        help="the GPS trackers of N tankers speak JT/T 808 over TCP (HAZGATE_JT808__PORT) instead of MQTT",
    )
    p.add_argument(
        "--stays",
        action="store_true",
        help="whole stays instead of lone gate arrivals: book, queue, enter, drive, fill, leave by the exit gate",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_simulate)

    p = sub.add_parser("bench", help="benchmarks that print figures and the ceiling of the same run")
    p.add_argument("what", choices=["ingest", "gate", "alerts", "jt808", "positions", "broker-crash"])
    p.add_argument("--devices", type=int, default=50)
    p.add_argument("--seconds", type=float, help="length of the measured load (ingest and jt808 10, positions 30)")
    p.add_argument("--readings-per-message", type=int, default=10)
    p.add_argument("--publishers", type=int, default=1)
    p.add_argument("--latency-rate", type=float, default=5000.0, help="paced readings/s in the latency phase")
    p.add_argument("--arrivals", type=int, default=30, help="gate: arrivals to drive")
    p.add_argument("--gates", type=int, default=2, help="gate: gates working at once")
    p.add_argument("--event-gap-s", type=float, default=1.0, help="gate: seconds between an arrival's events")
    p.add_argument("--faces-dir", help="gate: photos (default: the photos shipped with hazgate)")
    p.add_argument("--face-last", action="store_true", help="gate: the escort's live face is the last input")
    p.add_argument("--background-rate", type=float, default=2000.0, help="alerts: background readings/s")
    p.add_argument("--alerts", type=int, default=200, help="alerts: threshold-breaking readings to publish")
    p.add_argument("--terminals", type=int, default=100, help="jt808: terminals reporting every second")
    p.add_argument("--window", type=int, default=4, help="jt808: reports in flight per terminal at full load")
    p.add_argument("--trackers", type=int, default=300, help="positions: GPS trackers reporting every second")
    p.add_argument("--breaches", type=int, default=100, help="positions: speeding readings to publish")
    p.add_argument("--rate", type=float, default=300.0, help="broker-crash: the device's readings/s")
    p.add_argument("--crash-at-s", type=float, default=5.0, help="broker-crash: when the broker is killed")
    p.add_argument("--down-s", type=float, default=3.0, help="broker-crash: how long it stays down")
    p.add_argument("--clean-stop", action="store_true", help="broker-crash: stop it cleanly instead of SIGKILL")
    p.add_argument("--rules", type=int, default=24, help="alerts: rules every reading is evaluated against")
    p.add_argument(
        "--evaluators",
        default="1,2",
        help="alerts: evaluator process counts to compare (highest rate with p99 < 1 s; p99 where one is the limit)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_bench)

    p = sub.add_parser("serve", help="run the service")
    p.add_argument(
        "--role",
        default="all",
        choices=["all", "api", "gateway", "worker", "evaluator", "jt808"],
        help="all: API + gateway + alerting; worker: gateway + alerting; gateway: ingest only;"
        " evaluator: alerting only (evaluation + delivery); jt808: the JT/T 808 terminal listener only;"
        " api: the API only",
    )
    p.set_defaults(handler=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        result = args.handler(args, settings)
    except HazgateError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": type(exc).__name__, "message": exc.message, "hint": exc.hint}))  # noqa: T201
        print(f"hazgate: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    except KeyboardInterrupt:
        return 130
    _emit(args, result, getattr(args, "human", None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
