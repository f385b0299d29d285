"""The stay's commands: `hazgate gates set|list`, `hazgate sites set`, `hazgate lots set|list`."""

from __future__ import annotations

import argparse
import re
from typing import Any

import psycopg

from hazgate.errors import HazgateError
from hazgate.settings import Settings
from stays import store

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class StayCliError(HazgateError):
    pass


def _name(label: str, value: str) -> str:
    if not NAME_RE.match(value):
        raise StayCliError(
            f"{label} {value!r} is not a valid name",
            hint="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return value


def cmd_gates(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    with psycopg.connect(settings.db_url) as conn:
        if args.action == "set":
            store.set_gate(conn, _name("site", args.site), _name("gate", args.gate), args.direction)
            return {"site": args.site, "gate_id": args.gate, "direction": args.direction}
        return {"gates": [{**g, "updated_at": g["updated_at"].isoformat()} for g in store.gates(conn, args.site)]}


def cmd_sites(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    required = args.bookings_required == "yes"
    with psycopg.connect(settings.db_url) as conn:
        store.set_site(conn, _name("site", args.site), required)
    return {"site": args.site, "bookings_required": required}


def cmd_lots(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    with psycopg.connect(settings.db_url) as conn:
        if args.action == "set":
            if args.capacity < 1:
                raise StayCliError("a lot holds at least one tanker", hint="pass --capacity 1 or more")
            store.set_lot(conn, _name("site", args.site), _name("lot", args.lot), args.capacity)
            return {"site": args.site, "lot_id": args.lot, "capacity": args.capacity}
        return {"lots": [lot.model_dump() for lot in store.lots(conn, args.site)]}


def add_stay_parsers(sub: Any) -> None:
    """Add the stay's commands to the `hazgate` parser's subcommands."""
    p = sub.add_parser("gates", help="gates and their direction (entry, exit or both)")
    gsub = p.add_subparsers(dest="action", required=True)
    a = gsub.add_parser("set", help="set a gate's direction (a gate never set is an entry gate)")
    a.add_argument("--site", required=True)
    a.add_argument("--gate", required=True)
    a.add_argument("--direction", choices=["entry", "exit", "both"], default="entry")
    a.add_argument("--json", action="store_true")
    a = gsub.add_parser("list")
    a.add_argument("--site")
    a.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_gates)

    p = sub.add_parser("sites", help="a site's rules of the stay")
    ssub = p.add_subparsers(dest="action", required=True)
    a = ssub.add_parser("set", help="whether entry needs an approved booking")
    a.add_argument("--site", required=True)
    a.add_argument("--bookings-required", choices=["yes", "no"], required=True)
    a.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_sites)

    p = sub.add_parser("lots", help="the hazmat waiting lots (their plate cameras: `devices add --gate LOT`)")
    lsub = p.add_subparsers(dest="action", required=True)
    a = lsub.add_parser("set", help="add a waiting lot or change its capacity")
    a.add_argument("--site", required=True)
    a.add_argument("--lot", required=True)
    a.add_argument("--capacity", type=int, required=True)
    a.add_argument("--json", action="store_true")
    a = lsub.add_parser("list")
    a.add_argument("--site")
    a.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_lots)
