"""The response card in critical notifications (webhook body, e-mail): ``"response"``.

Called by the outbox inside the transaction that queues the notification, so it must never
fail that transaction: the card is built in a savepoint, and any error leaves the notification
without a card (logged) rather than holding the alert back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

import psycopg

from alerts.lifecycle import Alert
from alerts.models import Severity
from emergency.errors import EmergencyError
from emergency.sources import NoSubstance, build_card, card_json
from hazgate.settings import SiteSettings

logger = logging.getLogger(__name__)

# Notifications that call for action; "resolved" and "acknowledged" ones carry no card.
CARD_KINDS: Final = frozenset({"firing", "escalation", "repeat"})


def critical_response(
    conn: psycopg.Connection, alert: Alert, kind: str, site_for: Callable[[str | None], SiteSettings]
) -> dict[str, Any] | None:
    """The card for a critical alert's firing, escalation or repeat notification; else None."""
    if alert.severity is not Severity.CRITICAL or kind not in CARD_KINDS:
        return None
    try:
        with conn.transaction():
            card = build_card(conn, site_for, alert.id, at=alert.updated_at)
    except NoSubstance:
        return None
    except (EmergencyError, psycopg.Error, ValueError) as exc:
        logger.warning("alert %s: no response card in its notification: %s", alert.id, exc)
        return None
    return card_json(card)
