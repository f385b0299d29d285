"""The registry of carriers, vehicles, personnel and waybills: import-format models and validation.

Pure: no database, no files, no clock. The importer (``hazgate registry import``) reads the file,
calls ``validate_registry`` and writes what it returns.
"""

from __future__ import annotations

from registry.models import (
    Cargo,
    Carrier,
    EnrolmentFlag,
    FlagCode,
    Person,
    PersonRecord,
    RegistryFile,
    Role,
    Tank,
    Vehicle,
    Waybill,
)
from registry.validation import (
    Reference,
    RowError,
    RowFlag,
    Section,
    Severity,
    Validation,
    references_to_resolve,
    resolve_references,
    validate_registry,
    validate_rows,
)

__all__ = [
    "Cargo",
    "Carrier",
    "EnrolmentFlag",
    "FlagCode",
    "Person",
    "PersonRecord",
    "Reference",
    "RegistryFile",
    "Role",
    "RowError",
    "RowFlag",
    "Section",
    "Severity",
    "Tank",
    "Validation",
    "Vehicle",
    "Waybill",
    "references_to_resolve",
    "resolve_references",
    "validate_registry",
    "validate_rows",
]
