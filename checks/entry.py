"""The entry gate's decision: the 五必查 and vehicle status, then the stay's blacklist and booking."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from checks import blacklist, booking
from checks.decide import Decision, decide, run_all
from checks.facts import GateFacts
from checks.policy import DEFAULT_POLICY, CheckPolicy
from checks.stay_facts import BookingFacts, Listing, Subjects


def evaluate_entry(
    facts: GateFacts,
    listings: Iterable[Listing],
    bookings: BookingFacts,
    now: datetime,
    policy: CheckPolicy = DEFAULT_POLICY,
) -> Decision:
    results = run_all(facts, now, policy)
    results.append(blacklist.check(Subjects.at_gate(facts), listings, now, policy))
    results.append(booking.check(bookings, now, policy))
    return decide(results)
