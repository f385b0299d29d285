"""Chinese identifiers the registry holds: resident ID numbers, licence plates, UN numbers.

Pure functions: each ``normalize_*`` returns the canonical form of a value or raises
``ValueError`` with a message written for the person fixing the registry file.
"""

from __future__ import annotations

import re
from datetime import date

# GB 11643-1999: weights of the first 17 digits (2^(17-i) mod 11) and the check character
# for each remainder of the weighted sum mod 11 (ISO 7064 MOD 11-2).
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"

# First two digits of the address code (GB/T 2260 provinces). 71 is Taiwan; 81, 82 and 83 are the
# residence permits of Hong Kong, Macao and Taiwan residents, which drivers may hold.
_ID_PROVINCE = re.compile(r"1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5]|71|8[1-3]")

# Nobody alive to drive a tanker was born before this; a birth year below it is a typo.
_ID_MIN_BIRTH_DATE = date(1900, 1, 1)

_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")

# The 31 provincial abbreviations used on civil plates (GA 36-2018).
PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

# Serial characters never use I or O (they read as 1 and 0).
_SERIAL = "A-HJ-NP-Z0-9"
_PLATE_PATTERNS = (
    # Ordinary plate: province, issuing-office letter, 5 serial characters (浙B12345).
    re.compile(rf"[{PLATE_PROVINCES}][A-Z][{_SERIAL}]{{5}}"),
    # New-energy, small vehicle: D (electric) or F (hybrid) first, then 5 (浙BD12345, 浙BF1A234).
    re.compile(rf"[{PLATE_PROVINCES}][A-Z][DF][{_SERIAL}][0-9]{{4}}"),
    # New-energy, large vehicle: 5 digits then D or F (浙B12345D).
    re.compile(rf"[{PLATE_PROVINCES}][A-Z][0-9]{{5}}[DF]"),
    # Trailer: 4 serial characters and 挂 (浙B1234挂).
    re.compile(rf"[{PLATE_PROVINCES}][A-Z][{_SERIAL}]{{4}}挂"),
)
# Separators people and cameras put inside plates: spaces, middle dots, hyphens.
_PLATE_SEPARATORS = re.compile(r"[\s·•・.\-]")

_UN_NUMBER = re.compile(r"UN ?([0-9]{4})")


def id_check_char(first17: str) -> str:
    """The GB 11643-1999 check character (0-9 or X) for the first 17 digits of an ID number."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("an ID number's check character is computed from exactly 17 digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def id_birth_date(id_number: str) -> date:
    """The birth date encoded in digits 7-14 of an 18-character ID number (no other checks)."""
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def normalize_id_number(value: str, *, today: date | None = None) -> str:
    """Canonical 18-character resident ID number (upper-case X), or ``ValueError`` saying why not.

    Checks the shape, the province of the address code, the birth date (a real calendar day,
    not before 1900, and not after ``today`` when given) and the check character.
    """
    text = value.strip().upper()
    if len(text) != 18:
        raise ValueError(f"ID number must have 18 characters, got {len(text)}")
    if not _ID_SHAPE.fullmatch(text):
        raise ValueError("ID number must be 17 digits followed by a digit or X")
    if not _ID_PROVINCE.fullmatch(text[:2]):
        raise ValueError(f"ID number starts with {text[:2]}, which is not a province code")
    try:
        born = id_birth_date(text)
    except ValueError:
        raise ValueError(f"ID number encodes birth date {text[6:14]}, which is not a calendar date") from None
    if born < _ID_MIN_BIRTH_DATE or (today is not None and born > today):
        raise ValueError(f"ID number encodes birth date {born.isoformat()}, which is not plausible")
    expected = id_check_char(text[:17])
    if text[17] != expected:
        raise ValueError(
            f"ID number check character is {text[17]} but should be {expected}: a digit was probably mistyped"
        )
    return text


def canonical_plate(value: str) -> str:
    """A plate as cameras and people write it, reduced to compare: no separators, upper case.

    Does not check the format; use it on plate reads, which may be wrong.
    """
    return _PLATE_SEPARATORS.sub("", value).upper()


def normalize_plate(value: str) -> str:
    """Canonical plate (浙B12345, 浙BD12345, 浙B12345D, 浙B1234挂), or ``ValueError`` saying why not."""
    text = canonical_plate(value)
    if not text:
        raise ValueError("plate is empty")
    if text[0] not in PLATE_PROVINCES:
        raise ValueError(f"plate {text} must start with a province abbreviation such as 浙, 沪 or 苏")
    if not any(pattern.fullmatch(text) for pattern in _PLATE_PATTERNS):
        raise ValueError(
            f"plate {text} is not a Chinese plate: expected province + letter + 5 characters (浙B12345), "
            "a new-energy plate (浙BD12345, 浙B12345D) or a trailer plate (浙B1234挂); I and O are not used"
        )
    return text


def normalize_un_number(value: str) -> str:
    """Canonical UN number (``UN1077``), or ``ValueError`` saying why not. Accepts ``un 1077``."""
    match = _UN_NUMBER.fullmatch(value.strip().upper())
    if match is None:
        raise ValueError(f"UN number {value!r} must be UN followed by 4 digits, like UN1077")
    if match.group(1) == "0000":
        raise ValueError("UN0000 is not a UN number")
    return f"UN{match.group(1)}"
