"""预约入园 at the entry gate: where the site requires bookings, the tanker needs an approved
booking whose slot covers now (give or take ``booking_grace_s``), or it fails ``booking_missing``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from checks.common import Findings
from checks.policy import DEFAULT_POLICY, CheckPolicy
from checks.reasons import ReasonCode
from checks.result import CheckCode, CheckResult, CheckStatus
from checks.stay_facts import ADMITTING, BookingFacts, BookingSeen


def admitting(facts: BookingFacts, now: datetime, policy: CheckPolicy = DEFAULT_POLICY) -> BookingSeen | None:
    """The booking that admits the tanker now: approved (or arrived at the lot), slot covering now."""
    grace = timedelta(seconds=policy.booking_grace_s)
    fitting = [b for b in facts.bookings if b.state in ADMITTING and b.slot_start - grace <= now <= b.slot_end + grace]
    return min(fitting, key=lambda b: b.slot_start, default=None)


def check(facts: BookingFacts, now: datetime, policy: CheckPolicy = DEFAULT_POLICY) -> CheckResult:
    policy.local_date(now)  # refuses a naive `now`
    found = Findings(CheckCode.BOOKING)
    found.evidence["required"] = facts.required
    booking = admitting(facts, now, policy)
    found.evidence["booking_id"] = None if booking is None else booking.id
    if booking is not None:
        found.evidence |= {"slot_start": booking.slot_start.isoformat(), "slot_end": booking.slot_end.isoformat()}
    if booking is None and facts.required and facts.plate is not None:
        found.add(ReasonCode.BOOKING_MISSING, CheckStatus.FAIL, plate=facts.plate)
    return found.result()
