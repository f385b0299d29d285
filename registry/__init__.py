"""The registry of carriers, vehicles, personnel and waybills: import-format models and validation.

Pure: no database, no files, no clock. The importer (``hazgate registry import``) reads the file,
calls ``validate_registry`` and writes what it returns.
"""

from __future__ import annotations

from registry.models import Cargo, Carrier, Person, PersonRecord, RegistryFile, Role, Tank, Vehicle, Waybill
from registry.validation import (
    Reference,
    RowError,
    Section,
    Severity,
    references_to_resolve,
    resolve_references,
    validate_registry,
)

__all__ = [
    "Cargo",
    "Carrier",
    "Person",
    "PersonRecord",
    "Reference",
    "RegistryFile",
    "Role",
    "RowError",
    "Section",
    "Severity",
    "Tank",
    "Vehicle",
    "Waybill",
    "references_to_resolve",
    "resolve_references",
    "validate_registry",
]
