"""The registries in PostgreSQL: write a validated import, read records for the gate."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass

import psycopg

from registry.models import Carrier, EnrolmentFlag, PersonRecord, RegistryFile, Vehicle, Waybill
from registry.validation import Section


@dataclass(frozen=True, slots=True)
class EnrolledPerson:
    record: PersonRecord
    face_encoding: tuple[float, ...] | None
    flags: tuple[EnrolmentFlag, ...] = ()


@dataclass(frozen=True, slots=True)
class EnrolledPhoto:
    """A person's enrolment photo as imported: the bytes, and its face encoding, or (None) the
    flags saying why it has none."""

    photo: bytes
    encoding: tuple[float, ...] | None
    flags: tuple[EnrolmentFlag, ...] = ()
    engine: str | None = None  # the face engine's fingerprint that made the encoding or the flags


def enrolled_photo(conn: psycopg.Connection, photo: bytes, engine: str) -> EnrolledPhoto | None:
    """``photo`` as an enrolled person already has it (the same bytes, by their SHA-256, analysed
    by this engine), with what the analysis gave: the encoding, or the flags saying why there is
    none. None when no such photo was analysed so."""
    row = conn.execute(
        "SELECT face_encoding, enrolment_flags FROM personnel WHERE photo_sha256 = %s AND face_engine = %s LIMIT 1",
        (hashlib.sha256(photo).digest(), engine),
    ).fetchone()
    if row is None:
        return None
    encoding, flags = row
    return EnrolledPhoto(
        photo,
        None if encoding is None else tuple(encoding),
        tuple(EnrolmentFlag.model_validate(f) for f in flags or []),
        engine,
    )


def _record(model: Carrier | Vehicle | PersonRecord | Waybill) -> str:
    return json.dumps(model.model_dump(mode="json", by_alias=True), ensure_ascii=False)


def existing_keys(conn: psycopg.Connection, wanted: dict[Section, set[str]]) -> dict[Section, Collection[str]]:
    """Which of the wanted keys the database already holds (for references an import makes)."""
    tables = {
        Section.CARRIERS: ("carriers", "id"),
        Section.VEHICLES: ("vehicles", "plate"),
        Section.PERSONNEL: ("personnel", "id_number"),
        Section.WAYBILLS: ("waybills", "waybill_no"),
    }
    found: dict[Section, Collection[str]] = {}
    for section, keys in wanted.items():
        table, column = tables[section]
        rows = conn.execute(
            f"SELECT {column} FROM {table} WHERE {column} = ANY(%s)",  # noqa: S608 - fixed names above
            (list(keys),),
        ).fetchall()
        found[section] = {r[0] for r in rows}
    return found


def write_registry(
    conn: psycopg.Connection, registry: RegistryFile, photos: dict[str, EnrolledPhoto]
) -> dict[str, int]:
    """Upsert every row (in the caller's transaction). photos: by id_number, one per person."""
    for c in registry.carriers:
        conn.execute(
            "INSERT INTO carriers (id, record) VALUES (%s, %s)"
            " ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, updated_at = now()",
            (c.id, _record(c)),
        )
    for v in registry.vehicles:
        conn.execute(
            "INSERT INTO vehicles (plate, carrier_id, record) VALUES (%s, %s, %s)"
            " ON CONFLICT (plate) DO UPDATE SET carrier_id = EXCLUDED.carrier_id, record = EXCLUDED.record,"
            " updated_at = now()",
            (v.plate, v.carrier_id, _record(v)),
        )
    for p in registry.personnel:
        record = PersonRecord.model_validate(p.model_dump(exclude={"photo"}))
        enrolled = photos[p.id_number]
        flags = json.dumps([f.model_dump(mode="json") for f in enrolled.flags], ensure_ascii=False)
        conn.execute(
            "INSERT INTO personnel (id_number, record, photo, face_encoding, enrolment_flags, face_engine)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id_number) DO UPDATE SET record = EXCLUDED.record, photo = EXCLUDED.photo,"
            " face_encoding = EXCLUDED.face_encoding, enrolment_flags = EXCLUDED.enrolment_flags,"
            " face_engine = EXCLUDED.face_engine, updated_at = now()",
            (
                p.id_number,
                _record(record),
                enrolled.photo,
                None if enrolled.encoding is None else list(enrolled.encoding),
                flags,
                enrolled.engine,
            ),
        )
    for w in registry.waybills:
        conn.execute(
            "INSERT INTO waybills (waybill_no, plate, record) VALUES (%s, %s, %s)"
            " ON CONFLICT (waybill_no) DO UPDATE SET plate = EXCLUDED.plate, record = EXCLUDED.record,"
            " updated_at = now()",
            (w.waybill_no, w.plate, _record(w)),
        )
    return {
        "carriers": len(registry.carriers),
        "vehicles": len(registry.vehicles),
        "personnel": len(registry.personnel),
        "waybills": len(registry.waybills),
    }


def vehicle(conn: psycopg.Connection, plate: str) -> tuple[Vehicle, Carrier | None] | None:
    row = conn.execute(
        "SELECT v.record, c.record FROM vehicles v LEFT JOIN carriers c ON c.id = v.carrier_id WHERE v.plate = %s",
        (plate,),
    ).fetchone()
    if row is None:
        return None
    return Vehicle.model_validate(row[0]), Carrier.model_validate(row[1]) if row[1] else None


def person(conn: psycopg.Connection, id_number: str) -> EnrolledPerson | None:
    row = conn.execute(
        "SELECT record, face_encoding, enrolment_flags FROM personnel WHERE id_number = %s", (id_number,)
    ).fetchone()
    if row is None:
        return None
    flags = tuple(EnrolmentFlag.model_validate(f) for f in row[2] or ())
    return EnrolledPerson(PersonRecord.model_validate(row[0]), tuple(row[1]) if row[1] else None, flags)


def waybill(conn: psycopg.Connection, waybill_no: str) -> Waybill | None:
    row = conn.execute("SELECT record FROM waybills WHERE waybill_no = %s", (waybill_no,)).fetchone()
    return Waybill.model_validate(row[0]) if row else None
