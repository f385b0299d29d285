"""The blacklist: a listed vehicle, person or carrier fails a booking and the entry gate, with
``blacklisted`` saying until when and why. A listing whose ``until`` has passed no longer counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import JsonValue

from checks.common import Findings, mask_id
from checks.policy import DEFAULT_POLICY, CheckPolicy
from checks.reasons import ReasonCode
from checks.result import CheckCode, CheckResult, CheckStatus
from checks.stay_facts import Listing, SubjectKind, Subjects

SUBJECT_NAMES = {
    SubjectKind.VEHICLE: ("车辆", "vehicle"),
    SubjectKind.PERSON: ("人员", "person"),
    SubjectKind.CARRIER: ("承运企业", "carrier"),
}


def in_force(listing: Listing, now: datetime) -> bool:
    return listing.until is None or listing.until > now


def check(
    subjects: Subjects, listings: Iterable[Listing], now: datetime, policy: CheckPolicy = DEFAULT_POLICY
) -> CheckResult:
    policy.local_date(now)  # refuses a naive `now`
    found = Findings(CheckCode.BLACKLIST)
    named = subjects.names()
    hits: list[JsonValue] = []
    for listing in sorted(listings, key=lambda item: (item.subject_kind.value, item.subject_id, item.id)):
        if (listing.subject_kind, listing.subject_id) not in named or not in_force(listing, now):
            continue
        zh, en = SUBJECT_NAMES[listing.subject_kind]
        shown = mask_id(listing.subject_id) if listing.subject_kind is SubjectKind.PERSON else listing.subject_id
        until = None if listing.until is None else policy.local_time(listing.until)
        found.add(
            ReasonCode.BLACKLISTED,
            CheckStatus.FAIL,
            subject_zh=zh,
            subject_en=en,
            subject=shown,
            until_zh=until or "另行通知",
            until_en=until or "further notice",
            why=listing.reason,
        )
        hits.append(
            {
                "listing_id": listing.id,
                "subject_kind": listing.subject_kind.value,
                "subject_id": listing.subject_id,
                "until": None if listing.until is None else listing.until.isoformat(),
                "reason": listing.reason,
            }
        )
    found.evidence["listings"] = hits
    return found.result()
