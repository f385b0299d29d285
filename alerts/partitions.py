"""Partitions of alert evaluation: which subjects (device ids, plates) are evaluated together.

Pure. A subject belongs to partition ``partition_of(key, count)``; the database computes the same
with ``alert_partition(key)`` (migration 0014), and the count is the database's
``alert_partition_count()``. Each partition has its own engine state, so a partition can move
between processes without touching the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Final

from alerts.models import Rule

# Session advisory locks (two-key form, so they never collide with the one-key locks elsewhere):
# (PARTITION_LOCK_KEY, p) is held by the process evaluating partition p; (MEMBER_LOCK_KEY, m) by
# every live evaluator process m. Any constants; the same in every hazgate process.
PARTITION_LOCK_KEY: Final = 0x6861_7A70  # "hazp"
MEMBER_LOCK_KEY: Final = 0x6861_7A6D  # "hazm"


def partition_of(key: str, count: int) -> int:
    """The first 32 bits of the key's MD5 (UTF-8), modulo ``count``: SQL's ``alert_partition``."""
    digest = hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()
    return int(digest[:8], 16) % count


def pinned_key(rule: Rule) -> str | None:
    """The one subject a rule can ever concern, if it names one: the ``device_id`` of a
    device-scoped rule (threshold, rate, absence, flag, and kinds added later the same way)."""
    device_id = getattr(rule, "device_id", None)
    return device_id if isinstance(device_id, str) else None


def rules_by_partition(rules: Mapping[str, Rule], count: int) -> list[dict[str, Rule]]:
    """The rules each partition evaluates: all of them, except that a rule naming one device is in
    that device's partition only. (An absence rule naming a device starts that device's clock at
    the first tick; in every partition it would start it 32 times.)"""
    out: list[dict[str, Rule]] = [{} for _ in range(count)]
    for rule_id in sorted(rules):
        rule = rules[rule_id]
        key = pinned_key(rule)
        if key is None:
            for part in out:
                part[rule_id] = rule
        else:
            out[partition_of(key, count)][rule_id] = rule
    return out


def target_share(partitions: int, live: int) -> int:
    """Partitions each of ``live`` processes aims to own: ceil(partitions / live)."""
    return -(-partitions // max(1, live))


def plan_ownership(
    count: int,
    mine: int,
    owned: set[int],
    holders: Mapping[int, int],
    members: Mapping[int, int],
    overdue: set[int],
) -> tuple[list[int], list[int]]:
    """(partitions to try to take, partitions to release) for this round.

    ``holders``: partition -> pid of the session holding it; ``members``: pid -> partitions held,
    for every live process (this one is ``mine``). Each aims for ``target_share``: take free
    partitions up to it (and any free for too long, ``overdue``, whatever the share: someone must
    evaluate it); release what is beyond it only while another live process is below it, so a
    stable set of processes never passes partitions back and forth.
    """
    target = target_share(count, len(members))
    free = [p for p in range(count) if p not in holders]
    # Start looking at a place of our own, so processes starting together try different ones.
    start = mine % count if count else 0
    free.sort(key=lambda p: (p - start) % count)
    room = max(0, target - len(owned))
    take = free[:room] + [p for p in free[room:] if p in overdue]
    hungry = any(n < target for pid, n in members.items() if pid != mine)
    excess = len(owned) - target
    release = sorted(owned, reverse=True)[:excess] if excess > 0 and hungry else []
    return take, release
